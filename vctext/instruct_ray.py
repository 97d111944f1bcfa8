"""``vctext instruct --engine ray``: perception and LLM calls as Ray tasks, one writer here.

Each video is perceived by one task; its LLM tasks take that task's result by reference, so a
video is perceived once wherever it runs. Outcomes stream back as they finish and go through
the same writer, state file and failure list as the local engine.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from vctext.errors import DependencyError
from vctext.instruct_data import Item, record_id
from vctext.instruct_work import Outcome, perceive, produce
from vctext.llm import load_llm
from vctext.llm.base import LLM

#: LLMs built on a Ray worker, by their settings: a worker process builds each one once.
_LLMS: dict[str, LLM] = {}


def _make(perceived, item: Item, sha256: str, task: str, prompt: str, retries: int, spec):
    """One task's record on a Ray worker, with the worker's own LLM of these settings."""
    doc, problem = perceived
    if doc is None:
        return Outcome(record_id(sha256, task), stage="perception", reason=problem)
    llm, options = spec
    key = repr((llm, sorted(options.items())))
    if key not in _LLMS:
        _LLMS[key] = load_llm(llm, **options)
    return produce(_LLMS[key], item, sha256, doc, task, prompt, retries)


def run_ray(run, jobs, describe_opts: dict[str, Any], spec, address: str, cpus: int) -> None:
    """Run the batch's jobs on Ray: ``address`` joins a cluster, else a local one of ``cpus``."""
    if importlib.util.find_spec("ray") is None:
        raise DependencyError("--engine ray", "ray", "ray")
    import ray

    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:  # a private local Ray, reachable from this machine only
            ray.init(
                num_cpus=cpus,
                include_dashboard=False,
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
            )
    try:
        perceive_task = ray.remote(perceive)
        make_task = ray.remote(_make)
        pending: dict[Any, tuple[Item, str]] = {}
        for item, sha, todo in jobs:
            perceived = perceive_task.remote(item, describe_opts)
            for task in todo:
                ref = make_task.remote(
                    perceived, item, sha, task, run.prompts[task], run.retries, spec
                )
                pending[ref] = (item, task)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                item, task = pending.pop(ref)
                run.take(item, task, ray.get(ref))
    finally:
        if started:
            ray.shutdown()
