"""Any LangChain chat model works as the LLM behind the Python API."""

from __future__ import annotations

import pytest

import vctext
from vctext.errors import ConfigError, LLMError
from vctext.reason.prompts import system_prompt

pytest.importorskip("langchain_core")
from langchain_core.language_models.fake_chat_models import (  # noqa: E402
    GenericFakeChatModel,
    ParrotFakeChatModel,
)
from langchain_core.messages import AIMessage  # noqa: E402
from video_texts import FERRY, short_video_text  # noqa: E402


def test_a_langchain_chat_model_answers_and_streams():
    model = GenericFakeChatModel(messages=iter([AIMessage(content="It goes to the island.")]))
    pieces = []
    answer = vctext.ask(
        short_video_text((3.0, 7.0, FERRY)),
        "Where does the ferry go?",
        llm=model,
        on_text=pieces.append,
    )
    assert answer.text == "It goes to the island." and len(pieces) > 1
    assert answer.backend == "langchain" and answer.ranges[0].start == 3.0


def test_it_gets_our_system_prompt_and_the_evidence():
    chat = vctext.Chat(short_video_text((3.0, 7.0, FERRY)), llm=ParrotFakeChatModel())
    echoed = chat.ask("Where does the ferry go?").text  # the parrot repeats the last message
    assert echoed.startswith("<video_text>") and FERRY in echoed
    assert chat.messages("Next?")[0].content == system_prompt()


def test_its_errors_are_one_line():
    class Broken(GenericFakeChatModel):
        def _generate(self, *args, **kwargs):
            raise RuntimeError("backend exploded\nwith details")

        def _stream(self, *args, **kwargs):
            raise RuntimeError("backend exploded\nwith details")

    with pytest.raises(LLMError, match="RuntimeError: backend exploded with details"):
        vctext.ask(short_video_text((3.0, 7.0, FERRY)), "?", llm=Broken(messages=iter([])))


def test_other_objects_are_refused():
    with pytest.raises(ConfigError, match="LangChain chat model"):
        vctext.ask(short_video_text((3.0, 7.0, FERRY)), "?", llm=object())
