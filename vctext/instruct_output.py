"""The files of ``vctext instruct``: the JSONL output, its state file and the lock beside them.

One run at a time writes an output (:class:`OutputLock`), and only to a file vctext wrote
(:class:`RecordWriter` refuses any other, untouched): a torn last record is cut only when the
state file is there and the torn bytes begin like a record, and records written twice by an
older version are dropped, keeping the first of each video + task.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from vctext.errors import InputError
from vctext.instruct_data import RECORD_KINDS

log = logging.getLogger(__name__)

#: How every record vctext writes begins (``json.dumps`` of a record, ``id`` first).
RECORD_START = b'{"id": "'


def sibling(output: Path, suffix: str) -> Path:
    """``data.jsonl`` → ``data.<suffix>``."""
    return output.with_name(output.name.removesuffix(".jsonl") + suffix)


def state_path(output: Path) -> Path:
    return sibling(output, ".state.sqlite")


def is_record(value: Any) -> bool:
    """True for what ``vctext instruct`` writes: an id ending in its task, and a conversation."""
    if not isinstance(value, dict):
        return False
    task, key = value.get("task"), value.get("id")
    return (
        task in RECORD_KINDS
        and isinstance(key, str)
        and key.endswith(f"-{task}")
        and isinstance(value.get("conversations"), list)
    )


class OutputLock:
    """An exclusive ``flock`` on ``OUT.lock`` for a whole run; a second run is refused at once."""

    def __init__(self, output: Path, command: str = "instruct"):
        self.output = output
        self.command = command  # named in the refusal: "another vctext eval is writing ..."
        # Beside the real file, so `-o link.jsonl` and `-o target.jsonl` share one lock.
        self.path = sibling(output.resolve(), ".lock")
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): runs are not serialized there
            log.debug("no fcntl: %s is not locked", self.output)
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise InputError(
                    f"cannot create the lock file '{self.path}': {exc.strerror or exc}; "
                    "choose an -o in a folder you can write to"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise InputError(
                    f"another vctext {self.command} is writing '{self.output}'; wait for it or "
                    "choose another -o"
                ) from None
            # The run before may have removed the file between our open and our lock: then the
            # lock is on a file nobody else will find, so take the one now at the path.
            try:
                now = os.stat(self.path)
                held = os.fstat(fd)
                if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                    self._fd = fd
                    return self
            except FileNotFoundError:
                pass
            os.close(fd)

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # while still held, so no run can share it
            os.close(self._fd)
            self._fd = None


class RecordWriter:
    """Append-only JSONL, one fsync per record, opened only on a file vctext wrote.

    Opening checks the existing file before changing a byte of it: every complete line must be
    a record, and an unfinished last line is cut only when the state file is there and the
    line begins like a record (a run killed mid-write). Records of the same id written more
    than once (two runs of an older version at the same time) are dropped, the first of each
    kept; :attr:`duplicates` says how many. A subclass names its records (:attr:`what`,
    :meth:`is_valid`) and may drop records to be redone (:meth:`redo`, counted in
    :attr:`retried`).
    """

    what = "vctext instruct output"
    noun = "record"

    def __init__(self, path: Path):
        self.path = path
        self._created = not path.exists()
        self.duplicates = 0
        self.retried = 0
        self.ids = self._recover()
        self._file = open(path, "ab")

    @staticmethod
    def is_valid(value: Any) -> bool:
        return is_record(value)

    @staticmethod
    def redo(record: dict[str, Any]) -> bool:
        """True for a record to drop so that the next run makes it again."""
        return False

    def _refuse(self, why: str) -> InputError:
        return InputError(
            f"'{self.path}' does not look like {self.what} ({why}), so it was left "
            "untouched; choose another -o or delete it"
        )

    def _recover(self) -> set[str]:
        if self._created:
            return set()
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise InputError(
                f"cannot read the output '{self.path}': {exc.strerror or exc}"
            ) from None
        end = data.rfind(b"\n") + 1
        ids: set[str] = set()
        kept: list[bytes] = []
        for n, line in enumerate(data[:end].splitlines(keepends=True), 1):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not self.is_valid(record):
                raise self._refuse(f"line {n} is not one of its {self.noun}s")
            if self.redo(record):
                self.retried += 1
            elif record["id"] in ids:
                self.duplicates += 1
            else:
                ids.add(record["id"])
                kept.append(line)
        torn = data[end:]
        if torn:
            if not (torn.startswith(RECORD_START) or RECORD_START.startswith(torn)):
                raise self._refuse(f"its last line is neither a {self.noun} nor the start of one")
            if not state_path(self.path).exists():
                raise self._refuse(
                    f"its last line is unfinished and there is no {state_path(self.path).name} "
                    "beside it"
                )
        if self.duplicates:
            log.warning(
                "%s: dropping %d duplicate %ss (the first of each is kept)",
                self.path,
                self.duplicates,
                self.noun,
            )
        if torn:  # killed mid-write: the partial line was never a record
            log.warning("dropping a torn last line from %s", self.path)
        if self.duplicates or self.retried:
            self._rewrite(b"".join(kept))
        elif torn:
            with open(self.path, "r+b") as f:
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
        return ids

    def _rewrite(self, data: bytes) -> None:
        """Replace the file's content all at once, so a kill leaves the old or the new."""
        target = self.path.resolve()  # through a symlink, never over it
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, target.stat().st_mode & 0o7777)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write(self, record: dict[str, Any]) -> None:
        self._file.write((json.dumps(record, ensure_ascii=False) + "\n").encode())
        self._file.flush()
        os.fsync(self._file.fileno())
        self.ids.add(record["id"])

    def close(self) -> None:
        self._file.close()
        if self._created and not self.ids:  # nothing written: leave no empty output behind
            self.path.unlink(missing_ok=True)


class State:
    """Each item's last outcome, keyed by video sha256 + task; the JSONL has the final word."""

    def __init__(self, path: Path, done: set[str]):
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS items (
                key TEXT PRIMARY KEY, path TEXT, task TEXT, status TEXT NOT NULL,
                reason TEXT, attempts INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL);
            """
        )
        # A record written just before a kill may not be marked yet; one marked but missing from
        # the file (the file was edited) must be made again.
        now = time.time()
        for key in done:
            self._db.execute(
                "INSERT INTO items (key, status, updated) VALUES (?, 'done', ?) "
                "ON CONFLICT(key) DO UPDATE SET status = 'done'",
                (key, now),
            )
        marked = {r[0] for r in self._db.execute("SELECT key FROM items WHERE status = 'done'")}
        for key in marked - done:
            self._db.execute("UPDATE items SET status = 'lost' WHERE key = ?", (key,))

    def mark(self, key: str, path: str, task: str, status: str, reason: str = "") -> None:
        self._db.execute(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT(key) DO UPDATE SET "
            "path = excluded.path, task = excluded.task, status = excluded.status, "
            "reason = excluded.reason, attempts = attempts + 1, updated = excluded.updated",
            (key, path, task, status, reason, time.time()),
        )

    def close(self) -> None:
        self._db.close()
