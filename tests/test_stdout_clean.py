"""stdout carries results only, on a brand-new machine too: what libraries print on first use
(ultralytics announcing its settings file, download bars, C-level prints) never lands on stdout.

Each command here runs with a home where nothing ever ran, so every library has its first run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FFMPEG, fresh_home_env, make_video

HAS_ULTRALYTICS = all(importlib.util.find_spec(m) for m in ("ultralytics", "torch"))
#: A line of the default text layout: the header, video-level lines, or a range's lines.
LAYOUT_LINE = re.compile(
    r"^(video: .+ \(.+\)"
    r"|(summary|top tags|spoken language|note): .+"
    r"|(\d+:)?\d\d:\d\d-(\d+:)?\d\d:\d\d  [a-z ]+: .+"
    r"|\s+[a-z ]+: .+)$"
)


def brand_new_machine(tmp_path: Path) -> dict:
    """This environment, but with an empty home, config and caches, and no vctext settings."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in fresh_home_env(home).items() if not k.startswith("VCTEXT_")}
    env.update(
        VCTEXT_CACHE_DIR=str(tmp_path / "vctext-cache"),
        VCTEXT_CONFIG=str(tmp_path / "config.toml"),
        HF_HUB_OFFLINE="1",
    )
    return env


def run(*args: str, env: dict, cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "vctext", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def ultralytics_ran_first_time_in(env: dict) -> bool:
    return (Path(env["HOME"]) / ".config" / "Ultralytics" / "settings.json").is_file()


def test_models_list_json_on_a_brand_new_machine_is_only_json(tmp_path):
    env = brand_new_machine(tmp_path)
    proc = run("models", "list", "--json", env=env)
    rows = json.loads(proc.stdout)  # anything printed before or after the JSON breaks this
    assert any(r["kind"] == "asr" and r["installed"] for r in rows)
    if HAS_ULTRALYTICS:  # it looked for YOLO weights: ultralytics' first run happened right here
        assert ultralytics_ran_first_time_in(env)
        assert "Ultralytics Settings" not in proc.stdout + proc.stderr  # no news to a user


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    if FFMPEG is None:
        pytest.skip("needs ffmpeg (apt-get install ffmpeg)")
    return make_video(tmp_path_factory.mktemp("clean") / "pattern.mp4", duration=3, audio=False)


def test_offline_describe_on_a_brand_new_machine_prints_only_the_result(clip, tmp_path):
    env = brand_new_machine(tmp_path)
    chosen = ("--profile", "offline", "--perceivers", "detect,scenes")
    doc = json.loads(run("describe", *chosen, "-f", "json", str(clip), env=env).stdout)
    assert doc["schema"] == "vctext/1" and doc["video"]["duration"] == pytest.approx(3, abs=0.1)
    text = run("describe", *chosen, str(clip), env=env).stdout
    assert text.startswith("video: pattern.mp4 (00:03 long"), text
    assert all(LAYOUT_LINE.match(line) for line in text.splitlines()), text


@pytest.mark.skipif(not HAS_ULTRALYTICS, reason='needs ultralytics: pip install "vctext[vision]"')
def test_ultralytics_detect_on_a_brand_new_machine_prints_only_the_result(clip, tmp_path):
    from ultralytics import YOLO

    # Random weights under the standard model's name, on disk, so nothing is downloaded.
    work = tmp_path / "work"
    work.mkdir()
    YOLO("yolov8n.yaml").save(str(work / "yolo11n.pt"))
    env = brand_new_machine(tmp_path)
    proc = run("describe", "--perceivers", "detect", "-f", "json", str(clip), env=env, cwd=work)
    doc = json.loads(proc.stdout)
    assert [(p["kind"], p["backend"]) for p in doc["perceivers"]] == [("detect", "ultralytics")]
    assert ultralytics_ran_first_time_in(env)


CHATTY = """
import logging, sys
print("chatty: import-time hello")
log = logging.getLogger("chatty")
log.addHandler(logging.StreamHandler(sys.stdout))
log.setLevel(logging.INFO)
log.info("chatty: created a settings file")
log.warning("chatty: import-time warning")
"""
#: A library the user imported before vctext did: its log handler is bound to the real stdout.
ALREADY_IMPORTED = """
import logging, sys
log = logging.getLogger("already")
log.addHandler(logging.StreamHandler(sys.stdout))
log.setLevel(logging.INFO)
"""
USER = """
import os, sys
import already
from vctext.perception.base import Modality, Perceiver, PerceiverOptions

class Chatty(Perceiver):
    kind, backend, modality = "tags", "chatty", Modality.FRAMES

    def load(self):
        self.libs = self.require("chatty"), self.require("already")
        print("python-level hello")
        sys.stdout.write("left in the buffer ")
        os.write(1, b"c-level hello\\n")

    def process(self, batch):
        for lib in self.libs:
            lib.log.info(f"{lib.__name__}: log line while working")
        return []

perceiver = Chatty(PerceiverOptions("m"))
perceiver.ensure_loaded()
perceiver.process([])
print("RESULT")
"""


def test_what_libraries_print_while_vctext_loads_them_goes_to_stderr(tmp_path):
    # Stand-in libraries: one prints and logs (to a handler on stdout, as ultralytics does) when
    # imported, and the perceiver prints from Python and from C while it loads.
    (tmp_path / "chatty.py").write_text(CHATTY)
    (tmp_path / "already.py").write_text(ALREADY_IMPORTED)
    paths = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**fresh_home_env(tmp_path / "home"), "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.run(
        [sys.executable, "-c", USER], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "RESULT\n"
    for chatter in (
        "chatty: import-time hello",
        "chatty: import-time warning",
        "python-level hello",
        "left in the buffer",
        "c-level hello",
        "chatty: log line while working",
        "already: log line while working",
    ):
        assert chatter in proc.stderr
    assert "created a settings file" not in proc.stderr  # an import-time notice is no news


def test_loads_that_overlap_in_threads_leave_stdout_for_results(capfd):
    from vctext.quiet import stdout_to_stderr

    # Two threads loading at once end in either order; results printed after still reach stdout.
    first, second = stdout_to_stderr(), stdout_to_stderr()
    first.__enter__()
    second.__enter__()
    print("chatter while loading")
    first.__exit__(None, None, None)
    print("more chatter")
    second.__exit__(None, None, None)
    print("RESULT")
    out, err = capfd.readouterr()
    assert out == "RESULT\n"
    assert "chatter while loading" in err and "more chatter" in err
