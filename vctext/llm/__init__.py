"""LLM backends behind one small interface, chosen by name and imported only when chosen.

- ``openai``: OpenAI or any OpenAI-compatible server (``--base-url`` / ``OPENAI_BASE_URL``).
- ``local``: a transformers model on this machine; by default the bundled SmolLM2-135M GGUF.
- ``langchain``: any LangChain chat model object (Python API only).

``auto`` (the default) picks ``openai`` when an API key or a base URL is set, else ``local``.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from vctext import config
from vctext.errors import ConfigError
from vctext.llm.base import (
    LLM,
    ContextLengthError,
    LLMOptions,
    Message,
    estimate_tokens,
    scrub,
)

__all__ = [
    "LLM",
    "ContextLengthError",
    "LLMOptions",
    "Message",
    "BACKENDS",
    "load_llm",
    "llm_options",
    "scrub",
    "estimate_tokens",
]

BACKENDS = {
    "openai": "vctext.llm.openai_chat:OpenAIChat",
    "local": "vctext.llm.local:LocalChat",
    "langchain": "vctext.llm.langchain_chat:LangChainChat",
}

#: Settings that fall back to the OpenAI client's own environment variables.
_ENV_ALIASES = {"api_key": "OPENAI_API_KEY", "base_url": "OPENAI_BASE_URL"}


def llm_setting(name: str, overrides: dict[str, Any]) -> Any:
    """flag/argument > $VCTEXT_<NAME> > alias ($OPENAI_...) > config file > default."""
    setting = config.SETTINGS[name]
    if overrides.get(name) not in (None, ""):
        return config.convert(setting, overrides[name], f"option {name}")
    alias = _ENV_ALIASES.get(name)
    if setting.env not in os.environ and alias and os.environ.get(alias):
        return config.convert(setting, os.environ[alias], alias)
    return config.effective(name)


def llm_options(**overrides: Any) -> tuple[str, LLMOptions]:
    """The backend name and its options, resolved from flags/arguments and the settings table."""
    names = config.group("llm")
    for alias, name in config.aliases(names).items():  # model for llm_model, as on the CLI
        if alias in overrides:
            overrides[name] = overrides.pop(alias)
    unknown = sorted(set(overrides) - set(names) - {"device"})
    if unknown:
        raise ConfigError(f"unknown LLM option(s): {', '.join(unknown)}; valid: {', '.join(names)}")
    values = {name: llm_setting(name, overrides) for name in names}
    if values["max_tokens"] <= 0:
        raise ConfigError(f"max_tokens must be positive, got {values['max_tokens']}")
    if values["context_tokens"] < 0 or values["llm_retries"] < 0 or values["llm_timeout"] <= 0:
        raise ConfigError("context_tokens and llm_retries must be >= 0 and llm_timeout > 0")
    name = values["llm"]
    if name == "auto":
        name = "openai" if values["api_key"] or values["base_url"] else "local"
    options = LLMOptions(
        model=values["llm_model"],
        base_url=values["base_url"],
        api_key=values["api_key"],
        temperature=values["temperature"],
        max_tokens=values["max_tokens"],
        context_tokens=values["context_tokens"],
        timeout=values["llm_timeout"],
        retries=values["llm_retries"],
        device=overrides.get("device") or llm_setting("device", {}),
    )
    return name, options


def load_llm(llm: Any = None, **overrides: Any) -> LLM:
    """An :class:`LLM`: pass one through, wrap a LangChain chat model, or build one by name.

    Args:
        llm: None (the ``llm`` setting, default auto), a backend name (``"openai"``,
            ``"local"``), an :class:`LLM`, or a LangChain ``BaseChatModel``.
        **overrides: LLM settings (``model``, ``base_url``, ``temperature``, ``max_tokens``,
            ``context_tokens``, ``timeout``, ``retries``, ...).
    """
    if isinstance(llm, LLM):
        return llm
    if llm is not None and not isinstance(llm, str):
        from vctext.llm.langchain_chat import LangChainChat, is_langchain_chat_model

        if is_langchain_chat_model(llm):
            _, options = llm_options(**{**overrides, "llm": "openai"})
            return LangChainChat(llm, options)
        raise ConfigError(
            f"llm must be a backend name, a vctext LLM or a LangChain chat model, "
            f"not {type(llm).__name__}"
        )
    if llm is not None:
        overrides["llm"] = llm
    if overrides.get("llm") == "langchain":
        raise ConfigError(
            "the langchain backend takes a chat model object: "
            "vctext.ask(video, question, llm=ChatOpenAI(...))"
        )
    name, options = llm_options(**overrides)
    if name not in BACKENDS:
        raise ConfigError(f"unknown LLM backend '{name}'; choose from: openai, local")
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)(options)
