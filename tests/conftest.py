"""Shared fixtures: no network, a brand-new home, an isolated cache and config, clips made with
ffmpeg/espeak."""

from __future__ import annotations

import atexit
import os
import shutil
import site
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

FFMPEG = shutil.which("ffmpeg")
ESPEAK = shutil.which("espeak-ng")


# -- every run is a first run: a fresh, empty home and library config dirs ------------------------

#: Where each variable points inside a fresh home; libraries write their settings and caches
#: there on first use (ultralytics announces its settings file), as on a brand-new machine.
FRESH_HOME_DIRS = {
    "XDG_CONFIG_HOME": ".config",
    "XDG_CACHE_HOME": ".cache",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
    "YOLO_CONFIG_DIR": ".config",  # ultralytics adds "Ultralytics"
    "MPLCONFIGDIR": ".config/matplotlib",
    "HF_HOME": ".cache/huggingface",
    "TORCH_HOME": ".cache/torch",
}
#: Variables that move the Hugging Face cache out of HF_HOME.
HUB_CACHE_VARS = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE")


def fresh_home_env(home: Path, base: dict | None = None) -> dict:
    """``base`` (default: this environment) as on a machine where nothing ever ran, at ``home``."""
    env = dict(os.environ if base is None else base)
    env["HOME"] = str(home)
    env.update({name: str(home / sub) for name, sub in FRESH_HOME_DIRS.items()})
    for name in HUB_CACHE_VARS:
        env.pop(name, None)
    return env


def _fresh_session_home() -> None:
    """Point this process and everything it starts at a new empty home (set at import, so
    subprocesses inherit it); hub tests keep the real Hugging Face cache, which they read."""
    keep = {"PYTHONUSERBASE": site.getuserbase()}  # packages installed with --user stay found
    if os.environ.get("VCTEXT_HUB_TESTS") == "1":
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        keep["HF_HOME"] = os.environ.get("HF_HOME") or str(Path(cache) / "huggingface")
        keep.update({name: os.environ[name] for name in HUB_CACHE_VARS if name in os.environ})
    home = Path(tempfile.mkdtemp(prefix="vctext-home-"))
    ray = Path(tempfile.mkdtemp(prefix="vr-"))  # short: Ray's socket paths have a length limit
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    atexit.register(shutil.rmtree, ray, ignore_errors=True)
    for name in HUB_CACHE_VARS:
        os.environ.pop(name, None)
    os.environ.update(fresh_home_env(home, {}))
    os.environ.update(keep, RAY_TMPDIR=str(ray), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


_fresh_session_home()


# -- the sentence in the speech clip -------------------------------------------------------------

#: The sentence spoken in ``speech_clip`` and when it starts.
SENTENCE = "The ferry to the island leaves at seven thirty from gate four."
SPEECH_START = 3.0


# -- no network: sockets may only reach this machine -------------------------------------------

_LOCAL = ("127.", "::1", "localhost", "0.0.0.0")
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = str(address[0])
    return host.startswith(_LOCAL)


def _guarded_connect(self, address):
    if self.family != socket.AF_UNIX and not _is_local(address):
        raise OSError(f"network access blocked in tests: {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family != socket.AF_UNIX and not _is_local(address):
        raise OSError(f"network access blocked in tests: {address!r}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host is not None and not str(host).startswith(_LOCAL):
        raise OSError(f"network access blocked in tests: lookup of {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.getaddrinfo = _guarded_getaddrinfo
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex
    socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Each test gets its own cache and no user config; hubs are off."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("VCTEXT_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("VCTEXT_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    for name in (
        "VCTEXT_PROFILE",
        "VCTEXT_FPS",
        "VCTEXT_PERCEIVERS",
        "VCTEXT_TUNE",
        "VCTEXT_DEVICE",
        "VCTEXT_FORMAT",
        "VCTEXT_TEMPLATE",
        "VCTEXT_CACHE",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


# -- media made at test time -------------------------------------------------------------------


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; fail the test with its stderr if it fails."""
    proc = subprocess.run(
        [FFMPEG, "-y", "-hide_banner", "-loglevel", "error", *args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def speak(text: str, path: Path) -> Path:
    subprocess.run([ESPEAK, "-s", "150", "-w", str(path), text], check=True)
    return path


#: ffmpeg output options for test clips: H.264 that any decoder reads, encoded fast.
FAST_H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")


def concat_video(path: Path, *sources: str) -> Path:
    """A silent clip of lavfi ``sources`` one after another ("color=c=black:s=160x120:d=2")."""
    inputs = [arg for source in sources for arg in ("-f", "lavfi", "-i", source)]
    joined = "".join(f"[{i}:v]" for i in range(len(sources))) + f"concat=n={len(sources)}:v=1[v]"
    ffmpeg(*inputs, "-filter_complex", joined, "-map", "[v]", *FAST_H264, str(path))
    return path


def run_vctext(
    *args: str, env: dict, stdin: str | None = None, secret: str = "", timeout: float = 120
) -> subprocess.CompletedProcess:
    """``python -m vctext ARGS`` in ``env``; it must print no traceback and never ``secret``."""
    proc = subprocess.run(
        [sys.executable, "-m", "vctext", *map(str, args)],
        input=stdin or "",
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if secret:
        assert secret not in proc.stdout + proc.stderr  # the key is never printed
    assert "Traceback" not in proc.stderr
    return proc


def kill_after_first_line(args: list[str], env: dict, out: Path, timeout: float = 120) -> int:
    """Start ``args``, SIGKILL it once ``out`` holds a whole line, and return how many it holds
    (then, as if the kill had landed mid-write, add the start of a record to it)."""
    import signal
    import time

    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not (out.exists() and out.read_bytes().count(b"\n") >= 1):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    lines = out.read_bytes().count(b"\n")
    with open(out, "ab") as f:
        f.write(b'{"id": "torn-rec')
    return lines


@contextmanager
def registered(spec, perceiver):
    """A kind and its perceiver class registered for the ``with`` block only."""
    from vctext import kinds
    from vctext.perception import registry

    kinds.register(spec)
    registry.register(perceiver)
    try:
        yield perceiver
    finally:
        registry.unregister(perceiver)
        kinds.KINDS.pop(spec.name, None)


def make_video(
    path: Path,
    duration: float = 6.0,
    size: str = "320x240",
    rate: int = 25,
    source: str = "testsrc2",
    speech: Path | None = None,
    speech_at: float = 0.0,
    audio: bool = True,
    extra_args: tuple[str, ...] = (),
) -> Path:
    """A lavfi test pattern video, optionally with speech mixed in at ``speech_at`` seconds."""
    args = ["-f", "lavfi", "-i", f"{source}=size={size}:rate={rate}:duration={duration}"]
    if speech is not None:
        ms = int(speech_at * 1000)
        args += [
            "-i",
            str(speech),
            "-filter_complex",
            f"[1:a]adelay={ms}|{ms},apad[a]",
            "-map",
            "0:v",
            "-map",
            "[a]",
        ]
    elif audio:
        args += ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-map", "0:v", "-map", "1:a"]
    args += ["-t", str(duration), *FAST_H264, *extra_args]
    if speech is not None or audio:
        args += ["-c:a", "aac"]
    ffmpeg(*args, str(path))
    return path


requires_media_tools = pytest.mark.skipif(
    FFMPEG is None or ESPEAK is None, reason="needs ffmpeg and espeak-ng (apt-get install ...)"
)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def speech_clip(media_dir) -> Path:
    """10 s test pattern with SENTENCE spoken from SPEECH_START seconds."""
    wav = speak(SENTENCE, media_dir / "sentence.wav")
    return make_video(media_dir / "speech.mp4", duration=10, speech=wav, speech_at=SPEECH_START)


@pytest.fixture(scope="session")
def silent_video(media_dir) -> Path:
    """6 s test pattern with no audio stream at all."""
    return make_video(media_dir / "silent.mp4", duration=6, audio=False)
