"""vctext: turn videos into timestamped text with perception models, then reason over it.

>>> import vctext
>>> doc = vctext.describe("talk.mp4", profile="offline")
>>> print(doc.render())
"""

from __future__ import annotations

import logging
import os
from typing import Any

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
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def describe(
    path: str | os.PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    progress: Any = None,
    **options: Any,
) -> VideoText:
    """Describe a video as timestamped text.

    Args:
        path: video or audio file.
        start: first second to describe (times in the result stay absolute).
        end: last second to describe.
        progress: optional ``callable(stage, done, total)``.
        **options: any setting of ``vctext.config.SETTINGS`` (profile, fps, perceivers, device,
            language, scene_threshold, max_side, batch_size, load_in_turn, cache, ...), same
            defaults as the CLI. ``tune`` takes the CLI's ``"ocr.det_side=480,..."`` or a
            mapping such as ``{"ocr": {"det_side": 480}}``.

    Returns:
        The :class:`VideoText`; ``.render()``, ``.to_json()``, ``.segments``, ``.observations``.
    """
    from vctext.config import describe_options
    from vctext.pipeline import describe as run

    render_only = {"format", "template"}
    opts = describe_options(
        start=start, end=end, **{k: v for k, v in options.items() if k not in render_only}
    )
    return run(path, opts, progress=progress)


def ask(
    video: str | os.PathLike | VideoText, question: str, llm: Any = None, **options: Any
) -> Any:
    """Answer a question about a video with an LLM (see :func:`vctext.llm.reason.ask`).

        >>> answer = vctext.ask("talk.mp4", "Where does the ferry go?", llm="local")
        >>> print(answer.text, answer.ranges)

    ``video`` is a path (perception comes from the cache when it was seen before) or a
    :class:`VideoText`; ``llm`` is a backend name, a :class:`vctext.llm.LLM` or a LangChain chat
    model; ``options`` are describe and LLM settings (``model``, ``base_url``, ...).
    """
    from vctext.llm.reason import ask as run

    return run(video, question, llm, **options)


def narrate(video: str | os.PathLike | VideoText, llm: Any = None, **options: Any) -> str:
    """A readable narrative of the whole video (see :func:`vctext.llm.reason.narrate`)."""
    from vctext.llm.reason import narrate as run

    return run(video, llm, **options)


def __getattr__(name: str) -> Any:
    if name == "Chat":  # imported on first use: the LLM layer is optional
        from vctext.llm.reason import Chat

        return Chat
    raise AttributeError(f"module 'vctext' has no attribute {name!r}")
