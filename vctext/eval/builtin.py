"""The built-in known-answer suite of ``vctext eval --builtin``, made here at run time.

Each clip is ffmpeg lavfi colour scenes (so cuts fall at known times), on-screen text drawn with
``drawtext`` and espeak-ng sentences mixed in at known times. Its manifest asks multiple-choice
and open questions whose answers are in the speech or on screen, with the moment each answer
comes from, the transcript, the on-screen strings and the cuts as references. Clips and the
manifest go to ``<cache dir>/eval-builtin/<suite version>/`` and are made once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

from vctext.errors import FFmpegError, InputError
from vctext.probe import ffmpeg_binary

VERSION = "2"
SIZE = "640x360"
#: Fonts tried for on-screen text; without one, ffmpeg's fontconfig default is used.
FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    "C:/Windows/Fonts/arialbd.ttf",
)


@dataclass(frozen=True)
class Scene:
    colour: str
    seconds: float
    text: str  # drawn on screen for the whole scene ("" for none)


@dataclass(frozen=True)
class Clip:
    name: str
    scenes: tuple[Scene, ...]
    speech: tuple[tuple[float, str], ...]  # (start second, sentence)
    questions: tuple[dict, ...]  # manifest fields; "moment": ("speech", i) or ("scene", i)


CLIPS = (
    Clip(
        "harbour",
        (Scene("navy", 5, "GATE 4"), Scene("darkred", 5, "PLATFORM 9"), Scene("darkgreen", 5, "")),
        (
            (0.5, "The ferry to the island leaves at seven thirty from gate four."),
            (10.5, "Please keep your tickets ready."),
        ),
        (
            {
                "question": "From which gate does the ferry leave?",
                "options": ["gate two", "gate four", "gate nine", "gate seven"],
                "answer": "B",
                "moment": ("speech", 0),
            },
            {
                "question": "What time does the ferry leave?",
                "options": ["six fifteen", "eight o'clock", "seven thirty", "nine forty-five"],
                "answer": "C",
                "moment": ("speech", 0),
            },
            {
                "question": "Which platform number is written on the screen?",
                "options": ["platform 9", "platform 2", "platform 5"],
                "answer": "A",
                "moment": ("scene", 1),
            },
            {
                "question": "Where does the ferry go?",
                "answer": "to the island",
                "moment": ("speech", 0),
            },
            {
                "question": "What should passengers keep ready?",
                "answer": "their tickets",
                "moment": ("speech", 1),
            },
            {
                "question": "Which gate is named for the ferry?",
                "answer": "gate four",
                "moment": ("speech", 0),
            },
            {
                "question": "When is the ferry's departure time announced?",
                "answer": "seven thirty",
                "moment": ("speech", 0),
            },
        ),
    ),
    Clip(
        "kitchen",
        (Scene("black", 6, "SOUP OF THE DAY"), Scene("orange", 6, "OPEN 9 TO 5")),
        (
            (1.0, "Today we are cooking tomato soup with fresh basil."),
            (7.0, "The shop closes at five in the evening."),
        ),
        (
            {
                "question": "What soup is being cooked?",
                "options": ["onion soup", "pea soup", "tomato soup"],
                "answer": "C",
                "moment": ("speech", 0),
            },
            {
                "question": "When does the shop close?",
                "options": ["at noon", "at five in the evening", "at midnight"],
                "answer": "B",
                "moment": ("speech", 1),
            },
            {
                "question": "Which herb goes into the soup?",
                "answer": "basil",
                "moment": ("speech", 0),
            },
            {
                "question": "What are the opening hours shown on the sign?",
                "answer": "9 to 5",
                "moment": ("scene", 1),
            },
        ),
    ),
    Clip(
        "museum",
        (
            Scene("midnightblue", 6, "ROOM 12"),
            Scene("dimgray", 6, "NO FLASH"),
            Scene("teal", 6, ""),
        ),
        (
            (0.5, "Welcome to the city museum. The dinosaur hall is on the second floor."),
            (6.5, "You may take photos, but please do not use a flash."),
            (12.5, "The guided tour starts at eleven in the morning."),
        ),
        (
            {
                "question": "Which hall is on the second floor?",
                "answer": "dinosaur",
                "moment": ("speech", 0),
            },
            {
                "question": "What must visitors not use when they take photos?",
                "answer": "flash",
                "moment": ("speech", 1),
            },
            {
                "question": "When does the guided tour start?",
                "options": ["at nine", "at eleven in the morning", "at two in the afternoon"],
                "answer": "B",
                "moment": ("speech", 2),
            },
            {
                "question": "At what time does the guided tour start?",
                "answer": "eleven",
                "moment": ("speech", 2),
            },
            {
                "question": "Which room number is written on the screen?",
                "answer": "12",
                "moment": ("scene", 0),
            },
        ),
    ),
)


def _font() -> str:
    for path in FONTS:
        if Path(path).is_file():
            return f":fontfile='{path}'"
    return ":font=Sans"


def _speak(text: str, path: Path) -> float:
    """``text`` spoken by espeak-ng into ``path``; its length in seconds."""
    espeak = shutil.which("espeak-ng") or shutil.which("espeak")
    if espeak is None:
        raise InputError(
            "the built-in suite needs espeak-ng for its speech: apt-get install espeak-ng"
        )
    subprocess.run([espeak, "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def _make_clip(clip: Clip, folder: Path) -> tuple[Path, list[float]]:
    """The clip's video and the length of each of its sentences."""
    args: list[str] = []
    graph: list[str] = []
    for i, scene in enumerate(clip.scenes):
        args += ["-f", "lavfi", "-i", f"color=c={scene.colour}:s={SIZE}:r=25:d={scene.seconds}"]
        text = (
            f",drawtext=text='{scene.text}'{_font()}:fontsize=44:fontcolor=white"
            ":x=(w-text_w)/2:y=h*0.7"
            if scene.text
            else ""
        )
        graph.append(f"[{i}:v]format=yuv420p{text}[v{i}]")
    n = len(clip.scenes)
    graph.append("".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]")
    lengths = []
    for j, (start, sentence) in enumerate(clip.speech):
        wav = folder / f"{clip.name}-{j}.wav"
        lengths.append(_speak(sentence, wav))
        args += ["-i", str(wav)]
        ms = int(start * 1000)
        graph.append(f"[{n + j}:a]adelay={ms}|{ms}[a{j}]")
    k = len(clip.speech)
    total = sum(s.seconds for s in clip.scenes)
    graph.append(
        "".join(f"[a{j}]" for j in range(k))
        + f"amix=inputs={k}:duration=longest,volume={k},apad,atrim=0:{total}[a]"
    )
    out = folder / f"{clip.name}.mp4"
    cmd = [ffmpeg_binary(), "-y", "-hide_banner", "-loglevel", "error", *args]
    cmd += ["-filter_complex", ";".join(graph), "-map", "[v]", "-map", "[a]", "-t", str(total)]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    proc = subprocess.run([*cmd, str(out)], capture_output=True, text=True)
    for j in range(k):
        (folder / f"{clip.name}-{j}.wav").unlink(missing_ok=True)
    if proc.returncode != 0:
        raise FFmpegError(f"ffmpeg could not make the built-in clip {out.name}", proc.stderr)
    return out, lengths


def manifest_rows(clip: Clip, video: str, lengths: list[float]) -> list[dict]:
    """The clip's questions as manifest rows, with their moments and references."""
    cuts, t = [], 0.0
    for scene in clip.scenes[:-1]:
        t += scene.seconds
        cuts.append(t)
    starts = [0.0, *cuts]
    rows = []
    for n, q in enumerate(clip.questions):
        kind, index = q["moment"]
        if kind == "speech":
            start = clip.speech[index][0]
            end = start + lengths[index]
        else:
            start = starts[index]
            end = start + clip.scenes[index].seconds
        row = {k: v for k, v in q.items() if k != "moment"}
        rows.append(
            {
                "id": f"{clip.name}-{n}",
                "video": video,
                **row,
                "start": round(start, 2),
                "end": round(end, 2),
                "transcript": " ".join(s for _, s in clip.speech),
                "text_on_screen": [s.text for s in clip.scenes if s.text],
                "cuts": cuts,
            }
        )
    return rows


def builtin_manifest(folder: Path | None = None) -> Path:
    """The suite's manifest (JSONL), its clips made first when they are not there yet."""
    if folder is None:
        from vctext.cache import cache_dir

        folder = cache_dir() / "eval-builtin" / VERSION
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.jsonl"
    if manifest.is_file():
        return manifest
    rows = []
    for clip in CLIPS:
        video, lengths = _make_clip(clip, folder)
        rows += manifest_rows(clip, video.name, lengths)
    tmp = folder / "manifest.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(manifest)  # last, so a half-made suite is made again
    return manifest
