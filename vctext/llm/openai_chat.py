"""OpenAI or any OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...) via the official client.

Tokens are counted with tiktoken for OpenAI's models and with a server's own tokenize endpoint
when it has one (llama-cpp-python, llama.cpp's llama-server, vLLM); otherwise they are estimated
on the high side. A server's context size is read from its model list or ``/props``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

from vctext.errors import ConfigError
from vctext.llm.base import (
    LLM,
    Fault,
    Message,
    context_error,
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

#: Tokenize endpoints of compatible servers, at the server's root (not under /v1): the path,
#: the request body for a text, and how to read the count from the answer.
TOKENIZERS: tuple[tuple[str, Callable[[str, str], dict], Callable[[Any], Any]], ...] = (
    # llama-cpp-python[server]
    (
        "/extras/tokenize/count",
        lambda text, model: {"input": text, "model": model},
        lambda r: r["count"],
    ),
    # llama.cpp's llama-server
    (
        "/tokenize",
        lambda text, model: {"content": text, "add_special": False},
        lambda r: len(r["tokens"]),
    ),
    # vLLM
    (
        "/tokenize",
        lambda text, model: {"model": model, "prompt": text, "add_special_tokens": False},
        lambda r: r["count"],
    ),
)


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
        self._tokenizer: tuple | None = None  # one of TOKENIZERS, once a server answered it
        self._tokenizer_probed = False
        self._server_count = lru_cache(maxsize=512)(self._count_on_server)
        #: Set when a stream of this call ended with no event: its retries go unstreamed.
        self._unstreamed = False

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
        if self._server_context:  # a server's own context is a hard limit, whatever is set
            self.server_limit = self._server_context
            if self.options.context_tokens > self._server_context:
                log.warning(
                    "the LLM server's context is %d tokens; using that, not --context-tokens %d",
                    self._server_context,
                    self.options.context_tokens,
                )

    def _ask_server(self) -> None:
        """A compatible server's default model and context size, where it says them."""
        try:
            models = list(
                self._client.with_options(timeout=min(self.options.timeout, 10)).models.list()
            )
        except Exception as exc:  # noqa: BLE001 - optional; the chat call reports real trouble
            log.debug("no model list from the server: %s", self.scrub(one_line(exc)))
            return
        if models and not self._model:
            self._model = models[0].id
            log.info("using the server's model %s", self._model)
        for m in models:
            if m.id == self.model:
                extra = m.model_extra or {}
                for key in ("context_length", "max_model_len", "context_window", "n_ctx"):
                    if isinstance(extra.get(key), int) and extra[key] > 0:
                        self._server_context = extra[key]
                        return
        # llama.cpp's llama-server gives the context of one slot (what a request may use) in
        # /props; its model list has only the context the model was trained with.
        props = self._server_json("GET", "/props") or {}
        settings = props.get("default_generation_settings")
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        if isinstance(n_ctx, int) and n_ctx > 0:
            self._server_context = n_ctx
        if self._server_context:
            log.info("the server's context is %d tokens", self._server_context)

    @property
    def _root(self) -> str:
        """The server's root URL: extras such as tokenize live beside /v1, not under it."""
        root = self.options.base_url.rstrip("/")
        return root.removesuffix("/v1")

    def _server_json(self, method: str, path: str, body: dict | None = None) -> Any:
        """A JSON answer from the server's root, or None when it has no such endpoint."""
        try:
            client = self._client.with_options(timeout=min(self.options.timeout, 10))
            call = client.get if method == "GET" else client.post
            extra = {} if body is None else {"body": body}
            answer = call(self._root + path, cast_to=object, **extra)
        except Exception as exc:  # noqa: BLE001 - optional endpoints; a missing one is normal
            log.debug("no %s %s on the server: %s", method, path, self.scrub(one_line(exc, 120)))
            return None
        return answer if isinstance(answer, dict) else None

    def _count_on_server(self, text: str) -> int | None:
        """Tokens in ``text`` by the server's own tokenizer; None when it has no endpoint."""
        candidates = [self._tokenizer] if self._tokenizer_probed else list(TOKENIZERS)
        for tokenizer in candidates:
            if tokenizer is None:
                continue
            path, body, read = tokenizer
            answer = self._server_json("POST", path, body(text, self.model))
            try:
                count = read(answer)
            except (KeyError, TypeError):
                continue
            if isinstance(count, int) and (count > 0 or not text.strip()):
                if not self._tokenizer_probed:
                    log.info("counting tokens with the server's %s", path)
                self._tokenizer, self._tokenizer_probed = tokenizer, True
                return count
        if not self._tokenizer_probed:
            log.info("the server has no tokenize endpoint; estimating tokens on the high side")
            self._tokenizer_probed = True
        return None

    def default_context(self) -> int:
        if self._server_context:
            return self._server_context
        best = max((p for p in CONTEXTS if self.model.startswith(p)), key=len, default=None)
        return CONTEXTS[best] if best else 8192

    def count_tokens(self, text: str) -> int:
        self.ensure_loaded()
        if self.options.base_url and (self._tokenizer or not self._tokenizer_probed):
            count = self._server_count(text)
            if count is not None:
                return count
        # tiktoken knows OpenAI's models; another server's model has its own tokenizer, and
        # fetching tiktoken's tables for it would only buy a different estimate.
        if self.options.base_url and not any(self.model.startswith(p) for p in CONTEXTS):
            return estimate_tokens(text)
        encoding = _encoding(self.model)
        if encoding is None:
            return estimate_tokens(text)
        return len(encoding.encode(text, disallowed_special=()))

    def _request(self) -> dict[str, Any]:
        request = {
            "model": self.model,
            "temperature": self.options.temperature,
            "max_tokens": self.answer_tokens,
        }
        if self.call_stop:
            request["stop"] = self.call_stop[:4]  # the most the API takes; the rest are cut here
        return request

    def _usage(self, usage: Any) -> None:
        """Report a response's (or a stream's last event's) usage, when it has one."""
        if isinstance(usage, dict):
            prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        else:
            prompt = getattr(usage, "prompt_tokens", None)
            completion = getattr(usage, "completion_tokens", None)
        if isinstance(prompt, int) and isinstance(completion, int):
            self.report_usage(prompt, completion)

    def _stream(self, messages: list[Message]) -> Iterator[str]:
        # The raw event stream, read here: llama.cpp's server sends an error inside a stream as
        # an `error:` field, which the client's own reader skips without a word.
        if self._unstreamed:
            yield from self._whole(messages)
            return
        create = self._client.chat.completions.with_streaming_response.create
        request = self._request() | {"stream_options": {"include_usage": True}}
        with create(messages=[m.to_json() for m in messages], stream=True, **request) as r:
            events = pieces = 0
            finished = False  # a finish_reason or [DONE] came: the answer is whole
            for kind, data in server_sent_events(r.iter_lines()):
                if data.strip() == "[DONE]":
                    finished = True
                    break
                event = json.loads(data)
                if kind == "error" or (isinstance(event, dict) and event.get("error")):
                    raise StreamError(
                        event.get("error", event) if isinstance(event, dict) else event
                    )
                events += 1
                if isinstance(event, dict) and event.get("usage"):
                    self._usage(event["usage"])  # the last event, when usage was asked for
                choices = event.get("choices") if isinstance(event, dict) else None
                if not isinstance(choices, list):
                    raise MalformedAnswer("a stream event without choices")
                delta = (choices[0] or {}).get("delta") if choices else None
                finished = finished or bool(choices and (choices[0] or {}).get("finish_reason"))
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    pieces += bool(delta["content"])
                    yield delta["content"]
        if not events:
            # llama-cpp-python ends a stream with no event at all when the request fails after
            # its 200 (a prompt longer than the context among them) and says why only in its own
            # log: the same request unstreamed gets the server's answer, or its real error.
            # A server that streamed nothing is asked unstreamed for the rest of this call.
            log.info("the stream ended without a single event; asking again without streaming")
            self._unstreamed = True
            yield from self._whole(messages)
            return
        if not finished or not pieces:
            # llama.cpp's server ends a stream early when another request takes its slot: no
            # finish, or a finish with nothing said. Asked again, it answers (once; see _fault).
            raise StreamCut(pieces)

    def stream(self, messages: list[Message], stop: list[str] | None = None) -> Iterator[str]:
        self._unstreamed = False
        self._call.cuts = 0
        return super().stream(messages, stop)

    def complete(self, messages: list[Message], stop: list[str] | None = None) -> str:
        """One non-streamed answer (retries and error messages as for :meth:`stream`)."""
        return "".join(self._calling(messages, stop, lambda: self._whole(messages))).strip()

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
        self._usage(getattr(response, "usage", None))
        yield content

    def _fault(self, exc: Exception) -> Fault:
        import openai

        where = f"the LLM server at {self.options.base_url}" if self.options.base_url else "OpenAI"
        if isinstance(exc, MalformedAnswer):
            return Fault(f"{where} sent a malformed answer: {exc}", True)
        if isinstance(exc, StreamCut):
            cuts = getattr(self._call, "cuts", 0) + 1
            self._call.cuts = cuts
            return Fault(
                f"{where}: {exc}",
                cuts == 1,  # transient: asked again once
                hint="a llama.cpp server cuts a stream when another request takes its slot: "
                "start it with --parallel N (N requests at once) or send one request at a time",
            )
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
        if isinstance(exc, StreamError | openai.APIStatusError):
            status = exc.status_code
            detail = _error_detail(exc)
            context = context_error(f"{detail} {_error_code(exc)}")
            if context is not None:  # the same request can only fail again
                return Fault(
                    f"{where} refused the request as longer than its context ({status}): {detail}",
                    context=context,
                    hint=(
                        f"its context is {context} tokens: pass --context-tokens {context}"
                        if context and context < self.context_tokens
                        else "it counts more tokens than vctext did: pass a smaller "
                        "--context-tokens"
                    ),
                )
            if status == 429:
                response = getattr(exc, "response", None)
                return Fault(
                    f"{where} is rate limiting requests (429): {detail}",
                    True,
                    retry_after(getattr(response, "headers", None)),
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


class StreamCut(Exception):
    """A stream ended before its answer did (or ended saying nothing at all)."""

    def __init__(self, pieces: int):
        self.pieces = pieces
        what = "before a word of the answer" if not pieces else "in the middle of the answer"
        super().__init__(f"the answer's stream ended {what}")


class StreamError(Exception):
    """The server reported an error inside a stream it had begun with 200."""

    def __init__(self, body: Any):
        self.body = body
        code = body.get("code") if isinstance(body, dict) else None
        # llama.cpp puts the HTTP status it would have sent in "code"; others give a word.
        self.status_code = code if isinstance(code, int) and code >= 400 else 500
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(str(message or "an error inside the stream"))


def server_sent_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(kind, data) for each event of a text/event-stream; kind is "error" for an ``error:``
    field (llama.cpp) or an ``event: error`` (others), else "data"."""
    kind, data = "data", []
    for line in lines:
        if not line:
            if data:
                yield kind, "\n".join(data)
            kind, data = "data", []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event" and value == "error":
            kind = "error"
        elif name in ("data", "error"):
            kind = "error" if name == "error" else kind
            data.append(value)
    if data:
        yield kind, "\n".join(data)


def _error_body(exc: Any) -> Any:
    body = getattr(exc, "body", None)
    return body.get("error", body) if isinstance(body, dict) else body


def _error_detail(exc: Any) -> str:
    error = _error_body(exc)
    if isinstance(error, dict) and error.get("message"):
        return one_line(error["message"], 200)
    return one_line(getattr(exc, "message", "") or str(exc) or type(exc).__name__, 200)


def _error_code(exc: Any) -> str:
    error = _error_body(exc)
    if not isinstance(error, dict):
        return ""
    return " ".join(str(error.get(k) or "") for k in ("code", "type"))
