"""Full-size vision-language model architectures with random weights, for timing only.

    from vlm_configs import full_size
    path = full_size("HuggingFaceTB/SmolVLM2-500M-Video-Instruct", Path("/tmp/smolvlm2-500m"))
    # then AutoProcessor / AutoModelForImageTextToText .from_pretrained(path), as for the hub id

Nothing is downloaded.  The architecture numbers are the published ones (see the
comments for where each comes from); weights are random (fixed seed) and the
tokenizer is the offline byte-level BPE of tests/tiny_vlm.py, padded with unused
filler entries so that the vocabulary size and the special-token ids match the
real checkpoint.  Speed and memory therefore match the real model for the same
number of input/output tokens, but the text is gibberish, random weights rarely
emit EOS (generation runs to max_new_tokens) and the same string tokenizes into
more tokens than with the real BPE (fewer merges) - compare per token, or keep
prompts short: image tokens dominate anyway.

python benchmarks/vlm_configs.py NAME OUT_DIR [--dtype bfloat16|float32]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _tiny_vlm():
    """tests/tiny_vlm.py (tests/ is not a package), loaded by path."""
    name = "tiny_vlm"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE.parent / "tests" / "tiny_vlm.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------
# SmolVLM2 256M / 500M
# --------------------------------------------------------------------------
#
# Sources (no hub access from here; values found with the search tool):
#  [A] config.json of HuggingFaceTB/SmolVLM2-500M-Video-Instruct, reproduced "verbatim from the
#      model card" (with its preprocessor_config.json and processor_config.json) in a third-party
#      offline-cache script (tests/offline_vlm_cache.py of a SmolVLA-based repository).  The same
#      text/vision numbers appear in other third-party parsers of that config.
#  [B] hub pages of both SmolVLM2 repos (docs corpus): processor_config.json
#      {"image_seq_len": 64, "processor_class": "SmolVLMProcessor"} for 256M and 500M;
#      generation_config.json bos 0 / eos 49279 / pad 2 for both; preprocessor_config.json is
#      599 bytes in both repos (same content as [A] presumably).
#  [C] SmolVLM-256M config (model_type idefics3) as parsed in a third-party Rust test:
#      text hidden 576 / inter 1536 / 30 layers / 9 heads / 3 kv heads / vocab 49280 /
#      max_pos 8192 / rope_theta 100000; vision 768 / 3072 / 12 layers / 12 heads / 512 / 16;
#      scale_factor 4, image_token_id 49190.  SmolVLM2-256M-Video-Instruct is fine-tuned from
#      SmolVLM-256M-Instruct (model card base_model), whose text model is SmolLM2-135M
#      (hidden 576, 30 layers, 9/3 heads, inter 1536, rope_theta 100000: its config.json as
#      quoted by several third-party ports).
#  [D] the SmolVLM 256M/500M blog post (huggingface/blog smolervlm.md): vision encoder is
#      SigLIP base patch-16/512 (93M) for both sizes, 512 px tiles.
#  [E] transformers defaults of SmolVLMVisionConfig (intermediate_size 3072, num_hidden_layers 12,
#      layer_norm_eps 1e-6, gelu_pytorch_tanh) - used where [A] omits the key; they are the
#      SigLIP-base values [D].
#
# Best guesses (flagged): for 256M, text sizes come from [C]/SmolLM2-135M rather than from the
# SmolVLM2-256M config.json itself; tie_word_embeddings False and the preprocessor values for 256M
# are assumed equal to 500M's [A] (same file size [B]).

SMOLVLM2_VISION = dict(  # SigLIP base patch16-512
    hidden_size=768,  # [A], [C]
    intermediate_size=3072,  # [C]; [E] default (absent from [A])
    num_hidden_layers=12,  # [C]; [E] default (absent from [A])
    num_attention_heads=12,  # [A], [C]
    image_size=512,  # [A], [C]
    patch_size=16,  # [A], [C]
    layer_norm_eps=1e-6,  # [C]; [E]
)

SMOLVLM2 = {
    "HuggingFaceTB/SmolVLM2-500M-Video-Instruct": dict(
        text=dict(  # [A] text_config (SmolLM2-360M backbone)
            hidden_size=960,
            intermediate_size=2560,
            num_hidden_layers=32,
            num_attention_heads=15,
            num_key_value_heads=5,
            head_dim=64,
            max_position_embeddings=8192,
            rms_norm_eps=1e-5,
            rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
        ),
    ),
    "HuggingFaceTB/SmolVLM2-256M-Video-Instruct": dict(
        text=dict(  # [C] / SmolLM2-135M (best guess, see above)
            hidden_size=576,
            intermediate_size=1536,
            num_hidden_layers=30,
            num_attention_heads=9,
            num_key_value_heads=3,
            head_dim=64,
            max_position_embeddings=8192,
            rms_norm_eps=1e-5,
            rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
        ),
    ),
}
SMOLVLM2_COMMON = dict(
    scale_factor=4,  # [A], [C] -> (512/16)^2 / 4^2 = 64 = image_seq_len [B]
    longest_edge=2048,  # [A] preprocessor size {"longest_edge": 2048} (= 4 * 512)
    vocab_size=49280,  # [A], [C]; eos 49279 [B]
    base_vocab_size=49152,  # SmolLM2 BPE size; added tokens start at 49152 (<global-img>)
    n_reserved=88,  # <|reserved_special_token_0..87|> -> <image> 49190, <end_of_utterance> 49279
    image_mean=(0.5, 0.5, 0.5),  # [A]
    image_std=(0.5, 0.5, 0.5),  # [A]
)

# --------------------------------------------------------------------------
# Qwen2-VL-2B-Instruct
# --------------------------------------------------------------------------
#
# Sources:
#  [Q1] Qwen2-VL-2B config as hard-coded by a third-party C++ port (mllm
#       configuration_qwen2vl.hpp): vision embed 1280 / depth 32 / 16 heads / mlp_ratio 4 /
#       patch 14 / temporal 2 / merge 2; text hidden 1536 / inter 8960 / 28 layers / 12 heads /
#       2 kv heads / vocab 151936 / rms 1e-6 / rope_theta 1e6 / mrope_section [16, 24, 24];
#       a second version of that port adds tie_word_embeddings true.
#  [Q2] Qwen2-1.5B (the same text backbone) config.json as reported by a third-party tool:
#       1536 / 8960 / 28 / 12 / 2 / vocab 151936 / max_pos 32768 / tied embeddings.
#  [Q3] Qwen2-VL preprocessor_config.json values quoted by several third-party projects:
#       min_pixels 3136, max_pixels 12845056, patch 14, merge 2, temporal 2, CLIP mean/std.
#  [Q4] transformers Qwen2VLConfig defaults for the token ids (image 151655, video 151656,
#       vision_start 151652, vision_end 151653), which the tokenizer layout reproduces.
# Best guesses (flagged): max_position_embeddings 32768 ([Q2]; [Q1] says 32786, surely a typo);
# vision hidden_size (merger output) 1536 = text hidden size (required by the architecture).

QWEN2VL_2B = dict(
    text=dict(
        hidden_size=1536,  # [Q1], [Q2]
        intermediate_size=8960,  # [Q1], [Q2]
        num_hidden_layers=28,  # [Q1], [Q2]
        num_attention_heads=12,  # [Q1], [Q2]
        num_key_value_heads=2,  # [Q1], [Q2]
        max_position_embeddings=32768,  # [Q2] (best guess, see above)
        rms_norm_eps=1e-6,  # [Q1]
        rope_parameters={  # [Q1]
            "rope_type": "default",
            "rope_theta": 1000000.0,
            "mrope_section": [16, 24, 24],
        },
    ),
    vision=dict(
        depth=32,  # [Q1]
        embed_dim=1280,  # [Q1]
        hidden_size=1536,  # merger output = text hidden size
        mlp_ratio=4,  # [Q1]
        num_heads=16,  # [Q1]
        patch_size=14,  # [Q1], [Q3]
        spatial_merge_size=2,  # [Q1], [Q3]
        temporal_patch_size=2,  # [Q1], [Q3]
    ),
    min_pixels=3136,  # [Q3] (56 * 56)
    max_pixels=12845056,  # [Q3] (28 * 28 * 16384)
    vocab_size=151936,  # [Q1], [Q2]
    base_vocab_size=151643,  # added tokens start at <|endoftext|> = 151643 ([Q4] ids follow)
    tie_word_embeddings=True,  # [Q1] (second version), [Q2]
)

NAMES = (
    "HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
    "HuggingFaceTB/SmolVLM2-500M-Video-Instruct",
    "Qwen/Qwen2-VL-2B-Instruct",
)


def full_size(name: str, path: Path, dtype: str = "bfloat16") -> Path:
    """Save the full-size architecture of hub model ``name`` with random weights to ``path``.

    ``name`` is one of :data:`NAMES` (the ``org/`` prefix may be left off).  ``dtype`` is
    ``"bfloat16"`` (default; what the models are published in) or ``"float32"``.  Returns
    ``path``, loadable with AutoProcessor / AutoModelForImageTextToText.
    """
    import torch

    torch_dtype = {
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float32": torch.float32,
        "fp32": torch.float32,
    }[str(dtype).replace("torch.", "")]
    matches = [n for n in NAMES if n == name or n.split("/", 1)[1] == name]
    if not matches:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(NAMES)}")
    name = matches[0]
    tv = _tiny_vlm()
    if name in SMOLVLM2:
        return tv.write_smolvlm(
            path,
            text=SMOLVLM2[name]["text"],
            vision=SMOLVLM2_VISION,
            model_type="smolvlm",
            dtype=torch_dtype,
            **SMOLVLM2_COMMON,
        )
    cfg = QWEN2VL_2B
    return tv.write_qwen2vl(
        path,
        text=cfg["text"],
        vision=cfg["vision"],
        min_pixels=cfg["min_pixels"],
        max_pixels=cfg["max_pixels"],
        base_vocab_size=cfg["base_vocab_size"],
        vocab_size=cfg["vocab_size"],
        tie_word_embeddings=cfg["tie_word_embeddings"],
        dtype=torch_dtype,
    )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("name", help=" | ".join(NAMES))
    p.add_argument("out", type=Path)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    args = p.parse_args()
    t = time.time()
    full_size(args.name, args.out, args.dtype)
    print(f"wrote {args.out} in {time.time() - t:.1f} s")


if __name__ == "__main__":
    main()
