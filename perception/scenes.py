"""Scene cuts from the sampled frames: PySceneDetect's content detector plus a histogram check.

Each frame is shrunk and turned into HSV. Two numbers compare consecutive sampled frames: the
content score (mean absolute difference of hue, saturation and value, 0-255, as PySceneDetect's
ContentDetector) and the HSV histogram distance (1 - histogram intersection, 0-1). Frames are
sampled about a second apart, so ordinary motion already moves the content score past
PySceneDetect's 27; the histogram, blind to where things are, tells motion from a new shot. A cut
needs both at or above their thresholds and is observed as ``scene`` at the later frame's time,
with the new scene's number. No model weights: only OpenCV's colour conversion and histograms.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vctext.perception.base import FramePerceiver, ModelSpec
from vctext.types import Frame, Observation

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {
    "threshold": 27.0,  # content score, PySceneDetect's default
    "hist_threshold": 0.4,  # histogram distance; within-shot motion at 1 fps stays under ~0.35
    "min_gap": 0.5,  # seconds between two cuts, at least
}
#: Hue, saturation and value bins of the histogram.
HIST_BINS = (16, 4, 4)

#: Frames are shrunk to this width first: faster, and less sensitive to noise and fine motion.
WORK_WIDTH = 160


def hsv_thumbnail(image: np.ndarray, width: int = WORK_WIDTH) -> np.ndarray:
    """RGB uint8 image → small HSV uint8 image (hue 0-179, as OpenCV gives it)."""
    import cv2

    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(
            image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA
        )
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)


def hsv_histogram(hsv: np.ndarray, bins: tuple[int, int, int] = HIST_BINS) -> np.ndarray:
    """Normalised joint HSV histogram (sums to 1)."""
    codes = [
        np.minimum(hsv[..., c].astype(np.int64) * n // top, n - 1)
        for c, (n, top) in enumerate(zip(bins, (180, 256, 256), strict=True))
    ]
    flat = (codes[0] * bins[1] + codes[1]) * bins[2] + codes[2]
    hist = np.bincount(flat.ravel(), minlength=int(np.prod(bins))).astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def content_score(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute HSV difference of two thumbnails (0 same, up to 255)."""
    if a.shape != b.shape:
        return 255.0  # a change of size mid-stream is a new source
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(diff.reshape(-1, 3).mean(axis=0).mean())


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - intersection of two normalised histograms (0 same colours, 1 nothing shared)."""
    return float(1.0 - np.minimum(a, b).sum())


class CutFinder:
    """Says, frame after frame, whether the scores against the previous frame make a cut."""

    def __init__(self, threshold: float, hist_threshold: float, min_gap: float):
        self.threshold = threshold
        self.hist_threshold = hist_threshold
        self.min_gap = min_gap
        self.scene = 1
        self.last_cut = -float("inf")

    def is_cut(self, time: float, content: float, hist: float) -> bool:
        if content < self.threshold or hist < self.hist_threshold:
            return False
        if time - self.last_cut < self.min_gap:
            return False
        self.scene += 1
        self.last_cut = time
        return True


class ContentScenes(FramePerceiver):
    """Cuts between consecutive sampled frames whose HSV content differs enough."""

    requires = ("cv2",)

    name = "scenes"
    kind = "scene"
    backend = "content"
    defaults = DEFAULTS
    models = (
        ModelSpec(
            "hsv-content",
            "pypi:opencv-python-headless",
            0,
            "Apache-2.0",
            profiles=("offline",),
            note="no weights: HSV content difference between frames",
        ),
    )

    def load(self) -> None:
        self.require("cv2")
        self._reset()

    def _reset(self) -> None:
        p = self.params
        self.cuts = CutFinder(
            float(p["threshold"]), float(p["hist_threshold"]), float(p["min_gap"])
        )
        self.previous: tuple[float, np.ndarray, np.ndarray] | None = None

    def process(self, batch: list[Frame]) -> list[Observation]:
        out = []
        for frame in batch:
            thumb = hsv_thumbnail(frame.image)
            hist = hsv_histogram(thumb)
            if self.previous is not None:
                before, last_thumb, last_hist = self.previous
                content = content_score(last_thumb, thumb)
                distance = histogram_distance(last_hist, hist)
                if self.cuts.is_cut(frame.time, content, distance):
                    out.append(
                        Observation(
                            frame.time,
                            frame.time,
                            self.kind,
                            self.source,
                            f"scene {self.cuts.scene}",
                            score=round(distance, 4),
                            extra={
                                "content_score": round(content, 2),
                                "previous_frame": round(before, 3),
                            },
                        )
                    )
            self.previous = (frame.time, thumb, hist)
        return out

    def finish(self) -> list[Observation]:
        self._reset()
        return []
