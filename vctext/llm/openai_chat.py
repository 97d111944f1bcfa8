"""OpenAI or any OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...) via the official client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from vctext.errors import ConfigError
from vctext.llm.base import (
    LLM,
    Fault,
    Message,
    estimate_tokens,
    generic_fault,
    one_line,
    retry_after,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4o-mini"

#: Context windows of OpenAI's own models, by id prefix (longest prefix wins).
CONTEXTS = {
    "gpt-3.5-turbo": 16_385,
    "gpt-4": 8_192,
    "gpt-4-32k": 32_768,
    "gpt-4-turbo": 128_000,
    "gpt-4o": 128_000,
    "gpt-4.1": 1_000_000,
    "gpt-4.5": 128_000,
    "gpt-5": 400_000,
    "o1": 200_000,
    "o3": 200_000,
    "o4": 200_000,
}


@lru_cache(maxsize=8)
def _encoding(model: str):
    """tiktoken's encoding for ``model``; None when tiktoken or its data file is unavailable."""
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        try:
            return tiktoken.encoding_for_model(model)
        except KeyError:  # not an OpenAI model name: o200k is a fair estimate for modern ones
            return tiktoken.get_encoding("o200k_base")
    except Exception as exc:  # noqa: BLE001 - tiktoken downloads its tables; offline that fails
        log.debug("tiktoken unavailable (%s); estimating tokens from characters", one_line(exc))
        return None


class OpenAIChat(LLM):
    """Chat completions with streaming; the key comes from the settings or OPENAI_API_KEY."""

    name = "openai"
    requires = ("openai",)

    def __init__(self, options=None):
        super().__init__(options)
        self._client = None
        self._model = self.options.model
        self._server_context: int | None = None

    @property
    def model(self) -> str:
        return self._model or DEFAULT_MODEL

    def load(self) -> None:
        import openai

        key = self.options.api_key
        if not key and not self.options.base_url:
            raise ConfigError(
                "the openai LLM backend needs an API key: set OPENAI_API_KEY, "
                "pass --base-url for a local server, or use --llm local"
            )
        self._client = openai.OpenAI(
            api_key=key or "not-needed",  # local OpenAI-compatible servers often take no key
            base_url=self.options.base_url or None,
            timeout=self.options.timeout,
            max_retries=0,  # retries are ours: same policy and messages for every backend
        )
        if self.options.base_url:
            self._ask_server()

    def _ask_server(self) -> None:
        """A compatible server's model list: its default model and context length, if it says."""
        try:
            models = list(
                self._client.with_options(timeout=min(self.options.timeout, 10)).models.list()
            )
        except Exception as exc:  # noqa: BLE001 - optional; the chat call reports real trouble
            log.debug("no model list from the server: %s", self.scrub(one_line(exc)))
            return
        if not models:
            return
        if not self._model:
            self._model = models[0].id
            log.info("using the server's model %s", self._model)
        for m in models:
            if m.id == self.model:
                extra = m.model_extra or {}
                for key in ("context_length", "max_model_len", "context_window", "n_ctx"):
                    if isinstance(extra.get(key), int) and extra[key] > 0:
                        self._server_context = extra[key]
                        return

    def default_context(self) -> int:
        if self._server_context:
            return self._server_context
        best = max((p for p in CONTEXTS if self.model.startswith(p)), key=len, default=None)
        return CONTEXTS[best] if best else 8192

    def count_tokens(self, text: str) -> int:
        # tiktoken knows OpenAI's models; another server's model has its own tokenizer, and
        # fetching tiktoken's tables for it would only buy a different estimate.
        if self.options.base_url and not any(self.model.startswith(p) for p in CONTEXTS):
            return estimate_tokens(text)
        encoding = _encoding(self.model)
        if encoding is None:
            return estimate_tokens(text)
        return len(encoding.encode(text, disallowed_special=()))

    def _request(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "temperature": self.options.temperature,
            "max_tokens": self.options.max_tokens,
        }

    def _stream(self, messages: list[Message]) -> Iterator[str]:
        stream = self._client.chat.completions.create(
            messages=[m.to_json() for m in messages], stream=True, **self._request()
        )
        events = 0
        with stream:
            for event in stream:
                events += 1
                choices = getattr(event, "choices", None)
                if choices is None:
                    raise MalformedAnswer("a stream event without choices")
                if choices and choices[0].delta is not None and choices[0].delta.content:
                    yield choices[0].delta.content
        if not events:
            raise MalformedAnswer("the stream ended without a single event")

    def complete(self, messages: list[Message]) -> str:
        """One non-streamed answer (retries and error messages as for :meth:`stream`)."""
        self.ensure_loaded()
        return "".join(self._retrying(lambda: self._whole(messages))).strip()

    def _whole(self, messages: list[Message]) -> Iterator[str]:
        response = self._client.chat.completions.create(
            messages=[m.to_json() for m in messages], **self._request()
        )
        choices = getattr(response, "choices", None)
        if not choices:
            raise MalformedAnswer("no choices in the answer")
        content = getattr(choices[0].message, "content", None)
        if not isinstance(content, str):
            raise MalformedAnswer("the answer has no text")
        yield content

    def _fault(self, exc: Exception) -> Fault:
        import openai

        where = f"the LLM server at {self.options.base_url}" if self.options.base_url else "OpenAI"
        if isinstance(exc, MalformedAnswer):
            return Fault(f"{where} sent a malformed answer: {exc}", True)
        if isinstance(exc, openai.APITimeoutError):
            return Fault(
                f"{where} did not answer within {self.options.timeout:g} s",
                True,
                hint="raise --timeout (VCTEXT_LLM_TIMEOUT) or try later",
            )
        if isinstance(exc, openai.APIConnectionError):
            if self.options.base_url:
                return Fault(
                    f"cannot reach {where}: is it running?",
                    True,
                    hint="check --base-url / OPENAI_BASE_URL",
                )
            return Fault(
                "cannot reach OpenAI", True, hint="check the network connection, or use --llm local"
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = _error_detail(exc)
            if status == 429:
                return Fault(
                    f"{where} is rate limiting requests (429): {detail}",
                    True,
                    retry_after(exc.response.headers),
                )
            if status >= 500:
                return Fault(f"{where} failed ({status}): {detail}", True)
            if status == 401:
                return Fault(
                    f"{where} rejected the API key (401)",
                    hint="check OPENAI_API_KEY (or api_key in the config file)",
                )
            if status == 404:
                return Fault(
                    f"{where} does not know model {self.model!r} (404): {detail}",
                    hint="pass --model with a model the server has",
                )
            return Fault(f"{where} refused the request ({status}): {detail}")
        if isinstance(exc, ValueError):  # json.JSONDecodeError among them
            return Fault(f"{where} sent a malformed answer (not a chat completion)", True)
        if isinstance(exc, openai.APIResponseValidationError | AttributeError | TypeError):
            return Fault(f"{where} sent a malformed answer: {one_line(exc, 120)}", True)
        return generic_fault(exc)


class MalformedAnswer(Exception):
    """The server answered 200, but not with a chat completion."""


def _error_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return one_line(error["message"], 200)
    return one_line(getattr(exc, "message", "") or type(exc).__name__, 200)
