"""Keep third-party libraries' chatter off stdout, which carries vctext's results only.

Libraries talk on first use: ultralytics announces the settings file it creates and logs through
a handler bound to stdout (its download bars default to stdout too); C extensions may ``printf``.
vctext imports and loads them inside :func:`stdout_to_stderr`, so none of it lands between a
user's pipe and the results, on a fresh machine or a used one.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import TextIO

# sys.stdout and file descriptor 1 are process-wide: the first block to start diverts them and
# the last to end restores them, so overlapping blocks in several threads cannot leave them wrong.
_lock = threading.Lock()
_depth = 0
_restore: tuple[TextIO, tuple[int, int] | None] | None = None


def _flush() -> None:
    for stream in (sys.stdout, sys.__stdout__, sys.stderr, sys.__stderr__):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()


def _divert_descriptor() -> tuple[int, int] | None:
    """Point file descriptor 1 at stderr; (fd, saved copy) to restore it, None if impossible."""
    try:
        out, err = sys.__stdout__.fileno(), sys.__stderr__.fileno()
    except (AttributeError, OSError, ValueError):  # no real stdout (embedded, pythonw)
        return None
    _flush()
    saved = os.dup(out)
    os.dup2(err, out)
    return out, saved


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While the block runs, what anything writes to stdout (Python or C level) goes to stderr.

    Meant for imports and model loads, which come before any result is written.
    """
    global _depth, _restore
    with _lock:
        if _depth == 0:
            _restore = (sys.stdout, _divert_descriptor())
            sys.stdout = sys.stderr
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _restore is not None:
                _flush()  # what a library left in a stdout buffer belongs to stderr too
                stdout, diverted = _restore
                sys.stdout, _restore = stdout, None
                if diverted is not None:
                    fd, saved = diverted
                    os.dup2(saved, fd)
                    os.close(saved)


def logs_off_stdout(library: str) -> None:
    """Move the log handlers ``library`` bound to stdout (ultralytics does) over to stderr."""
    real = _restore[0] if _restore is not None else sys.stdout  # inside a block: the one before
    outs = {id(s) for s in (real, sys.__stdout__) if s is not None}
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger):  # a placeholder: no handlers of its own
            continue
        if name != library and not name.startswith(library + "."):
            continue
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and id(handler.stream) in outs:
                handler.setStream(sys.stderr)


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


@contextlib.contextmanager
def _no_network_on_import(library: str) -> Iterator[None]:
    """ultralytics probes DNS when first imported and, seeing a network, sends usage events and
    may pip-upgrade packages; imported with YOLO_OFFLINE it does none of that. The variable is set
    for the import only: a download vctext asks for later checks the network afresh."""
    if library != "ultralytics" or "ultralytics" in sys.modules or "YOLO_OFFLINE" in os.environ:
        yield
        return
    os.environ["YOLO_OFFLINE"] = "1"
    try:
        yield
    finally:
        os.environ.pop("YOLO_OFFLINE", None)


def import_quietly(name: str) -> ModuleType:
    """Import a third-party module: its import-time notices dropped, anything else to stderr.

    A notice such as ultralytics' "Creating new Ultralytics Settings file" on a machine's first
    import is no news to a vctext user; warnings and errors still reach stderr.
    """
    library = logging.getLogger(name.partition(".")[0])
    # A filter on the logger object outlives the handlers a library replaces while importing.
    library.addFilter(_warnings_only)
    try:
        with stdout_to_stderr(), _no_network_on_import(library.name):
            module = importlib.import_module(name)
    finally:
        library.removeFilter(_warnings_only)
    logs_off_stdout(library.name)
    return module
