"""One item of an instruct batch, the same on a local thread or a Ray worker: a video's text, and
one task's record made from it by the LLM, checked and asked again while it is invalid."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from vctext.api import describe
from vctext.document import VideoText
from vctext.errors import LLMError, VctextError
from vctext.instruct_data import (
    PARSERS,
    InvalidOutput,
    Item,
    make_record,
    record_id,
    task_messages,
    validate_record,
)
from vctext.llm.base import LLM, Usage
from vctext.reason.fit import evidence_budget, fit, summarizer

log = logging.getLogger(__name__)


def perceive(item: Item, describe_opts: dict[str, Any]) -> tuple[VideoText | None, str]:
    """The video's text, or None and why perception failed (one bad file never ends a batch)."""
    try:
        return describe(item.path, **describe_opts), ""
    except VctextError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001
        log.debug("perception of %s failed", item.path, exc_info=True)
        return None, f"unexpected {type(exc).__name__}: {exc}"


@dataclass
class Outcome:
    """What one (video, task) came to: a valid record, or the stage and reason it failed."""

    key: str
    record: dict[str, Any] | None = None
    stage: str = ""
    reason: str = ""
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Calls whose tokens had to be estimated (the server did not say).
    estimated: int = 0


def call_usage(llm: LLM, messages: list, reply: str) -> Usage:
    """The tokens of ``llm``'s last call: as the backend counted them, else estimated."""
    usage = getattr(llm, "last_usage", None)
    if usage is None:
        return Usage(llm.count_messages(messages), llm.count_tokens(reply), estimated=True)
    return usage


def produce(
    llm: LLM, item: Item, sha256: str, doc: VideoText, task: str, prompt: str, retries: int
) -> Outcome:
    """Ask ``llm`` for one task's data, check it, and ask again while it is invalid."""
    out = Outcome(record_id(sha256, task))
    try:
        budget = evidence_budget(llm, prompt + item.caption)
        fitted = fit(doc, budget, llm.count_tokens, summarize=summarizer(llm))
        messages = task_messages(task, prompt, fitted.text, item.caption)
        parse = PARSERS[task]
        problem = ""
        for attempt in range(retries + 1):
            reply = llm.complete(messages)
            out.calls += 1
            usage = call_usage(llm, messages, reply)
            out.prompt_tokens += usage.prompt_tokens
            out.completion_tokens += usage.completion_tokens
            out.estimated += usage.estimated
            try:
                record = make_record(task, item, sha256, parse(reply), llm.model)
                validate_record(record)
            except InvalidOutput as exc:
                problem = str(exc)
                log.info("%s %s: %s (try %d)", item.path.name, task, problem, attempt + 1)
                continue
            out.record = record
            return out
        out.stage, out.reason = "validate", f"{problem} (after {retries + 1} tries)"
    except LLMError as exc:
        out.stage, out.reason = "llm", str(exc)
    except Exception as exc:  # noqa: BLE001 - one item's trouble must not end the batch
        log.debug("%s %s failed", item.path, task, exc_info=True)
        out.stage, out.reason = "llm", f"unexpected {type(exc).__name__}: {exc}"
    return out
