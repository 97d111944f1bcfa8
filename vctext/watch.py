"""Live input: textualize a stream, or a recording that is still growing, as it arrives.

A source (a file still being written, an HTTP(S)/HLS, RTSP, RTMP or SRT URL, or ``-`` for a
stream on stdin) becomes a local recording: a growing file is read where it lies; anything else
is copied by ffmpeg, without re-encoding, into an MPEG-TS file in a temporary folder. The
recording is described a window at a time (``window`` seconds, once ``lookahead`` seconds past
the window are recorded) by the same pipeline, perceivers, profiles, ``--backend`` and
``--tune`` as ``describe``, with the perceivers kept loaded from one window to the next, so a
line comes a few seconds after the moment it describes and memory stays flat: one window's
frames and audio are held at a time. Speech is heard with the audio before the window (and what
is recorded after it), and only the words inside the window are kept, so a sentence across two
windows is heard whole and told once.

A source that stops (an error, or a recording that stops growing for ``idle`` seconds) is
opened again with backoff, and the time it was away is a ``gap``; a file that stops growing
ends the watch, as does the end of a stream (HLS's end of list, EOF on stdin). :meth:`Watch.stop`
(the CLI calls it on Ctrl-C and SIGTERM) ends it after what was recorded so far is described.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vctext import config
from vctext.config import DescribeOptions
from vctext.document import VideoText
from vctext.errors import InputError, VctextError
from vctext.types import Observation, VideoInfo

log = logging.getLogger(__name__)

#: Protocols ffmpeg reads a live stream from.
NETWORK = ("http://", "https://", "rtsp://", "rtsps://", "rtmp://", "rtmps://", "srt://", "udp://")
#: Seconds between looks at a recording that has not yet grown by a window.
POLL = 0.25
#: Seconds a source may take to send its first bytes (ffmpeg reads a few seconds of a stream to
#: learn its format before it writes anything): the idle time counts from then on.
FIRST_BYTES = 20.0
#: First wait before opening a dropped source again; doubles up to MAX_BACKOFF.
BACKOFF = 1.0
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class WatchEvent:
    """What a watch yields: an ``observation``, a ``gap`` in the stream, or an ``alert`` (a
    standing question's answer); times in seconds from the start of the stream."""

    type: str
    start: float
    end: float
    observation: Observation | None = None
    text: str = ""

    def to_json(self, origin: float | None = None) -> dict[str, Any]:
        """One JSON line; with ``origin`` (a Unix time), times are wall-clock ISO 8601."""
        if self.observation is not None:
            out = {"type": self.type, **self.observation.to_json()}
        else:
            out = {"type": self.type, "start": round(self.start, 3), "end": round(self.end, 3)}
            out["text"] = self.text
        if origin is not None:
            out["start"], out["end"] = wall(origin, self.start), wall(origin, self.end)
        return out


def wall(origin: float, seconds: float) -> str:
    return datetime.fromtimestamp(origin + seconds, timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Recording:
    """One local file of the stream: ``offset`` is where it starts in stream time."""

    path: Path
    offset: float
    process: subprocess.Popen | None = None  # the ffmpeg copying the source into it, if any
    log: Path | None = None  # what that ffmpeg said
    grown_at: float = field(default_factory=time.monotonic)
    size: int = -1

    def why(self) -> str:
        """ " (ffmpeg's last word)" on what went wrong, or ""."""
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines() if self.log else []
        except OSError:
            lines = []
        return f" ({lines[-1].strip()[:200]})" if lines else ""

    def grown(self) -> float:
        """Seconds since the file last grew."""
        try:
            size = self.path.stat().st_size
        except OSError:
            size = -1
        if size != self.size:
            self.size, self.grown_at = size, time.monotonic()
        return time.monotonic() - self.grown_at

    def duration(self) -> float | None:
        """Seconds recorded so far (None: nothing readable yet)."""
        from vctext.probe import probe

        if self.size <= 0:
            return None
        try:
            return probe(self.path).duration or None
        except VctextError:
            return None

    def stop(self) -> int | None:
        """End the copying (ffmpeg closes the file properly); its exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class Watch:
    """A watch over one source; iterate :meth:`events`. ``options`` are describe settings."""

    def __init__(
        self,
        source: str,
        *,
        window: float = 5.0,
        lookahead: float = 1.0,
        idle: float = 30.0,
        reconnects: int = 5,
        ask: str | None = None,
        llm: Any = None,
        **options: Any,
    ):
        if window <= 0 or lookahead < 0 or idle <= 0:
            raise InputError("--window and --idle must be positive, --lookahead at least 0")
        self.source = source
        self.window, self.lookahead, self.idle, self.reconnects = (
            window,
            lookahead,
            idle,
            reconnects,
        )
        self.question, self.llm = ask, llm
        llm_names = set(config.group("llm")) | set(config.aliases(config.group("llm")))
        self.llm_options = {k: v for k, v in options.items() if k in llm_names}
        describe = {k: v for k, v in options.items() if k not in llm_names}
        self.options: DescribeOptions = config.describe_options(**describe)
        self.kind = "stdin" if source == "-" else "url" if source.startswith(NETWORK) else "file"
        if self.kind == "file":
            path = Path(source).expanduser()
            if not path.exists():
                raise InputError(f"no such file: '{path}' (check the path, or wait for it)")
            if path.is_dir():
                raise InputError(f"'{path}' is a directory; pass a video file or stream URL")
        self._stop = threading.Event()
        self.observations: list[Observation] = []
        self.gaps: list[tuple[float, float, str]] = []  # (start, end, why)
        self.seen_until = 0.0  # stream time described so far
        self.started = time.time()  # wall clock at the stream's start
        self.ended = ""  # why the watch ended: "end of stream", "stopped", "gave up"
        self._pool: dict = {}
        self._folder: Path | None = None
        self._model = None  # the LLM of the standing question, loaded on first use

    # -- control -------------------------------------------------------------------------------

    def stop(self) -> None:
        """End the watch once what is recorded so far is described (safe from a signal)."""
        self._stop.set()

    # -- the document so far -------------------------------------------------------------------

    def document(self) -> VideoText:
        """Everything perceived so far as one document (what ``--save`` writes)."""
        from vctext.merge import build_segments

        duration = self.seen_until
        info = VideoInfo(str(self.source), duration, 0.0, 0, 0, has_audio=True)
        collapsed, segments = build_segments(
            sorted(self.observations, key=lambda o: (o.start, o.kind)),
            1.0 / self.options.fps,
            duration,
        )
        notes = [f"gap in the stream {a:.1f}-{b:.1f} s: {why}" for a, b, why in self.gaps]
        notes += {
            "": ["the watch is still running: this is what was perceived so far"],
            "stopped": ["the watch was stopped before the stream ended"],
            "gave up": ["the source was lost before the stream ended"],
        }.get(self.ended, [])
        return VideoText(info, collapsed, segments, end=duration, notes=notes)

    # -- the loop ------------------------------------------------------------------------------

    def events(self) -> Iterator[WatchEvent]:
        """Observations (and gaps, alerts) as they are perceived, until the stream ends."""
        self._folder = Path(tempfile.mkdtemp(prefix="vctext-watch-"))
        failures = 0
        recording = self._open(0.0)
        try:
            while True:
                described = self.seen_until
                outcome = yield from self._follow(recording)
                end = recording.offset + (recording.duration() or 0.0)
                if self.seen_until > described:
                    failures = 0  # it was back: a later drop starts the backoff afresh
                if outcome != "dropped" or self._stop.is_set():
                    self.ended = outcome
                    return
                failures += 1
                if failures > self.reconnects:
                    self.ended = "gave up"
                    raise InputError(
                        f"the source {self.source} dropped {failures} times in a row; "
                        "what was perceived until then was given out"
                    )
                wait = min(BACKOFF * 2 ** (failures - 1), MAX_BACKOFF)
                log.warning(
                    "the source dropped%s; opening it again in %.0f s", recording.why(), wait
                )
                if self._stop.wait(wait):
                    self.ended = "stopped"
                    return
                if not self.seen_until and not recording.size > 0:
                    # Nothing came yet (a playlist not written yet): the stream has not begun.
                    self.started = time.time()
                    recording = self._open(0.0)
                    continue
                recording = self._open(time.time() - self.started)
                if recording.offset > end:
                    self.gaps.append((end, recording.offset, "the source was away"))
                    yield WatchEvent("gap", end, recording.offset, text="the source was away")
        finally:
            for perceiver in self._pool.values():
                if perceiver.loaded:
                    perceiver.close()
            self._pool.clear()
            recording.stop()
            shutil.rmtree(self._folder, ignore_errors=True)

    def _open(self, offset: float) -> Recording:
        """The source as a local recording starting at ``offset`` in stream time."""
        if self.kind == "file":
            return Recording(Path(self.source).expanduser(), offset)
        from vctext.probe import ffmpeg_binary

        path = self._folder / f"recording-{len(list(self._folder.iterdir())):03d}.ts"
        src = "pipe:0" if self.kind == "stdin" else self.source
        cmd = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostats"]
        if self.source.startswith(("rtsp://", "rtsps://")):
            cmd += ["-rtsp_transport", "tcp"]
        cmd += ["-i", src, "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy"]
        cmd += ["-flush_packets", "1", "-f", "mpegts"]  # on disk as it comes, not in 256 KB lumps
        cmd += [str(path)]
        stdin = None if self.kind == "stdin" else subprocess.DEVNULL
        log_path = path.with_suffix(".log")
        with open(log_path, "wb") as said:
            process = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=said)
        return Recording(path, offset, process, log_path)

    def _follow(self, rec: Recording) -> Iterator[WatchEvent]:
        """Describe ``rec`` a window at a time as it grows; how it ended: "end of stream",
        "stopped" or "dropped"."""
        t0 = 0.0
        while True:
            idle = rec.grown()
            recorded = rec.duration()
            if recorded is not None and recorded - t0 >= self.window + self.lookahead:
                yield from self._describe(rec, t0, t0 + self.window, recorded)
                t0 += self.window
                continue
            outcome = self._state(rec, idle)
            if outcome:
                recorded = rec.duration() if rec.process is None else _final(rec)
                if recorded is not None and recorded - t0 > 0.05:
                    yield from self._describe(rec, t0, recorded, recorded)
                return outcome
            time.sleep(POLL)

    def _state(self, rec: Recording, idle: float) -> str:
        """ "" while the recording goes on, else why it ended."""
        if self._stop.is_set():
            return "stopped"
        if rec.process is None:  # a file written by someone else
            return "end of stream" if idle >= self.idle else ""
        status = rec.process.poll()
        if status is None:
            if idle >= (self.idle if rec.size > 0 else max(self.idle, FIRST_BYTES)):
                # a stalled source: as good as dropped
                log.warning("nothing arrived for %.0f s", idle)
                rec.stop()
                return "dropped" if self.kind == "url" else "end of stream"
            return ""
        if status == 0:
            return "end of stream"
        return "dropped" if self.kind == "url" else "end of stream"

    def _describe(
        self, rec: Recording, start: float, end: float, recorded: float
    ) -> Iterator[WatchEvent]:
        from vctext.pipeline import describe_probed
        from vctext.probe import probe

        info = replace(probe(rec.path), path=str(rec.path), duration=recorded)
        try:
            doc = describe_probed(info, self.options.replace(start=start, end=end), self._pool)
        except InputError as exc:
            # A window with nothing decodable (the last sliver of a stream, damaged data after a
            # reconnect) is a hole in the text, said as such; the watch goes on.
            log.warning("%.1f-%.1f s: %s", rec.offset + start, rec.offset + end, exc)
            self.seen_until = max(self.seen_until, rec.offset + end)
            self.gaps.append((rec.offset + start, rec.offset + end, "not decodable"))
            yield WatchEvent("gap", rec.offset + start, rec.offset + end, text="not decodable")
            return
        found = [
            _shift(o, rec.offset) for o in doc.observations if start - 1e-3 <= o.start < end + 1e-3
        ]
        found.sort(key=lambda o: (o.start, o.kind))
        self.observations += found
        self.seen_until = max(self.seen_until, rec.offset + end)
        for o in found:
            yield WatchEvent("observation", o.start, o.end, observation=o)
        if self.question and found:
            yield from self._alert(found, rec.offset + start, rec.offset + end)
        # The window is done (the text layout prints it as a block; JSON lines leave it out).
        yield WatchEvent("window", rec.offset + start, rec.offset + end)

    def _alert(self, found: list[Observation], start: float, end: float) -> Iterator[WatchEvent]:
        """The standing question, asked of this window's text: an alert when the answer is yes."""
        from vctext.llm import Message, load_llm
        from vctext.merge import build_segments
        from vctext.reason.prompts import escape_evidence, fill, load_prompt
        from vctext.reason.search import range_text

        if self._model is None:
            self._model = load_llm(self.llm, **self.llm_options)
        _, segments = build_segments(found, 1.0 / self.options.fps, end)
        evidence = "\n".join(range_text(s) for s in segments)
        prompt = fill(
            load_prompt("watch_alert.txt"),
            evidence=escape_evidence(evidence),
            question=self.question,
        )
        reply = self._model.complete([Message("user", prompt)])
        answer = " ".join(reply.split())
        if answer.lower().startswith("yes"):
            why = answer[3:].lstrip(" .,:;-") or self.question
            yield WatchEvent("alert", start, end, text=why)


def _final(rec: Recording) -> float | None:
    """The recording's length once its ffmpeg has closed it."""
    rec.stop()
    rec.grown()
    return rec.duration()


def _shift(o: Observation, offset: float) -> Observation:
    if not offset:
        return o
    return replace(o, start=o.start + offset, end=o.end + offset)


def window_text(events: list[WatchEvent], fps: float) -> str:
    """The text layout of one window's observations (and a line for a gap or an alert)."""
    from vctext.merge import build_segments
    from vctext.reason.search import range_text
    from vctext.timestamps import format_time

    blocks: list[tuple[float, str]] = []
    observations = [e.observation for e in events if e.observation is not None]
    if observations:
        end = max(o.end for o in observations)
        _, segments = build_segments(observations, 1.0 / fps, end)
        blocks += [(s.start, range_text(s)) for s in segments if s.items]
    for e in events:
        if e.observation is None:
            blocks.append(
                (e.start, f"{format_time(e.start)}-{format_time(e.end)}  {e.type}: {e.text}")
            )
    return "\n".join(text for _, text in sorted(blocks, key=lambda b: b[0]))
