"""Batch instruction data: videos in, VideoChat/LLaVA-style JSONL training records out.

    >>> from vctext.instruct import generate
    >>> report = generate(["clips/"], "data.jsonl", tasks=("conversation",), llm="openai")

Each video is perceived once (through the cache); its LLM calls run on ``workers`` threads.
The output is append-only, each record fsynced, and the records already in it are skipped, so a
run killed at any moment and started again loses nothing and writes nothing twice. A state file
beside it (``OUT.state.sqlite``) keeps each item's last outcome; failures go to
``OUT.failures.jsonl`` and are tried again on the next run. One run at a time writes an output,
and only one vctext wrote (:mod:`vctext.instruct_output`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vctext import config
from vctext.document import VideoText
from vctext.errors import ConfigError, InputError
from vctext.instruct_data import (
    TASKS,
    Item,
    collect_inputs,
    cost,
    kinds_of,
    price_table,
    prompt_text,
    record_id,
)
from vctext.instruct_output import OutputLock, RecordWriter, State, sibling, state_path
from vctext.instruct_work import Outcome, perceive, produce
from vctext.llm import load_llm
from vctext.llm.base import LLM, one_line
from vctext.reason.ask import split_options

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, int]], None]


@dataclass(frozen=True)
class Failure:
    """One item that produced no record: where it stopped and why, in one line."""

    path: str
    task: str
    stage: str  # input, perception, llm, validate
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "task": self.task, "stage": self.stage, "reason": self.reason}


@dataclass
class InstructReport:
    """What a run did: counts, failures, tokens and their estimated cost."""

    output: Path
    failures_path: Path
    total: int = 0
    written: int = 0
    skipped: int = 0
    duplicates: int = 0  # records found twice in the output, dropped when it was opened
    failures: list[Failure] = field(default_factory=list)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Calls whose tokens had to be estimated (the server did not say); 0: the counts are real.
    estimated: int = 0
    model: str = ""
    cost: float | None = None

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        """True unless items failed and none succeeded (now or in an earlier run)."""
        return not self.failures or bool(self.written or self.skipped)

    def counts(self) -> dict[str, int]:
        return {
            "total": self.total,
            "done": self.written,
            "failed": self.failed,
            "skipped": self.skipped,
        }


class _Run:
    """One batch's shared end: skips, the single writer, the state file, failures, counts."""

    def __init__(
        self,
        llm: LLM,
        report: InstructReport,
        prompts: dict[str, str],
        retries: int,
        progress: Progress | None,
        writer: RecordWriter,
    ):
        self.llm, self.report, self.prompts = llm, report, prompts
        self.retries, self.progress = retries, progress
        self.lock = threading.Lock()
        self.writer = writer
        self.state = State(state_path(report.output), set(writer.ids))
        self.failures_file = open(report.failures_path, "w", encoding="utf-8")
        self.submitted: set[str] = set()

    def close(self) -> None:
        self.state.close()
        self.failures_file.close()

    def tick(self) -> None:
        if self.progress:
            self.progress(self.report.counts())

    def skip(self, n: int = 1) -> None:
        with self.lock:
            self.report.skipped += n
            self.tick()

    def fail(self, item: Item, task: str, stage: str, reason: str, key: str = "") -> None:
        failure = Failure(str(item.path), task, stage, one_line(reason, 300))
        with self.lock:
            self.report.failures.append(failure)
            self.failures_file.write(json.dumps(failure.to_json(), ensure_ascii=False) + "\n")
            self.failures_file.flush()
            if key:
                self.state.mark(key, str(item.path), task, "failed", failure.reason)
            self.tick()

    def todo(self, sha256: str, tasks: tuple[str, ...]) -> list[str]:
        """Tasks of this video not yet in the output nor already under way this run."""
        with self.lock:
            fresh = [t for t in tasks if record_id(sha256, t) not in self.writer.ids]
            fresh = [t for t in fresh if record_id(sha256, t) not in self.submitted]
            self.submitted.update(record_id(sha256, t) for t in fresh)
        return fresh

    def make(self, item: Item, sha256: str, doc: VideoText, task: str) -> None:
        """Make one task's record (local engine: on a worker thread) and take its outcome."""
        self.take(
            item, task, produce(self.llm, item, sha256, doc, task, self.prompts[task], self.retries)
        )

    def take(self, item: Item, task: str, outcome: Outcome) -> None:
        """Write a record or record a failure; only ever one writer at a time."""
        self._count(outcome)
        if outcome.record is None:
            self.fail(item, task, outcome.stage, outcome.reason, outcome.key)
            return
        with self.lock:
            self.writer.write(outcome.record)
            self.state.mark(outcome.key, str(item.path), task, "done")
            self.report.written += 1
            self.tick()

    def _count(self, outcome: Outcome) -> None:
        with self.lock:
            self.report.calls += outcome.calls
            self.report.prompt_tokens += outcome.prompt_tokens
            self.report.completion_tokens += outcome.completion_tokens
            self.report.estimated += outcome.estimated


def generate(
    inputs: list[str | os.PathLike],
    output: str | os.PathLike,
    tasks: tuple[str, ...] = TASKS,
    llm: Any = None,
    *,
    prompts: dict[str, Path] | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> InstructReport:
    """Make instruction data for a batch of videos, resuming where an earlier run stopped.

    Args:
        inputs: video files, folders of videos, CSV/JSONL manifests (a ``video`` or ``path``
            column, optionally ``caption``).
        output: the JSONL file records are appended to.
        tasks: ``description`` (two records: a detailed story and a one- or two-sentence
            ``description-brief``, each with an instruction from its own pool) and/or
            ``conversation``.
        llm: a backend name, a :class:`vctext.llm.LLM` or a LangChain chat model.
        prompts: {kind: prompt file} replacing ``prompts/instruct_<kind>.txt`` (kinds:
            ``description``, ``description-brief``, ``conversation``).
        progress: called with the counts (total, done, failed, skipped) as they change.
        **options: describe settings (profile, perceivers, ...), LLM settings (model, base_url,
            ...) and the batch's: ``workers``, ``instruct_retries``, ``llm_prices``,
            ``engine`` (local threads or ray tasks) and ``ray_address``.

    Returns:
        An :class:`InstructReport`; its ``failures`` are also in ``OUT.failures.jsonl``.
    """
    from vctext.cache import Cache

    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise InputError(f"unknown task {', '.join(unknown)}; choose from: {', '.join(TASKS)}")
    batch = {
        name: config.convert(config.SETTINGS[name], options.pop(name), f"option {name}")
        if options.get(name) is not None
        else config.effective(name)
        for name in config.group("instruct")  # the batch's settings, not one video's
    }
    options = {k: v for k, v in options.items() if k not in batch}
    if batch["workers"] < 1 or batch["instruct_retries"] < 0:
        raise InputError("workers must be at least 1 and instruct_retries at least 0")
    prices = price_table(batch["llm_prices"])
    out = Path(output).expanduser()
    if out.is_dir() or not out.parent.is_dir():
        raise InputError(f"output '{out}' must be a file in an existing folder")
    items = collect_inputs(inputs)
    kinds = kinds_of(tasks)  # the units of work, each its own record, LLM job and state row
    texts = {kind: prompt_text(kind, prompts or {}) for kind in kinds}
    describe_opts, llm_opts = split_options(options)
    if batch["engine"] == "ray" and llm is not None and not isinstance(llm, str):
        raise ConfigError("--engine ray builds the LLM on each worker: give llm as a name")
    with ExitStack() as stack:
        # One run per output, from before its file is read until after its last record (the
        # Ray engine's records too: they are written here); a file vctext did not write is
        # refused before anything is loaded.
        stack.enter_context(OutputLock(out))
        writer = RecordWriter(out)
        stack.callback(writer.close)
        model = load_llm(llm, **llm_opts)
        model.ensure_loaded()
        report = InstructReport(out, sibling(out, ".failures.jsonl"), total=len(items) * len(kinds))
        report.model, report.duplicates = model.model, writer.duplicates
        run = _Run(model, report, texts, batch["instruct_retries"], progress, writer)
        stack.callback(run.close)
        run.tick()
        hashes = Cache() if describe_opts.get("cache", True) else None
        if hashes:
            stack.callback(hashes.close)
        _run_jobs(run, _jobs(run, items, kinds, hashes), describe_opts, llm, llm_opts, batch)
        report.cost = cost(report.model, report.prompt_tokens, report.completion_tokens, prices)
    return report


def _run_jobs(run: _Run, jobs, describe_opts, llm, llm_opts, batch: dict[str, Any]) -> None:
    """The jobs on this machine's threads, or as Ray tasks; either way records come back here."""
    workers = batch["workers"] if run.llm.name == "openai" else 1  # local models: one at a time
    if batch["engine"] == "ray":
        from vctext.instruct_ray import run_ray

        address = batch["ray_address"] or os.environ.get("RAY_ADDRESS", "")
        run_ray(run, jobs, describe_opts, (llm, llm_opts), address, batch["workers"])
    else:
        _run_local(run, jobs, describe_opts, workers)


def _jobs(run: _Run, items: list[Item], tasks: tuple[str, ...], hashes: Any):
    """(item, sha256, tasks still to do) for each readable video; the rest become failures."""
    from vctext.cache import sha256_file

    for item in items:
        try:
            sha = hashes.file_sha256(item.path) if hashes else sha256_file(item.path)
        except OSError as exc:
            for task in tasks:
                run.fail(item, task, "input", f"cannot read the file: {exc.strerror or exc}")
            continue
        todo = run.todo(sha, tasks)
        if len(todo) < len(tasks):
            run.skip(len(tasks) - len(todo))
        if todo:
            yield item, sha, todo


def _run_local(run: _Run, jobs, describe_opts: dict[str, Any], workers: int) -> None:
    """Perception in this thread (once per video), LLM calls on ``workers`` threads."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vctext-instruct")
    try:
        for item, sha, todo in jobs:
            doc, problem = perceive(item, describe_opts)
            for task in todo:
                if doc is None:
                    run.fail(item, task, "perception", problem, record_id(sha, task))
                else:
                    pool.submit(run.make, item, sha, doc, task)
        pool.shutdown(wait=True)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
