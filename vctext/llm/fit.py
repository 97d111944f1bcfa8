"""Fit a video's text into an LLM's context budget by compacting it, never by cutting it blindly.

Each step runs only while the rendered text is still over budget:

1. ``repeats``   neighbouring ranges that show the same thing become one range
2. ``tags``      at most three tags per range (the best scored; ranges keep them sorted)
3. ``boxes``     objects lose boxes and track ids and are counted ("person x2")
4. ``low-value`` tags and region captions go; at most three objects per range stay
5. ``merge-N``   neighbouring ranges merge into windows of N seconds (10 s up to 10 min)
6. ``summarize`` with an LLM: ranges least related to the question become short summaries,
                 then neighbouring summaries are summarized together (hierarchically)
7. ``drop``      ranges least related to the question are left out, and a note says so

Speech and on-screen text stay word for word through step 5; nothing is ever invented.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from vctext import kinds
from vctext.document import VideoText
from vctext.errors import LLMError
from vctext.llm.base import ContextLengthError, estimate_tokens
from vctext.llm.relevance import content_words, relevance_scores, segment_text
from vctext.render import format_time, render
from vctext.types import Item, Segment

log = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]
#: summarize(text, start, end, words) -> at most about ``words`` words; backed by the LLM.
Summarizer = Callable[[str, float, float, int], str]

WINDOWS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: Past the merges, summaries and left-out ranges work on ranges of about this length...
FINE_WINDOW = 60.0
#: ... and one summary covers at most this much of the video.
SUMMARY_WINDOW = 300.0


@dataclass(frozen=True)
class Fitted:
    """The compacted document, its text and what it took to fit."""

    doc: VideoText
    text: str
    tokens: int
    budget: int
    steps: tuple[str, ...] = ()
    dropped: int = 0

    @property
    def fits(self) -> bool:
        return self.tokens <= self.budget


# -- the steps ----------------------------------------------------------------------------------


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


# -- fitting ------------------------------------------------------------------------------------


class _Fitter:
    def __init__(
        self, doc: VideoText, budget: int, count: TokenCounter, template, question: str | None
    ):
        self.doc, self.budget, self.count, self.template = doc, budget, count, template
        self.words = content_words(question or "")
        self.notes: list[str] = []
        self.steps: list[str] = []

    def render(self, segments: list[Segment], notes: list[str] | None = None) -> tuple[str, int]:
        doc = dataclasses.replace(
            self.doc, segments=segments, notes=[*self.doc.notes, *(notes or self.notes)]
        )
        text = render(doc, format="text", template=self.template)
        return text, self.count(text)

    def result(self, segments: list[Segment], dropped: int = 0) -> Fitted:
        text, tokens = self.render(segments)
        doc = dataclasses.replace(self.doc, segments=segments, notes=[*self.doc.notes, *self.notes])
        return Fitted(doc, text, tokens, self.budget, tuple(self.steps), dropped)


def fit(
    doc: VideoText,
    budget: int,
    count: TokenCounter = estimate_tokens,
    *,
    question: str | None = None,
    summarize: Summarizer | None = None,
    template=None,
) -> Fitted:
    """Compact ``doc`` until its rendered text takes at most ``budget`` tokens.

    Args:
        doc: the video's text.
        budget: tokens the rendered text may take.
        count: token counter for the model the text goes to.
        question: ranges related to it are kept longest (word overlap).
        summarize: ``summarize(text, start, end, words)``; enables LLM summaries of ranges.
        template: a template file to render with instead of the default layout.

    Returns:
        A :class:`Fitted`; ``fits`` is False only when even one range is over budget.
    """
    if budget <= 0:
        raise LLMError(
            "the model's context is too small for any video text; raise "
            "--context-tokens or lower --max-tokens"
        )
    f = _Fitter(doc, budget, count, template, question)
    segments = list(doc.segments)
    _, tokens = f.render(segments)
    if tokens <= budget:
        return f.result(segments)
    steps: list[tuple[str, Callable[[list[Segment]], list[Segment]]]] = [
        ("repeats", collapse_repeats),
        ("tags", limit_tags),
        ("boxes", strip_boxes),
        ("low-value", drop_low_value),
        *((f"merge-{w:g}s", lambda s, w=w: merge_windows(s, w)) for w in WINDOWS),
    ]
    fine = segments
    for name, step in steps:
        changed = step(segments)
        if changed == segments:
            continue
        segments = changed
        if not name.startswith("merge-") or float(name[6:-1]) <= FINE_WINDOW:
            fine = segments
        f.steps.append(name)
        _, tokens = f.render(segments)
        log.debug(
            "fit: %s -> %d ranges, %d tokens (budget %d)", name, len(segments), tokens, budget
        )
        if tokens <= budget:
            return f.result(segments)
    # Merging all the way did not do: go back to minute-long ranges, where a question's
    # answer can keep its own range, and summarize or leave out the rest.
    segments = fine
    if summarize is not None:
        try:
            summarized = _summarize(f, segments, summarize)
        except LLMError as exc:
            if isinstance(exc, ContextLengthError) and exc.context:
                raise  # the server named its context: the caller fits again to it
            log.warning("cannot summarize ranges (%s); leaving some out instead", exc)
            f.notes = [n for n in f.notes if "summarized" not in n]
        else:
            segments = summarized
            if f.render(segments)[1] <= budget:
                return f.result(segments)
    return _drop(f, segments)


def _summarize(f: _Fitter, segments: list[Segment], summarize: Summarizer) -> list[Segment]:
    """Runs of ranges unrelated to the question become one summary each (least related first);
    if that is not enough, related ranges follow, then neighbouring summaries pair up."""
    f.steps.append("summarize")
    f.notes.append(
        "some ranges are summarized to fit the model's context; only the quoted "
        "speech and text are word for word"
    )
    scores = relevance_scores(segments, f.words)
    top = max(scores, default=0.0)
    related = [top > 0 and score >= top / 2 for score in scores]
    chunks: list[list[int]] = []
    for i, seg in enumerate(segments):
        last = chunks[-1] if chunks else None
        if (
            last
            and related[last[0]] == related[i]
            and not related[i]
            and seg.end - segments[last[0]].start <= SUMMARY_WINDOW
        ):
            last.append(i)
        else:
            chunks.append([i])
    words = max(30, min(120, f.budget // (2 * max(len(chunks), 1))))

    def summarized(group: list[Segment]) -> Segment:
        merged = merge_segments(group)
        text = summarize("\n".join(_block(s) for s in group), merged.start, merged.end, words)
        return Segment(merged.start, merged.end, {"summary": (Item(" ".join(text.split())),)})

    parts: list[list[Segment]] = [[segments[i] for i in chunk] for chunk in chunks]
    order = sorted(
        range(len(chunks)),
        key=lambda c: (
            related[chunks[c][0]],
            max(scores[i] for i in chunks[c]),
            -sum(len(segment_text(segments[i])) for i in chunks[c]),
        ),
    )
    for c in order:
        parts[c] = [summarized(parts[c])]
        flat = [s for part in parts for s in part]
        if f.render(flat)[1] <= f.budget:
            return flat
    segments = [s for part in parts for s in part]
    while len(segments) > 1 and f.render(segments)[1] > f.budget:
        segments = [
            summarized(segments[j : j + 2]) if j + 1 < len(segments) else segments[j]
            for j in range(0, len(segments), 2)
        ]
    return segments


def _block(seg: Segment) -> str:
    stamp = f"{format_time(seg.start)}-{format_time(seg.end)}"
    return "\n".join(f"{stamp}  {kind}: {' '.join(lines)}" for kind, lines in seg.lines.items())


def _kept_longest(seg: Segment) -> bool:
    return any(kinds.spec(k).kept_longest for k in seg.items)


def _drop(f: _Fitter, segments: list[Segment]) -> Fitted:
    """Leave out the least related ranges (evenly spread when nothing relates) until it fits."""
    f.steps.append("drop")
    n = len(segments)
    if n <= 1:
        log.warning("the video text is over the LLM's context budget (%d tokens)", f.budget)
        return f.result(segments)
    spread = sorted(range(n), key=lambda i: (i % 2 == 0, i % 4 == 0, i))
    position = {i: p for p, i in enumerate(spread)}
    scores = relevance_scores(segments, f.words)
    order = sorted(range(n), key=lambda i: (scores[i], _kept_longest(segments[i]), position[i]))

    def keep(k: int) -> list[Segment]:
        gone = set(order[:k])
        return [s for i, s in enumerate(segments) if i not in gone]

    def note(k: int) -> list[str]:
        return [
            *f.notes,
            f"{k} of {n} time ranges are left out to fit the model's context; "
            "nothing can be said about them",
        ]

    low, high = 1, n - 1  # find the fewest ranges to leave out
    if f.render(keep(high), note(high))[1] > f.budget:
        log.warning("even one time range is over the LLM's context budget (%d tokens)", f.budget)
        f.notes = note(high)
        return f.result(keep(high), dropped=high)
    while low < high:
        mid = (low + high) // 2
        if f.render(keep(mid), note(mid))[1] <= f.budget:
            high = mid
        else:
            low = mid + 1
    f.notes = note(low)
    return f.result(keep(low), dropped=low)
