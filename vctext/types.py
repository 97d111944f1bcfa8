"""Typed values that cross module boundaries. Times are absolute seconds from the file's start.

What each observation kind *is* lives in :mod:`vctext.kinds`; an observation of a kind not in
that table cannot be made.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from vctext import kinds


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

    def __post_init__(self) -> None:
        kinds.spec(self.kind)  # an unknown kind is an error here, not a line lost later

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
class Item:
    """One item of a time range: what was seen or heard, with the fields renderers need.

    ``box``/``track`` are set on kinds whose spec is ``boxed``; ``count`` is how many alike
    objects one item stands for once boxes are dropped to save room ("person x2").
    """

    text: str
    track: int | None = None
    box: tuple[int, int, int, int] | None = None
    score: float | None = None
    count: int = 1
    #: Who said it ("S1"), when speech is told apart by speaker.
    speaker: str | None = None

    @classmethod
    def of(cls, o: Observation) -> Item:
        """The item an observation shows as (box and track only where its kind has them)."""
        boxed = kinds.spec(o.kind).boxed
        speaker = o.extra.get("speaker")
        return cls(
            o.text,
            track=o.track if boxed else None,
            box=tuple(int(v) for v in o.box) if boxed and o.box is not None else None,
            score=o.score,
            speaker=None if speaker is None else str(speaker),
        )

    def line(self) -> str:
        """The item as one line of plain text, as JSON ``lines`` and the text layout show it."""
        text = self.text
        if self.track is not None:
            text += f" #{self.track}"
        if self.box is not None:
            text += " [" + ",".join(str(int(v)) for v in self.box) + "]"
        if self.count > 1:
            text += f" x{self.count}"
        return text

    def __str__(self) -> str:
        return self.line()

    def replace(self, **changes: Any) -> Item:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Segment:
    """One time range of the merged document and its items, by kind, in block order.

    ``items`` may be given plain strings (each becomes an :class:`Item` with that text);
    ``lines`` is the same as text, the form of the JSON contract and of user templates.
    """

    start: float
    end: float
    items: dict[str, tuple[Item, ...]]

    def __post_init__(self) -> None:
        items = {}
        for kind, values in self.items.items():
            kinds.spec(kind)
            items[kind] = tuple(v if isinstance(v, Item) else Item(str(v)) for v in values)
        object.__setattr__(self, "items", items)

    @cached_property
    def lines(self) -> dict[str, list[str]]:
        """kind -> the items as text lines."""
        return {kind: [item.line() for item in values] for kind, values in self.items.items()}

    def to_json(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "lines": self.lines}
