"""Text on screen with RapidOCR: PP-OCR detection and recognition as ONNX, weights in the wheel.

One ``ocr`` observation per text line found on a frame, with its box in source pixels and the
recognizer's confidence. Low-confidence lines and junk (a lone character, stray symbols) are
dropped; the same text on consecutive frames becomes one time range when observations are merged.

OCR is the costliest offline perceiver, so it does as little as it can per frame:

- text is *found* on a small copy of the frame (``det_side`` pixels on the short side; the
  detector's cost grows with the pixel count) and *read* from the full-size frame, so small text
  is read as sharply as the frame allows;
- a frame whose grayscale thumbnail matches the last one text was looked for on (no cell more
  than ``reuse_diff`` grey levels apart) keeps that frame's lines without running either model
  (:class:`~vctext.perception.base.StillAware`, as the other frame perceivers);
- a line found where a line was before, whose letters are still the same pixels (whatever moves
  behind them), keeps its text without being read again: a subtitle is read once, not once a
  second;
- either kind of reuse lasts ``reuse_max`` seconds at most, then the text is read again.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vctext.errors import ConfigError
from vctext.perception.base import STILL_DEFAULTS, ModelSpec, StillAware
from vctext.perception.vision import iou_matrix, to_source
from vctext.types import Frame, Observation

log = logging.getLogger(__name__)

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {
    "min_score": 0.5,  # recognizer confidence below this is mostly misread texture
    "min_chars": 2,  # letters or digits a line needs to count as text
    "short_score": 0.8,  # lines under SHORT characters are where texture misreads land: need this
    # Short side, in pixels, of the copy of the frame text is found on (scaled down, or up for
    # small videos); lines are then read from the full frame. 360 finds captions down to about
    # 14 px high in 720p at a fifth of the full-size cost (benchmarks/bench_perceivers.py).
    "det_side": 360,
    # The angle classifier only matters for upside-down text, rare in video; off, it saves a
    # model call per line.
    "use_cls": False,
    # A whole frame keeps the last frame's text as StillAware says; reuse_diff 0 also turns the
    # reuse of single lines off (every line of every frame is read), and reuse_max bounds both.
    **STILL_DEFAULTS,
}
#: A line's patch is compared in cells of this many pixels a side (about a letter's stroke).
PATCH_CELL = 4
#: Grey levels letters must differ from their background by for a patch to be compared at all.
SURE = 32
#: Pixels of a cell that may swap between letter and background with the text unchanged. Same
#: captions over moving footage swap at most 1 a cell; one changed digit of 14 px text, 4 or more.
SWAPS_PER_CELL = 2
#: A line found this close to a line of the last frame (IoU) may be the same line.
SAME_LINE_IOU = 0.5
#: Share of a line's height by which its box is shrunk before comparing (margin, not letters).
INSET = 0.2
#: Narrowest input the recognizer reads (it is 48 pixels high).
REC_MIN_WIDTH = 96
SHORT = 4


@dataclass(frozen=True)
class TextLine:
    """One recognized line; ``polygon`` is its four corners in frame pixels."""

    text: str
    score: float
    polygon: np.ndarray
    read_at: float = 0.0  # time of the frame the text was last read on

    @property
    def box(self) -> tuple[float, float, float, float]:
        return outline(self.polygon)


def outline(polygon: np.ndarray) -> tuple[float, float, float, float]:
    """The axis-aligned box (x1, y1, x2, y2) around a polygon's corners."""
    xs, ys = polygon[:, 0], polygon[:, 1]
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def clean_text(text: str) -> str:
    """Normalise Unicode (full-width letters and digits) and collapse whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def is_junk(text: str, score: float, min_chars: int, short_score: float) -> bool:
    """True when a line is too short, or short and unsure, to be real text (boxes, '1', '11')."""
    chars = sum(ch.isalnum() for ch in text)
    return chars < min_chars or (len(text) < SHORT and score < short_score)


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


def crop_line(image: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """The line inside ``polygon`` (4 corners, clockwise from top left), straightened."""
    import cv2

    quad = np.asarray(polygon, dtype=np.float32)
    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)  # top, right, bottom, left
    width = max(1, round(max(sides[0], sides[2])))
    height = max(1, round(max(sides[1], sides[3])))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    # Tall, narrow lines are vertical text: the recognizer reads left to right.
    return np.rot90(crop) if height >= 1.5 * width else crop


def same_text_pixels(before: np.ndarray, after: np.ndarray) -> bool:
    """True when two grey patches of the same place show the same letters in the same spots.

    The earlier patch is split in two by brightness (Otsu: letters and their background) and a
    pixel *swaps* when it is clearly on one side in one frame and clearly on the other in the
    next: within a quarter of the gap between the two sides' mean levels from either mean. So a
    picture moving behind a see-through caption box, blur at letter edges and codec noise do not
    count, while a changed letter swaps many pixels in a few cells. Unchanged: no cell of
    PATCH_CELL x PATCH_CELL pixels has more than SWAPS_PER_CELL swapped pixels. A patch without
    clear letters (less than SURE grey levels between the sides) never counts as unchanged.
    """
    import cv2

    cut, _ = cv2.threshold(before, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    b, a = before.astype(np.float32), after.astype(np.float32)
    upper = b > cut
    if upper.all() or not upper.any():
        return False
    low, high = float(b[~upper].mean()), float(b[upper].mean())
    if high - low < SURE:
        return False
    quarter = (high - low) / 4
    sure_high, sure_low = high - quarter, low + quarter
    swapped = ((b >= sure_high) & (a <= sure_low)) | ((b <= sure_low) & (a >= sure_high))
    height, width = before.shape
    rows, cols = max(1, height // PATCH_CELL), max(1, width // PATCH_CELL)
    cells = swapped[: rows * PATCH_CELL, : cols * PATCH_CELL].reshape(
        rows, PATCH_CELL, cols, PATCH_CELL
    )
    return int(cells.sum(axis=(1, 3)).max(initial=0)) <= SWAPS_PER_CELL


def without_spinning(ort: Any, engine: Any) -> int:
    """Rebuild RapidOCR's ONNX Runtime sessions so their idle worker threads sleep.

    ONNX Runtime's workers spin for a while after each run. The detector and the recognizer take
    turns, with other perceivers and the speech model beside them, so each one's spinning
    threads held the cores the next one needed: detection took 78 ms a frame instead of 42, and
    reading a line 22 ms instead of 10 (2 cores). Returns how many sessions were rebuilt; any
    it cannot rebuild (another RapidOCR layout) keep running as they were, only slower.
    """
    rebuilt = 0
    for part in ("text_det", "text_cls", "text_rec"):
        holder = getattr(getattr(engine, part, None), "session", None)
        session = getattr(holder, "session", None)
        path = getattr(session, "_model_path", None)
        if not isinstance(session, ort.InferenceSession) or not isinstance(path, str):
            continue
        options = ort.SessionOptions()
        options.log_severity_level = 4
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        holder.session = ort.InferenceSession(path, options, providers=session.get_providers())
        rebuilt += 1
    return rebuilt


@dataclass
class Seen:
    """The last frame text was looked for on: its time, grey picture and lines."""

    time: float
    gray: np.ndarray
    lines: list[TextLine]


class RapidOCRText(StillAware):
    """RapidOCR (ONNX Runtime): lines found on a small copy of the frame, read from the frame."""

    requires = ("onnxruntime", "cv2", "rapidocr")

    kind = "ocr"
    backend = "rapidocr"
    defaults = DEFAULTS
    models = (
        ModelSpec(
            "pp-ocrv6",
            "pypi:rapidocr==3.10.0",
            32,
            "Apache-2.0",
            profiles=("offline",),
            note="PP-OCRv6 det + rec (Chinese and English) and the PP-OCR angle classifier",
        ),
    )

    def load(self) -> None:
        if not 32 <= self.params["det_side"] <= 2000:
            raise ConfigError(
                f"ocr.det_side must be 32 to 2000 pixels, got {self.params['det_side']}"
            )
        ort = self.require("onnxruntime")
        self.cv2 = self.require("cv2")
        rapidocr = self.require("rapidocr")
        cuda = (
            self.options.device.startswith("cuda")
            and "CUDAExecutionProvider" in ort.get_available_providers()
        )
        self.engine = rapidocr.RapidOCR(
            params={
                "Global.log_level": "error",  # it logs to its own stderr handler otherwise
                "Global.text_score": float(self.params["min_score"]),
                # Frames arrive already scaled to det_side: no second resize inside.
                "Det.limit_type": "min",
                "Det.limit_side_len": 32,
                # Lines are padded to at least this width before reading; RapidOCR's 320 (for
                # documents) makes every short word cost as much as a long sentence.
                "Rec.rec_img_shape": [3, 48, REC_MIN_WIDTH],
                "EngineConfig.onnxruntime.use_cuda": cuda,
            }
        )
        # RapidOCR loads its models on first use: use them once, then make them sleep when idle.
        blank = np.zeros((48, 96, 3), np.uint8)
        self.engine(blank, use_det=True, use_cls=False, use_rec=False)
        self.engine(blank, use_det=False, use_cls=bool(self.params["use_cls"]), use_rec=True)
        sleepy = without_spinning(ort, self.engine)
        log.debug("OCR sessions rebuilt without spinning: %d", sleepy)
        self.seen: Seen | None = None
        self.lines_read = 0  # lines the recognizer read

    @property
    def ocr_runs(self) -> int:
        """Frames the detector ran on."""
        return self.model_frames

    def find(self, frame: Frame) -> np.ndarray:
        """Corners (N x 4 x 2, frame pixels) of the text lines on ``frame``."""
        cv2 = self.cv2
        scale = float(self.params["det_side"]) / min(frame.height, frame.width)
        if abs(scale - 1.0) > 0.02:
            size = (max(32, round(frame.width * scale)), max(32, round(frame.height * scale)))
            small = cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA)
        else:
            small, scale = frame.image, 1.0
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)  # RapidOCR takes OpenCV's channel order
        found = self.engine(bgr, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(found, "boxes", None)
        if boxes is None or len(boxes) == 0:
            return np.zeros((0, 4, 2))
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4, 2) / scale

    def read(self, frame: Frame, polygons: list[np.ndarray]) -> list[tuple[str, float]]:
        """Text and confidence of each line, read from the full-size frame."""
        use_cls = bool(self.params["use_cls"])
        out = []
        for polygon in polygons:
            crop = self.cv2.cvtColor(crop_line(frame.image, polygon), self.cv2.COLOR_RGB2BGR)
            result = self.engine(crop, use_det=False, use_cls=use_cls, use_rec=True)
            texts, scores = getattr(result, "txts", None), getattr(result, "scores", None)
            out.append((texts[0], float(scores[0])) if texts else ("", 0.0))
        self.lines_read += len(polygons)
        return out

    def lines(self, frame: Frame) -> list[TextLine]:
        """The lines of a frame whose picture changed, reusing those whose letters did not."""
        gray = self.cv2.cvtColor(np.ascontiguousarray(frame.image), self.cv2.COLOR_RGB2GRAY)
        last = self.seen
        if last is not None and not (
            self.params["reuse_diff"] > 0
            and last.gray.shape == gray.shape
            and frame.time >= last.time
        ):
            last = None  # nothing to compare with
        lines = self.update(frame, gray, self.find(frame), last)
        self.seen = Seen(frame.time, gray, lines)
        # A later frame showing the same picture takes these lines only while each is fresh.
        self.stills.age_from(min((line.read_at for line in lines), default=frame.time))
        return lines

    def update(
        self, frame: Frame, gray: np.ndarray, polygons: np.ndarray, last: Seen | None
    ) -> list[TextLine]:
        """Lines for the found polygons: the text of the last frame looked at, where unchanged."""
        lines: list[TextLine | None] = [None] * len(polygons)
        if last is not None and last.lines and len(polygons):
            boxes = np.array([outline(poly) for poly in polygons])
            before = np.array([ln.box for ln in last.lines])
            overlaps = iou_matrix(boxes, before)
            for i, polygon in enumerate(polygons):
                j = int(np.argmax(overlaps[i]))
                old = last.lines[j]
                if (
                    overlaps[i, j] >= SAME_LINE_IOU
                    and frame.time - old.read_at <= self.params["reuse_max"]
                    and self.unchanged(last.gray, gray, boxes[i], before[j])
                ):
                    lines[i] = replace(old, polygon=polygon)
        todo = [i for i, line in enumerate(lines) if line is None]
        texts = self.read(frame, [polygons[i] for i in todo])
        for i, (text, score) in zip(todo, texts, strict=True):
            lines[i] = TextLine(text, score, polygons[i], read_at=frame.time)
        # Unreadable lines (texture the detector took for text) are kept too, so that they are
        # not read again while they stay; line_observations drops them from the output.
        return [line for line in lines if line is not None]

    def unchanged(self, before: np.ndarray, after: np.ndarray, box_a, box_b) -> bool:
        """True when the line in both boxes has the same letters in both frames.

        Compared: from the leftmost start to the rightmost end of the two boxes (a line that
        grew a letter shows it), over the rows both share; minus an inset of INSET line heights,
        as the detector's boxes reach past the letters into whatever is around the text.
        """
        inset = INSET * min(box_a[3] - box_a[1], box_b[3] - box_b[1])
        x1 = max(0, round(min(box_a[0], box_b[0]) + inset))
        x2 = min(after.shape[1], round(max(box_a[2], box_b[2]) - inset))
        y1 = max(0, round(max(box_a[1], box_b[1]) + inset))
        y2 = min(after.shape[0], round(min(box_a[3], box_b[3]) - inset))
        if x2 - x1 < PATCH_CELL or y2 - y1 < PATCH_CELL:
            return False
        return same_text_pixels(before[y1:y2, x1:x2], after[y1:y2, x1:x2])

    def process(self, batch: list[Frame]) -> list[Observation]:
        # A frame at a time: whether a frame may take the last lines depends on when they were
        # read, known only once the frame before it was read.
        out: list[Observation] = []
        for frame in batch:
            out += super().process([frame])
        return out

    def infer(self, frames: list[Frame]) -> list[list[TextLine]]:
        return [self.lines(frame) for frame in frames]

    def observe(self, frame: Frame, result: list[TextLine]) -> list[Observation]:
        return line_observations(frame, result, self.source, self.params)

    def finish(self) -> list[Observation]:
        self.seen = None
        return super().finish()

    def close(self) -> None:
        self.engine = None
        self.seen = None
        super().close()
