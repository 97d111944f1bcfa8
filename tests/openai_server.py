"""A small OpenAI-compatible server for tests: chat completions (plain and streamed), models.

It speaks /v1/chat/completions and /v1/models. It answers from scripted replies, or else echoes
useful bits of the request (the question and the first quoted speech in the evidence). Faults can
be queued, one per request, to see how clients cope: ``"429"`` (with Retry-After), ``"500"``,
``"400"`` (a bad value), ``"404"`` (an unknown model), ``"401"`` (echoes the key back),
``"slow"`` (waits past the client's timeout), ``"garbage"`` (a 200 whose body is not JSON),
``"empty"`` (a 200 with no choices). Every chat request is recorded
(body and headers) so tests can check what a client sent.

A request whose last message carries an image (an ``image_url`` part with a ``data:`` URL, as
vision clients send frames) is answered from the picture's pixels: the name of its dominant
colour ("red", "green", "blue", "black", "white", ...), so a test can tell which frame reached
which time. An image part counts as ``IMAGE_TOKENS`` tokens of the prompt.

Like a real server it has a context (``context`` tokens, counted with ``tokenize`` through a
chat template) and refuses a prompt that does not fit. ``mimic`` makes it answer as a real
server does, endpoints and error bodies included:

- ``"openai"``: the model list says ``context_length``; over-long requests get OpenAI's 400.
- ``"llama-cpp-python"`` (``llama_cpp.server``): the model list says no context; it has
  ``/extras/tokenize`` and ``/extras/tokenize/count``; over-long requests get a 400
  ``context_length_exceeded`` ("This model's maximum context length is N tokens...").
- ``"llama-server"`` (llama.cpp): ``/props`` gives ``default_generation_settings.n_ctx``, the
  model list only ``meta.n_ctx_train``; it has ``/tokenize``; an over-long request gets a 400
  ``exceed_context_size_error``, or, streamed, a 200 whose only event is an ``error:`` field
  (as llama-server builds that send errors with ``server_sent_event(sink, "error", ...)`` do).

    with OpenAIServer() as server:
        server.faults += ["429", "500"]
        client = openai.OpenAI(base_url=server.url, api_key="sk-test")

Run it by hand with ``python tests/openai_server.py [--port N] [--mimic M] [--context N]``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODEL = "vctext-test-model"
CONTEXT = 8192
MIMICS = ("openai", "llama-cpp-python", "llama-server")
#: Tokens a chat template adds per message (ChatML: <|im_start|>, role, newline, <|im_end|>,
#: newline) and to open the answer.
TEMPLATE_TOKENS = 5
ANSWER_TOKENS = 3
#: Tokens an image part takes in the prompt (OpenAI's count for a low-detail image).
IMAGE_TOKENS = 85
#: The colours an image's pixels are named by (the nearest one, per pixel).
COLOURS = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "grey": (128, 128, 128),
    "red": (255, 0, 0),
    "green": (0, 160, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
}


def coarse_tokenize(text: str) -> list[int]:
    """Four characters a token: the default, for tests that are not about counting."""
    return [0] * math.ceil(len(text) / 4)


def whisper_tokenizer() -> Callable[[str], list[int]] | None:
    """A real byte-level BPE (GPT-2's, multilingual, as openai-whisper ships it), read offline;
    None without openai-whisper and tiktoken."""
    spec = importlib.util.find_spec("whisper")
    if spec is None or spec.origin is None or importlib.util.find_spec("tiktoken") is None:
        return None
    import tiktoken

    path = Path(spec.origin).parent / "assets" / "multilingual.tiktoken"
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in path.read_text().splitlines() if line)
    }
    encoding = tiktoken.Encoding(
        "whisper-multilingual",
        pat_str=r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
        mergeable_ranks=ranks,
        special_tokens={},
    )
    return lambda text: encoding.encode(text, disallowed_special=())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class OpenAIServer:
    """An OpenAI-compatible HTTP server on 127.0.0.1 at a random port, in a thread."""

    def __init__(
        self,
        replies: list[str] | None = None,
        retry_after: float = 1.0,
        slow_seconds: float = 5.0,
        context: int = CONTEXT,
        port: int = 0,
        mimic: str = "openai",
        tokenize: Callable[[str], list[int]] = coarse_tokenize,
        report_context: bool = True,
        tokenize_endpoint: bool = True,
    ):
        if mimic not in MIMICS:
            raise ValueError(f"mimic must be one of {MIMICS}, not {mimic!r}")
        self.replies = list(replies or [])
        self.faults: list[str] = []
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.context = context
        self.mimic = mimic
        self.tokenize = tokenize
        self.report_context = report_context
        self.tokenize_endpoint = tokenize_endpoint
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        #: Prompt tokens of each chat request (as this server counts them), and those refused.
        self.prompt_tokens: list[int] = []
        self.refused: list[int] = []
        #: Tokenize requests answered.
        self.tokenized = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), self._handler())
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def count(self) -> int:
        """Chat completion requests received so far (faulty ones included)."""
        return len(self.requests)

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- answers -------------------------------------------------------------------------------

    def _next_fault(self) -> str | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def answer(self, body: dict[str, Any]) -> str:
        with self._lock:
            if self.replies:
                return stopped(self.replies.pop(0), body.get("stop"))
        images = [url for m in (body.get("messages") or [{}])[-1:] for url in image_urls(m)]
        if images:  # several pictures (a clip): their colours in the order they came
            return " then ".join(dominant_colour(url) for url in images)
        return stopped(echo(body), body.get("stop"))

    def count_prompt(self, body: dict[str, Any]) -> int:
        """The prompt's tokens as the model sees them: each message inside a chat template."""
        messages = body.get("messages") or []
        content = sum(len(self.tokenize(text_of(m))) for m in messages)
        images = sum(len(image_urls(m)) for m in messages)
        return content + IMAGE_TOKENS * images + TEMPLATE_TOKENS * len(messages) + ANSWER_TOKENS

    def too_long(self, body: dict[str, Any], tokens: int) -> dict[str, Any]:
        """The error body this server's kind sends for a prompt over its context."""
        n_ctx = self.context
        if self.mimic == "llama-server":
            return {
                "code": 400,
                "message": f"request ({tokens} tokens) exceeds the available context size "
                f"({n_ctx} tokens), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": tokens,
                "n_ctx": n_ctx,
            }
        completion = body.get("max_tokens") or 0
        if self.mimic == "llama-cpp-python":
            message = (
                f"This model's maximum context length is {n_ctx} tokens. However, you requested "
                f"{tokens + completion} tokens ({tokens} in the messages, {completion} in the "
                "completion). Please reduce the length of the messages or completion."
            )
            return {
                "message": message,
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        return {
            "message": f"This model's maximum context length is {n_ctx} tokens. However, your "
            f"messages resulted in {tokens} tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }

    def models(self) -> dict[str, Any]:
        model: dict[str, Any] = {"id": MODEL, "object": "model", "created": 0}
        if self.mimic == "llama-cpp-python":
            model.update(owned_by="me", permissions=[])
        elif self.mimic == "llama-server":
            # The context the model was trained with, not the one the server runs with.
            model.update(owned_by="llamacpp", meta={"n_ctx_train": 4 * self.context})
        else:
            model["owned_by"] = "vctext"
            if self.report_context:
                model["context_length"] = self.context
        return {"object": "list", "data": [model]}

    def extra(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """What a llama.cpp server answers beside the OpenAI API; None: no such endpoint."""
        if self.mimic == "llama-server" and method == "GET" and path == "/props":
            settings: dict[str, Any] = {"params": {"temperature": 0.8}}
            if self.report_context:
                settings["n_ctx"] = self.context
            return {"default_generation_settings": settings, "total_slots": 1}
        if method != "POST" or not self.tokenize_endpoint:
            return None
        if self.mimic == "llama-cpp-python" and path in (
            "/extras/tokenize",
            "/extras/tokenize/count",
        ):
            if not isinstance(body.get("input"), str):
                return {"detail": [{"type": "missing", "loc": ["body", "input"]}]}
            tokens = self.tokenize(body["input"])
            self.tokenized += 1
            return {"count": len(tokens)} if path.endswith("count") else {"tokens": tokens}
        if self.mimic == "llama-server" and path == "/tokenize":
            self.tokenized += 1
            # llama-server answers no tokens, not an error, when "content" is missing.
            return {"tokens": self.tokenize(body["content"]) if "content" in body else []}
        return None

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(
                self,
                status: int,
                payload: Any,
                headers: dict[str, str] | None = None,
                raw: bytes | None = None,
            ) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = self.path.rstrip("/")
                if path.endswith("/models"):
                    self._send(200, server.models())
                    return
                extra = server.extra("GET", path, {})
                if extra is not None:
                    self._send(200, extra)
                else:
                    self._send(404, {"error": {"message": "not found", "type": "not_found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, {"error": {"message": "body is not JSON"}})
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    extra = server.extra("POST", self.path.rstrip("/"), body)
                    if extra is None:
                        self._send(404, {"error": {"message": "not found", "type": "not_found"}})
                    else:
                        self._send(422 if "detail" in extra else 200, extra)
                    return
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                fault = server._next_fault()
                if fault == "429":
                    self._send(
                        429,
                        {
                            "error": {
                                "message": "Rate limit reached, slow down",
                                "type": "rate_limit_exceeded",
                            }
                        },
                        {"Retry-After": f"{server.retry_after:g}"},
                    )
                    return
                if fault == "401":  # echoes the key back, as some servers do: clients must hide it
                    key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    self._send(
                        401,
                        {
                            "error": {
                                "message": f"Incorrect API key provided: {key}",
                                "type": "invalid_request_error",
                            }
                        },
                    )
                    return
                if fault == "400":
                    error = {
                        "message": "Invalid type for 'temperature': expected a number.",
                        "type": "invalid_request_error",
                        "param": "temperature",
                        "code": "invalid_type",
                    }
                    self._send(400, {"error": error})
                    return
                if fault == "404":
                    model = body.get("model", MODEL)
                    error = {
                        "message": f"The model `{model}` does not exist or you do not have "
                        "access to it.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "model_not_found",
                    }
                    self._send(404, {"error": error})
                    return
                if fault == "500":
                    self._send(
                        500,
                        {"error": {"message": "The server had an error", "type": "server_error"}},
                    )
                    return
                if fault == "slow":
                    server._stop.wait(server.slow_seconds)
                if fault == "garbage":
                    self._send(200, None, raw=b"<html>this is not an answer</html>")
                    return
                tokens = server.count_prompt(body)
                with server._lock:
                    server.prompt_tokens.append(tokens)
                if tokens >= server.context:  # llama.cpp refuses a prompt that fills the context
                    with server._lock:
                        server.refused.append(tokens)
                    error = server.too_long(body, tokens)
                    if server.mimic == "llama-server" and body.get("stream"):
                        self._refuse_in_stream(error)
                    elif server.mimic == "llama-cpp-python" and body.get("stream"):
                        # llama-cpp-python (0.3.36, seen) answers 200 and raises inside the
                        # stream: the client gets no event at all, the error only in its log.
                        self._end_empty_stream()
                    else:
                        self._send(400, {"error": error})
                    return
                if fault == "empty":
                    self._send(
                        200,
                        {
                            "id": "x",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body.get("model", MODEL),
                            "choices": [],
                        },
                    )
                    return
                text = server.answer(body)
                try:
                    if body.get("stream") and fault in ("cut", "cut-midway"):
                        # llama.cpp's server, when another request takes the slot: the stream
                        # just ends, before the answer or in its middle.
                        self._stream(body, text, cut_after=0 if fault == "cut" else 2)
                    elif body.get("stream"):
                        self._stream(body, text)
                    else:
                        self._send(200, completion(body, text))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout); nothing to do

            def _stream(
                self, body: dict[str, Any], text: str, cut_after: int | None = None
            ) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                model = body.get("model", MODEL)
                pieces = re.findall(r"\S+\s*|\s+", text) or [""]
                for i, piece in enumerate(pieces):
                    if i == cut_after:
                        if i == 0:
                            self._event(chunk(model, {"role": "assistant", "content": ""}, None))
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    delta = {"content": piece}
                    if i == 0:
                        delta["role"] = "assistant"
                    self._event(chunk(model, delta, None))
                self._event(chunk(model, {}, "stop"))
                if (body.get("stream_options") or {}).get("include_usage"):
                    usage = completion(body, text)["usage"]  # a last event: no choices, usage
                    self._event({**chunk(model, {}, None), "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _refuse_in_stream(self, error: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b"error: " + json.dumps(error).encode() + b"\n\n")
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _end_empty_stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
                self.close_connection = True

            def _event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        return Handler


def text_of(message: dict[str, Any]) -> str:
    """A message's text: its content, or the text parts of a content list."""
    content = message.get("content", "")
    if isinstance(content, list):
        texts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(str(p.get("text", "")) for p in texts)
    return str(content)


def image_urls(message: dict[str, Any]) -> list[str]:
    """The image URLs of a message's ``image_url`` parts."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    parts = [p for p in content if isinstance(p, dict) and p.get("type") == "image_url"]
    return [str((p.get("image_url") or {}).get("url", "")) for p in parts]


def dominant_colour(url: str) -> str:
    """The name of the colour most of a ``data:`` URL image's pixels are nearest to."""
    import io

    import numpy as np
    from PIL import Image

    header, _, data = url.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        return "not a data URL"
    picture = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
    picture.thumbnail((64, 64))
    pixels = np.asarray(picture, dtype=np.int32).reshape(-1, 1, 3)
    palette = np.array(list(COLOURS.values()), dtype=np.int32).reshape(1, -1, 3)
    nearest = ((pixels - palette) ** 2).sum(axis=2).argmin(axis=1)
    return list(COLOURS)[int(np.bincount(nearest, minlength=len(COLOURS)).argmax())]


def stopped(text: str, stop: Any) -> str:
    """``text`` up to the first of the request's stop sequences, as a real server ends it."""
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    ends = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return text[: min(ends)] if ends else text


def completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    messages = body.get("messages", [])
    prompt = sum(len(text_of(m)) // 4 + IMAGE_TOKENS * len(image_urls(m)) for m in messages)
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", MODEL),
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": len(text) // 4,
            "total_tokens": prompt + len(text) // 4,
        },
    }


def chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def echo(body: dict[str, Any]) -> str:
    """An answer built from the request: the last question and the first quoted speech."""
    messages = body.get("messages") or [{}]
    last = str(messages[-1].get("content", ""))
    question = last.rsplit("Question:", 1)[-1].strip() if "Question:" in last else last.strip()
    evidence = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    quote = re.search(r'speech: "([^"]+)"', evidence)
    heard = f' I heard: "{quote.group(1)}"' if quote else ""
    return f"You asked: {question[-200:]}.{heard}"


def free_port() -> int:
    """A port nothing listens on (for "server is down" tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":  # pragma: no cover - manual use
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--mimic", choices=MIMICS, default="openai")
    parser.add_argument("--context", type=int, default=CONTEXT)
    args = parser.parse_args()
    srv = OpenAIServer(port=args.port, mimic=args.mimic, context=args.context).start()
    print(f"serving on {srv.url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
