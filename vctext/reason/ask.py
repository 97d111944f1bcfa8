"""Ask and narrate: a question about a video answered from its text, fitted to the model's
context under our system prompt, with the time ranges the answer relied on."""

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
from vctext.types import Segment

log = logging.getLogger(__name__)

_STAMP = re.compile(r"\b(?:(\d{1,2}):)?(\d{1,2}):(\d{2})\b")
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
class Answer:
    """An LLM's answer about a video and the time ranges it relied on."""

    question: str
    text: str
    ranges: list[Evidence]
    backend: str
    model: str
    context: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "ranges": [r.to_json() for r in self.ranges],
            "llm": {"backend": self.backend, "model": self.model},
            "context": self.context,
        }


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(describe options, LLM options) out of one set of keyword arguments."""
    llm = {k: v for k, v in options.items() if k in _LLM_KEYS}
    perception = {k: v for k, v in options.items() if k not in _LLM_KEYS}
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


def make_answer(question: str, text: str, fitted: Fitted, llm: LLM) -> Answer:
    """``text`` as an :class:`Answer`: the ranges it relied on, and how the video text fitted."""
    context = {
        "tokens": fitted.tokens,
        "budget": fitted.budget,
        "window": llm.context_tokens,
        "steps": list(fitted.steps),
        "dropped_ranges": fitted.dropped,
    }
    return Answer(
        question, text, relied_on(text, question, fitted.doc.segments), llm.name, llm.model, context
    )


def ask(
    video: str | os.PathLike | VideoText,
    question: str,
    llm: Any = None,
    *,
    on_text: Callable[[str], None] | None = None,
    **options: Any,
) -> Answer:
    """Answer a question about a video.

    Args:
        video: a video file (described through the perception cache) or a :class:`VideoText`.
        question: what to ask.
        llm: None (the configured default: openai with a key or base URL, else local), a backend
            name, a :class:`vctext.llm.LLM`, or a LangChain chat model.
        on_text: called with each piece of the answer as it streams in.
        **options: describe settings (profile, perceivers, fps, ...) and LLM settings (model,
            base_url, temperature, max_tokens, context_tokens, timeout, retries).

    Returns:
        An :class:`Answer`: ``.text``, ``.ranges`` (the time ranges it relied on), ``.to_json()``.
    """
    describe_opts, llm_opts = split_options(options)
    doc = video_text(video, **describe_opts)
    model = load_llm(llm, **llm_opts)

    def attempt() -> Answer:
        fitted = fit_for(doc, model, question)
        pieces = []
        for piece in model.stream(build_messages(fitted.text, [], question)):
            pieces.append(piece)
            if on_text:
                on_text(piece)
        return make_answer(question, "".join(pieces).strip(), fitted, model)

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
