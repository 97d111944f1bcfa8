"""The `vctext` command line: parses, calls the Python API, formats. No logic of its own.

stdout carries results only; progress and logs go to stderr. Errors are one line and a non-zero
exit code (the traceback only with -v).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path

import click

from vctext import __version__, config
from vctext.errors import VctextError

log = logging.getLogger("vctext")


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose else logging.WARNING)
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
        except KeyboardInterrupt:
            _fail("interrupted", 130)
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
    func = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_verbosity,
                        help="Only errors on stderr; no progress bars.")(func)
    return click.option("-v", "--verbose", count=True, expose_value=False, callback=_verbosity,
                        help="More logging on stderr (-vv for debug).")(func)


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
                total=round(total, 1) if total else None, desc=f"{self.label} {stage}",
                unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True,
            )
        bar.n = round(min(done, total) if total else done, 1)
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


_EXTENSIONS = {"text": ".txt", "json": ".json", "md": ".md", "srt": ".srt", "vtt": ".vtt"}


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
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write here instead of stdout (a folder when several videos are given).")
@setting_option("template")
@click.option("--no-cache", is_flag=True, default=False,
              help="Neither read nor write the perception cache.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars on stderr  [default: when stderr is a terminal]")
@verbosity_options
@click.pass_context
@handle_errors
def describe(ctx, videos, output, start, end, no_cache, progress, format, template, **settings):
    """Describe VIDEO(s) as timestamped text (captions, tags, objects, on-screen text, speech)."""
    import vctext
    from vctext.render import render, write_atomic

    config.file_values()  # a broken config file is an error, not silently ignored
    fmt = format
    template = template or None
    if template and fmt not in ("text", "md"):
        raise click.UsageError("--template works with --format text or md")
    if len(videos) > 1 and output is not None and not output.is_dir():
        _fail(f"with several videos, -o must be an existing folder (got '{output}')", 2)
    if no_cache:
        settings["cache"] = False
    quiet = ctx.find_root().ensure_object(dict).get("quiet", False)
    show = (not quiet) and (progress if progress is not None else sys.stderr.isatty())
    failures = 0
    for path in videos:
        bars = _Bars(path.name, show)
        try:
            doc = vctext.describe(path, start=start, end=end, progress=bars, **settings)
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
    click.echo(f"entries: {info['entries']}" + (
        " (" + ", ".join(f"{k} {v}" for k, v in sorted(info["kinds"].items())) + ")"
        if info["kinds"] else ""))
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
@click.option("--profile", type=click.Choice(["standard", "offline", "all"]), default="all",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def models_list(profile: str, as_json: bool) -> None:
    """Every model vctext knows, its source, size and whether it is on this machine."""
    from vctext.models import is_on_disk, profile_models

    specs = profile_models(None if profile == "all" else profile)
    rows = [
        {"kind": s.kind, "backend": s.backend, "model": s.name, "profiles": list(s.profiles),
         "source": s.source, "size_mb": s.size_mb, "license": s.license,
         "installed": is_on_disk(s), "note": s.note}
        for s in specs
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'kind':<7} {'backend':<15} {'model':<14} {'profiles':<9} {'MB':>6}  "
               f"{'installed':<9}  source")
    for r in rows:
        click.echo(f"{r['kind']:<7} {r['backend']:<15} {r['model']:<14} "
                   f"{','.join(r['profiles']) or '-':<9} {r['size_mb']:>6.0f}  "
                   f"{'yes' if r['installed'] else 'no':<9}  {r['source']}")


@models.command("pull")
@click.option("--profile", type=click.Choice(["standard", "offline"]), default="standard",
              show_default=True)
@click.option("--to", "to", type=click.Path(file_okay=False), default=None,
              help="Download into this folder instead of the normal caches.")
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
@click.option("--profile", type=click.Choice(["standard", "offline"]), default="offline",
              show_default=True)
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
    import os

    click.echo(f"# config file: {config.config_path()}")
    file_values = config.file_values()
    for name, setting in config.SETTINGS.items():
        if setting.env in os.environ:
            origin = setting.env
        elif name in file_values:
            origin = "config file"
        else:
            origin = "default"
        click.echo(f"{name} = {config.effective(name)!r}  # {origin}")


def main() -> None:
    app(prog_name="vctext")


if __name__ == "__main__":
    main()
