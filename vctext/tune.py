"""Perceiver parameters (``--tune KIND.NAME=VALUE``): parsed and their kinds checked up front,
then checked against the perceiver that runs and typed like its defaults.

``vctext.config`` reads the ``tune`` setting with :func:`parse_tune`; the pipeline checks each
perceiver's share with :func:`perceiver_params`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from vctext.errors import ConfigError

#: The words a true/false value may be written as (any case), in settings and parameters alike.
BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True}
BOOL_WORDS |= {"0": False, "false": False, "no": False, "off": False}

_TUNE_KEY = re.compile(r"([a-z][a-z_]*)\.([A-Za-z_]\w*)")
_TUNE_FORM = "KIND.NAME=VALUE, comma-separated (e.g. ocr.det_side=480,tags.min_score=0.3)"


def parse_tune(value: str | Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``"ocr.det_side=480,tags.min_score=0.3"`` → ``{"ocr": {"det_side": "480"}, ...}``.

    A mapping (Python API) may be nested (``{"ocr": {"det_side": 480}}``) or flat
    (``{"ocr.det_side": 480}``); its values are kept as given. Kinds are checked here, names and
    values against the perceiver that runs (:func:`perceiver_params`).
    """
    if isinstance(value, Mapping):
        pairs: list[tuple[str, ...]] = []
        for key, item in value.items():
            if isinstance(item, Mapping):
                pairs += [(f"{key}.{name}", v) for name, v in item.items()]
            else:
                pairs.append((str(key), item))
    elif isinstance(value, str):
        # A second "=" is taken for a missing comma, not for part of a value.
        pairs = [tuple(p.strip().split("=")) for p in value.split(",") if p.strip()]
    else:
        raise ConfigError(f"--tune must be a string of {_TUNE_FORM}, got {value!r}")
    if not pairs:
        return {}
    from vctext.perception.registry import available_kinds  # light: no model library imported

    tune: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        match = _TUNE_KEY.fullmatch(pair[0].strip()) if len(pair) == 2 else None
        if match is None:
            raise ConfigError(f"--tune: '{'='.join(map(str, pair))}' is not {_TUNE_FORM}")
        kind, name = match.groups()
        if kind not in available_kinds():
            raise ConfigError(
                f"--tune: unknown perceiver '{kind}' in '{pair[0]}'; "
                f"choose from: {', '.join(available_kinds())}"
            )
        if name in tune.get(kind, {}):
            raise ConfigError(f"--tune: {kind}.{name} is given twice")
        raw = pair[1].strip() if isinstance(pair[1], str) else pair[1]
        tune.setdefault(kind, {})[name] = raw
    return tune


def check_tune_kinds(tune: Mapping[str, Mapping[str, Any]], planned: list[str]) -> None:
    """Parameters for a perceiver the run does not have are a mistake, not something to skip."""
    stray = sorted(set(tune) - set(planned))
    if stray:
        kind = stray[0]
        raise ConfigError(
            f"--tune sets {kind}.{next(iter(tune[kind]))}, but {kind} is not among this run's "
            f"perceivers ({', '.join(planned)}); add it to --perceivers"
        )


def perceiver_params(
    kind: str, backend: str, defaults: Mapping[str, Any], given: Mapping[str, Any]
) -> dict[str, Any]:
    """The user's parameters for one perceiver, checked against its defaults and typed like them."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        takes = ", ".join(defaults) or "no parameters"
        raise ConfigError(
            f"unknown parameter '{kind}.{unknown[0]}'; {kind} ({backend}) takes: {takes}"
        )
    return {name: _param_value(f"{kind}.{name}", defaults[name], v) for name, v in given.items()}


def _param_value(label: str, default: Any, value: Any) -> Any:
    """A string from --tune as the default's type; other values (Python API) are kept."""
    if not isinstance(value, str):
        return value
    if isinstance(default, bool):
        if value.lower() not in BOOL_WORDS:
            raise ConfigError(f"{label} must be true or false, got '{value}'")
        return BOOL_WORDS[value.lower()]
    if isinstance(default, int | float):
        cast, word = (int, "an integer") if isinstance(default, int) else (float, "a number")
        try:
            return cast(value)
        except ValueError:
            raise ConfigError(f"{label} must be {word}, got '{value}'") from None
    if isinstance(default, list | tuple | dict):
        raise ConfigError(
            f"{label} takes a {type(default).__name__}, which --tune cannot give; "
            f"pass it from Python: vctext.describe(..., tune={{'{label}': ...}})"
        )
    if default is None:  # unset by default: "none" keeps it unset, numbers are numbers
        if value.lower() in ("", "none"):
            return None
        try:
            return float(value)
        except ValueError:
            return value
    return value
