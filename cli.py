"""The `vctext` command line: parses, calls the Python API, formats. No logic of its own.

stdout carries results only; progress and logs go to stderr. Errors are one line and a non-zero
exit code (the traceback only with -v). Shared pieces live in ``vctext.cli_support``; the LLM
commands in ``vctext.cli_reason`` (ask, chat) and ``vctext.cli_instruct``; the MCP server's in
``vctext.cli_mcp``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from vctext import __version__, config
from vctext.cli_eval import eval_command
from vctext.cli_instruct import instruct
from vctext.cli_mcp import mcp_server
from vctext.cli_reason import ask, chat
from vctext.cli_search import search
from vctext.cli_support import (
    Bars,
    backend_option,
    batch_failed,
    fail,
    handle_errors,
    output_targets,
    prompt_option,
    setting_option,
    usage_lines,
    verbosity_options,
    with_prompts,
)
from vctext.cli_watch import watch
from vctext.errors import PARTIAL_EXIT, VctextError

log = logging.getLogger("vctext")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vctext")
@verbosity_options
def app() -> None:
    """Turn videos into timestamped text, then reason over it with an LLM."""


_EXTENSIONS = {
    "text": ".txt",
    "json": ".json",
    "md": ".md",
    "srt": ".srt",
    "vtt": ".vtt",
    "html": ".html",
}


@app.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@setting_option("profile")
@setting_option("fps")
@click.option("--start", type=float, default=None, help="First second to describe.")
@click.option("--end", type=float, default=None, help="Last second to describe.")
@setting_option("perceivers")
@backend_option
@prompt_option
@setting_option("tune")
@setting_option("scene_threshold")
@setting_option("device")
@setting_option("language")
@setting_option("max_side")
@setting_option("batch_size")
@setting_option("load_in_turn")
@setting_option("format", "--format", "-f")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write here instead of stdout (a folder when several videos are given).",
)
@setting_option("template")
@click.option(
    "--no-cache", is_flag=True, default=False, help="Neither read nor write the perception cache."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars on stderr  [default: when stderr is a terminal]",
)
@click.option(
    "--narrate",
    is_flag=True,
    default=False,
    help="Also write a readable narrative of the whole video with the LLM.",
)
@setting_option("llm")
@setting_option("llm_model")
@setting_option("base_url")
@setting_option("vision_base_url")
@setting_option("vision_workers")
@verbosity_options
@click.pass_context
@handle_errors
def describe(
    ctx, videos, output, start, end, no_cache, progress, format, template, narrate, **settings
):
    """Describe VIDEO(s) as timestamped text (captions, tags, objects, on-screen text, speech)."""
    import vctext
    from vctext.render import load_template, render, write_atomic

    config.file_values()  # a broken config file is an error, not silently ignored
    for name in [n for n in settings if n in config.SETTINGS]:
        if ctx.get_parameter_source(name) is click.core.ParameterSource.DEFAULT:
            # Not given: leave it to env > config file > default, which reports bad values there.
            del settings[name]
    if ctx.get_parameter_source("format") is click.core.ParameterSource.DEFAULT:
        format = config.effective("format")
    if ctx.get_parameter_source("template") is click.core.ParameterSource.DEFAULT:
        template = config.effective("template")
    fmt = format
    template = template or None
    if template and fmt not in ("text", "md"):
        raise click.UsageError("--template works with --format text or md")
    if no_cache:
        settings["cache"] = False
    settings = with_prompts(settings)
    llm_settings = {k: settings.pop(k) for k in config.group("llm") if k in settings}
    # The vision perceivers' server defaults to the LLM's (--base-url).
    settings |= {k: v for k, v in llm_settings.items() if k in config.VISION_FALLBACK}
    # Every option and path is checked now, before the first video is opened.
    config.describe_options(start=start, end=end, **settings)
    if template:
        load_template(template)
    targets = output_targets(videos, output, _EXTENSIONS[fmt])
    quiet = ctx.find_root().ensure_object(dict).get("quiet", False)
    show = (not quiet) and (progress if progress is not None else sys.stderr.isatty())
    failures: list[VctextError] = []
    incomplete: list[str] = []
    for path, target in zip(videos, targets, strict=True):
        bars = Bars(path.name, show)
        try:
            doc = vctext.describe(path, start=start, end=end, progress=bars, **settings)
            if narrate:
                from vctext.reason.ask import render_narrated

                text = render_narrated(doc, fmt, template, **llm_settings)
            else:
                text = render(doc, format=fmt, template=template)
            bars.close()
            if not quiet:
                for line in usage_lines(doc):
                    click.echo(f"vctext: {line}", err=True)
            if target is None:
                click.echo(text, nl=not text.endswith("\n"))
            else:
                write_atomic(target, text)
                log.info("wrote %s", target)
            if doc.incomplete:
                incomplete.append(str(path))
        except VctextError as exc:
            if len(videos) == 1:
                raise
            failures.append(exc)
            click.echo(f"vctext: error: {path}: {exc}", err=True)
        finally:
            bars.close()
    if failures:
        batch_failed(len(failures), len(videos), "videos", [exc.exit_code for exc in failures])
    if incomplete:
        # The output says which part it covers; the exit status says it is not the whole file.
        fail(f"only part of {', '.join(incomplete)} could be read (see the note)", PARTIAL_EXIT)


@app.group()
def cache() -> None:
    """Inspect or clear the perception cache."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def cache_info(as_json: bool) -> None:
    """Where the cache is and what it holds."""
    from vctext.cache import Cache

    with Cache(required=True) as c:
        info = c.info()
    if as_json:
        click.echo(json.dumps(info))
        return
    click.echo(f"path:    {info['path']}")
    click.echo(f"videos:  {info['videos']}")
    click.echo(
        f"entries: {info['entries']}"
        + (
            " (" + ", ".join(f"{k} {v}" for k, v in sorted(info["kinds"].items())) + ")"
            if info["kinds"]
            else ""
        )
    )
    click.echo(f"size:    {info['bytes'] / 1e6:.1f} MB")


@cache.command("clear")
@handle_errors
def cache_clear() -> None:
    """Delete every cached perception result."""
    from vctext.cache import Cache

    with Cache(required=True) as c:
        count = c.clear()
    click.echo(f"cleared {count} entries")


@app.group()
def models() -> None:
    """List, download ahead of time, or verify the models each profile uses."""


@models.command("list")
@click.option(
    "--profile", type=click.Choice(["standard", "offline", "all"]), default="all", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def models_list(profile: str, as_json: bool) -> None:
    """Every model vctext knows, its source, size and whether it is on this machine."""
    from vctext.models import is_on_disk, profile_models

    specs = profile_models(None if profile == "all" else profile)
    rows = [
        {
            "kind": s.kind,
            "backend": s.backend,
            "model": s.name,
            "profiles": list(s.profiles),
            "source": s.source,
            "size_mb": s.size_mb,
            "license": s.license,
            "installed": is_on_disk(s),
            "note": s.note,
        }
        for s in specs
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = [["kind", "backend", "model", "profiles", "MB", "installed", "source"]] + [
        [
            r["kind"],
            r["backend"],
            r["model"],
            ",".join(r["profiles"]) or "-",
            f"{r['size_mb']:.0f}",
            "yes" if r["installed"] else "no",
            r["source"],
        ]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@models.command("pull")
@click.option(
    "--profile", type=click.Choice(["standard", "offline"]), default="standard", show_default=True
)
@click.option(
    "--to",
    "to",
    type=click.Path(file_okay=False),
    default=None,
    help="Download into this folder instead of the normal caches.",
)
@handle_errors
def models_pull(profile: str, to: str | None) -> None:
    """Download a profile's hub models now, for machines that will have no network."""
    from vctext.models import profile_models, pull

    failed = 0
    for spec in profile_models(profile):
        try:
            where = pull(spec, to)
            click.echo(f"{spec.kind} {spec.name}: {where}")
        except VctextError as exc:
            failed += 1
            click.echo(f"vctext: error: {spec.kind} {spec.name}: {exc}", err=True)
    if failed:
        sys.exit(1)


@models.command("verify")
@click.option(
    "--profile", type=click.Choice(["standard", "offline"]), default="offline", show_default=True
)
@handle_errors
def models_verify(profile: str) -> None:
    """Load each model of a profile for real and report whether it works."""
    from vctext.models import profile_models, verify

    failed = 0
    for spec in profile_models(profile):
        try:
            click.echo(f"{spec.kind} {spec.backend} {spec.name}: {verify(spec)}")
        except VctextError as exc:
            failed += 1
            click.echo(f"{spec.kind} {spec.backend} {spec.name}: FAILED: {exc}")
    if failed:
        sys.exit(1)


@app.command("config")
@handle_errors
def show_config() -> None:
    """Show every setting's value in force and where it comes from."""
    click.echo(f"# config file: {config.config_path()}")
    file_values = config.file_values()
    for name, setting in config.SETTINGS.items():
        if setting.env in os.environ:
            origin = setting.env
        elif name in file_values:
            origin = "config file"
        else:
            origin = "default"
        value = config.effective(name)
        if name in config.SECRET_SETTINGS and value:
            value = "*** (hidden)"
        click.echo(f"{name} = {value!r}  # {origin}")


for command in (ask, chat, eval_command, instruct, mcp_server, search, watch):
    app.add_command(command)


def main() -> None:
    try:
        code = app.main(prog_name="vctext", standalone_mode=False)
    except _NO_ARGS_IS_HELP as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors too: one line, like every other error
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        fail(exc.format_message() + hint, exc.exit_code)
    except click.Abort:
        fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


#: click >= 8.2 raises this for a bare `vctext`; its message is the help text, shown as is.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


if __name__ == "__main__":
    main()
