"""Video I/O: with ``vctext.probe``, the one place that runs ffmpeg.

Key frames at a low frame rate (plus optional scene-change frames) and 16 kHz mono audio, streamed
from an ffmpeg pipe, so memory does not grow with video length.
"""

from __future__ import annotations

import logging
import math
import subprocess
from collections.abc import Iterator

import numpy as np

from vctext.config import default
from vctext.errors import InputError
from vctext.ffmpeg_pipe import DecodeReport, FFmpegPipe
from vctext.probe import check_input_path, ffmpeg_binary, ffprobe_binary, media_url, probe
from vctext.types import AudioChunk, Frame, VideoInfo

__all__ = [
    "check_input_path",
    "ffmpeg_binary",
    "ffprobe_binary",
    "probe",
    "iter_frames",
    "iter_audio",
    "clip_range",
    "output_size",
    "SAMPLE_RATE",
    "DecodeReport",
]

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


# ---------------------------------------------------------------------------------------------
# frames


def output_size(info: VideoInfo, max_side: int | None = default("max_side")) -> tuple[int, int]:
    """Size of the frames we decode: display orientation, longest side capped at ``max_side``.

    Larger frames are scaled down before perception; boxes are mapped back to source pixels with
    ``Frame.scale``.
    """
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
    fps: float = default("fps"),
    start: float | None = None,
    end: float | None = None,
    scene_threshold: float | None = None,
    max_side: int | None = default("max_side"),
    report: DecodeReport | None = None,
) -> Iterator[Frame]:
    """Yield RGB frames at ``fps`` (one per 1/fps bucket), plus scene-change frames if asked.

    Times are absolute (seconds from the start of the file), also when ``start`` is given. Each
    sampled frame lies within half an interval of its sample point ``start + k / fps``. Only the
    frames needed are decoded (see :func:`_decode_plan`), and only the selected ones are
    converted to RGB and sent through the pipe. Decoding errors go to ``report`` when given
    (else they are logged as a warning).
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
        ffmpeg.input(media_url(info.path), **input_args)
        .video.filter("select", pick)
        .filter("showinfo")
        .filter("scale", width, height)
        .output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="vfr", an=None, sn=None)
    )
    cmd = stream.compile(cmd=ffmpeg_binary())
    cmd[1:1] = ["-hide_banner", "-nostdin", "-loglevel", "info"]
    log.debug("ffmpeg: %s", " ".join(cmd))
    frame_bytes = width * height * 3
    with FFmpegPipe(cmd) as pipe:
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
        errors = pipe.finish(f"could not decode frames of '{info.path}'", produced=index > 0)
        if report is not None:
            reached = previous + 1.0 / fps if math.isfinite(previous) else s
            report.add(errors, reached, e, slack=1.5 / fps)
        elif errors:
            log.warning("ffmpeg reported problems decoding (output may be partial): %s", errors[0])


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
    cmd += ["-show_entries", entries, "-of", "csv=p=0", media_url(info.path)]
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


# ---------------------------------------------------------------------------------------------
# audio


def iter_audio(
    info: VideoInfo,
    start: float | None = None,
    end: float | None = None,
    chunk_seconds: float = default("asr_chunk_seconds"),
    report: DecodeReport | None = None,
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
    # Samples follow the stream's timestamps, not the count of decoded samples: a track that
    # starts late is preceded by silence, a gap (lost or corrupt packets) is filled with silence
    # and overlaps are dropped, so sample n is always heard at s + n / SAMPLE_RATE.
    cmd = (
        ffmpeg.input(media_url(info.path), **input_args)
        .audio.filter("aresample", SAMPLE_RATE, **{"async": 1, "first_pts": 0})
        .output("pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=SAMPLE_RATE)
        .compile(cmd=ffmpeg_binary())
    )
    cmd[1:1] = ["-hide_banner", "-nostdin", "-loglevel", "error"]
    chunk_samples = int(chunk_seconds * SAMPLE_RATE)
    pending = np.zeros(0, dtype=np.int16)
    offset = s
    produced = False
    with FFmpegPipe(cmd) as pipe:
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
        errors = pipe.finish(f"could not decode the audio of '{info.path}'", produced=produced)
        if report is not None:
            # An audio track may end before the video does: only errors say it was cut short.
            report.add(errors, offset + len(pending) / SAMPLE_RATE, e, slack=1.0)
        elif errors:
            log.warning("ffmpeg reported problems decoding (output may be partial): %s", errors[0])


def _quietest_cut(samples: np.ndarray, search: int, window: int = SAMPLE_RATE // 10) -> int:
    """Index of the start of the quietest ``window`` within the last ``search`` samples."""
    if search < window * 2:
        return len(samples)
    tail = samples[len(samples) - search :].astype(np.float32)
    usable = len(tail) // window * window
    energy = np.square(tail[:usable]).reshape(-1, window).mean(axis=1)
    return len(samples) - search + int(np.argmin(energy)) * window + window // 2
