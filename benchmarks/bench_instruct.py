"""Benchmark: `vctext instruct` throughput, perception cached vs not, and Ray's overhead.

    python benchmarks/bench_instruct.py           # 50 clips
    python benchmarks/bench_instruct.py --quick   # 10 clips

Videos per minute for a batch of short generated clips (2-3 s, 160x120, one espeak-ng sentence
each) with the local engine, with a cold perception cache (Whisper runs on every clip) and a warm
one (same cache, fresh output file), and the same warm batch with ``--engine ray`` (a private
local Ray). Each case is a fresh ``vctext instruct --perceivers asr --workers 4`` process, so
wall time includes imports and model loading. The LLM is tests/openai_server.py on localhost
with scripted valid replies, so the numbers measure vctext, not a model.

Prints a Markdown table and writes it to benchmarks/out/instruct_results.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CLIPS = OUT / "instruct_clips"
WORKERS = 4
WORDS = (
    "red kite hill window dinner ferry island garden river train morning yellow "
    "market bridge candle orange winter village music teacher"
).split()

STORY = (
    "First, a colourful test pattern fills the screen while a calm voice begins to speak. "
    "Next, the voice says a short sentence about what is going on, clearly and slowly. "
    "Then the colours shift gently and a small counter in the corner keeps ticking upward. "
    "The bright bars stay in place, and the moving patch slides from one side to the other. "
    "Finally, the voice stops and the video comes to an end on the same calm test picture."
)
BRIEF = "A colourful test pattern moves while a calm voice says one short sentence."
QA = {
    "qa": [
        {"type": "descriptive", "question": "What is on the screen?", "answer": "A test pattern."},
        {
            "type": "temporal",
            "question": "What happens after the voice speaks?",
            "answer": "The pattern keeps moving until the end.",
        },
        {
            "type": "causal",
            "question": "Why might the video have been made?",
            "answer": "I cannot tell from the video.",
        },
    ]
}


def _load_server_class():
    """tests/openai_server.py's server, imported by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "openai_server", HERE.parent / "tests" / "openai_server.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Scripted(module.OpenAIServer):
        def answer(self, body):
            user = str(body["messages"][-1]["content"])
            if "Reply with JSON only" in user:
                return json.dumps(QA)
            return BRIEF if "one or two sentences" in user else STORY

    return Scripted


def make_clips(n: int) -> list[Path]:
    """``n`` clips in benchmarks/out/instruct_clips/, generating only the missing ones."""
    CLIPS.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(n):
        clip = CLIPS / f"clip{i:02d}.mp4"
        clips.append(clip)
        if clip.exists():
            continue
        sentence = f"The {WORDS[i % len(WORDS)]} and the {WORDS[(i * 7 + 3) % len(WORDS)]}."
        duration = 2 + (i % 3) * 0.5
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "s.wav"
            subprocess.run(["espeak-ng", "-s", "170", "-w", str(wav), sentence], check=True)
            subprocess.run(
                ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                 f"testsrc2=size=160x120:rate=25:duration={duration}", "-i", str(wav),
                 "-filter_complex", "[1:a]adelay=200|200,apad[a]", "-map", "0:v", "-map", "[a]",
                 "-t", str(duration), "-c:v", "libx264", "-preset", "ultrafast",
                 "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)],
                check=True,
            )  # fmt: skip
    return clips


def run_case(url: str, clips: list[Path], out: Path, cache: Path, engine: str) -> dict:
    """One fresh `vctext instruct` process; wall time, records written and failures."""
    cmd = [sys.executable, "-m", "vctext", "instruct", *map(str, clips), "-o", str(out)]
    cmd += ["--perceivers", "asr", "--workers", str(WORKERS), "--engine", engine]
    cmd += ["--base-url", url, "--no-progress"]
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "VCTEXT_CACHE_DIR": str(cache)}
    env.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
    failures = out.with_name(out.name.removesuffix(".jsonl") + ".failures.jsonl")
    return {
        "wall": wall,
        "records": len(out.read_text().splitlines()) if out.exists() else 0,
        "failures": len(failures.read_text().splitlines()) if failures.exists() else 0,
        "rc": proc.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 clips instead of 50")
    args = parser.parse_args()
    missing = [tool for tool in ("ffmpeg", "espeak-ng") if not shutil.which(tool)]
    if missing:
        sys.exit(f"bench_instruct needs {' and '.join(missing)} on PATH")
    n = 10 if args.quick else 50
    clips = make_clips(n)
    cases = [
        ("local, cold cache", "local", True),
        ("local, warm cache", "local", False),
        ("ray (local mode), warm cache", "ray", False),
    ]
    with tempfile.TemporaryDirectory() as tmp, _load_server_class()() as server:
        work, cache = Path(tmp), Path(tmp) / "cache"
        results = {}
        for name, engine, _cold in cases:  # the cold case runs first, on the empty cache
            out = work / f"{engine}-{len(results)}.jsonl"
            results[name] = run_case(server.url, clips, out, cache, engine)
            print(f"{name}: {results[name]['wall']:.1f} s", file=sys.stderr)
        calls = server.count
    lines = [
        f"# vctext instruct benchmark ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs)",
        "",
        f"{n} clips of 2-3 s (160x120, one spoken sentence), `--perceivers asr --workers "
        f"{WORKERS}`, tasks description (detailed + brief) and conversation; LLM: "
        f"tests/openai_server.py on localhost, scripted valid replies ({calls} calls in all).",
        "",
        "| case | videos | wall s | videos/min | records written | failures |",
        "|---|---|---|---|---|---|",
    ]
    for name, _engine, _cold in cases:
        r = results[name]
        failed = str(r["failures"]) + ("" if r["rc"] == 0 else f" (exit {r['rc']})")
        lines.append(
            f"| {name} | {n} | {r['wall']:.1f} | {n / r['wall'] * 60:.1f} | {r['records']} | "
            f"{failed} |"
        )
    warm, ray = (
        results["local, warm cache"]["wall"],
        results["ray (local mode), warm cache"]["wall"],
    )
    lines += [
        "",
        f"Ray overhead (ray warm - local warm): {ray - warm:+.1f} s, ratio {ray / warm:.2f}x.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    OUT.mkdir(exist_ok=True)
    (OUT / "instruct_results.md").write_text(report)


if __name__ == "__main__":
    main()
