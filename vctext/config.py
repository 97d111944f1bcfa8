"""All defaults in one table. Precedence: CLI flag > $VCTEXT_<NAME> > user config file > default.

The user config file is TOML (``vctext config path`` prints where); unknown keys are errors.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from vctext.errors import ConfigError

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    type: type = str
    choices: tuple[str, ...] | None = None
    #: numbers: the lowest and highest valid value (None: no bound); floats must be finite
    minimum: float | None = None
    maximum: float | None = None
    #: the minimum itself is not valid (an fps of 0)
    above_minimum: bool = False

    @property
    def env(self) -> str:
        return "VCTEXT_" + self.name.upper()


_SETTINGS = [
    Setting(
        "profile",
        "auto",
        "model set: auto (standard where downloaded, else offline), standard or offline",
        choices=("auto", "standard", "offline"),
    ),
    Setting("fps", 1.0, "key frames per second", float, minimum=0, above_minimum=True),
    Setting(
        "scene_threshold",
        0.0,
        "also take a frame at each scene change scoring above this (0 to 1; 0 turns it off)",
        float,
        minimum=0,
        maximum=1,
    ),
    Setting("perceivers", "", "comma-separated perceiver kinds (default: all the profile has)"),
    Setting(
        "tune",
        "",
        "perceiver parameters as comma-separated KIND.NAME=VALUE, e.g. "
        "ocr.det_side=480,tags.min_score=0.3 (README, 'Tuning perceivers', lists them; "
        "a wrong name lists the valid ones)",
    ),
    Setting("device", "auto", "where models run", choices=("auto", "cpu", "cuda")),
    Setting("language", "", "spoken language code for speech recognition (default: detect)"),
    Setting("max_side", 1280, "longest side of decoded frames, pixels", int, minimum=0),
    Setting("batch_size", 0, "frames per model batch (0: chosen for the device)", int, minimum=0),
    Setting(
        "load_in_turn",
        "auto",
        "frame models one at a time (less memory, frames decoded once per model): auto = on "
        "for a CUDA GPU with too little free memory for all of them together",
        choices=("auto", "on", "off"),
    ),
    Setting(
        "asr_chunk_seconds",
        600.0,
        "audio is transcribed in chunks of about this length",
        float,
        minimum=0,
        above_minimum=True,
    ),
    Setting(
        "format", "text", "output format", choices=("text", "json", "md", "srt", "vtt", "html")
    ),
    Setting("template", "", "path of a Jinja2 template to render the text with"),
    Setting("cache", True, "reuse perception results for files seen before", bool),
    # -- the LLM that reasons over the text (ask, chat, describe --narrate) --
    Setting(
        "llm",
        "auto",
        "LLM backend: auto (openai when an API key or base URL is set, "
        "else local), openai or local",
        choices=("auto", "openai", "local"),
    ),
    Setting(
        "llm_model",
        "",
        "LLM model id (openai: gpt-4o-mini; local: a Hugging Face id, a "
        "model folder or a .gguf file; default: the bundled SmolLM2-135M-Instruct)",
    ),
    Setting(
        "base_url", "", "OpenAI-compatible server URL (default: $OPENAI_BASE_URL, else OpenAI)"
    ),
    Setting("api_key", "", "API key for the openai backend (default: $OPENAI_API_KEY)"),
    Setting("temperature", 0.0, "LLM sampling temperature (0: deterministic)", float, minimum=0),
    Setting("max_tokens", 512, "longest LLM answer, in tokens", int, minimum=1),
    Setting(
        "context_tokens",
        0,
        "LLM context window in tokens (0: the model's own)",
        int,
        minimum=0,
    ),
    Setting(
        "llm_timeout",
        60.0,
        "seconds to wait for the LLM server before giving up",
        float,
        minimum=0,
        above_minimum=True,
    ),
    Setting(
        "llm_retries",
        3,
        "retries after a timeout, 429 or 5xx from the LLM server",
        int,
        minimum=0,
    ),
    # -- batch instruction data (vctext instruct) --
    Setting(
        "workers", 4, "LLM calls in flight at once (instruct; local models use 1)", int, minimum=1
    ),
    Setting(
        "instruct_retries",
        2,
        "new tries when the LLM's answer is not valid data (instruct)",
        int,
        minimum=0,
    ),
    Setting(
        "llm_prices",
        "",
        "extra or changed LLM prices for the cost summary, dollars per million tokens: "
        "MODEL=INPUT/OUTPUT,... (e.g. gpt-4o-mini=0.15/0.6)",
    ),
    Setting(
        "engine",
        "local",
        "where instruct runs: local (threads) or ray (perception and LLM calls as Ray tasks)",
        choices=("local", "ray"),
    ),
    Setting(
        "ray_address",
        "",
        "Ray cluster to join with --engine ray (default: $RAY_ADDRESS, else a local Ray "
        "with --workers CPUs)",
    ),
]
#: Settings whose values are never printed (``vctext config`` shows them masked).
SECRET_SETTINGS = frozenset({"api_key"})
SETTINGS: dict[str, Setting] = {s.name: s for s in _SETTINGS}


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


_BOOLS = {"1": True, "true": True, "yes": True, "on": True}
_BOOLS |= {"0": False, "false": False, "no": False, "off": False}


def convert(setting: Setting, value: Any, origin: str) -> Any:
    """Coerce ``value`` to the setting's type, checking choices; errors name the origin."""
    try:
        if setting.type is bool and isinstance(value, str):
            value = _BOOLS[value.strip().lower()]
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


@dataclass(frozen=True)
class DescribeOptions:
    """What `describe` runs with; built by :func:`describe_options`, shared by CLI and API."""

    profile: str = "auto"
    fps: float = 1.0
    scene_threshold: float = 0.0
    perceivers: tuple[str, ...] = ()
    device: str = "auto"
    language: str | None = None
    max_side: int = 1280
    batch_size: int = 0
    load_in_turn: str = "auto"
    asr_chunk_seconds: float = 600.0
    start: float | None = None
    end: float | None = None
    cache: bool = True
    #: kind -> parameter -> value (a string from --tune, to be checked against the perceiver's
    #: defaults by :func:`perceiver_params`).
    tune: dict[str, dict[str, Any]] = field(default_factory=dict)

    def replace(self, **changes: Any) -> DescribeOptions:
        return dataclasses.replace(self, **changes)


def describe_options(
    start: float | None = None, end: float | None = None, **overrides: Any
) -> DescribeOptions:
    """Resolve settings (flags > env > file > default) into :class:`DescribeOptions`."""
    if isinstance(overrides.get("perceivers"), (list, tuple)):
        overrides["perceivers"] = ",".join(overrides["perceivers"])
    tune = overrides.pop("tune", None)  # a mapping from the Python API skips the string form
    values = resolve(**overrides)
    start, end = check_time_range(start, end)
    kinds = tuple(k.strip() for k in values["perceivers"].split(",") if k.strip())
    from vctext.perception.base import available_kinds  # light: the registry, no backends

    for kind in kinds:
        if kind not in available_kinds():
            raise ConfigError(
                f"unknown perceiver '{kind}'; choose from: {', '.join(available_kinds())}"
            )
    return DescribeOptions(
        profile=values["profile"],
        fps=values["fps"],
        scene_threshold=values["scene_threshold"],
        perceivers=kinds,
        device=values["device"],
        language=values["language"] or None,
        max_side=values["max_side"],
        batch_size=values["batch_size"],
        load_in_turn=values["load_in_turn"],
        asr_chunk_seconds=values["asr_chunk_seconds"],
        start=start,
        end=end,
        cache=values["cache"],
        tune=parse_tune(values["tune"] if tune is None else tune),
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


# -- perceiver parameters (--tune) -------------------------------------------------------------

_TUNE_KEY = re.compile(r"([a-z]+)\.([A-Za-z_]\w*)")
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
    from vctext.perception.base import available_kinds  # light: the registry, no backends

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
        if value.lower() not in _BOOLS:
            raise ConfigError(f"{label} must be true or false, got '{value}'")
        return _BOOLS[value.lower()]
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
