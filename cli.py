"""The `vctext` command line: parses, calls the Python API, formats. No logic of its own.

stdout carries results only; progress and logs go to stderr. Errors are one line and a non-zero
exit code (the traceback only with -v).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path

import click

from vctext import __version__, config
from vctext.errors import VctextError

log = logging.getLogger("vctext")


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("vctext: %(levelname)s: %(message)s"))
    root = logging.getLogger("vctext")
    root.handlers[:] = [h for h in root.handlers if isinstance(h, logging.NullHandler)]
    root.addHandler(handler)
    root.setLevel(level)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"vctext: error: {message}", err=True)
    sys.exit(code)


def handle_errors(func):
    """Turn our errors into one line on stderr and an exit code; tracebacks only with -v."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        verbose = ctx.find_root().ensure_object(dict).get("verbose", 0)
        try:
            return func(*args, **kwargs)
        except VctextError as exc:
            if verbose:
                log.exception("details")
            _fail(str(exc), exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors are reported by main()
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as other command-line tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except Exception as exc:  # noqa: BLE001 - last line of defence: never a bare traceback
            if verbose:
                log.exception("details")
            _fail(f"unexpected {type(exc).__name__}: {exc} (run with -v for details)", 1)

    return wrapper


def _default(name: str):
    """The effective default (env > config file > built-in) for --help and for the option."""
    try:
        return config.effective(name)
    except VctextError:
        return config.SETTINGS[name].default  # the error is reported when the command runs


def setting_option(name: str, *decls: str, **kwargs):
    setting = config.SETTINGS[name]
    value = _default(name)
    kwargs.setdefault("help", setting.help)
    if setting.choices:
        kwargs.setdefault("type", click.Choice(setting.choices))
    elif setting.type is not bool:
        kwargs.setdefault("type", setting.type)
    # The default shown (and used) is the effective one, so env and config file show in --help.
    return click.option(
        *(decls or (f"--{name.replace('_', '-')}",)),
        name,
        default=value,
        show_default=value not in ("", None),
        **kwargs,
    )


def _verbosity(ctx: click.Context, param: click.Parameter, value) -> None:
    """-v/-q work before or after the command name; the last one given wins."""
    state = ctx.ensure_object(dict)
    root = ctx.find_root().ensure_object(dict)
    if param.name == "verbose" and value:
        root["verbose"] = state["verbose"] = value
    if param.name == "quiet" and value:
        root["quiet"] = state["quiet"] = True
    _setup_logging(root.get("verbose", 0), root.get("quiet", False))


def verbosity_options(func):
    func = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_verbosity,
        help="Only errors on stderr; no progress bars.",
    )(func)
    return click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_verbosity,
        help="More logging on stderr (-vv for debug).",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vctext")
@verbosity_options
def app() -> None:
    """Turn videos into timestamped text, then reason over it with an LLM."""


class _Bars:
    """tqdm bars with ETA on stderr, one per stage."""

    def __init__(self, label: str, enabled: bool):
        self.label, self.enabled, self.bars = label, enabled, {}

    def __call__(self, stage: str, done: float, total: float | None) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            unit = "frame" if stage == "frames" else "s"
            bar = self.bars[stage] = tqdm(
                total=round(total, 1) if total else None,
                desc=f"{self.label} {stage}",
                unit=unit,
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )
        bar.n = round(min(done, total) if total else done, 1)
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


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
@setting_option("scene_threshold")
@setting_option("device")
@setting_option("language")
@setting_option("max_side")
@setting_option("batch_size")
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
@setting_option("llm_model", "--model")
@setting_option("base_url")
@verbosity_options
@click.pass_context
@handle_errors
def describe(
    ctx, videos, output, start, end, no_cache, progress, format, template, narrate, **settings
):
    """Describe VIDEO(s) as timestamped text (captions, tags, objects, on-screen text, speech)."""
    import vctext
    from vctext.render import render, write_atomic

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
    if len(videos) > 1 and output is not None and not output.is_dir():
        _fail(f"with several videos, -o must be an existing folder (got '{output}')", 2)
    if no_cache:
        settings["cache"] = False
    llm_settings = {k: settings.pop(k) for k in ("llm", "llm_model", "base_url") if k in settings}
    quiet = ctx.find_root().ensure_object(dict).get("quiet", False)
    show = (not quiet) and (progress if progress is not None else sys.stderr.isatty())
    failures = 0
    for path in videos:
        bars = _Bars(path.name, show)
        try:
            doc = vctext.describe(path, start=start, end=end, progress=bars, **settings)
            if narrate:
                from vctext.llm.reason import render_narrated

                text = render_narrated(doc, fmt, template, **llm_settings)
            else:
                text = render(doc, format=fmt, template=template)
        except VctextError as exc:
            if len(videos) == 1:
                raise
            failures += 1
            click.echo(f"vctext: error: {path}: {exc}", err=True)
            continue
        finally:
            bars.close()
        if output is None:
            click.echo(text, nl=not text.endswith("\n"))
        else:
            target = output / (path.stem + _EXTENSIONS[fmt]) if output.is_dir() else output
            write_atomic(target, text)
            log.info("wrote %s", target)
    if failures:
        _fail(f"{failures} of {len(videos)} videos failed", 1 if failures == len(videos) else 0)


@app.group()
def cache() -> None:
    """Inspect or clear the perception cache."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def cache_info(as_json: bool) -> None:
    """Where the cache is and what it holds."""
    from vctext.cache import Cache

    with Cache() as c:
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

    with Cache() as c:
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


# -- reasoning over the text: ask, chat ---------------------------------------------------------

_LLM_FLAGS = (
    ("llm", ()),
    ("llm_model", ("--model",)),
    ("base_url", ()),
    ("temperature", ()),
    ("max_tokens", ()),
    ("context_tokens", ()),
    ("llm_timeout", ("--timeout",)),
    ("llm_retries", ("--retries",)),
)


def llm_options(func):
    """The LLM flags (backend, model, server, limits) and the perception flags a video needs."""
    for name in ("device", "fps", "perceivers", "profile"):
        func = setting_option(name)(func)
    for name, decls in reversed(_LLM_FLAGS):
        func = setting_option(name, *decls)(func)
    return click.option(
        "--no-cache",
        is_flag=True,
        default=False,
        help="Neither read nor write the perception cache.",
    )(func)


def _given(ctx: click.Context, settings: dict, no_cache: bool) -> dict:
    """Only the settings given as flags: the rest resolve as env > config file > default."""
    config.file_values()  # a broken config file is an error, not silently ignored
    given = {
        k: v
        for k, v in settings.items()
        if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT
    }
    if no_cache:
        given["cache"] = False
    return given


class _Printer:
    """Streams answer pieces to stdout as they arrive, without the answer's leading blanks."""

    def __init__(self):
        self.started = False

    def __call__(self, piece: str) -> None:
        if not self.started:
            piece = piece.lstrip()
            self.started = bool(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()

    def end(self) -> None:
        if self.started:
            sys.stdout.write("\n")
            sys.stdout.flush()
        self.started = False


@app.command()
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
    options = _given(ctx, settings, no_cache)
    printer = None if as_json else _Printer()
    try:
        answer = vctext.ask(video, question, on_text=printer, **options)
    finally:
        if printer:
            printer.end()
    if as_json:
        click.echo(
            json.dumps({"video": str(video), **answer.to_json()}, ensure_ascii=False, indent=2)
        )


@app.command()
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

    session = vctext.Chat(video, **_given(ctx, settings, no_cache))
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
    printer = _Printer()
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


@app.command()
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
    OUT.failures.jsonl; the exit code is non-zero only when nothing succeeded.
    """
    from vctext.instruct import generate
    from vctext.instruct_data import parse_prompt_overrides

    tasks = ("description", "conversation") if task == "both" else (task,)
    prompts = parse_prompt_overrides(list(prompt_files), tasks)
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
            **_given(ctx, settings, no_cache),
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
        _fail("nothing succeeded; see the failures above", 1)


@app.command("mcp")
@verbosity_options
@handle_errors
def mcp_server() -> None:
    """Serve describe / ask / search-in-video tools over MCP on stdin/stdout.

    For MCP clients to spawn (`"command": "vctext", "args": ["mcp"]`); logs go to stderr.
    Needs the integrations extra: pip install "vctext[integrations]".
    """
    from vctext.integrations.mcp_server import serve

    serve()


def main() -> None:
    try:
        code = app.main(prog_name="vctext", standalone_mode=False)
    except _NO_ARGS_IS_HELP as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors too: one line, like every other error
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(exc.format_message() + hint, exc.exit_code)
    except click.Abort:
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


#: click >= 8.2 raises this for a bare `vctext`; its message is the help text, shown as is.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


if __name__ == "__main__":
    main()
