"""One exception hierarchy; every message says what went wrong and what to do about it."""

from __future__ import annotations

#: Exit status when output was written but is incomplete: a batch where some inputs failed, or a
#: file whose media could only be read in part (the output says which range it covers).
PARTIAL_EXIT = 4


class VctextError(Exception):
    """Base class for every error vctext raises on purpose."""

    exit_code = 1


class InputError(VctextError):
    """The user's input (a path, a file, an option) cannot be used."""

    exit_code = 2


class ConfigError(VctextError):
    """A configuration value or file is invalid."""

    exit_code = 2


class DependencyError(VctextError):
    """An optional dependency is missing; the message names the extra to install."""

    exit_code = 3

    def __init__(self, what: str, extra: str, module: str | None = None):
        self.extra = extra
        self.module = module
        hint = f'pip install "vctext[{extra}]"'
        super().__init__(f"{what} needs the '{extra}' extra: {hint}")


class FFmpegError(VctextError):
    """ffmpeg failed; the message keeps the useful tail of its stderr."""

    def __init__(self, message: str, stderr: str = ""):
        self.stderr = stderr
        tail = _last_meaningful_line(stderr)
        super().__init__(f"{message}: {tail}" if tail else message)


class ModelError(VctextError):
    """A model could not be found, loaded or run."""


class LLMError(VctextError):
    """The LLM could not be reached or gave no usable answer (keys are scrubbed from the text)."""


def _last_meaningful_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        if not line.startswith(("[", "Press", "Stream mapping")) or "error" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else ""
