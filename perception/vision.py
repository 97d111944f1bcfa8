"""Box arithmetic the frame perceivers share, and how many frames a CPU forward pass takes.

Boxes are ``[x1, y1, x2, y2]`` in pixels; plain numpy, so it runs without any model. The frame
perceivers' base classes are in :mod:`vctext.perception.base`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import numpy as np

from vctext.types import Frame

T = TypeVar("T")

#: Frames per forward pass on CPU. Larger batches spill the activations out of the CPU caches:
#: measured on EfficientNet-Lite0 and YOLOv3-tiny, 8 frames cost up to twice the time per frame
#: of 2-4 (benchmarks/bench_perceivers.py). GPUs take the whole batch.
CPU_CHUNK = 4


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
