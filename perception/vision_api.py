"""Frame captions from a vision-language model behind an OpenAI-compatible API.

Each frame whose picture changed goes to the server as a base64 JPEG in a chat-completions
request (OpenAI, Ollama, vLLM, LM Studio, llama.cpp's server with an mmproj), a few requests at
once. Client, retries with backoff, timeouts and key handling are the LLM layer's
(:mod:`vctext.llm.openai_chat`); the server and key are the LLM's unless the ``vision_*``
settings set them apart. The prompt is ours (``prompts/caption_frame.txt``, or the ``prompt`` /
``prompt_file`` parameters) and part of the cache key; the reply is data, kept as one line.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from vctext.config import ApiServer
from vctext.errors import ConfigError
from vctext.llm.base import Fault, LLMOptions
from vctext.llm.openai_chat import OpenAIChat
from vctext.perception.base import STILL_DEFAULTS, ModelSpec, PerceiverOptions, StillAware
from vctext.types import Frame, Observation

DEFAULT_MODEL = "gpt-4o-mini"
PROMPT_FILE = "caption_frame.txt"

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {
    "prompt": "",  # the prompt itself; "" takes prompt_file, else prompts/caption_frame.txt
    "prompt_file": "",
    "max_tokens": 60,
    "max_side": 768,  # longest side (px) of the JPEG sent: detail enough, few image tokens
    "jpeg_quality": 85,
    **STILL_DEFAULTS,
}


def jpeg_data_url(image: np.ndarray, max_side: int, quality: int) -> str:
    """An RGB frame as a ``data:image/jpeg;base64,...`` URL, its longest side at most
    ``max_side`` pixels (0: as it is)."""
    from PIL import Image

    picture = Image.fromarray(image)
    if max_side and max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=int(quality))
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def one_line_reply(text: str) -> str:
    """The model's reply as one line of data: whitespace collapsed, never interpreted."""
    return " ".join(str(text).split())


class ImageMessage:
    """A user message of text and image parts, as chat completions take it (duck-types
    :class:`vctext.llm.Message` for the OpenAI backend's requests)."""

    role = "user"

    def __init__(self, text: str, image_url: str):
        self.content, self.image_url = text, image_url

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "content": [
                {"type": "text", "text": self.content},
                {"type": "image_url", "image_url": {"url": self.image_url}},
            ],
        }


class OpenAIVisionCaptioner(StillAware):
    """A caption per sampled frame whose picture changed, from a vision-language model on an
    OpenAI-compatible server."""

    kind = "caption"
    backend = "openai-vision"
    extra = "vision-api"
    requires = ("openai", "PIL")
    defaults = DEFAULTS
    models = (
        ModelSpec(
            DEFAULT_MODEL,
            "api:openai-compatible",
            0,
            "OpenAI terms",
            note="any vision model the server has: --backend caption=openai-vision:MODEL",
        ),
    )

    def __init__(self, options: PerceiverOptions):
        super().__init__(options)
        # Read now, before any frame is decoded: a missing file is an error up front, and the
        # text (not the file's name) goes into the cache key.
        self.prompt = self._prompt_text()

    def _prompt_text(self) -> str:
        if self.params["prompt"]:
            return str(self.params["prompt"]).strip()
        if self.params["prompt_file"]:
            path = Path(str(self.params["prompt_file"])).expanduser()
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"caption.prompt_file: cannot read '{path}': {exc.strerror or exc}"
                ) from None
            if not text:
                raise ConfigError(f"caption.prompt_file: '{path}' is empty")
            return text
        from vctext.reason.prompts import load_prompt

        return load_prompt(PROMPT_FILE)

    def cache_params(self) -> dict[str, Any]:
        params = super().cache_params()
        del params["prompt_file"]  # the text it holds counts, not where it lies
        return params | {"prompt": self.prompt}

    def load(self) -> None:
        self.require("openai")
        self.require("PIL")
        server = self.options.server or ApiServer()
        self.llm = VisionChat(
            LLMOptions(
                model=self.options.model,
                base_url=server.base_url,
                api_key=server.api_key,
                temperature=0.0,
                max_tokens=int(self.params["max_tokens"]),
                timeout=server.timeout,
                retries=server.retries,
            )
        )
        self.llm.ensure_loaded()
        self.workers = max(1, int(server.workers))

    def infer(self, frames: list[Frame]) -> list[str]:
        urls = [
            jpeg_data_url(f.image, int(self.params["max_side"]), int(self.params["jpeg_quality"]))
            for f in frames
        ]
        if len(urls) <= 1 or self.workers == 1:
            return [self._ask(url) for url in urls]
        with ThreadPoolExecutor(min(self.workers, len(urls))) as pool:
            return list(pool.map(self._ask, urls))  # in frame order, whatever finishes first

    def _ask(self, image_url: str) -> str:
        return one_line_reply(self.llm.complete([ImageMessage(self.prompt, image_url)]))

    def observe(self, frame: Frame, result: str) -> list[Observation]:
        if not result:
            return []
        return [Observation(frame.time, frame.time, "caption", self.source, result)]

    def close(self) -> None:
        self.llm = None
        super().close()


class VisionChat(OpenAIChat):
    """The OpenAI chat backend set up for image requests, with the vision server in its words."""

    name = "openai-vision"

    def load(self) -> None:
        if not self.options.api_key and not self.options.base_url:
            raise ConfigError(
                "the caption backend 'openai-vision' needs an API key: set OPENAI_API_KEY "
                "or VCTEXT_VISION_API_KEY, or pass --vision-base-url for a local server"
            )
        super().load()

    def _ask_server(self) -> None:
        """Nothing to ask: the model is always named, and a frame needs no context size."""

    def _whole(self, messages: list[Any]) -> Iterator[str]:
        # A model may have nothing to say about a picture (an empty reply): that is no caption,
        # not a failed call. A blank piece passes the LLM layer's empty-answer check and is
        # stripped by ``complete``.
        for piece in super()._whole(messages):
            yield piece or " "

    def _fault(self, exc: Exception) -> Fault:
        fault = super()._fault(exc)
        hint = _HINTS.get(fault.hint, fault.hint)
        message = fault.message.replace("the LLM server", "the vision server")
        return Fault(message, fault.retryable, fault.retry_after, hint, fault.context)


#: The LLM layer's hints, as they read for the vision server.
_HINTS = {
    "check OPENAI_API_KEY (or api_key in the config file)": (
        "check VCTEXT_VISION_API_KEY (vision_api_key in the config file) or OPENAI_API_KEY"
    ),
    "pass --model with a model the server has": (
        "pass --backend caption=openai-vision:MODEL with a model the server has"
    ),
    "check --base-url / OPENAI_BASE_URL": "check --vision-base-url, --base-url or OPENAI_BASE_URL",
}
