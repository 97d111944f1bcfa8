"""Faults a user meets: a broken or full cache, bad options found late, odd output paths, batches
where some inputs fail, a long wait while a big file is hashed."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST_H264, ffmpeg, requires_media_tools
from test_cli import clean_env, ok, one_line_error, vctext

from vctext.errors import PARTIAL_EXIT

pytestmark = requires_media_tools

#: The cheapest real perceiver: the scene detector, bundled with the offline profile.
SCENES = ("--profile", "offline", "--perceivers", "scenes")


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory) -> Path:
    """6 s: a test pattern, then colour bars from 3 s (one scene cut), no audio."""
    path = tmp_path_factory.mktemp("robust") / "cut.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
        "-f", "lavfi", "-i", "smptebars=size=320x240:rate=25:duration=3",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
        *FAST_H264, str(path),
    )  # fmt: skip
    return path


def _scene_times(stdout: str) -> list[float]:
    return [o["start"] for o in json.loads(stdout)["observations"] if o["kind"] == "scene"]


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("vctext: WARNING:")]


# -- a cache that cannot be used is a warning, never the end of the run --------------------------


def _cache_under_a_file(root: Path) -> Path:
    (root / "plain.txt").write_text("not a folder\n")
    return root / "plain.txt" / "cache"  # making it fails with NotADirectoryError


def _cache_folder_is_a_file(root: Path) -> Path:
    (root / "cache").write_text("not a folder\n")
    return root / "cache"  # making it fails with FileExistsError


def _cache_file_is_a_folder(root: Path) -> Path:
    (root / "cache" / "cache.sqlite").mkdir(parents=True)
    return root / "cache"


def _cache_file_is_garbage(root: Path) -> Path:
    (root / "cache").mkdir()
    (root / "cache" / "cache.sqlite").write_bytes(os.urandom(8192))
    return root / "cache"


BROKEN_CACHES = {
    "folder under a file": _cache_under_a_file,
    "folder is a file": _cache_folder_is_a_file,
    "cache file is a folder": _cache_file_is_a_folder,
    "cache file is not a database": _cache_file_is_garbage,
}


@pytest.mark.parametrize("case", list(BROKEN_CACHES))
def test_an_unusable_cache_is_one_warning_and_the_run_goes_on(case, cut_video, tmp_path):
    cache = BROKEN_CACHES[case](tmp_path)
    env = clean_env(tmp_path, VCTEXT_CACHE_DIR=str(cache))
    out = tmp_path / "out"
    out.mkdir()
    # Two videos: the warning is said once, not once per video.
    proc = ok(vctext("describe", *SCENES, "-f", "json", "-o", out, cut_video, cut_video, env=env))
    assert _scene_times((out / "cut.json").read_text()) == [pytest.approx(3.0, abs=0.5)]
    (warning,) = _warnings(proc.stderr)
    assert str(cache) in warning and "VCTEXT_CACHE_DIR" in warning and "--no-cache" in warning
    assert proc.stderr.strip() == warning

    proc = ok(vctext("describe", *SCENES, "--no-cache", cut_video, env=env))
    assert proc.stderr == ""  # --no-cache does not even look at the cache
    assert proc.stdout.startswith("video: cut.mp4")

    message = one_line_error(vctext("cache", "info", env=env))  # about the cache itself: an error
    assert str(cache) in message and "VCTEXT_CACHE_DIR" in message


def test_no_cache_creates_nothing(cut_video, tmp_path):
    env = clean_env(tmp_path)
    proc = ok(vctext("describe", *SCENES, "-f", "json", "--no-cache", cut_video, env=env))
    assert _scene_times(proc.stdout) == [pytest.approx(3.0, abs=0.5)]
    assert json.loads(proc.stdout)["video"]["sha256"]  # the file is still hashed, just not kept
    assert not (tmp_path / "cache").exists()


class _DiskFullAtObservations:
    """A connection whose disk fills up when perception results are written."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def execute(self, sql: str, *args):
        if "INTO observations" in sql:
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._db, name)


@pytest.fixture
def cli_in_process():
    """Run the command line in this process (for faults made with monkeypatch)."""
    from click.testing import CliRunner

    from vctext.cli import app

    root = logging.getLogger("vctext")
    handlers, level = root.handlers[:], root.level
    yield lambda *args: CliRunner().invoke(app, [str(a) for a in args])
    root.handlers[:], root.level = handlers, level  # the CLI's handler wrote to the runner's stderr


def test_a_disk_full_at_the_cache_write_keeps_the_finished_result(
    cut_video, monkeypatch, cli_in_process
):
    connect = sqlite3.connect
    monkeypatch.setattr(
        sqlite3, "connect", lambda *a, **kw: _DiskFullAtObservations(connect(*a, **kw))
    )
    result = cli_in_process("describe", *SCENES, "-f", "json", cut_video)
    assert result.exit_code == 0, result.stderr
    assert _scene_times(result.stdout) == [pytest.approx(3.0, abs=0.5)]
    (warning,) = _warnings(result.stderr)
    assert "database or disk is full" in warning


# -- every option and path is checked before any work -----------------------------------------


def _template(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _folder_where_the_result_goes(tmp_path: Path) -> Path:
    (tmp_path / "out" / "cut.txt").mkdir(parents=True)
    return tmp_path / "out"


LATE = {
    # id: (arguments, given the test's tmp_path; words the one-line error has)
    "fps nan": (lambda t: ["--fps", "nan"], ["fps", "nan"]),
    "fps inf": (lambda t: ["--fps", "inf"], ["fps", "inf"]),
    "start nan": (lambda t: ["--start", "nan"], ["--start", "nan"]),
    "end inf": (lambda t: ["--end", "inf"], ["--end", "inf"]),
    "negative start": (lambda t: ["--start", "-2"], ["--start"]),
    "end before start": (lambda t: ["--start", "3", "--end", "2"], ["--start", "--end"]),
    "scene threshold above 1": (lambda t: ["--scene-threshold", "2"], ["scene_threshold", "1"]),
    "negative max side": (lambda t: ["--max-side", "-1"], ["max_side"]),
    "unknown perceiver": (lambda t: ["--perceivers", "scenes,telepathy"], ["telepathy", "asr"]),
    "output folder missing": (lambda t: ["-o", t / "nope" / "x.txt"], ["nope", "does not exist"]),
    "output folder is a file": (
        lambda t: ["-o", _template(t, "plain.txt", b"x") / "x.txt"],
        ["plain.txt", "not a folder"],
    ),
    "output file is a folder": (
        lambda t: ["-o", _folder_where_the_result_goes(t)],
        ["cut.txt", "directory"],
    ),
    "template missing": (lambda t: ["--template", t / "none.j2"], ["none.j2"]),
    "template not UTF-8": (
        lambda t: ["--template", _template(t, "latin.j2", "café {{ name }}".encode("latin-1"))],
        ["latin.j2", "UTF-8"],
    ),
    "template does not compile": (
        lambda t: ["--template", _template(t, "broken.j2", b"{% for %}")],
        ["broken.j2"],
    ),
    "template uses an unknown filter": (
        lambda t: ["--template", _template(t, "filter.j2", b"{{ name | shout }}")],
        ["filter.j2", "shout"],
    ),
}


@pytest.mark.parametrize("case", list(LATE))
def test_bad_options_and_paths_fail_before_any_work(case, cut_video, tmp_path):
    make_args, words = LATE[case]
    work = tmp_path / "work"
    work.mkdir()
    args = make_args(work)
    proc = vctext("describe", *SCENES, *args, cut_video, env=clean_env(tmp_path))
    message = one_line_error(proc)
    assert proc.returncode == 2, message
    for word in words:
        assert str(word) in message
    # Nothing was perceived, not even hashed: the cache was never opened.
    assert not (tmp_path / "cache").exists()


def test_a_bad_setting_in_the_environment_fails_before_any_work(cut_video, tmp_path):
    env = clean_env(tmp_path, VCTEXT_FPS="nan")
    message = one_line_error(vctext("describe", *SCENES, cut_video, env=env))
    assert "VCTEXT_FPS" in message and "nan" in message
    assert not (tmp_path / "cache").exists()


LLM = ("--llm", "openai", "--base-url", "http://127.0.0.1:9/v1")


@pytest.mark.parametrize(
    ("command", "setting"),
    [
        (["ask", "{video}", "What happens?", "--fps", "nan"], "fps"),
        (["ask", "{video}", "What happens?", "--timeout", "0"], "llm_timeout"),
        (["ask", "{video}", "What happens?", "--temperature", "nan"], "temperature"),
        (["chat", "{video}", "--max-tokens", "0"], "max_tokens"),
        (["instruct", "{video}", "-o", "{out}", "--fps", "nan"], "fps"),
        (["instruct", "{video}", "-o", "{tmp}/nope/data.jsonl"], "nope"),
    ],
    ids=[
        "ask fps",
        "ask timeout",
        "ask temperature",
        "chat max tokens",
        "instruct fps",
        "instruct output folder missing",
    ],
)
def test_llm_commands_check_their_options_before_any_work(command, setting, cut_video, tmp_path):
    out = tmp_path / "data.jsonl"
    args = [a.format(video=cut_video, out=out, tmp=tmp_path) for a in [*command, *LLM]]
    proc = subprocess.run(
        [sys.executable, "-m", "vctext", *args],
        input="What happens?\n",
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=600,
    )
    message = one_line_error(proc)
    assert proc.returncode == 2, message
    assert setting in message
    assert not (tmp_path / "cache").exists()
    assert not (tmp_path / "data.jsonl").exists()


def test_python_api_checks_options_before_opening_the_video(cut_video, monkeypatch):
    import vctext
    from vctext import video
    from vctext.errors import VctextError

    def no_work(*args, **kwargs):
        raise AssertionError("the video was opened before the options were checked")

    monkeypatch.setattr(video, "probe", no_work)
    monkeypatch.setattr(video, "iter_frames", no_work)
    bad = [
        {"fps": float("nan")},
        {"start": float("nan")},
        {"start": 5, "end": 4},
        {"scene_threshold": -0.5},
        {"perceivers": ["scenes", "telepathy"]},
    ]
    for options in bad:
        with pytest.raises(VctextError) as caught:
            vctext.describe(cut_video, profile="offline", **options)
        assert caught.value.exit_code == 2, options


# -- output files: umask, symlinks, devices ------------------------------------------------------


def _with_umask(mask: int, *args, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vctext", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        preexec_fn=lambda: os.umask(mask),
    )


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_output_files_follow_the_umask(mask, mode, cut_video, tmp_path):
    env = clean_env(tmp_path)
    target = tmp_path / "result.txt"
    ok(_with_umask(mask, "describe", *SCENES, "-o", target, cut_video, env=env))
    assert stat.S_IMODE(target.stat().st_mode) == mode
    folder = tmp_path / "several"
    folder.mkdir()
    ok(_with_umask(mask, "describe", *SCENES, "-o", folder, cut_video, env=env))
    assert stat.S_IMODE((folder / "cut.txt").stat().st_mode) == mode


def test_an_existing_output_keeps_its_mode(cut_video, tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("earlier\n")
    target.chmod(0o640)
    ok(_with_umask(0o022, "describe", *SCENES, "-o", target, cut_video, env=clean_env(tmp_path)))
    assert target.read_text().startswith("video: cut.mp4")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.parametrize("existing", [True, False], ids=["target exists", "dangling link"])
def test_a_symlink_output_is_written_through(existing, cut_video, tmp_path):
    real_dir, link_dir = tmp_path / "real", tmp_path / "links"
    real_dir.mkdir()
    link_dir.mkdir()
    real = real_dir / "result.txt"
    if existing:
        real.write_text("earlier\n")
    link = link_dir / "result.txt"
    link.symlink_to(Path("..") / "real" / "result.txt")
    ok(vctext("describe", *SCENES, "-o", link, cut_video, env=clean_env(tmp_path)))
    assert link.is_symlink() and os.readlink(link) == str(Path("..") / "real" / "result.txt")
    assert real.read_text().startswith("video: cut.mp4")
    assert os.listdir(real_dir) == ["result.txt"] and os.listdir(link_dir) == ["result.txt"]


def _device(path: Path, minor: int) -> Path:
    """A private copy of /dev/full (minor 7) or /dev/null (minor 3); skips where mknod is denied."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except OSError as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return path


def test_a_full_disk_at_the_output_is_one_line_and_no_device_is_replaced(cut_video, tmp_path):
    full = _device(tmp_path / "full", 7)
    message = one_line_error(vctext("describe", *SCENES, "-o", full, cut_video))
    assert "No space left" in message and str(full) in message
    assert stat.S_ISCHR(full.stat().st_mode)

    null = _device(tmp_path / "null", 3)
    proc = ok(vctext("describe", *SCENES, "-o", null, cut_video))
    assert proc.stdout == "" and stat.S_ISCHR(null.stat().st_mode)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_output_folder_is_one_line(cut_video, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        message = one_line_error(vctext("describe", *SCENES, "-o", folder / "x.txt", cut_video))
    finally:
        folder.chmod(0o700)
    assert "permission denied" in message.lower() and str(folder) in message
    assert not (tmp_path / "cache").exists()


# -- batches: exit 4 when some inputs failed -------------------------------------------------------


def test_a_batch_with_a_failed_video_exits_partial(cut_video, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video\n" * 100)
    out = tmp_path / "out"
    out.mkdir()
    proc = vctext("describe", *SCENES, "-o", out, cut_video, bad, env=clean_env(tmp_path))
    assert proc.returncode == PARTIAL_EXIT, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and "bad.mp4" in lines[0]
    assert lines[-1].startswith("vctext: error: 1 of 2 videos failed")
    assert os.listdir(out) == ["cut.txt"]
    assert (out / "cut.txt").read_text().startswith("video: cut.mp4")

    # To stdout as well: the good video's text is there, the exit code says it is not all.
    proc = vctext("describe", *SCENES, bad, cut_video, env=clean_env(tmp_path))
    assert proc.returncode == PARTIAL_EXIT, proc.stderr
    assert proc.stdout.startswith("video: cut.mp4")


def test_a_batch_where_every_video_failed_exits_with_their_error(tmp_path):
    proc = vctext("describe", *SCENES, tmp_path / "a.mp4", tmp_path / "b.mp4")
    assert proc.returncode == 2, proc.stderr  # both are missing files: bad input
    assert proc.stderr.strip().splitlines()[-1] == "vctext: error: all 2 videos failed (see above)"
    assert proc.stdout == ""


# -- hashing a big file shows on the progress bar -------------------------------------------------


def test_hashing_shows_on_the_progress_bar(cut_video, tmp_path):
    proc = ok(vctext("describe", *SCENES, "--progress", cut_video, env=clean_env(tmp_path)))
    assert f"{cut_video.name} hashing" in proc.stderr and "MB" in proc.stderr
    # the second time the hash comes from the cache: nothing to read, no bar
    proc = ok(vctext("describe", *SCENES, "--progress", cut_video, env=clean_env(tmp_path)))
    assert "hashing" not in proc.stderr


def test_hash_progress_counts_megabytes_up_to_the_size(tmp_path):
    from vctext.cache import sha256_file

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    seen = []
    sha256_file(big, progress=lambda *report: seen.append(report), every=0)
    assert seen[0] == ("hashing", 0.0, pytest.approx(3.145728))
    assert seen[-1] == ("hashing", pytest.approx(3.145728), pytest.approx(3.145728))
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)


def test_python_api_render_with_a_non_utf8_template_says_what_to_do(tmp_path):
    from vctext.document import VideoText
    from vctext.errors import InputError
    from vctext.render import render
    from vctext.types import VideoInfo

    latin = tmp_path / "latin.j2"
    latin.write_bytes("caf\xe9 {{ name }}".encode("latin-1"))
    info = VideoInfo("x.mp4", duration=1.0, fps=25, width=32, height=32)
    doc = VideoText(video=info, observations=[], segments=[])
    with pytest.raises(InputError, match="not UTF-8"):
        render(doc, template=latin)
