"""`vctext watch`: live input from streams nobody had to fake. ffmpeg plays a clip in real time
(`-re`) into a growing MPEG-TS file, into our stdin, or as HLS served over HTTP on 127.0.0.1; a
local HTTP stream that stalls stands for a source that drops. Lines for the clip's known speech
and on-screen text must come at the right stream times and within the latency budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import FAST_H264, FFMPEG, ffmpeg, fresh_home_env, requires_media_tools, speak

pytestmark = requires_media_tools

FERRY = "The ferry to the island leaves at seven thirty from gate four."
SIGN, SIGN_AT = "GATE 7", (7.0, 11.0)
SPEECH_AT = 1.0
#: Seconds from a moment in the stream to its line on stdout: a window (5 s), the look past it
#: (1 s), the time to describe it, and the models' first load.
LATENCY = 15.0
ARGS = ("--perceivers", "asr,ocr", "--profile", "offline", "--format", "jsonl")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """12 s grey clip: FERRY spoken from 1 s, SIGN on screen from 7 to 11 s."""
    folder = tmp_path_factory.mktemp("watch")
    wav = speak(FERRY, folder / "ferry.wav")
    a, b = SIGN_AT
    draw = (
        f"drawtext=text='{SIGN}':fontsize=72:fontcolor=white:x=180:y=140:"
        f"enable='between(t,{a},{b})'"
    )
    path = folder / "clip.mp4"
    ms = int(SPEECH_AT * 1000)
    ffmpeg(
        *("-f", "lavfi", "-i", "color=c=gray:size=640x360:rate=25:duration=12", "-i", str(wav)),
        *("-filter_complex", f"[0:v]{draw}[v];[1:a]adelay={ms}|{ms},apad[a]"),
        *("-map", "[v]", "-map", "[a]", "-t", "12", *FAST_H264, "-g", "25", "-c:a", "aac"),
        str(path),
    )
    return path


@pytest.fixture
def environ(tmp_path) -> dict[str, str]:
    return {**fresh_home_env(tmp_path / "home"), "VCTEXT_CACHE_DIR": str(tmp_path / "cache")}


def play(clip: Path, *output: str, stdout=None) -> subprocess.Popen:
    """ffmpeg playing ``clip`` in real time into ``output``."""
    cmd = [FFMPEG, "-loglevel", "error", "-re", "-i", str(clip), "-c", "copy"]
    return subprocess.Popen([*cmd, *output], stdout=stdout, stdin=subprocess.DEVNULL)


def watch(*args: str, env: dict, stdin=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vctext", "watch", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_lines(proc: subprocess.Popen, since: float, timeout: float = 120):
    """(seconds after ``since`` the line came, the JSON line) for each line, until the end."""
    out = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        out.append((time.monotonic() - since, json.loads(line)))
        assert time.monotonic() < deadline, "the watch did not end"
    proc.wait(timeout=60)
    return out


def check_clip_lines(lines, origin: float = 0.0) -> None:
    """The clip's speech and sign, at their times in the stream, each within the latency."""
    speech = [(t, o) for t, o in lines if o["type"] == "observation" and o["kind"] == "asr"]
    heard = " ".join(o["text"] for _, o in speech).lower()
    assert "island" in heard and "gate" in heard, heard
    assert all(SPEECH_AT - 1 <= o["start"] - origin <= 7 for _, o in speech), speech
    signs = [(t, o) for t, o in lines if o.get("kind") == "ocr" and "GATE" in o["text"].upper()]
    assert signs, lines
    assert SIGN_AT[0] - 1 <= signs[0][1]["start"] - origin <= SIGN_AT[0] + 2, signs
    for came, o in speech + signs:
        assert came - (o["start"] - origin) <= LATENCY, (came, o)


def test_a_growing_recording_is_described_as_it_is_written(clip, environ, tmp_path):
    recording = tmp_path / "rec.ts"
    started = time.monotonic()
    writer = play(clip, "-flush_packets", "1", "-f", "mpegts", str(recording))
    while not recording.exists():
        time.sleep(0.05)
    proc = watch(str(recording), *ARGS, "--idle", "4", env=environ)
    lines = read_lines(proc, started)
    writer.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read()
    check_clip_lines(lines)
    assert all(o["type"] == "observation" for _, o in lines)


def test_a_stream_on_stdin_ends_with_its_eof(clip, environ, tmp_path):
    started = time.monotonic()
    writer = play(clip, "-f", "mpegts", "pipe:1", stdout=subprocess.PIPE)
    proc = watch("-", *ARGS, "--clock", "wall", env=environ, stdin=writer.stdout)
    writer.stdout.close()  # the watch holds the pipe now
    lines = read_lines(proc, started)
    assert proc.returncode == 0, proc.stderr.read()
    # Wall-clock times: ISO 8601, the stream's start a moment before the first line.
    for _, o in lines:
        o["start"] = datetime.fromisoformat(o["start"]).timestamp()
    origin = min(o["start"] for _, o in lines) - SPEECH_AT
    assert abs(origin - (time.time() - (time.monotonic() - started))) < 5
    check_clip_lines(lines, origin)


def test_hls_over_http_ends_at_its_end_of_list(clip, environ, tmp_path):
    folder = tmp_path / "hls"
    folder.mkdir()
    handler = partial(_QuietFiles, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        args = ("-f", "hls", "-hls_time", "2", "-hls_playlist_type", "event")
        writer = play(clip, *args, str(folder / "live.m3u8"))
        url = f"http://127.0.0.1:{server.server_address[1]}/live.m3u8"
        proc = watch(url, *ARGS, env=environ)
        lines = read_lines(proc, started)
        writer.wait(timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr.read()
    # The playlist may not exist yet when the watch starts: that is a wait, not a gap.
    assert [o for _, o in lines if o["type"] == "gap"] == []
    check_clip_lines(lines)


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_sigterm_ends_with_what_was_perceived_saved(clip, environ, tmp_path):
    recording = tmp_path / "rec.ts"
    saved = tmp_path / "live.json"
    writer = play(clip, "-flush_packets", "1", "-f", "mpegts", str(recording))
    while not recording.exists():
        time.sleep(0.05)
    proc = watch(str(recording), *ARGS, "--save", str(saved), env=environ)
    first = proc.stdout.readline()  # the first window is out: the watch is under way
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    proc.wait(timeout=60)
    writer.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read()
    assert "Traceback" not in proc.stderr.read()
    lines = [json.loads(x) for x in [first, *rest.splitlines()] if x.strip()]
    doc = json.loads(saved.read_text())
    assert doc["schema"] == "vctext/1" and doc["observations"]
    assert "the watch was stopped before the stream ended" in doc["notes"]
    assert len(doc["observations"]) >= len({(o["kind"], o["text"]) for o in lines}) > 0
    # A saved watch is a document like any other: search it while (or after) it runs.
    found = subprocess.run(
        [sys.executable, "-m", "vctext", "search", str(saved), "ferry island", "-k", "1"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )
    assert found.returncode == 0 and "speech:" in found.stdout, found.stderr


class _Stalling(SimpleHTTPRequestHandler):
    """Streams a growing MPEG-TS file from where it is now (a live stream), and sends nothing
    while ``stalled`` is set."""

    source: Path
    stalled: threading.Event
    connections: list[float]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.connections.append(time.monotonic())
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.end_headers()
        with open(self.source, "rb") as f:
            if len(self.connections) > 1:
                f.seek(os.path.getsize(self.source) // 188 * 188)  # join live, on a packet
            idle = 0.0
            while idle < 3.0:
                if self.stalled.is_set():
                    time.sleep(0.1)
                    continue
                data = f.read(188 * 64)
                if not data:
                    time.sleep(0.1)
                    idle += 0.1
                    continue
                idle = 0.0
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:
                    return


def test_a_stalled_source_is_a_gap_then_a_reconnect(clip, environ, tmp_path):
    twice = tmp_path / "twice.ts"  # the clip two times over, 24 s
    ffmpeg("-stream_loop", "1", "-i", str(clip), "-c", "copy", "-f", "mpegts", str(twice))
    recording = tmp_path / "origin.ts"
    writer = play(twice, "-flush_packets", "1", "-f", "mpegts", str(recording))
    while not recording.exists():
        time.sleep(0.05)
    stalled = threading.Event()
    handler = type(
        "Handler",
        (_Stalling,),
        {"source": recording, "stalled": stalled, "connections": []},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/live.ts"
        proc = watch(url, *ARGS, "--idle", "3", env=environ)
        first = proc.stdout.readline()  # the stream is flowing and being described
        stalled.set()  # then the source sends nothing for 5 s: more than --idle
        time.sleep(5)
        stalled.clear()
        lines = [(0.0, json.loads(first)), *read_lines(proc, time.monotonic())]
        writer.wait(timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr.read()
    gaps = [o for _, o in lines if o["type"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["end"] > gaps[0]["start"], lines
    assert len(handler.connections) >= 2  # it was opened again
    assert "the source dropped" in proc.stderr.read()
    # Lines before the gap end before it; lines after it start after it.
    for _, o in lines:
        if o["type"] == "observation":
            assert o["end"] <= gaps[0]["start"] + 0.5 or o["start"] >= gaps[0]["end"] - 0.5, o


def test_bad_input_is_one_line_before_any_work(environ, tmp_path):
    proc = watch(str(tmp_path / "nothing.ts"), *ARGS, env=environ)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("vctext: error: no such file")


def test_the_python_iterator_and_a_standing_question(clip, tmp_path, monkeypatch):
    pytest.importorskip("openai", reason="needs the llm extra (openai)")
    from openai_server import OpenAIServer

    import vctext

    monkeypatch.setenv("VCTEXT_CACHE_DIR", str(tmp_path / "cache"))
    recording = tmp_path / "rec.ts"
    writer = play(clip, "-flush_packets", "1", "-f", "mpegts", str(recording))
    while not recording.exists():
        time.sleep(0.05)
    with OpenAIServer(replies=["No.", "Yes. The sign GATE 7 is on screen.", "no"] * 3) as server:
        events = list(
            vctext.watch(
                str(recording),
                idle=4,
                perceivers="asr,ocr",
                profile="offline",
                ask="the gate number is shown",
                llm="openai",
                base_url=server.url,
                api_key="sk-test",
            )
        )
        prompts = [b["messages"][-1]["content"] for b in server.requests]
    writer.wait(timeout=30)
    kinds = {e.observation.kind for e in events if e.type == "observation"}
    assert kinds == {"asr", "ocr"}
    windows = [e for e in events if e.type == "window"]
    assert windows and windows[0].start == 0.0 and windows[0].end == pytest.approx(5.0)
    # One question per window that had something in it; the second said yes: one alert, with
    # the window's times and the model's reason.
    alerts = [e for e in events if e.type == "alert"]
    assert len(alerts) == 1 and alerts[0].text == "The sign GATE 7 is on screen."
    assert (alerts[0].start, alerts[0].end) in [(w.start, w.end) for w in windows]
    assert all("the gate number is shown" in p and "<video_text>" in p for p in prompts)


def test_a_window_that_cannot_be_decoded_is_a_gap_not_the_end(clip, tmp_path, monkeypatch):
    from vctext import pipeline
    from vctext.errors import InputError
    from vctext.watch import Watch

    monkeypatch.setenv("VCTEXT_CACHE_DIR", str(tmp_path / "cache"))
    real = pipeline.describe_probed

    def second_window_damaged(info, options, pool=None, progress=None):
        if options.start == 5.0:
            raise InputError(f"no frames could be decoded from '{info.path}'")
        return real(info, options, pool, progress)

    monkeypatch.setattr(pipeline, "describe_probed", second_window_damaged)
    session = Watch(str(clip), idle=0.5, perceivers="asr", profile="offline")
    events = list(session.events())  # a finished file: read at once, then it stops growing
    gaps = [(e.start, e.end, e.text) for e in events if e.type == "gap"]
    assert gaps == [(5.0, 10.0, "not decodable")]
    windows = [(e.start, e.end) for e in events if e.type == "window"]
    assert windows[0] == (0.0, 5.0) and windows[-1][1] == pytest.approx(12.0, abs=0.1)
    assert session.ended == "end of stream"
    assert "gap in the stream 5.0-10.0 s: not decodable" in session.document().notes
