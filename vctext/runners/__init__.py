"""One runner per modality: how the perceivers of that modality are fed and run.

Every runner has the one signature ``run(ctx, perceivers) -> [(observations, seconds), ...]``,
in the order the perceivers were given; ``ctx`` is the :class:`~vctext.runners.context.Pass`
they share. :data:`RUNNERS` is in the order a run calls them: frames, audio, clips, then the
perceivers that read what those saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vctext.config import DescribeOptions
from vctext.perception.base import Modality, Perceiver
from vctext.runners import audio, clips, frames, observations
from vctext.runners.context import Pass, Progress, Result

__all__ = ["RUNNERS", "Pass", "Progress", "Result", "Runner"]


@dataclass(frozen=True)
class Runner:
    """How one modality runs, and which options decide what its perceivers are given."""

    run: Callable[[Pass, list[Perceiver]], list[Result]]
    #: The options that shape the input, part of each perceiver's cache key; None: the input is
    #: the other perceivers' output, so the perceiver is never cached.
    sampling: Callable[[DescribeOptions], dict[str, Any]] | None


RUNNERS: dict[Modality, Runner] = {
    Modality.FRAMES: Runner(frames.run, frames.sampling),
    Modality.AUDIO: Runner(audio.run, audio.sampling),
    # Clips are decoded at their own rate, but keyed as frames always were (caches stay valid).
    Modality.CLIPS: Runner(clips.run, frames.sampling),
    Modality.OBSERVATIONS: Runner(observations.run, None),
}
