"""Where the speech is: voice activity, cut into the windows a Whisper model hears one at a time.

Handed all the speech of a chunk glued together (faster-whisper's own VAD filter), Whisper wrote
lines that ran across the silences between sentences, up to two minutes long, so most sentences
had no line at their time; handed long silence, it may invent text in the quiet. So the speech is
found first (Silero VAD) and each window the recognizer hears is a stretch of the real audio, up
to ``MAX_WINDOW`` seconds, that starts and ends in a pause: every time it reports is a real time,
and no line can run across a long silence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
#: Longest window handed to the recognizer, seconds: under Whisper's 30 s so one pass reads it.
MAX_WINDOW = 28.0
#: Speech regions closer than this (seconds) share a window: context helps short phrases.
JOIN_GAP = 2.0
#: A region ending this close to the end of the audio seen so far may go on in the next chunk.
OPEN_END = 1.0
#: Silence a region must be followed by to end there (ms); shorter pauses stay inside it.
MIN_SILENCE_MS = 500
#: Padding added on each side of a region (ms), so first and last sounds are heard whole.
PAD_MS = 300


@dataclass(frozen=True)
class Window:
    """Samples ``[start, end)`` of the audio to transcribe as one piece."""

    start: int
    end: int


def speech_regions(samples: np.ndarray, threshold: float = 0.5) -> list[tuple[int, int]] | None:
    """Sample ranges that hold speech, or None when no voice-activity model is installed.

    Uses the Silero VAD that faster-whisper ships (ONNX, one thread).
    """
    try:
        from faster_whisper.vad import VadOptions, get_speech_timestamps
    except ImportError:
        return None
    options = VadOptions(
        threshold=threshold,
        min_silence_duration_ms=MIN_SILENCE_MS,
        speech_pad_ms=PAD_MS,
        max_speech_duration_s=MAX_WINDOW,
        min_speech_duration_ms=200,
    )
    found = get_speech_timestamps(samples, options)
    return [(int(r["start"]), int(r["end"])) for r in found]


def windows(regions: list[tuple[int, int]], total: int) -> list[Window]:
    """Join neighbouring regions into windows of at most ``MAX_WINDOW`` seconds of real audio."""
    out: list[Window] = []
    limit = int(MAX_WINDOW * SAMPLE_RATE)
    gap = int(JOIN_GAP * SAMPLE_RATE)
    for start, end in regions:
        start, end = max(0, start), min(total, end)
        if end <= start:
            continue
        if out and start - out[-1].end <= gap and end - out[-1].start <= limit:
            out[-1] = Window(out[-1].start, max(out[-1].end, end))
        else:
            out.append(Window(start, end))
    return out


def split_open_end(found: list[Window], total: int, final: bool) -> tuple[list[Window], int]:
    """The windows safe to transcribe now, and where the audio to carry into the next chunk starts.

    A window that reaches into the last ``OPEN_END`` seconds of the audio seen so far may be a
    sentence that goes on in the next chunk: it is carried (from its start) unless this is the
    last chunk, and so is that last second, where speech may be starting. Carrying stops at
    ``MAX_WINDOW`` seconds so a chunk with no pause at all is still transcribed.
    """
    if final:
        return found, total
    tail = max(0, total - int(OPEN_END * SAMPLE_RATE))
    if found and found[-1].end > tail:
        last = found[-1]
        if total - last.start < MAX_WINDOW * SAMPLE_RATE:
            return found[:-1], last.start
        return found, max(last.end, tail)
    return found, tail
