"""What people are doing: a video classifier (VideoMAE on Kinetics-400 by default) over short clips.

A clip perceiver reads clips, not single frames: :mod:`vctext.runners.clips` decodes frames at
``ClipSpec.fps`` and cuts them into windows of ``ClipSpec.frames`` frames, one window starting
every ``ClipSpec.every`` seconds. Each clip gives its best label(s) as an ``action`` observation
spanning the window. Any transformers video-classification checkpoint works (VideoMAE,
TimeSformer, ViViT), by hub id or local directory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vctext.perception.base import Clip, ClipPerceiver, ClipSpec, ModelSpec
from vctext.perception.hf import load_pretrained, torch_device
from vctext.types import Observation

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {
    "fps": 8.0,  # 16 frames at 8 fps: a 2 s window, close to VideoMAE's Kinetics sampling
    "every": 2.0,  # seconds from one window's start to the next (2 = back to back)
    "still": 1.0,  # no clip while the picture does not move (see the I3D backend)
    "top_k": 1,
    "min_score": 0.15,  # Kinetics has 400 classes: a best score under this is a shrug
}


def top_labels(
    probs: np.ndarray, id2label: dict, top_k: int, min_score: float
) -> list[tuple[str, float]]:
    """The ``top_k`` labels of one clip scoring at least ``min_score``, best first."""
    order = np.argsort(-probs)[:top_k]
    return [
        (str(id2label.get(int(i), id2label.get(str(int(i)), int(i)))), float(probs[i]))
        for i in order
        if probs[i] >= min_score
    ]


class VideoClassifierAction(ClipPerceiver):
    """A transformers video classifier; the clip length is the model's ``num_frames``."""

    kind = "action"
    backend = "transformers"
    extra = "vision"
    requires = ("torch", "transformers")
    defaults = DEFAULTS
    models = (
        ModelSpec(
            "MCG-NJU/videomae-base-finetuned-kinetics",
            "hub:MCG-NJU/videomae-base-finetuned-kinetics",
            345,
            "CC-BY-NC-4.0",
            profiles=("standard",),
            note="VideoMAE base, Kinetics-400, 16 frames",
        ),
    )

    def load(self) -> None:
        self.torch = self.require("torch")
        self.device, self.dtype = torch_device(self)
        self.processor = load_pretrained(self, "AutoImageProcessor")
        self.model = (
            load_pretrained(self, "AutoModelForVideoClassification", dtype=self.dtype)
            .to(self.device)
            .eval()
        )
        self.num_frames = int(getattr(self.model.config, "num_frames", 16))
        self.id2label = dict(self.model.config.id2label)

    def clip_spec(self) -> ClipSpec:
        p = self.params
        fps = float(p["fps"])
        # Windows never overlap: each decoded frame goes to at most one clip.
        every = max(float(p["every"]), self.num_frames / fps)
        return ClipSpec(self.num_frames, fps, every, still=float(p["still"]))

    def preprocess(self, clips: list[Clip]) -> Any:
        videos = [[np.array(f.image) for f in clip.frames] for clip in clips]  # writable
        inputs = self.processor(videos, return_tensors="pt")
        return inputs["pixel_values"].to(self.device, self.dtype)

    def forward(self, pixel_values: Any) -> np.ndarray:
        with self.torch.inference_mode():
            logits = self.model(pixel_values=pixel_values).logits
        return logits.float().softmax(-1).cpu().numpy()

    def process(self, batch: list[Clip]) -> list[Observation]:
        if not batch:
            return []
        p = self.params
        out = []
        for clip, probs in zip(batch, self.forward(self.preprocess(batch)), strict=True):
            for label, score in top_labels(
                probs, self.id2label, int(p["top_k"]), float(p["min_score"])
            ):
                out.append(
                    Observation(
                        clip.start, clip.end, "action", self.source, label, score=round(score, 4)
                    )
                )
        return out

    def close(self) -> None:
        self.model = None
        self.processor = None
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()
        super().close()
