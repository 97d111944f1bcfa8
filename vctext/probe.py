"""Probing media files with ffmpeg: duration, frame rate, size, rotation and streams.

Uses ffprobe when it is installed, else parses ``ffmpeg -i`` (imageio-ffmpeg ships no ffprobe).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from vctext.errors import InputError
from vctext.types import VideoInfo


@lru_cache(maxsize=1)
def ffmpeg_binary() -> str:
    """The ffmpeg to run: $VCTEXT_FFMPEG, else the system one, else the one imageio-ffmpeg ships."""
    configured = os.environ.get("VCTEXT_FFMPEG")
    if configured:
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - imageio-ffmpeg is a base dependency
        raise InputError(
            "ffmpeg not found: install it (apt-get install ffmpeg) or pip install imageio-ffmpeg"
        ) from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


@lru_cache(maxsize=1)
def ffprobe_binary() -> str | None:
    """ffprobe beside the chosen ffmpeg, if there is one (imageio-ffmpeg ships none)."""
    if os.environ.get("VCTEXT_NO_FFPROBE"):
        return None
    sibling = Path(ffmpeg_binary()).with_name("ffprobe")
    if sibling.exists():
        return str(sibling)
    return shutil.which("ffprobe")


def media_url(path: str | os.PathLike) -> str:
    """``path`` as ffmpeg's ``file:`` URL: a name like ``-report`` or ``x:y.mp4`` is never read as
    an option or another protocol, whatever folder it is in."""
    return "file:" + os.path.abspath(path)


def check_input_path(path: str | os.PathLike) -> Path:
    """Reject paths that cannot be a media file, with a message that says what to do."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: '{p}' (check the path)")
    if p.is_dir():
        raise InputError(f"'{p}' is a directory; pass a video file")
    if p.stat().st_size == 0:
        raise InputError(f"'{p}' is empty (0 bytes); pass a complete video file")
    return p


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read duration, frame rate, size, rotation and which streams a media file has."""
    p = check_input_path(path)
    prober = ffprobe_binary()
    info = _probe_with_ffprobe(prober, p) if prober else _probe_with_ffmpeg(p)
    if not info.has_video and not info.has_audio:
        raise InputError(f"'{p}' has no video or audio stream; pass a video or audio file")
    return info


def _not_media(p: Path, stderr: str) -> InputError:
    tail = stderr.strip().splitlines()[-1] if stderr.strip() else "unknown format"
    if "moov atom not found" in stderr and _looks_like_mp4(p):
        return InputError(f"'{p}' is truncated or incomplete (moov atom not found); re-download it")
    return InputError(f"'{p}' is not a readable video or audio file ({tail.strip()[:160]})")


def _looks_like_mp4(p: Path) -> bool:
    """True when the file starts with an MP4/MOV box (any file named .mp4 gets the mov demuxer)."""
    try:
        with open(p, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


def _probe_with_ffprobe(prober: str, p: Path) -> VideoInfo:
    cmd = [prober, "-v", "error", "-show_format", "-show_streams", "-of", "json", media_url(p)]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        raise _not_media(p, proc.stderr)
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams", [])
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
        ),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = _first_float(
        data.get("format", {}).get("duration"),
        video and video.get("duration"),
        audio and audio.get("duration"),
    )
    fps = width = height = rotation = 0
    if video:
        fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
        width, height = int(video.get("width") or 0), int(video.get("height") or 0)
        rotation = _rotation_from_stream(video)
    return VideoInfo(
        path=str(p),
        duration=duration or 0.0,
        fps=fps or 0.0,
        width=width,
        height=height,
        rotation=rotation,
        has_video=video is not None and width > 0,
        has_audio=audio is not None,
        video_codec=video and video.get("codec_name"),
        audio_codec=audio and audio.get("codec_name"),
    )


_DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d+):([\d.]+)")
_VIDEO_RE = re.compile(r"Stream #\S+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS_RE = re.compile(r"([\d.]+) (fps|tbr)")
_AUDIO_RE = re.compile(r"Stream #\S+.*?: Audio: (\w+)")
_ROTATION_RE = re.compile(r"rotation of (-?[\d.]+) degrees|rotate\s*:\s*(-?\d+)")


def _probe_with_ffmpeg(p: Path) -> VideoInfo:
    """Probe by reading `ffmpeg -i` output, for installs that have ffmpeg but no ffprobe."""
    proc = subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-i", media_url(p)],
        capture_output=True,
        text=True,
        errors="replace",
    )
    err = proc.stderr
    if "Stream #" not in err:
        raise _not_media(p, err)
    duration = 0.0
    if m := _DURATION_RE.search(err):
        duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    video_line = next(
        (ln for ln in err.splitlines() if ": Video: " in ln and "attached pic" not in ln), ""
    )
    width = height = 0
    fps = 0.0
    codec = None
    if m := _VIDEO_RE.search(video_line):
        codec, width, height = m[1], int(m[2]), int(m[3])
        rates = dict((kind, float(v)) for v, kind in _FPS_RE.findall(video_line))
        fps = rates.get("fps") or rates.get("tbr") or 0.0
    rotation = 0
    if video_line and (m := _ROTATION_RE.search(err)):
        rotation = _normalize_rotation(-float(m[1]) if m[1] else float(m[2]))
    audio = _AUDIO_RE.search(err)
    return VideoInfo(
        path=str(p),
        duration=duration,
        fps=fps,
        width=width,
        height=height,
        rotation=rotation,
        has_video=width > 0,
        has_audio=audio is not None,
        video_codec=codec,
        audio_codec=audio[1] if audio else None,
    )


def _first_float(*values) -> float | None:
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f) and f > 0:
            return f
    return None


def _rate(text: str | None) -> float:
    if not text or text in ("0/0", "N/A"):
        return 0.0
    num, _, den = text.partition("/")
    try:
        return float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0


def _rotation_from_stream(stream: dict) -> int:
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return _normalize_rotation(-float(side["rotation"]))
    rotate = (stream.get("tags") or {}).get("rotate")
    return _normalize_rotation(float(rotate)) if rotate else 0


def _normalize_rotation(degrees: float) -> int:
    return int(round(degrees / 90.0)) * 90 % 360
