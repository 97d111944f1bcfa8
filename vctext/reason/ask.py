"""Ask and narrate: a question about a video answered from its text, fitted to the model's
context under our system prompt, with the time ranges the answer relied on and cites.

Citations are ``[mm:ss-mm:ss]`` ranges: the ones the model wrote are kept when they lie within
the evidence it was given (the fitted ranges) and dropped (and counted) when they do not; an
answer that cites nothing cites the ranges it relied on. A "when" question also gets moments.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vctext import config, kinds
from vctext.api import describe
from vctext.document import VideoText
from vctext.llm import load_llm
from vctext.llm.base import LLM
from vctext.reason.fit import Fitted, fit_for, refitting
from vctext.reason.prompts import build_messages, load_prompt
from vctext.reason.relevance import content_words, relevance, segment_text
from vctext.render import render
from vctext.timestamps import format_time
from vctext.types import Segment

log = logging.getLogger(__name__)

_STAMP = re.compile(r"\b(?:(\d{1,2}):)?(\d{1,2}):(\d{2})\b")
_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}"
#: A citation as the prompt asks for it: [mm:ss-mm:ss] (or [h:mm:ss-...], or one [mm:ss]).
_CITATION = re.compile(rf"\[\s*({_TIME})\s*(?:[-\u2013\u2014]|to)?\s*({_TIME})?\s*\]")
#: "When ...?", "At what time ...", "What time ...", "How long into the video ..."
_TEMPORAL = re.compile(
    r"^\s*(?:when\b|at what (?:time|point|moment)\b|what time\b|at which (?:time|point)\b|"
    r"how (?:long|far|many (?:seconds|minutes)) into\b)|\b(?:at what (?:time|point)|"
    r"what time|how long into|how far into|when (?:does|did|do|is|was|are|were|will))\b",
    re.IGNORECASE,
)
#: Questions that want the whole story rather than a fact (evidence-first leaves them be).
_OVERVIEW = re.compile(
    r"\b(?:summar\w*|describe|overview|story|narrat\w*|what happens|what is going on)\b",
    re.IGNORECASE,
)
#: Seconds a cited time may lie outside a range: the record shows whole seconds.
_SLACK = 1.0
#: What an LLM option may be called: the ``llm`` settings and their aliases (``model``, ...).
_LLM_KEYS = {*config.group("llm"), *config.aliases(config.group("llm"))}


@dataclass(frozen=True)
class Evidence:
    """A time range an answer relied on, and why we think so."""

    start: float
    end: float
    why: str  # "cited" (the answer uses its words), "timestamp" (named), "retrieved" (question)
    text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "why": self.why,
            "text": self.text,
        }


@dataclass(frozen=True)
class Citation:
    """A time range an answer cites: ``[mm:ss-mm:ss]``; ``cited`` is False when the model cited
    nothing and the range comes from what the answer relied on."""

    start: float
    end: float
    cited: bool = True

    @property
    def label(self) -> str:
        return f"[{format_time(self.start)}-{format_time(self.end)}]"

    def to_json(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "label": self.label,
            "by": "model" if self.cited else "evidence",
        }


@dataclass(frozen=True)
class Moment:
    """When something asked about happens: a range and how sure we are (0-1)."""

    start: float
    end: float
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "score": self.score}


@dataclass(frozen=True)
class Answer:
    """An LLM's answer about a video, the time ranges it relied on and the ones it cites."""

    question: str
    text: str
    ranges: list[Evidence]
    backend: str
    model: str
    context: dict[str, Any] = field(default_factory=dict)
    citations: list[Citation] = field(default_factory=list)
    dropped_citations: int = 0
    moments: list[Moment] = field(default_factory=list)
    evidence_first: bool = False
    #: The evidence quoted ahead of the model's words (evidence-first), the start of ``text``.
    quoted: str = ""

    def __str__(self) -> str:
        return self.text

    @property
    def own_words(self) -> str:
        """The model's own answer: ``text`` without the evidence quoted ahead of it."""
        return self.text[len(self.quoted) :].strip() if self.quoted else self.text

    @property
    def cited(self) -> str:
        """The citations as one line, ``[00:07-00:12] [00:20-00:24]`` (empty when none)."""
        return " ".join(c.label for c in self.citations)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "ranges": [r.to_json() for r in self.ranges],
            "citations": [c.to_json() for c in self.citations],
            "dropped_citations": self.dropped_citations,
            "moments": [m.to_json() for m in self.moments],
            "evidence_first": self.evidence_first,
            "llm": {"backend": self.backend, "model": self.model},
            "context": self.context,
        }


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(describe options, LLM options) out of one set of keyword arguments."""
    llm = {k: v for k, v in options.items() if k in _LLM_KEYS}
    perception = {k: v for k, v in options.items() if k not in _LLM_KEYS}
    # The openai-vision perceivers' server, key and patience default to the LLM's.
    shared = config.VISION_FALLBACK
    names = {**config.aliases(config.group("llm")), **{k: k for k in shared}}
    perception |= {names[k]: v for k, v in options.items() if names.get(k) in shared}
    if "device" in options:
        llm["device"] = options["device"]
    return perception, llm


def video_text(video: str | os.PathLike | VideoText, **options: Any) -> VideoText:
    """The video's text: as given, or from :func:`vctext.describe` (cached perception)."""
    if isinstance(video, VideoText):
        return video
    return describe(video, **options)


def relied_on(
    answer: str, question: str, segments: list[Segment], limit: int = 5
) -> list[Evidence]:
    """Ranges whose words the answer uses or whose time it names; else those the question hits."""
    words = content_words(answer)
    picked: dict[int, tuple[float, str]] = {}
    for i, seg in enumerate(segments):
        seg_words = content_words(segment_text(seg))
        shared = words & seg_words
        if len(shared) >= 2 or (shared and len(seg_words) <= 2):
            picked[i] = (len(shared), "cited")
    for m in _STAMP.finditer(answer):
        h, mins, secs = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
        t = h * 3600 + mins * 60 + secs
        for i, seg in enumerate(segments):
            if seg.start - 0.5 <= t <= seg.end + 0.5 and i not in picked:
                picked[i] = (1.0, "timestamp")
    if not picked:  # a short answer shares few words: fall back to what the question hits too
        qwords = content_words(question) | words
        for i, seg in enumerate(segments):
            score = relevance(seg, qwords)
            if score:
                picked[i] = (score, "retrieved")
    best = sorted(picked, key=lambda i: -picked[i][0])[:limit]
    return [
        Evidence(segments[i].start, segments[i].end, picked[i][1], _describe(segments[i]))
        for i in sorted(best)
    ]


def _describe(seg: Segment) -> str:
    return "; ".join(
        f"{kinds.spec(kind).label}: {', '.join(lines)}" for kind, lines in seg.lines.items()
    )


def _seconds(stamp: str) -> float:
    parts = [int(p) for p in stamp.split(":")]
    return float(sum(p * 60**i for i, p in enumerate(reversed(parts))))


def _within(t: float, segments: list[Segment]) -> bool:
    return any(seg.start - _SLACK <= t <= seg.end + _SLACK for seg in segments)


def parse_citations(text: str, segments: list[Segment]) -> tuple[list[Citation], int]:
    """The ``[mm:ss-mm:ss]`` citations in ``text`` that lie within ``segments`` (the evidence
    the model was given), in order and without repeats, and how many did not (dropped)."""
    kept: list[Citation] = []
    dropped = 0
    for m in _CITATION.finditer(text):
        start = _seconds(m.group(1))
        end = _seconds(m.group(2)) if m.group(2) else start
        if end < start or not (_within(start, segments) and _within(end, segments)):
            dropped += 1
            continue
        citation = Citation(start, end)
        if citation not in kept:
            kept.append(citation)
    return kept, dropped


def is_temporal(question: str) -> bool:
    """True for questions about when something happens ("When does ...", "At what time ...")."""
    return bool(_TEMPORAL.search(question))


def is_factual(question: str) -> bool:
    """True for a question after a fact, not an overview or a story of the whole video."""
    return not _OVERVIEW.search(question)


def moments(
    question: str, doc: VideoText, citations: list[Citation], hits: list[Any] | None = None
) -> list[Moment]:
    """When a "when" question's answer happens: the answer's own cited ranges first, then the
    best search hits for the question; an empty list for other questions."""
    if not is_temporal(question):
        return []
    if hits is None:
        hits = _hits(doc, question, 3)
    found = [Moment(c.start, c.end, 1.0) for c in citations if c.cited]
    top = max((h.score for h in hits), default=0.0) or 1.0
    for hit in hits:
        if not any(m.start <= hit.start <= m.end or hit.start <= m.start <= hit.end for m in found):
            found.append(Moment(hit.start, hit.end, round(0.9 * hit.score / top, 3)))
    return found


def _hits(doc: VideoText, question: str, k: int, **options: Any) -> list[Any]:
    """The best ranges for ``question`` by :func:`vctext.reason.search.search`."""
    from vctext.reason.search import search

    keep = {key: options[key] for key in ("cache", "device") if key in options}
    return search(doc, question, k, **keep)


def make_answer(
    question: str,
    text: str,
    fitted: Fitted,
    llm: LLM,
    hits: list[Any] | None = None,
    quoted: str = "",
) -> Answer:
    """``text`` as an :class:`Answer`: the ranges it relied on and cites, moments for a "when"
    question (``hits``: search hits already found for it), and how the video text fitted.
    ``quoted``: the evidence quoted ahead of the model's words, the start of ``text``."""
    context = {
        "tokens": fitted.tokens,
        "budget": fitted.budget,
        "window": llm.context_tokens,
        "steps": list(fitted.steps),
        "dropped_ranges": fitted.dropped,
    }
    segments = fitted.doc.segments
    ranges = relied_on(text, question, segments)
    citations, dropped = parse_citations(text, segments)
    if dropped:
        log.info("%d cited time(s) not in the evidence the model was given: dropped", dropped)
    if not citations:  # what it relied on; else the ranges a search for the question found
        citations = [Citation(r.start, r.end, cited=False) for r in ranges]
        citations = citations or [Citation(h.start, h.end, cited=False) for h in hits or []]
    return Answer(
        question,
        text,
        ranges,
        llm.name,
        llm.model,
        context,
        citations=citations,
        dropped_citations=dropped,
        moments=moments(question, fitted.doc, citations, hits),
        evidence_first=bool(quoted),
        quoted=quoted,
    )


def is_bundled(llm: LLM) -> bool:
    """True for the small local model that ships with vctext."""
    if llm.name != "local":
        return False
    from vctext.llm.local import BUNDLED_NAME

    return llm.model == BUNDLED_NAME


def quote_hits(hits: list[Any]) -> str:
    """Search hits quoted with their times, the lead of an evidence-first answer."""
    lines = [f"[{format_time(h.start)}-{format_time(h.end)}] {'; '.join(h.lines)}" for h in hits]
    return "From the video:\n" + "\n".join(lines) + "\n\n" if lines else ""


def ask(
    video: str | os.PathLike | VideoText,
    question: str,
    llm: Any = None,
    *,
    on_text: Callable[[str], None] | None = None,
    evidence_first: bool | None = None,
    **options: Any,
) -> Answer:
    """Answer a question about a video.

    Args:
        video: a video file (described through the perception cache) or a :class:`VideoText`.
        question: what to ask.
        llm: None (the configured default: openai with a key or base URL, else local), a backend
            name, a :class:`vctext.llm.LLM`, or a LangChain chat model.
        on_text: called with each piece of the answer as it streams in.
        evidence_first: answer a factual question by first quoting the best search hits with
            their times, then the model's answer. None: on for the bundled local model only.
        **options: describe settings (profile, perceivers, fps, ...) and LLM settings (model,
            base_url, temperature, max_tokens, context_tokens, timeout, retries).

    Returns:
        An :class:`Answer`: ``.text``, ``.ranges`` (the time ranges it relied on),
        ``.citations``, ``.moments`` (for "when" questions), ``.to_json()``.
    """
    describe_opts, llm_opts = split_options(options)
    doc = video_text(video, **describe_opts)
    model = load_llm(llm, **llm_opts)
    if evidence_first is None:
        evidence_first = is_bundled(model)
    lead_on = evidence_first and is_factual(question)

    def attempt() -> Answer:
        fitted = fit_for(doc, model, question)
        hits = None
        if lead_on or is_temporal(question):
            hits = _hits(fitted.doc, question, 3, **describe_opts)
        lead = quote_hits(hits) if lead_on and hits else ""
        if lead and on_text:
            on_text(lead)
        pieces = []
        for piece in model.stream(build_messages(fitted.text, [], question)):
            pieces.append(piece)
            if on_text:
                on_text(piece)
        text = lead + "".join(pieces).strip()
        return make_answer(question, text.strip(), fitted, model, hits, lead)

    return refitting(model, attempt)


def narrate(video: str | os.PathLike | VideoText, llm: Any = None, **options: Any) -> str:
    """A readable narrative of the whole video, from its timestamped text."""
    describe_opts, llm_opts = split_options(options)
    doc = video_text(video, **describe_opts)
    model = load_llm(llm, **llm_opts)
    instruction = load_prompt("narrate.txt")
    return refitting(
        model,
        lambda: model.complete(build_messages(fit_for(doc, model, None).text, [], instruction)),
    )


def render_narrated(
    doc: VideoText, format: str = "text", template: Any = None, llm: Any = None, **options: Any
) -> str:
    """``doc`` rendered with a narrative of the whole video: after the timestamped text in the
    text layout, as ``summary`` in JSON and Markdown."""
    story = narrate(doc, llm, **options)
    if format == "text":
        text = render(doc, format=format, template=template).rstrip("\n")
        return f"{text}\n\nnarrative:\n{story.strip()}\n"
    if format in ("srt", "vtt"):
        log.warning("--narrate has no place in %s subtitles; use text, md or json", format)
    return render(dataclasses.replace(doc, summary=story.strip()), format=format, template=template)
