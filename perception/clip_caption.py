"""What the clip captioners share (kind ``clip_caption``): how a video is cut into the clips they
describe, and the prompt that says what a clip is.

A clip is a scene, or an equal part of at most ``window`` seconds of a longer one, so together
the clips cover the whole video (see ``ClipSpec.cover``); up to ``frames`` of its frames, spread
evenly, go to the model in one prompt, in the order they were shown, so the model can say what
happens and in which order ("she picks up the bowl, then ..."). The backends are in
:mod:`vctext.perception.vlm` (a local model) and :mod:`vctext.perception.vision_api` (a server).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vctext.perception.base import Clip, ClipSpec
from vctext.perception.prompted import PROMPT_DEFAULTS

CLIP_PROMPT_FILE = "caption_clip.txt"

#: Parameters of every clip captioner (all part of the cache key).
CLIP_DEFAULTS: dict[str, Any] = {
    **PROMPT_DEFAULTS,
    "window": 10.0,  # seconds: the longest clip; a longer scene is split into equal parts
    "frames": 6,  # at most, per clip, spread evenly over it
    "still": 0.0,  # skip a clip whose picture moves less than this (0-255); 0 describes all
}


def clip_spec(params: dict[str, Any]) -> ClipSpec:
    """Clips tiling the video: scenes, split to at most ``window`` seconds."""
    window, frames = float(params["window"]), int(params["frames"])
    if window <= 0 or frames < 1:
        from vctext.errors import ConfigError

        raise ConfigError(
            f"clip_caption needs window > 0 and frames >= 1, got window={window:g}, frames={frames}"
        )
    # Decoded at twice the rate the frames need (at least one every 2 s, at most 4 a second),
    # so a short scene still has frames to choose from.
    fps = min(max(2 * frames / window, 0.5), 4.0)
    return ClipSpec(frames, fps, every=window, still=float(params["still"]), cover=window)


def clip_prompt(prompt: str, clip: Clip) -> str:
    """The prompt with ``{frames}`` and ``{seconds}`` filled in for this clip (in one pass:
    nothing else in it is touched)."""
    from vctext.reason.prompts import fill

    seconds = max(clip.end - clip.start, 0.0)
    return fill(prompt, frames=str(len(clip.frames)), seconds=f"{seconds:.0f}")


def clip_images(clip: Clip) -> list[np.ndarray]:
    return [frame.image for frame in clip.frames]
