"""The commands that reason over one video's text with an LLM: ask and chat."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from vctext.cli_support import (
    Printer,
    given_settings,
    handle_errors,
    llm_options,
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
    help="Print the answer, the time ranges it relied on and cites, moments and the model as JSON.",
)
@click.option(
    "--evidence-first/--no-evidence-first",
    default=None,
    help="Quote the best matching ranges with their times before the model's answer to a "
    "factual question  [default: on for the bundled local model only]",
)
@verbosity_options
@click.pass_context
@handle_errors
def ask(ctx, video, question, no_cache, as_json, evidence_first, **settings):
    """Answer QUESTION about VIDEO with an LLM (the answer streams to stdout).

    The answer ends with the time ranges it cites, as [mm:ss-mm:ss]. The video's text comes from
    the perception cache when VIDEO was described before, so a second question costs only the
    LLM call.
    """
    import vctext

    if not question.strip():
        raise click.UsageError("QUESTION is empty")
    options = given_settings(ctx, settings, no_cache)
    printer = None if as_json else Printer()
    try:
        answer = vctext.ask(
            video, question, on_text=printer, evidence_first=evidence_first, **options
        )
        if printer and answer.cited:
            printer(" " + answer.cited)  # on the answer's last line: one answer, one line
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
                if session.last is not None and session.last.cited:
                    printer(" " + session.last.cited)
                printer.end()
        except (VctextError, click.UsageError) as exc:
            printer.end()
            failures += 1
            message = exc.format_message() if isinstance(exc, click.UsageError) else str(exc)
            click.echo(f"vctext: error: {message}", err=True)
    if failures and not interactive:
        sys.exit(1)
