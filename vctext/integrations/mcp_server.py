"""vctext as an MCP server over stdio: describe, ask and search-in-video tools with typed schemas.

    vctext mcp        # an MCP client (Claude Desktop, an IDE, an agent) spawns this

stdout is the protocol; logs go to stderr.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

from vctext.api import describe
from vctext.errors import VctextError
from vctext.reason.ask import ask

try:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    try:
        from mcp.server.fastmcp import FastMCP as MCPServer
        from mcp.server.fastmcp.exceptions import ToolError
    except ImportError as exc:  # pragma: no cover - depends on the install
        from vctext.errors import DependencyError

        raise DependencyError("the MCP server", "integrations", "mcp") from exc

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


def build_server() -> MCPServer:
    """The server with its three tools (not yet running)."""
    server = MCPServer("vctext", instructions=INSTRUCTIONS)

    @server.tool()
    def describe_video(
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
        with _as_tool_error():
            options = _describe_options(profile, perceivers, fps)
            return describe(path, start=start, end=end, **options).render(format=format)

    @server.tool()
    def ask_video(
        path: str,
        question: str,
        perceivers: str = "",
        profile: Literal["", "auto", "standard", "offline"] = "",
    ) -> str:
        """Answer a question about a video file with the configured LLM, from what was seen and
        heard in it (the answer names the time ranges it relied on)."""
        with _as_tool_error():
            answer = ask(path, question, **_describe_options(profile, perceivers, None))
        cited = ", ".join(f"{r.start:.1f}-{r.end:.1f}s" for r in answer.ranges)
        return answer.text + (f"\n\n(relied on: {cited})" if cited else "")

    @server.tool()
    def search_video(
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

        with _as_tool_error():
            options = _describe_options(profile, perceivers, None)
            hits = search(path, query, max(1, k), in_order=True, min_similarity=-1, **options)
        return [
            {
                "start": round(hit.start, 3),
                "end": round(hit.end, 3),
                "score": round(hit.lexical if hit.similarity is None else hit.similarity, 4),
                "text": hit.text,
            }
            for hit in hits
        ]

    return server


def serve() -> None:
    """Run the server on stdin/stdout until the client closes it."""
    build_server().run("stdio")
