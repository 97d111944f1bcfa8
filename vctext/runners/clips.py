"""The streamed pass for clip perceivers: frames at the clip rate, cut into windows as they come.

Only the window being filled and one batch of clips are held in memory. One pass per perceiver,
each at its own :class:`~vctext.perception.base.ClipSpec`. Windows far apart (a budget of clips
on a long video) are decoded one by one, with a seek each, instead of the whole video; a window
whose picture does not move is skipped when the spec says so (action models guess on stills),
and with ``per_scene`` a scene the frame pass found gets one clip (one per ``per_scene`` seconds
of a longer scene), whichever of that and ``every`` is rarer.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import time

import numpy as np

from vctext import kinds, video
from vctext.perception.base import Clip, ClipPerceiver, ClipSpec
from vctext.runners.context import Pass, Result
from vctext.types import Frame, Observation

log = logging.getLogger(__name__)


def run(ctx: Pass, perceivers: list[ClipPerceiver]) -> list[Result]:
    """Observations and seconds of each clip perceiver, in the order given."""
    return [_one(ctx, perceiver) for perceiver in perceivers]


def scene_cuts(ctx: Pass) -> list[float] | None:
    """Cut times the frame pass found inside the range; None when no cut detector ran."""
    if not any(kinds.spec(kind).cut for kind in ctx.kinds):
        return None
    cuts = [o.start for o in ctx.seen if kinds.spec(o.kind).cut]
    return sorted(c for c in cuts if ctx.start < c < ctx.last)


def spacing(spec: ClipSpec, duration: float) -> float:
    """Seconds from one window's start to the next: ``every``, or wider to stay in budget."""
    if spec.max_clips and duration > 0:
        return max(spec.every, duration / spec.max_clips)
    return spec.every


def _small_grey(image: np.ndarray, cells: int = 32) -> np.ndarray:
    """The picture in grey, averaged over about ``cells`` x ``cells`` blocks."""
    grey = np.asarray(image, dtype=np.float32).mean(axis=2)
    h, w = grey.shape
    bh, bw = max(h // cells, 1), max(w // cells, 1)
    grey = grey[: bh * (h // bh), : bw * (w // bw)]
    return grey.reshape(h // bh, bh, w // bw, bw).mean(axis=(1, 3))


def motion(frames: list[Frame]) -> float:
    """The largest mean absolute change (0-255) between consecutive frames, on 32x32 grey."""
    small = [_small_grey(f.image) for f in frames]
    return max((float(np.abs(b - a).mean()) for a, b in itertools.pairwise(small)), default=0.0)


def _one(ctx: Pass, perceiver: ClipPerceiver) -> Result:
    if not ctx.info.has_video:
        return [], 0.0
    t0 = time.perf_counter()
    perceiver.ensure_loaded()
    spec = perceiver.clip_spec()
    start, last = ctx.start, ctx.last
    every = spacing(spec, last - start)
    out: list[Observation] = []
    clips: list[Clip] = []
    skipped = 0

    def add(w_start: float, window: list[Frame]) -> bool:
        # A window cut short by the end of the video counts when at least half full: padded
        # with its last frame, as video classifiers expect a fixed number of frames.
        nonlocal skipped
        if len(window) * 2 < spec.frames:
            return False
        if spec.still > 0 and motion(window) < spec.still:
            skipped += 1
            return False
        frames = window[: spec.frames] + [window[-1]] * (spec.frames - len(window))
        clips.append(Clip(w_start, min(w_start + spec.length, last), frames))
        if len(clips) >= perceiver.options.batch_size:
            flush()
        return True

    def flush() -> None:
        out.extend(perceiver.process(list(clips)))
        ctx.tell("clips", clips[-1].end - start, (last - start) or None)
        clips.clear()

    if spec.cover > 0:
        for a, b, frames in _covering(ctx, spec):
            if spec.still > 0 and len(frames) > 1 and motion(frames) < spec.still:
                skipped += 1
                continue
            clips.append(Clip(a, b, frames))
            if len(clips) >= perceiver.options.batch_size:
                flush()
    elif every >= 2 * spec.length:
        cuts = scene_cuts(ctx) if spec.per_scene else None
        _sparse(ctx, spec, every, add, cuts)
    else:
        _streamed(ctx, spec, every, add)
    if clips:
        flush()
    if skipped:
        log.info("%s: %d still window(s) skipped", perceiver.name, skipped)
    out.extend(perceiver.finish())
    perceiver.release()
    return out, time.perf_counter() - t0


def _frames(ctx: Pass, spec: ClipSpec, start: float, end: float | None):
    return video.iter_frames(
        ctx.info, spec.fps, start, end, None, ctx.options.max_side, report=ctx.report
    )


#: A scene shorter than this (a flash, a fade) joins the window before it (the one after, first).
SHORTEST_WINDOW = 1.0


def windows(start: float, last: float, cuts: list[float] | None, longest: float):
    """(start, end) of the windows that tile ``start``-``last``: cut at ``cuts``, a longer scene
    split into equal parts of at most ``longest`` seconds, a very short scene joined to a
    neighbour."""
    edges = [start, *(c for c in (cuts or []) if start < c < last), last]
    scenes: list[list[float]] = []
    for a, b in itertools.pairwise(edges):
        if scenes and b - a < SHORTEST_WINDOW:
            scenes[-1][1] = b
        elif scenes and scenes[-1][1] - scenes[-1][0] < SHORTEST_WINDOW:
            scenes[-1][1] = b
        else:
            scenes.append([a, b])
    out = []
    for a, b in scenes:
        parts = max(1, math.ceil((b - a) / longest - 1e-6))
        step = (b - a) / parts
        out += [(a + i * step, b if i == parts - 1 else a + (i + 1) * step) for i in range(parts)]
    return out


def spread(frames: list[Frame], most: int) -> list[Frame]:
    """At most ``most`` of ``frames``, evenly spread, first and last kept."""
    if len(frames) <= most:
        return frames
    if most == 1:
        return [frames[len(frames) // 2]]
    step = (len(frames) - 1) / (most - 1)
    return [frames[round(i * step)] for i in range(most)]


def _covering(ctx: Pass, spec: ClipSpec):
    """(start, end, frames) of each window tiling the range, in order, from one decode."""
    cuts = scene_cuts(ctx)
    tiles = windows(ctx.start, ctx.last, cuts, spec.cover)
    ends = [b for _, b in tiles]
    index, held = 0, []
    for frame in _frames(ctx, spec, ctx.start, ctx.end):
        k = min(bisect.bisect_right(ends, frame.time + 1e-6), len(tiles) - 1)
        while index < k:
            if held:
                yield *tiles[index], spread(held, spec.frames)
            index, held = index + 1, []
        held.append(frame)
    if held:
        yield *tiles[index], spread(held, spec.frames)


def _sparse(ctx: Pass, spec: ClipSpec, every: float, add, cuts: list[float] | None) -> None:
    """Each window decoded on its own (a seek, then ``spec.length`` seconds); with ``cuts``, a
    scene (or ``spec.per_scene`` seconds of a long one) that already has a clip gets no more."""
    taken: set[tuple[int, int]] = set()
    w_start = ctx.start
    while w_start < ctx.last:
        part = None
        if cuts is not None:
            scene = bisect.bisect_right(cuts, w_start + 1e-6)
            begins = cuts[scene - 1] if scene else ctx.start
            part = (scene, int((w_start - begins) // spec.per_scene))
        if part not in taken:
            end = w_start + spec.length
            if ctx.end is not None and math.isfinite(ctx.end):
                end = min(end, ctx.end)
            if add(w_start, list(_frames(ctx, spec, w_start, end))[: spec.frames]) and part:
                taken.add(part)  # a still window does not use up its scene
        w_start += every


def _streamed(ctx: Pass, spec: ClipSpec, every: float, add) -> None:
    """One decode of the whole range, cut into windows as the frames come."""
    start = ctx.start
    window: list[Frame] = []
    index = 0  # the window being filled starts at start + index * every
    for frame in _frames(ctx, spec, start, ctx.end):
        k = math.floor((frame.time - start) / every + 1e-6)
        if k != index:
            add(start + index * every, window)
            window = []
            index = k
        if frame.time - (start + index * every) < spec.length - 1e-6:
            window.append(frame)
            if len(window) == spec.frames:
                add(start + index * every, window)
                window = []
    add(start + index * every, window)
