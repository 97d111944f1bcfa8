"""The streamed pass over the audio track, a chunk at a time, for each audio perceiver.

A range (``--start``/``--end``) is heard with :data:`AUDIO_CONTEXT` seconds of audio around it,
so a sentence cut by its edges is recognized as well as in the whole file; each chunk says which
part of it to keep (``AudioChunk.keep``), and only the words inside the range are kept.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from vctext import video
from vctext.config import DescribeOptions
from vctext.perception.base import AudioPerceiver
from vctext.runners.context import Pass, Result
from vctext.types import Observation

#: Seconds of audio heard on each side of a --start/--end range, so its edge sentences are whole.
AUDIO_CONTEXT = 10.0


def sampling(options: DescribeOptions) -> dict[str, Any]:
    """The options that decide what the perceivers hear (part of their cache keys)."""
    return {"chunk": options.asr_chunk_seconds}


def run(ctx: Pass, perceivers: list[AudioPerceiver]) -> list[Result]:
    """Observations and seconds of each audio perceiver, in the order given."""
    return [_one(ctx, perceiver) for perceiver in perceivers]


def _one(ctx: Pass, perceiver: AudioPerceiver) -> Result:
    info, start, end = ctx.info, ctx.start, ctx.end
    if not info.has_audio:
        return [], 0.0
    t0 = time.perf_counter()
    perceiver.ensure_loaded()
    total = ctx.last - start
    keep = (start, end) if start > 0 or math.isfinite(end) else (-math.inf, math.inf)
    heard_from = max(0.0, start - AUDIO_CONTEXT)
    heard_to = min(end + AUDIO_CONTEXT, info.duration) if math.isfinite(end) else None
    out: list[Observation] = []
    chunks = video.iter_audio(info, heard_from, heard_to, ctx.options.asr_chunk_seconds, ctx.report)
    for chunk in chunks:
        out.extend(perceiver.process(dataclasses.replace(chunk, keep=keep)))
        ctx.tell("audio", min(max(chunk.end - start, 0.0), total), total or None)
    out.extend(perceiver.finish())
    perceiver.release()
    return out, time.perf_counter() - t0
