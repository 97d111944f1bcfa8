"""What the frame perceivers share: a base class with tunable defaults, and box arithmetic.

Boxes are ``[x1, y1, x2, y2]`` in pixels; plain numpy, so it runs without any model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from vctext.perception.base import Modality, Perceiver
from vctext.types import Frame, Observation

T = TypeVar("T")

#: Frames per forward pass on CPU. Larger batches spill the activations out of the CPU caches:
#: measured on EfficientNet-Lite0 and YOLOv3-tiny, 8 frames cost up to twice the time per frame
#: of 2-4 (benchmarks/bench_perceivers.py). GPUs take the whole batch.
CPU_CHUNK = 4


class FramePerceiver(Perceiver):
    """A perceiver of sampled frames whose ``defaults`` may be overridden by options.params.

    Every parameter, default or given, is part of the cache key: it changes the output.
    """

    modality = Modality.FRAMES
    extra = "vision-offline"


#: Parameters of every :class:`StillAware` perceiver (added to its own defaults).
STILL_DEFAULTS: dict[str, Any] = {
    # Largest change (0-255 grey levels, cells of about 20x20 pixels of a 1280-wide frame) under
    # which a frame shows the same picture as the last one the model ran on and takes its result;
    # 0 runs the model on every frame. A talking head moves cells by a few levels, a hand raised
    # or a slide changed by tens.
    "reuse_diff": 10.0,
    "reuse_max": 10.0,  # seconds after which the model runs again anyway
}


class Stills:
    """Remembers the last frame a model ran on, to tell which later frames show the same picture."""

    def __init__(self, max_diff: float, max_age: float):
        self.max_diff, self.max_age = max_diff, max_age
        self.reset()

    def reset(self) -> None:
        self.thumb: np.ndarray | None = None
        self.time = -math.inf
        self.result: Any = None  # the model's result for that frame, kept by the caller

    def fresh(self, frames: Sequence[Frame]) -> list[bool]:
        """For each frame in order: True where the model must run (the picture changed)."""
        out = []
        for frame in frames:
            thumb = frame.thumbnail
            same = (
                self.max_diff > 0
                and self.thumb is not None
                and self.thumb.shape == thumb.shape
                and 0 <= frame.time - self.time <= self.max_age
                and int(np.abs(thumb - self.thumb).max()) <= self.max_diff
            )
            if not same:
                self.thumb, self.time = thumb, frame.time
            out.append(not same)
        return out


class StillAware(FramePerceiver):
    """A frame perceiver that runs its model only on frames whose picture changed.

    Subclasses implement ``infer(frames)`` (the model: one result per frame) and
    ``observe(frame, result)`` (observations of one frame from a result, its own or a reused
    one). ``model_frames`` counts the frames the model ran on.
    """

    def __init__(self, options):
        super().__init__(options)
        self.stills = Stills(float(self.params["reuse_diff"]), float(self.params["reuse_max"]))
        self.model_frames = 0

    def infer(self, frames: list[Frame]) -> list[Any]:
        raise NotImplementedError

    def observe(self, frame: Frame, result: Any) -> list[Observation]:
        raise NotImplementedError

    def process(self, batch: list[Frame]) -> list[Observation]:
        fresh = self.stills.fresh(batch)
        changed = [frame for frame, new in zip(batch, fresh, strict=True) if new]
        results = iter(self.infer(changed) if changed else [])
        self.model_frames += len(changed)
        out: list[Observation] = []
        for frame, new in zip(batch, fresh, strict=True):
            if new:
                self.stills.result = next(results)
            out += self.observe(frame, self.stills.result)
        return out

    def finish(self) -> list[Observation]:
        self.stills.reset()
        return []


def chunks(items: Sequence[T], size: int | None) -> Iterator[Sequence[T]]:
    """``items`` in consecutive pieces of at most ``size`` (all at once when size is None)."""
    step = size or max(len(items), 1)
    for i in range(0, len(items), step):
        yield items[i : i + step]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N x 4) with every box in ``b`` (M x 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> list[int]:
    """Indices kept by per-class greedy non-maximum suppression, highest score first."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(boxes), dtype=bool)
    overlaps = iou_matrix(boxes, boxes)
    same_class = np.asarray(classes)[:, None] == np.asarray(classes)[None, :]
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= same_class[i] & (overlaps[i] > iou)
    return keep


def to_source(box, frame: Frame) -> tuple[int, int, int, int]:
    """A box in frame pixels as integer source pixels, clipped to the source picture."""
    width, height = frame.width * frame.scale, frame.height * frame.scale
    x1, y1, x2, y2 = (float(v) * frame.scale for v in box)
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    return round(x1), round(y1), round(x2), round(y2)
