"""The results file of ``vctext eval``: ``vctext instruct``'s writer, lock and state file, with
eval's own records; and the summary written beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vctext.instruct_output import RecordWriter, sibling


def is_result(value: Any) -> bool:
    """True for what ``vctext eval`` writes: an id, a question and scores."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and isinstance(value.get("question"), str)
        and isinstance(value.get("scores"), dict)
    )


class ResultWriter(RecordWriter):
    """Append-only, fsynced results; opened only on a file ``vctext eval`` wrote.

    As :class:`RecordWriter`, with eval's records: results that hold an ``error`` are dropped
    so a rerun tries them again.
    """

    what = "vctext eval results"
    noun = "result"

    @staticmethod
    def is_valid(value: Any) -> bool:
        return is_result(value)

    @staticmethod
    def redo(record: dict[str, Any]) -> bool:
        return bool(record.get("error"))


def read_results(path: Path) -> list[dict[str, Any]]:
    """Every result in ``path`` (none when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def summary_paths(output: Path) -> tuple[Path, Path]:
    return sibling(output, ".summary.json"), sibling(output, ".summary.md")
