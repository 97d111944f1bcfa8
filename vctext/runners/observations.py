"""The perceivers that read what the others saw: each gets every observation made so far."""

from __future__ import annotations

import time

from vctext.perception.base import ObservationsPerceiver
from vctext.runners.context import Pass, Result


def run(ctx: Pass, perceivers: list[ObservationsPerceiver]) -> list[Result]:
    """Observations and seconds of each perceiver, in the order given; each one also reads what
    the ones before it wrote."""
    seen = list(ctx.seen)
    results: list[Result] = []
    for perceiver in perceivers:
        t0 = time.perf_counter()
        perceiver.ensure_loaded()
        obs = perceiver.process(list(seen)) + perceiver.finish()
        perceiver.release()
        seen += obs
        results.append((obs, time.perf_counter() - t0))
    return results
