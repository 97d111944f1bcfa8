"""vctext as an MCP server: describe, ask and search-in-video tools with typed schemas, a video's
text as a resource (``vctext://text/ABSOLUTE/PATH``) and a ``video_question`` prompt.

    vctext mcp                         # over stdio: an MCP client (an IDE, an agent) spawns it
    vctext mcp --http 127.0.0.1:8765   # over streamable HTTP, at http://127.0.0.1:8765/mcp

Over stdio, stdout is the protocol; logs go to stderr. Each call runs on a worker thread, so
several calls at once (or a ping during a long describe) do not wait for each other.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, Literal

import anyio.to_thread

from vctext import __version__
from vctext.api import describe
from vctext.errors import VctextError
from vctext.reason.ask import ask
from vctext.reason.prompts import escape_evidence, fill, load_prompt

try:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.server.mcpserver.resources.templates import ResourceSecurity
except ImportError as exc:  # pragma: no cover - depends on the install
    from vctext.errors import DependencyError

    raise DependencyError("the MCP server (mcp 2 or later)", "integrations", "mcp") from exc

INSTRUCTIONS = (
    "Tools that turn a video file into timestamped text (captions, tags, objects, on-screen text, "
    "speech) and answer questions about it. Paths are files on the server's machine."
)


def _describe_options(profile: str, perceivers: str, fps: float | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if profile:
        options["profile"] = profile
    if perceivers:
        options["perceivers"] = perceivers
    if fps:
        options["fps"] = fps
    return options


@contextlib.contextmanager
def _as_tool_error() -> Iterator[None]:
    """Our errors are foreseen failures: the client gets the one-line message, not a crash."""
    try:
        yield
    except VctextError as exc:
        raise ToolError(str(exc)) from exc


async def _in_thread(work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run blocking work (perception, an LLM) on a worker thread; our errors become tool errors."""
    with _as_tool_error():
        return await anyio.to_thread.run_sync(functools.partial(work, *args, **kwargs))


def build_server() -> MCPServer:
    """The server with its tools, resource and prompt (not yet running)."""
    server = MCPServer("vctext", version=__version__, instructions=INSTRUCTIONS)

    @server.tool()
    async def describe_video(
        path: str,
        start: float | None = None,
        end: float | None = None,
        perceivers: str = "",
        profile: Literal["", "auto", "standard", "offline"] = "",
        fps: float | None = None,
        format: Literal["text", "json", "md", "srt", "vtt"] = "text",
    ) -> str:
        """Describe a video file as timestamped text, one block per time range.

        perceivers: comma-separated kinds (asr,caption,tags,dense,detect,action,ocr,scenes);
        empty means all the profile has. start/end are seconds; times stay absolute.
        """
        options = _describe_options(profile, perceivers, fps)
        doc = await _in_thread(describe, path, start=start, end=end, **options)
        return doc.render(format=format)

    @server.tool()
    async def ask_video(
        path: str,
        question: str,
        perceivers: str = "",
        profile: Literal["", "auto", "standard", "offline"] = "",
    ) -> str:
        """Answer a question about a video file with the configured LLM, from what was seen and
        heard in it (the answer names the time ranges it relied on)."""
        options = _describe_options(profile, perceivers, None)
        answer = await _in_thread(ask, path, question, **options)
        cited = ", ".join(f"{r.start:.1f}-{r.end:.1f}s" for r in answer.ranges)
        return answer.text + (f"\n\n(relied on: {cited})" if cited else "")

    @server.tool()
    async def search_video(
        path: str,
        query: str,
        k: int = 4,
        perceivers: str = "",
        profile: Literal["", "auto", "standard", "offline"] = "",
    ) -> list[dict[str, Any]]:
        """Find the k time ranges of a video that best match query, by its words (exact words
        and names first) and by meaning; listed in time order.

        Each hit has start and end (seconds), score (cosine similarity of meaning, or the word
        match score without the embedding model) and text.
        """
        from vctext.reason.search import search

        options = _describe_options(profile, perceivers, None)
        hits = await _in_thread(
            search, path, query, max(1, k), in_order=True, min_similarity=-1, **options
        )
        return [
            {
                "start": round(hit.start, 3),
                "end": round(hit.end, 3),
                "score": round(hit.lexical if hit.similarity is None else hit.similarity, 4),
                "text": hit.text,
            }
            for hit in hits
        ]

    # The path is any absolute path on the server's machine, as for the tools.
    @server.resource(
        "vctext://text{+path}",
        name="video_text",
        description="A video file's timestamped text (the text layout of describe_video), "
        "for vctext://text/ABSOLUTE/PATH/TO/VIDEO.mp4.",
        mime_type="text/plain",
        security=ResourceSecurity(exempt_params={"path"}),
    )
    async def video_text(path: str) -> str:
        doc = await _in_thread(describe, path)
        return doc.render()

    @server.prompt(
        name="video_question",
        description="Ask your own model a question about a video: the video's timestamped text "
        "and the question, with instructions to answer from that text and cite time ranges.",
    )
    async def video_question(path: str, question: str) -> str:
        doc = await _in_thread(describe, path)
        return fill(
            load_prompt("mcp_video_question.txt"),
            video=path,
            evidence=escape_evidence(doc.render()),
            question=question,
        )

    return server


def serve(http: tuple[str, int] | None = None) -> None:
    """Run the server on stdin/stdout until the client closes it, or over streamable HTTP at
    ``http`` (host, port), path ``/mcp``, until interrupted."""
    server = build_server()
    if http is None:
        server.run("stdio")
        return
    host, port = http
    server.run("streamable-http", host=host, port=port)
