"""The commands that reason over a video's text with an LLM: ask, chat, instruct, mcp."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from vctext.cli_support import (
    Printer,
    batch_failed,
    fail,
    given_settings,
    handle_errors,
    llm_options,
    setting_option,
    verbosity_options,
)
from vctext.errors import VctextError


@click.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.argument("question")
@llm_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the answer, the time ranges it relied on and the model as JSON.",
)
@verbosity_options
@click.pass_context
@handle_errors
def ask(ctx, video, question, no_cache, as_json, **settings):
    """Answer QUESTION about VIDEO with an LLM (the answer streams to stdout).

    The video's text comes from the perception cache when VIDEO was described before, so a
    second question costs only the LLM call.
    """
    import vctext

    if not question.strip():
        raise click.UsageError("QUESTION is empty")
    options = given_settings(ctx, settings, no_cache)
    printer = None if as_json else Printer()
    try:
        answer = vctext.ask(video, question, on_text=printer, **options)
    finally:
        if printer:
            printer.end()
    if as_json:
        click.echo(
            json.dumps({"video": str(video), **answer.to_json()}, ensure_ascii=False, indent=2)
        )


@click.command()
@click.argument("video", type=click.Path(path_type=Path))
@llm_options
@verbosity_options
@click.pass_context
@handle_errors
def chat(ctx, video, no_cache, **settings):
    """Talk about VIDEO with an LLM: one question a line on stdin, answers streamed to stdout.

    Commands: /reset forgets the conversation, /save PATH writes it as JSON, /quit ends (so does
    end of input). Works with piped input too; then a failed turn makes the exit code 1.
    """
    import vctext

    session = vctext.Chat(video, **given_settings(ctx, settings, no_cache))
    session.llm.ensure_loaded()  # load (and learn the model's name) before the first question
    interactive = sys.stdin.isatty()
    if interactive:
        try:
            import readline  # noqa: F401 - line editing and history for input()
        except ImportError:
            pass
        click.echo(
            f"Chatting about {session.doc.name} with {session.llm.name} "
            f"({session.llm.model}). /reset, /save PATH, /quit",
            err=True,
        )
    failures = 0
    printer = Printer()
    while True:
        if interactive:
            click.echo("> ", err=True, nl=False)
            try:
                line = input()
            except EOFError:
                click.echo(err=True)
                break
        else:
            line = sys.stdin.readline()
            if not line:
                break
        text = line.strip()
        if not text:
            continue
        command, _, argument = text.partition(" ")
        try:
            if command in ("/quit", "/exit"):
                break
            elif command == "/reset":
                session.reset()
                click.echo("(conversation cleared)", err=True)
            elif command == "/save":
                if not argument.strip():
                    raise click.UsageError("/save needs a file name: /save chat.json")
                click.echo(f"(saved to {session.save(argument.strip())})", err=True)
            elif (
                command.startswith("/")
                and " " not in command
                and len(command) > 1
                and command[1:].isalpha()
            ):
                raise click.UsageError(
                    f"unknown command {command}; use /reset, /save PATH or /quit"
                )
            else:
                for piece in session.send(text):
                    printer(piece)
                printer.end()
        except (VctextError, click.UsageError) as exc:
            printer.end()
            failures += 1
            message = exc.format_message() if isinstance(exc, click.UsageError) else str(exc)
            click.echo(f"vctext: error: {message}", err=True)
    if failures and not interactive:
        sys.exit(1)


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
@setting_option("workers")
@setting_option("instruct_retries")
@setting_option("llm_prices")
@setting_option("engine")
@setting_option("ray_address")
@llm_options
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
    quiet = ctx.find_root().ensure_object(dict).get("quiet", False)
    show = (sys.stderr.isatty() if progress is None else progress) and not quiet
    bar = None

    def on_counts(counts: dict) -> None:
        nonlocal bar
        if not show:
            return
        from tqdm import tqdm

        if bar is None:
            bar = tqdm(
                total=counts["total"],
                desc="instruct",
                unit="item",
                file=sys.stderr,
                dynamic_ncols=True,
            )
        bar.n = counts["done"] + counts["failed"] + counts["skipped"]
        bar.set_postfix(done=counts["done"], failed=counts["failed"], skipped=counts["skipped"])

    try:
        report = generate(
            list(inputs),
            output,
            tasks,
            prompts=prompts,
            progress=on_counts,
            **options,
        )
    finally:
        if bar is not None:
            bar.close()
    tokens = report.prompt_tokens + report.completion_tokens
    price = f", about ${report.cost:.4f}" if report.cost is not None else ", cost unknown"
    click.echo(
        f"instruct: {report.written} written, {report.skipped} skipped, {report.failed} failed "
        f"-> {report.output}; {report.calls} LLM calls to {report.model}, ~{tokens} tokens "
        f"({report.prompt_tokens} prompt + {report.completion_tokens} completion){price}",
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


@click.command("mcp")
@verbosity_options
@handle_errors
def mcp_server() -> None:
    """Serve describe / ask / search-in-video tools over MCP on stdin/stdout.

    For MCP clients to spawn (`"command": "vctext", "args": ["mcp"]`); logs go to stderr.
    Needs the integrations extra: pip install "vctext[integrations]".
    """
    from vctext.integrations.mcp_server import serve

    serve()
