"""Which time ranges relate to a question or an answer: content-word overlap, rare words first."""

from __future__ import annotations

import math
import re
from collections import Counter

from vctext.types import Segment

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOPWORDS = frozenset(
    "a an the and or but if then so of to in on at by for with from into onto over under about "
    "as is are was were be been being am do does did done has have had having it its it's this "
    "that these those there here what which who whom whose when where why how i you he she we "
    "they me him her us them my your his our their not no yes can could would should will shall "
    "may might must just also very too than up down out off again all any some each more most "
    "other such only own same s t don't video say says said tell happen happens one".split()
)


def stem(word: str) -> str:
    """Crude suffix stripping (-ing, -ed, -es, -s), the same on both sides of a match."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased, crudely stemmed words that carry meaning."""
    return {stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


def segment_text(segment: Segment) -> str:
    return " ".join(line for lines in segment.lines.values() for line in lines)


def relevance(segment: Segment, words: set[str]) -> int:
    """How many of ``words`` the range uses."""
    return len(words & content_words(segment_text(segment))) if words else 0


def relevance_scores(segments: list[Segment], words: set[str]) -> list[float]:
    """Word overlap with each range, rare words weighing more (a gate number beats "gate")."""
    if not words:
        return [0.0] * len(segments)
    bags = [content_words(segment_text(s)) & words for s in segments]
    df = Counter(w for bag in bags for w in bag)
    n = len(segments)
    return [sum(math.log((n + 1) / (df[w] + 0.5)) for w in bag) for bag in bags]
