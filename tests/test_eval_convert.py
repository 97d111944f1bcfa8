"""Benchmark converters: a few rows in each benchmark's real format become manifest rows that
``load_manifest`` reads back with the right answer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vctext.eval.manifest import load_manifest

EGO_QUESTIONS = [
    {
        "q_uid": "0074f737-11cb-497d-8d07-77c3a8127391",
        "google_drive_id": "1btz7NQgbRfgvdmtxXjJ2vr5Mm4KXpnrU",
        "question": "What is the overarching behavior of c throughout the video?",
        "option 0": "c is cooking",
        "option 1": "c is cleaning the kitchen",
        "option 2": "c is washing dishes",
        "option 3": "c is reading a book",
        "option 4": "c is painting a wall",
    },
    {
        "q_uid": "00b9a0de-c59e-49cb-a127-6081e2fb8c8e",
        "google_drive_id": "x",
        "question": "Without an answer in the subset?",
        **{f"option {i}": f"o{i}" for i in range(5)},
    },
]
NEXTQA_CSV = (
    "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
    "4010069381,369,640,480,how do the two man play the instrument,0,6,CH,"
    "roll the handle,tap their feet,strum the string,hit with sticks,pat with hand\n"
    "4882821564,1069,640,480,why did the boy pick up one present from the group,3,2,CW,"
    "to eat,share with the girl,throw it,to open it,play with it\n"
)
VIDEOMME_ROWS = [
    {
        "video_id": "001",
        "duration": "short",
        "domain": "Knowledge",
        "sub_category": "Humanity & History",
        "url": "https://www.youtube.com/watch?v=fFjv93ACGo8",
        "videoID": "fFjv93ACGo8",
        "question_id": "001-1",
        "task_type": "Counting Problem",
        "question": "When demonstrating the Germany modern Christmas tree is initially decorated "
        "with apples, candles and berries, which kind of the decoration has the largest number?",
        "options": [
            "A. Apples.",
            "B. Candles.",
            "C. Berries.",
            "D. The three kinds are of the same number.",
        ],
        "answer": "C",
    }
]


def convert(*args: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "vctext.eval.convert", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in proc.stdout.splitlines()]


def round_trip(tmp_path, rows: list[dict]):
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_manifest(manifest)


def test_egoschema(tmp_path):
    (tmp_path / "questions.json").write_text(json.dumps(EGO_QUESTIONS))
    (tmp_path / "subset_answers.json").write_text(json.dumps({EGO_QUESTIONS[0]["q_uid"]: 2}))
    rows = convert(
        "egoschema",
        str(tmp_path / "questions.json"),
        str(tmp_path / "subset_answers.json"),
        "--videos",
        str(tmp_path / "videos"),
    )
    [item] = round_trip(tmp_path, rows)
    assert item.id == EGO_QUESTIONS[0]["q_uid"] and len(item.options) == 5
    assert item.reference == "C. c is washing dishes"
    assert item.video == tmp_path / "videos" / f"{item.id}.mp4"


def test_nextqa_with_its_video_map(tmp_path):
    (tmp_path / "val.csv").write_text(NEXTQA_CSV)
    (tmp_path / "map.json").write_text(json.dumps({"4010069381": "1106/4010069381"}))
    rows = convert(
        "nextqa",
        str(tmp_path / "val.csv"),
        "--videos",
        "/data/nextqa",
        "--map",
        str(tmp_path / "map.json"),
    )
    first, second = round_trip(tmp_path, rows)
    assert first.id == "4010069381_6" and first.reference == "A. roll the handle"
    assert str(first.video) == "/data/nextqa/1106/4010069381.mp4"
    assert str(second.video) == "/data/nextqa/4882821564.mp4"
    assert second.reference == "D. to open it"


def test_videomme_json_rows(tmp_path):
    (tmp_path / "videomme.json").write_text(json.dumps(VIDEOMME_ROWS))
    rows = convert("videomme", str(tmp_path / "videomme.json"), "--videos", str(tmp_path))
    [item] = round_trip(tmp_path, rows)
    assert item.id == "001-1" and item.options[0] == "Apples."
    assert item.reference == "C. Berries." and item.video == tmp_path / "fFjv93ACGo8.mp4"


def test_videomme_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pd.DataFrame(VIDEOMME_ROWS).to_parquet(tmp_path / "test-00000-of-00001.parquet")
    rows = convert("videomme", str(tmp_path / "test-00000-of-00001.parquet"), "--videos", "v")
    [item] = round_trip(tmp_path, rows)
    assert item.reference == "C. Berries." and len(item.options) == 4
