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

Speech and on-screen text stay word for word through step 5; nothing is ever invented. Steps 1-5
live in :mod:`vctext.reason.compact`. :func:`fit_for` fits to one LLM: the room its context
leaves next to the prompt, the question and the answer, with the LLM writing the summaries.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from vctext import kinds
from vctext.document import VideoText
from vctext.errors import LLMError
from vctext.llm.base import LLM, ContextLengthError, Message, estimate_tokens
from vctext.reason.compact import (
    collapse_repeats,
    drop_low_value,
    limit_tags,
    merge_segments,
    merge_windows,
    strip_boxes,
)
from vctext.reason.prompts import build_messages, escape_evidence, fill, load_prompt, system_prompt
from vctext.reason.relevance import content_words, relevance_scores, segment_text
from vctext.render import render
from vctext.timestamps import format_time
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
#: Token counts differ a little between text counted alone and inside a chat template.
MARGIN = 0.97
T = TypeVar("T")


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


# -- fitting to one LLM -------------------------------------------------------------------------


def evidence_budget(llm: LLM, question: str, history_share: float = 0.0) -> int:
    """Tokens the video text may take next to the system prompt, question and answer."""
    overhead = llm.count_messages(build_messages("", [], question))
    room = llm.context_tokens - llm.answer_tokens - overhead
    return int((room - room * history_share) * MARGIN)


def summarizer(llm: LLM) -> Summarizer:
    """Ranges summarized by ``llm``; a text too long for one call is halved, recursively."""

    def summarize(text: str, start: float, end: float, words: int, depth: int = 0) -> str:
        prompt = fill(
            load_prompt("summarize.txt"),
            evidence=escape_evidence(text),
            start=format_time(start),
            end=format_time(end),
            words=str(words),
        )
        messages = [Message("system", system_prompt()), Message("user", prompt)]
        room = llm.context_tokens - llm.answer_tokens
        used = llm.count_messages(messages)
        halves = _halves(text)
        if used > room and halves and depth < 8:
            parts = [summarize(half, start, end, words, depth + 1) for half in halves]
            return summarize("\n".join(parts), start, end, words, depth + 1)
        if used > room:  # one word, or halved 8 times over: send what fits, never a refusal
            text = _first_tokens(text, llm, room - (used - llm.count_tokens(text)))
            return summarize(text, start, end, words, 8) if text else ""
        log.info("summarizing %s-%s to fit the context", format_time(start), format_time(end))
        return llm.complete(messages)

    return summarize


def _halves(text: str) -> list[str] | None:
    """``text`` cut in two at a line break, else between words; None when it is one word."""
    lines = text.splitlines()
    if len(lines) > 1:
        return ["\n".join(lines[: len(lines) // 2]), "\n".join(lines[len(lines) // 2 :])]
    words = text.split(" ")
    if len(words) > 1:
        return [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])]
    return None


def _first_tokens(text: str, llm: LLM, tokens: int) -> str:
    """The longest start of ``text`` (whole words) that takes at most ``tokens``."""
    words = text.split(" ")
    low, high = 0, len(words)
    while low < high:
        mid = (low + high + 1) // 2
        if llm.count_tokens(" ".join(words[:mid])) <= tokens:
            low = mid
        else:
            high = mid - 1
    return " ".join(words[:low])


def fit_for(doc: VideoText, llm: LLM, question: str | None, history_share: float = 0.0) -> Fitted:
    """``doc`` fitted to what ``llm``'s context leaves free (``history_share`` kept for a chat)."""
    budget = evidence_budget(llm, question or "", history_share)
    fitted = fit(doc, budget, llm.count_tokens, question=question, summarize=summarizer(llm))
    if fitted.steps:
        log.info(
            "video text compacted to %d tokens (budget %d): %s",
            fitted.tokens,
            budget,
            ", ".join(fitted.steps),
        )
    return fitted


def refitting(llm: LLM, attempt: Callable[[], T]) -> T:
    """``attempt()`` (which fits the text to ``llm.context_tokens`` and calls the LLM); once more
    when the server refused it as too long and named a smaller context than it was fitted to."""
    window = llm.context_tokens
    try:
        return attempt()
    except ContextLengthError:
        if llm.context_tokens >= window:
            raise
        refit_note(llm, window)
        return attempt()


def refit_note(llm: LLM, window: int) -> None:
    """Say why the text is fitted again, and how to skip that next time."""
    log.warning(
        "the LLM server's context is %d tokens, not %d: fitting the video's text to it again "
        "(pass --context-tokens %d to skip this)",
        llm.context_tokens,
        window,
        llm.context_tokens,
    )
