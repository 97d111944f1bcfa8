"""Videos with known sentences at known times, and how well a transcript recovers them.

Shared by the speech tests (tests/test_speech_recall.py) and the speech benchmark
(benchmarks/bench_speech.py): sentences spoken by espeak-ng, placed with ffmpeg over silence, pink
noise or music, so every word and every start time is known.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

#: Sentences without numbers (so a transcript's "7" and "seven" need no normalizing), each one
#: that Whisper tiny.en hears almost word for word when espeak-ng says it.
SENTENCES = (
    "The library closes early on Sundays.",
    "Our meeting moves to the second floor.",
    "The museum opens a new exhibit tomorrow.",
    "Turn left after the old stone bridge.",
    "Call the doctor before noon on Friday.",
    "The garden looks beautiful in the spring.",
    "Please close the window before you leave.",
    "My brother plays the guitar every evening.",
    "The coffee shop on the corner is very busy.",
    "We watched the sunset from the top of the hill.",
    "The children are reading books in the park.",
    "Dinner will be ready in a few minutes.",
)


@dataclass(frozen=True)
class Spoken:
    text: str
    at: float  # seconds from the start of the file
    seconds: float  # how long it is spoken

    @property
    def end(self) -> float:
        return self.at + self.seconds


@dataclass(frozen=True)
class SpeechCase:
    name: str
    path: Path
    duration: float
    spoken: tuple[Spoken, ...]


def _run(*args: str) -> None:
    proc = subprocess.run(
        [shutil.which("ffmpeg") or "ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *args],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)


def _speak(text: str, path: Path) -> float:
    if not path.exists():
        subprocess.run(
            [shutil.which("espeak-ng") or "espeak-ng", "-s", "150", "-w", str(path), text],
            check=True,
        )
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def build_case(
    folder: Path,
    name: str,
    duration: float,
    sentences: list[tuple[str, float]],
    background: str | None = None,
) -> SpeechCase:
    """A video of ``duration`` s with each (sentence, start) spoken, over silence or
    ``background`` ("noise": pink noise, "music": a tune of sine chords) that stops while a
    sentence is spoken. A small grey picture at 5 fps keeps the file small."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.mp4"
    spoken = []
    inputs: list[str] = []
    filters = []
    for i, (text, at) in enumerate(sentences):
        wav = folder / f"say-{SENTENCES.index(text) if text in SENTENCES else abs(hash(text))}.wav"
        spoken.append(Spoken(text, at, _speak(text, wav)))
        inputs += ["-i", str(wav)]
        ms = round(at * 1000)
        filters.append(f"[{i}:a]aresample=16000,adelay={ms}|{ms}[s{i}]")
    n = len(sentences)
    mix = [f"[s{i}]" for i in range(n)]
    if background:
        source = {
            "noise": "anoisesrc=color=pink:amplitude=0.08:sample_rate=16000",
            "music": "aevalsrc='0.06*(sin(2*PI*(220+55*mod(floor(t*2),4))*t)"
            "+sin(2*PI*(330+55*mod(floor(t*2),3))*t))':s=16000",
        }[background]
        quiet = "+".join(f"between(t,{s.at - 0.5:.2f},{s.end + 0.5:.2f})" for s in spoken) or "0"
        inputs += ["-f", "lavfi", "-t", f"{duration}", "-i", source]
        filters.append(f"[{n}:a]volume=0:enable='{quiet}'[bg]")
        mix.append("[bg]")
    filters.append(f"{''.join(mix)}amix=inputs={len(mix)}:normalize=0,apad[a]")
    video = f"color=c=gray:size=160x120:rate=5:duration={duration}"
    _run(
        *inputs,
        "-f",
        "lavfi",
        "-i",
        video,
        "-filter_complex",
        ";".join(filters),
        "-map",
        f"{n + (1 if background else 0)}:v",
        "-map",
        "[a]",
        "-t",
        f"{duration}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(path),
    )
    return SpeechCase(name, path, duration, tuple(spoken))


# -- scoring ------------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


@dataclass(frozen=True)
class Recall:
    found: tuple[bool, ...]  # one per spoken sentence
    wer: float  # word error rate of the whole transcript against all sentences
    invented: tuple[str, ...]  # transcript text heard where nothing was said

    @property
    def recall(self) -> float:
        return sum(self.found) / len(self.found) if self.found else 1.0


def score(heard: list[tuple[float, float, str]], spoken: tuple[Spoken, ...], slack: float = 1.0):
    """How ``heard`` ((start, end, text) segments) matches what was ``spoken``.

    A sentence is found when a segment starts within ``slack`` seconds of it and the segments
    starting during it hold at least half of its words.
    """
    found = []
    used: set[int] = set()
    for s in spoken:
        near = [i for i, (a, _, _) in enumerate(heard) if s.at - slack <= a <= s.end + slack / 2]
        starts_ok = any(abs(heard[i][0] - s.at) <= slack for i in near)
        got = [w for i in near for w in words(heard[i][2])]
        ref = words(s.text)
        overlap = sum(1 for w in set(ref) if w in got) / len(set(ref))
        found.append(starts_ok and overlap >= 0.5)
        used.update(near)
    invented = tuple(heard[i][2] for i in range(len(heard)) if i not in used)
    ref_all = [w for s in sorted(spoken, key=lambda s: s.at) for w in words(s.text)]
    hyp_all = [w for h in sorted(heard) for w in words(h[2])]
    wer = edit_distance(ref_all, hyp_all) / max(1, len(ref_all))
    return Recall(tuple(found), wer, invented)
