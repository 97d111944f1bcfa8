"""Tiny random-weight vision-language models, built offline for tests.

Each ``build_*`` function writes a directory that loads through exactly the
code path used for a hub id::

    processor = transformers.AutoProcessor.from_pretrained(path)
    model = transformers.AutoModelForImageTextToText.from_pretrained(path)

Nothing is downloaded: the tokenizer is a byte-level BPE trained with
``tokenizers`` on a few embedded sentences, the configs are written here, and
the weights are random (``torch.manual_seed(SEED)``, so a build is
reproducible).  The real transformers model, image-processor, processor and
tokenizer classes are used; only the sizes are tiny.  Outputs are gibberish but
have the right shapes, token layout and special-token handling.

Builders (each returns ``path``; a few MB, a few seconds on 2 CPU cores):

* :func:`build_smolvlm`  - SmolVLM2 architecture (``SmolVLMForConditionalGeneration``)
  with a SigLIP-like encoder, pixel-shuffle connector and a Llama text model.
* :func:`build_qwen2vl`  - Qwen2-VL (``Qwen2VLForConditionalGeneration`` + ``Qwen2VLProcessor``).
* :func:`build_florence2` - Florence-2 (transformers' native ``Florence2ForConditionalGeneration``).

The tokenizer builder :func:`build_tokenizer` is shared with
``benchmarks/vlm_configs.py`` (full-size random-weight models for timing).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SEED = 1234

# --------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------

# Small training text for the byte-level BPE.  Any string still encodes (the
# byte alphabet is always in the vocab); this only makes common words short.
_CORPUS = [
    "User: Describe the image. Assistant: The image shows a person walking a dog in a park.",
    "user assistant system You are a helpful assistant. Describe this picture in detail.",
    "A man is standing next to a red car on the street. A woman is sitting at a table.",
    "There is a cat on the sofa and a cup of coffee on the wooden table near the window.",
    "The slide shows a chart with the title Quarterly Results and three bullet points.",
    "What is happening in this video frame? Two people are talking in a kitchen.",
    "caption: a group of children playing football on a green field under a blue sky",
    "The text on the sign reads OPEN. The screen displays a terminal with some code.",
    "Frame 1, frame 2, frame 3: the camera pans from left to right across the room.",
    "Question: how many people are there? Answer: there are four people in the scene.",
    "the of and to in is a that it with for on as was at by this are from be or an",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 100 2024 <loc_0> <loc_999> ( ) , . : ; ! ? ' \" - \n",
]


def _byte_level_bpe(target_size: int):
    """Train a byte-level BPE of at most ``target_size`` entries on _CORPUS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=target_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tok


def build_tokenizer(
    *,
    head_specials: list[str] = (),
    tail_specials: list[str] = (),
    base_vocab_size: int | None = None,
    bpe_size: int = 500,
    chat_template: str | None = None,
    tokenizer_class=None,
    **init_kwargs,
):
    """Build a byte-level BPE ``PreTrainedTokenizerFast`` (or ``tokenizer_class``).

    Layout of ids (mirrors real checkpoints such as SmolVLM2 and Qwen2-VL)::

        [head_specials][256 byte symbols][learned merges][fillers] [tail_specials]
        |<------------------------ base_vocab_size ------------->|

    ``head_specials`` are special tokens that live inside the base vocabulary
    (SmolVLM2: ``<|endoftext|>``=0, ``<|im_start|>``=1, ``<|im_end|>``=2);
    ``tail_specials`` are added tokens appended after it (``<image>`` ...).  With
    ``base_vocab_size`` set, unused filler entries pad the base vocabulary so
    the tail specials land on the same ids as in the real tokenizer (only for
    timing; fillers are never produced by encoding, and decode to odd text).

    ``init_kwargs`` go to the tokenizer constructor (``bos_token``,
    ``eos_token``, ``pad_token``, ``unk_token``, ``padding_side``, named extra
    tokens like ``image_token="<image>"`` ...).
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    head_specials = list(head_specials)
    tail_specials = list(tail_specials)
    trained = _byte_level_bpe(bpe_size)
    learned = trained.get_vocab()  # token -> id, ids 0..n-1
    # Merges read back from the serialized model (format: "a b" strings or [a, b] pairs).
    merges = [
        tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
        for m in json.loads(trained.to_str())["model"]["merges"]
    ]

    vocab: dict[str, int] = {}
    for t in head_specials:
        vocab[t] = len(vocab)
    for t, _ in sorted(learned.items(), key=lambda kv: kv[1]):
        if t not in vocab:
            vocab[t] = len(vocab)
    if base_vocab_size is not None:
        if base_vocab_size < len(vocab):
            raise ValueError(f"base_vocab_size {base_vocab_size} < trained vocab {len(vocab)}")
        i = 0
        while len(vocab) < base_vocab_size:
            # Only byte-level alphabet characters so that ByteLevel decoding works.
            filler = f"Ġ~{i}"
            i += 1
            if filler not in vocab:
                vocab[filler] = len(vocab)

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    specials = head_specials + tail_specials
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    expected = len(vocab) + len(tail_specials)
    if tok.get_vocab_size(with_added_tokens=True) != expected:
        raise AssertionError("special tokens collided with the base vocabulary")

    cls = tokenizer_class or PreTrainedTokenizerFast
    kwargs = dict(init_kwargs)
    kwargs.setdefault("clean_up_tokenization_spaces", False)
    if chat_template is not None:
        kwargs["chat_template"] = chat_template
    return cls(tokenizer_object=tok, **kwargs)


def _round_up(n: int, multiple: int = 64) -> int:
    return ((n + multiple - 1) // multiple) * multiple


def _seed():
    import torch

    torch.manual_seed(SEED)


def _save_model(model, path: Path, dtype=None):
    import torch

    model.eval()
    if dtype is not None:
        model.to(dtype)
    with torch.no_grad():
        model.save_pretrained(path)


# --------------------------------------------------------------------------
# SmolVLM2 / Idefics3
# --------------------------------------------------------------------------

# Same format as the SmolVLM2 hub chat template (and the one transformers ships
# as DEFAULT_CHAT_TEMPLATE in processing_smolvlm.py), written out here:
#   <|im_start|>User:<image>Describe.<end_of_utterance>\nAssistant:
SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>"
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}"
    "{{ ': ' + message['content'] }}"
    "{% else %}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'image' %}{{ '<image>' }}"
    "{% elif part['type'] == 'video' %}{{ '<video>' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<end_of_utterance>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

SMOLVLM_HEAD_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def smolvlm_tail_specials(n_reserved: int = 0) -> list[str]:
    """Added tokens of SmolVLM2, in the order (and so at the ids) of the real
    tokenizer: <global-img>, <row_1_col_1>..<row_6_col_6>,
    <fake_token_around_image>, <image>, [reserved...], <end_of_utterance>."""
    return (
        ["<global-img>"]
        + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
        + ["<fake_token_around_image>", "<image>"]
        + [f"<|reserved_special_token_{i}|>" for i in range(n_reserved)]
        + ["<end_of_utterance>"]
    )


def smolvlm_tokenizer(*, base_vocab_size: int | None = None, n_reserved: int = 0):
    return build_tokenizer(
        head_specials=SMOLVLM_HEAD_SPECIALS,
        tail_specials=smolvlm_tail_specials(n_reserved),
        base_vocab_size=base_vocab_size,
        chat_template=SMOLVLM_CHAT_TEMPLATE,
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        padding_side="left",
        # Named tokens the SmolVLM processor looks up on the tokenizer.
        image_token="<image>",
        fake_image_token="<fake_token_around_image>",
        global_image_token="<global-img>",
        end_of_utterance_token="<end_of_utterance>",
        extra_special_tokens=["<fake_token_around_image>", "<image>", "<end_of_utterance>"],
    )


def has_num2words() -> bool:
    """SmolVLMProcessor refuses to start without the ``num2words`` package."""
    return importlib.util.find_spec("num2words") is not None


def _smolvlm_processor(
    tokenizer,
    *,
    kind: str,
    image_size: int,
    longest_edge: int,
    image_seq_len: int,
    image_mean,
    image_std,
):
    img_kwargs = dict(
        do_resize=True,
        size={"longest_edge": longest_edge},
        max_image_size={"longest_edge": image_size},
        do_image_splitting=True,
        do_pad=True,
        image_mean=list(image_mean),
        image_std=list(image_std),
        resample=1,  # LANCZOS, as in the SmolVLM2 preprocessor_config.json
    )
    if kind == "smolvlm":
        from transformers import SmolVLMImageProcessor, SmolVLMProcessor, SmolVLMVideoProcessor

        image_processor = SmolVLMImageProcessor(**img_kwargs)
        video_processor = SmolVLMVideoProcessor(
            size={"longest_edge": image_size},
            max_image_size={"longest_edge": image_size},
            image_mean=list(image_mean),
            image_std=list(image_std),
        )
        return SmolVLMProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=video_processor,
            image_seq_len=image_seq_len,
            chat_template=SMOLVLM_CHAT_TEMPLATE,
        )
    from transformers import Idefics3ImageProcessor, Idefics3Processor

    return Idefics3Processor(
        image_processor=Idefics3ImageProcessor(**img_kwargs),
        tokenizer=tokenizer,
        image_seq_len=image_seq_len,
        chat_template=SMOLVLM_CHAT_TEMPLATE,
    )


def _resolve_smolvlm_kinds(model_type: str, processor: str) -> tuple[str, str]:
    if model_type not in ("smolvlm", "idefics3"):
        raise ValueError(f"model_type must be 'smolvlm' or 'idefics3', not {model_type!r}")
    if processor == "auto":
        processor = "smolvlm" if (model_type == "smolvlm" and has_num2words()) else "idefics3"
    if processor not in ("smolvlm", "idefics3"):
        raise ValueError(f"processor must be 'auto', 'smolvlm' or 'idefics3', not {processor!r}")
    if processor == "smolvlm" and not has_num2words():
        raise ImportError("SmolVLMProcessor needs the num2words package (not installed)")
    return model_type, processor


def write_smolvlm(
    path: Path,
    *,
    text: dict,
    vision: dict,
    scale_factor: int,
    longest_edge: int,
    model_type: str = "smolvlm",
    processor: str = "auto",
    base_vocab_size: int | None = None,
    n_reserved: int = 0,
    vocab_size: int | None = None,
    image_mean=(0.5, 0.5, 0.5),
    image_std=(0.5, 0.5, 0.5),
    dtype=None,
) -> Path:
    """Write a SmolVLM2/Idefics3-style model dir from explicit sizes.

    Shared by :func:`build_smolvlm` (tiny) and benchmarks/vlm_configs.py (full).
    ``text`` holds LlamaConfig fields, ``vision`` SmolVLM/Idefics3 vision
    fields (``image_size`` and ``patch_size`` included).
    """
    import torch
    from transformers import AutoModelForImageTextToText

    model_type, proc_kind = _resolve_smolvlm_kinds(model_type, processor)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)

    tokenizer = smolvlm_tokenizer(base_vocab_size=base_vocab_size, n_reserved=n_reserved)
    n_tok = len(tokenizer)
    vocab_size = vocab_size or n_tok
    if vocab_size < n_tok:
        raise ValueError(f"vocab_size {vocab_size} < tokenizer size {n_tok}")
    ids = tokenizer.convert_tokens_to_ids

    image_size, patch = vision["image_size"], vision["patch_size"]
    side = image_size // patch
    if image_size % patch or side % scale_factor:
        raise ValueError("image_size/patch_size must be a multiple of scale_factor")
    image_seq_len = (side * side) // (scale_factor * scale_factor)

    text_cfg = {
        "model_type": "llama",
        "vocab_size": vocab_size,
        "bos_token_id": ids("<|im_start|>"),
        "eos_token_id": ids("<end_of_utterance>"),
        "pad_token_id": ids("<|im_end|>"),
        "tie_word_embeddings": False,
        **text,
    }
    if model_type == "smolvlm":
        from transformers import SmolVLMConfig as Cfg
    else:
        from transformers import Idefics3Config as Cfg
    config = Cfg(
        text_config=text_cfg,
        vision_config=dict(vision),
        scale_factor=scale_factor,
        image_token_id=ids("<image>"),
        tie_word_embeddings=False,
        pad_token_id=ids("<|im_end|>"),
    )
    # generate() reads these from the generation config written next to the model.
    config.bos_token_id = text_cfg["bos_token_id"]
    config.eos_token_id = text_cfg["eos_token_id"]

    _seed()
    model = AutoModelForImageTextToText.from_config(config, dtype=dtype or torch.float32)
    model.generation_config.bos_token_id = text_cfg["bos_token_id"]
    model.generation_config.eos_token_id = text_cfg["eos_token_id"]
    model.generation_config.pad_token_id = text_cfg["pad_token_id"]
    _save_model(model, path)
    del model

    proc = _smolvlm_processor(
        tokenizer,
        kind=proc_kind,
        image_size=image_size,
        longest_edge=longest_edge,
        image_seq_len=image_seq_len,
        image_mean=image_mean,
        image_std=image_std,
    )
    proc.save_pretrained(path)
    return path


# Tiny sizes.  Image geometry keeps the real SmolVLM2 ratios (real: tile 512,
# patch 16, scale 4, longest_edge 4*512 -> 64 tokens per tile): here tile 64,
# patch 8, scale 4, longest_edge 4*64 -> 4 tokens per tile, same tile grid.
TINY_SMOLVLM_TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=4096,
    rms_norm_eps=1e-5,
    rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
)
TINY_SMOLVLM_VISION = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    image_size=64,
    patch_size=8,
)


def build_smolvlm(
    path: Path,
    *,
    model_type: str = "smolvlm",
    processor: str = "auto",
    image_size: int = 64,
    longest_edge: int | None = None,
) -> Path:
    """Tiny SmolVLM2-architecture model + processor in ``path``; returns ``path``.

    * Model: ``SmolVLMForConditionalGeneration`` (``model_type="smolvlm"``, as
      SmolVLM2 checkpoints), or ``Idefics3ForConditionalGeneration`` with
      ``model_type="idefics3"``.
    * Processor: ``SmolVLMProcessor`` when the ``num2words`` package is
      installed (it is a hard requirement of that class), otherwise
      ``Idefics3Processor`` + ``Idefics3ImageProcessor``, which produce the
      same prompt layout and tensors (``processor="smolvlm"|"idefics3"`` forces
      one).  AutoProcessor follows ``processor_class`` in the saved files.
    * One image tile is ``image_size`` px (default 64, patch 8, pixel-shuffle
      scale 4 -> 4 ``<image>`` tokens per tile).  Images are resized so their
      longest edge is ``longest_edge`` (default ``4 * image_size``, as SmolVLM2's
      2048 = 4 * 512) and, with ``do_image_splitting`` (default on), cut into
      ``image_size`` tiles plus one global tile.
    """
    vision = dict(TINY_SMOLVLM_VISION, image_size=image_size)
    return write_smolvlm(
        path,
        text=TINY_SMOLVLM_TEXT,
        vision=vision,
        scale_factor=4,
        longest_edge=longest_edge or 4 * image_size,
        model_type=model_type,
        processor=processor,
    )


# --------------------------------------------------------------------------
# Qwen2-VL
# --------------------------------------------------------------------------

# Same behaviour as the Qwen2-VL-Instruct chat template (default system
# prompt, <|vision_start|><|image_pad|><|vision_end|> per image), written out here.
QWEN2VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}"
    "{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}"
    "{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Added tokens of Qwen2-VL in the real order (ids 151643.. in the real tokenizer).
QWEN2VL_TAIL_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def qwen2vl_tokenizer(*, base_vocab_size: int | None = None):
    return build_tokenizer(
        tail_specials=QWEN2VL_TAIL_SPECIALS,
        base_vocab_size=base_vocab_size,
        chat_template=QWEN2VL_CHAT_TEMPLATE,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        padding_side="left",
        extra_special_tokens=QWEN2VL_TAIL_SPECIALS[1:],
    )


def write_qwen2vl(
    path: Path,
    *,
    text: dict,
    vision: dict,
    min_pixels: int,
    max_pixels: int,
    base_vocab_size: int | None = None,
    vocab_size: int | None = None,
    tie_word_embeddings: bool = False,
    dtype=None,
) -> Path:
    """Write a Qwen2-VL model dir from explicit sizes (tiny or full)."""
    import torch
    from transformers import (
        AutoModelForImageTextToText,
        Qwen2VLConfig,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = qwen2vl_tokenizer(base_vocab_size=base_vocab_size)
    n_tok = len(tokenizer)
    # Real Qwen2-VL: embedding rows (151936) > tokenizer size (151657); mirror that.
    vocab_size = vocab_size or _round_up(n_tok, 64)
    if vocab_size < n_tok:
        raise ValueError(f"vocab_size {vocab_size} < tokenizer size {n_tok}")
    ids = tokenizer.convert_tokens_to_ids

    text_cfg = {
        "vocab_size": vocab_size,
        "bos_token_id": ids("<|endoftext|>"),
        "eos_token_id": ids("<|im_end|>"),
        "pad_token_id": ids("<|endoftext|>"),
        "tie_word_embeddings": tie_word_embeddings,
        **text,
    }
    config = Qwen2VLConfig(
        text_config=text_cfg,
        vision_config=dict(vision),
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=tie_word_embeddings,
    )
    config.bos_token_id = text_cfg["bos_token_id"]
    config.eos_token_id = text_cfg["eos_token_id"]

    _seed()
    model = AutoModelForImageTextToText.from_config(config, dtype=dtype or torch.float32)
    model.generation_config.bos_token_id = text_cfg["bos_token_id"]
    model.generation_config.eos_token_id = [ids("<|im_end|>"), ids("<|endoftext|>")]
    model.generation_config.pad_token_id = text_cfg["pad_token_id"]
    _save_model(model, path)
    del model

    patch = vision.get("patch_size", 14)
    merge = vision.get("spatial_merge_size", 2)
    temporal = vision.get("temporal_patch_size", 2)
    common = dict(
        patch_size=patch,
        merge_size=merge,
        temporal_patch_size=temporal,
        image_mean=[0.48145466, 0.4578275, 0.40821073],  # OpenAI CLIP, as Qwen2-VL
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels}, **common
    )
    video_processor = Qwen2VLVideoProcessor(
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels}, **common
    )
    processor = Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=QWEN2VL_CHAT_TEMPLATE,
    )
    processor.save_pretrained(path)
    return path


TINY_QWEN2VL_TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
    rms_norm_eps=1e-6,
    # head_dim 16 -> 8 rotary frequencies split over (temporal, height, width).
    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
)
TINY_QWEN2VL_VISION = dict(
    depth=2,
    embed_dim=32,
    hidden_size=64,  # output of the patch merger == text hidden size
    mlp_ratio=2,
    num_heads=2,
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
)


def build_qwen2vl(
    path: Path, *, min_pixels: int = 28 * 28 * 4, max_pixels: int = 28 * 28 * 16
) -> Path:
    """Tiny Qwen2-VL model + processor in ``path``; returns ``path``.

    Same patching as the real model (patch 14, 2x2 merge, so one ``<|image_pad|>``
    per 28x28 pixels), but the default pixel budget is tiny: every image is
    resized (aspect kept, sides multiples of 28) to between ``min_pixels``
    (4 tokens) and ``max_pixels`` (16 tokens) pixels.
    """
    return write_qwen2vl(
        path,
        text=TINY_QWEN2VL_TEXT,
        vision=TINY_QWEN2VL_VISION,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
    )


# --------------------------------------------------------------------------
# Florence-2 (transformers' native port, florence-community/* checkpoints)
# --------------------------------------------------------------------------

# Task tokens of the original Florence-2 tokenizer (added on top of BART's vocab).
FLORENCE2_TASK_TOKENS = (
    ["<od>", "</od>", "<ocr>", "</ocr>"]
    + [f"<loc_{i}>" for i in range(1000)]
    + [
        "<cap>",
        "</cap>",
        "<ncap>",
        "</ncap>",
        "<dcap>",
        "</dcap>",
        "<grounding>",
        "</grounding>",
        "<seg>",
        "</seg>",
        "<sep>",
        "<region_cap>",
        "</region_cap>",
        "<region_to_desciption>",
        "</region_to_desciption>",
        "<proposal>",
        "</proposal>",
        "<poly>",
        "</poly>",
        "<and>",
    ]
)

# Parsing rules for Florence2PostProcessor (one entry per parse type it supports).
FLORENCE2_POST_PROCESSOR_CONFIG = {
    "ocr": {
        "PATTERN": r"(.+?)" + r"<loc_(\d+)>" * 8,
        "AREA_THRESHOLD": 0.0,
    },
    "phrase_grounding": {"banned_grounding_tokens": ["the image"]},
    "pure_text": {},
    "description_with_bboxes": {},
    "description_with_polygons": {},
    "polygons": {},
    "bboxes": {},
    "description_with_bboxes_or_polygons": {},
}


def build_florence2(path: Path, *, image_size: int = 32) -> Path:
    """Tiny Florence-2 (``Florence2ForConditionalGeneration``: DaViT-like vision
    tower + BART encoder-decoder) and ``Florence2Processor`` in ``path``.

    Images are resized to ``image_size`` square (real: 768); the vision tower
    downsamples 8x here (real: 32x), so an image becomes
    ``(image_size // 8) ** 2 + 1`` tokens (17 by default; real: 577).

    Use as with the real checkpoints::

        inputs = processor(text="<DENSE_REGION_CAPTION>", images=pil, return_tensors="pt")
        ids = model.generate(**inputs, max_new_tokens=20, do_sample=False)
        text = processor.batch_decode(ids, skip_special_tokens=False)[0]
        processor.post_process_generation(text, task="<DENSE_REGION_CAPTION>", image_size=pil.size)

    (``<loc_*>`` are special tokens, so decode with ``skip_special_tokens=False``.)
    """
    import torch
    from transformers import (
        AutoModelForImageTextToText,
        CLIPImageProcessor,
        Florence2Config,
        Florence2Processor,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(
        head_specials=["<s>", "<pad>", "</s>", "<unk>"],
        tail_specials=FLORENCE2_TASK_TOKENS + ["<image>"],
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        image_token="<image>",
        padding_side="right",
    )
    ids = tokenizer.convert_tokens_to_ids
    vocab_size = len(tokenizer)
    stride = 4 * 2
    n_image_tokens = (image_size // stride) ** 2 + 1

    text_cfg = dict(
        model_type="bart",
        vocab_size=vocab_size,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=256,
        bos_token_id=ids("<s>"),
        pad_token_id=ids("<pad>"),
        eos_token_id=ids("</s>"),
        decoder_start_token_id=ids("</s>"),
        forced_bos_token_id=ids("<s>"),
        forced_eos_token_id=ids("</s>"),
        scale_embedding=False,
        tie_word_embeddings=True,
    )
    vision_cfg = dict(
        depths=[1, 1],
        patch_size=[7, 3],
        patch_stride=[4, 2],
        patch_padding=[3, 1],
        patch_prenorm=[False, True],
        embed_dim=[16, 32],
        num_heads=[1, 2],
        num_groups=[1, 2],
        window_size=2,
        drop_path_rate=0.0,
        projection_dim=32,  # == text d_model
        max_position_embeddings=50,
        max_temporal_embeddings=100,
    )
    config = Florence2Config(
        text_config=text_cfg,
        vision_config=vision_cfg,
        image_token_id=ids("<image>"),
        is_encoder_decoder=True,
        tie_word_embeddings=True,
    )
    for k in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"):
        setattr(config, k, text_cfg[k])

    _seed()
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    gc = model.generation_config
    gc.bos_token_id, gc.eos_token_id, gc.pad_token_id = ids("<s>"), ids("</s>"), ids("<pad>")
    gc.decoder_start_token_id = ids("</s>")
    gc.forced_bos_token_id = ids("<s>")
    gc.forced_eos_token_id = ids("</s>")
    _save_model(model, path)
    del model

    image_processor = CLIPImageProcessor(
        do_resize=True,
        size={"height": image_size, "width": image_size},
        do_center_crop=False,
        crop_size={"height": image_size, "width": image_size},
        resample=3,  # bicubic, as Florence-2
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    image_processor.image_seq_length = n_image_tokens
    processor = Florence2Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        post_processor_config=FLORENCE2_POST_PROCESSOR_CONFIG,
    )
    processor.save_pretrained(path)
    return path
