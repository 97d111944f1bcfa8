"""Any LangChain chat model (``BaseChatModel``) as a vctext LLM, for the Python API.

from langchain_openai import ChatOpenAI
vctext.ask("talk.mp4", "Who speaks first?", llm=ChatOpenAI(model="gpt-4o-mini"))
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vctext.llm.base import LLM, LLMOptions, Message, estimate_tokens


def is_langchain_chat_model(obj: Any) -> bool:
    """True for a LangChain ``BaseChatModel`` (checked without importing LangChain needlessly)."""
    if not type(obj).__module__.startswith("langchain"):
        if not any(c.__module__.startswith("langchain") for c in type(obj).__mro__):
            return False
    try:
        from langchain_core.language_models import BaseChatModel
    except ImportError:
        return False
    return isinstance(obj, BaseChatModel)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


class LangChainChat(LLM):
    """Wraps a LangChain chat model: streams with ``.stream()``, counts with its own tokenizer."""

    name = "langchain"
    requires = ("langchain_core",)

    def __init__(self, chat_model: Any, options: LLMOptions | None = None):
        super().__init__(options)
        self.chat_model = chat_model

    @property
    def model(self) -> str:
        for attr in ("model_name", "model", "model_id"):
            value = getattr(self.chat_model, attr, None)
            if isinstance(value, str) and value:
                return value
        return type(self.chat_model).__name__

    def load(self) -> None:
        if not is_langchain_chat_model(self.chat_model):
            raise TypeError(f"{type(self.chat_model).__name__} is not a LangChain BaseChatModel")

    def default_context(self) -> int:
        profile = getattr(self.chat_model, "profile", None)
        if isinstance(profile, dict) and isinstance(profile.get("max_input_tokens"), int):
            return profile["max_input_tokens"]
        return 8192

    def count_tokens(self, text: str) -> int:
        from langchain_core.language_models import BaseLanguageModel

        # The default counter downloads GPT-2's tokenizer; only trust a model's own.
        if type(self.chat_model).get_num_tokens is BaseLanguageModel.get_num_tokens:
            return estimate_tokens(text)
        try:
            return int(self.chat_model.get_num_tokens(text))
        except Exception:  # noqa: BLE001 - counting is an estimate either way
            return estimate_tokens(text)

    def _messages(self, messages: list[Message]) -> list[Any]:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
        return [kinds[m.role](content=m.content) for m in messages]

    def _stream(self, messages: list[Message]) -> Iterator[str]:
        prompt = completion = None
        for chunk in self.chat_model.stream(self._messages(messages), stop=self.call_stop or None):
            usage = getattr(chunk, "usage_metadata", None)
            if usage:  # the model's own counts, on one chunk or spread over several
                prompt = (prompt or 0) + int(usage.get("input_tokens", 0))
                completion = (completion or 0) + int(usage.get("output_tokens", 0))
            text = _text(getattr(chunk, "content", chunk))
            if text:
                yield text
        if prompt is not None:
            self.report_usage(prompt, completion or 0)
