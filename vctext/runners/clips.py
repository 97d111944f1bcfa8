"""The streamed pass for clip perceivers: frames at the clip rate, cut into windows as they come.

Only the window being filled and one batch of clips are held in memory. One pass per perceiver,
each at its own :class:`~vctext.perception.base.ClipSpec`.
"""

from __future__ import annotations

import math
import time

from vctext import video
from vctext.perception.base import Clip, ClipPerceiver
from vctext.runners.context import Pass, Result
from vctext.types import Frame, Observation


def run(ctx: Pass, perceivers: list[ClipPerceiver]) -> list[Result]:
    """Observations and seconds of each clip perceiver, in the order given."""
    return [_one(ctx, perceiver) for perceiver in perceivers]


def _one(ctx: Pass, perceiver: ClipPerceiver) -> Result:
    if not ctx.info.has_video:
        return [], 0.0
    t0 = time.perf_counter()
    perceiver.ensure_loaded()
    spec = perceiver.clip_spec()
    start, last = ctx.start, ctx.last
    out: list[Observation] = []
    clips: list[Clip] = []
    window: list[Frame] = []
    index = 0  # the window being filled starts at start + index * spec.every

    def close_window() -> None:
        # A window cut short by the end of the video counts when at least half full: padded
        # with its last frame, as video classifiers expect a fixed number of frames.
        if len(window) * 2 >= spec.frames:
            frames = window[: spec.frames] + [window[-1]] * (spec.frames - len(window))
            w_start = start + index * spec.every
            clips.append(Clip(w_start, min(w_start + spec.length, last), frames))
        window.clear()
        if len(clips) >= perceiver.options.batch_size:
            flush()

    def flush() -> None:
        out.extend(perceiver.process(list(clips)))
        ctx.tell("clips", clips[-1].end - start, (last - start) or None)
        clips.clear()

    frames = video.iter_frames(
        ctx.info, spec.fps, start, ctx.end, None, ctx.options.max_side, report=ctx.report
    )
    for frame in frames:
        k = math.floor((frame.time - start) / spec.every + 1e-6)
        if k != index:
            close_window()
            index = k
        if frame.time - (start + index * spec.every) < spec.length - 1e-6:
            window.append(frame)
            if len(window) == spec.frames:
                close_window()
    close_window()
    if clips:
        flush()
    out.extend(perceiver.finish())
    perceiver.close()
    return out, time.perf_counter() - t0
