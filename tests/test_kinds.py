"""The kind table: one entry decides how a kind of observation is merged, compacted and shown
in every text a user or an LLM reads; an observation of an unknown kind is an error, not a lost
line."""

from __future__ import annotations

import json

import pytest

from vctext import kinds
from vctext.document import VideoText
from vctext.kinds import KindSpec
from vctext.merge import build_segments
from vctext.reason.compact import merge_segments, strip_boxes
from vctext.render import render
from vctext.types import Item, Observation, Segment, VideoInfo

INFO = VideoInfo("street.mp4", 10.0, 25.0, 640, 360)


@pytest.fixture
def registered():
    """Register kinds for one test, and forget them afterwards."""
    added: list[str] = []

    def add(spec: KindSpec) -> KindSpec:
        added.append(spec.name)
        return kinds.register(spec)

    yield add
    for name in added:
        kinds.KINDS.pop(name, None)


def frame_obs(t, kind, text, **kw):
    return Observation(t, t + 1.0, kind, "test", text, **kw)


def doc_of(observations: list[Observation]) -> VideoText:
    collapsed, segments = build_segments(observations, frame_interval=1.0, duration=10.0)
    return VideoText(INFO, collapsed, segments, end=10.0)


def test_an_observation_of_an_unknown_kind_is_an_error_naming_the_known_ones():
    with pytest.raises(ValueError) as caught:
        Observation(1.0, 2.0, "sparkle", "plugin:x", "something shiny")
    message = str(caught.value)
    assert "sparkle" in message and "caption" in message and "register" in message
    with pytest.raises(ValueError):
        Segment(0.0, 1.0, {"sparkle": ["something shiny"]})


def test_a_new_instant_kind_is_one_entry_and_shows_in_every_text(registered):
    registered(KindSpec("sound", "sounds", cue_rank=7))
    obs = [frame_obs(t, "caption", "a dog in a yard") for t in range(4)]
    obs += [frame_obs(t, "caption", "an empty yard") for t in range(4, 8)]
    obs.append(Observation(5.5, 6.0, "sound", "test", "a dog barks"))
    doc = doc_of(obs)

    first, second = doc.segments
    assert "sound" not in first.items  # an instant sits in the range where it starts...
    assert [i.text for i in second.items["sound"]] == ["a dog barks"]
    assert list(second.items) == ["caption", "sound"]  # ...after the built-in kinds

    text = render(doc)
    assert "00:04-00:08  caption: an empty yard\n" in text
    assert "             sounds: a dog barks\n" in text
    assert "*sounds:* a dog barks" in render(doc, format="md")
    assert "<dt>sounds</dt>" in render_html(doc)
    assert json.loads(render(doc, format="json"))["segments"][1]["lines"]["sound"] == [
        "a dog barks"
    ]
    pytest.importorskip("langchain_core")
    from vctext.integrations.langchain import range_text

    assert "sounds: a dog barks" in range_text(second)


def test_a_new_boxed_kind_shows_boxes_and_is_counted_when_room_is_short(registered):
    registered(KindSpec("face", "faces", lasts=True, boxed=True, join="; ", range_tier=2))
    obs = [
        frame_obs(t, "face", "face", track=n, box=(10 * n, 0, 10 * n + 8, 8))
        for t in range(3)
        for n in (1, 2)
    ]
    doc = doc_of(obs)
    (segment,) = doc.segments
    assert [(i.track, i.box) for i in segment.items["face"]] == [
        (1, (10, 0, 18, 8)),
        (2, (20, 0, 28, 8)),
    ]
    assert "faces: face #1 [10,0,18,8]; face #2 [20,0,28,8]" in render(doc)
    (compact,) = strip_boxes(doc.segments)
    assert compact.lines["face"] == ["face x2"]


def test_a_verbatim_kind_keeps_every_line_when_ranges_merge(registered):
    registered(KindSpec("sign", "sign language", quoted=True, verbatim=True, join=" "))
    merged = merge_segments(
        [
            Segment(0, 4, {"caption": ["a woman signing"], "sign": ["hello"]}),
            Segment(4, 8, {"caption": ["a woman signing"], "sign": ["where is the ferry"]}),
            Segment(8, 9, {"caption": ["a woman waving"], "sign": ["goodbye"]}),
        ],
        keep=1,
    )
    assert merged.lines["sign"] == ["hello", "where is the ferry", "goodbye"]
    assert merged.lines["caption"] == ["a woman signing"]


def test_segment_items_carry_their_fields_and_only_renderers_make_text():
    obs = [
        frame_obs(0, "detect", "person", track=3, box=(1, 2, 30, 40), score=0.8),
        frame_obs(0, "tags", "street", score=0.4),
        frame_obs(0, "tags", "crosswalk", score=0.7),
        Observation(0.2, 0.9, "asr", "test", "Cross now.", extra={"speaker": "S1"}),
    ]
    (segment,) = doc_of(obs).segments
    person = segment.items["detect"][0]
    assert (person.text, person.track, person.box, person.score) == (
        "person",
        3,
        (1, 2, 30, 40),
        0.8,
    )
    assert [(t.text, t.score) for t in segment.items["tags"]] == [
        ("crosswalk", 0.7),
        ("street", 0.4),
    ]
    assert segment.items["asr"][0].speaker == "S1"
    assert segment.lines["detect"] == ["person #3 [1,2,30,40]"]
    # Items given as plain text are items with that text.
    assert Segment(0, 1, {"ocr": ["EXIT"]}).items["ocr"] == (Item("EXIT"),)


def test_registering_a_different_spec_under_a_known_name_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        kinds.register(KindSpec("asr", "talk"))
    assert kinds.spec("asr").label == "speech"


def render_html(doc: VideoText) -> str:
    from vctext.report import render_html

    return render_html(doc, thumbnails=False)
