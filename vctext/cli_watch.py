"""`vctext watch SOURCE`: a stream, or a recording still being written, described as it arrives."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import click

from vctext.cli_support import (
    backend_option,
    given_settings,
    handle_errors,
    prompt_option,
    setting_option,
    verbosity_options,
)


@click.command("watch")
@click.argument("source")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "jsonl"]),
    default="text",
    show_default=True,
    help="text: the text layout, a block per window; jsonl: one JSON line per observation "
    "(and per gap or alert), as each is perceived.",
)
@click.option(
    "--clock",
    type=click.Choice(["stream", "wall"]),
    default="stream",
    show_default=True,
    help="jsonl times: seconds from the stream's start, or wall-clock ISO 8601 (UTC).",
)
@click.option("--window", type=float, default=5.0, show_default=True, help="Seconds a window.")
@click.option(
    "--idle",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds without growth after which a file has ended, or a stream is opened again.",
)
@click.option(
    "--reconnects",
    type=int,
    default=5,
    show_default=True,
    help="Times in a row a dropped stream is opened again (with backoff) before giving up.",
)
@click.option(
    "--save",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Keep the whole document so far in this JSON file (rewritten whole after each "
    "window): `vctext ask FILE.json ...` works while the watch runs.",
)
@click.option(
    "--ask",
    "question",
    default=None,
    help="A standing question asked of each window with the LLM (e.g. 'a person enters'); "
    "an alert line when the answer is yes.",
)
@setting_option("profile")
@setting_option("perceivers")
@backend_option
@prompt_option
@setting_option("tune")
@setting_option("fps")
@setting_option("device")
@setting_option("language")
@setting_option("max_side")
@setting_option("llm")
@setting_option("llm_model")
@setting_option("base_url")
@setting_option("vision_base_url")
@verbosity_options
@click.pass_context
@handle_errors
def watch(ctx, source, fmt, clock, window, idle, reconnects, save, question, **settings):
    """Describe SOURCE as it arrives: a file still being written (.ts, .mkv, fragmented .mp4),
    an HTTP(S)/HLS, RTSP, RTMP or SRT URL, or - for a stream on stdin.

    Lines come a window (--window) after the moment they describe; the watch ends with the
    stream (or, for a file, when it stops growing for --idle seconds), or on Ctrl-C or SIGTERM
    once what was recorded is described; the exit status is then 0.
    """
    from vctext.render import check_output, write_atomic
    from vctext.watch import Watch, window_text

    options = given_settings(ctx, settings, no_cache=False)
    options.pop("cache", None)
    if save is not None:
        check_output(save)
    session = Watch(
        source, window=window, idle=idle, reconnects=reconnects, ask=question, **options
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: session.stop())
    origin = session.started if clock == "wall" else None
    fps = session.options.fps
    pending = []
    try:
        for event in session.events():
            if fmt == "jsonl":
                if event.type != "window":
                    click.echo(json.dumps(event.to_json(origin), ensure_ascii=False))
            elif event.type == "window":
                block = window_text(pending, fps)
                if block:
                    click.echo(block)
                pending = []
            else:
                pending.append(event)
            if event.type in ("window", "gap") and save is not None:
                write_atomic(save, json.dumps(session.document().to_json(), indent=1) + "\n")
            if event.type in ("window", "gap", "alert"):
                click.get_text_stream("stdout").flush()
    finally:
        if pending and fmt == "text":
            click.echo(window_text(pending, fps))
        if save is not None:
            write_atomic(save, json.dumps(session.document().to_json(), indent=1) + "\n")
