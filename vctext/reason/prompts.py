"""Prompt files (package data ``vctext.prompts``) and the messages built from them.

Text that came out of the video (speech, on-screen text, captions) is data: it only ever goes
inside the ``<video_text>`` evidence tags of a user message, with any tag-like text in it escaped,
and the system prompt says that evidence is never instructions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from vctext.errors import ConfigError
from vctext.llm.base import Message

TAG = "video_text"
_TAG_LIKE = re.compile(r"<(\s*/?\s*)(video_text)", re.IGNORECASE)
_FIELD = re.compile(r"\{(\w+)\}")


@lru_cache(maxsize=16)
def load_prompt(name: str) -> str:
    """The text of ``prompts/<name>`` (e.g. ``system.txt``)."""
    try:
        return resources.files("vctext.prompts").joinpath(name).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"prompt file '{name}' is missing from vctext.prompts") from None


def fill(template: str, **values: str) -> str:
    """Put values into ``{name}`` fields in one pass: braces inside the values stay as they are."""
    return _FIELD.sub(
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template
    )


def escape_evidence(text: str) -> str:
    """Defuse anything in the video's text that looks like our evidence tags."""
    return _TAG_LIKE.sub(lambda m: "&lt;" + m.group(1) + m.group(2), text)


def system_prompt() -> str:
    return load_prompt("system.txt")


def question_message(evidence: str, question: str) -> str:
    """The user message that carries the evidence and the first question."""
    return fill(
        load_prompt("question.txt"),
        evidence=escape_evidence(evidence.strip()),
        question=" ".join(question.split()),
    )


def build_messages(
    evidence: str, history: list[Message], question: str, system: str | None = None
) -> list[Message]:
    """System prompt, then the conversation; the evidence rides on the first user turn."""
    turns = [*history, Message("user", question)]
    out = [Message("system", system or system_prompt())]
    for i, turn in enumerate(turns):
        if i == 0:
            out.append(Message("user", question_message(evidence, turn.content)))
        else:
            out.append(turn)
    return out
