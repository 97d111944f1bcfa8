"""Benchmark: VLM captions, local (`caption` / `clip_caption`, backend `vlm`) and on a server
(`caption`, backend `openai-vision`): throughput, batching, and what a 10-minute video costs.

    python benchmarks/bench_vlm.py               # tiny models, API, SmolVLM2 256M + 500M on CPU
    python benchmarks/bench_vlm.py --quick       # fewer frames; full size 256M only
    python benchmarks/bench_vlm.py --skip-full   # tiny models and API only (about a minute)
    python benchmarks/bench_vlm.py --sizes 500M  # which full-size models
    python benchmarks/bench_vlm.py --gpu         # full size on CUDA (bf16, batch 16), + Qwen2-VL-2B

No network. The models are tests/tiny_vlm.py's tiny ones and benchmarks/vlm_configs.py's
full-size architectures with random weights (same cost as the real weights for the same tokens;
they never emit EOS, so every reply runs to max_new_tokens), built once into
benchmarks/out/vlm/. The server is tests/openai_server.py with a fixed delay per request. Each
full-size model runs in its own subprocess, so its peak RSS is its own. Prints Markdown.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from vlm_configs import full_size  # benchmarks/vlm_configs.py

from vctext.config import ApiServer
from vctext.perception.base import Clip, PerceiverOptions
from vctext.perception.registry import load_perceiver
from vctext.types import Frame

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "vlm"
WIDTH, HEIGHT = 640, 360
CLIP_FRAMES = 6
VIDEO_S = 600  # the 10-minute video costed at the end: 600 frames at 1 FPS, a clip per 10 s
CLIP_EVERY = 10.0  # clip_caption's default window
SIZES = {
    "256M": "HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
    "500M": "HuggingFaceTB/SmolVLM2-500M-Video-Instruct",
    "2B": "Qwen/Qwen2-VL-2B-Instruct",
}
GPU_BATCH = 16


def test_module(name: str):
    """A module of tests/ (not a package), imported by path."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE.parent / "tests" / f"{name}.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def built(path: Path, build) -> Path:
    """``build(path)`` once; later runs reuse the directory."""
    if not (path / ".built").exists():
        print(f"  building {path.name} ...", file=sys.stderr, flush=True)
        build(path)
        (path / ".built").touch()
    return path


def pictures(n: int, seed: int) -> list[np.ndarray]:
    """``n`` distinct smooth pictures (random 16x9 colour fields, scaled up bilinearly)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 9, 16, 3), dtype=np.uint8)
    resample = Image.Resampling.BILINEAR
    return [np.asarray(Image.fromarray(s).resize((WIDTH, HEIGHT), resample)) for s in small]


def frames(n: int) -> list[Frame]:
    return [Frame(time=float(i), image=image) for i, image in enumerate(pictures(n, 0))]


def clips(n: int) -> list[Clip]:
    """``n`` clips of CLIP_FRAMES distinct pictures, one every CLIP_EVERY seconds."""
    images = iter(pictures(n * CLIP_FRAMES, 1))
    step = CLIP_EVERY / CLIP_FRAMES
    out = []
    for i in range(n):
        start = i * CLIP_EVERY
        shown = [Frame(start + k * step, next(images)) for k in range(CLIP_FRAMES)]
        out.append(Clip(start, start + CLIP_EVERY, shown))
    return out


def perceiver(kind: str, backend: str, model, device="cpu", batch=8, server=None, **params):
    options = PerceiverOptions(str(model), device, batch, params, server)
    p = load_perceiver(kind, backend, options)
    p.ensure_loaded()
    return p


def timed(fn, *args, repeat: int = 1) -> float:
    """Seconds ``fn(*args)`` takes, best of ``repeat``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


# ---------------------------------------------------------------------------------------------
# 1. tiny models on the CPU: batched (the default) vs one request at a time


def bench_tiny(n_frames: int, n_clips: int, repeat: int, max_new_tokens: int = 8) -> str:
    tiny = test_module("tiny_vlm")
    lines = [
        "| tiny model | perceiver | items | batched /s | one at a time /s | batched speed-up |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, build in (("SmolVLM", tiny.build_smolvlm), ("Qwen2-VL", tiny.build_qwen2vl)):
        path = built(OUT / f"tiny-{label.lower()}", build)
        for kind, items, unit in (
            ("caption", frames(n_frames), "frames"),
            ("clip_caption", clips(n_clips), "clips"),
        ):
            still = {"reuse_diff": 0} if kind == "caption" else {}
            p = perceiver(kind, "vlm", path, max_new_tokens=max_new_tokens, **still)
            batch = p.vlm.batch
            seconds: dict[int, list[float]] = {batch: [], 1: []}
            for _ in range(repeat + 1):  # interleaved, so a busy spell hits both; 1st warms up
                for size, times in seconds.items():
                    p.vlm.batch = size
                    times.append(timed(p.process, items))
            p.close()
            rates = [len(items) / min(times[1:]) for times in seconds.values()]
            lines.append(
                f"| {label} | `{kind}` vlm | {len(items)} {unit} | {rates[0]:.1f} (batch {batch}) "
                f"| {rates[1]:.1f} | {rates[0] / rates[1]:.2f}× |"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# 2. openai-vision against a local server that takes `delay` seconds a request


def bench_api(n_frames: int, delay: float, workers=(1, 2, 4, 8)) -> str:
    class Remote(test_module("openai_server").OpenAIServer):
        def answer(self, body):
            time.sleep(delay)  # a remote model's latency; requests run in their own threads
            return super().answer(body)

    items = frames(n_frames)
    lines = ["| workers | frames | wall s | frames/s | vs 1 worker |", "|---:|---:|---:|---:|---:|"]
    base = None
    with Remote() as server:
        for n in workers:
            api = ApiServer(base_url=server.url, api_key="sk-x", workers=n)
            p = perceiver("caption", "openai-vision", "vctext-test-model", server=api, reuse_diff=0)
            wall = timed(p.process, items)
            p.close()
            base = base or wall
            lines.append(
                f"| {n} | {n_frames} | {wall:.2f} | {n_frames / wall:.1f} | {base / wall:.1f}× |"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# 3. full-size architectures: one model per subprocess (`--case SIZE`), one JSON line out


def vm_hwm_mb() -> float:
    """This process's peak RSS (VmHWM: since its exec, unlike ru_maxrss across a fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def case_full(size: str, device: str, repeat: int) -> dict:
    """Load time, one frame, a batch of frames, one clip (and a batch of clips on a GPU)."""
    gpu = device.startswith("cuda")
    dtype = "bfloat16" if gpu else "float32"
    name = SIZES[size]
    path = built(OUT / f"{name.split('/')[1]}-{dtype}", lambda p: full_size(name, p, dtype))
    batch = GPU_BATCH if gpu else 8  # the CPU batches its own way (CPU_CHUNK)
    start = time.perf_counter()
    cap = perceiver("caption", "vlm", path, device, batch, reuse_diff=0, max_new_tokens=60)
    out = {"load_s": time.perf_counter() - start, "batch": cap.vlm.batch}
    todo = frames(1 + out["batch"])
    if gpu:
        cap.process(todo)  # warm-up, both shapes (on the CPU the first call is barely slower)
    out["frame_s"] = timed(cap.process, todo[:1], repeat=repeat)
    out["batch_frame_s"] = timed(cap.process, todo[1:], repeat=repeat) / out["batch"]
    cap.close()
    clip = perceiver("clip_caption", "vlm", path, device, batch, max_new_tokens=80)
    out["clip_batch"] = clip.vlm.batch if gpu else 1  # a batch of 4 takes minutes on 2 cores
    todo = clips(1 + out["clip_batch"] * gpu)
    if gpu:
        clip.process(todo)
        out["batch_clip_s"] = timed(clip.process, todo[1:], repeat=repeat) / out["clip_batch"]
    out["clip_s"] = timed(clip.process, todo[:1], repeat=repeat)
    clip.close()
    out["rss_mb"] = vm_hwm_mb()
    if gpu:
        import torch

        out["gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def run_full(size: str, args: argparse.Namespace) -> dict:
    print(f"  {size} on {args.device} ...", file=sys.stderr, flush=True)
    cmd = [sys.executable, __file__, "--case", size, "--device", args.device]
    cmd += ["--repeat", str(args.repeat)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{size} on {args.device} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cost(seconds: float) -> str:
    """Seconds of processing for the 10-minute video, and x real time."""
    return f"{seconds:.0f} s ({VIDEO_S / seconds:.2f}×)"


def bench_full(args: argparse.Namespace) -> str:
    gpu = args.gpu
    lines = [
        "| model | device | load s | 1 frame s | s/frame in a batch | 1 clip s "
        + ("| s/clip in a batch " if gpu else "")
        + ("| peak GPU GiB " if gpu else "")
        + "| peak RSS MB | 10 min, frame captions at 1 FPS | 10 min, clip captions |",
        "|---|---|" + "---:|" * (7 + 2 * gpu),
    ]
    for size in args.sizes:
        r = run_full(size, args)
        per_clip = r["batch_clip_s"] if gpu else r["clip_s"]
        lines.append(
            f"| {SIZES[size].split('/')[1]} | {args.device}, {'bf16' if gpu else 'fp32'} "
            f"| {r['load_s']:.1f} | {r['frame_s']:.2f} | {r['batch_frame_s']:.2f} "
            f"(of {r['batch']}) | {r['clip_s']:.2f} "
            + (f"| {r['batch_clip_s']:.2f} (of {r['clip_batch']}) " if gpu else "")
            + (f"| {r['gpu_gib']:.1f} " if gpu else "")
            + f"| {r['rss_mb']:.0f} | {cost(VIDEO_S * r['batch_frame_s'])} "
            f"| {cost(VIDEO_S / CLIP_EVERY * per_clip)} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer items; full size 256M only")
    parser.add_argument("--skip-full", action="store_true", help="no full-size models")
    sizes_help = "full-size models (default 256M 500M; with --gpu all three)"
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), help=sizes_help)
    parser.add_argument("--gpu", action="store_true", help="full size on CUDA, bf16, batch 16")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--delay", type=float, default=0.2, help="server delay a request, s")
    parser.add_argument("--repeat", type=int, help="full size: best of N (default 2, quick 1)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.repeat = args.repeat or (1 if args.quick else 2)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(case_full(args.case, args.device, args.repeat)))
        return
    if args.gpu and not torch.cuda.is_available():
        raise SystemExit("--gpu needs a CUDA device (torch.cuda.is_available() is False)")
    args.device = "cuda" if args.gpu else "cpu"
    cpu_sizes = ["256M", "500M"][: 1 if args.quick else 2]
    args.sizes = args.sizes or (list(SIZES) if args.gpu else cpu_sizes)
    n = 16 if args.quick else 32
    load = os.getloadavg()[0]
    sections = []
    if not args.gpu:
        sections += [
            "### Tiny models on the CPU (`max_new_tokens` 8, pictures 640x360)",
            bench_tiny(n, n // 4, repeat=2 if args.quick else 3),
            f"### `caption` openai-vision, local server answering after {args.delay:g} s",
            bench_api(n, args.delay),
        ]
    if not args.skip_full:
        what = f"{torch.cuda.get_device_name()}, bf16" if args.gpu else "CPU, fp32"
        sections += [
            f"### Full-size architectures, random weights ({what}; captions 60 new tokens, "
            f"clips {CLIP_FRAMES} frames and 80 new tokens)",
            f"Best of {args.repeat}.",
            bench_full(args),
        ]
    header = (
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}, torch {torch.__version__} "
        f"(torch threads: {args.threads or torch.get_num_threads()}); load average {load:.1f} at "
        f"start, {os.getloadavg()[0]:.1f} at end."
    )
    flags = " ".join(sys.argv[1:])
    print("\n\n".join([f"## bench_vlm {flags}".rstrip(), header, *sections]))


if __name__ == "__main__":
    main()
