"""What the Hugging Face (transformers) vision backends share: device, dtype, pinned revisions.

Light to import: torch and transformers are imported by the callers' ``load()``.
"""

from __future__ import annotations

from typing import Any

from vctext.errors import ModelError
from vctext.perception.base import Perceiver


def torch_device(perceiver: Perceiver) -> tuple[str, Any]:
    """(device, dtype) for a perceiver: fp16 on CUDA, fp32 on the CPU."""
    torch = perceiver.require("torch")
    if perceiver.options.device.startswith("cuda") and torch.cuda.is_available():
        return perceiver.options.device, torch.float16
    return "cpu", torch.float32


def revision(perceiver: Perceiver, model: str) -> str | None:
    """The revision the perceiver pins for ``model`` (None for local dirs and others)."""
    spec = next((s for s in perceiver.models if s.name == model), None)
    return spec.revision if spec is not None else None


def load_pretrained(perceiver: Perceiver, auto_class: str, **kwargs: Any) -> Any:
    """``transformers.<auto_class>.from_pretrained`` for the perceiver's model, errors explained."""
    transformers = perceiver.require("transformers")
    model = perceiver.options.model
    rev = revision(perceiver, model)
    try:
        return getattr(transformers, auto_class).from_pretrained(model, revision=rev, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(
            f"cannot load {auto_class} from '{model}' for the {perceiver.name} backend "
            f"'{perceiver.backend}': {exc}; pass a local model directory, or run "
            "`vctext models pull --profile standard` where the hub is reachable"
        ) from exc


def on_device(inputs: Any, device: str, dtype: Any) -> Any:
    """A processor's output on ``device``, its floating-point tensors (pixels) in ``dtype``; the
    token ids stay integers."""
    import torch

    inputs = inputs.to(device)
    for name, value in inputs.items():
        if torch.is_floating_point(value):
            inputs[name] = value.to(dtype)
    return inputs


def to_pil(images: list) -> list:
    """RGB uint8 arrays → PIL images (what every transformers image processor accepts)."""
    from PIL import Image

    return [Image.fromarray(im) for im in images]
