"""Ask, chat and narrate: a video's text, fitted to the model's context, under our system prompt."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from vctext import kinds
from vctext.document import VideoText
from vctext.llm import LLM_SETTINGS, load_llm
from vctext.llm.base import LLM, ContextLengthError, Message
from vctext.llm.fit import Fitted, Summarizer, fit
from vctext.llm.prompts import build_messages, escape_evidence, fill, load_prompt, system_prompt
from vctext.llm.relevance import content_words, relevance, segment_text
from vctext.render import format_time
from vctext.types import Segment

log = logging.getLogger(__name__)

#: Share of the evidence room a chat keeps free for its history.
CHAT_HISTORY_SHARE = 0.25
#: Token counts differ a little between text counted alone and inside a chat template.
MARGIN = 0.97
_STAMP = re.compile(r"\b(?:(\d{1,2}):)?(\d{1,2}):(\d{2})\b")
_LLM_KEYS = {*LLM_SETTINGS, "model", "timeout", "retries"}
T = TypeVar("T")


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
    describe = {k: v for k, v in options.items() if k not in _LLM_KEYS}
    if "device" in options:
        llm["device"] = options["device"]
    return describe, llm


def video_text(video: str | os.PathLike | VideoText, **options: Any) -> VideoText:
    """The video's text: as given, or from :func:`vctext.describe` (cached perception)."""
    if isinstance(video, VideoText):
        return video
    import vctext

    return vctext.describe(video, **options)


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


def _refitting(llm: LLM, attempt: Callable[[], T]) -> T:
    """``attempt()`` (which fits the text to ``llm.context_tokens`` and calls the LLM); once more
    when the server refused it as too long and named a smaller context than it was fitted to."""
    window = llm.context_tokens
    try:
        return attempt()
    except ContextLengthError:
        if llm.context_tokens >= window:
            raise
        _refit_note(llm, window)
        return attempt()


def _refit_note(llm: LLM, window: int) -> None:
    log.warning(
        "the LLM server's context is %d tokens, not %d: fitting the video's text to it again "
        "(pass --context-tokens %d to skip this)",
        llm.context_tokens,
        window,
        llm.context_tokens,
    )


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


def _answer(question: str, text: str, fitted: Fitted, llm: LLM) -> Answer:
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
        return _answer(question, "".join(pieces).strip(), fitted, model)

    return _refitting(model, attempt)


def narrate(video: str | os.PathLike | VideoText, llm: Any = None, **options: Any) -> str:
    """A readable narrative of the whole video, from its timestamped text."""
    describe_opts, llm_opts = split_options(options)
    doc = video_text(video, **describe_opts)
    model = load_llm(llm, **llm_opts)
    instruction = load_prompt("narrate.txt")
    return _refitting(
        model,
        lambda: model.complete(build_messages(fit_for(doc, model, None).text, [], instruction)),
    )


class Chat:
    """A conversation about one video: streamed answers, history trimmed to the model's budget.

    chat = vctext.Chat("talk.mp4")
    for piece in chat.send("Who speaks first?"):
        print(piece, end="")
    chat.ask("And then?").text
    """

    def __init__(self, video: str | os.PathLike | VideoText, llm: Any = None, **options: Any):
        describe_opts, llm_opts = split_options(options)
        self.doc = video_text(video, **describe_opts)
        self.llm = load_llm(llm, **llm_opts)
        self.history: list[Message] = []
        self.last: Answer | None = None
        self._fitted: Fitted | None = None

    @property
    def fitted(self) -> Fitted:
        """The video text fitted once, leaving room for the conversation."""
        if self._fitted is None:
            self._fitted = fit_for(self.doc, self.llm, None, CHAT_HISTORY_SHARE)
        return self._fitted

    def messages(self, question: str) -> list[Message]:
        """What the next turn sends: the oldest turns go first when the budget is short."""
        limit = self.llm.context_tokens - self.llm.answer_tokens
        history = list(self.history)
        while True:
            messages = build_messages(self.fitted.text, history, question)
            if not history or self.llm.count_messages(messages) <= limit:
                return messages
            history = history[2:]
            log.info("chat history trimmed to the last %d turns", len(history) // 2)

    def send(self, question: str) -> Iterator[str]:
        """Stream the answer; the turn joins the history once it is complete."""
        pieces: list[str] = []
        for retry in (False, True):
            window = self.llm.context_tokens
            try:
                for piece in self.llm.stream(self.messages(question)):
                    pieces.append(piece)
                    yield piece
                break
            except ContextLengthError:
                if retry or pieces or self.llm.context_tokens >= window:
                    raise
                _refit_note(self.llm, window)
                self._fitted = None
        text = "".join(pieces).strip()
        self.history += [Message("user", question), Message("assistant", text)]
        self.last = _answer(question, text, self.fitted, self.llm)

    def ask(self, question: str) -> Answer:
        for _ in self.send(question):
            pass
        assert self.last is not None
        return self.last

    def reset(self) -> None:
        """Forget the conversation (the video text stays)."""
        self.history.clear()
        self.last = None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "vctext-chat/1",
            "video": self.doc.video.to_json(),
            "llm": {"backend": self.llm.name, "model": self.llm.model},
            "messages": [m.to_json() for m in self.history],
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the conversation as JSON (questions and answers, not the video text)."""
        from vctext.render import write_atomic

        target = Path(path).expanduser()
        write_atomic(target, json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n")
        return target


def render_narrated(
    doc: VideoText, format: str = "text", template: Any = None, llm: Any = None, **options: Any
) -> str:
    """``doc`` rendered with a narrative of the whole video: after the timestamped text in the
    text layout, as ``summary`` in JSON and Markdown."""
    import dataclasses

    from vctext.render import render

    story = narrate(doc, llm, **options)
    if format == "text":
        text = render(doc, format=format, template=template).rstrip("\n")
        return f"{text}\n\nnarrative:\n{story.strip()}\n"
    if format in ("srt", "vtt"):
        log.warning("--narrate has no place in %s subtitles; use text, md or json", format)
    return render(dataclasses.replace(doc, summary=story.strip()), format=format, template=template)
