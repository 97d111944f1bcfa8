"""Region descriptions from Florence-2's own grounded output (kind ``dense``, backend
``florence2``).

Florence-2 finds and describes regions in one pass (its ``<DENSE_REGION_CAPTION>`` task): no
detector, no crops. Its answer is text with quantized box corners (``a red car<loc_..>x4``),
which the model's processor turns into boxes on the picture it was given; they are scaled to
source pixels here. The same region seen again (same description over an overlapping box)
extends one observation, as for the crop captioner (:mod:`vctext.perception.dense`). Loaded with
transformers' native ``Florence2ForConditionalGeneration`` (transformers >= 4.56), so the
``florence-community`` conversions, not the ``trust_remote_code`` originals.
"""

from __future__ import annotations

from typing import Any

from vctext.perception.base import FramePerceiver, ModelSpec
from vctext.perception.dense import RegionKeeper
from vctext.perception.hf import load_pretrained, on_device, to_pil
from vctext.perception.vlm import vlm_device
from vctext.types import Frame, Observation

FLORENCE2_BASE = "florence-community/Florence-2-base"
TASK = "<DENSE_REGION_CAPTION>"


class Florence2Regions(RegionKeeper, FramePerceiver):
    """Regions Florence-2 finds and describes on each sampled frame, boxes in source pixels."""

    kind = "dense"
    backend = "florence2"
    extra = "vision"
    requires = ("torch", "transformers", "PIL")
    defaults: dict[str, Any] = {
        "max_new_tokens": 256,  # room for about a dozen regions
        "num_beams": 1,
        "min_side": 16,  # source pixels; smaller boxes are dropped
        "max_regions": 8,  # per frame, in the model's order
        "dedup_iou": 0.5,
    }
    models = (
        ModelSpec(
            FLORENCE2_BASE,
            f"hub:{FLORENCE2_BASE}",
            930,
            "MIT",
            note="Florence-2 base: finds and describes regions itself (no detector)",
        ),
        ModelSpec(
            "florence-community/Florence-2-large",
            "hub:florence-community/Florence-2-large",
            3080,
            "MIT",
            note="Florence-2 large",
        ),
    )

    def load(self) -> None:
        self.torch = self.require("torch")
        self.require("PIL")
        self.device, self.dtype = vlm_device(self)
        self.processor = load_pretrained(self, "AutoProcessor")
        model = load_pretrained(self, "AutoModelForImageTextToText")
        self.model = model.to(self.device, self.dtype).eval()
        self.regions = []

    def process(self, batch: list[Frame]) -> list[Observation]:
        if not batch:
            return []
        images = to_pil([f.image for f in batch])
        inputs = self.processor(text=[TASK] * len(batch), images=images, return_tensors="pt")
        inputs = on_device(inputs, self.device, self.dtype)
        with self.torch.inference_mode():
            ids = self.model.generate(
                **inputs,
                max_new_tokens=int(self.params["max_new_tokens"]),
                num_beams=int(self.params["num_beams"]),
                do_sample=False,
            )
        # The box corners are special tokens: decoded with them, then parsed by the processor.
        texts = self.processor.batch_decode(ids, skip_special_tokens=False)
        for frame, text, image in zip(batch, texts, images, strict=True):
            parsed = self.processor.post_process_generation(text, task=TASK, image_size=image.size)[
                TASK
            ]
            for det, text in self.sightings(
                frame, parsed.get("bboxes", []), parsed.get("labels", [])
            ):
                self.add(det, text)
        return []

    def sightings(self, frame: Frame, boxes, labels) -> list[tuple[Observation, str]]:
        """(region, its description) on one frame, boxes in source pixels, small ones left out
        (the region has no label of its own: its description is all Florence-2 says)."""
        out = []
        for box, label in zip(boxes, labels, strict=False):
            text = " ".join(str(label).replace("<s>", "").replace("</s>", "").split())
            x1, y1, x2, y2 = (round(float(v) * frame.scale) for v in box)
            if not text or min(x2 - x1, y2 - y1) < self.params["min_side"]:
                continue
            box = (x1, y1, x2, y2)
            out.append(
                (Observation(frame.time, frame.time, "dense", self.source, "", box=box), text)
            )
            if len(out) == self.params["max_regions"]:
                break
        return out

    def finish(self) -> list[Observation]:
        return self.described()

    def close(self) -> None:
        self.model = None
        if getattr(self, "device", "cpu").startswith("cuda"):
            self.torch.cuda.empty_cache()
        super().close()
