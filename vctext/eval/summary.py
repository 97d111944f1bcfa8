"""The summary of an eval's results: one table of accuracy, judge scores, grounding and
perception metrics, as JSON and as Markdown."""

from __future__ import annotations

from typing import Any

from vctext.eval.scores import IOU_THRESHOLDS, JUDGE_DIMENSIONS


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(
    results: list[dict[str, Any]], judge: bool = False, llm: str = "", judge_model: str = ""
) -> dict[str, Any]:
    """Scores averaged over the results that have them; failed items counted apart."""
    ok = [r for r in results if not r.get("error")]
    scores = [r["scores"] for r in ok]
    choice = [s["accuracy"] for s in scores if "accuracy" in s]
    open_ = [s for s in scores if "exact" in s]
    judged = [s["judge"] for s in open_ if isinstance(s.get("judge"), dict)]
    ious = [s["iou"] for s in scores if "iou" in s]
    out: dict[str, Any] = {
        "llm": llm,
        "judge": judge_model if judge else None,
        "items": len(results),
        "failed": len(results) - len(ok),
        "multiple_choice": {"n": len(choice), "accuracy": _mean(choice)},
        "open_ended": {
            "n": len(open_),
            "exact": _mean([s["exact"] for s in open_]),
            "contains": _mean([s["contains"] for s in open_]),
            # Evidence-first answers: the model's words alone (the quoted lines left out).
            "own_contains": {
                "n": len(own := [s["own_contains"] for s in open_ if "own_contains" in s]),
                "mean": _mean(own),
            },
            "judge": (
                {d: _mean([j[d] for j in judged]) for d in JUDGE_DIMENSIONS}
                | {"n": len(judged), "mean": _mean([sum(j.values()) / 5 for j in judged])}
                if judge
                else "off"
            ),
        },
        "grounding": {
            "n": len(ious),
            **{f"r1@{t}": _mean([float(v >= t) for v in ious]) for t in IOU_THRESHOLDS},
            "miou": _mean(ious),
        },
        "perception": {
            name: {"n": len(vals), "mean": _mean(vals)}
            for name in ("wer", "screen_text_recall", "cut_recall")
            for vals in [[s[name] for s in scores if name in s]]
        },
    }
    return out


def _fmt(value: Any, percent: bool = True) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:.2f}"


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(score, value, items) rows of the summary table."""
    mc, op, gr, pe = (
        summary[k] for k in ("multiple_choice", "open_ended", "grounding", "perception")
    )
    rows = [("multiple-choice accuracy", _fmt(mc["accuracy"]), str(mc["n"]))]
    rows += [
        ("open-ended exact match", _fmt(op["exact"]), str(op["n"])),
        ("open-ended contains answer", _fmt(op["contains"]), str(op["n"])),
    ]
    own = op.get("own_contains") or {"n": 0}
    if own["n"]:  # evidence-first answers: is the answer in the model's words too?
        rows.append(("... in the model's own words", _fmt(own["mean"]), str(own["n"])))
    judge = op["judge"]
    if judge == "off":
        rows.append(("judge (1-5)", "off: no --judge-model/--judge-base-url", str(op["n"])))
    else:
        for dim in (*JUDGE_DIMENSIONS, "mean"):
            rows.append((f"judge {dim} (1-5)", _fmt(judge[dim], False), str(judge["n"])))
    for t in IOU_THRESHOLDS:
        rows.append((f"grounding R@1, IoU {t}", _fmt(gr[f"r1@{t}"]), str(gr["n"])))
    rows.append(("grounding mean IoU", _fmt(gr["miou"], False), str(gr["n"])))
    labels = {
        "wer": "speech word error rate",
        "screen_text_recall": "on-screen text recall",
        "cut_recall": "scene cuts within 0.5 s",
    }
    for name, label in labels.items():
        rows.append((label, _fmt(pe[name]["mean"]), str(pe[name]["n"])))
    rows.append(("items failed", str(summary["failed"]), str(summary["items"])))
    return rows


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary table in Markdown."""
    head = f"LLM: {summary['llm'] or '-'}; judge: {summary['judge'] or 'off'}\n\n"
    lines = ["| score | value | items |", "|---|---:|---:|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in summary_rows(summary)]
    return head + "\n".join(lines) + "\n"
