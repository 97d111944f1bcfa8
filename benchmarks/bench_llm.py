"""Benchmark: the video text an LLM gets, before and after fitting, and a second question's latency.

    python benchmarks/bench_llm.py           # token table (1 to 60 min) + local-model latency
    python benchmarks/bench_llm.py --quick   # token table only (a few seconds)

1. Tokens of the default layout per minute of video, before and after fitting it to an 8k-context
   model (what `vctext ask` sends next to the system prompt and a 512-token answer). The videos'
   text is built the way the pipeline builds it at 1 fps (tests/video_texts.py): a captioner that
   rewords each shot from frame to frame, 8 scored tags, tracked objects with boxes, on-screen
   text now and then, a sentence of speech every 20 s. Goal: a 10-minute video fits in 8k.
   Tokens are counted with SmolLM2's tokenizer when the llm extra is installed, else estimated.
2. Time to first token of a second question about a video already described (its perception
   comes from the cache) with the bundled local model: in the same process (the model loaded),
   and as a fresh `vctext ask` command (the model loads from its converted copy).

Prints Markdown tables and writes them to benchmarks/out/llm_results.md.
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(HERE.parent / "tests"))

from video_texts import long_video_text, spoken  # noqa: E402

import vctext  # noqa: E402
from vctext.llm import load_llm  # noqa: E402
from vctext.llm.base import estimate_tokens  # noqa: E402
from vctext.reason.fit import evidence_budget, fit  # noqa: E402

CONTEXT = 8192
MINUTES = (1, 5, 10, 30, 60)
SENTENCE = "The ferry to the island leaves at seven thirty from gate four."
QUESTIONS = ("Where does the ferry go?", "Which gate does it leave from?")


def _counter():
    """SmolLM2's tokenizer when available (a real 8k model), else the high-side estimate."""
    try:
        llm = load_llm("local", context_tokens=CONTEXT)
        llm.ensure_loaded()
        return llm, llm.count_tokens, "SmolLM2 tokenizer"
    except vctext.VctextError as exc:
        print(f"(no local model: {exc}; estimating tokens)", file=sys.stderr)
        from vctext.llm.base import LLM

        class Estimate(LLM):
            name = "estimate"

            def load(self):
                pass

            def _stream(self, messages):
                yield ""

        return Estimate(), estimate_tokens, "high-side estimate"


def token_table() -> tuple[list[str], bool]:
    llm, count, how = _counter()
    budget = evidence_budget(llm, "Which gate does the parade leave from?")
    rows = [
        f"Tokens counted with the {how}; 8k context, 512-token answer: the video text may "
        f"take {budget} tokens.",
        "",
        "| video | ranges | tokens | tokens/min | fitted tokens | fitted tokens/min | "
        "steps | speech kept | fit time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ten_fits = False
    for minutes in MINUTES:
        doc = long_video_text(minutes)
        raw = count(doc.render())
        t0 = time.perf_counter()
        fitted = fit(doc, budget, count)
        seconds = time.perf_counter() - t0
        said = spoken(doc)
        kept = sum(1 for s in said if s in fitted.text)
        if minutes == 10:
            ten_fits = fitted.tokens <= budget
        rows.append(
            f"| {minutes} min | {len(doc.segments)} → {len(fitted.doc.segments)} | {raw:,} | "
            f"{raw / minutes:,.0f} | {fitted.tokens:,} | {fitted.tokens / minutes:,.0f} | "
            f"{', '.join(fitted.steps) or '-'} | {kept}/{len(said)} | {seconds:.2f} s |"
        )
    return rows, ten_fits


def _clip(folder: Path) -> Path:
    wav, clip = folder / "sentence.wav", folder / "ferry.mp4"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), SENTENCE], check=True)
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=10",
            "-i",
            str(wav),
            "-filter_complex",
            "[1:a]adelay=3000|3000,apad[a]",
            "-map",
            "0:v",
            "-map",
            "[a]",
            "-t",
            "10",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(clip),
        ],
        check=True,
    )
    return clip


def _timed_ask(clip: Path, question: str) -> tuple[float, float, str]:
    first: list[float] = []
    t0 = time.perf_counter()
    answer = vctext.ask(
        clip,
        question,
        llm="local",
        perceivers="asr",
        max_tokens=32,
        on_text=lambda _: first or first.append(time.perf_counter()),
    )
    total = time.perf_counter() - t0
    return (first[0] - t0 if first else total), total, answer.text


def _cli_first_token(clip: Path, question: str) -> tuple[float, float]:
    cmd = [
        sys.executable,
        "-m",
        "vctext",
        "ask",
        str(clip),
        question,
        "--llm",
        "local",
        "--perceivers",
        "asr",
        "--max-tokens",
        "32",
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    proc.stdout.read(1)
    first = time.perf_counter() - t0
    proc.stdout.read()
    proc.wait()
    return first, time.perf_counter() - t0


def latency_table() -> list[str]:
    if not (shutil.which("espeak-ng") and shutil.which("ffmpeg")):
        return ["(latency skipped: needs espeak-ng and ffmpeg)"]
    rows = ["| case | first token | whole answer | answer |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        clip = _clip(Path(tmp))
        ttft, total, text = _timed_ask(clip, QUESTIONS[0])
        rows.append(
            f"| 1st question, same process (ASR runs, model loaded) | {ttft:.2f} s | "
            f"{total:.2f} s | {text[:60]} |"
        )
        ttft, total, text = _timed_ask(clip, QUESTIONS[1])
        rows.append(
            f"| 2nd question, same process (cached video) | {ttft:.2f} s | "
            f"{total:.2f} s | {text[:60]} |"
        )
        ttft, total = _cli_first_token(clip, QUESTIONS[1])
        rows.append(
            f"| 2nd question, fresh `vctext ask` (cached video) | {ttft:.2f} s | {total:.2f} s | |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="token table only")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    lines = [
        f"# vctext LLM benchmark ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs)",
        "",
        "## Video text per minute, before and after fitting",
        "",
    ]
    rows, ten_fits = token_table()
    lines += rows
    lines += [
        "",
        f"Goal: the 10-minute video's text fits an 8k model: {'met' if ten_fits else 'NOT met'}.",
    ]
    if not args.quick:
        lines += ["", "## A second question on a cached video, bundled local model (CPU)", ""]
        lines += latency_table()
    report = "\n".join(lines) + "\n"
    print(report)
    OUT.mkdir(exist_ok=True)
    (OUT / "llm_results.md").write_text(report)


if __name__ == "__main__":
    main()
