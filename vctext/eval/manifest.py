"""Eval manifests: JSONL or CSV rows of a video, a question and what a right answer is.

Columns: ``video``, ``question``, ``answer`` (text; with ``options``, a letter, a 0-based index
or an option's text), optional ``options`` (JSON list, or ``|``-separated in CSV), ``start`` and
``end`` (the moment, seconds), ``transcript``, ``text_on_screen`` and ``cuts`` (references for
the perception scores; lists as JSON or ``|``-separated) and ``id``. Every row is checked before
any video is opened; a bad one is one error naming the row and the fix.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vctext.errors import InputError
from vctext.eval.scores import LETTERS

COLUMNS = (
    "id",
    "video",
    "question",
    "options",
    "answer",
    "start",
    "end",
    "transcript",
    "text_on_screen",
    "cuts",
)


@dataclass(frozen=True)
class EvalItem:
    """One question about one video, with its reference answer and references."""

    id: str
    video: Path
    question: str
    answer: str
    options: tuple[str, ...] = ()
    answer_index: int | None = None  # the right option, for multiple choice
    start: float | None = None
    end: float | None = None
    transcript: str | None = None
    text_on_screen: tuple[str, ...] = ()
    cuts: tuple[float, ...] = ()

    @property
    def moment(self) -> tuple[float, float] | None:
        return None if self.start is None or self.end is None else (self.start, self.end)

    @property
    def reference(self) -> str:
        """The right answer as text (``B. a red car`` for multiple choice)."""
        if self.answer_index is None:
            return self.answer
        return f"{LETTERS[self.answer_index]}. {self.options[self.answer_index]}"


def load_manifest(path: str | Path) -> list[EvalItem]:
    """The items of a JSONL or CSV manifest; video paths are relative to the manifest."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(
            f"cannot read the manifest '{path}': {exc.strerror or exc}; check the path"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"manifest '{path}' is not UTF-8 text; save it as UTF-8") from None
    rows = _csv_rows(text) if path.suffix.lower() == ".csv" else _jsonl_rows(path, text)
    items, ids = [], set()
    for where, row in rows:
        item = parse_row(row, path.parent, f"{path.name} {where}")
        if item.id in ids:
            raise InputError(f"{path.name} {where}: id '{item.id}' is used twice; make ids unique")
        ids.add(item.id)
        items.append(item)
    if not items:
        raise InputError(f"manifest '{path}' has no rows; add rows with video, question, answer")
    return items


def _jsonl_rows(path: Path, text: str) -> list[tuple[str, dict]]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path.name} line {n}: not valid JSON ({exc.msg}); fix it") from None
        if not isinstance(row, dict):
            raise InputError(f"{path.name} line {n}: expected a JSON object with video, question")
        rows.append((f"line {n}", row))
    return rows


def _csv_rows(text: str) -> list[tuple[str, dict]]:
    reader = csv.DictReader(text.splitlines())
    return [
        (f"row {n}", {k.strip(): v for k, v in row.items() if k and v not in (None, "")})
        for n, row in enumerate(reader, 2)
    ]


def _as_list(value: Any, where: str, name: str) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                raise InputError(f"{where}: {name} is not a valid JSON list; fix it") from None
            if isinstance(parsed, list):
                return parsed
        return [part.strip() for part in stripped.split("|")]
    raise InputError(f"{where}: {name} must be a list (or '|'-separated text)")


def _seconds(value: Any, where: str, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise InputError(f"{where}: {name} must be seconds (a number >= 0), not {value!r}")
    return number


def answer_index(answer: str, options: list[str], where: str) -> int:
    """The right option: a letter, a 0-based index or the option's own text."""
    text = answer.strip()
    if len(text) == 1 and text.upper() in LETTERS[: len(options)]:
        return LETTERS.index(text.upper())
    if text.isdigit() and int(text) < len(options):
        return int(text)
    folded = [o.strip().casefold() for o in options]
    if text.casefold() in folded:
        return folded.index(text.casefold())
    raise InputError(
        f"{where}: answer {answer!r} is none of the {len(options)} options; give a letter "
        f"A-{LETTERS[len(options) - 1]}, a 0-based index or an option's text"
    )


def parse_row(row: dict[str, Any], base: Path, where: str) -> EvalItem:
    """One manifest row as an :class:`EvalItem`, or an error naming the row and the fix."""
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise InputError(
            f"{where}: unknown column {', '.join(unknown)}; columns are: {', '.join(COLUMNS)}"
        )
    for name in ("video", "question", "answer"):
        if not str(row.get(name, "")).strip():
            raise InputError(f"{where}: '{name}' is missing or empty; every row needs it")
    video = Path(str(row["video"])).expanduser()
    video = video if video.is_absolute() else base / video
    options = [str(o).strip() for o in _as_list(row.get("options"), where, "options")]
    if len(options) == 1 or len(options) > len(LETTERS) or any(not o for o in options):
        raise InputError(f"{where}: options must be 2 to 26 non-empty choices")
    answer = str(row["answer"])
    index = answer_index(answer, options, where) if options else None
    start, end = _seconds(row.get("start"), where, "start"), _seconds(row.get("end"), where, "end")
    if (start is None) != (end is None) or (start is not None and end <= start):
        raise InputError(f"{where}: give both start and end, with end after start")
    screen = tuple(str(s) for s in _as_list(row.get("text_on_screen"), where, "text_on_screen"))
    cuts = tuple(_seconds(c, where, "cuts") for c in _as_list(row.get("cuts"), where, "cuts"))
    key = (
        str(row.get("id") or "").strip()
        or hashlib.sha1(json.dumps([str(video), row["question"], options]).encode()).hexdigest()[
            :12
        ]
    )
    transcript = row.get("transcript")
    return EvalItem(
        id=key,
        video=video,
        question=str(row["question"]).strip(),
        answer=answer.strip(),
        options=tuple(options),
        answer_index=index,
        start=start,
        end=end,
        transcript=str(transcript) if transcript not in (None, "") else None,
        text_on_screen=screen,
        cuts=tuple(c for c in cuts if c is not None),
    )
