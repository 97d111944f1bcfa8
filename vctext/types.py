"""Typed values that cross module boundaries. Times are absolute seconds from the file's start."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

#: Every kind of observation a perceiver may emit, in the order the template shows them.
KINDS = ("scene", "caption", "action", "tags", "dense", "detect", "ocr", "asr")


@dataclass(frozen=True)
class VideoInfo:
    """What probing a media file tells us."""

    path: str
    duration: float
    fps: float
    width: int
    height: int
    rotation: int = 0
    has_video: bool = True
    has_audio: bool = False
    video_codec: str | None = None
    audio_codec: str | None = None
    sha256: str | None = None

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown to a viewer (after applying rotation)."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height

    def to_json(self) -> dict[str, Any]:
        width, height = self.display_size
        return {
            "path": self.path,
            "sha256": self.sha256,
            "duration": round(self.duration, 3),
            "fps": round(self.fps, 3),
            "width": width,
            "height": height,
            "rotation": self.rotation,
            "has_video": self.has_video,
            "has_audio": self.has_audio,
        }


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded RGB frame (height x width x 3, uint8) and its absolute time."""

    time: float
    image: np.ndarray
    index: int = 0
    is_scene_change: bool = False
    #: Source pixels per frame pixel: multiply a box found on ``image`` by this for source pixels.
    scale: float = 1.0

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @cached_property
    def thumbnail(self) -> np.ndarray:
        """Grey levels (0-255, int16) averaged over cells, at most THUMB_CELLS across.

        Enough to tell whether two frames show the same picture, with noise averaged out.
        Computed once a frame, shared by every perceiver that asks.
        """
        image = self.image[::2, ::2].astype(np.uint16)  # every other pixel is plenty for a mean
        grey = (image[..., 0] * 77 + image[..., 1] * 150 + image[..., 2] * 29) >> 8
        cell = -(-grey.shape[1] // THUMB_CELLS)  # ceil: at most THUMB_CELLS cells across
        rows, cols = max(1, grey.shape[0] // cell), max(1, grey.shape[1] // cell)
        grey = grey[: rows * cell, : cols * cell]
        return grey.reshape(rows, cell, cols, cell).mean(axis=(1, 3)).astype(np.int16)


#: Cells across a frame's thumbnail (about 20 pixels each on a 1280-wide frame).
THUMB_CELLS = 64


@dataclass(frozen=True, eq=False)
class AudioChunk:
    """Mono float32 samples in [-1, 1] starting at an absolute time.

    ``keep`` is the absolute (start, end) of the range asked for: audio outside it is context for
    the recognizer (a word cut at ``--start`` is heard whole), and what is heard there is dropped.
    """

    start: float
    samples: np.ndarray
    sample_rate: int = 16000
    keep: tuple[float, float] = (-math.inf, math.inf)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Observation:
    """One thing a perceiver noticed, over a time range.

    ``box`` is ``[x1, y1, x2, y2]`` in pixels of the source frame; ``track`` ties observations of
    the same object across frames; ``extra`` holds backend-specific details (JSON-safe values).
    """

    start: float
    end: float
    kind: str
    source: str
    text: str
    score: float | None = None
    box: tuple[int, int, int, int] | None = None
    track: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "kind": self.kind,
            "source": self.source,
            "text": self.text,
            "score": None if self.score is None else round(float(self.score), 4),
            "box": None if self.box is None else [int(v) for v in self.box],
            "track": self.track,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observation:
        box = data.get("box")
        return cls(
            start=float(data["start"]),
            end=float(data["end"]),
            kind=str(data["kind"]),
            source=str(data["source"]),
            text=str(data["text"]),
            score=None if data.get("score") is None else float(data["score"]),
            box=None if box is None else tuple(int(v) for v in box),
            track=data.get("track"),
            extra=dict(data.get("extra") or {}),
        )

    def replace(self, **changes: Any) -> Observation:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Segment:
    """One time range of the merged document and the lines shown for it, by kind."""

    start: float
    end: float
    lines: dict[str, list[str]]

    def to_json(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "lines": self.lines}
