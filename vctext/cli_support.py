"""What the `vctext` commands share: logging setup, one-line errors, options from the config
table, progress bars and streamed answers."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from vctext import config
from vctext.errors import PARTIAL_EXIT, InputError, VctextError

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


def fail(message: str, code: int = 1) -> None:
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
            fail(str(exc), exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors are reported by main()
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as other command-line tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except OSError as exc:
            if verbose:
                log.exception("details")
            if exc.filename:  # a file or folder we could not use: say which, and what the OS said
                fail(f"cannot use '{exc.filename}': {exc.strerror}; check the path", 1)
            fail(f"unexpected {type(exc).__name__}: {exc} (run with -v for details)", 1)
        except Exception as exc:  # noqa: BLE001 - last line of defence: never a bare traceback
            if verbose:
                log.exception("details")
            fail(f"unexpected {type(exc).__name__}: {exc} (run with -v for details)", 1)

    return wrapper


def effective_default(name: str):
    """The effective default (env > config file > built-in) for --help and for the option."""
    try:
        return config.effective(name)
    except VctextError:
        return config.SETTINGS[name].default  # the error is reported when the command runs


def setting_option(name: str, *decls: str, **kwargs):
    """The flag of setting ``name``: ``--NAME`` (or ``--ALIAS``) unless ``decls`` are given.

    ``multiple=True`` makes it repeatable: the values given are joined with commas, the
    setting's list form (``--backend a=b --backend c=d`` is ``backend = "a=b,c=d"``).
    """
    setting = config.SETTINGS[name]
    value = effective_default(name)
    kwargs.setdefault("help", setting.help)
    if kwargs.get("multiple"):
        kwargs["callback"] = lambda ctx, param, given: ",".join(given)
        if value:  # the effective default, as one value, not as the flag's list
            kwargs["help"] += f"  [default: {value}]"
        return click.option(
            *(decls or (f"--{name.replace('_', '-')}",)), name, default=(), **kwargs
        )
    if setting.choices:
        kwargs.setdefault("type", click.Choice(setting.choices))
    elif setting.type is not bool:
        kwargs.setdefault("type", setting.type)
    # The default shown (and used) is the effective one, so env and config file show in --help.
    return click.option(
        *(decls or (f"--{(setting.alias or name).replace('_', '-')}",)),
        name,
        default=value,
        show_default=value not in ("", None),
        **kwargs,
    )


def backend_option(func):
    """``--backend KIND=BACKEND[:MODEL]``, repeatable."""
    return setting_option("backend", multiple=True, metavar="KIND=BACKEND[:MODEL]")(func)


def prompt_option(func):
    """``--prompt KIND=TEXT|@FILE``, repeatable: a perceiver's prompt (see :func:`with_prompts`)."""
    return click.option(
        "--prompt",
        "prompt",
        multiple=True,
        metavar="KIND=TEXT|@FILE",
        help="Our prompt for a perceiver that prompts a model (caption, clip_caption, dense with "
        "the vlm or openai-vision backend) replaced by TEXT, or by the text of FILE; repeatable. "
        "Same as --tune KIND.prompt=TEXT, which cannot hold commas.",
    )(func)


def with_prompts(settings: dict) -> dict:
    """``settings`` with ``--prompt`` values moved into ``tune`` (as a mapping: a prompt may hold
    commas); the kinds are checked here, the parameters when the perceivers are built."""
    given = settings.pop("prompt", ())
    if not given:
        return settings
    from vctext.tune import parse_tune

    tune = parse_tune(settings["tune"] if "tune" in settings else config.effective("tune"))
    for value in given:
        kind, equals, text = value.partition("=")
        kind = kind.strip()
        if not equals or not kind or not text.strip():
            raise click.UsageError(f"--prompt '{value}' is not KIND=TEXT or KIND=@FILE")
        name, text = ("prompt_file", text[1:]) if text.startswith("@") else ("prompt", text)
        params = parse_tune({f"{kind}.{name}": text})[kind]  # an unknown kind is an error
        if tune.get(kind, {}).keys() & {"prompt", "prompt_file"}:
            raise click.UsageError(f"--prompt: {kind}'s prompt is given twice")
        tune.setdefault(kind, {}).update(params)
    return settings | {"tune": tune}


def usage_lines(doc) -> list[str]:
    """A line per perceiver that ran on a server: its requests, tokens and cost."""
    from vctext.instruct_data import cost, price_table

    prices = price_table(config.effective("llm_prices"))
    lines = []
    for run in doc.perceivers:
        if not run.usage:
            continue
        u = run.usage
        tokens = u["prompt_tokens"] + u["completion_tokens"]
        dollars = cost(run.model, u["prompt_tokens"], u["completion_tokens"], prices)
        price = f", about ${dollars:.4f}" if dollars is not None else ", cost unknown"
        lines.append(
            f"{run.kind} ({run.backend} {run.model}): {u['requests']} "
            f"request{'s' if u['requests'] != 1 else ''}, "
            f"{'~' if u['estimated'] else ''}{tokens} tokens ({u['prompt_tokens']} prompt + "
            f"{u['completion_tokens']} completion){price}"
        )
    return lines


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


class Bars:
    """tqdm bars with ETA on stderr, one per stage."""

    def __init__(self, label: str, enabled: bool):
        self.label, self.enabled, self.bars = label, enabled, {}

    def __call__(self, stage: str, done: float, total: float | None) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            unit = {"frames": "frame", "hashing": "MB"}.get(stage, "s")
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
        if stage == "hashing" and total and done >= total:  # done before the others start
            bar.close()
            del self.bars[stage]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def group_options(group: str):
    """A flag for each setting of ``group`` in the table's order; secrets have none."""

    def decorate(func):
        for name in reversed(config.group(group)):
            if not config.SETTINGS[name].secret:
                func = setting_option(name)(func)
        return func

    return decorate


# -- reasoning over the text: ask, chat, instruct -----------------------------------------------


def llm_options(func=None, *, perceiver_prompts: bool = True):
    """The LLM flags (backend, model, server, limits) and the perception flags a video needs
    (``--prompt`` among them unless ``perceiver_prompts`` is False: a command whose own
    ``--prompt`` means something else)."""
    if func is None:
        return functools.partial(llm_options, perceiver_prompts=perceiver_prompts)
    for name in ("vision_base_url", "device", "fps", "perceivers", "profile"):
        func = setting_option(name)(func)
    func = backend_option(func)
    if perceiver_prompts:
        func = prompt_option(func)
    func = group_options("llm")(func)
    return click.option(
        "--no-cache",
        is_flag=True,
        default=False,
        help="Neither read nor write the perception cache.",
    )(func)


def given_settings(ctx: click.Context, settings: dict, no_cache: bool) -> dict:
    """Only the settings given as flags: the rest resolve as env > config file > default.

    Every value in force is checked here, before the command opens a video.
    """
    config.file_values()  # a broken config file is an error, not silently ignored
    given = {
        k: v
        for k, v in settings.items()
        if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT
    }
    given = with_prompts(given)
    if no_cache:
        given["cache"] = False
    config.describe_options(**given)
    return given


def output_targets(videos: list[Path], output: Path | None, extension: str) -> list[Path | None]:
    """Where each video's result goes (None: stdout), each checked to be writable now."""
    from vctext.render import check_output

    if output is None:
        return [None] * len(videos)
    if len(videos) > 1 and not output.is_dir():
        raise InputError(f"with several videos, -o must be an existing folder (got '{output}')")
    targets = [output / (video.stem + extension) if output.is_dir() else output for video in videos]
    for target in targets:
        check_output(target)
    return targets


def batch_failed(failed: int, total: int, what: str, codes: Iterable[int] = ()) -> None:
    """End a run over several inputs when some failed: exit 4 (partial); all failed, exit 1.

    When every input failed with the same exit code (``codes``), that code is used.
    """
    if failed < total:
        message = f"{failed} of {total} {what} failed (see above); the output is incomplete"
        fail(message, PARTIAL_EXIT)
    distinct = set(codes)
    fail(f"all {total} {what} failed (see above)", distinct.pop() if len(distinct) == 1 else 1)


class Printer:
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


@contextmanager
def counts_bar(ctx: click.Context, progress: bool | None, desc: str) -> Iterator[Callable]:
    """A progress callback for a batch's counts (total, done, failed, skipped): a tqdm bar on
    stderr when ``progress`` says so (None: when stderr is a terminal), never with --quiet."""
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
                total=counts["total"], desc=desc, unit="item", file=sys.stderr, dynamic_ncols=True
            )
        bar.n = counts["done"] + counts["failed"] + counts["skipped"]
        bar.set_postfix(done=counts["done"], failed=counts["failed"], skipped=counts["skipped"])

    try:
        yield on_counts
    finally:
        if bar is not None:
            bar.close()


def token_summary(report) -> str:
    """ "N tokens (P prompt + C completion), about $X" of a batch report ("~N" where some
    calls' tokens had to be estimated)."""
    tokens = report.prompt_tokens + report.completion_tokens
    price = f", about ${report.cost:.4f}" if report.cost is not None else ", cost unknown"
    about = "~" if report.estimated else ""
    return (
        f"{about}{tokens} tokens ({report.prompt_tokens} prompt + {report.completion_tokens} "
        f"completion){price}"
    )
