"""`vctext instruct`: instruction-tuning data from a batch of videos, with a progress bar and a
summary of what was written, skipped and failed, and what the LLM calls cost."""

from __future__ import annotations

from pathlib import Path

import click

from vctext.cli_support import (
    batch_failed,
    counts_bar,
    fail,
    given_settings,
    group_options,
    handle_errors,
    llm_options,
    token_summary,
    verbosity_options,
)


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--task",
    type=click.Choice(["description", "conversation", "both"]),
    default="both",
    show_default=True,
    help="What to make: a detailed story and a brief summary of each video (description), "
    "a Q&A conversation, or both.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="JSONL file to append records to (a rerun skips what it already holds).",
)
@click.option(
    "--prompt",
    "prompt_files",
    multiple=True,
    metavar="[KIND=]PATH",
    help="Use this prompt file instead of prompts/instruct_<kind>.txt (KIND= when several: "
    "description, description-brief, conversation).",
)
@group_options("instruct")
@llm_options(perceiver_prompts=False)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr  [default: when stderr is a terminal]",
)
@verbosity_options
@click.pass_context
@handle_errors
def instruct(ctx, inputs, task, output, prompt_files, no_cache, progress, **settings):
    """Make instruction-tuning data (VideoChat/LLaVA-style JSONL) from videos with an LLM.

    INPUTS are video files, folders of videos, or CSV/JSONL manifests with a video (or path)
    column and an optional caption column. Failures are listed at the end and in
    OUT.failures.jsonl; the exit code is 4 when some records failed, 1 when nothing succeeded.
    One run at a time writes OUT, and only a file vctext wrote: any other is left as it is.
    """
    from vctext.instruct import generate
    from vctext.instruct_data import parse_prompt_overrides
    from vctext.render import check_output

    tasks = ("description", "conversation") if task == "both" else (task,)
    prompts = parse_prompt_overrides(list(prompt_files), tasks)
    options = given_settings(ctx, settings, no_cache)
    check_output(output)  # a folder that is missing or read-only: said now, not after perception
    with counts_bar(ctx, progress, "instruct") as on_counts:
        report = generate(
            list(inputs),
            output,
            tasks,
            prompts=prompts,
            progress=on_counts,
            **options,
        )
    click.echo(
        f"instruct: {report.written} written, {report.skipped} skipped, {report.failed} failed "
        f"-> {report.output}; {report.calls} LLM calls to {report.model}, " + token_summary(report),
        err=True,
    )
    if report.failures:
        click.echo(f"failures ({report.failures_path}):", err=True)
        for failure in report.failures:
            click.echo(
                f"  {failure.path} [{failure.task}] {failure.stage}: {failure.reason}", err=True
            )
    if not report.ok:
        fail("nothing succeeded; see the failures above", 1)
    if report.failures:
        batch_failed(report.failed, report.total, "records")
