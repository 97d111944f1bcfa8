"""`vctext eval`: raw videos and questions with known answers → scores, with a progress bar,
resumable results, and a summary table on stdout."""

from __future__ import annotations

from pathlib import Path

import click

from vctext.cli_support import (
    batch_failed,
    counts_bar,
    fail,
    given_settings,
    handle_errors,
    llm_options,
    setting_option,
    token_summary,
    verbosity_options,
)


@click.command("eval")
@click.argument("manifest", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Results JSONL, one record per item (a rerun skips what it holds)  "
    "[default: MANIFEST.results.jsonl; with --builtin, eval-builtin.results.jsonl]",
)
@click.option(
    "--builtin",
    is_flag=True,
    help="Run the built-in known-answer suite (clips made here with ffmpeg and espeak-ng).",
)
@click.option("--judge-model", default="", help="OpenAI-compatible model that grades open answers.")
@click.option("--judge-base-url", default="", help="Server of the judge model (OpenAI API).")
@click.option(
    "--search-only",
    is_flag=True,
    help="No LLM: each question's best `vctext search` range is its moment (grounding only).",
)
@click.option(
    "--evidence-first/--no-evidence-first",
    default=None,
    help="Open questions: quote the best matching ranges before the model's answer, as `ask` "
    "does  [default: on for the bundled local model only]",
)
@setting_option("workers")
@setting_option("llm_prices")
@llm_options
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr  [default: when stderr is a terminal]",
)
@verbosity_options
@click.pass_context
@handle_errors
def eval_command(
    ctx,
    manifest,
    output,
    builtin,
    judge_model,
    judge_base_url,
    search_only,
    evidence_first,
    no_cache,
    progress,
    **settings,
):
    """Score vctext on videos with known answers: MANIFEST is JSONL or CSV with video,
    question, answer and optional options, start/end, transcript, text_on_screen, cuts.

    Multiple-choice answers are scored by accuracy, open ones by exact/contains match and, with
    --judge-model or --judge-base-url, an LLM judge (five 1-5 scores); start/end give grounding
    R@1 at IoU 0.3/0.5/0.7. The summary is printed and written beside the results as
    RESULTS.summary.json and RESULTS.summary.md. Exit code 4 when some items failed, 1 when all.
    """
    from vctext.errors import InputError
    from vctext.eval import evaluate, load_manifest
    from vctext.eval.summary import summary_rows
    from vctext.render import check_output

    if builtin == (manifest is not None):
        raise InputError("give a MANIFEST or --builtin (one of them)")
    if builtin:
        from vctext.eval.builtin import builtin_manifest

        manifest = builtin_manifest()
        output = output or Path("eval-builtin.results.jsonl")
    items = load_manifest(manifest)
    output = output or manifest.with_name(manifest.stem + ".results.jsonl")
    options = given_settings(ctx, settings, no_cache)
    check_output(output)
    with counts_bar(ctx, progress, "eval") as on_counts:
        report = evaluate(
            items,
            output,
            judge_model=judge_model,
            judge_base_url=judge_base_url,
            search_only=search_only,
            evidence_first=evidence_first,
            progress=on_counts,
            **options,
        )
    click.echo(
        f"eval: {report.scored} scored, {report.skipped} skipped, {report.failed} failed "
        f"-> {report.output}; {report.calls} LLM calls, " + token_summary(report),
        err=True,
    )
    for key, error in report.failures:
        click.echo(f"  {key}: {error}", err=True)
    rows = [("score", "value", "items"), *summary_rows(report.summary)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for a, b, c in rows:
        click.echo(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}")
    if report.failed:
        failed = report.summary["failed"]
        if failed == report.summary["items"]:
            fail(f"all {failed} items failed (see above)", 1)
        batch_failed(failed, report.summary["items"], "items")
