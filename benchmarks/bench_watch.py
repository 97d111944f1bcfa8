"""Benchmark: `vctext watch` on live input: latency per kind and memory over a long stream.

    python benchmarks/bench_watch.py                 # a 5-min stream (a bit over 5 min)
    python benchmarks/bench_watch.py --minutes 60    # an hour

Generates a 640x360 grey stream of --minutes minutes (one 60-s MPEG-TS segment per minute,
concatenated): an espeak-ng sentence every 20 s and an on-screen caption changing every 30 s.
ffmpeg plays it in real time (`-re`) into a growing MPEG-TS file, and `python -m vctext watch
FILE --format jsonl --idle 5` describes it with the offline profile's default perceivers, on a
fresh HOME and cache. Prints a Markdown table: latency of each line per kind (arrival on stdout,
from when the player started, minus the observation's end / start in stream time), the watch's
RSS over the run, and whether every sentence was heard and every caption read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "watch"
SIZE, RATE = "640x360", 25
SPEECH_EVERY, CAPTION_EVERY, SPEECH_DELAY = 20, 30, 1.0
#: (sentence, words any of which counts it as heard)
SENTENCES = [
    ("The ferry to the island leaves at seven thirty.", ("ferry", "island")),
    ("Please bring your umbrella because it will rain.", ("umbrella", "rain")),
    ("The library closes early on Sunday afternoon.", ("library", "sunday")),
    ("My brother plays the guitar in a small band.", ("brother", "guitar")),
    ("The train to the airport is running late today.", ("train", "airport")),
    ("We planted tomatoes and carrots in the garden.", ("tomato", "carrot", "garden")),
    ("The doctor will see you in ten minutes.", ("doctor", "minutes")),
    ("A cold wind is blowing from the mountains.", ("wind", "mountain")),
    ("She bought a new computer for her office.", ("computer", "office")),
    ("The children are playing football in the park.", ("children", "football", "park")),
    ("Turn left at the bakery and walk to the bridge.", ("bakery", "bridge")),
    ("The museum has a famous painting of the sea.", ("museum", "painting")),
]
CAPTIONS = ["HARBOR", "CASTLE", "MARKET", "STATION", "GARDEN", "MUSEUM", "BRIDGE", "CINEMA"]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def sentence(k: int) -> tuple[str, tuple[str, ...]]:
    return SENTENCES[k % len(SENTENCES)]


def caption(k: int) -> str:
    return f"{CAPTIONS[k % len(CAPTIONS)]} {k + 1}"


def make_stream(minutes: int, folder: Path) -> Path:
    """The stream, one 60-s segment per minute, reused when it exists."""
    path = folder / f"stream_{minutes}min.ts"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    per_min = 60 // SPEECH_EVERY
    wavs = []
    for k in range(len(SENTENCES)):
        wav = folder / f"s{k}.wav"
        if not wav.exists():
            subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), SENTENCES[k][0]], check=True)
        wavs.append(wav)
    segments = []
    for m in range(minutes):
        seg = folder / f"seg{m}.ts"
        segments.append(seg)
        if seg.exists():
            continue
        draws = []
        for c in range(60 // CAPTION_EVERY):
            k = (m * 60) // CAPTION_EVERY + c
            a, b = c * CAPTION_EVERY, (c + 1) * CAPTION_EVERY
            draws.append(
                f"drawtext=text='{caption(k)}':fontsize=64:fontcolor=white:x=60:y=140:"
                f"enable='gte(t,{a})*lt(t,{b})'"
            )
        inputs, mix = [], []
        for j in range(per_min):
            k = m * per_min + j
            inputs += ["-i", str(wavs[k % len(SENTENCES)])]
            ms = int((j * SPEECH_EVERY + SPEECH_DELAY) * 1000)
            mix.append(f"[{j + 1}:a]adelay={ms}|{ms}[a{j}]")
        joined = "".join(f"[a{j}]" for j in range(per_min))
        graph = ";".join(
            [
                f"[0:v]{','.join(draws)}[v]",
                *mix,
                f"{joined}amix=inputs={per_min}:normalize=0,apad[a]",
            ]
        )
        ffmpeg(
            *("-f", "lavfi", "-i", f"color=c=gray:size={SIZE}:rate={RATE}:duration=60"),
            *inputs,
            *("-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-t", "60"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "50"),
            *("-c:a", "aac", "-ar", "48000", "-f", "mpegts", str(seg)),
        )
    listing = folder / f"list_{minutes}.txt"
    listing.write_text("".join(f"file '{s}'\n" for s in segments))
    ffmpeg(
        "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", "-f", "mpegts", str(path)
    )
    return path


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                kids = [int(x) for x in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def run_watch(stream: Path, idle: float, minutes: int, work: Path) -> dict:
    home = work / "home"
    env = dict(os.environ, HOME=str(home), VCTEXT_CACHE_DIR=str(work / "cache"))
    for name, sub in {
        "XDG_CONFIG_HOME": ".config",
        "XDG_CACHE_HOME": ".cache",
        "XDG_DATA_HOME": ".local/share",
        "XDG_STATE_HOME": ".local/state",
        "YOLO_CONFIG_DIR": ".config",
        "MPLCONFIGDIR": ".config/matplotlib",
    }.items():
        env[name] = str(home / sub)
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE"):
        env.pop(name, None)
    recording = work / "live.ts"
    started = time.monotonic()
    player = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", str(stream)]
        + ["-c", "copy", "-flush_packets", "1", "-f", "mpegts", str(recording)],
        stdin=subprocess.DEVNULL,
    )
    while not recording.exists():
        time.sleep(0.05)
    errors = open(work / "watch.stderr", "w")  # noqa: SIM115 - closed below
    cmd = [sys.executable, "-m", "vctext", "watch", str(recording), "--format", "jsonl"]
    cmd += ["--idle", str(idle), "--profile", "offline"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
    samples: list[tuple[float, int, int]] = []  # (s since start, watch KiB, + children KiB)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            own = rss_kb(proc.pid)
            if own:
                total = own + sum(rss_kb(p) for p in descendants(proc.pid))
                samples.append((time.monotonic() - started, own, total))
            done.wait(5.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = []
    deadline = started + minutes * 60 + 300
    for line in proc.stdout:
        lines.append((time.monotonic() - started, json.loads(line)))
        if time.monotonic() > deadline:
            proc.terminate()
    proc.wait()
    done.set()
    sampler.join()
    player.wait()
    errors.close()
    return {
        "lines": lines,
        "samples": samples,
        "returncode": proc.returncode,
        "wall_s": time.monotonic() - started,
        "stderr": (work / "watch.stderr").read_text()[-2000:],
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(run: dict, minutes: int, idle: float) -> str:
    obs = [(t, o) for t, o in run["lines"] if o.get("type") == "observation"]
    others = [o.get("type") for _, o in run["lines"] if o.get("type") != "observation"]
    duration = minutes * 60
    md = [
        f"## vctext watch, {minutes}-min live stream (growing MPEG-TS, `-re`), "
        f"offline profile, default perceivers",
        "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; watch exit code {run['returncode']}, "
        f"{len(run['lines'])} lines ({len(obs)} observations"
        + (f", other types: {sorted(set(others))}" if others else "")
        + f"), wall {run['wall_s']:.0f} s for {duration} s of stream (idle {idle:g} s).",
        "",
        "| kind | lines | latency vs end: median | p90 | max | vs start: median | p90 | max "
        "| median, first minute | median, last minute |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    kinds = sorted({o["kind"] for _, o in obs})
    for kind in [*kinds, "all"]:
        rows = [(t, o) for t, o in obs if kind in ("all", o["kind"])]
        vs_end = [t - float(o["end"]) for t, o in rows]
        vs_start = [t - float(o["start"]) for t, o in rows]
        first = [t - float(o["end"]) for t, o in rows if float(o["end"]) <= 60]
        last = [t - float(o["end"]) for t, o in rows if float(o["end"]) > duration - 60]

        def med(v: list[float]) -> str:
            return f"{statistics.median(v):.1f}" if v else "-"

        md.append(
            f"| {kind} | {len(rows)} | {med(vs_end)} | {pct(vs_end, 0.9):.1f} | "
            f"{max(vs_end):.1f} | {med(vs_start)} | {pct(vs_start, 0.9):.1f} | "
            f"{max(vs_start):.1f} | {med(first)} | {med(last)} |"
        )
    md += [
        "",
        "Latency in seconds: arrival on stdout (from the player's start) minus the "
        "observation's end or start in stream time.",
    ]

    samples = run["samples"]
    first_line = run["lines"][0][0] if run["lines"] else 0.0
    after = [s for s in samples if s[0] >= first_line] or samples
    if after:
        mid = min(after, key=lambda s: abs(s[0] - (after[0][0] + after[-1][0]) / 2))
        picks = [("start (after first line)", after[0]), ("middle", mid), ("end", after[-1])]
        md += [
            "",
            "| RSS | at s | watch MB | watch + children MB |",
            "|---|---:|---:|---:|",
        ]
        for label, (t, own, total) in picks:
            md.append(f"| {label} | {t:.0f} | {own / 1024:.0f} | {total / 1024:.0f} |")
        md.append(
            f"| max | - | {max(s[1] for s in samples) / 1024:.0f} | "
            f"{max(s[2] for s in samples) / 1024:.0f} |"
        )
        md += ["", f"VmRSS from /proc every 5 s ({len(samples)} samples)."]

    asr = [o for _, o in obs if o["kind"] == "asr"]
    ocr = [o for _, o in obs if o["kind"] == "ocr"]
    heard, missed_s = 0, []
    for k in range(duration // SPEECH_EVERY):
        at = k * SPEECH_EVERY + SPEECH_DELAY
        text, words = sentence(k)
        hits = [
            o
            for o in asr
            if at - 2 <= float(o["start"]) <= at + 12 and any(w in o["text"].lower() for w in words)
        ]
        heard += bool(hits)
        if not hits:
            missed_s.append(f"{at:.0f} s: {text}")
    read, missed_c = 0, []
    for k in range(duration // CAPTION_EVERY):
        a = k * CAPTION_EVERY
        word = caption(k).split()[0]
        hits = [
            o
            for o in ocr
            if float(o["end"]) >= a - 1
            and float(o["start"]) <= a + CAPTION_EVERY + 1
            and word in o["text"].upper()
        ]
        read += bool(hits)
        if not hits:
            missed_c.append(f"{a} s: {caption(k)}")
    md += [
        "",
        "| check | result |",
        "|---|---|",
        f"| sentences heard (asr line with one of its words, near its time) | "
        f"{heard} / {duration // SPEECH_EVERY} |",
        f"| captions read (ocr line with its word, while on screen) | "
        f"{read} / {duration // CAPTION_EVERY} |",
    ]
    if missed_s:
        md.append(f"| sentences missed | {'; '.join(missed_s)} |")
    if missed_c:
        md.append(f"| captions missed | {'; '.join(missed_c)} |")
    if run["returncode"] != 0:
        md += ["", "watch stderr (tail):", "```", run["stderr"], "```"]
    return "\n".join(md)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=5, help="stream length (default 5)")
    parser.add_argument("--idle", type=float, default=5.0, help="watch --idle (default 5)")
    parser.add_argument("--jsonl", type=Path, help="also save the raw lines with arrival times")
    args = parser.parse_args()
    for tool in ("ffmpeg", "espeak-ng"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed on PATH")
    t0 = time.monotonic()
    stream = make_stream(args.minutes, OUT)
    print(f"stream ready in {time.monotonic() - t0:.0f} s: {stream}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        run = run_watch(stream, args.idle, args.minutes, Path(tmp))
    if args.jsonl:
        with open(args.jsonl, "w") as f:
            for t, o in run["lines"]:
                f.write(json.dumps({"arrived": round(t, 3), **o}) + "\n")
    print(report(run, args.minutes, args.idle))


if __name__ == "__main__":
    main()
