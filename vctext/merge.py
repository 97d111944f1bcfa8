"""Merge observations into time ranges: repeats collapsed, one block of lines per range.

Ranges follow what is on screen: consecutive frames that look the same (same caption, or else
the same tags/objects) form one range, and scene cuts always start a new one. Visual lines
(caption, tags, objects) show in every range they overlap; speech and on-screen text sit in the
range where they start. With nothing visual, each stretch of speech is its own range.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from vctext.types import KINDS, Observation, Segment

#: Kinds seen on a frame (they span one frame interval unless collapsed).
FRAME_KINDS = frozenset({"caption", "tags", "dense", "detect", "ocr", "action"})
#: Kinds that persist on screen: shown in every range they overlap.
PERSISTENT_KINDS = frozenset({"caption", "tags", "dense", "detect", "action"})
#: At most this many tags per range, highest scores first.
MAX_TAGS = 8


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
    out.sort(key=lambda o: (o.start, KINDS.index(o.kind) if o.kind in KINDS else 99, o.text))
    return out


def _visual_ranges(
    raw: list[Observation], interval: float, cuts: list[float]
) -> list[tuple[float, float]]:
    """Ranges of consecutive frames with the same look; a scene cut always starts a new range."""
    by_time: dict[float, list[Observation]] = defaultdict(list)
    for o in raw:
        if o.kind in FRAME_KINDS and o.kind != "ocr":
            by_time[round(o.start, 3)].append(o)
    if not by_time:
        return []
    ranges: list[tuple[float, float]] = []
    current_sig = None
    start = end = previous = 0.0
    cut_times = sorted(cuts)
    for t in sorted(by_time):
        items = by_time[t]
        captions = sorted(o.text.lower() for o in items if o.kind == "caption")
        sig = tuple(captions) or tuple(
            sorted({o.text.lower() for o in items if o.kind in ("tags", "detect", "action")})
        )
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


def format_line(o: Observation) -> str:
    """One observation as it appears in a range's lines."""
    text = o.text
    if o.kind in ("detect", "dense"):
        if o.track is not None:
            text = f"{text} #{o.track}"
        if o.box is not None:
            text += " [" + ",".join(str(int(v)) for v in o.box) + "]"
    return text


def build_segments(
    observations: list[Observation], frame_interval: float, duration: float | None = None
) -> tuple[list[Observation], list[Segment]]:
    """Collapse repeats and group observations into ranges with their lines.

    Returns the collapsed observations (for the JSON output) and the segments.
    """
    tolerance = frame_interval * 0.5 + 1e-6
    cuts = [o.start for o in observations if o.kind == "scene"]
    collapsed = collapse([o for o in observations if o.kind != "scene"], tolerance)
    collapsed += [o for o in observations if o.kind == "scene"]
    collapsed.sort(key=lambda o: (o.start, KINDS.index(o.kind) if o.kind in KINDS else 99))
    content = [o for o in collapsed if o.kind != "scene"]
    ranges = _visual_ranges(observations, frame_interval, cuts)
    if not ranges:
        ranges = _speech_ranges(content)
    # Things that start outside every range (speech over a stretch with no frames) get their own.
    orphans = [
        o
        for o in content
        if o.kind not in PERSISTENT_KINDS and not any(a - 1e-6 <= o.start < b for a, b in ranges)
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
        lines: dict[str, list[str]] = {}
        tags: list[Observation] = []
        for o in content:
            if o.kind in PERSISTENT_KINDS:
                inside = o.start < b - 1e-6 and o.end > a + 1e-6
            else:
                inside = a - 1e-6 <= o.start < b - 1e-6 or (o.start == a == b)
            if not inside:
                continue
            if o.kind == "tags":
                tags.append(o)
                continue
            line = format_line(o)
            bucket = lines.setdefault(o.kind, [])
            if line not in bucket:
                bucket.append(line)
        if tags:
            best: dict[str, float] = {}
            for o in tags:
                best[o.text] = max(best.get(o.text, 0.0), o.score or 0.0)
            lines["tags"] = sorted(best, key=lambda t: -best[t])[:MAX_TAGS]
        if lines:
            end = min(b, duration) if duration else b
            ordered = {k: lines[k] for k in KINDS if k in lines}
            segments.append(Segment(a, max(end, a), ordered))
    return collapsed, segments


def top_tags(observations: list[Observation], limit: int = 10) -> list[str]:
    """Tags that cover the most screen time over the whole video."""
    seconds: dict[str, float] = defaultdict(float)
    for o in observations:
        if o.kind == "tags":
            seconds[o.text] += max(o.end - o.start, 0.0)
    return sorted(seconds, key=lambda t: -seconds[t])[:limit]
