"""OCR: how small a caption is still read, and what each detection size costs.

    python benchmarks/bench_ocr.py                    # det_side 288, 360, 480, 720
    python benchmarks/bench_ocr.py --sides 360,480

Frames are 1280x720 (what `describe` decodes a 720p or 1080p video to) with a sentence drawn
(DejaVu Sans, white with a thin black outline, no box) over four scikit-image photos, at letter
heights from 12 to 40 px; plus the same on a dark caption band. A frame counts as read when one
OCR line equals the sentence (case, spaces and punctuation ignored). Each frame is new to the
perceiver (nothing reused), so the milliseconds are the full cost of finding and reading.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

from vctext.perception.base import PerceiverOptions
from vctext.perception.registry import load_perceiver
from vctext.types import Frame

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
SENTENCES = ("The ferry leaves at 7:30", "Gate 4 closes soon", "Welcome to Lisbon")
SIZES = (12, 16, 20, 28, 40)
WIDTH, HEIGHT = 1280, 720


def frame(photo: np.ndarray, text: str, px: int, band: bool) -> np.ndarray:
    import cv2
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(cv2.resize(photo, (WIDTH, HEIGHT)))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, px)
    width = draw.textlength(text, font=font)
    x, y = (WIDTH - width) / 2, HEIGHT - 3 * px
    if band:
        draw.rectangle([x - 8, y - 6, x + width + 8, y + px * 1.35], fill=(0, 0, 0))
    stroke = 0 if band else max(1, px // 12)
    draw.text((x, y), text, font=font, fill=(255, 255, 255), stroke_width=stroke, stroke_fill=0)
    return np.asarray(image)


def squash(text: str) -> str:
    return re.sub(r"\W", "", text).lower()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", default="288,360,480,720", help="det_side values to compare")
    args = parser.parse_args()
    if not Path(FONT).is_file():
        sys.exit(f"needs {FONT}: apt-get install fonts-dejavu-core")
    import skimage.data

    photos = [getattr(skimage.data, name)() for name in PHOTOS]
    cases = [
        (band, px, text, frame(photo, text, px, band))
        for band in (False, True)
        for px in SIZES
        for photo in photos
        for text in SENTENCES
    ]
    header = "| det_side | ms per frame | " + " | ".join(
        f"{px} px{' band' if band else ''}" for band in (False, True) for px in SIZES
    )
    print(header + " |")
    print("|---:|---:|" + "---:|" * (2 * len(SIZES)))
    for side in (int(s) for s in args.sides.split(",")):
        ocr = load_perceiver(
            "ocr", "rapidocr", PerceiverOptions("pp-ocrv6", params={"det_side": side})
        )
        ocr.ensure_loaded()
        read: dict[tuple[bool, int], int] = {}
        elapsed = 0.0
        for i, (band, px, text, image) in enumerate(cases):
            t0 = time.perf_counter()
            lines = ocr.process([Frame(float(i), image)])
            elapsed += time.perf_counter() - t0
            ocr.finish()  # forget this frame: the next one is read from scratch
            hit = any(squash(o.text) == squash(text) for o in lines)
            read[(band, px)] = read.get((band, px), 0) + hit
        ocr.close()
        per = len(photos) * len(SENTENCES)
        cells = " | ".join(f"{read[(band, px)]}/{per}" for band in (False, True) for px in SIZES)
        print(f"| {side} | {1000 * elapsed / len(cases):.0f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
