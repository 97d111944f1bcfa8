"""All defaults in one table. Precedence: CLI flag > $VCTEXT_<NAME> > user config file > default.

The user config file is TOML (``vctext config path`` prints where); unknown keys are errors.
Each setting belongs to one group (describe, render, llm, instruct): the commands, the Python API
and the option dataclasses take their settings, and their defaults, from here.
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
from vctext.tune import BOOL_WORDS, parse_tune

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
    #: a shorter name the Python API and the command line take too (``model``, ``--model``)
    alias: str = ""
    #: never printed (``vctext config`` masks it) and never a command-line flag (``ps`` shows those)
    secret: bool = False
    #: what it configures, one of :data:`GROUPS`; set by the table's sections (see :func:`group`)
    group: str = ""

    @property
    def env(self) -> str:
        return "VCTEXT_" + self.name.upper()


#: describe: perception; render: the output; llm: the LLM that reasons over the text (ask, chat,
#: describe --narrate, instruct); instruct: the batch of instruction data.
GROUPS = ("describe", "render", "llm", "instruct")


def _section(group: str, *settings: Setting) -> list[Setting]:
    assert group in GROUPS, group
    return [dataclasses.replace(s, group=group) for s in settings]


_SETTINGS = [
    *_section(
        "describe",
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
        Setting(
            "batch_size", 0, "frames per model batch (0: chosen for the device)", int, minimum=0
        ),
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
    ),
    *_section(
        "render",
        Setting(
            "format", "text", "output format", choices=("text", "json", "md", "srt", "vtt", "html")
        ),
        Setting("template", "", "path of a Jinja2 template to render the text with"),
    ),
    # Listed in this order since the start (`vctext config`, the config file's valid keys).
    *_section(
        "describe", Setting("cache", True, "reuse perception results for files seen before", bool)
    ),
    *_section(
        "llm",
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
            alias="model",
        ),
        Setting(
            "base_url", "", "OpenAI-compatible server URL (default: $OPENAI_BASE_URL, else OpenAI)"
        ),
        Setting(
            "api_key", "", "API key for the openai backend (default: $OPENAI_API_KEY)", secret=True
        ),
        Setting(
            "temperature", 0.0, "LLM sampling temperature (0: deterministic)", float, minimum=0
        ),
        Setting("max_tokens", 512, "longest LLM answer, in tokens", int, minimum=1),
        Setting(
            "context_tokens", 0, "LLM context window in tokens (0: the model's own)", int, minimum=0
        ),
        Setting(
            "llm_timeout",
            60.0,
            "seconds to wait for the LLM server before giving up",
            float,
            minimum=0,
            above_minimum=True,
            alias="timeout",
        ),
        Setting(
            "llm_retries",
            3,
            "retries after a timeout, 429 or 5xx from the LLM server",
            int,
            minimum=0,
            alias="retries",
        ),
    ),
    *_section(
        "instruct",
        Setting(
            "workers",
            4,
            "LLM calls in flight at once (instruct; local models use 1)",
            int,
            minimum=1,
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
    ),
]
SETTINGS: dict[str, Setting] = {s.name: s for s in _SETTINGS}
#: Settings whose values are never printed (``vctext config`` shows them masked).
SECRET_SETTINGS = frozenset(s.name for s in _SETTINGS if s.secret)


def default(name: str) -> Any:
    """The built-in default of setting ``name`` (what option classes and functions default to)."""
    return SETTINGS[name].default


def group(name: str) -> tuple[str, ...]:
    """The names of the settings in group ``name`` (describe, render, llm, instruct), in order."""
    if name not in GROUPS:
        raise ValueError(f"unknown setting group {name!r}; choose from: {', '.join(GROUPS)}")
    return tuple(s.name for s in _SETTINGS if s.group == name)


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
    kinds = _kinds(values["perceivers"])
    from vctext.perception.registry import available_kinds  # light: no model library imported

    for kind in kinds:
        if kind not in available_kinds():
            raise ConfigError(
                f"unknown perceiver '{kind}'; choose from: {', '.join(available_kinds())}"
            )
    fields = {name: values[name] for name in group("describe")}
    fields |= {
        "perceivers": kinds,
        "language": values["language"] or None,
        "tune": parse_tune(values["tune"] if tune is None else tune),
    }
    return DescribeOptions(**fields, start=start, end=end)


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
