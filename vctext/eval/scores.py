"""Each score as a small pure function: answers, moments, speech, on-screen text, cuts, judge."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Sequence

LETTERS = string.ascii_uppercase
IOU_THRESHOLDS = (0.3, 0.5, 0.7)
JUDGE_DIMENSIONS = ("correctness", "detail", "context", "temporal", "consistency")

_CHOICE = re.compile(
    r"^\W*(?:(?:the\s+)?(?:final\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*)?"
    r"\(?([A-Za-z])\)?(?=$|[\s.:,)\]])",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z0-9']+")
_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
#: Number words as digits, so "seven thirty" and ASR's "7:30" are the same words.
NUMBERS = {w: str(i) for i, w in enumerate(_UNITS)} | {
    w: str(20 + 10 * i) for i, w in enumerate(_TENS)
}


def letter(index: int) -> str:
    """0 → ``A``."""
    return LETTERS[index]


def parse_choice(reply: str, n_options: int) -> int | None:
    """The option a strict answer-letter reply picks (``B``, ``(B)``, ``Answer: B.``), or None."""
    match = _CHOICE.match(reply.strip())
    if not match:
        return None
    picked = LETTERS.find(match.group(1).upper())
    return picked if 0 <= picked < n_options else None


def normalize(text: str) -> str:
    """Lower case, punctuation dropped, number words as digits, words joined by single spaces."""
    words = _WORD.findall(text.lower().replace("’", "'"))
    return " ".join(NUMBERS.get(w, w) for w in words)


def match_scores(prediction: str, reference: str) -> dict[str, float]:
    """``exact``: the normalized texts are equal; ``contains``: the reference is in the answer."""
    pred, ref = normalize(prediction), normalize(reference)
    return {
        "exact": float(bool(ref) and pred == ref),
        "contains": float(bool(ref) and f" {ref} " in f" {pred} "),
    }


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Temporal intersection over union of two [start, end] ranges (0 when either is empty)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else float(a == b)


def grounding(pairs: Iterable[tuple[tuple[float, float] | None, tuple[float, float]]]) -> dict:
    """R@1 at IoU 0.3/0.5/0.7 and mean IoU over (predicted or None, true) moments."""
    ious = [iou(pred, true) if pred else 0.0 for pred, true in pairs]
    if not ious:
        return {}
    out = {f"r1@{t}": sum(v >= t for v in ious) / len(ious) for t in IOU_THRESHOLDS}
    out["miou"] = sum(ious) / len(ious)
    out["n"] = len(ious)
    return out


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, on normalized text."""
    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    if not ref:
        return float(bool(hyp))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / len(ref)


def _squash(text: str) -> str:
    return "".join(text.lower().split())


def screen_text_recall(expected: Sequence[str], lines: Iterable[str]) -> float | None:
    """Share of the expected on-screen strings found in the OCR lines (case/space-insensitive)."""
    if not expected:
        return None
    seen = _squash(" ".join(lines))
    return sum(_squash(e) in seen for e in expected) / len(expected)


def cut_recall(expected: Sequence[float], found: Sequence[float], tolerance: float = 0.5):
    """Share of the expected cuts with a found cut within ``tolerance`` seconds, each used once."""
    if not expected:
        return None
    left = sorted(found)
    hits = 0
    for cut in sorted(expected):
        near = [t for t in left if abs(t - cut) <= tolerance]
        if near:
            left.remove(min(near, key=lambda t: abs(t - cut)))
            hits += 1
    return hits / len(expected)


def parse_judge(reply: str) -> dict[str, int]:
    """The judge's five 1-5 scores out of its JSON reply; ValueError when any is missing."""
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the judge's reply has no JSON object")
    data = json.loads(reply[start : end + 1])
    scores = {}
    for dim in JUDGE_DIMENSIONS:
        value = data.get(dim)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, (int, float)) or not 1 <= value <= 5:
            raise ValueError(f"the judge gave no 1-5 score for {dim}")
        scores[dim] = int(round(value))
    return scores
