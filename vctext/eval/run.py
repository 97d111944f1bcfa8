"""Run an eval: perceive each video once, ask each question, score, write resumable results.

Results are ``vctext instruct``'s kind of output (append-only JSONL, one fsynced record per
item, a state file and a lock beside it), so a run killed at any moment and started again
scores every item exactly once. An item that fails is recorded with its ``error`` and the run
goes on; the next run tries it again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vctext import config
from vctext.document import VideoText
from vctext.errors import InputError
from vctext.eval.manifest import EvalItem
from vctext.eval.output import ResultWriter, read_results, summary_paths
from vctext.eval.scores import (
    LETTERS,
    cut_recall,
    iou,
    match_scores,
    parse_choice,
    parse_judge,
    screen_text_recall,
    word_error_rate,
)
from vctext.eval.summary import summarize, summary_markdown
from vctext.instruct_data import cost, price_table
from vctext.instruct_output import OutputLock, State, state_path
from vctext.instruct_work import call_usage
from vctext.llm import load_llm
from vctext.llm.base import LLM, Message, Usage, one_line
from vctext.reason.ask import ask, make_answer, split_options
from vctext.reason.fit import fit_for, refitting
from vctext.reason.prompts import build_messages, fill, load_prompt
from vctext.render import write_atomic

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, int]], None]


@dataclass
class EvalReport:
    """What a run did: counts, the summary over all results, tokens and their cost."""

    output: Path
    total: int = 0
    scored: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (item id, error)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Calls whose tokens had to be estimated (the server did not say); 0: the counts are real.
    estimated: int = 0
    model: str = ""
    judge: str = ""
    cost: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "total": self.total,
            "done": self.scored,
            "failed": self.failed,
            "skipped": self.skipped,
        }


def choice_question(item: EvalItem) -> str:
    """The strict answer-letter prompt for a multiple-choice item."""
    letters = LETTERS[: len(item.options)]
    return fill(
        load_prompt("eval_choice.txt"),
        question=item.question,
        options="\n".join(f"{letters[i]}. {o}" for i, o in enumerate(item.options)),
        letters=", ".join(letters),
    )


def _span(value: Any) -> tuple[float, float] | None:
    """(start, end) of a moment or evidence range, whatever its shape."""
    if value is None:
        return None
    if isinstance(value, dict):
        start, end = value.get("start"), value.get("end")
    elif isinstance(value, (list, tuple)):
        start, end = (value[0], value[1]) if len(value) >= 2 else (None, None)
    else:
        start, end = getattr(value, "start", None), getattr(value, "end", None)
    return None if start is None or end is None else (float(start), float(end))


def predicted_moment(answer: Any) -> tuple[float, float] | None:
    """The answer's first moment if it names one, else its first citation (the model's own,
    or the best quoted hit), else its first evidence range."""
    for name in ("moments", "citations", "ranges"):
        found = getattr(answer, name, None) or []
        if found:
            return _span(found[0])
    return None


def perception_scores(item: EvalItem, doc: VideoText) -> dict[str, float]:
    """WER of the speech, recall of on-screen strings and of cuts, where the row has references."""
    by_time = sorted(doc.observations, key=lambda o: o.start)
    scores: dict[str, float] = {}
    if item.transcript is not None:
        speech = " ".join(o.text for o in by_time if o.kind == "asr")
        scores["wer"] = word_error_rate(item.transcript, speech)
    screen = screen_text_recall(item.text_on_screen, [o.text for o in by_time if o.kind == "ocr"])
    if screen is not None:
        scores["screen_text_recall"] = screen
    cuts = cut_recall(item.cuts, [o.start for o in by_time if o.kind == "scene"])
    if cuts is not None:
        scores["cut_recall"] = cuts
    return scores


class _Run:
    """The shared end of a run: the one writer, the state file, counts and tokens."""

    def __init__(
        self,
        llm: LLM | None,
        judge: LLM | None,
        report: EvalReport,
        writer,
        progress,
        evidence_first: bool | None = None,
    ):
        self.llm, self.judge, self.report, self.writer = llm, judge, report, writer
        self.evidence_first = evidence_first
        self.progress = progress
        self.lock = threading.Lock()
        self.state = State(state_path(report.output), set(writer.ids))

    def tick(self) -> None:
        if self.progress:
            self.progress(self.report.counts())

    def count(self, model: LLM, messages: list[Message], reply: str) -> None:
        usage = call_usage(model, messages, reply)
        self._add(usage)

    def _add(self, usage: Usage) -> None:
        with self.lock:
            self.report.calls += 1
            self.report.prompt_tokens += usage.prompt_tokens
            self.report.completion_tokens += usage.completion_tokens
            self.report.estimated += usage.estimated

    def write(self, item: EvalItem, record: dict[str, Any]) -> None:
        with self.lock:
            self.writer.write(record)
            status, reason = ("failed", record["error"]) if record.get("error") else ("done", "")
            self.state.mark(item.id, str(item.video), "eval", status, reason)
            if reason:
                self.report.failed += 1
                self.report.failures.append((item.id, reason))
            else:
                self.report.scored += 1
            self.tick()

    def score(self, item: EvalItem, doc: VideoText | None, problem: str) -> None:
        """Ask, score and write one item; any error becomes the item's recorded error."""
        record: dict[str, Any] = {
            "id": item.id,
            "video": str(item.video),
            "question": item.question,
            "options": list(item.options),
            "reference": item.reference,
            "prediction": None,
            "scores": {},
        }
        try:
            if doc is None:
                raise InputError(f"perception failed: {problem}")
            record.update(self._answer(item, doc))
        except Exception as exc:  # noqa: BLE001 - one failing item never ends the run
            record["error"] = one_line(f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc))
        self.write(item, record)

    def _answer(self, item: EvalItem, doc: VideoText) -> dict[str, Any]:
        if self.llm is None:
            return self._search(item, doc)
        likelihood = bool(item.options) and hasattr(self.llm, "choice_logprobs")
        question = choice_question(item) if item.options and not likelihood else item.question
        if likelihood:
            answer, picked = self._choose(item, doc)
        else:
            # A strict letter must come first: no quoted evidence ahead of it.
            lead = False if item.options else self.evidence_first
            answer = ask(doc, question, llm=self.llm, evidence_first=lead)
            picked = parse_choice(answer.text, len(item.options)) if item.options else None
        self._count_answer(question, answer)
        scores: dict[str, Any] = {}
        out: dict[str, Any] = {
            "prediction": answer.text,
            "scores": scores,
            "evidence_first": answer.evidence_first,
            "citations": [c.to_json() for c in answer.citations],
        }
        if item.options:
            out["choice"] = None if picked is None else LETTERS[picked]
            out["method"] = "likelihood" if likelihood else "letter"
            scores["accuracy"] = float(picked == item.answer_index)
        else:
            scores.update(match_scores(answer.text, item.answer))
            if answer.quoted:  # the model's own words, without the evidence quoted first
                scores["own_contains"] = match_scores(answer.own_words, item.answer)["contains"]
            if self.judge is not None:
                try:
                    scores["judge"] = self._judge(item, answer.text)
                except (ValueError, TypeError) as exc:
                    out["judge_error"] = one_line(str(exc))
        moment = predicted_moment(answer)
        out["moment"] = list(moment) if moment else None
        if item.moment:
            scores["iou"] = iou(moment, item.moment) if moment else 0.0
        scores.update(perception_scores(item, doc))
        return out

    def _choose(self, item: EvalItem, doc: VideoText) -> tuple[Any, int]:
        """A local model's pick: the option whose text is likeliest (mean log-probability per
        token) as the reply to the plain question; no letters, which small models follow badly.
        """
        question = item.question

        def attempt() -> tuple[Any, int]:
            fitted = fit_for(doc, self.llm, question)
            messages = build_messages(fitted.text, [], question)
            scores = self.llm.choice_logprobs(messages, list(item.options))
            best = max(range(len(scores)), key=scores.__getitem__)
            text = f"{LETTERS[best]}. {item.options[best]}"
            return make_answer(question, text, fitted, self.llm), best

        return refitting(self.llm, attempt)

    def _search(self, item: EvalItem, doc: VideoText) -> dict[str, Any]:
        """Search-only: the best-matching range for the question is the predicted moment."""
        from vctext.reason.search import search

        hits = search(doc, item.question, 1)
        moment = (hits[0].start, hits[0].end) if hits else None
        scores: dict[str, Any] = {}
        if item.moment:
            scores["iou"] = iou(moment, item.moment) if moment else 0.0
        scores.update(perception_scores(item, doc))
        return {"prediction": None, "moment": list(moment) if moment else None, "scores": scores}

    def _count_answer(self, question: str, answer: Any) -> None:
        usage = getattr(self.llm, "last_usage", None)  # the answer was this thread's last call
        if usage is None:
            fitted = int((answer.context or {}).get("tokens") or 0)
            prompt = fitted + self.llm.count_tokens(question)
            usage = Usage(prompt, self.llm.count_tokens(answer.text), estimated=True)
        self._add(usage)

    def _judge(self, item: EvalItem, prediction: str) -> dict[str, int]:
        prompt = fill(
            load_prompt("eval_judge.txt"),
            question=item.question,
            reference=item.reference,
            prediction=prediction,
        )
        messages = [Message("user", prompt)]
        reply = self.judge.complete(messages)
        self.count(self.judge, messages, reply)
        return parse_judge(reply)


def load_judge(model: str = "", base_url: str = "", **llm_opts: Any) -> LLM | None:
    """The judge LLM (an OpenAI-compatible one), or None when neither model nor URL is given."""
    if not model and not base_url:
        return None
    given = {k: v for k, v in {"model": model, "base_url": base_url}.items() if v}
    return load_llm("openai", **{**llm_opts, **given})


def evaluate(
    items: list[EvalItem],
    output: str | Path,
    llm: Any = None,
    *,
    judge_model: str = "",
    judge_base_url: str = "",
    search_only: bool = False,
    evidence_first: bool | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> EvalReport:
    """Score ``items``, appending one result per item to ``output`` and resuming an earlier run.

    Args:
        items: from :func:`vctext.eval.load_manifest`.
        output: the results JSONL; ``OUT.summary.json`` and ``OUT.summary.md`` go beside it.
        llm: the answering LLM: a backend name or an :class:`vctext.llm.LLM`.
        judge_model, judge_base_url: an OpenAI-compatible judge for open-ended answers; neither
            given: open-ended answers get exact/contains match scores only.
        search_only: no LLM: the best :func:`vctext.reason.search.search` hit for each
            question is its predicted moment (grounding and perception scores only).
        evidence_first: passed to :func:`vctext.reason.ask.ask` for open questions (None: its
            default, on for the bundled local model only).
        workers: LLM calls at a time (API backends; a local model answers one at a time).
        progress: called with the counts (total, done, failed, skipped) as they change.
        **options: describe settings (profile, perceivers, ...) and LLM settings.

    Returns:
        An :class:`EvalReport` whose ``summary`` covers every result in ``output``.
    """
    missing = [i for i in items if not i.video.is_file()]
    if missing:
        raise InputError(
            f"item '{missing[0].id}': video '{missing[0].video}' is not a file"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + "; fix the manifest's paths (relative ones are relative to the manifest)"
        )
    workers = workers or config.effective("workers")
    if workers < 1:
        raise InputError("workers must be at least 1")
    prices = price_table(options.pop("llm_prices", None) or config.effective("llm_prices"))
    out = Path(output).expanduser()
    if out.is_dir() or not out.parent.is_dir():
        raise InputError(f"output '{out}' must be a file in an existing folder")
    describe_opts, llm_opts = split_options(options)
    report = EvalReport(out, total=len(items))
    with ExitStack() as stack:
        stack.enter_context(OutputLock(out, "eval"))
        writer = ResultWriter(out)
        stack.callback(writer.close)
        model = None if search_only else load_llm(llm, **llm_opts)
        if model is not None:
            model.ensure_loaded()
        judge = (
            None
            if search_only
            else load_judge(
                judge_model,
                judge_base_url,
                **{
                    k: v for k, v in llm_opts.items() if k not in ("model", "llm_model", "base_url")
                },
            )
        )
        report.model = model.model if model else "search only (no LLM)"
        report.judge = judge.model if judge else ""
        run = _Run(model, judge, report, writer, progress, evidence_first)
        stack.callback(run.state.close)
        todo = [i for i in items if i.id not in writer.ids]
        report.skipped = len(items) - len(todo)
        run.tick()
        _score_all(run, todo, describe_opts, workers if not model or model.name == "openai" else 1)
        report.cost = cost(report.model, report.prompt_tokens, report.completion_tokens, prices)
    known = {i.id for i in items}
    results = [r for r in read_results(out) if r["id"] in known]
    report.summary = summarize(
        results, judge=bool(judge), llm=report.model, judge_model=report.judge
    )
    report.summary["tokens"] = {
        "calls": report.calls,
        "prompt": report.prompt_tokens,
        "completion": report.completion_tokens,
        "estimated": report.estimated > 0,
        "cost_usd": report.cost,
    }
    json_path, md_path = summary_paths(out)
    write_atomic(json_path, json.dumps(report.summary, indent=2) + "\n")
    write_atomic(md_path, summary_markdown(report.summary))
    return report


def _score_all(run: _Run, todo: list[EvalItem], describe_opts: dict, workers: int) -> None:
    """Perception in this thread, once per video; questions on ``workers`` threads."""
    from vctext.api import describe

    by_video: dict[Path, list[EvalItem]] = {}
    for item in todo:
        by_video.setdefault(item.video, []).append(item)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vctext-eval")
    try:
        for video, group in by_video.items():
            doc, problem = None, ""
            try:
                doc = describe(video, **describe_opts)
            except Exception as exc:  # noqa: BLE001 - a bad video fails its items only
                problem = one_line(str(exc) or type(exc).__name__)
            for item in group:
                pool.submit(run.score, item, doc, problem)
        pool.shutdown(wait=True)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
