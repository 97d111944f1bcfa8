"""Benchmarks' own files → ``vctext eval`` manifests (JSONL on stdout).

    python -m vctext.eval.convert egoschema questions.json subset_answers.json --videos DIR
    python -m vctext.eval.convert nextqa val.csv --videos DIR [--map map_vid_vidorID.json]
    python -m vctext.eval.convert videomme test-00000-of-00001.parquet --videos DIR

EgoSchema: ``questions.json`` (``q_uid``, ``question``, ``option 0`` ... ``option 4``) and the
answers (``{q_uid: index}``; questions without one are left out), videos ``DIR/<q_uid>.mp4``.
NExT-QA multiple choice: CSV with ``video``, ``qid``, ``question``, ``a0`` ... ``a4`` and
``answer`` (0-based), videos ``DIR/<video>.mp4``, or ``DIR/<folder/id>.mp4`` through
``map_vid_vidorID.json``. Video-MME: the parquet (needs pandas and pyarrow) or JSON/JSONL rows
with ``videoID``, ``question_id``, ``question``, ``options`` (``"A. ..."``) and ``answer``
(a letter), videos ``DIR/<videoID>.mp4``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_LETTER_PREFIX = re.compile(r"^\s*\(?[A-Z][.):]\s*")


def _load_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _video(folder: Path, name: str) -> str:
    return str(Path(folder) / (name if Path(name).suffix else f"{name}.mp4"))


def egoschema(questions: Path, answers: Path, videos: Path) -> Iterator[dict]:
    """EgoSchema rows with a known answer."""
    truth = _load_json(answers)
    for q in _load_json(questions):
        if q["q_uid"] not in truth:
            continue
        options = [q[f"option {i}"] for i in range(5) if f"option {i}" in q]
        yield {
            "id": q["q_uid"],
            "video": _video(videos, q["q_uid"]),
            "question": q["question"],
            "options": options,
            "answer": int(truth[q["q_uid"]]),
        }


def nextqa(table: Path, videos: Path, mapping: Path | None = None) -> Iterator[dict]:
    """NExT-QA multiple-choice rows."""
    where = {str(k): v for k, v in _load_json(mapping).items()} if mapping else {}
    with open(table, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            video = str(row["video"])
            yield {
                "id": f"{video}_{row['qid']}",
                "video": _video(videos, where.get(video, video)),
                "question": row["question"].strip(),
                "options": [row[f"a{i}"] for i in range(5) if row.get(f"a{i}")],
                "answer": int(row["answer"]),
            }


def _videomme_rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        try:
            import pandas as pd
        except ImportError:
            sys.exit("reading parquet needs pandas and pyarrow: pip install 'vctext[eval]'")
        return pd.read_parquet(path).to_dict("records")
    text = path.read_text(encoding="utf-8")
    return (
        json.loads(text)
        if text.lstrip().startswith("[")
        else [json.loads(line) for line in text.splitlines() if line.strip()]
    )


def videomme(table: Path, videos: Path) -> Iterator[dict]:
    """Video-MME rows; the options lose their ``A.`` prefixes (eval adds its own letters)."""
    for row in _videomme_rows(Path(table)):
        yield {
            "id": str(row["question_id"]),
            "video": _video(videos, str(row["videoID"])),
            "question": str(row["question"]).strip(),
            "options": [_LETTER_PREFIX.sub("", str(o)) for o in list(row["options"])],
            "answer": str(row["answer"]).strip(),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vctext.eval.convert", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="benchmark", required=True)
    ego = sub.add_parser("egoschema", help="questions.json + answers JSON")
    ego.add_argument("questions", type=Path)
    ego.add_argument("answers", type=Path)
    nxt = sub.add_parser("nextqa", help="multiple-choice CSV (train/val/test.csv)")
    nxt.add_argument("table", type=Path)
    nxt.add_argument("--map", type=Path, default=None, help="map_vid_vidorID.json")
    mme = sub.add_parser("videomme", help="parquet, JSON or JSONL rows")
    mme.add_argument("table", type=Path)
    for p in (ego, nxt, mme):
        p.add_argument("--videos", type=Path, required=True, help="folder of the videos")
    args = parser.parse_args(argv)
    if args.benchmark == "egoschema":
        rows = egoschema(args.questions, args.answers, args.videos)
    elif args.benchmark == "nextqa":
        rows = nextqa(args.table, args.videos, args.map)
    else:
        rows = videomme(args.table, args.videos)
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
