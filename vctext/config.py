"""Setting values. Precedence: CLI flag > $VCTEXT_<NAME> > user config file > default.

All defaults are in one table (:mod:`vctext.settings`, re-exported here). The user config file
is TOML (``vctext config path`` prints where); unknown keys are errors. Each setting belongs to
one group (describe, render, llm, instruct): the commands, the Python API and the option
dataclasses take their settings, and their defaults, from here.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from vctext.errors import ConfigError
from vctext.settings import GROUPS, SECRET_SETTINGS, SETTINGS, Setting  # noqa: F401 (the API)
from vctext.tune import BOOL_WORDS, parse_tune

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def default(name: str) -> Any:
    """The built-in default of setting ``name`` (what option classes and functions default to)."""
    return SETTINGS[name].default


def group(name: str) -> tuple[str, ...]:
    """The names of the settings in group ``name`` (describe, render, llm, instruct), in order."""
    if name not in GROUPS:
        raise ValueError(f"unknown setting group {name!r}; choose from: {', '.join(GROUPS)}")
    return tuple(s.name for s in SETTINGS.values() if s.group == name)


def aliases(names: tuple[str, ...]) -> dict[str, str]:
    """alias -> name for those of ``names`` that have a shorter alias (``model`` -> llm_model)."""
    return {SETTINGS[n].alias: n for n in names if SETTINGS[n].alias}


def config_path() -> Path:
    """$VCTEXT_CONFIG, else config.toml in the user config dir."""
    configured = os.environ.get("VCTEXT_CONFIG")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("vctext")) / "config.toml"


@lru_cache(maxsize=4)
def _read_file(path: Path, mtime: float) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    data = {k.replace("-", "_"): v for k, v in data.get("vctext", data).items()}
    unknown = sorted(set(data) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"unknown key(s) in {path}: {', '.join(unknown)}; valid keys: {', '.join(SETTINGS)}"
        )
    return data


def file_values() -> dict[str, Any]:
    path = config_path()
    if not path.is_file():
        return {}
    return _read_file(path, path.stat().st_mtime)


def convert(setting: Setting, value: Any, origin: str) -> Any:
    """Coerce ``value`` to the setting's type, checking choices; errors name the origin."""
    try:
        if setting.type is bool and isinstance(value, str):
            value = BOOL_WORDS[value.strip().lower()]
        else:
            value = setting.type(value)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"{origin}: '{value}' is not a valid {setting.type.__name__} for {setting.name}"
        ) from exc
    if setting.choices and value not in setting.choices:
        raise ConfigError(
            f"{origin}: '{value}' is not a valid {setting.name}; "
            f"choose from: {', '.join(setting.choices)}"
        )
    if setting.type in (int, float):
        _check_range(setting, value, origin)
    return value


def _check_range(setting: Setting, value: float, origin: str) -> None:
    """Numbers out of range (or nan/inf) are errors here, not surprises minutes later."""
    low, high = setting.minimum, setting.maximum
    valid = math.isfinite(value)
    if valid and low is not None:
        valid = value > low if setting.above_minimum else value >= low
    if valid and high is not None:
        valid = value <= high
    if valid:
        return
    if low is not None and high is not None:
        rule = f"from {low:g} to {high:g}"
    elif low is not None:
        rule = f"above {low:g}" if setting.above_minimum else f"{low:g} or more"
    else:
        rule = "a finite number"
    where = "" if origin == f"option {setting.name}" else f"{origin}: "
    raise ConfigError(f"{where}{setting.name} must be {rule}, got {value:g}")


def effective(name: str) -> Any:
    """The value in force when no CLI flag is given: environment, then file, then default."""
    setting = SETTINGS[name]
    if setting.env in os.environ:
        return convert(setting, os.environ[setting.env], setting.env)
    values = file_values()
    if name in values:
        return convert(setting, values[name], str(config_path()))
    return setting.default


def resolve(**overrides: Any) -> dict[str, Any]:
    """Every setting's value, with ``overrides`` (from flags or API arguments) on top."""
    unknown = sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(unknown)}")
    values = {}
    for name, setting in SETTINGS.items():
        if overrides.get(name) is not None:
            values[name] = convert(setting, overrides[name], f"option {name}")
        else:
            values[name] = effective(name)
    return values


def _kinds(perceivers: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in perceivers.split(",") if k.strip())


#: LLM settings the openai-vision perceivers fall back on (server, key, patience): commands and
#: functions that take both pass these to describe as well.
VISION_FALLBACK = ("base_url", "api_key", "llm_timeout", "llm_retries")


@dataclass(frozen=True)
class ApiServer:
    """Where an API perceiver backend (``openai-vision``) sends its requests, and how patiently.

    Not part of any cache key: the backend and model are, the server and key are not.
    """

    base_url: str = ""
    api_key: str = field(default="", repr=False)
    timeout: float = default("llm_timeout")
    retries: int = default("llm_retries")
    workers: int = default("vision_workers")


@dataclass(frozen=True)
class DescribeOptions:
    """What `describe` runs with: a field per ``describe`` setting, defaulting to the table's
    default, and the time range. Built by :func:`describe_options`, shared by CLI and API."""

    profile: str = default("profile")
    fps: float = default("fps")
    scene_threshold: float = default("scene_threshold")
    perceivers: tuple[str, ...] = _kinds(default("perceivers"))
    device: str = default("device")
    language: str | None = default("language") or None
    max_side: int = default("max_side")
    batch_size: int = default("batch_size")
    load_in_turn: str = default("load_in_turn")
    asr_chunk_seconds: float = default("asr_chunk_seconds")
    start: float | None = None
    end: float | None = None
    cache: bool = default("cache")
    #: kind -> parameter -> value (a string from --tune, to be checked against the perceiver's
    #: defaults by :func:`vctext.tune.perceiver_params`).
    tune: dict[str, dict[str, Any]] = field(default_factory=lambda: parse_tune(default("tune")))
    #: kind -> (backend, model) chosen with --backend over the profile's ("" model: the
    #: backend's default), checked against the registry by :func:`vctext.plan.parse_backends`.
    backend: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: The server of the openai-vision perceivers (the LLM's unless set apart).
    vision: ApiServer = field(default_factory=ApiServer)

    def replace(self, **changes: Any) -> DescribeOptions:
        return dataclasses.replace(self, **changes)


def describe_options(
    start: float | None = None, end: float | None = None, **overrides: Any
) -> DescribeOptions:
    """Resolve settings (flags > env > file > default) into :class:`DescribeOptions`."""
    if isinstance(overrides.get("perceivers"), (list, tuple)):
        overrides["perceivers"] = ",".join(overrides["perceivers"])
    tune = overrides.pop("tune", None)  # a mapping from the Python API skips the string form
    backend = overrides.pop("backend", None)  # also a mapping or a list from the Python API
    values = resolve(**overrides)
    start, end = check_time_range(start, end)
    kinds = _kinds(values["perceivers"])
    from vctext.perception.registry import available_kinds  # light: no model library imported

    for kind in kinds:
        if kind not in available_kinds():
            raise ConfigError(
                f"unknown perceiver '{kind}'; choose from: {', '.join(available_kinds())}"
            )
    from vctext.plan import parse_backends  # light, as above

    fields = {name: values[name] for name in group("describe") if not name.startswith("vision_")}
    fields |= {
        "perceivers": kinds,
        "language": values["language"] or None,
        "tune": parse_tune(values["tune"] if tune is None else tune),
        "backend": parse_backends(values["backend"] if backend is None else backend),
        "vision": _vision_server(values, overrides),
    }
    return DescribeOptions(**fields, start=start, end=end)


def _vision_server(values: dict[str, Any], overrides: dict[str, Any]) -> ApiServer:
    """The openai-vision server: its own settings, else the LLM's (as the LLM layer reads them)."""
    from vctext.llm import llm_setting  # light: no client imported

    return ApiServer(
        base_url=values["vision_base_url"] or llm_setting("base_url", overrides),
        api_key=values["vision_api_key"] or llm_setting("api_key", overrides),
        timeout=values["llm_timeout"],
        retries=values["llm_retries"],
        workers=values["vision_workers"],
    )


def check_time_range(start: Any, end: Any) -> tuple[float | None, float | None]:
    """``--start``/``--end`` as seconds, checked before any work (the file's length comes later)."""
    seconds = []
    for flag, value in (("--start", start), ("--end", end)):
        try:
            value = None if value is None else float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{flag} must be a number of seconds, got {value!r}") from None
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{flag} must be a number of seconds, got {value}")
        seconds.append(value)
    s, e = seconds
    if (s is not None and s < 0) or (e is not None and e <= (s or 0.0)):
        raise ConfigError(
            f"bad time range --start {s or 0:g} --end {'(the end)' if e is None else f'{e:g}'}: "
            "need 0 <= start < end"
        )
    return s, e
