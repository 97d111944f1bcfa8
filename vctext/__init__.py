"""vctext: turn videos into timestamped text with perception models, then reason over it.

>>> import vctext
>>> doc = vctext.describe("talk.mp4", profile="offline")
>>> print(doc.render())
"""

from __future__ import annotations

import logging
import os
from typing import Any

from vctext.api import describe
from vctext.document import VideoText
from vctext.errors import VctextError
from vctext.types import Observation, Segment, VideoInfo

__version__ = "0.1.0"
__all__ = [
    "describe",
    "VideoText",
    "Observation",
    "Segment",
    "VideoInfo",
    "VctextError",
    "ask",
    "narrate",
    "Chat",
    "search",
    "watch",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def ask(
    video: str | os.PathLike | VideoText, question: str, llm: Any = None, **options: Any
) -> Any:
    """Answer a question about a video with an LLM (see :func:`vctext.reason.ask.ask`).

        >>> answer = vctext.ask("talk.mp4", "Where does the ferry go?", llm="local")
        >>> print(answer.text, answer.ranges)

    ``video`` is a path (perception comes from the cache when it was seen before) or a
    :class:`VideoText`; ``llm`` is a backend name, a :class:`vctext.llm.LLM` or a LangChain chat
    model; ``options`` are describe and LLM settings (``model``, ``base_url``, ...).
    """
    from vctext.reason.ask import ask as run

    return run(video, question, llm, **options)


def narrate(video: str | os.PathLike | VideoText, llm: Any = None, **options: Any) -> str:
    """A readable narrative of the whole video (see :func:`vctext.reason.ask.narrate`)."""
    from vctext.reason.ask import narrate as run

    return run(video, llm, **options)


def search(videos: Any, query: str, k: int = 5, **options: Any) -> list[Any]:
    """The time ranges of one or more videos that match ``query``, best first, no LLM needed
    (see :func:`vctext.reason.search.search`).

        >>> for hit in vctext.search(["a.mp4", "b.mp4"], "GATE 7", k=3):
        ...     print(hit.video, hit.start, hit.end, hit.lines)
    """
    from vctext.reason.search import search as run

    return run(videos, query, k, **options)


def watch(source: str, **options: Any) -> Any:
    """What a stream (or a file still being written) shows and says, as it arrives: an iterator
    of :class:`vctext.watch.WatchEvent` (``observation``, ``gap``, ``alert`` and ``window``
    events), until the stream ends; breaking out of the loop ends the watch.

        >>> for event in vctext.watch("rtsp://camera/stream", perceivers="asr,ocr"):
        ...     if event.type == "observation":
        ...         print(event.start, event.observation.kind, event.observation.text)

    ``options``: ``window``, ``idle``, ``reconnects``, ``ask`` (a standing question) and any
    describe setting (``profile``, ``perceivers``, ``backend``, ``tune``, ...).
    """
    from vctext.watch import Watch

    return Watch(source, **options).events()


def __getattr__(name: str) -> Any:
    if name == "Chat":  # imported on first use: the LLM layer is optional
        from vctext.reason.chat import Chat

        return Chat
    raise AttributeError(f"module 'vctext' has no attribute {name!r}")
