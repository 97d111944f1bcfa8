"""The ways a video's text is made shorter without losing what it says: neighbouring ranges that
show the same become one, tags are capped, boxes become counts, low-value kinds go, and ranges
merge into longer windows. :mod:`vctext.reason.fit` applies them in turn while a text is too long.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from vctext import kinds
from vctext.reason.relevance import content_words
from vctext.types import Item, Segment


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _look(seg: Segment, tier: list[str]) -> set[str]:
    return {w for k in tier for item in seg.items.get(k, ()) for w in content_words(item.text)}


def _alike_tiers() -> list[list[str]]:
    """Kinds that tell whether two ranges show the same: reworded sentences (captions, actions),
    else what else lasts on screen (tags, objects)."""
    specs = kinds.KINDS.values()
    return [
        [s.name for s in specs if s.reworded],
        [s.name for s in specs if s.lasts and not s.reworded],
    ]


def similar(a: Segment, b: Segment, threshold: float = 0.6) -> bool:
    """Whether two ranges show about the same thing: captions (else tags and objects) that
    share most of their words. Captioners reword one shot from frame to frame."""
    for tier in _alike_tiers():
        look_a, look_b = _look(a, tier), _look(b, tier)
        if look_a or look_b:
            return _jaccard(look_a, look_b) >= threshold
    return False


def collapse_repeats(segments: list[Segment]) -> list[Segment]:
    """Neighbouring ranges that show about the same thing become one (their speech joined)."""
    out: list[Segment] = []
    group: list[Segment] = []
    for seg in segments:
        if group and similar(group[0], seg):
            group.append(seg)
            continue
        if group:
            out.append(merge_segments(group, keep=2, keep_tags=8))
        group = [seg]
    if group:
        out.append(merge_segments(group, keep=2, keep_tags=8))
    return out


def _with_items(seg: Segment, items: dict[str, tuple[Item, ...]]) -> Segment:
    return Segment(seg.start, seg.end, {k: v for k, v in items.items() if v})


def limit_tags(segments: list[Segment], keep: int = 3) -> list[Segment]:
    """Kinds ranked by score (tags) keep their best ``keep`` items."""
    out = []
    for s in segments:
        ranked = [k for k in s.items if kinds.spec(k).per_range is not None]
        out.append(
            _with_items(s, {**s.items, **{k: s.items[k][:keep] for k in ranked}}) if ranked else s
        )
    return out


def _plain(item: Item) -> Item:
    """An object without its box and track id (what it is, and how many)."""
    return Item(item.text, count=item.count)


def _counted(items: tuple[Item, ...]) -> tuple[Item, ...]:
    counts: Counter[str] = Counter()
    for item in items:
        counts[item.text] += item.count
    return tuple(Item(text, count=n) for text, n in counts.items())


def strip_boxes(segments: list[Segment]) -> list[Segment]:
    """Boxed kinds lose boxes and track ids; alike objects are counted ("person x2")."""
    out = []
    for s in segments:
        items = dict(s.items)
        for kind in items:
            if kinds.spec(kind).boxed:
                items[kind] = _counted(items[kind])
        out.append(_with_items(s, items))
    return out


def drop_low_value(segments: list[Segment], objects: int = 3) -> list[Segment]:
    """Low-value kinds go; boxed kinds that stay keep their first ``objects`` items."""
    out = []
    for s in segments:
        items = {k: v for k, v in s.items.items() if not kinds.spec(k).low_value}
        for kind in items:
            if kinds.spec(kind).boxed:
                items[kind] = items[kind][:objects]
        out.append(_with_items(s, items))
    return [s for s in out if s.items]


def merge_segments(group: list[Segment], keep: int = 3, keep_tags: int | None = None) -> Segment:
    """One range for several. Speech, on-screen text and summaries are all kept, in order.
    Captions and actions are grouped by wording (a reworded caption is the same caption), and
    they, tags and objects are ranked by how long they were seen; the top ``keep`` stay."""
    if len(group) == 1:
        return group[0]
    verbatim: dict[str, dict[str, Item]] = defaultdict(dict)  # kind -> line -> item
    seen: dict[str, dict[str, float]] = defaultdict(dict)  # kind -> key -> seconds
    shown: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    first: dict[str, dict[str, int]] = defaultdict(dict)
    as_item: dict[str, Item] = {}  # line -> the first item shown as that line
    for i, seg in enumerate(group):
        span = max(seg.end - seg.start, 0.1)
        for kind, items in seg.items.items():
            spec = kinds.spec(kind)
            for rank, item in enumerate(items):
                line = item.line()
                if spec.verbatim:
                    verbatim[kind].setdefault(line, item)
                    continue
                as_item.setdefault(line, item)
                key = _plain(item).line() if spec.boxed else line
                if spec.reworded:
                    key = _same_wording(key, seen[kind])
                # Earlier items in a range rank higher (tags are sorted by score).
                seen[kind][key] = seen[kind].get(key, 0.0) + span / (1 + 0.1 * rank)
                shown[kind][key][line] += span
                first[kind].setdefault(key, i)
    merged: dict[str, tuple[Item, ...]] = {}
    for kind in kinds.KINDS:
        if kind in verbatim:
            merged[kind] = tuple(verbatim[kind].values())
        elif kind in seen:
            ranked = kinds.spec(kind).per_range is not None
            limit = keep_tags if ranked and keep_tags else keep
            best = sorted(seen[kind], key=lambda n: -seen[kind][n])[:limit]
            # Each shown the way it was seen longest (an object keeps one of its boxes).
            merged[kind] = tuple(
                as_item[shown[kind][n].most_common(1)[0][0]]
                for n in sorted(best, key=lambda n: first[kind][n])
            )
    return Segment(group[0].start, max(s.end for s in group), merged)


def _same_wording(text: str, known: dict[str, float], threshold: float = 0.6) -> str:
    """The key of a known caption that words the same thing, else ``text`` itself."""
    words = content_words(text)
    for key in known:
        if _jaccard(words, content_words(key)) >= threshold:
            return key
    return text


def merge_windows(segments: list[Segment], window: float) -> list[Segment]:
    """Neighbouring ranges join until a range would span more than ``window`` seconds."""
    out: list[Segment] = []
    group: list[Segment] = []
    for seg in segments:
        if group and seg.end - group[0].start > window:
            out.append(merge_segments(group))
            group = []
        group.append(seg)
    if group:
        out.append(merge_segments(group))
    return out
