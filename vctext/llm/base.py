"""The one small interface every LLM backend follows: streamed chat, token counting, retries.

A backend implements ``load()`` (heavy imports live there), ``_stream(messages)`` and, when its
errors need it, ``_fault(exc)``; it calls :meth:`LLM.report_usage` when it knows what a call
used (else the tokens are estimated), and may read :attr:`LLM.call_stop` to stop the model
early (the base class cuts the answer at a stop sequence in any case). The base class turns
every failure into an :class:`LLMError` with a one-line message, retries timeouts, 429 and 5xx
with backoff (honouring Retry-After), and scrubs API keys from anything it says. A request that
cannot succeed as sent (over the context, a bad key, an unknown model) is never retried; an
over-long one raises :class:`ContextLengthError`, and the context size the server names is kept
for the next fit.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import random
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vctext.config import default
from vctext.errors import DependencyError, LLMError, VctextError

log = logging.getLogger(__name__)

#: Longest wait we accept from a Retry-After header before giving up with a clear message.
MAX_RETRY_WAIT = 60.0
#: First backoff step in seconds; doubles on each retry, with jitter.
BACKOFF = 0.5
#: Tokens a chat template adds around each message (role markers, separators), estimated.
PER_MESSAGE_TOKENS = 6
#: What :func:`estimate_tokens` adds on top of its per-piece count, for tokenizers it has not seen.
ESTIMATE_MARGIN = 1.1


@dataclass(frozen=True)
class Message:
    """One chat message; ``role`` is system, user or assistant."""

    role: str
    content: str

    def to_json(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class LLMOptions:
    """What a backend runs with; resolved from the settings table by :func:`llm_options`, whose
    defaults these are."""

    model: str = default("llm_model")
    base_url: str = default("base_url")
    api_key: str = field(default=default("api_key"), repr=False)
    temperature: float = default("temperature")
    max_tokens: int = default("max_tokens")
    context_tokens: int = default("context_tokens")
    timeout: float = default("llm_timeout")
    retries: int = default("llm_retries")
    device: str = default("device")


@dataclass(frozen=True)
class Usage:
    """The tokens one call used: as the server or tokenizer counted them, or ``estimated``."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def cut_at_stop(pieces: Iterable[str], stop: list[str] | None) -> Iterator[str]:
    """``pieces`` up to (not including) the first of the ``stop`` sequences, wherever the pieces
    split it. The rest is read but not given out: a backend stops at the sequence itself where
    it can, and what follows may still say what the call used."""
    stop = [s for s in stop or [] if s]
    if not stop:
        yield from pieces
        return
    keep = max(len(s) for s in stop) - 1  # the end of the text that may begin a stop sequence
    held = ""
    for piece in pieces:
        held += piece
        found = [i for i in (held.find(s) for s in stop) if i >= 0]
        if found:
            if held[: min(found)]:
                yield held[: min(found)]
            for _ in pieces:
                pass
            return
        if len(held) > keep:
            yield held[: len(held) - keep]
            held = held[len(held) - keep :]
    if held:
        yield held


@dataclass(frozen=True)
class Fault:
    """What went wrong with one call, in words, and whether trying again may help."""

    message: str
    retryable: bool = False
    retry_after: float | None = None
    hint: str = ""
    #: The server said the request is over its context, which is this many tokens (0: unsaid).
    context: int | None = None


class ContextLengthError(LLMError):
    """The server refused the request as longer than its context (``context`` tokens, if said)."""

    def __init__(self, message: str, context: int | None = None):
        super().__init__(message)
        self.context = context


_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{6,}|(?<=Bearer )[A-Za-z0-9._\-]{8,}")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Hide API keys (the given ones, and anything shaped like a key) in ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _KEY_LIKE.sub("***", text)


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_PIECE = re.compile(r"[A-Za-z]+|[ \t]+|\n+|[\x21-\x7e]|[^\x00-\x7f]")


def estimate_tokens(text: str) -> int:
    """Tokens ``text`` takes at most, about: the fallback when no tokenizer is at hand.

    Counted per piece so that timestamps and other languages are not undercounted (four
    characters a token is 40% short on a video's text for Llama-style tokenizers, which split
    every digit): a run of letters takes a token per four, a digit or a sign one each, a space
    before a word none, a letter outside ASCII one to four by script; plus a margin.
    """
    n = 0.0
    for m in _PIECE.finditer(text):
        piece = m.group()
        first = piece[0]
        if first.isascii() and first.isalpha():
            n += math.ceil(len(piece) / 4)
        elif first in " \t":
            if piece != " " or not _word_follows(text, m.end()):
                n += math.ceil(len(piece) / 4)
        elif first == "\n" or first.isascii():
            n += 1
        else:
            code = ord(first)
            # Byte-level tokenizers spend more on scripts their vocabulary saw less of.
            n += 2 if code < 0x250 else 1.5 if code < 0x800 else 2.5 if code < 0x10000 else 4
    return math.ceil(n * ESTIMATE_MARGIN)


def _word_follows(text: str, at: int) -> bool:
    return at < len(text) and text[at].isascii() and text[at].isalpha()


#: How servers say a request is over the context, and where the size is in what they say:
#: OpenAI, vLLM and llama-cpp-python ("maximum context length is N tokens"), llama.cpp's
#: llama-server ("exceeds the available context size (N tokens)").
_CONTEXT_ERRORS = (
    re.compile(r"maximum context length is (\d+)", re.I),
    re.compile(r"available context size \((\d+) tokens?\)", re.I),
    re.compile(r"exceeds? (?:the )?context window of (\d+)", re.I),
    re.compile(r"context[_ ]length[_ ]exceeded|exceed_context_size", re.I),
)


def context_error(text: str) -> int | None:
    """0 or the context size when ``text`` says a request is over the context, else None."""
    for pattern in _CONTEXT_ERRORS:
        m = pattern.search(text)
        if m:
            return int(m.group(1)) if m.groups() else 0
    return None


class LLM(ABC):
    """Base class for LLM backends.

    Subclasses set ``name`` and ``requires`` and implement ``load`` and ``_stream``; they may
    override ``count_tokens``, ``default_context`` and ``_fault``.
    """

    name: ClassVar[str]
    #: Top-level modules ``load()`` imports; a missing one names the extra to install.
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str] = "llm"

    def __init__(self, options: LLMOptions | None = None):
        self.options = options or LLMOptions()
        self.loaded = False
        #: The context size a server named when it refused a request as too long.
        self.server_limit: int | None = None
        self._call = threading.local()  # this thread's call: its stop sequences and usage

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model!r}>"

    # -- what the model is ---------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.options.model

    @property
    def context_tokens(self) -> int:
        """The context window the text is fitted to: the setting, else the model's own; never
        more than a server said it has when it refused a request."""
        self.ensure_loaded()
        window = self.options.context_tokens or self.default_context()
        return min(window, self.server_limit) if self.server_limit else window

    def default_context(self) -> int:
        return 8192

    @property
    def answer_tokens(self) -> int:
        """Tokens kept for the answer: ``max_tokens``, but at most a quarter of a small context,
        so a 1024-token server still has room for the question and the video's text."""
        return max(1, min(self.options.max_tokens, self.context_tokens // 4))

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def count_messages(self, messages: list[Message]) -> int:
        return sum(self.count_tokens(m.content) + PER_MESSAGE_TOKENS for m in messages) + 3

    # -- loading -------------------------------------------------------------------------------

    def ensure_loaded(self) -> None:
        if not self.loaded:
            missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
            if missing:
                raise DependencyError(f"the {self.name} LLM backend", self.extra, missing[0])
            try:
                self.load()
            except LLMError as exc:
                raise LLMError(self.scrub(str(exc))) from None
            except VctextError:
                raise
            except Exception as exc:  # noqa: BLE001 - a backend's own errors become one line
                raise LLMError(
                    self.scrub(f"cannot load the {self.name} LLM {self.model!r}: {one_line(exc)}")
                ) from None
            self.loaded = True

    @abstractmethod
    def load(self) -> None:
        """Import the client or model and get it ready."""

    # -- talking -------------------------------------------------------------------------------

    @abstractmethod
    def _stream(self, messages: list[Message]) -> Iterator[str]:
        """Yield the answer's text as it arrives; raise the backend's own errors."""

    def _fault(self, exc: Exception) -> Fault:
        """Describe a backend error; the default knows timeouts and HTTP status codes."""
        return generic_fault(exc)

    def scrub(self, text: str) -> str:
        return scrub(text, [self.options.api_key])

    def stream(self, messages: list[Message], stop: list[str] | None = None) -> Iterator[str]:
        """Yield the answer in pieces; retries before the first piece, then fails cleanly. The
        answer ends before the first of the ``stop`` sequences; once it is read,
        :attr:`last_usage` says what the call used."""
        return self._calling(messages, stop, lambda: self._stream(messages))

    def _calling(
        self, messages: list[Message], stop: list[str] | None, produce: Callable
    ) -> Iterator[str]:
        self.ensure_loaded()
        self._call.stop, self._call.reported, self._call.usage = list(stop or []), None, None
        return self._counted(messages, cut_at_stop(self._retrying(produce), stop))

    def _counted(self, messages: list[Message], pieces: Iterable[str]) -> Iterator[str]:
        text = []
        for piece in pieces:
            text.append(piece)
            yield piece
        # What the backend counted is what was spent (also past a stop sequence it could not
        # stop at); else an estimate from the text.
        self._call.usage = getattr(self._call, "reported", None) or Usage(
            self.count_messages(messages), self.count_tokens("".join(text)), estimated=True
        )

    @property
    def call_stop(self) -> list[str]:
        """The stop sequences of this thread's call in progress."""
        return list(getattr(self._call, "stop", None) or [])

    def report_usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        """What this thread's call in progress used, as the server or tokenizer counted it."""
        self._call.reported = Usage(int(prompt_tokens), int(completion_tokens))

    @property
    def last_usage(self) -> Usage | None:
        """The tokens of this thread's last call that was read to the end (None before any)."""
        return getattr(self._call, "usage", None)

    def _retrying(self, produce: Callable[[], Iterable[str]]) -> Iterator[str]:
        """Run ``produce`` with retries; every failure ends as one :class:`LLMError` line."""
        attempt = 0
        while True:
            started = False
            try:
                for piece in produce():
                    if piece:
                        started = True
                        yield piece
                if not started:
                    raise LLMError(f"the {self.name} LLM {self.model!r} gave an empty answer")
                return
            except VctextError as exc:
                if isinstance(exc, LLMError):
                    raise LLMError(self.scrub(str(exc))) from None
                raise
            except GeneratorExit:
                raise
            except Exception as exc:  # noqa: BLE001 - every backend error becomes one line
                fault = self._fault(exc)
                log.debug("LLM call failed: %s", self.scrub(repr(exc)))
                if fault.retryable and not started and attempt < self.options.retries:
                    wait = fault.retry_after
                    if wait is None:
                        wait = BACKOFF * 2**attempt * (1 + random.random() * 0.25)
                    if wait > MAX_RETRY_WAIT:
                        raise LLMError(
                            self.scrub(
                                f"{fault.message}; the server asks to wait {wait:.0f} s, "
                                "try again later"
                            )
                        ) from None
                    attempt += 1
                    log.info(
                        "%s; retry %d of %d in %.1f s",
                        self.scrub(fault.message),
                        attempt,
                        self.options.retries,
                        wait,
                    )
                    time.sleep(wait)
                    continue
                tries = f" (after {attempt + 1} tries)" if attempt else ""
                hint = f"; {fault.hint}" if fault.hint else ""
                message = self.scrub(one_line(fault.message.rstrip(".") + tries + hint, 400))
                if fault.context is not None:
                    if fault.context and fault.context < self.context_tokens:
                        log.info("the server's context is %d tokens", fault.context)
                        self.server_limit = fault.context
                    raise ContextLengthError(message, fault.context or None) from None
                raise LLMError(message) from None

    def complete(self, messages: list[Message], stop: list[str] | None = None) -> str:
        """The whole answer as one string."""
        return "".join(self.stream(messages, stop)).strip()


def _status(exc: Exception) -> int | None:
    for attr in ("status_code", "status", "http_status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After (or retry-after-ms) header, if there is a usable one."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(float(ms) / 1000, 0.0)
        value = headers.get("retry-after")
        if value is None:
            return None
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        try:
            from email.utils import parsedate_to_datetime

            when = parsedate_to_datetime(headers.get("retry-after"))
            return max(when.timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            return None


def generic_fault(exc: Exception) -> Fault:
    """Classify any client's error by its name and HTTP status."""
    status = _status(exc)
    name = type(exc).__name__
    text = one_line(exc) or name
    context = context_error(text)
    if context is not None:
        return Fault(f"the LLM refused the request as too long: {text}", context=context)
    if status == 429 or "RateLimit" in name:
        wait = retry_after(getattr(getattr(exc, "response", None), "headers", None))
        return Fault(f"the LLM server is rate limiting requests (429): {text}", True, wait)
    if status is not None and status >= 500:
        return Fault(f"the LLM server failed ({status}): {text}", True)
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return Fault(
            "the LLM server did not answer in time",
            True,
            hint="raise --timeout (VCTEXT_LLM_TIMEOUT) or try later",
        )
    if "Connection" in name or isinstance(exc, ConnectionError):
        return Fault(f"cannot reach the LLM server: {text}", True)
    if status is not None:
        return Fault(f"the LLM server refused the request ({status}): {text}")
    return Fault(f"the LLM failed: {name}: {text}")
