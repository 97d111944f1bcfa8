"""A conversation about one video: streamed answers, history trimmed to the model's budget."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vctext.document import VideoText
from vctext.llm import load_llm
from vctext.llm.base import ContextLengthError, Message
from vctext.reason.ask import Answer, make_answer, split_options, video_text
from vctext.reason.fit import Fitted, fit_for, refit_note
from vctext.reason.prompts import build_messages
from vctext.render import write_atomic

log = logging.getLogger(__name__)

#: Share of the evidence room a chat keeps free for its history.
CHAT_HISTORY_SHARE = 0.25


class Chat:
    """A conversation about one video: streamed answers, history trimmed to the model's budget.

    chat = vctext.Chat("talk.mp4")
    for piece in chat.send("Who speaks first?"):
        print(piece, end="")
    chat.ask("And then?").text
    """

    def __init__(self, video: str | os.PathLike | VideoText, llm: Any = None, **options: Any):
        describe_opts, llm_opts = split_options(options)
        self.doc = video_text(video, **describe_opts)
        self.llm = load_llm(llm, **llm_opts)
        self.history: list[Message] = []
        self.last: Answer | None = None
        self._fitted: Fitted | None = None

    @property
    def fitted(self) -> Fitted:
        """The video text fitted once, leaving room for the conversation."""
        if self._fitted is None:
            self._fitted = fit_for(self.doc, self.llm, None, CHAT_HISTORY_SHARE)
        return self._fitted

    def messages(self, question: str) -> list[Message]:
        """What the next turn sends: the oldest turns go first when the budget is short."""
        limit = self.llm.context_tokens - self.llm.answer_tokens
        history = list(self.history)
        while True:
            messages = build_messages(self.fitted.text, history, question)
            if not history or self.llm.count_messages(messages) <= limit:
                return messages
            history = history[2:]
            log.info("chat history trimmed to the last %d turns", len(history) // 2)

    def send(self, question: str) -> Iterator[str]:
        """Stream the answer; the turn joins the history once it is complete."""
        pieces: list[str] = []
        for retry in (False, True):
            window = self.llm.context_tokens
            try:
                for piece in self.llm.stream(self.messages(question)):
                    pieces.append(piece)
                    yield piece
                break
            except ContextLengthError:
                if retry or pieces or self.llm.context_tokens >= window:
                    raise
                refit_note(self.llm, window)
                self._fitted = None
        text = "".join(pieces).strip()
        self.history += [Message("user", question), Message("assistant", text)]
        self.last = make_answer(question, text, self.fitted, self.llm)

    def ask(self, question: str) -> Answer:
        for _ in self.send(question):
            pass
        assert self.last is not None
        return self.last

    def reset(self) -> None:
        """Forget the conversation (the video text stays)."""
        self.history.clear()
        self.last = None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "vctext-chat/1",
            "video": self.doc.video.to_json(),
            "llm": {"backend": self.llm.name, "model": self.llm.model},
            "messages": [m.to_json() for m in self.history],
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the conversation as JSON (questions and answers, not the video text)."""
        target = Path(path).expanduser()
        write_atomic(target, json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n")
        return target
