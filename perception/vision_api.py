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
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from vctext.config import ApiServer
from vctext.errors import ConfigError
from vctext.llm.base import Fault, LLMOptions
from vctext.llm.openai_chat import OpenAIChat
from vctext.perception.base import (
    STILL_DEFAULTS,
    Clip,
    ClipPerceiver,
    ClipSpec,
    ModelSpec,
    PerceiverOptions,
    StillAware,
)
from vctext.perception.clip_caption import (
    CLIP_DEFAULTS,
    CLIP_PROMPT_FILE,
    clip_images,
    clip_prompt,
    clip_spec,
)
from vctext.perception.prompted import PROMPT_DEFAULTS, Prompted, one_line_reply
from vctext.types import Frame, Observation

DEFAULT_MODEL = "gpt-4o-mini"
PROMPT_FILE = "caption_frame.txt"

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {
    **PROMPT_DEFAULTS,
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


class ImageMessage:
    """A user message of text and image parts, as chat completions take it (duck-types
    :class:`vctext.llm.Message` for the OpenAI backend's requests)."""

    role = "user"

    def __init__(self, text: str, image_urls: list[str]):
        self.content, self.image_urls = text, image_urls

    def to_json(self) -> dict[str, Any]:
        images = [{"type": "image_url", "image_url": {"url": url}} for url in self.image_urls]
        return {"role": self.role, "content": [{"type": "text", "text": self.content}, *images]}


class VisionCalls:
    """Requests a vision backend made and the tokens they used, as the server reported them
    (estimated where it did not); safe to count from several threads."""

    #: Prompt tokens an image is estimated at when the server does not say (a 512-pixel tile and
    #: its base cost at OpenAI's "high" detail).
    IMAGE_TOKENS = 255

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = self.prompt_tokens = self.completion_tokens = self.estimated = 0

    def add(self, prompt: int, completion: int, estimated: bool) -> None:
        with self.lock:
            self.requests += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.estimated += estimated

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "estimated": self.estimated > 0,
        }


class VisionApi(Prompted):
    """What the perceivers on an OpenAI-compatible vision server share: the client, a request
    per set of pictures (several in flight), and the usage. Put it before the modality class."""

    extra = "vision-api"
    requires = ("openai", "PIL")

    def __init__(self, options: PerceiverOptions):
        super().__init__(options)
        self.calls = VisionCalls()

    def load(self) -> None:
        self.require("openai")  # type: ignore[attr-defined]
        self.require("PIL")  # type: ignore[attr-defined]
        server = self.options.server or ApiServer()  # type: ignore[attr-defined]
        self.llm = VisionChat(
            LLMOptions(
                model=self.options.model,  # type: ignore[attr-defined]
                base_url=server.base_url,
                api_key=server.api_key,
                temperature=0.0,
                max_tokens=int(self.params["max_tokens"]),
                timeout=server.timeout,
                retries=server.retries,
            ),
            self.name,
        )
        self.llm.ensure_loaded()
        self.workers = max(1, int(server.workers))

    def ask_all(self, requests: list[tuple[str, list[np.ndarray]]]) -> list[str]:
        """The reply to each (prompt, pictures), in order, up to ``workers`` requests at once."""
        if len(requests) <= 1 or self.workers == 1:
            return [self._ask(request) for request in requests]
        with ThreadPoolExecutor(min(self.workers, len(requests))) as pool:
            return list(pool.map(self._ask, requests))  # in order, whatever finishes first

    def _ask(self, request: tuple[str, list[np.ndarray]]) -> str:
        text, images = request
        side, quality = int(self.params["max_side"]), int(self.params["jpeg_quality"])
        urls = [jpeg_data_url(image, side, quality) for image in images]
        reply = one_line_reply(self.llm.complete([ImageMessage(text, urls)]))
        usage = self.llm.last_usage  # this thread's call
        if usage is not None:
            # An estimate counts the text only: add what an image takes.
            images = len(urls) * VisionCalls.IMAGE_TOKENS if usage.estimated else 0
            self.calls.add(usage.prompt_tokens + images, usage.completion_tokens, usage.estimated)
        return reply

    def usage(self) -> dict[str, Any] | None:
        return self.calls.to_json() if self.calls.requests else None

    def close(self) -> None:
        self.llm = None
        super().close()  # type: ignore[misc]


class OpenAIVisionCaptioner(VisionApi, StillAware):
    """A caption per sampled frame whose picture changed, from a vision-language model on an
    OpenAI-compatible server."""

    kind = "caption"
    backend = "openai-vision"
    defaults = DEFAULTS
    prompt_name = PROMPT_FILE
    models = (
        ModelSpec(
            DEFAULT_MODEL,
            "api:openai-compatible",
            0,
            "OpenAI terms",
            note="any vision model the server has: --backend caption=openai-vision:MODEL",
        ),
    )

    def infer(self, frames: list[Frame]) -> list[str]:
        return self.ask_all([(self.prompt, [f.image]) for f in frames])

    def observe(self, frame: Frame, result: str) -> list[Observation]:
        if not result:
            return []
        return [Observation(frame.time, frame.time, "caption", self.source, result)]


class OpenAIVisionClipCaptioner(VisionApi, ClipPerceiver):
    """A description of each scene (or window of a long one) from several of its frames in one
    request, by a vision-language model on an OpenAI-compatible server."""

    kind = "clip_caption"
    backend = "openai-vision"
    defaults = {**CLIP_DEFAULTS, "max_tokens": 120, "max_side": 512, "jpeg_quality": 85}
    prompt_name = CLIP_PROMPT_FILE
    models = (
        ModelSpec(
            DEFAULT_MODEL,
            "api:openai-compatible",
            0,
            "OpenAI terms",
            note="any vision model the server has: --backend clip_caption=openai-vision:MODEL",
        ),
    )

    def clip_spec(self) -> ClipSpec:
        return clip_spec(self.params)

    def process(self, batch: list[Clip]) -> list[Observation]:
        replies = self.ask_all(
            [(clip_prompt(self.prompt, clip), clip_images(clip)) for clip in batch]
        )
        return [
            Observation(clip.start, clip.end, "clip_caption", self.source, text)
            for clip, text in zip(batch, replies, strict=True)
            if text
        ]


class VisionChat(OpenAIChat):
    """The OpenAI chat backend set up for image requests, with the vision server in its words."""

    name = "openai-vision"

    def __init__(self, options: LLMOptions, kind: str = "caption"):
        super().__init__(options)
        self.kind = kind

    def load(self) -> None:
        if not self.options.api_key and not self.options.base_url:
            raise ConfigError(
                f"the {self.kind} backend 'openai-vision' needs an API key: set OPENAI_API_KEY "
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
