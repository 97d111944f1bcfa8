"""RapidOCR with its bundled PP-OCR weights: what is read, and how little is read again.

Frames are drawn with OpenCV's own (Hershey) fonts, so no system font is needed.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from vctext.perception import ocr
from vctext.perception.base import PerceiverOptions
from vctext.perception.registry import load_perceiver
from vctext.types import Frame

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("rapidocr", "onnxruntime", "cv2")),
    reason='needs rapidocr, onnxruntime and cv2: pip install "vctext[offline]"',
)


def canvas(width=640, height=360, grey=40) -> np.ndarray:
    return np.full((height, width, 3), grey, np.uint8)


def write(image, text, x, y, scale=1.4, thickness=3):
    import cv2

    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness)
    return image


def squash(text: str) -> str:
    return text.replace(" ", "").upper()


@pytest.fixture
def reader():
    def make(**params):
        perceiver = load_perceiver("ocr", "rapidocr", PerceiverOptions("pp-ocrv6", params=params))
        perceiver.ensure_loaded()
        return perceiver

    return make


def read(perceiver, frames) -> list[tuple[float, str]]:
    out = perceiver.process(frames) + perceiver.finish()
    return [(o.start, squash(o.text)) for o in out]


def test_unchanged_frames_reuse_the_last_result_and_a_change_reruns(reader):
    perceiver = reader()
    stop, go = write(canvas(), "STOP 42", 30, 200), write(canvas(), "GO 17", 30, 200)
    frames = [Frame(0.0, stop), Frame(1.0, stop.copy()), Frame(2.0, go), Frame(3.0, go)]
    expected = [(0.0, "STOP42"), (1.0, "STOP42"), (2.0, "GO17"), (3.0, "GO17")]
    assert read(perceiver, frames) == expected
    assert perceiver.ocr_runs == 2  # the repeated frames ran neither model


def test_a_line_that_did_not_change_is_not_read_again(reader):
    """A title stays put while the picture under it changes and the word below it changes."""
    perceiver = reader()
    words = ("NORTH", "SOUTH", "RIVER", "HARBOR")
    frames = []
    for t in range(4):
        image = canvas()
        image[130:250] = (60 + 40 * t, 80, 120)  # the picture between them changes
        write(image, "EXIT 29", 30, 60)
        write(image, words[t], 30, 330)
        frames.append(Frame(float(t), image))
    texts = read(perceiver, frames)
    assert texts == [(float(t), line) for t in range(4) for line in ("EXIT29", words[t])]
    assert perceiver.ocr_runs == 4  # every picture changed, so text was looked for on each
    assert perceiver.lines_read == 1 + 4  # the title once, the changing word every time


def test_reused_text_is_read_again_after_reuse_max(reader):
    perceiver = reader(reuse_max=5.0)
    frames = []
    for t in range(13):
        image = write(canvas(), "EXIT 29", 30, 60)
        image[130:330] = 60 + 15 * (t % 6)  # the picture under it keeps changing
        frames.append(Frame(float(t), image))
    texts = read(perceiver, frames)
    assert texts == [(float(t), "EXIT29") for t in range(13)]
    assert perceiver.lines_read == 3  # read at 0 s, again at 6 s and at 12 s


def test_small_text_is_found_on_a_small_copy_and_read_from_the_full_frame(reader):
    """Subtitle-sized text in a 720p frame: 14 px letters, found at 360 px, read at 720."""
    perceiver = reader()
    image = canvas(1280, 720, grey=90)
    image[640:676, 500:780] = 0  # the subtitle's dark band
    write(image, "Ferry at 7:30", 510, 666, scale=0.8, thickness=2)
    frame = Frame(4.0, image, scale=1.5)  # decoded from a 1920x1080 source
    (line,) = perceiver.process([frame])
    assert squash(line.text) == "FERRYAT7:30"
    x1, y1, x2, y2 = line.box
    assert 490 * 1.5 <= x1 < x2 <= 790 * 1.5 and 630 * 1.5 <= y1 < y2 <= 686 * 1.5  # source px


def test_reading_every_line_of_every_frame_gives_the_same_text(reader):
    frames = []
    for t in range(3):
        image = write(canvas(), "EXIT 29", 30, 60)
        image[130:330] = 60 + 40 * t
        frames.append(Frame(float(t), image))
    thrifty, every = reader(), reader(reuse_diff=0)
    assert read(thrifty, frames) == read(every, frames)
    assert (thrifty.lines_read, every.lines_read) == (1, 3)


def test_crop_line_straightens_a_tilted_line():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 50:150] = 255
    quad = np.array([[50, 40], [150, 40], [150, 60], [50, 60]], float)
    crop = ocr.crop_line(image, quad)
    assert crop.shape[:2] == (20, 100) and crop[5:15, 10:90].min() > 200
    tall = np.array([[90, 10], [110, 10], [110, 90], [90, 90]], float)
    assert ocr.crop_line(image, tall).shape[:2] == (20, 80)  # vertical text turned to read


def test_a_line_that_grows_a_letter_is_read_again(reader):
    perceiver = reader()
    frames = []
    for t, text in enumerate(("EXIT7", "EXIT72", "EXIT72")):
        image = write(canvas(), text, 30, 200)
        image[260:340] = 60 + 50 * t  # the rest of the picture changes too
        frames.append(Frame(float(t), image))
    texts = [text for _, text in read(perceiver, frames)]
    assert texts == ["EXIT7", "EXIT72", "EXIT72"]
    assert perceiver.lines_read == 2


def test_captions_over_moving_pictures_are_read_once(reader):
    """A caption in a see-through box over a panning photo: the letters stay, the photo moves."""
    from skimage import data

    photo = np.repeat(np.repeat(data.astronaut(), 2, axis=0), 2, axis=1)  # 1024 x 1024
    frames = []
    for t in range(5):
        image = np.ascontiguousarray(photo[200 + 12 * t : 560 + 12 * t, 40 * t : 640 + 40 * t])
        band = image[280:340, 60:580].astype(np.int16)
        image[280:340, 60:580] = (band * 0.45).astype(np.uint8)  # translucent black box
        write(image, "Gate 4 closes soon", 80, 324, scale=1.0, thickness=2)
        frames.append(Frame(float(t), image))
    perceiver = reader()
    texts = {text for _, text in read(perceiver, frames) if "GATE" in text}
    assert texts == {"GATE4CLOSESSOON"}
    assert perceiver.ocr_runs == 5  # the picture moved: text was looked for on every frame
    assert perceiver.lines_read <= 2  # ... but the caption was read once (plus stray texture)


def test_the_ocr_models_sleep_when_idle(reader):
    """Spinning ONNX Runtime workers held the cores the next model needed (2x slower OCR)."""
    perceiver = reader()
    for part in (perceiver.engine.text_det, perceiver.engine.text_rec):
        options = part.session.session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_a_detection_size_out_of_range_is_a_clear_error(reader):
    from vctext.errors import ConfigError

    with pytest.raises(ConfigError, match="ocr.det_side must be 32 to 2000"):
        reader(det_side=5)
