"""Zero-shot frame tags with CLIP or SigLIP (transformers) over a vocabulary of tag words.

The built-in vocabulary (``tag_vocabulary.txt``, shipped with the package) holds common scenes,
objects, people and activities. ``vocabulary_file`` replaces it (one tag per line, ``#`` starts a
comment); ``extra_tags`` adds to whichever list is in use. Tag text embeddings are computed once
per load. Each frame gives up to ``top_k`` ``tags`` observations scoring at least ``min_score``:
for CLIP the score is the cosine similarity of image and prompt (no softmax, so a frame may have
no tags at all); for SigLIP it is the model's own sigmoid probability.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vctext.errors import ConfigError
from vctext.perception.base import STILL_DEFAULTS, ModelSpec, StillAware
from vctext.perception.hf import load_pretrained, to_pil, torch_device
from vctext.perception.tags import tag_observations
from vctext.perception.vision import CPU_CHUNK, chunks
from vctext.types import Frame, Observation

CLIP_B32 = "openai/clip-vit-base-patch32"

#: Defaults of the parameters that change the output (all part of the cache key).
#: ``min_score`` None means the model family's default below.
DEFAULTS: dict[str, Any] = {
    "top_k": 5,
    "min_score": None,
    "prompt": "a photo of {}.",
    "vocabulary_file": None,
    "extra_tags": (),
    **STILL_DEFAULTS,
}

#: CLIP ViT-B/32 cosines are about 0.2 for unrelated prompts and 0.25-0.35 for a match; SigLIP
#: gives calibrated probabilities that stay small for multi-label use.
MIN_SCORE = {"clip": 0.24, "siglip": 0.05}
SIGMOID_FAMILIES = ("siglip", "siglip2")


def read_vocabulary(text: str) -> list[str]:
    """Tags from a vocabulary text: one per line, ``#`` comments and blank lines skipped."""
    tags = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return list(dict.fromkeys(t for t in tags if t))


def builtin_vocabulary() -> list[str]:
    return read_vocabulary(
        resources.files("vctext.perception").joinpath("tag_vocabulary.txt").read_text("utf-8")
    )


def vocabulary(params: dict[str, Any]) -> list[str]:
    """The tags a run scores: the built-in list or ``vocabulary_file``, plus ``extra_tags``."""
    path = params.get("vocabulary_file")
    if path:
        try:
            tags = read_vocabulary(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read tag vocabulary_file '{path}': {exc}") from exc
    else:
        tags = builtin_vocabulary()
    extra = params.get("extra_tags") or ()
    if isinstance(extra, str):
        extra = extra.split(",")
    tags = list(dict.fromkeys([*tags, *(e.strip() for e in extra if e.strip())]))
    if not tags:
        raise ConfigError("the tag vocabulary is empty; give tags in vocabulary_file or extra_tags")
    return tags


class ClipTags(StillAware):
    """CLIP/SigLIP image-text similarity between each frame and every vocabulary tag."""

    kind = "tags"
    backend = "clip"
    extra = "vision"
    requires = ("torch", "transformers", "PIL")
    defaults = DEFAULTS
    models = (
        ModelSpec(
            CLIP_B32,
            f"hub:{CLIP_B32}",
            605,
            "MIT",
            profiles=("standard",),
            note="CLIP ViT-B/32, zero-shot over the tag vocabulary",
        ),
        ModelSpec(
            "openai/clip-vit-large-patch14",
            "hub:openai/clip-vit-large-patch14",
            1710,
            "MIT",
            note="CLIP ViT-L/14",
        ),
        ModelSpec(
            "google/siglip-base-patch16-224",
            "hub:google/siglip-base-patch16-224",
            813,
            "Apache-2.0",
            note="SigLIP base; scores are sigmoid probabilities",
        ),
    )

    def cache_params(self) -> dict[str, Any]:
        # The file's content, not only its path, decides the output.
        words = "\n".join(vocabulary(self.params))
        return {
            **super().cache_params(),
            "vocabulary_sha": hashlib.sha256(words.encode()).hexdigest()[:16],
        }

    def load(self) -> None:
        self.torch = self.require("torch")
        self.require("PIL")
        self.device, self.dtype = torch_device(self)
        self.model = load_pretrained(self, "AutoModel").to(self.device, self.dtype).eval()
        self.images = load_pretrained(self, "AutoImageProcessor")
        self.tokenizer = load_pretrained(self, "AutoTokenizer")
        self.family = self.model.config.model_type
        self.sigmoid = self.family in SIGMOID_FAMILIES
        self.labels = tuple(vocabulary(self.params))
        self.text_embeds = self.embed_texts([self.params["prompt"].format(t) for t in self.labels])

    def min_score(self) -> float:
        given = self.params["min_score"]
        if given is not None:
            return float(given)
        return MIN_SCORE["siglip" if self.sigmoid else "clip"]

    def _features(self, out: Any) -> Any:
        """Projected embeddings, L2-normalised (newer transformers wrap them in an output)."""
        feats = out if isinstance(out, self.torch.Tensor) else out.pooler_output
        return self.torch.nn.functional.normalize(feats.float(), dim=-1)

    def embed_texts(self, texts: list[str]) -> Any:
        # SigLIP was trained on text padded to its full length; CLIP pads to the longest.
        padding = {"padding": "max_length", "max_length": 64} if self.sigmoid else {"padding": True}
        out = []
        with self.torch.inference_mode():
            for piece in chunks(texts, 256):
                tokens = self.tokenizer(
                    list(piece), truncation=True, return_tensors="pt", **padding
                ).to(self.device)
                out.append(self._features(self.model.get_text_features(**tokens)))
        return self.torch.cat(out)

    def preprocess(self, images: list[np.ndarray]) -> Any:
        pixels = self.images(images=to_pil(images), return_tensors="pt")["pixel_values"]
        return pixels.to(self.device, self.dtype)

    def forward(self, pixels: Any) -> np.ndarray:
        """Scores (N images x tags): cosine for CLIP, sigmoid probability for SigLIP."""
        with self.torch.inference_mode():
            image = self._features(self.model.get_image_features(pixel_values=pixels))
            cosine = image @ self.text_embeds.T
            if self.sigmoid:
                logits = cosine * self.model.logit_scale.exp().float()
                logits = logits + self.model.logit_bias.float()
                return self.torch.sigmoid(logits).cpu().numpy()
            return cosine.cpu().numpy()

    def infer(self, frames: list[Frame]) -> list[np.ndarray]:
        return [
            row
            for piece in chunks(frames, None if self.device != "cpu" else CPU_CHUNK)
            for row in self.forward(self.preprocess([f.image for f in piece]))
        ]

    def observe(self, frame: Frame, result: np.ndarray) -> list[Observation]:
        top_k, min_score = self.params["top_k"], self.min_score()
        return tag_observations([frame], result[None], self.labels, top_k, min_score, self.source)

    def close(self) -> None:
        self.model = self.text_embeds = None
        if getattr(self, "device", "cpu").startswith("cuda"):
            self.torch.cuda.empty_cache()
        super().close()
