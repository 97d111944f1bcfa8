"""The settings table: every setting vctext has, its default, type, range, group and help.

:mod:`vctext.config` reads values for them (flags, environment, the config file) and owns the
option dataclasses built from them; this module is only the table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


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
        Setting(
            "backend",
            "",
            "the backend (and model) a perceiver kind runs instead of the profile's, e.g. "
            "caption=openai-vision:gpt-4o-mini; repeatable (comma-separated in VCTEXT_BACKEND "
            "and the config file)",
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
        "describe",
        Setting(
            "vision_base_url",
            "",
            "OpenAI-compatible server of the openai-vision perceivers (default: the LLM's, "
            "--base-url / $OPENAI_BASE_URL, else OpenAI)",
        ),
        Setting(
            "vision_api_key",
            "",
            "API key for the openai-vision perceivers (default: the LLM's, $OPENAI_API_KEY)",
            secret=True,
        ),
        Setting(
            "vision_workers",
            4,
            "requests in flight at once to the openai-vision server",
            int,
            minimum=1,
        ),
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
