"""File names that look like options or protocols reach ffmpeg and ffprobe as files, never as
options: ``./-report`` does not turn on ffprobe's log file, ``-version`` is a video like any other.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import make_video, requires_media_tools
from test_cli import vctext

pytestmark = requires_media_tools


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("odd") / "clip.mp4", duration=3, size="160x120")


@pytest.mark.parametrize(
    "name, given",
    [
        ("-report", "./-report"),
        ("-version", "./-version"),
        ("-x.mp4", "./-x.mp4"),
        ("-x.mp4", "-- -x.mp4"),
        ("a:b.mp4", "a:b.mp4"),
        ("concat:c.mp4", "concat:c.mp4"),
    ],
)
def test_a_name_that_looks_like_an_option_is_described_as_a_file(clip, tmp_path, name, given):
    shutil.copy(clip, tmp_path / name)
    args = given.split(" ")
    args = ["describe", "--profile", "offline", "--perceivers", "scenes", "-f", "json", *args]
    proc = vctext(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["video"]["duration"] == pytest.approx(3.0, abs=0.1)
    assert doc["video"]["path"].endswith(name)
    # Nothing but the copy we made: no ffprobe/ffmpeg report log written into the folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
