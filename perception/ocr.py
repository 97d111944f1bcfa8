"""Text on screen with RapidOCR: PP-OCR detection and recognition as ONNX, weights in the wheel.

One ``ocr`` observation per text line found on a frame, with its box in source pixels and the
recognizer's confidence. Low-confidence lines and junk (a lone character, stray symbols) are
dropped; the same text on consecutive frames becomes one time range when observations are merged.

OCR is the costliest offline perceiver (about a second a frame on a CPU), and most sampled frames
look like the one before (a talk, a screencast, a parked camera). A frame whose small grayscale
thumbnail differs from the last OCR'd frame's by no more than ``reuse_diff`` levels anywhere
reuses that frame's lines (at most ``reuse_max`` seconds on), so unchanged text costs nothing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from vctext.perception.base import ModelSpec
from vctext.perception.vision import FramePerceiver, to_source
from vctext.types import Frame, Observation

MODELS: list[ModelSpec] = [
    ModelSpec(
        "ocr",
        "rapidocr",
        "pp-ocrv6",
        "pypi:rapidocr==3.10.0",
        32,
        "Apache-2.0",
        profiles=("offline",),
        note="PP-OCRv6 det + rec (Chinese and English) and the PP-OCR angle classifier",
    ),
]

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {
    "min_score": 0.5,  # recognizer confidence below this is mostly misread texture
    "min_chars": 2,  # letters or digits a line needs to count as text
    "short_score": 0.8,  # lines under SHORT characters are where texture misreads land: need this
    # Frames whose short side is under this are upscaled for text detection (RapidOCR's default
    # of 736 is tuned for documents; 480 keeps video captions and is about twice as fast).
    "det_side": 480,
    # The angle classifier only matters for upside-down text, rare in video; off, it saves a
    # model call per line.
    "use_cls": False,
    # Thumbnail cell change (0-255 grey levels) under which a frame reuses the last OCR result;
    # 0 runs OCR on every frame. A changed word moves cells by tens of levels; noise by a few.
    "reuse_diff": 10.0,
    "reuse_max": 10.0,  # seconds after which OCR runs again anyway
}
#: Width of the grayscale thumbnail frames are compared on (cells of about 10x10 pixels).
THUMB_WIDTH = 64
SHORT = 4


@dataclass(frozen=True)
class TextLine:
    """One recognized line; ``polygon`` is its four corners in frame pixels."""

    text: str
    score: float
    polygon: np.ndarray

    @property
    def box(self) -> tuple[float, float, float, float]:
        xs, ys = self.polygon[:, 0], self.polygon[:, 1]
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def clean_text(text: str) -> str:
    """Normalise Unicode (full-width letters and digits) and collapse whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def is_junk(text: str, score: float, min_chars: int, short_score: float) -> bool:
    """True when a line is too short, or short and unsure, to be real text (boxes, '1', '11')."""
    chars = sum(ch.isalnum() for ch in text)
    return chars < min_chars or (len(text) < SHORT and score < short_score)


def raw_lines(result: Any) -> list[TextLine]:
    """Text lines from a RapidOCR result (empty results have ``txts`` of None)."""
    texts = getattr(result, "txts", None)
    if not texts:
        return []
    polygons = np.asarray(result.boxes, dtype=np.float64).reshape(len(texts), -1, 2)
    scores = result.scores
    return [TextLine(t, float(s), p) for t, s, p in zip(texts, scores, polygons, strict=True)]


def line_observations(
    frame: Frame, lines: list[TextLine], source: str, params: dict[str, Any]
) -> list[Observation]:
    """Keep confident, real lines of one frame, top to bottom, as observations."""
    p = {**DEFAULTS, **params}
    out = []
    for line in sorted(lines, key=lambda ln: (ln.box[1], ln.box[0])):
        text = clean_text(line.text)
        if line.score < p["min_score"] or is_junk(
            text, line.score, p["min_chars"], p["short_score"]
        ):
            continue
        out.append(
            Observation(
                frame.time,
                frame.time,
                "ocr",
                source,
                text,
                score=round(line.score, 4),
                box=to_source(line.box, frame),
            )
        )
    return out


class RapidOCRText(FramePerceiver):
    """RapidOCR (ONNX Runtime) over each frame; the recognizer batches the lines of a frame."""

    requires = ("onnxruntime", "cv2", "rapidocr")

    kind = "ocr"
    backend = "rapidocr"
    defaults = DEFAULTS

    def load(self) -> None:
        ort = self.require("onnxruntime")
        self.require("cv2")
        rapidocr = self.require("rapidocr")
        cuda = (
            self.options.device.startswith("cuda")
            and "CUDAExecutionProvider" in ort.get_available_providers()
        )
        self.engine = rapidocr.RapidOCR(
            params={
                "Global.log_level": "error",  # it logs to its own stderr handler otherwise
                "Global.text_score": float(self.params["min_score"]),
                "Det.limit_type": "min",
                "Det.limit_side_len": int(self.params["det_side"]),
                "EngineConfig.onnxruntime.use_cuda": cuda,
                "Global.use_cls": bool(self.params["use_cls"]),
            }
        )
        self.last: tuple[float, np.ndarray, list[TextLine]] | None = None
        self.ocr_runs = 0

    def recognize(self, frame: Frame) -> list[TextLine]:
        """The forward pass for one frame: RapidOCR takes BGR like the rest of OpenCV."""
        bgr = np.ascontiguousarray(frame.image[..., ::-1])
        return raw_lines(self.engine(bgr))

    def thumbnail(self, frame: Frame) -> np.ndarray:
        """Small grayscale picture of the frame, averaged over cells (noise averages out)."""
        cv2 = self.require("cv2")
        height = max(1, round(frame.height * THUMB_WIDTH / frame.width))
        gray = cv2.cvtColor(np.ascontiguousarray(frame.image), cv2.COLOR_RGB2GRAY)
        return cv2.resize(gray, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA).astype(
            np.int16
        )

    def lines(self, frame: Frame) -> list[TextLine]:
        """This frame's lines: the last OCR'd frame's when the picture has not changed."""
        p = self.params
        thumb = self.thumbnail(frame) if p["reuse_diff"] > 0 else None
        if thumb is not None and self.last is not None:
            time, previous, lines = self.last
            if (
                previous.shape == thumb.shape
                and 0 <= frame.time - time <= p["reuse_max"]
                and int(np.abs(thumb - previous).max()) <= p["reuse_diff"]
            ):
                return lines
        lines = self.recognize(frame)
        self.ocr_runs += 1
        if thumb is not None:
            self.last = (frame.time, thumb, lines)
        return lines

    def process(self, batch: list[Frame]) -> list[Observation]:
        out: list[Observation] = []
        for frame in batch:
            out += line_observations(frame, self.lines(frame), self.source, self.params)
        return out

    def finish(self) -> list[Observation]:
        self.last = None
        return []

    def close(self) -> None:
        self.engine = None
        super().close()
