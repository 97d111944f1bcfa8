"""Which perceivers there are: every concrete perceiver class by name and backend, its pinned
models, and what each profile runs.

Every module of this package is imported on the first lookup (:data:`ORDER` sets the order of
the built-in ones); the registry collects the concrete :class:`~vctext.perception.base.Perceiver`
classes they define and stamps each class's ``models`` with its name and backend, so a new
perceiver is one module here and one entry in the kind table (:mod:`vctext.kinds`). The modules
are light to import (no torch, cv2 or other model library at module level: ``load()`` imports
them), so listing or looking up perceivers costs milliseconds.
:func:`register` adds a perceiver class from a test or a plugin.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from vctext import kinds
from vctext.errors import ConfigError
from vctext.perception.base import MODALITY_CLASSES, ModelSpec, Perceiver, PerceiverOptions

#: The order in which the built-in perceivers are listed and run (by module); every other module
#: of this package is looked through after these, in name order, so a new perceiver module needs
#: no line here.
ORDER: tuple[str, ...] = (
    "asr",
    "ocr",
    "detect",
    "yolo",
    "action",
    "i3d",
    "tags",
    "clip_tags",
    "caption",
    "composed_caption",
    "dense",
    "vision_api",
    "vlm",
    "florence",
    "scenes",
)


def builtin_modules() -> tuple[str, ...]:
    """The perception modules, dotted, in :data:`ORDER` first, then by name."""
    package = importlib.import_module(__package__)
    found = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.ispkg)
    names = [m for m in ORDER if m in found] + [m for m in found if m not in ORDER]
    return tuple(f"{__package__}.{name}" for name in names if name != "registry")


_classes: dict[str, dict[str, type[Perceiver]]] = {}  # name -> backend -> class
_models: dict[str, list[ModelSpec]] = {}  # name -> the models of all its backends
_builtins_loaded = False
_in_progress = False


_loading = threading.RLock()  # several threads may ask first (the MCP server's calls)


def _registry() -> dict[str, dict[str, type[Perceiver]]]:
    """The table, with the built-in perceivers in it (imported on the first call)."""
    global _builtins_loaded, _in_progress
    if _builtins_loaded:
        return _classes
    with _loading:  # another thread waits here until the table is whole
        if not _builtins_loaded and not _in_progress:  # (this thread, while importing: as is)
            _in_progress = True
            try:
                for module_name in builtin_modules():
                    module = importlib.import_module(module_name)
                    for value in vars(module).values():
                        if _is_concrete(value) and value.__module__ == module_name:
                            _add(value)
                _builtins_loaded = True
            finally:
                _in_progress = False
    return _classes


def _is_concrete(value: Any) -> bool:
    return (
        isinstance(value, type)
        and issubclass(value, Perceiver)
        and hasattr(value, "backend")
        and not inspect.isabstract(value)
    )


def register(cls: type[Perceiver]) -> type[Perceiver]:
    """Add a perceiver class and its models (from a test or a plugin); returns the class.

    Its ``kind`` must be in the kind table first (:func:`vctext.kinds.register`). Registering
    the same class again is harmless; another class under a known name and backend is an error.
    """
    _registry()
    if not _is_concrete(cls):
        raise TypeError(f"{cls!r} is not a concrete Perceiver with a backend")
    _add(cls)
    return cls


def unregister(cls: type[Perceiver]) -> None:
    """Take a class added by :func:`register` out again (tests undo what they added)."""
    backends = _registry().get(cls.name, {})
    if backends.get(cls.backend) is not cls:
        return
    del backends[cls.backend]
    _models[cls.name] = [s for s in _models[cls.name] if s.backend != cls.backend]
    if not backends:
        del _classes[cls.name], _models[cls.name]


def _add(cls: type[Perceiver]) -> None:
    bases = [base.__name__ for base in MODALITY_CLASSES.values() if issubclass(cls, base)]
    if len(bases) != 1:
        raise TypeError(
            f"{cls.__qualname__} must derive from exactly one of "
            f"{', '.join(b.__name__ for b in MODALITY_CLASSES.values())}; it derives from "
            f"{', '.join(bases) or 'none'}"
        )
    kinds.spec(cls.kind)  # a kind not in the table is an error here, not when it first runs
    known = _classes.get(cls.name, {}).get(cls.backend)
    if known is cls:
        return
    if known is not None:
        raise ValueError(
            f"perceiver '{cls.name}' backend '{cls.backend}' is already registered as "
            f"{known.__module__}:{known.__qualname__}"
        )
    _classes.setdefault(cls.name, {})[cls.backend] = cls
    _models.setdefault(cls.name, []).extend(
        dataclasses.replace(spec, kind=cls.name, backend=cls.backend) for spec in cls.models
    )


# -- lookups -----------------------------------------------------------------------------------


def available_kinds() -> tuple[str, ...]:
    """Names of the perceivers (what ``--perceivers`` takes), in the order they run."""
    return tuple(_registry())


def available_backends(name: str) -> tuple[str, ...]:
    """The backends of perceiver ``name`` (none for an unknown name)."""
    return tuple(_registry().get(name, {}))


def perceiver_class(name: str, backend: str) -> type[Perceiver]:
    """The class registered for perceiver ``name`` and ``backend``."""
    table = _registry()
    if name not in table:
        raise ConfigError(
            f"unknown perceiver '{name}'; choose from: {', '.join(available_kinds())}"
        )
    cls = table[name].get(backend)
    if cls is None:
        raise ConfigError(
            f"unknown {name} backend '{backend}'; "
            f"choose from: {', '.join(available_backends(name))}"
        )
    return cls


def load_perceiver(name: str, backend: str, options: PerceiverOptions) -> Perceiver:
    """Build (but do not load) the perceiver registered for ``name``/``backend``."""
    return perceiver_class(name, backend)(options)


def model_table(name: str) -> list[ModelSpec]:
    """The pinned models declared for perceiver ``name``, over all its backends."""
    _registry()
    return list(_models.get(name, ()))


def all_models() -> list[ModelSpec]:
    """Every pinned model of every perceiver (``vctext models list``)."""
    return [spec for name in _registry() for spec in _models[name]]


def find_model(name: str, backend: str, model: str) -> ModelSpec | None:
    """The pinned spec of ``model`` for perceiver ``name``'s ``backend`` (None: not declared)."""
    for spec in model_table(name):
        if spec.backend == backend and spec.name == model:
            return spec
    return None


class _View(Mapping):
    """A read-only table computed from the registry each time it is read."""

    def __init__(self, build: Callable[[], dict]):
        self._build = build

    def __getitem__(self, key: str) -> Any:
        return self._build()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())


#: name -> backend -> "module:Class", for reading.
BACKENDS: Mapping[str, dict[str, str]] = _View(
    lambda: {
        name: {b: f"{c.__module__}:{c.__qualname__}" for b, c in backends.items()}
        for name, backends in _registry().items()
    }
)
#: name -> the modules whose perceivers declare its models, for reading.
MODEL_TABLES: Mapping[str, tuple[str, ...]] = _View(
    lambda: {
        name: tuple(dict.fromkeys(c.__module__ for c in backends.values()))
        for name, backends in _registry().items()
    }
)


# -- profiles ----------------------------------------------------------------------------------

#: profile -> name -> (backend, model). "auto" resolves per name to standard when its weights are
#: already on disk, else offline (see :mod:`vctext.plan`).
PROFILES: dict[str, dict[str, tuple[str, str]]] = {
    "offline": {
        "asr": ("faster-whisper", "pypi-tiny.en"),
        "ocr": ("rapidocr", "pp-ocrv6"),
        "detect": ("opencv-yolo", "yolov3-tiny"),
        "tags": ("efficientnet-lite0", "efficientnet-lite0"),
        "scenes": ("content", "hsv-content"),
        "action": ("i3d", "i3d-kinetics-400"),
        "caption": ("from-observations", "offline-observations"),
    },
    "standard": {
        "asr": ("faster-whisper", "small"),
        "detect": ("ultralytics", "yolo11n.pt"),
        "action": ("transformers", "MCG-NJU/videomae-base-finetuned-kinetics"),
        # SmolVLM2 500M: a modern instruction-following VLM small enough for any GPU (and,
        # slowly, a CPU); Apache-2.0; trained on video as well as images, so the same weights
        # describe a frame and a clip of several frames. BLIP stays the light option.
        "caption": ("vlm", "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"),
        "clip_caption": ("vlm", "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"),
        "tags": ("clip", "openai/clip-vit-base-patch32"),
        "dense": ("crop-caption", "Salesforce/blip-image-captioning-base"),
    },
}

PROFILE_NAMES = ("auto", "standard", "offline")

#: profile -> name -> (backend, model) run only when asked for by name (``--perceivers NAME``),
#: never by default: for a model too slow for the profile's default run. None today (I3D was,
#: until it ran on a budget of clips).
OPT_IN: dict[str, dict[str, tuple[str, str]]] = {}


def profile_entry(profile: str, name: str, by_name: bool = False) -> tuple[str, str] | None:
    """(backend, model) ``profile`` runs for perceiver ``name``; opt-in ones only when asked
    ``by_name``, as is a perceiver that no profile names (its first backend and model)."""
    entry = PROFILES[profile].get(name)
    if entry is None and by_name:
        entry = OPT_IN.get(profile, {}).get(name) or _unprofiled(name)
    return entry


def _unprofiled(name: str) -> tuple[str, str] | None:
    """(backend, model) of a perceiver no profile names: its first backend and model."""
    tables = (*PROFILES.values(), *OPT_IN.values())
    if any(name in table for table in tables) or name not in _registry():
        return None
    backend, cls = next(iter(_classes[name].items()))
    return backend, cls.models[0].name if cls.models else backend
