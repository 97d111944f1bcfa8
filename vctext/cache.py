"""SQLite cache of perceiver output, keyed by file content hash + perceiver + model + parameters."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vctext.errors import VctextError
from vctext.types import Observation

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """$VCTEXT_CACHE_DIR, else the user cache dir (e.g. ~/.cache/vctext)."""
    configured = os.environ.get("VCTEXT_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("vctext"))


def cache_key(sha256: str, kind: str, params: dict[str, Any], clip: dict[str, Any]) -> str:
    """Stable key for one perceiver's output on one file, range and sampling."""
    blob = json.dumps(
        {"sha256": sha256, "kind": kind, "params": params, "clip": clip},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class Cache:
    """Perceiver observations and file hashes in one SQLite file (safe across processes).

    A cache that cannot be opened or written never stops a run: it logs one warning and from
    then on behaves as an empty cache that keeps nothing (:meth:`off` is one from the start).
    """

    def __init__(self, path: str | os.PathLike | None = None, required: bool = False):
        self.path = Path(path) if path else cache_dir() / "cache.sqlite"
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS observations (
                    key TEXT PRIMARY KEY, sha256 TEXT NOT NULL, kind TEXT NOT NULL,
                    params TEXT NOT NULL, created REAL NOT NULL, data TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS file_hashes (
                    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER,
                    sha256 TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS embeddings (
                    key TEXT PRIMARY KEY, model TEXT NOT NULL, dim INTEGER NOT NULL,
                    created REAL NOT NULL, data BLOB NOT NULL);
                """
            )
        except (OSError, sqlite3.Error) as exc:
            if required:  # `vctext cache info/clear` are about the cache itself
                self._drop()
                raise VctextError(f"{_cannot_use(self.path, exc)}; {_MOVE}") from exc
            self._give_up(exc)

    @classmethod
    def off(cls) -> Cache:
        """A cache that keeps nothing and touches no file (``--no-cache``)."""
        cache = cls.__new__(cls)
        cache.path, cache._db = None, None
        return cache

    def close(self) -> None:
        self._drop()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _drop(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def _give_up(self, exc: BaseException) -> None:
        """Go on without the cache; say so once per cache file and process."""
        self._drop()
        if str(self.path) not in _WARNED:
            _WARNED.add(str(self.path))
            log.warning("%s; going on without it (%s)", _cannot_use(self.path, exc), _FIX)

    # -- observations ------------------------------------------------------------------------

    def get(self, key: str) -> list[Observation] | None:
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT data FROM observations WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            self._give_up(exc)
            return None
        if row is None:
            return None
        return [Observation.from_json(item) for item in json.loads(row[0])]

    def put(
        self, key: str, sha256: str, kind: str, params: dict[str, Any], obs: list[Observation]
    ) -> None:
        """Keep ``obs``; a failed write (disk full, read-only) is a warning, never an error."""
        if self._db is None:
            return
        data = json.dumps([o.to_json() for o in obs], ensure_ascii=False)
        params_json = json.dumps(params, sort_keys=True, default=str)
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO observations VALUES (?, ?, ?, ?, ?, ?)",
                (key, sha256, kind, params_json, time.time(), data),
            )
        except (OSError, sqlite3.Error) as exc:
            self._give_up(exc)

    # -- search indexes: a video's range embeddings ---------------------------------------------

    def get_vectors(self, key: str) -> Any:
        """The float32 matrix kept under ``key`` (see :mod:`vctext.reason.embed`), or None."""
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT dim, data FROM embeddings WHERE key = ?", (key,)
            ).fetchone()
        except sqlite3.Error as exc:
            self._give_up(exc)
            return None
        if row is None:
            return None
        import numpy as np

        return np.frombuffer(row[1], dtype=np.float32).reshape(-1, row[0]).copy()

    def put_vectors(self, key: str, model: str, vectors: Any) -> None:
        """Keep a float32 matrix; a failed write is a warning, never an error."""
        if self._db is None:
            return
        import numpy as np

        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?)",
                (key, model, matrix.shape[1], time.time(), matrix.tobytes()),
            )
        except (OSError, sqlite3.Error) as exc:
            self._give_up(exc)

    def info(self) -> dict[str, Any]:
        with self._reporting():
            entries, videos = self._db.execute(
                "SELECT COUNT(*), COUNT(DISTINCT sha256) FROM observations"
            ).fetchone()
            kinds = dict(
                self._db.execute("SELECT kind, COUNT(*) FROM observations GROUP BY kind").fetchall()
            )
        size = sum(
            p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file()
        )
        return {
            "path": str(self.path),
            "entries": entries,
            "videos": videos,
            "kinds": kinds,
            "bytes": size,
        }

    def clear(self) -> int:
        with self._reporting():
            (count,) = self._db.execute("SELECT COUNT(*) FROM observations").fetchone()
            self._db.execute("DELETE FROM observations")
            self._db.execute("DELETE FROM file_hashes")
            self._db.execute("DELETE FROM embeddings")
            self._db.execute("VACUUM")
        return count

    @contextlib.contextmanager
    def _reporting(self):
        """For the commands about the cache itself: a failure is their error, in one line."""
        if self._db is None:
            raise VctextError(f"the perception cache at '{self.path}' is not open")
        try:
            yield
        except sqlite3.Error as exc:
            raise VctextError(f"{_cannot_use(self.path, exc)}; {_MOVE}") from exc

    # -- file hashes -------------------------------------------------------------------------

    def file_sha256(self, path: str | os.PathLike, progress: HashProgress | None = None) -> str:
        """SHA-256 of a file's bytes, remembered by (path, size, mtime, inode) to skip rereading."""
        p = Path(path).resolve()
        st = p.stat()
        memo = (str(p), st.st_size, st.st_mtime_ns, st.st_ino)
        if self._db is not None:
            try:
                row = self._db.execute(
                    "SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ? "
                    "AND inode = ?",
                    memo,
                ).fetchone()
            except sqlite3.Error as exc:
                self._give_up(exc)
                row = None
            if row:
                return row[0]
        digest = sha256_file(p, progress=progress)
        if self._db is not None:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?, ?)", (*memo, digest)
                )
            except sqlite3.Error as exc:
                self._give_up(exc)
        return digest


#: progress(stage, done, total) as the pipeline's: stage "hashing", done and total in MB.
HashProgress = Callable[[str, float, "float | None"], None]


def sha256_file(
    path: str | os.PathLike,
    block: int = 1 << 20,
    progress: HashProgress | None = None,
    every: float = 0.2,
) -> str:
    """SHA-256 of a file, reporting MB read to ``progress`` at most every ``every`` seconds."""
    h = hashlib.sha256()
    total = os.path.getsize(path) / 1e6
    done, last = 0, time.monotonic()
    if progress:
        progress("hashing", 0.0, total)
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
            done += len(chunk)
            if progress and time.monotonic() - last >= every:
                last = time.monotonic()
                progress("hashing", done / 1e6, total)
    if progress:
        progress("hashing", done / 1e6, total)
    return h.hexdigest()


#: Cache files already warned about in this process (a batch opens one cache per video).
_WARNED: set[str] = set()
_MOVE = "set VCTEXT_CACHE_DIR to a writable folder"
_FIX = f"{_MOVE}, or pass --no-cache"


def _cannot_use(path: Path | None, exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc)
    return f"cannot use the perception cache at '{path}': {reason}"
