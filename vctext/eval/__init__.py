"""`vctext eval`: raw videos and questions with known answers → scores.

    >>> from vctext.eval import evaluate, load_manifest
    >>> report = evaluate(load_manifest("bench.jsonl"), "results.jsonl", llm="openai")

:mod:`vctext.eval.manifest` reads the rows, :mod:`vctext.eval.scores` holds each score as a small
pure function, :mod:`vctext.eval.run` perceives each video once, asks, scores and writes
resumable results, :mod:`vctext.eval.builtin` makes the built-in known-answer suite.
"""

from vctext.eval.manifest import EvalItem, load_manifest
from vctext.eval.run import EvalReport, evaluate

__all__ = ["EvalItem", "EvalReport", "evaluate", "load_manifest"]
