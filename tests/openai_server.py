"""A small OpenAI-compatible server for tests: chat completions (plain and streamed), models.

It speaks /v1/chat/completions and /v1/models. It answers from scripted replies, or else echoes
useful bits of the request (the question and the first quoted speech in the evidence). Faults can
be queued, one per request, to see how clients cope: ``"429"`` (with Retry-After), ``"500"``,
``"401"`` (echoes the key back), ``"slow"`` (waits past the client's timeout), ``"garbage"`` (a
200 whose body is not JSON), ``"empty"`` (a 200 with no choices). Every chat request is recorded
(body and headers) so tests can check what a client sent.

    with OpenAIServer() as server:
        server.faults += ["429", "500"]
        client = openai.OpenAI(base_url=server.url, api_key="sk-test")

Run it by hand with ``python tests/openai_server.py [--port N]``.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "vctext-test-model"
CONTEXT = 8192


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
    ):
        self.replies = list(replies or [])
        self.faults: list[str] = []
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.context = context
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
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
                return self.replies.pop(0)
        return echo(body)

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
                if self.path.rstrip("/").endswith("/models"):
                    self._send(
                        200,
                        {
                            "object": "list",
                            "data": [
                                {
                                    "id": MODEL,
                                    "object": "model",
                                    "created": 0,
                                    "owned_by": "vctext",
                                    "context_length": server.context,
                                }
                            ],
                        },
                    )
                else:
                    self._send(404, {"error": {"message": "not found", "type": "not_found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "not found", "type": "not_found"}})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, {"error": {"message": "body is not JSON"}})
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
                    if body.get("stream"):
                        self._stream(body, text)
                    else:
                        self._send(200, completion(body, text))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout); nothing to do

            def _stream(self, body: dict[str, Any], text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                model = body.get("model", MODEL)
                pieces = re.findall(r"\S+\s*|\s+", text) or [""]
                for i, piece in enumerate(pieces):
                    delta = {"content": piece}
                    if i == 0:
                        delta["role"] = "assistant"
                    self._event(chunk(model, delta, None))
                self._event(chunk(model, {}, "stop"))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        return Handler


def completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    prompt = sum(len(str(m.get("content", ""))) // 4 for m in body.get("messages", []))
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
    args = parser.parse_args()
    srv = OpenAIServer(port=args.port).start()
    print(f"serving on {srv.url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
