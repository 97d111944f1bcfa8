"""Merge observations into time ranges: repeats collapsed, one block of items per range.

Ranges follow what is on screen: consecutive frames that look the same (same caption, or else
the same tags/objects: each kind's ``range_tier``) form one range, and scene cuts always start a
new one. Kinds that last (caption, tags, objects) show in every range they overlap; instants
(speech, on-screen text) sit in the range where they start. With nothing lasting, each stretch of
speech is its own range. Which kind is which is read from :mod:`vctext.kinds`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from vctext import kinds
from vctext.types import Item, Observation, Segment


def _lasts(o: Observation) -> bool:
    return kinds.spec(o.kind).lasts


def _key(o: Observation) -> tuple:
    if o.track is not None:
        return (o.kind, o.source, "track", o.track)
    return (o.kind, o.source, " ".join(o.text.lower().split()))


def collapse(observations: Iterable[Observation], tolerance: float) -> list[Observation]:
    """Join observations of the same thing whose ranges touch (within ``tolerance`` seconds).

    The joined observation keeps the first box and the highest score.
    """
    groups: dict[tuple, list[Observation]] = defaultdict(list)
    for o in observations:
        groups[_key(o)].append(o)
    out: list[Observation] = []
    for items in groups.values():
        items.sort(key=lambda o: o.start)
        current = items[0]
        for o in items[1:]:
            if o.start <= current.end + tolerance:
                best = max((current.score or 0.0), (o.score or 0.0))
                current = current.replace(
                    end=max(current.end, o.end),
                    score=best if current.score is not None else o.score,
                )
            else:
                out.append(current)
                current = o
        out.append(current)
    out.sort(key=lambda o: (o.start, kinds.order(o.kind), o.text))
    return out


def _visual_ranges(
    raw: list[Observation], interval: float, cuts: list[float]
) -> list[tuple[float, float]]:
    """Ranges of consecutive frames with the same look; a scene cut always starts a new range."""
    by_time: dict[float, list[Observation]] = defaultdict(list)
    for o in raw:
        if _lasts(o):
            by_time[round(o.start, 3)].append(o)
    if not by_time:
        return []
    ranges: list[tuple[float, float]] = []
    current_sig = None
    start = end = previous = 0.0
    cut_times = sorted(cuts)
    for t in sorted(by_time):
        items = by_time[t]
        tiers = {1: [], 2: set()}
        for o in items:
            tier = kinds.spec(o.kind).range_tier
            if tier == 1:
                tiers[1].append(o.text.lower())
            elif tier == 2:
                tiers[2].add(o.text.lower())
        sig = tuple(sorted(tiers[1])) or tuple(sorted(tiers[2]))
        frame_end = max(o.end for o in items)
        started = current_sig is not None
        cut_between = started and any(previous + 1e-6 < c <= t + 1e-6 for c in cut_times)
        gap = started and t > end + interval * 0.5
        if current_sig is None or sig != current_sig or cut_between or gap:
            if current_sig is not None:
                ranges.append((start, end))
            current_sig, start = sig, t
        end = frame_end
        previous = t
    ranges.append((start, end))
    return ranges


def _speech_ranges(collapsed: list[Observation]) -> list[tuple[float, float]]:
    """Without anything visual, each stretch of overlapping observations is a range."""
    ranges: list[list[float]] = []
    for o in sorted(collapsed, key=lambda o: o.start):
        if ranges and o.start < ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], o.end)
        else:
            ranges.append([o.start, o.end])
    return [(a, b) for a, b in ranges]


def build_segments(
    observations: list[Observation], frame_interval: float, duration: float | None = None
) -> tuple[list[Observation], list[Segment]]:
    """Collapse repeats and group observations into ranges with their lines.

    Returns the collapsed observations (for the JSON output) and the segments.
    """
    tolerance = frame_interval * 0.5 + 1e-6
    is_cut = [kinds.spec(o.kind).cut for o in observations]
    cuts = [o.start for o, cut in zip(observations, is_cut, strict=True) if cut]
    collapsed = collapse(
        [o for o, cut in zip(observations, is_cut, strict=True) if not cut], tolerance
    )
    collapsed += [o for o, cut in zip(observations, is_cut, strict=True) if cut]
    collapsed.sort(key=lambda o: (o.start, kinds.order(o.kind)))
    content = [o for o in collapsed if not kinds.spec(o.kind).cut]
    ranges = _visual_ranges(observations, frame_interval, cuts)
    if not ranges:
        ranges = _speech_ranges(content)
    # Things that start outside every range (speech over a stretch with no frames) get their own.
    orphans = [
        o for o in content if not _lasts(o) and not any(a - 1e-6 <= o.start < b for a, b in ranges)
    ]
    if orphans:
        # ...and stop where the next visual range starts, so ranges never overlap.
        starts = sorted(a for a, _ in ranges)
        extra = []
        for a, b in _speech_ranges(orphans):
            later = [s for s in starts if s > a]
            extra.append((a, min([b, *later[:1]])))
        ranges = sorted(ranges + extra)
    segments = []
    for a, b in ranges:
        items: dict[str, dict[str, Item]] = {}  # kind -> line -> item, first seen first
        for o in content:
            if _lasts(o):
                inside = o.start < b - 1e-6 and o.end > a + 1e-6
            else:
                inside = a - 1e-6 <= o.start < b - 1e-6 or (o.start == a == b)
            if inside:
                _add(items.setdefault(o.kind, {}), o)
        if items:
            end = min(b, duration) if duration else b
            ordered = {k: _ranked(k, items[k]) for k in sorted(items, key=kinds.order)}
            segments.append(Segment(a, max(end, a), ordered))
    return collapsed, segments


def _add(bucket: dict[str, Item], o: Observation) -> None:
    """One observation into a range's items of its kind; a repeat keeps the first (or, for kinds
    ranked by score, the best score of its text)."""
    item = Item.of(o)
    if kinds.spec(o.kind).per_range is None:
        bucket.setdefault(item.line(), item)
        return
    item = Item(o.text, score=o.score or 0.0)
    known = bucket.get(o.text)
    if known is None or item.score > known.score:
        bucket[o.text] = item


def _ranked(kind: str, bucket: dict[str, Item]) -> tuple[Item, ...]:
    limit = kinds.spec(kind).per_range
    if limit is None:
        return tuple(bucket.values())
    return tuple(sorted(bucket.values(), key=lambda item: -(item.score or 0.0))[:limit])


def top_tags(observations: list[Observation], limit: int = 10) -> list[str]:
    """Tags that cover the most screen time over the whole video."""
    seconds: dict[str, float] = defaultdict(float)
    for o in observations:
        if o.kind == "tags":
            seconds[o.text] += max(o.end - o.start, 0.0)
    return sorted(seconds, key=lambda t: -seconds[t])[:limit]
