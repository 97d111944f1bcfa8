"""A new perceiver is one class and one kind: registered, it runs through the real pipeline.

The stub here has no model: it says whether each sampled frame is dark or bright from its mean
pixel value. Its kind and class are registered for one test and taken out again afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FFMPEG, concat_video, registered

import vctext
from vctext import kinds
from vctext.errors import ConfigError
from vctext.kinds import KindSpec
from vctext.perception import registry
from vctext.perception.base import FramePerceiver, ModelSpec, Perceiver
from vctext.types import Frame, Observation

needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg (apt-get install ffmpeg)")

#: A change of lighting starts a new time range (range_tier=1), as a change of caption does.
LIGHT = KindSpec("light", "lighting", lasts=True, range_tier=1)


class Lighting(FramePerceiver):
    """Dark or bright, from the frame's mean pixel value: no model, no dependency."""

    kind = "light"
    backend = "mean-pixel"
    models = (ModelSpec("mean-pixel", "pypi:vctext", 0, "Apache-2.0", note="no weights"),)

    def load(self) -> None:
        """Nothing to load."""

    def process(self, batch: list[Frame]) -> list[Observation]:
        return [
            Observation(f.time, f.time, self.kind, self.source, lighting(f.image.mean()))
            for f in batch
        ]


def lighting(mean: float) -> str:
    return "bright" if mean >= 128 else "dark"


@pytest.fixture
def light():
    """The ``light`` kind and its perceiver, registered for one test only."""
    with registered(LIGHT, Lighting):
        yield Lighting


@pytest.fixture(scope="module")
def dark_then_bright(media_dir) -> Path:
    """4 s without audio: 2 s of black, then 2 s of white."""
    return concat_video(
        media_dir / "dark-then-bright.mp4",
        "color=c=black:s=160x120:r=10:d=2",
        "color=c=white:s=160x120:r=10:d=2",
    )


@needs_ffmpeg
def test_a_registered_perceiver_runs_through_the_pipeline(light, dark_then_bright):
    doc = vctext.describe(
        dark_then_bright, perceivers=("light",), profile="offline", cache=False, device="cpu"
    )
    lines = doc.render().splitlines()
    assert "00:00-00:02  lighting: dark" in lines
    assert "00:02-00:04  lighting: bright" in lines
    out = json.loads(json.dumps(doc.to_json()))
    assert [(o["start"], o["end"], o["kind"], o["text"]) for o in out["observations"]] == [
        (0.0, 2.0, "light", "dark"),
        (2.0, 4.0, "light", "bright"),
    ]
    assert {o["source"] for o in out["observations"]} == {"mean-pixel:mean-pixel"}
    assert [(p["kind"], p["backend"], p["model"]) for p in out["perceivers"]] == [
        ("light", "mean-pixel", "mean-pixel")
    ]


def test_a_registered_perceiver_is_listed_with_its_models_and_forgotten_after(light):
    assert "light" in registry.available_kinds()
    assert registry.available_backends("light") == ("mean-pixel",)
    assert registry.perceiver_class("light", "mean-pixel") is Lighting
    spec = registry.find_model("light", "mean-pixel", "mean-pixel")
    assert (spec.kind, spec.backend, spec.note) == ("light", "mean-pixel", "no weights")
    assert spec in registry.all_models()
    registry.unregister(Lighting)
    assert "light" not in registry.available_kinds()
    assert registry.find_model("light", "mean-pixel", "mean-pixel") is None
    with pytest.raises(ConfigError, match="unknown perceiver 'light'; choose from: asr"):
        registry.perceiver_class("light", "mean-pixel")


def test_no_registered_test_perceiver_leaks_into_other_tests():
    assert "light" not in registry.available_kinds()
    assert "light" not in kinds.KINDS


def test_an_observation_of_an_unregistered_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown observation kind 'light'"):
        Observation(0.0, 1.0, "light", "mean-pixel:mean-pixel", "dark")


def test_a_perceiver_of_an_unregistered_kind_is_refused_when_registered():
    with pytest.raises(ValueError, match="unknown observation kind 'light'"):
        registry.register(Lighting)
    assert "light" not in registry.available_kinds()


def test_a_perceiver_derives_from_exactly_one_modality_class():
    class Shapeless(Perceiver):
        kind, backend = "caption", "shapeless"

        def load(self) -> None: ...

        def process(self, batch):
            return []

    with pytest.raises(TypeError, match="exactly one of FramePerceiver, ClipPerceiver"):
        registry.register(Shapeless)
    assert "shapeless" not in registry.available_backends("caption")


def test_a_name_and_the_kind_it_emits_may_differ():
    scenes = registry.perceiver_class("scenes", "content")
    assert (scenes.name, scenes.kind) == ("scenes", "scene")
    assert scenes.kind in kinds.KINDS
    spec = registry.find_model("scenes", "content", "hsv-content")
    assert spec is not None and spec.kind == "scenes"


def test_the_registry_imports_no_model_library():
    heavy = ("torch", "cv2", "transformers", "ultralytics", "onnxruntime", "faster_whisper")
    code = (
        "import sys\n"
        "from vctext.perception import registry\n"
        "registry.available_kinds(), registry.all_models()\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip() == "[]"
