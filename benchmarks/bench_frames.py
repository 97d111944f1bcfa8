"""Benchmark: 1-FPS frame sampling vs decoding every frame, and end-to-end offline `describe`.

    python benchmarks/bench_frames.py            # 1-min and 10-min videos (about 12 min, 5 of
                                                 # them the `describe` rows)
    python benchmarks/bench_frames.py --quick    # 1-min videos only (~3 min)

Inputs (benchmarks/inputs.py) are generated once with ffmpeg + espeak-ng into benchmarks/out/
and reused. Every case runs in its own Python subprocess, so peak RSS is per case. Prints a
Markdown table and writes it to benchmarks/out/results.md. See benchmarks/README.md for what
each row means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from inputs import (  # benchmarks/inputs.py: the generated videos
    HEIGHT,
    OUT,
    PRESET,
    RATE,
    SPEECH_EVERY,
    WIDTH,
    footage_path,
    make_footage,
    make_talk,
    make_video,
    talk_path,
    video_path,
)

GOALS = {
    "speedup": 10.0,  # 1-FPS sampling vs every frame, 10-min video
    "peak_rss_mb": 300.0,  # python + ffmpeg, 1-FPS sampling of the 10-min video
    "rss_growth": 1.2,  # peak RSS at 10 min / at 1 min
    "describe_xrt": 5.0,  # end-to-end offline describe, x real time
}


# ---------------------------------------------------------------------------------------------
# cases: each runs in a fresh subprocess (`--case NAME VIDEO`) and prints one JSON line


def case_every_frame(path: str, hold: bool = False) -> dict:
    """The VideoChat-Text way: every frame decoded to its own RGB array in Python (as decord's
    ``get_batch(...).asnumpy()`` gives them), here through an ffmpeg rawvideo pipe."""
    from vctext.video import ffmpeg_binary, probe

    info = probe(path)
    width, height = info.display_size
    frame_bytes = width * height * 3
    cmd = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", path]
    cmd += "-an -sn -f rawvideo -pix_fmt rgb24 pipe:".split()
    held, count, touched = [], 0, 0
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    while True:
        buf = proc.stdout.read(frame_bytes)
        if len(buf) < frame_bytes:
            break
        image = np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3).copy()
        touched += int(image[height // 2, width // 2, 0])
        if hold:
            held.append(image)
        count += 1
    proc.stdout.close()
    if proc.wait() != 0:
        raise SystemExit(f"ffmpeg failed on {path}")
    note = f"{count} frames"
    if hold:
        note += f", {sum(a.nbytes for a in held) / 2**30:.1f} GiB of frames held"
    return {"note": note}


def case_vctext_1fps(path: str) -> dict:
    """`vctext.video.iter_frames` at 1 FPS, every frame consumed (one pixel read)."""
    from vctext import video

    info = video.probe(path)
    width, height = video.output_size(info)
    times, touched = [], 0
    for frame in video.iter_frames(info, fps=1.0):
        assert frame.image.shape == (height, width, 3), frame.image.shape
        touched += int(frame.image[height // 2, width // 2, 0])
        times.append(frame.time)
    worst = max((abs(t - k) for k, t in enumerate(times)), default=0.0)
    return {"note": f"{len(times)} frames, max |t - k| {worst:.3f} s", "check_plan": True}


def case_describe(path: str, **options) -> dict:
    """End to end: `vctext.describe(path, profile="offline", cache=False)`, default perceivers."""
    import vctext

    doc = vctext.describe(path, profile="offline", cache=False, **options)
    speech = [o for o in doc.observations if o.kind == "asr"]
    runs = ", ".join(f"{r.kind} {r.seconds:.0f} s" for r in doc.perceivers)
    first = speech[0].text if speech else "(none)"
    return {"note": f'{runs}; {len(speech)} speech segments, first: "{first[:60]}"'}


CASES = {
    "every-frame": case_every_frame,
    "every-frame-held": lambda path: case_every_frame(path, hold=True),
    "vctext-1fps": case_vctext_1fps,
    "describe": case_describe,
    "describe-asr": lambda path: case_describe(path, perceivers="asr"),
}


def vm_hwm_kb(pid: str) -> int:
    """Peak RSS of a process since its last exec, in KiB (0 once it is gone).

    Not ru_maxrss: Linux carries a parent's peak over fork and exec, so a child forked from a
    1.4 GB Python process reports 1.4 GB there whatever it runs.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class ChildPeak:
    """Largest peak RSS (VmHWM) of this process's ffmpeg/ffprobe children, polled from /proc."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> ChildPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            for pid in self._children():
                try:
                    name = Path(f"/proc/{pid}/comm").read_text().strip()
                except OSError:  # exited meanwhile
                    continue
                if name in ("ffmpeg", "ffprobe"):
                    self.peak_kb = max(self.peak_kb, vm_hwm_kb(pid))

    @staticmethod
    def _children() -> list[str]:
        pids = []
        for task in os.listdir("/proc/self/task"):
            try:
                pids += Path(f"/proc/self/task/{task}/children").read_text().split()
            except OSError:
                pass
        return pids


def run_case_here(name: str, path: str) -> None:
    """Body of the measured subprocess: run one case, print wall, CPU and peak RSS as JSON."""
    t0, c0 = time.perf_counter(), os.times()
    with ChildPeak() as children:
        result = CASES[name](path)
    wall = time.perf_counter() - t0
    c1 = os.times()
    result.update(
        wall_s=wall,
        cpu_s=(c1.user - c0.user)
        + (c1.system - c0.system)
        + (c1.children_user - c0.children_user)
        + (c1.children_system - c0.children_system),
        python_rss_mb=vm_hwm_kb("self") / 1024,
        ffmpeg_rss_mb=children.peak_kb / 1024,
    )
    if result.pop("check_plan", False):  # after measuring: it runs ffprobe once more
        from vctext import video

        info = video.probe(path)
        skip, _ = video._decode_plan(info, 1.0, 0.0, info.duration, None)
        result["note"] += f", decoder skips: {skip or 'nothing'}"
    print(json.dumps(result))


@dataclass
class Row:
    case: str
    video: Path
    seconds: int
    result: dict

    @property
    def rss_sum(self) -> float:
        return self.result["python_rss_mb"] + self.result["ffmpeg_rss_mb"]


def measure(case: str, video: Path, seconds: int) -> Row:
    print(f"  {case} on {video.name} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(
        [sys.executable, __file__, "--case", case, str(video)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"case {case} on {video.name} failed:\n{proc.stderr[-3000:]}")
    return Row(case, video, seconds, json.loads(proc.stdout.strip().splitlines()[-1]))


# ---------------------------------------------------------------------------------------------
# report

LABELS = {
    "every-frame": "every frame → RGB arrays (VideoChat-Text way)",
    "every-frame-held": "every frame → RGB arrays, all held in RAM",
    "vctext-1fps": "vctext `iter_frames` 1 FPS",
    "describe": "vctext `describe`, offline profile, default perceivers",
    "describe-asr": 'vctext `describe`, offline profile, `perceivers="asr"`',
}


def table(rows: list[Row], keyint_label: dict[Path, str]) -> str:
    lines = [
        "| case | video | wall s | x real time | CPU s | python peak RSS MB "
        "| ffmpeg peak RSS MB | notes |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        x = r.result
        lines.append(
            f"| {LABELS[r.case]} | {r.seconds // 60} min, {keyint_label[r.video]} "
            f"| {x['wall_s']:.1f} | {r.seconds / x['wall_s']:.1f} | {x['cpu_s']:.1f} "
            f"| {x['python_rss_mb']:.0f} | {x['ffmpeg_rss_mb']:.0f} | {x['note']} |"
        )
    return "\n".join(lines)


def goals(rows: list[Row], long: int) -> list[str]:
    def find(case: str, seconds: int) -> Row | None:
        return next(
            (
                r
                for r in rows
                if r.case == case
                and r.seconds == seconds
                and r.video.name.endswith(f"_g{DEFAULT_KEYINT}.mp4")
            ),
            None,
        )

    def verdict(ok: bool) -> str:
        return "**pass**" if ok else "**FAIL**"

    out = []
    base, fast = find("every-frame", long), find("vctext-1fps", long)
    if base and fast:
        wall = base.result["wall_s"] / fast.result["wall_s"]
        cpu = base.result["cpu_s"] / fast.result["cpu_s"]
        out.append(
            f"- 1 FPS sampling ≥{GOALS['speedup']:g}× faster than every frame "
            f"({long // 60} min): {wall:.1f}× wall, {cpu:.1f}× CPU "
            f"{verdict(wall >= GOALS['speedup'])}"
        )
        out.append(
            f"- peak RSS ≤{GOALS['peak_rss_mb']:g} MB (python + ffmpeg, 1 FPS, "
            f"{long // 60} min): {fast.rss_sum:.0f} MB "
            f"{verdict(fast.rss_sum <= GOALS['peak_rss_mb'])}"
        )
    short = find("vctext-1fps", 60)
    if fast and short and long != 60:
        growth = fast.rss_sum / short.rss_sum
        out.append(
            f"- RSS at 10 min ≤{GOALS['rss_growth']:g}× RSS at 1 min (python + ffmpeg, "
            f"1 FPS): {fast.rss_sum:.0f} / {short.rss_sum:.0f} MB = {growth:.2f}× "
            f"{verdict(growth <= GOALS['rss_growth'])}"
        )
    for r in rows:
        if r.case in ("describe", "describe-asr") and r.seconds == long:
            what = "default perceivers" if r.case == "describe" else "speech only"
            source = r.video.name.split("_")[0]
            xrt = long / r.result["wall_s"]
            out.append(
                f"- offline `describe` ≥{GOALS['describe_xrt']:g}× real time ({long // 60} min "
                f"{source}, {what}): {xrt:.1f}× {verdict(xrt >= GOALS['describe_xrt'])}"
            )
    return out


DEFAULT_KEYINT = 60
FOOTNOTE = (
    "python peak RSS: the measured Python process (VmHWM at the end); ffmpeg peak RSS: the "
    "largest peak (VmHWM, polled every 20 ms) of its ffmpeg/ffprobe children; goals on RSS use "
    "their sum. CPU s: user + system of both. The every-frame 10-min rows stream their frames "
    "(holding 10 min would need "
    f"~{600 * RATE * WIDTH * HEIGHT * 3 / 2**30:.0f} GiB); the held row shows the 1-min cost."
)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--case":
        run_case_here(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1-min video only")
    parser.add_argument("--no-describe", action="store_true", help="skip the end-to-end rows")
    parser.add_argument(
        "--describe-only", action="store_true", help="only the end-to-end `describe` rows"
    )
    parser.add_argument(
        "--no-gop1", action="store_true", help="skip the extra rows on a 1-s GOP video"
    )
    args = parser.parse_args()
    for tool in ("ffmpeg", "ffprobe", "espeak-ng"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: install it (apt-get install {tool})")

    long = 60 if args.quick else 600
    print("generating inputs (cached in benchmarks/out/) ...", file=sys.stderr, flush=True)
    gop2 = {s: make_video(video_path(s, DEFAULT_KEYINT), s, DEFAULT_KEYINT) for s in {60, long}}
    gop1 = None
    if not (args.no_gop1 or args.describe_only):
        gop1 = make_video(video_path(long, 30), long, 30)
    label = {v: "2-s GOP (`-g 60`)" for v in gop2.values()}
    if gop1:
        label[gop1] = "1-s GOP (`-g 30`)"

    footage = None if args.no_describe else make_footage(footage_path(long), long)
    talk = None if args.no_describe else make_talk(talk_path(long), long)
    if footage and talk:
        label[footage] = "footage, 2-s GOP"
        label[talk] = "talk (still picture), 2-s GOP"

    load = os.getloadavg()[0]
    rows = []
    if not args.describe_only:
        rows += [
            measure("every-frame", gop2[long], long),
            measure("every-frame-held", gop2[60], 60),
            measure("vctext-1fps", gop2[60], 60),
        ]
        if long != 60:
            rows.append(measure("vctext-1fps", gop2[long], long))
        if gop1:
            rows += [measure("every-frame", gop1, long), measure("vctext-1fps", gop1, long)]
    if not args.no_describe:
        rows += [
            measure("describe", gop2[long], long),
            measure("describe-asr", gop2[long], long),
            measure("describe", footage, long),
            measure("describe", talk, long),
        ]

    header = (
        f"Inputs: testsrc2 (and footage: panned photos and street video with titles and "
        f"subtitles, a cut every 30 s) {WIDTH}x{HEIGHT} {RATE} fps, libx264 `-preset {PRESET}` "
        f"yuv420p (High profile, B-frames), AAC with an espeak-ng sentence every "
        f"{SPEECH_EVERY:g} s. "
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}; load average {load:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end (CPU s is the steadier number on a shared machine)."
    )
    report = "\n".join(
        [
            f"## bench_frames{' --quick' if args.quick else ''}",
            "",
            header,
            "",
            table(rows, label),
            "",
            "Goals:",
            *goals(rows, long),
            "",
            FOOTNOTE,
        ]
    )
    print(report)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
