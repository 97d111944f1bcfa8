"""SQLite cache of perceiver output, keyed by file content hash + perceiver + model + parameters."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

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
    """Perceiver observations and file hashes in one SQLite file (safe across processes)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else cache_dir() / "cache.sqlite"
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
            """
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- observations ------------------------------------------------------------------------

    def get(self, key: str) -> list[Observation] | None:
        row = self._db.execute("SELECT data FROM observations WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return [Observation.from_json(item) for item in json.loads(row[0])]

    def put(
        self, key: str, sha256: str, kind: str, params: dict[str, Any], obs: list[Observation]
    ) -> None:
        data = json.dumps([o.to_json() for o in obs], ensure_ascii=False)
        self._db.execute(
            "INSERT OR REPLACE INTO observations VALUES (?, ?, ?, ?, ?, ?)",
            (key, sha256, kind, json.dumps(params, sort_keys=True, default=str), time.time(), data),
        )

    def info(self) -> dict[str, Any]:
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
        (count,) = self._db.execute("SELECT COUNT(*) FROM observations").fetchone()
        self._db.execute("DELETE FROM observations")
        self._db.execute("DELETE FROM file_hashes")
        self._db.execute("VACUUM")
        return count

    # -- file hashes -------------------------------------------------------------------------

    def file_sha256(self, path: str | os.PathLike) -> str:
        """SHA-256 of a file's bytes, remembered by (path, size, mtime, inode) to skip rereading."""
        p = Path(path).resolve()
        st = p.stat()
        row = self._db.execute(
            "SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ? "
            "AND inode = ?",
            (str(p), st.st_size, st.st_mtime_ns, st.st_ino),
        ).fetchone()
        if row:
            return row[0]
        digest = sha256_file(p)
        self._db.execute(
            "INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?, ?)",
            (str(p), st.st_size, st.st_mtime_ns, st.st_ino, digest),
        )
        return digest


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()
