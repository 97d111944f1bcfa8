"""Benchmark: 1-FPS frame sampling vs decoding every frame, and end-to-end offline `describe`.

    python benchmarks/bench_frames.py            # full run: 1-min and 10-min videos (~10 min)
    python benchmarks/bench_frames.py --quick    # 1-min video only (~1 min)

Inputs are generated once with ffmpeg lavfi + espeak-ng into benchmarks/out/ and reused. Every
case runs in its own Python subprocess, so peak RSS is per case. Prints a Markdown table and
writes it to benchmarks/out/results.md. See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

WIDTH, HEIGHT, RATE = 1280, 720, 30
PRESET = "veryfast"
SPEECH_EVERY = 20.0  # seconds between the starts of spoken sentences

SENTENCES = [
    "The ferry to the island leaves at seven thirty from gate four.",
    "Please remember to water the tomatoes before the sun goes down.",
    "Our quarterly report shows that sales grew by twelve percent.",
    "The museum opens at nine and closes at five on weekdays.",
    "A small red boat drifted slowly across the quiet harbor.",
    "Turn left at the bakery and the library is on your right.",
    "The train to the airport has been delayed by twenty minutes.",
    "She painted the kitchen walls a bright shade of yellow.",
    "Add two cups of flour and stir until the batter is smooth.",
    "The weather tomorrow will be cloudy with a chance of rain.",
    "He found an old map hidden inside the wooden chest.",
    "The children built a sandcastle near the edge of the water.",
    "Make sure the battery is fully charged before the hike.",
    "The concert was cancelled because the singer lost her voice.",
    "Every morning the baker opens his shop at six o'clock.",
]

GOALS = {
    "speedup": 10.0,  # 1-FPS sampling vs every frame, 10-min video
    "peak_rss_mb": 300.0,  # python + ffmpeg, 1-FPS sampling of the 10-min video
    "rss_growth": 1.2,  # peak RSS at 10 min / at 1 min
    "describe_xrt": 5.0,  # end-to-end offline describe, x real time
}


# ---------------------------------------------------------------------------------------------
# inputs


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")


def make_speech(path: Path, seconds: float) -> None:
    """A mono wav with one espeak-ng sentence starting every SPEECH_EVERY seconds (from 1 s)."""
    rate = 22050
    track = np.zeros(int(seconds * rate), dtype=np.int16)
    tmp = path.with_suffix(".sentence.wav")
    for i, start in enumerate(np.arange(1.0, seconds - 5.0, SPEECH_EVERY)):
        _run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(tmp),
              SENTENCES[i % len(SENTENCES)]])
        with wave.open(str(tmp)) as w:
            assert w.getframerate() == rate and w.getnchannels() == 1
            clip = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        at = int(start * rate)
        clip = clip[: len(track) - at]
        track[at : at + len(clip)] = clip
    tmp.unlink(missing_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(track.tobytes())


def make_video(path: Path, seconds: int, keyint: int) -> Path:
    """1280x720 30 fps H.264 (libx264 veryfast, yuv420p) with motion and AAC speech; cached."""
    if path.exists() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    speech = path.with_suffix(".speech.wav")
    make_speech(speech, seconds)
    tmp = path.with_suffix(".part.mp4")
    _run([
        "ffmpeg", "-hide_banner", "-nostdin", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={RATE}:duration={seconds}",
        "-i", str(speech),
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", PRESET, "-pix_fmt", "yuv420p",
        *(["-g", str(keyint)] if keyint else []),
        "-c:a", "aac", "-b:a", "96k", "-ar", "44100",
        "-t", str(seconds), "-movflags", "+faststart", str(tmp),
    ])
    speech.unlink(missing_ok=True)
    tmp.rename(path)
    return path


def video_path(seconds: int, keyint: int) -> Path:
    gop = f"g{keyint}" if keyint else "gdefault"
    return OUT / f"testsrc2_{WIDTH}x{HEIGHT}_{RATE}fps_{seconds // 60}min_{gop}.mp4"
