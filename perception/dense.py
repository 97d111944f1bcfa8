"""Dense captions: a description and a pixel box for each region a detector finds.

The detector is whichever ``detect`` backend the profiles name (the standard one when its
dependencies are installed, else the offline one), or ``detector="backend:model"``. Each box is
cropped with a small margin and the crops are captioned in batches by the captioner of
:mod:`vctext.perception.caption`. The same region seen again (same track id, or same caption
over an overlapping box) extends one observation instead of adding another, so the output is
held back until ``finish()``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vctext.perception.base import FramePerceiver, PerceiverOptions
from vctext.perception.caption import BLIP_BASE_SPEC, Captioner
from vctext.perception.registry import PROFILES, load_perceiver, perceiver_class
from vctext.perception.vision import iou_matrix
from vctext.types import Frame, Observation

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {
    "detector": None,  # "backend:model"; None: the profiles' detect model (see detector_choice)
    "detector_params": {},  # passed to the detector, e.g. {"min_score": 0.3}
    "margin": 0.1,  # of the box size, added on each side before cropping
    "min_side": 16,  # source pixels; smaller boxes are too small to describe
    "max_regions": 8,  # per frame, highest detector score first
    "dedup_iou": 0.5,
    "max_new_tokens": 20,
    "num_beams": 1,
}


def detector_choice(given: str | None) -> tuple[str, str]:
    """(backend, model) of the detector: ``given``, else standard when installed, else offline."""
    if given:
        backend, _, model = given.partition(":")
        return backend, model
    standard, offline = PROFILES["standard"].get("detect"), PROFILES["offline"].get("detect")
    if standard and (
        offline is None or not perceiver_class("detect", standard[0]).missing_dependencies()
    ):
        return standard
    return offline or ("opencv-yolo", "yolov3-tiny")


def crop(frame: Frame, box: tuple[int, int, int, int], margin: float) -> np.ndarray:
    """The region of ``box`` (source pixels) on the frame's image, widened by ``margin``."""
    x1, y1, x2, y2 = (v / frame.scale for v in box)
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(int(x1 - dx), 0), max(int(y1 - dy), 0)
    right, bottom = (
        min(int(np.ceil(x2 + dx)), frame.width),
        min(int(np.ceil(y2 + dy)), frame.height),
    )
    return np.ascontiguousarray(
        frame.image[top : max(bottom, top + 1), left : max(right, left + 1)]
    )


@dataclass
class Region:
    """One described region, open for later sightings."""

    start: float
    end: float
    text: str
    box: tuple[int, int, int, int]
    score: float | None
    track: int | None
    label: str

    def matches(self, text: str, box, track: int | None, iou: float) -> bool:
        if text != self.text:
            return False
        if track is not None and self.track is not None:
            return track == self.track
        return float(iou_matrix(np.array([self.box]), np.array([box]))[0, 0]) >= iou


class RegionKeeper:
    """Mixin: described regions kept open across frames, one observation per distinct region,
    given out by :meth:`described` at the end. ``load`` sets ``self.regions = []``."""

    source: str
    params: dict[str, Any]
    regions: list[Region]

    def add(self, det: Observation, text: str) -> None:
        """Extend the open region this sighting repeats, or open a new one."""
        for region in reversed(self.regions):
            if region.matches(text, det.box, det.track, self.params["dedup_iou"]):
                region.end = max(region.end, det.end)
                region.box = det.box  # latest position
                region.score = max(region.score or 0.0, det.score or 0.0)
                return
        self.regions.append(
            Region(det.start, det.end, text, det.box, det.score, det.track, det.text)
        )

    def described(self) -> list[Observation]:
        out = [
            Observation(
                r.start,
                r.end,
                "dense",
                self.source,
                r.text,
                score=None if r.score is None else round(r.score, 4),
                box=r.box,
                track=r.track,
                extra={"label": r.label} if r.label else {},
            )
            for r in sorted(self.regions, key=lambda r: (r.start, r.box))
        ]
        self.regions = []
        return out


class CropCaptioner(RegionKeeper, FramePerceiver):
    """Detector boxes → margin crops → captions; one observation per distinct region."""

    kind = "dense"
    backend = "crop-caption"
    extra = "vision"
    requires = ("torch", "transformers", "PIL")
    defaults = DEFAULTS
    # Any captioner of ``caption`` works here; the crops use the same weights as frame captions.
    models = (
        replace(
            BLIP_BASE_SPEC,
            profiles=("standard",),
            note="captions the detector's boxes (detector separate)",
        ),
    )

    def cache_params(self) -> dict[str, Any]:
        return {**super().cache_params(), "detector": ":".join(self.detector_choice)}

    @property
    def detector_choice(self) -> tuple[str, str]:
        return detector_choice(self.params["detector"])

    def load(self) -> None:
        backend, model = self.detector_choice
        o = self.options
        self.detector = load_perceiver(
            "detect",
            backend,
            PerceiverOptions(model, o.device, o.batch_size, dict(self.params["detector_params"])),
        )
        self.detector.ensure_loaded()
        self.captioner = self.describer()
        self.regions: list[Region] = []

    def describer(self):
        """What describes the crops: called with a list of crops, one text each; ``close()``."""
        return Captioner(self)

    def select(self, found: list[Observation]) -> list[Observation]:
        """Boxes worth describing: big enough, at most ``max_regions``, best first."""
        p = self.params
        big = [
            d
            for d in found
            if d.box and min(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= p["min_side"]
        ]
        return sorted(big, key=lambda d: -(d.score or 0.0))[: p["max_regions"]]

    def process(self, batch: list[Frame]) -> list[Observation]:
        if not batch:
            return []
        by_time: dict[float, Frame] = {f.time: f for f in batch}
        found: dict[float, list[Observation]] = {f.time: [] for f in batch}
        for det in self.detector.process(batch):
            found[det.start].append(det)
        chosen = [d for dets in found.values() for d in self.select(dets)]
        if not chosen:
            return []
        margin = self.params["margin"]
        captions = self.captioner([crop(by_time[d.start], d.box, margin) for d in chosen])
        for det, text in zip(chosen, captions, strict=True):
            self.add(det, text or det.text)
        return []

    def finish(self) -> list[Observation]:
        self.detector.finish()
        return self.described()

    def close(self) -> None:
        if getattr(self, "captioner", None) is not None:
            self.captioner.close()
            self.detector.close()
            self.captioner = self.detector = None
        super().close()
