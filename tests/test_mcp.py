"""`vctext mcp` as MCP clients meet it: the MCP Python SDK's own client over stdio and over
streamable HTTP (`vctext mcp --http`), several calls at once, the video's text as a resource and
the video question prompt. Perception is speech only (offline), so each call is quick."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import pytest
from conftest import SPEECH_START, fresh_home_env, requires_media_tools

pytest.importorskip("mcp")
pytestmark = requires_media_tools

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

import vctext  # noqa: E402

FERRY_WORDS = ("ferry", "island", "gate")


@pytest.fixture(scope="module")
def environ(tmp_path_factory) -> dict[str, str]:
    """A fresh machine's environment, speech only, offline (the server's describe defaults)."""
    home = tmp_path_factory.mktemp("mcp-home")
    return {
        **os.environ,
        **fresh_home_env(home),
        "VCTEXT_CACHE_DIR": str(home / "cache"),
        "VCTEXT_PERCEIVERS": "asr",
        "VCTEXT_PROFILE": "offline",
    }


async def _stdio(environ, work):
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "vctext", "mcp"], env=environ
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            return await work(session)


def run(coro, timeout: float = 300):
    return asyncio.run(asyncio.wait_for(coro, timeout=timeout))


def test_the_server_says_its_version_and_serves_what_it_advertises(environ, speech_clip):
    async def work(session):
        init = await session.initialize()
        templates = (await session.list_resource_templates()).resource_templates
        prompts = (await session.list_prompts()).prompts
        uri = f"vctext://text{speech_clip.resolve()}"
        resource = await session.read_resource(uri)
        prompt = await session.get_prompt(
            "video_question", {"path": str(speech_clip), "question": "Which gate?"}
        )
        return init, templates, prompts, resource, prompt

    init, templates, prompts, resource, prompt = run(_stdio(environ, work))
    assert init.server_info.name == "vctext" and init.server_info.version == vctext.__version__
    caps = init.capabilities
    assert caps.tools is not None
    # What it advertises, it serves: a resource template and a prompt.
    assert caps.resources is not None and [t.uri_template for t in templates] == [
        "vctext://text{+path}"
    ]
    assert caps.prompts is not None and [p.name for p in prompts] == ["video_question"]
    (content,) = resource.contents
    assert "speech:" in content.text and any(w in content.text.lower() for w in FERRY_WORDS)
    (message,) = prompt.messages
    text = message.content.text
    assert message.role == "user" and "Question: Which gate?" in text
    assert "<video_text>" in text and "speech:" in text and "[mm:ss-mm:ss]" in text


def test_several_calls_at_once_all_answer(environ, speech_clip):
    args = {"path": str(speech_clip)}

    async def work(session):
        await session.initialize()
        calls = [
            session.call_tool("describe_video", args),
            session.call_tool("describe_video", {**args, "format": "srt"}),
            session.call_tool("search_video", {**args, "query": "boat trip", "k": 1}),
            session.call_tool("describe_video", {"path": "/no/such/video.mp4"}),
            session.send_ping(),
        ]
        return await asyncio.gather(*calls)

    text, srt, found, missing, _ = run(_stdio(environ, work))
    assert not text.is_error and "speech:" in text.content[0].text
    assert not srt.is_error and "-->" in srt.content[0].text
    (hit,) = found.structured_content["result"]
    assert hit["start"] >= SPEECH_START - 1 and "speech:" in hit["text"]
    assert missing.is_error and "no such file" in missing.content[0].text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streamable_http(environ, speech_clip, tmp_path):
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "vctext", "mcp", "--http", f"127.0.0.1:{port}"],
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the HTTP server did not start"
            time.sleep(0.2)

        async def work():
            url = f"http://127.0.0.1:{port}/mcp"
            async with streamable_http_client(url) as (read, write):
                async with ClientSession(read, write) as session:
                    init = await session.initialize()
                    tools = {t.name for t in (await session.list_tools()).tools}
                    args = {"path": str(speech_clip), "query": "boat trip", "k": 1}
                    found = await session.call_tool("search_video", args)
                    return init, tools, found

        init, tools, found = run(work())
        assert init.server_info.version == vctext.__version__
        assert tools == {"describe_video", "ask_video", "search_video"}
        assert found.structured_content["result"][0]["start"] >= SPEECH_START - 1
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_a_bad_http_address_is_one_line(environ):
    proc = subprocess.run(
        [sys.executable, "-m", "vctext", "mcp", "--http", "localhost:http"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "is not HOST:PORT" in proc.stderr
    assert "Traceback" not in proc.stderr
