"""What the perceivers that prompt a vision-language model share: their prompt.

The prompt is ours, a file under ``prompts/`` named by the perceiver; a user replaces it with
the ``prompt`` parameter (the text) or ``prompt_file`` (a file holding it), e.g.
``--prompt caption=@mine.txt``. It is read when the perceiver is built, before any frame is
decoded, so a missing file is an error up front, and the text itself (not where it lies) is part
of the cache key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from vctext.errors import ConfigError
from vctext.perception.base import PerceiverOptions

#: The parameters of every prompted perceiver (added to its own defaults).
PROMPT_DEFAULTS: dict[str, Any] = {
    "prompt": "",  # the prompt itself; "" takes prompt_file, else the perceiver's prompt file
    "prompt_file": "",
}


def one_line_reply(text: str) -> str:
    """A model's reply as one line of data: whitespace collapsed, never interpreted."""
    return " ".join(str(text).split())


class Prompted:
    """Mixin for a perceiver that prompts a model: put it before the modality class.

    Sets ``self.prompt`` from the parameters, else from ``prompts/<prompt_name>``.
    """

    #: Our prompt's file under ``prompts/``.
    prompt_name: ClassVar[str]
    name: ClassVar[str]
    params: dict[str, Any]

    def __init__(self, options: PerceiverOptions):
        super().__init__(options)  # type: ignore[call-arg]
        self.prompt = self._prompt_text()

    def _prompt_text(self) -> str:
        given, file = str(self.params["prompt"]).strip(), str(self.params["prompt_file"])
        if given:
            return given
        if file:
            path = Path(file).expanduser()
            try:
                text = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                why = getattr(exc, "strerror", None) or exc
                raise ConfigError(f"{self.name}.prompt_file: cannot read '{path}': {why}") from None
            if not text:
                raise ConfigError(f"{self.name}.prompt_file: '{path}' is empty")
            return text
        from vctext.reason.prompts import load_prompt

        return load_prompt(self.prompt_name)

    def cache_params(self) -> dict[str, Any]:
        params = super().cache_params()  # type: ignore[misc]
        del params["prompt_file"]  # the text it holds counts, not where it lies
        return params | {"prompt": self.prompt}
