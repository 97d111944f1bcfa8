"""Video I/O: the one place that runs ffmpeg.

Probing, key frames at a low frame rate (plus optional scene-change frames), and 16 kHz mono audio.
Frames and audio are streamed from an ffmpeg pipe, so memory does not grow with video length.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from vctext.errors import FFmpegError, InputError
from vctext.types import AudioChunk, Frame, VideoInfo

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: Frames larger than this (longest side, pixels) are scaled down before perception; boxes are
#: mapped back to source pixels with ``Frame.scale``.
DEFAULT_MAX_SIDE = 1280


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


# ---------------------------------------------------------------------------------------------
# probing


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
    cmd = [prober, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(p)]
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
        [ffmpeg_binary(), "-hide_banner", "-i", str(p)],
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


# ---------------------------------------------------------------------------------------------
# frames


def output_size(info: VideoInfo, max_side: int | None = DEFAULT_MAX_SIDE) -> tuple[int, int]:
    """Size of the frames we decode: display orientation, longest side capped at ``max_side``."""
    width, height = info.display_size
    if max_side and max(width, height) > max_side:
        factor = max_side / max(width, height)
        width, height = max(2, round(width * factor)), max(2, round(height * factor))
    return width, height


def clip_range(info: VideoInfo, start: float | None, end: float | None) -> tuple[float, float]:
    """Validate ``--start/--end`` against the file and return absolute (start, end) seconds."""
    s = float(start or 0.0)
    e = float(end) if end is not None else (info.duration or math.inf)
    if s < 0 or (end is not None and e <= s):
        raise InputError(f"bad time range --start {s:g} --end {e:g}: need 0 <= start < end")
    if info.duration and s >= info.duration:
        raise InputError(
            f"--start {s:g} is past the end of '{info.path}' ({info.duration:.1f} s long)"
        )
    if info.duration:
        e = min(e, info.duration)
    return s, e


def iter_frames(
    info: VideoInfo,
    fps: float = 1.0,
    start: float | None = None,
    end: float | None = None,
    scene_threshold: float | None = None,
    max_side: int | None = DEFAULT_MAX_SIDE,
) -> Iterator[Frame]:
    """Yield RGB frames at ``fps`` (one per 1/fps bucket), plus scene-change frames if asked.

    Times are absolute (seconds from the start of the file), also when ``start`` is given. Each
    sampled frame lies within half an interval of its sample point ``start + k / fps``. Only the
    frames needed are decoded (see :func:`_decode_plan`), and only the selected ones are
    converted to RGB and sent through the pipe.
    """
    import ffmpeg  # ffmpeg-python builds the command line

    if not info.has_video:
        return
    if fps <= 0:
        raise InputError(f"--fps must be positive, got {fps:g}")
    s, e = clip_range(info, start, end)
    width, height = output_size(info, max_side)
    source_width = info.display_size[0]
    skip, shift = _decode_plan(info, fps, s, e, scene_threshold)
    # t is relative to s: sample k takes the first decoded frame from k / fps on, or from
    # (k - _KEY_TOLERANCE) / fps when only keyframes are decoded (one may sit just before k).
    offset = f"+{_KEY_TOLERANCE:g}" if shift else ""
    pick = (
        f"isnan(prev_selected_t)"
        f"+gte(floor(t*{fps:g}{offset})-floor(prev_selected_t*{fps:g}{offset}),1)"
    )
    if scene_threshold:
        pick += f"+gt(scene,{scene_threshold:g})"
    input_args = {"ss": f"{s:.3f}"} if s > 0 else {}
    if math.isfinite(e):
        input_args["t"] = f"{e - s:.3f}"
    if skip:
        input_args["skip_frame"] = skip
    stream = (
        ffmpeg.input(str(info.path), **input_args)
        .video.filter("select", pick)
        .filter("showinfo")
        .filter("scale", width, height)
        .output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="vfr", an=None, sn=None)
    )
    cmd = stream.compile(cmd=ffmpeg_binary())
    cmd[1:1] = ["-hide_banner", "-nostdin", "-loglevel", "info"]
    log.debug("ffmpeg: %s", " ".join(cmd))
    frame_bytes = width * height * 3
    with _FFmpegPipe(cmd) as pipe:
        index = 0
        previous = -math.inf
        while True:
            buf = pipe.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            rel = pipe.pts_time(index)
            time = s + (rel if rel is not None else index / fps)
            image = np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3)
            # A frame in the same 1/fps bucket as the previous one can only be a scene change.
            scene_cut = (
                bool(scene_threshold)
                and math.isfinite(previous)
                and math.floor(time * fps) == math.floor(previous * fps)
            )
            yield Frame(
                time=time,
                image=image,
                index=index,
                is_scene_change=scene_cut,
                scale=source_width / width,
            )
            previous = time
            index += 1
        pipe.finish(f"could not decode frames of '{info.path}'", produced=index > 0)


#: Decoders known to honour ``-skip_frame`` (others decode everything, which is only slower).
_SKIP_FRAME_CODECS = frozenset({"h264", "hevc", "mpeg2video", "mpeg4"})
#: Keyframes-only decoding needs a keyframe this close (in intervals) to every sample point: a
#: margin under the half-interval promise for container timestamp rounding.
_KEY_TOLERANCE = 0.45
#: Skipping non-reference frames (B-frames, mostly) delays a pick by at most the longest run of
#: them, 3-4 frames from common encoders; at this many source frames per interval that stays
#: well under half an interval.
_NOREF_MIN_FRAMES = 8


def _decode_plan(
    info: VideoInfo, fps: float, s: float, e: float, scene_threshold: float | None
) -> tuple[str | None, bool]:
    """Which frames the decoder may skip: ``(skip_frame value or None, shifted buckets?)``.

    Decoding is nearly all the cost of sampling: with keyframes near every sample point only
    those are decoded (often 30x less work); otherwise non-reference frames, which no sample
    needs to rebuild later frames, are skipped when samples are far apart. Scene detection
    compares neighbouring frames, so it keeps every reference frame.
    """
    if info.video_codec not in _SKIP_FRAME_CODECS or not info.fps:
        return None, False
    if not scene_threshold and math.isfinite(e) and info.fps > 2 * fps:
        index = _keyframe_index(info, s, e)
        if index is not None and _near_every_sample(*index, fps, s):
            return "nokey", True
    if info.fps >= _NOREF_MIN_FRAMES * fps:
        return "noref", False
    return None, False


def _near_every_sample(keys: list[float], last: float, fps: float, s: float) -> bool:
    """True when each sample point ``s + k/fps`` up to the last frame has a keyframe close by."""
    keys = sorted(k for k in keys if k >= s)
    i = 0
    for k in range(math.floor((last - s) * fps) + 1):
        point = s + k / fps
        while i < len(keys) and keys[i] < point - _KEY_TOLERANCE / fps:
            i += 1
        if i == len(keys) or keys[i] >= point + _KEY_TOLERANCE / fps:
            return False
    return True


def _keyframe_index(info: VideoInfo, s: float, e: float) -> tuple[list[float], float] | None:
    """Keyframe times and the last frame's time in ``[s, e)``, from the container's packets (no
    decoding), in seconds from the start of the file; None when they cannot be read."""
    prober = ffprobe_binary()
    if not prober:
        return None
    entries = "packet=pts_time,flags:format=start_time"
    cmd = [prober, "-v", "error", "-select_streams", "v:0", "-read_intervals", f"{s:.3f}%{e:.3f}"]
    cmd += ["-show_entries", entries, "-of", "csv=p=0", str(info.path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        return None
    keys, times, origin = [], [], 0.0
    for line in proc.stdout.splitlines():
        pts, sep, flags = line.partition(",")
        try:
            value = float(pts)
        except ValueError:  # N/A: no usable time
            continue
        if not sep:  # the format's start_time: ffmpeg counts output times from it
            origin = value
            continue
        times.append(value)
        if "K" in flags:
            keys.append(value)
    last = max((t for t in times if t < e + origin), default=None)
    if last is None:
        return None
    return [k - origin for k in keys], last - origin


class _FFmpegPipe:
    """Runs ffmpeg, drains stderr on a thread (keeping showinfo times and a tail for errors)."""

    _PTS_RE = re.compile(r"\bn:\s*(\d+).*?\bpts_time:\s*(-?[\d.]+(?:e[-+]?\d+)?)")

    def __init__(self, cmd: list[str]):
        self.cmd = cmd
        self._times: dict[int, float] = {}
        self._tail: deque[str] = deque(maxlen=40)
        self._cond = threading.Condition()
        self._stderr_done = False

    def __enter__(self) -> _FFmpegPipe:
        try:
            self.proc = subprocess.Popen(
                self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise FFmpegError(f"could not start ffmpeg ({self.cmd[0]})", str(exc)) from exc
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()
        return self

    def _drain(self) -> None:
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if "Parsed_showinfo" in line and "pts_time" in line:
                if m := self._PTS_RE.search(line):
                    with self._cond:
                        self._times[int(m[1])] = float(m[2])
                        self._cond.notify_all()
                continue
            self._tail.append(line)
        with self._cond:
            self._stderr_done = True
            self._cond.notify_all()

    def read(self, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = self.proc.stdout.read(n - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def pts_time(self, index: int) -> float | None:
        # showinfo logs a frame before it reaches the pipe, so the line is there or coming soon.
        with self._cond:
            self._cond.wait_for(lambda: index in self._times or self._stderr_done, timeout=10)
            return self._times.pop(index, None)

    def finish(self, message: str, produced: bool) -> None:
        code = self.proc.wait()
        self._thread.join(timeout=5)
        stderr = "\n".join(self._tail)
        if code != 0 and not produced:
            raise FFmpegError(message, stderr)
        if code != 0 or "Invalid data" in stderr or "corrupt" in stderr.lower():
            log.warning("ffmpeg reported problems decoding (output may be partial): %s",
                        FFmpegError(message, stderr))

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


# ---------------------------------------------------------------------------------------------
# audio


def iter_audio(
    info: VideoInfo,
    start: float | None = None,
    end: float | None = None,
    chunk_seconds: float = 600.0,
) -> Iterator[AudioChunk]:
    """Yield 16 kHz mono audio in chunks of about ``chunk_seconds``, cut in the quietest spot.

    Cutting in a pause keeps words whole across chunks, so long files never sit in memory at once.
    """
    import ffmpeg

    if not info.has_audio:
        return
    s, e = clip_range(info, start, end)
    input_args = {"ss": f"{s:.3f}"} if s > 0 else {}
    if math.isfinite(e):
        input_args["t"] = f"{e - s:.3f}"
    cmd = (
        ffmpeg.input(str(info.path), **input_args)
        .audio.output("pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=SAMPLE_RATE)
        .compile(cmd=ffmpeg_binary())
    )
    cmd[1:1] = ["-hide_banner", "-nostdin", "-loglevel", "error"]
    chunk_samples = int(chunk_seconds * SAMPLE_RATE)
    pending = np.zeros(0, dtype=np.int16)
    offset = s
    produced = False
    with _FFmpegPipe(cmd) as pipe:
        while True:
            buf = pipe.read(chunk_samples * 2)
            if buf:
                pending = np.concatenate([pending, np.frombuffer(buf, dtype=np.int16)])
            last = len(buf) < chunk_samples * 2
            if last:
                if len(pending):
                    produced = True
                    yield AudioChunk(offset, pending.astype(np.float32) / 32768.0)
                break
            cut = _quietest_cut(pending, search=min(len(pending) // 4, 10 * SAMPLE_RATE))
            produced = True
            yield AudioChunk(offset, pending[:cut].astype(np.float32) / 32768.0)
            offset += cut / SAMPLE_RATE
            pending = pending[cut:]
        pipe.finish(f"could not decode the audio of '{info.path}'", produced=produced)


def _quietest_cut(samples: np.ndarray, search: int, window: int = SAMPLE_RATE // 10) -> int:
    """Index of the start of the quietest ``window`` within the last ``search`` samples."""
    if search < window * 2:
        return len(samples)
    tail = samples[len(samples) - search :].astype(np.float32)
    usable = len(tail) // window * window
    energy = np.square(tail[:usable]).reshape(-1, window).mean(axis=1)
    return len(samples) - search + int(np.argmin(energy)) * window + window // 2
