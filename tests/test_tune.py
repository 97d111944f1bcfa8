"""--tune: perceiver parameters set by the user, from the flag, the environment or Python.

The visible effect is checked on the scene cutter (OpenCV only, fast): a clip with two cuts has
none when the cut threshold is above any possible score.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import FAST_H264, FFMPEG, ffmpeg
from test_cli import clean_env, one_line_error, vctext

import vctext as api
from vctext.config import describe_options
from vctext.errors import ConfigError
from vctext.perception.registry import perceiver_class
from vctext.tune import perceiver_params

needs_scenes = pytest.mark.skipif(
    FFMPEG is None or importlib.util.find_spec("cv2") is None,
    reason='needs ffmpeg and cv2 (pip install "vctext[vision-offline]")',
)
SCENES = ("--profile", "offline", "--perceivers", "scenes")
#: Content scores run from 0 to 255: nothing is a cut above that.
NO_CUTS = "scenes.threshold=256"


@pytest.fixture(scope="module")
def cuts_clip(tmp_path_factory) -> Path:
    """testsrc2 for 3 s, then SMPTE bars for 3 s: one cut at 3 s."""
    path = tmp_path_factory.mktemp("tune") / "cuts.mp4"
    src = "size=320x240:rate=25:duration=3"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2={src}", "-f", "lavfi", "-i", f"smptebars={src}"),
        *("-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]"),
        *FAST_H264,
        str(path),
    )
    return path


def cuts(doc) -> list[float]:
    return [o.start for o in doc.observations if o.kind == "scene"]


# -- parsing -----------------------------------------------------------------------------------


def test_tune_string_becomes_parameters_per_perceiver():
    options = describe_options(tune=" ocr.det_side=480, tags.min_score=0.3,ocr.use_cls=yes ")
    assert options.tune == {
        "ocr": {"det_side": "480", "use_cls": "yes"},
        "tags": {"min_score": "0.3"},
    }
    assert describe_options().tune == {}


def test_python_api_takes_a_mapping_nested_or_flat():
    nested = describe_options(tune={"ocr": {"det_side": 480}}).tune
    assert nested == describe_options(tune={"ocr.det_side": 480}).tune == {"ocr": {"det_side": 480}}


@pytest.mark.parametrize(
    "text",
    ["ocr", "ocr.det_side", "det_side=480", "ocr.det_side=480;tags.top_k=3", "OCR.det_side=1"],
)
def test_bad_syntax_says_the_expected_form(text):
    with pytest.raises(ConfigError) as caught:
        describe_options(tune=text)
    message = str(caught.value)
    assert "KIND.NAME=VALUE" in message and "ocr.det_side=480" in message
    assert "\n" not in message


def test_unknown_kind_and_repeated_name_are_errors():
    with pytest.raises(ConfigError, match=r"unknown perceiver 'nosuch'.*choose from: .*ocr"):
        describe_options(tune="nosuch.x=1")
    with pytest.raises(ConfigError, match="ocr.det_side is given twice"):
        describe_options(tune="ocr.det_side=1,ocr.det_side=2")


def test_values_take_the_type_of_the_default():
    ocr = perceiver_class("ocr", "rapidocr")
    given = {"det_side": "480", "reuse_diff": "0", "use_cls": "Yes", "min_score": "0.7"}
    params = perceiver_params("ocr", "rapidocr", ocr.defaults, given)
    assert params == {"det_side": 480, "reuse_diff": 0.0, "use_cls": True, "min_score": 0.7}
    assert isinstance(params["det_side"], int) and isinstance(params["reuse_diff"], float)
    asr = perceiver_class("asr", "faster-whisper")  # language is None by default: a code is text
    assert perceiver_params("asr", "faster-whisper", asr.defaults, {"language": "de"}) == {
        "language": "de"
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"det_side": "big"}, "ocr.det_side must be an integer, got 'big'"),
        ({"min_score": "high"}, "ocr.min_score must be a number, got 'high'"),
        ({"use_cls": "maybe"}, "ocr.use_cls must be true or false, got 'maybe'"),
        ({"nosuch": "1"}, "unknown parameter 'ocr.nosuch'; ocr (rapidocr) takes: min_score, "),
    ],
)
def test_bad_names_and_values_say_what_is_expected(given, message):
    ocr = perceiver_class("ocr", "rapidocr")
    with pytest.raises(ConfigError) as caught:
        perceiver_params("ocr", "rapidocr", ocr.defaults, given)
    assert str(caught.value).startswith(message)
    if "unknown" in message:
        assert "det_side" in str(caught.value) and "reuse_max" in str(caught.value)


# -- what a tuned run changes ------------------------------------------------------------------


@needs_scenes
def test_tuned_threshold_changes_the_output_and_gets_its_own_cache_entry(cuts_clip):
    def run(**tune):
        doc = api.describe(cuts_clip, profile="offline", perceivers="scenes", device="cpu", **tune)
        return cuts(doc), doc.perceivers[0].cached

    assert run() == ([pytest.approx(3.0, abs=1.0)], False)
    assert run(tune=NO_CUTS) == ([], False)  # not served the untuned result from the cache
    assert run() == ([pytest.approx(3.0, abs=1.0)], True)
    assert run(tune=NO_CUTS) == ([], True)
    assert run(tune="scenes.threshold=27")[1] is True  # the default spelled out: same entry


@needs_scenes
def test_tuning_a_perceiver_the_run_does_not_have_names_the_planned_ones(cuts_clip):
    with pytest.raises(ConfigError, match=r"ocr is not among this run's perceivers \(scenes\)"):
        api.describe(cuts_clip, profile="offline", perceivers="scenes", tune="ocr.det_side=480")
    with pytest.raises(ConfigError, match=r"'scenes.nosuch'; scenes \(content\) takes: threshold"):
        api.describe(cuts_clip, profile="offline", perceivers="scenes", tune="scenes.nosuch=1")


# -- the command line --------------------------------------------------------------------------


@needs_scenes
@pytest.mark.parametrize(
    ("tune", "words"),
    [
        ("nosuch.x=1", "unknown perceiver 'nosuch'"),
        ("ocr.nosuch=1", "unknown parameter 'ocr.nosuch'; ocr (rapidocr) takes: "),
        ("ocr.det_side=big", "ocr.det_side must be an integer, got 'big'"),
        ("ocr", "is not KIND.NAME=VALUE"),
    ],
)
def test_cli_errors_are_one_line(cuts_clip, tmp_path, tune, words):
    env = clean_env(tmp_path)
    proc = vctext("describe", "--profile", "offline", "--tune", tune, cuts_clip, env=env)
    assert words in one_line_error(proc)


@needs_scenes
def test_environment_variable_tunes_and_the_flag_wins(cuts_clip, tmp_path):
    env = clean_env(tmp_path, VCTEXT_TUNE=NO_CUTS)

    def scene_cuts(*flags: str) -> list:
        proc = vctext("describe", *SCENES, "--format", "json", *flags, cuts_clip, env=env)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        return [o for o in json.loads(proc.stdout)["observations"] if o["kind"] == "scene"]

    assert scene_cuts() == []
    assert len(scene_cuts("--tune", "scenes.min_gap=0.5")) == 1  # the flag replaces the variable
    bad = clean_env(tmp_path, VCTEXT_TUNE="scenes.threshold=big")
    message = one_line_error(vctext("describe", *SCENES, cuts_clip, env=bad))
    assert "scenes.threshold must be a number, got 'big'" in message
