"""The streamed pass over sampled frames, shared by the frame perceivers or taken in turn.

Shared (the default): frames are decoded once and each batch goes to every frame perceiver, so
all their models sit in memory together. In turn (``load_in_turn``): one pass per perceiver, each
loaded just before its pass and closed right after, so peak model memory is the largest model
rather than the sum; the price is decoding the frames again for every perceiver.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from vctext import video
from vctext.config import DescribeOptions
from vctext.errors import InputError
from vctext.perception.base import Perceiver
from vctext.perception.registry import find_model
from vctext.runners.context import Pass, Result
from vctext.types import Frame, Observation

log = logging.getLogger(__name__)

#: GPU memory a model needs while it runs, as a multiple of its weights: activations, a batch of
#: frames, the framework's own buffers. Rough on purpose: it only decides whether to take turns.
WORKING_FACTOR = 3.0


def sampling(options: DescribeOptions) -> dict[str, Any]:
    """The options that decide which frames the perceivers see (part of their cache keys)."""
    return {"fps": options.fps, "scene": options.scene_threshold, "max_side": options.max_side}


def decide_load_in_turn(
    setting: str, device: str, model_mb: list[float], free_mb: float | None
) -> tuple[bool, str]:
    """Whether frame models take turns, and why (for the log).

    Args:
        setting: ``on``, ``off`` or ``auto``.
        device: the resolved device (``cpu`` or ``cuda``).
        model_mb: weights of each frame model, MB (0 where unknown).
        free_mb: free GPU memory, MB; None when it could not be read.
    """
    if setting in ("on", "off"):
        return setting == "on", f"load_in_turn={setting}"
    if not device.startswith("cuda"):
        return False, f"auto: models run on {device}"
    if free_mb is None:
        return False, "auto: free GPU memory unknown"
    need = sum(model_mb) * WORKING_FACTOR
    return need > free_mb, (
        f"auto: {len(model_mb)} frame models need about {need:.0f} MB "
        f"({WORKING_FACTOR:g}x their weights), {free_mb:.0f} MB of GPU memory is free"
    )


def free_gpu_mb() -> float | None:
    """Free memory on the current CUDA device, MB; None when it cannot be read."""
    try:
        import torch

        free, _total = torch.cuda.mem_get_info()
    except Exception:  # noqa: BLE001 - any failure means "unknown", and unknown means shared
        return None
    return free / 2**20


def _model_mb(perceiver: Perceiver) -> float:
    spec = find_model(perceiver.name, perceiver.backend, perceiver.options.model)
    return spec.size_mb if spec is not None else 0.0


def choose_load_in_turn(setting: str, perceivers: list[Perceiver]) -> bool:
    """Resolve the ``load_in_turn`` setting for these (built, not loaded) frame perceivers."""
    device = perceivers[0].options.device
    # Reading free memory starts CUDA, so only when the answer matters.
    ask_gpu = setting == "auto" and device.startswith("cuda")
    in_turn, why = decide_load_in_turn(
        setting,
        device,
        [_model_mb(p) for p in perceivers],
        free_gpu_mb() if ask_gpu else None,
    )
    log.info("frame models %s (%s)", "load in turn" if in_turn else "load together", why)
    return in_turn


def run(ctx: Pass, perceivers: list[Perceiver]) -> list[Result]:
    """Observations and seconds of each frame perceiver, in the order given.

    One streamed pass feeding every perceiver, or one pass per perceiver when
    ``options.load_in_turn`` says so. Progress stage "frames" counts frames decoded over all
    passes, out of the expected frames times the number of passes.
    """
    if not ctx.info.has_video:
        return [([], 0.0) for _ in perceivers]
    options = ctx.options
    in_turn = choose_load_in_turn(options.load_in_turn, perceivers)
    passes = [[p] for p in perceivers] if in_turn else [perceivers]
    expected = (ctx.end - ctx.start) * options.fps * len(passes) if math.isfinite(ctx.end) else None
    decoded = 0

    def count(frames: int) -> None:
        nonlocal decoded
        decoded += frames
        ctx.tell("frames", decoded, expected)

    results = []
    for group in passes:
        results += _one_pass(ctx, group, count)
    return results


def _one_pass(ctx: Pass, perceivers: list[Perceiver], count: Callable[[int], None]) -> list[Result]:
    """Load ``perceivers``, stream the frames through all of them, finish and close them."""
    outputs: list[list[Observation]] = [[] for _ in perceivers]
    seconds = [0.0] * len(perceivers)

    def timed(i: int, call, *args):
        t0 = time.perf_counter()
        result = call(*args)
        seconds[i] += time.perf_counter() - t0
        return result

    def flush(batch: list[Frame]) -> None:
        for i, p in enumerate(perceivers):
            outputs[i].extend(timed(i, p.process, batch))
        count(len(batch))

    info, options = ctx.info, ctx.options
    try:
        for i, p in enumerate(perceivers):
            timed(i, p.ensure_loaded)
        batch: list[Frame] = []
        decoded = 0
        frames = video.iter_frames(
            info,
            options.fps,
            ctx.start,
            ctx.end,
            options.scene_threshold or None,
            options.max_side,
            report=ctx.report,
        )
        for frame in frames:
            batch.append(frame)
            decoded += 1
            if len(batch) >= perceivers[0].options.batch_size:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
        if decoded == 0 and info.duration > 0:
            raise InputError(
                f"no frames could be decoded from '{info.path}'; is the file complete?"
            )
        for i, p in enumerate(perceivers):
            outputs[i].extend(timed(i, p.finish))
    finally:
        for p in perceivers:
            if p.loaded:
                p.release()
    return list(zip(outputs, seconds, strict=True))
