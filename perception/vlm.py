"""Captions from a local vision-language model (transformers ``image-text-to-text``).

Any model that ``AutoModelForImageTextToText`` and ``AutoProcessor`` load and whose processor has
a chat template works, named by hub id or local directory: SmolVLM / SmolVLM2, Qwen2-VL and
Qwen2.5-VL, LLaVA-OneVision, InternVL in Hugging Face format, and others. Each request is the
model's own chat template around our prompt and one or more pictures; replies are greedy and
short, decoded without the prompt. Requests are batched (left padding), bf16 on a GPU that has
it (else fp16), fp32 on the CPU. Three perceivers use it:

- ``caption`` (backend ``vlm``): a caption per sampled frame whose picture changed;
- ``clip_caption`` (backend ``vlm``): a description of each scene or window from several of its
  frames in one prompt (see :mod:`vctext.perception.clip_caption`);
- ``dense`` (backend ``vlm``): each detected object cropped and described
  (:mod:`vctext.perception.dense`).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np

from vctext.errors import ModelError
from vctext.perception.base import (
    STILL_DEFAULTS,
    Clip,
    ClipPerceiver,
    ClipSpec,
    ModelSpec,
    Perceiver,
    StillAware,
)
from vctext.perception.clip_caption import (
    CLIP_DEFAULTS,
    CLIP_PROMPT_FILE,
    clip_images,
    clip_prompt,
    clip_spec,
)
from vctext.perception.dense import DEFAULTS as DENSE_DEFAULTS
from vctext.perception.dense import CropCaptioner
from vctext.perception.hf import load_pretrained, on_device, to_pil
from vctext.perception.prompted import PROMPT_DEFAULTS, Prompted, one_line_reply
from vctext.perception.vision import CPU_CHUNK, chunks
from vctext.types import Frame, Observation

SMOLVLM2_500M = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"
SMOLVLM2_256M = "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"

#: The models the ``vlm`` backends are known to run (any other image-text-to-text model with a
#: chat template works too: ``--backend caption=vlm:ID_OR_DIR``).
VLM_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        SMOLVLM2_500M,
        f"hub:{SMOLVLM2_500M}",
        1015,
        "Apache-2.0",
        profiles=("standard",),
        note="SmolVLM2 500M: images and video, 64 tokens a frame",
    ),
    ModelSpec(
        SMOLVLM2_256M,
        f"hub:{SMOLVLM2_256M}",
        513,
        "Apache-2.0",
        note="SmolVLM2 256M: the lightest, half the time of 500M",
    ),
    ModelSpec(
        "HuggingFaceTB/SmolVLM2-2.2B-Instruct",
        "hub:HuggingFaceTB/SmolVLM2-2.2B-Instruct",
        4490,
        "Apache-2.0",
        note="SmolVLM2 2.2B: better descriptions, for a GPU",
    ),
    ModelSpec(
        "Qwen/Qwen2-VL-2B-Instruct",
        "hub:Qwen/Qwen2-VL-2B-Instruct",
        4420,
        "Apache-2.0",
        note="Qwen2-VL 2B: detailed, reads text; for a GPU",
    ),
    ModelSpec(
        "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
        "hub:llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
        1790,
        "Apache-2.0",
        note="LLaVA-OneVision 0.5B",
    ),
)

#: Parameters of every local VLM perceiver (all part of the cache key).
VLM_DEFAULTS: dict[str, Any] = {
    "max_new_tokens": 60,
    # Longest side (px) of a picture given to the processor: bounds the image tokens of models
    # that read any resolution (Qwen2-VL), and the time.
    "max_side": 512,
    # SmolVLM and Idefics3 can also read a picture as tiles plus a small whole (many more
    # tokens); off by default: a frame's gist needs no tiles.
    "image_splitting": False,
}


def vlm_device(perceiver: Perceiver) -> tuple[str, Any]:
    """(device, dtype): bf16 on a CUDA GPU that has it, else fp16; fp32 on the CPU."""
    torch = perceiver.require("torch")
    if perceiver.options.device.startswith("cuda") and torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return perceiver.options.device, torch.bfloat16 if bf16 else torch.float16
    return "cpu", torch.float32


def fit_side(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` with its longest side at most ``max_side`` pixels (0: as it is)."""
    height, width = image.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return image
    from PIL import Image

    scale = max_side / max(height, width)
    size = (max(round(width * scale), 1), max(round(height * scale), 1))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


class VLM:
    """A loaded vision-language model: (prompt, pictures) requests in, replies out."""

    def __init__(self, perceiver: Perceiver):
        self.torch = perceiver.require("torch")
        perceiver.require("PIL")
        self.device, self.dtype = vlm_device(perceiver)
        self.params = perceiver.params
        self.processor = load_pretrained(perceiver, "AutoProcessor")
        if not getattr(self.processor, "chat_template", None):
            raise ModelError(
                f"'{perceiver.options.model}' has no chat template, so the {perceiver.name} "
                "backend 'vlm' cannot prompt it; use a chat (instruct) model, or the "
                "'transformers' backend for a plain captioner such as BLIP"
            )
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"  # generation goes on from the end of each prompt
        model = load_pretrained(perceiver, "AutoModelForImageTextToText")
        self.model = model.to(self.device, self.dtype).eval()
        # Small batches on the CPU (no gain from more, and less memory); the run's on a GPU.
        self.batch = CPU_CHUNK if self.device == "cpu" else max(perceiver.options.batch_size, 1)
        self.images_kwargs: dict[str, Any] = {}
        image_processor = getattr(self.processor, "image_processor", None)
        if hasattr(image_processor, "do_image_splitting"):
            self.images_kwargs["do_image_splitting"] = bool(self.params["image_splitting"])

    def chat_text(self, prompt: str, pictures: int) -> str:
        content = [{"type": "image"}] * pictures + [{"type": "text", "text": prompt}]
        return self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )

    def __call__(self, requests: list[tuple[str, list[np.ndarray]]]) -> list[str]:
        """The reply to each (prompt, pictures), in order; requests with as many pictures are
        batched together (one at a time on the CPU's small batches)."""
        out: list[str] = []
        for _, same in itertools.groupby(requests, key=lambda r: len(r[1])):
            for piece in chunks(list(same), self.batch):
                out += self.generate(list(piece))
        return out

    def generate(self, requests: list[tuple[str, list[np.ndarray]]]) -> list[str]:
        side = int(self.params["max_side"])
        texts = [self.chat_text(prompt, len(pictures)) for prompt, pictures in requests]
        images = [to_pil([fit_side(p, side) for p in pictures]) for _, pictures in requests]
        inputs = self.processor(
            text=texts, images=images, return_tensors="pt", padding=True, **self.images_kwargs
        )
        inputs = on_device(inputs, self.device, self.dtype)
        with self.torch.inference_mode():
            ids = self.model.generate(
                **inputs, max_new_tokens=int(self.params["max_new_tokens"]), do_sample=False
            )
        new = ids[:, inputs["input_ids"].shape[1] :]
        return [
            one_line_reply(t) for t in self.processor.batch_decode(new, skip_special_tokens=True)
        ]

    def close(self) -> None:
        """Drop the weights and give the GPU memory back."""
        self.model = None
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()


class VLMCaptioner(Prompted, StillAware):
    """A caption per sampled frame whose picture changed, from a local vision-language model."""

    kind = "caption"
    backend = "vlm"
    gpu_class = True
    extra = "vision"
    requires = ("torch", "transformers", "PIL")
    defaults = {**PROMPT_DEFAULTS, **VLM_DEFAULTS, **STILL_DEFAULTS}
    prompt_name = "caption_frame.txt"
    models = VLM_MODELS

    def load(self) -> None:
        self.vlm = VLM(self)

    def infer(self, frames: list[Frame]) -> list[str]:
        return self.vlm([(self.prompt, [f.image]) for f in frames])

    def observe(self, frame: Frame, result: str) -> list[Observation]:
        if not result:
            return []
        return [Observation(frame.time, frame.time, "caption", self.source, result)]

    def close(self) -> None:
        if getattr(self, "vlm", None) is not None:
            self.vlm.close()
            self.vlm = None
        super().close()


class VLMClipCaptioner(Prompted, ClipPerceiver):
    """A description of each scene (or window of a long one) from several of its frames in one
    prompt, by a local vision-language model."""

    kind = "clip_caption"
    backend = "vlm"
    gpu_class = True
    extra = "vision"
    requires = ("torch", "transformers", "PIL")
    defaults = {**CLIP_DEFAULTS, **VLM_DEFAULTS, "max_new_tokens": 80, "max_side": 384}
    prompt_name = CLIP_PROMPT_FILE
    models = VLM_MODELS

    def clip_spec(self) -> ClipSpec:
        return clip_spec(self.params)

    def load(self) -> None:
        self.vlm = VLM(self)

    def process(self, batch: list[Clip]) -> list[Observation]:
        replies = self.vlm([(clip_prompt(self.prompt, clip), clip_images(clip)) for clip in batch])
        return [
            Observation(clip.start, clip.end, "clip_caption", self.source, text)
            for clip, text in zip(batch, replies, strict=True)
            if text
        ]

    def close(self) -> None:
        if getattr(self, "vlm", None) is not None:
            self.vlm.close()
            self.vlm = None
        super().close()


class VLMRegions(Prompted, CropCaptioner):
    """Each region a detector finds, cropped and described by a local vision-language model."""

    backend = "vlm"
    defaults = {
        **{k: v for k, v in DENSE_DEFAULTS.items() if k != "num_beams"},
        **PROMPT_DEFAULTS,
        **VLM_DEFAULTS,
        "max_new_tokens": 20,
        "max_side": 384,
    }
    prompt_name = "caption_region.txt"
    models = tuple(
        replace(spec, profiles=(), note="describes the detector's boxes (detector separate)")
        for spec in VLM_MODELS[:2]
    )

    def describer(self):
        vlm = VLM(self)
        return RegionDescriber(vlm, self.prompt)


class RegionDescriber:
    """Crops in, one description each: the VLM with the region prompt (what dense calls)."""

    def __init__(self, vlm: VLM, prompt: str):
        self.vlm, self.prompt = vlm, prompt

    def __call__(self, crops: list[np.ndarray]) -> list[str]:
        return [clean_phrase(t) for t in self.vlm([(self.prompt, [c]) for c in crops])]

    def close(self) -> None:
        self.vlm.close()


def clean_phrase(text: str) -> str:
    """A region's description as a phrase: no trailing full stop, at most one sentence."""
    text = text.strip()
    first = text.split(". ")[0]
    return first.rstrip(" .")
