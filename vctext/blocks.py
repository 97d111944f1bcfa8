"""Scenes as the unit of a long video's layout: a block per long scene with what holds through
it, then what changes inside it.

A video cut every few seconds reads best range by range. A long scene (a talk, an interview, a
drive) read that way repeats the same tags and objects in every range; as a block it says them
once ("throughout the scene") and then only what changes: speech, text on screen, objects that
come and go. Short scenes stay plain ranges. The JSON keeps its ranges as they are; blocks are
for the text and Markdown layouts (and any template: ``blocks`` in its context).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vctext import kinds
from vctext.types import Item, Observation, Segment

#: A scene is a block of its own from this many seconds and this many ranges on.
LONG_SCENE = 30.0
MIN_RANGES = 3


@dataclass(frozen=True)
class Block:
    """A stretch of the layout: one long scene, or one range of a short one."""

    start: float
    end: float
    #: kind -> the items shown in every range of the scene (empty for a plain range).
    held: dict[str, tuple[Item, ...]] = field(default_factory=dict)
    #: The ranges inside it, without the held items (a plain range: itself).
    segments: list[Segment] = field(default_factory=list)

    @property
    def is_scene(self) -> bool:
        return bool(self.held)


def _key(item: Item) -> tuple:
    return ("track", item.track) if item.track is not None else ("text", item.text.lower())


def scenes(cuts: list[float], start: float, end: float) -> list[tuple[float, float]]:
    """(start, end) of each scene between ``start`` and ``end``."""
    edges = [start, *sorted(c for c in cuts if start < c < end), end]
    return list(zip(edges, edges[1:], strict=False))


def _held(group: list[Segment]) -> dict[str, tuple[Item, ...]]:
    """Items of lasting kinds that every range of ``group`` shows (as the first range has them)."""
    held: dict[str, tuple[Item, ...]] = {}
    for kind, items in group[0].items.items():
        if not kinds.spec(kind).lasts:
            continue
        common = [
            item
            for item in items
            if all(_key(item) in {_key(i) for i in seg.items.get(kind, ())} for seg in group[1:])
        ]
        if common:
            held[kind] = tuple(common)
    return held


def _without(seg: Segment, held: dict[str, tuple[Item, ...]]) -> Segment:
    items = {}
    for kind, values in seg.items.items():
        drop = {_key(i) for i in held.get(kind, ())}
        kept = tuple(i for i in values if _key(i) not in drop)
        if kept:
            items[kind] = kept
    return Segment(seg.start, seg.end, items)


def blocks(
    segments: list[Segment],
    observations: list[Observation],
    long_scene: float = LONG_SCENE,
    min_ranges: int = MIN_RANGES,
) -> list[Block]:
    """The layout's blocks, in time order: long scenes as one block each, other ranges alone."""
    if not segments:
        return []
    cuts = [o.start for o in observations if kinds.spec(o.kind).cut]
    last = segments[-1].end
    out: list[Block] = []
    for s_start, s_end in scenes(cuts, segments[0].start, last):
        group = [  # the ranges that start in this scene
            seg
            for seg in segments
            if s_start - 1e-6 <= seg.start and (seg.start < s_end - 1e-6 or s_end >= last)
        ]
        if not group:
            continue
        held = _held(group) if len(group) >= min_ranges else {}
        if held and group[-1].end - group[0].start >= long_scene:
            inner = [_without(seg, held) for seg in group]
            out.append(Block(group[0].start, group[-1].end, held, [s for s in inner if s.items]))
        else:
            out += [Block(seg.start, seg.end, {}, [seg]) for seg in group]
    return out
