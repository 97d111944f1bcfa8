"""Running ffmpeg with its output on a pipe: stderr drained on a thread (showinfo frame times kept,
the lines that say data was lost collected), and what a decoding pass ran into.

Used by :mod:`vctext.video`, which builds the commands.
"""

from __future__ import annotations

import math
import re
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field

from vctext.errors import FFmpegError


@dataclass
class DecodeReport:
    """What the decoding passes over one file ran into: ffmpeg's own error lines, and where a pass
    stopped short of the end it was asked for (a truncated or damaged file)."""

    errors: list[str] = field(default_factory=list)
    #: Absolute time up to which every pass that reported errors got (None: all got to the end).
    stopped_at: float | None = None

    def add(self, errors: list[str], reached: float, expected: float, slack: float) -> None:
        for line in errors:
            if line not in self.errors and len(self.errors) < 5:
                self.errors.append(line)
        if errors and math.isfinite(expected) and reached < expected - slack:
            self.stopped_at = reached if self.stopped_at is None else min(self.stopped_at, reached)

    @property
    def ok(self) -> bool:
        return not self.errors


class FFmpegPipe:
    """Runs ffmpeg, drains stderr on a thread (keeping showinfo times and a tail for errors)."""

    _PTS_RE = re.compile(r"\bn:\s*(\d+).*?\bpts_time:\s*(-?[\d.]+(?:e[-+]?\d+)?)")
    #: ffmpeg's lines that say data was lost: decoding errors, damaged or missing packets.
    _PROBLEM_RE = re.compile(
        r"error|invalid data|corrupt|partial file|truncat|non-existing|missing picture|concealing",
        re.IGNORECASE,
    )

    def __init__(self, cmd: list[str]):
        self.cmd = cmd
        self._times: dict[int, float] = {}
        self._tail: deque[str] = deque(maxlen=40)
        self._problems: list[str] = []
        self._cond = threading.Condition()
        self._stderr_done = False

    def __enter__(self) -> FFmpegPipe:
        try:
            self.proc = subprocess.Popen(
                self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise FFmpegError(f"could not start ffmpeg ({self.cmd[0]})", str(exc)) from exc
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()
        return self

    def _drain(self) -> None:
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if "Parsed_showinfo" in line and "pts_time" in line:
                if m := self._PTS_RE.search(line):
                    with self._cond:
                        self._times[int(m[1])] = float(m[2])
                        self._cond.notify_all()
                continue
            self._tail.append(line)
            if self._is_problem(line) and len(self._problems) < 20:
                self._problems.append(_without_address(line))
        with self._cond:
            self._stderr_done = True
            self._cond.notify_all()

    def _is_problem(self, line: str) -> bool:
        # Indented lines describe the input (a title may say "error"); names are not news either.
        if line[:1].isspace() or line.startswith(("Input #", "Output #", "Stream #")):
            return False
        for arg in self.cmd:
            if arg.startswith("file:"):
                line = line.replace(arg, "").replace(arg[5:], "")
        return bool(self._PROBLEM_RE.search(line))

    def read(self, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = self.proc.stdout.read(n - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def pts_time(self, index: int) -> float | None:
        # showinfo logs a frame before it reaches the pipe, so the line is there or coming soon.
        with self._cond:
            self._cond.wait_for(lambda: index in self._times or self._stderr_done, timeout=10)
            return self._times.pop(index, None)

    def finish(self, message: str, produced: bool) -> list[str]:
        """Wait for ffmpeg; raise if it produced nothing, else return its error lines (if any)."""
        code = self.proc.wait()
        self._thread.join(timeout=5)
        stderr = "\n".join(self._tail)
        if code != 0 and not produced:
            raise FFmpegError(message, stderr)
        problems = list(dict.fromkeys(self._problems))
        if code != 0 and not problems:
            problems = [str(FFmpegError(message, stderr))]
        return problems

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


def _without_address(line: str) -> str:
    """ffmpeg's line without the memory address of its context (``[h264 @ 0x55d0...]``)."""
    return re.sub(r" @ 0x[0-9a-f]+\]", "]", line).strip()
