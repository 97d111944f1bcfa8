"""Frame captions from a transformers image-to-text model such as BLIP (the light option; the
standard profile's captioner is a vision-language model, :mod:`vctext.perception.vlm`).

Any captioner that ``AutoModelForImageTextToText`` loads works, named by hub id or local
directory: BLIP, GIT, and VisionEncoderDecoder models such as ViT-GPT2. Each frame gives one
``caption`` observation. Generation is greedy and short; fp16 on CUDA.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from vctext.perception.base import STILL_DEFAULTS, FramePerceiver, ModelSpec, StillAware
from vctext.perception.hf import load_pretrained, to_pil, torch_device
from vctext.perception.vision import CPU_CHUNK, chunks
from vctext.types import Frame, Observation

BLIP_BASE = "Salesforce/blip-image-captioning-base"
BLIP_BASE_SPEC = ModelSpec(
    BLIP_BASE,
    f"hub:{BLIP_BASE}",
    990,
    "BSD-3-Clause",
    note="BLIP base (COCO captions), 384 px: the light option",
)

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {"max_new_tokens": 30, "num_beams": 1, **STILL_DEFAULTS}

#: Words BLIP sometimes invents at the start of a caption (an artefact of its training text).
_ARTEFACTS = re.compile(r"^(?:arafed|araffe|arafe|there is|there are)\s+", re.IGNORECASE)


def clean_caption(text: str) -> str:
    """One line, no training artefacts, no trailing full stop."""
    text = " ".join(text.split())
    text = _ARTEFACTS.sub("", text)
    return text.rstrip(" .")


class Captioner:
    """A loaded image-to-text model: images in, caption strings out (shared with dense)."""

    def __init__(self, perceiver: FramePerceiver):
        self.torch = perceiver.require("torch")
        perceiver.require("PIL")
        self.device, self.dtype = torch_device(perceiver)
        auto = (
            "AutoModelForImageTextToText"
            if hasattr(perceiver.require("transformers"), "AutoModelForImageTextToText")
            else "AutoModelForVision2Seq"
        )  # transformers < 4.46
        self.model = load_pretrained(perceiver, auto).to(self.device, self.dtype).eval()
        self.images = load_pretrained(perceiver, "AutoImageProcessor")
        self.tokenizer = load_pretrained(perceiver, "AutoTokenizer")
        self.generation = {k: perceiver.params[k] for k in ("max_new_tokens", "num_beams")}

    def preprocess(self, images: list[np.ndarray]) -> Any:
        pixels = self.images(images=to_pil(images), return_tensors="pt")["pixel_values"]
        return pixels.to(self.device, self.dtype)

    def forward(self, pixels: Any) -> Any:
        with self.torch.inference_mode():
            return self.model.generate(pixel_values=pixels, do_sample=False, **self.generation)

    def postprocess(self, ids: Any) -> list[str]:
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [clean_caption(t) for t in texts]

    def __call__(self, images: list[np.ndarray]) -> list[str]:
        """One caption per image, in order; batched (the whole list at once on a GPU)."""
        out: list[str] = []
        for piece in chunks(images, None if self.device != "cpu" else CPU_CHUNK):
            out += self.postprocess(self.forward(self.preprocess(list(piece))))
        return out

    def close(self) -> None:
        """Drop the weights and give the GPU memory back."""
        self.model = None
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()


class TransformersCaptioner(StillAware):
    """BLIP (or another transformers captioner) on each sampled frame whose picture changed."""

    kind = "caption"
    backend = "transformers"
    extra = "vision"
    requires = ("torch", "transformers", "PIL")
    defaults = DEFAULTS
    models = (
        BLIP_BASE_SPEC,
        ModelSpec(
            "Salesforce/blip-image-captioning-large",
            "hub:Salesforce/blip-image-captioning-large",
            1880,
            "BSD-3-Clause",
            note="BLIP large, better captions, twice the time",
        ),
        ModelSpec(
            "microsoft/git-base-coco",
            "hub:microsoft/git-base-coco",
            707,
            "MIT",
            note="GIT base fine-tuned on COCO",
        ),
        ModelSpec(
            "nlpconnect/vit-gpt2-image-captioning",
            "hub:nlpconnect/vit-gpt2-image-captioning",
            982,
            "Apache-2.0",
            note="ViT encoder + GPT-2 decoder",
        ),
    )

    def load(self) -> None:
        self.captioner = Captioner(self)

    def infer(self, frames: list[Frame]) -> list[str]:
        return self.captioner([f.image for f in frames])

    def observe(self, frame: Frame, result: str) -> list[Observation]:
        if not result:
            return []
        return [Observation(frame.time, frame.time, "caption", self.source, result)]

    def close(self) -> None:
        if getattr(self, "captioner", None) is not None:
            self.captioner.close()
            self.captioner = None
        super().close()
