"""The built-in known-answer suite: its clips and manifest are made here, and read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import requires_media_tools

from vctext.eval.builtin import CLIPS, builtin_manifest
from vctext.eval.manifest import load_manifest
from vctext.probe import probe


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return builtin_manifest(tmp_path_factory.mktemp("eval-builtin"))


@requires_media_tools
def test_builtin_suite_has_clips_with_known_answers(suite):
    items = load_manifest(suite)
    assert len(items) == sum(len(c.questions) for c in CLIPS)
    assert any(i.options for i in items) and any(not i.options for i in items)
    for clip in CLIPS:
        info = probe(suite.parent / f"{clip.name}.mp4")
        assert info.has_audio
        assert info.duration == pytest.approx(sum(s.seconds for s in clip.scenes), abs=0.2)
    first = items[0]
    assert first.reference == "B. gate four" and first.cuts == (5.0, 10.0)
    assert first.start == 0.5 and 3.0 < first.end < 6.0  # the sentence's own length
    assert first.text_on_screen == ("GATE 4", "PLATFORM 9")
    assert not list(suite.parent.glob("*.wav"))
    mtime = suite.stat().st_mtime_ns
    assert builtin_manifest(suite.parent) == suite and suite.stat().st_mtime_ns == mtime


def test_bad_manifest_is_one_line_before_any_perception(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"video": "missing.mp4", "question": "Q?", "answer": "a"})
        + "\n"
        + json.dumps({"video": "x.mp4", "question": "Q?", "options": ["a", "b"], "answer": "Z"})
        + "\n"
    )
    out = tmp_path / "r.jsonl"
    args = [sys.executable, "-m", "vctext", "eval", str(manifest), "-o", str(out)]
    proc = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "vctext: error: m.jsonl line 2: answer 'Z' is none of the 2 options; give a letter A-B, "
        "a 0-based index or an option's text"
    ]
    assert not out.exists()
    manifest.write_text(json.dumps({"video": "missing.mp4", "question": "Q?", "answer": "a"}))
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "missing.mp4' is not a file" in proc.stderr
    assert not out.exists()
