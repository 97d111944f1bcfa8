"""Merging observations into time ranges: what a reader of the timestamped text sees."""

from vctext.merge import build_segments, collapse
from vctext.types import Observation


def frame_obs(t, kind, text, **kw):
    return Observation(t, t + 1.0, kind, "test", text, **kw)


def test_consecutive_identical_captions_become_one_range():
    obs = [frame_obs(t, "caption", "a man on a couch") for t in range(4)]
    obs += [frame_obs(t, "caption", "a dog in a park") for t in range(4, 7)]
    _, segments = build_segments(obs, frame_interval=1.0)
    assert [(s.start, s.end) for s in segments] == [(0, 4), (4, 7)]
    assert segments[0].lines["caption"] == ["a man on a couch"]
    assert segments[1].lines["caption"] == ["a dog in a park"]


def test_speech_sits_in_the_range_where_it_starts():
    obs = [frame_obs(t, "caption", "a harbour") for t in range(3)]
    obs += [frame_obs(t, "caption", "a ferry at a gate") for t in range(3, 8)]
    obs.append(Observation(2.5, 4.5, "asr", "test", "The ferry leaves now."))
    _, segments = build_segments(obs, frame_interval=1.0)
    first, second = segments
    assert first.lines.get("asr") == ["The ferry leaves now."]
    assert "asr" not in second.lines


def test_scene_cut_splits_a_range_even_when_frames_look_alike():
    obs = [frame_obs(t, "tags", "street") for t in range(6)]
    obs.append(Observation(3.0, 3.0, "scene", "test", "scene 2"))
    _, segments = build_segments(obs, frame_interval=1.0)
    assert [(s.start, s.end) for s in segments] == [(0, 3), (3, 6)]


def test_tracked_object_is_one_observation_with_its_first_box():
    obs = [
        frame_obs(t, "detect", "person", track=2, box=(10 + t, 10, 50 + t, 90), score=0.5 + t / 10)
        for t in range(5)
    ]
    collapsed = collapse(obs, tolerance=0.5)
    assert len(collapsed) == 1
    person = collapsed[0]
    assert (person.start, person.end) == (0, 5)
    assert person.box == (10, 10, 50, 90)
    assert person.score == 0.9


def test_same_label_different_tracks_stay_apart_and_lines_show_ids_and_boxes():
    obs = [
        frame_obs(0, "detect", "person", track=1, box=(0, 0, 10, 10)),
        frame_obs(0, "detect", "person", track=2, box=(20, 0, 30, 10)),
    ]
    _, segments = build_segments(obs, frame_interval=1.0)
    assert segments[0].lines["detect"] == ["person #1 [0,0,10,10]", "person #2 [20,0,30,10]"]


def test_gap_in_a_repeated_caption_starts_a_new_range():
    obs = [frame_obs(t, "caption", "a red car") for t in (0, 1, 5, 6)]
    collapsed = collapse(obs, tolerance=0.5)
    assert [(o.start, o.end) for o in collapsed] == [(0, 2), (5, 7)]


def test_speech_only_video_gets_one_range_per_utterance():
    obs = [Observation(1.0, 3.0, "asr", "t", "Hello."), Observation(5.0, 6.5, "asr", "t", "Bye.")]
    _, segments = build_segments(obs, frame_interval=1.0)
    assert [(s.start, s.end, s.lines["asr"]) for s in segments] == [
        (1.0, 3.0, ["Hello."]),
        (5.0, 6.5, ["Bye."]),
    ]


def test_tags_are_ranked_by_score_and_capped():
    obs = [frame_obs(0, "tags", f"tag{i}", score=i / 20) for i in range(12)]
    _, segments = build_segments(obs, frame_interval=1.0)
    tags = segments[0].lines["tags"]
    assert len(tags) == 8
    assert tags[0] == "tag11"


def test_speech_in_a_gap_between_visual_ranges_does_not_overlap_them():
    obs = [frame_obs(t, "tags", "street") for t in (0, 1)]
    obs += [frame_obs(t, "tags", "harbour") for t in (5, 6)]
    obs.append(Observation(2.5, 7.0, "asr", "t", "A long announcement."))
    _, segments = build_segments(obs, frame_interval=1.0)
    spans = [(s.start, s.end) for s in segments]
    assert spans == sorted(spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    speech = [s for s in segments if "asr" in s.lines]
    assert speech and speech[0].start == 2.5
