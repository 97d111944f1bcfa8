"""The eval's scores and manifests: small pure functions, no video, no LLM."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from vctext.errors import InputError
from vctext.eval.manifest import load_manifest
from vctext.eval.run import predicted_moment
from vctext.eval.scores import (
    cut_recall,
    grounding,
    iou,
    match_scores,
    parse_choice,
    parse_judge,
    screen_text_recall,
    word_error_rate,
)
from vctext.eval.summary import summarize, summary_markdown


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", 1),
        ("(c)", 2),
        ("Answer: A.", 0),
        ("The answer is D", 3),
        ("b) gate four", 1),
        ("E", None),  # only four options
        ("I think it is B", None),  # strict: the letter must come first
        ("", None),
    ],
)
def test_parse_choice_is_strict(reply, expected):
    assert parse_choice(reply, 4) == expected


def test_iou_and_grounding():
    assert iou((0, 10), (5, 15)) == pytest.approx(5 / 15)
    assert iou((0, 1), (2, 3)) == 0.0
    got = grounding([((3, 7), (3, 7)), ((0, 4), (2, 6)), (None, (1, 2))])
    assert got["r1@0.3"] == pytest.approx(2 / 3)
    assert got["r1@0.5"] == pytest.approx(1 / 3) and got["r1@0.7"] == pytest.approx(1 / 3)
    assert got["miou"] == pytest.approx((1 + 2 / 6) / 3) and got["n"] == 3
    assert grounding([]) == {}


def test_word_error_rate_normalizes_case_punctuation_and_numbers():
    ref = "The ferry leaves at seven thirty from gate four."
    assert word_error_rate(ref, "the ferry leaves at 7:30 from Gate 4") == 0.0
    assert word_error_rate("a b c d", "a x c") == pytest.approx(2 / 4)  # one sub, one del
    assert word_error_rate("a b", "a b c d") == pytest.approx(1.0)  # two insertions


def test_screen_text_and_cut_recall():
    lines = ["GATE 7", "Departures", "Platform  Nine"]
    assert screen_text_recall(["gate 7", "platformnine", "EXIT"], lines) == pytest.approx(2 / 3)
    assert screen_text_recall([], lines) is None
    assert cut_recall([2.0, 5.0, 8.0], [2.4, 5.6, 7.9, 8.1]) == pytest.approx(2 / 3)
    assert cut_recall([1.0, 1.2], [1.1]) == 0.5  # one found cut matches one expected cut
    assert cut_recall([], [1.0]) is None


def test_match_scores():
    assert match_scores("To the island.", "to the island") == {"exact": 1.0, "contains": 1.0}
    assert match_scores("It goes to the island", "the island") == {"exact": 0.0, "contains": 1.0}
    assert match_scores("islands", "island")["contains"] == 0.0


def test_parse_judge():
    reply = (
        'Scores: {"correctness": 4, "detail": "3", "context": 5, "temporal": 2, "consistency": 5}'
    )
    assert parse_judge(reply) == {
        "correctness": 4,
        "detail": 3,
        "context": 5,
        "temporal": 2,
        "consistency": 5,
    }
    with pytest.raises(ValueError, match="temporal"):
        parse_judge('{"correctness": 4, "detail": 3, "context": 5, "consistency": 5}')
    with pytest.raises(ValueError):
        parse_judge("no json here")


def test_predicted_moment_prefers_moments_then_ranges():
    ranges = [SimpleNamespace(start=1.0, end=2.0)]
    assert predicted_moment(SimpleNamespace(ranges=ranges)) == (1.0, 2.0)
    both = SimpleNamespace(ranges=ranges, moments=[{"start": 4, "end": 6}])
    assert predicted_moment(both) == (4.0, 6.0)
    assert predicted_moment(SimpleNamespace(ranges=[], moments=[])) is None


def test_summary_counts_failures_apart():
    results = [
        {"id": "a", "question": "q", "scores": {"accuracy": 1.0, "iou": 0.6}},
        {"id": "b", "question": "q", "scores": {"exact": 0.0, "contains": 1.0, "wer": 0.1}},
        {"id": "c", "question": "q", "scores": {}, "error": "perception failed"},
    ]
    summary = summarize(results)
    assert summary["multiple_choice"] == {"n": 1, "accuracy": 1.0}
    assert summary["open_ended"]["judge"] == "off" and summary["failed"] == 1
    assert summary["grounding"]["r1@0.5"] == 1.0 and summary["grounding"]["r1@0.7"] == 0.0
    assert summary["perception"]["wer"] == {"n": 1, "mean": 0.1}
    assert "| items failed | 1 | 3 |" in summary_markdown(summary)


# -- manifests --------------------------------------------------------------------------------


def test_csv_and_jsonl_manifests(tmp_path):
    (tmp_path / "clips").mkdir()
    csv = tmp_path / "m.csv"
    csv.write_text(
        "video,question,options,answer,start,end,text_on_screen\n"
        "clips/a.mp4,Which gate?,gate two|gate four,gate four,1,3.5,GATE 4|EXIT\n"
    )
    [item] = load_manifest(csv)
    assert item.video == tmp_path / "clips" / "a.mp4"
    assert item.options == ("gate two", "gate four") and item.answer_index == 1
    assert item.moment == (1.0, 3.5) and item.text_on_screen == ("GATE 4", "EXIT")
    jsonl = tmp_path / "m.jsonl"
    rows = [
        {"video": "/abs/b.mp4", "question": "Q?", "options": ["x", "y", "z"], "answer": 2},
        {"video": "b.mp4", "question": "Where?", "answer": "home", "cuts": [1.5, "3"]},
    ]
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    first, second = load_manifest(jsonl)
    assert first.answer_index == 2 and first.reference == "C. z"
    assert second.options == () and second.cuts == (1.5, 3.0) and first.id != second.id


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "Q?", "answer": "a"}', "line 2: 'video' is missing"),
        ('{"video": "v.mp4", "question": "Q?", "answer": "D", "options": ["a", "b"]}', "A-B"),
        ('{"video": "v.mp4", "question": "Q?", "answer": "a", "start": 5}', "both start and end"),
        ('{"video": "v.mp4", "question": "Q?", "answer": "a", "start": 5, "end": 2}', "end after"),
        ('{"video": "v.mp4", "question": "Q?", "answer": "a", "start": "soon", "end": 2}', "start"),
        ('{"video": "v.mp4", "question": "Q?", "answer": "a", "colour": 1}', "unknown column"),
        ('{"video": "v.mp4", "question": "Q?", "answer": "a", "options": ["only"]}', "2 to 26"),
        ("[1, 2]", "expected a JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_manifest_rows_name_the_row_and_the_fix(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"video": "ok.mp4", "question": "Q?", "answer": "a"}\n' + line + "\n")
    with pytest.raises(InputError, match="bad.jsonl line 2") as err:
        load_manifest(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_empty_manifest_and_duplicate_ids(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_text("video,question,answer\n")
    with pytest.raises(InputError, match="has no rows"):
        load_manifest(empty)
    dup = tmp_path / "d.jsonl"
    row = {"id": "x", "video": "v.mp4", "question": "Q?", "answer": "a"}
    dup.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(InputError, match="id 'x' is used twice"):
        load_manifest(dup)
