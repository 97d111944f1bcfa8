"""Instruction data, item by item: inputs, prompts, parsing and checking LLM output, records.

Everything here is pure (no threads, no files written) so it can be tested without a model;
:mod:`vctext.instruct` runs it over a batch.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vctext.errors import ConfigError, InputError
from vctext.llm.base import Message
from vctext.reason.prompts import escape_evidence, fill, load_prompt, system_prompt

TASKS = ("description", "conversation")
#: The records each task makes, one LLM job each: the description task pairs a detailed story
#: with detailed instructions and a one- or two-sentence summary with brief ones (as VideoChat).
TASK_KINDS = {
    "description": ("description", "description-brief"),
    "conversation": ("conversation",),
}
#: Every kind of record (a record's ``task``), in order.
RECORD_KINDS = tuple(kind for kinds in TASK_KINDS.values() for kind in kinds)
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts"}
)
MANIFEST_EXTENSIONS = (".csv", ".jsonl")
#: Column names a manifest may use for the video path and its original caption.
PATH_KEYS = ("video", "path", "file", "video_path", "filename")
CAPTION_KEYS = ("caption", "text", "description", "original_caption")
#: Description length asked for, and the range accepted after clean-up.
DESCRIPTION_WORDS = "150 to 200"
DESCRIPTION_RANGE = (40, 400)
BRIEF_MAX_WORDS = 60
CONVERSATION_TURNS = 6
#: Two questions sharing this much of their normalized words (Jaccard) are duplicates.
DUPLICATE_OVERLAP = 0.7
#: Prices in US dollars per million (input, output) tokens, by model id prefix.
PRICES = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4-turbo": (10.00, 30.00),
}


@dataclass(frozen=True)
class Item:
    """One video to make data from, with the caption a manifest gave it (if any)."""

    path: Path
    caption: str = ""


class InvalidOutput(ValueError):
    """The LLM answered, but not with data we can use; trying again may help."""


# -- inputs ------------------------------------------------------------------------------------


def collect_inputs(inputs: list[str | os.PathLike]) -> list[Item]:
    """Video files, folders (searched recursively) and CSV/JSONL manifests, in order.

    A path that does not exist is kept: it is reported as that item's failure, not the batch's.
    """
    items: list[Item] = []
    for raw in inputs:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
            )
            if not found:
                raise InputError(f"no video files in folder '{path}'")
            items += [Item(p) for p in found]
        elif path.suffix.lower() in MANIFEST_EXTENSIONS and path.is_file():
            items += read_manifest(path)
        else:
            items.append(Item(path))
    return items


def read_manifest(path: Path) -> list[Item]:
    """Rows of a CSV (with a header) or JSONL manifest; relative paths are from its folder."""
    rows: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if path.suffix.lower() == ".csv":
                rows = list(csv.DictReader(f))
            else:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        row = json.loads(line)
                        if not isinstance(row, dict):
                            raise ValueError(f"line {n} is not a JSON object")
                        rows.append(row)
    except (OSError, ValueError, csv.Error) as exc:
        raise InputError(f"cannot read manifest '{path}': {exc}") from None
    items = []
    for n, row in enumerate(rows, 1):
        row = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        video = next((str(row[k]).strip() for k in PATH_KEYS if row.get(k)), "")
        if not video:
            raise InputError(
                f"manifest '{path}' row {n} has no video path; use a column named "
                f"{' or '.join(PATH_KEYS)}"
            )
        caption = next((str(row[k]).strip() for k in CAPTION_KEYS if row.get(k)), "")
        target = Path(video).expanduser()
        items.append(Item(target if target.is_absolute() else path.parent / target, caption))
    return items


# -- prompts -----------------------------------------------------------------------------------


def kinds_of(tasks: tuple[str, ...]) -> tuple[str, ...]:
    """The record kinds ``tasks`` make, in order."""
    return tuple(kind for task in tasks for kind in TASK_KINDS[task])


def prompt_text(kind: str, overrides: dict[str, Path]) -> str:
    """The kind's prompt: ``--prompt`` file if given, else ``prompts/instruct_<kind>.txt``."""
    if kind in overrides:
        try:
            return overrides[kind].read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"cannot read prompt file '{overrides[kind]}': {exc}") from None
    return load_prompt(f"instruct_{kind.replace('-', '_')}.txt")


def parse_prompt_overrides(values: list[str], tasks: tuple[str, ...]) -> dict[str, Path]:
    """``--prompt PATH`` (one task) or ``--prompt KIND=PATH`` (any number) as {kind: path}."""
    out: dict[str, Path] = {}
    for value in values:
        task, sep, path = value.partition("=")
        if not sep or task not in RECORD_KINDS:
            if len(tasks) != 1:
                raise ConfigError(
                    f"--prompt {value}: with several tasks, say which: --prompt KIND=PATH "
                    f"with KIND one of {', '.join(RECORD_KINDS)}"
                )
            task, path = tasks[0], value
        out[task] = Path(path).expanduser()
    return out


def task_messages(task: str, prompt: str, evidence: str, caption: str) -> list[Message]:
    """System prompt, then the evidence in its tags and the task's instructions."""
    note = ""
    if caption:  # the dataset's own caption is evidence too, never instructions
        note = (
            "\nThe video's original caption, also evidence:\n"
            f"<video_text>\n{escape_evidence(' '.join(caption.split()))}\n</video_text>\n"
        )
    body = fill(prompt, words=DESCRIPTION_WORDS, turns=str(CONVERSATION_TURNS), caption=note)
    user = f"<video_text>\n{escape_evidence(evidence.strip())}\n</video_text>\n\n{body.strip()}"
    return [Message("system", system_prompt()), Message("user", user)]


def pick_instruction(pool: str, seed: str) -> str:
    """One instruction from ``prompts/instruct_pool_<pool>.txt``, the same for the same seed."""
    lines = [ln.strip() for ln in load_prompt(f"instruct_pool_{pool}.txt").splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(lines)]


# -- checking what the LLM wrote ---------------------------------------------------------------

_SENTENCE = re.compile(r"[^.!?。！？]+[.!?。！？]+[\"')\]]*|[^.!?。！？]+$")
_TIME = re.compile(
    r"\s*\(?\b(?:at|around|by|from|until|to)?\s*\d{1,2}:\d{2}(?::\d{2})?(?:\s*-\s*\d{1,2}:\d{2})?"
    r"\)?|\s*\b(?:at|after|around)\s+\d+(?:\.\d+)?\s*(?:seconds?|secs?|s)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def overlap(a: str, b: str) -> float:
    """Jaccard overlap of two texts' normalized word sets."""
    x, y = set(words(a)), set(words(b))
    return len(x & y) / len(x | y) if x and y else 0.0


def _english(sentence: str) -> bool:
    letters = [c for c in sentence if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) / len(letters) >= 0.9


def clean_description(text: str) -> str:
    """Drop explicit times, repeated sentences, and broken or non-English ones."""
    text = " ".join(text.replace("```", " ").split())
    kept: list[str] = []
    for raw in _SENTENCE.findall(text):
        sentence = " ".join(_TIME.sub("", raw).split()).strip()
        sentence = re.sub(r"\s+([,.!?;:])", r"\1", sentence)
        if len(words(sentence)) < 3 or not _english(sentence):
            continue
        if sentence[-1] not in ".!?\"')" or not sentence[0].isalnum():
            continue  # cut off mid-sentence, or starts with debris
        if any(overlap(sentence, seen) >= 0.8 for seen in kept):
            continue
        kept.append(sentence[0].upper() + sentence[1:])
    return " ".join(kept)


def parse_description(reply: str) -> str:
    text = clean_description(reply)
    n = len(words(text))
    low, high = DESCRIPTION_RANGE
    if not low <= n <= high:
        raise InvalidOutput(f"the description has {n} usable words, expected {low} to {high}")
    return text


def parse_brief(reply: str) -> str:
    """A one- or two-sentence summary: cleaned like a description, non-empty and short."""
    text = clean_description(reply)
    n = len(words(text))
    if not n:
        raise InvalidOutput("the summary has no usable English sentence")
    if n > BRIEF_MAX_WORDS:
        raise InvalidOutput(f"the summary has {n} words, expected at most {BRIEF_MAX_WORDS}")
    return text


def _json_object(reply: str) -> Any:
    text = reply.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    candidates = [text] + ([text[start : end + 1]] if 0 <= start < end else [])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise InvalidOutput("the reply is not JSON")


def parse_conversation(reply: str) -> list[dict[str, str]]:
    """Question/answer pairs out of the reply's JSON, near-duplicate questions removed."""
    data = _json_object(reply)
    pairs = data.get("qa") if isinstance(data, dict) else data
    if not isinstance(pairs, list):
        raise InvalidOutput('the JSON has no "qa" list')
    kept: list[dict[str, str]] = []
    for pair in pairs:
        if not isinstance(pair, dict):
            continue
        question = " ".join(str(pair.get("question") or "").split())
        answer = " ".join(str(pair.get("answer") or "").split())
        if len(words(question)) < 2 or not answer or not _english(question + answer):
            continue
        if any(overlap(question, k["question"]) >= DUPLICATE_OVERLAP for k in kept):
            continue
        kind = str(pair.get("type") or "").strip().lower()
        kept.append({"type": kind, "question": question, "answer": answer})
    if len(kept) < 2:
        raise InvalidOutput(f"the JSON has {len(kept)} usable question/answer pairs, expected 2+")
    return kept


#: How each record kind's reply is read.
PARSERS = {
    "description": parse_description,
    "description-brief": parse_brief,
    "conversation": parse_conversation,
}


# -- records -----------------------------------------------------------------------------------


def record_id(sha256: str, task: str) -> str:
    return f"{sha256[:16]}-{task}"


def make_record(task: str, item: Item, sha256: str, content: Any, model: str) -> dict[str, Any]:
    """A VideoChat/LLaVA-style record: ``<video>`` opens the first human turn."""
    if task in ("description", "description-brief"):
        pool = "detailed" if task == "description" else "brief"
        turns = [("human", pick_instruction(pool, sha256)), ("gpt", content)]
    else:
        turns = []
        for pair in content:
            turns += [("human", pair["question"]), ("gpt", pair["answer"])]
    conversations = [{"from": who, "value": value} for who, value in turns]
    conversations[0]["value"] = "<video>\n" + conversations[0]["value"]
    return {
        "id": record_id(sha256, task),
        "video": str(item.path),
        "task": task,
        "conversations": conversations,
        "meta": {"sha256": sha256, "model": model, "original_caption": item.caption or None},
    }


def validate_record(record: Any) -> None:
    """Raise :class:`InvalidOutput` unless ``record`` is a well-formed training record."""
    if not isinstance(record, dict):
        raise InvalidOutput("a record must be a JSON object")
    for key, kind in (("id", str), ("video", str), ("task", str), ("conversations", list)):
        if not isinstance(record.get(key), kind) or not record[key]:
            raise InvalidOutput(f"record field {key!r} must be a non-empty {kind.__name__}")
    if record["task"] not in RECORD_KINDS:
        raise InvalidOutput(
            f"record task {record['task']!r} is not one of {', '.join(RECORD_KINDS)}"
        )
    turns = record["conversations"]
    if len(turns) % 2:
        raise InvalidOutput("a conversation needs as many answers as questions")
    for i, turn in enumerate(turns):
        expected = "human" if i % 2 == 0 else "gpt"
        if not isinstance(turn, dict) or set(turn) != {"from", "value"}:
            raise InvalidOutput(f"turn {i} must have exactly 'from' and 'value'")
        if turn["from"] != expected:
            raise InvalidOutput(f"turn {i} is from {turn['from']!r}, expected {expected!r}")
        if not isinstance(turn["value"], str) or not turn["value"].strip():
            raise InvalidOutput(f"turn {i} has no text")
        if ("<video>" in turn["value"]) != (i == 0):
            raise InvalidOutput("'<video>' must open the first human turn, and only that one")
    if not turns[0]["value"].startswith("<video>\n"):
        raise InvalidOutput("the first human turn must start with '<video>\\n'")


# -- cost --------------------------------------------------------------------------------------


def price_table(setting: str) -> dict[str, tuple[float, float]]:
    """The built-in prices with the ``llm_prices`` setting (``model=in/out,...``) on top."""
    table = dict(PRICES)
    for entry in filter(None, (e.strip() for e in setting.split(","))):
        model, _, prices = entry.partition("=")
        try:
            given, _, taken = prices.partition("/")
            table[model.strip()] = (float(given), float(taken))
        except ValueError:
            raise ConfigError(
                f"llm_prices entry '{entry}' is not MODEL=INPUT/OUTPUT (dollars per million "
                "tokens), e.g. gpt-4o-mini=0.15/0.6"
            ) from None
    return table


def cost(model: str, prompt: int, completion: int, table: dict[str, tuple[float, float]]):
    """Dollars for the tokens, or None when the model has no price."""
    best = max((m for m in table if model.startswith(m)), key=len, default=None)
    if best is None:
        return None
    given, taken = table[best]
    return (prompt * given + completion * taken) / 1_000_000
