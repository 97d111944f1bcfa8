"""Object detection with track ids: ultralytics YOLO (YOLO11/YOLOv8, COCO), batched, fp16 on CUDA.

Any ultralytics detection checkpoint works (``yolo11n.pt``, ``yolov8s.pt``, a path to a
``.pt``, or a model ``.yaml``, which builds random weights: tests use that). Ultralytics
downloads the named release weights on first use; a path needs no network.

Tracking uses :class:`~vctext.perception.tracking.Tracker`, not ultralytics'
``track(persist=True)``: at the ~1 frame per second vctext samples, ByteTrack's IoU matching
against its Kalman prediction loses anything that moves more than about half its width between
samples (a walking person, measured on synthetic detections: the id is dropped on the second
sample), while our tracker falls back to centre distance and keeps the id.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vctext.errors import ModelError
from vctext.perception.base import STILL_DEFAULTS, ModelSpec
from vctext.perception.detect import Detection, TrackingDetector
from vctext.perception.vision import CPU_CHUNK
from vctext.types import Frame

_RELEASES = "github:ultralytics/assets"

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {
    "min_score": 0.35,
    "nms_iou": 0.5,
    "input_size": 640,
    "max_det": 100,
    "track_iou": 0.3,
    "track_gap": 3.0,
    "track_jump": 1.5,
    **STILL_DEFAULTS,
}


def detections(result: Any, names: dict[int, str]) -> list[Detection]:
    """An ultralytics ``Results`` (boxes in the pixels of the image given) → detections."""
    boxes = result.boxes
    if boxes is None or not len(boxes):
        return []
    xyxy = boxes.xyxy.float().cpu().numpy()
    scores = boxes.conf.float().cpu().numpy()
    classes = boxes.cls.cpu().numpy().astype(int)
    return [
        Detection(str(names.get(c, c)), float(s), tuple(float(v) for v in b))
        for b, s, c in zip(xyxy, scores, classes, strict=True)
    ]


class UltralyticsDetector(TrackingDetector):
    """Ultralytics YOLO predict on a batch of frames, then one track id per object over time."""

    requires = ("ultralytics", "torch")
    kind = "detect"
    backend = "ultralytics"
    extra = "vision"
    defaults = DEFAULTS
    models = (
        ModelSpec(
            "yolo11n.pt",
            f"{_RELEASES}/yolo11n.pt",
            5.4,
            "AGPL-3.0",
            profiles=("standard",),
            note="YOLO11 nano, COCO-80; downloaded by ultralytics",
        ),
        ModelSpec(
            "yolov8n.pt",
            f"{_RELEASES}/yolov8n.pt",
            6.2,
            "AGPL-3.0",
            note="YOLOv8 nano, COCO-80; downloaded by ultralytics",
        ),
    )

    def load(self) -> None:
        ultralytics = self.require("ultralytics")
        self.require("torch")
        try:
            self.model = ultralytics.YOLO(self.options.model, task="detect")
        except Exception as exc:  # noqa: BLE001 - ultralytics raises many kinds on a bad model
            raise ModelError(
                f"ultralytics could not load '{self.options.model}': {exc}; give a local .pt "
                "path, or run once where GitHub release downloads are reachable"
            ) from exc
        self.names = dict(self.model.names)
        self.cuda = self.options.device.startswith("cuda")
        # Newer ultralytics replaced `half=True` by `quantize=16`; both mean fp16 compute.
        from ultralytics.cfg import DEFAULT_CFG_DICT

        fp16 = {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}
        self.precision = fp16 if self.cuda else {}

    def forward(self, frames: list[Frame]) -> list[list[Detection]]:
        """Detections per frame, boxes in frame pixels (ultralytics letterboxes and maps back)."""
        p = self.params
        results = self.model.predict(
            [np.ascontiguousarray(f.image[..., ::-1]) for f in frames],  # it takes BGR arrays
            imgsz=int(p["input_size"]),
            conf=float(p["min_score"]),
            iou=float(p["nms_iou"]),
            max_det=int(p["max_det"]),
            device=self.options.device,
            verbose=False,
            **self.precision,
        )
        return [detections(r, self.names) for r in results]

    def chunk_size(self) -> int | None:
        return None if self.cuda else CPU_CHUNK

    def detect(self, frames: list[Frame]) -> list[list[Detection]]:
        return self.forward(frames)

    def close(self) -> None:
        self.model = None
        super().close()
