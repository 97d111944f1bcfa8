"""The Python API's ``describe``: keyword settings, resolved like the command line's flags.

``vctext.describe`` is this function; the modules that need a video's text (reasoning, instruct,
the integrations) import it from here rather than from the top-level package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vctext import config
from vctext.document import VideoText
from vctext.errors import InputError


def saved_document(path: str | os.PathLike) -> VideoText | None:
    """The document in ``path`` when it is a saved vctext JSON (``describe -f json -o``,
    ``watch --save``): ``ask``, ``chat`` and ``search`` read it as they read a video. None for
    anything else (a video)."""
    p = Path(path)
    if p.suffix.lower() != ".json" or not p.is_file():
        return None
    import json

    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return VideoText.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"'{p}' is not a vctext JSON document ({exc}); describe a video") from None


def describe(
    path: str | os.PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    progress: Any = None,
    **options: Any,
) -> VideoText:
    """Describe a video as timestamped text.

    Args:
        path: video or audio file.
        start: first second to describe (times in the result stay absolute).
        end: last second to describe.
        progress: optional ``callable(stage, done, total)``.
        **options: any setting of ``vctext.config.SETTINGS`` (profile, fps, perceivers, device,
            language, scene_threshold, max_side, batch_size, load_in_turn, cache, ...), same
            defaults as the CLI. ``tune`` takes the CLI's ``"ocr.det_side=480,..."`` or a
            mapping such as ``{"ocr": {"det_side": 480}}``.

    Returns:
        The :class:`VideoText`; ``.render()``, ``.to_json()``, ``.segments``, ``.observations``.
    """
    saved = saved_document(path)
    if saved is not None:
        return saved
    from vctext.pipeline import describe as run  # the perception stack, imported on first use

    render_only = config.group("render")
    opts = config.describe_options(
        start=start, end=end, **{k: v for k, v in options.items() if k not in render_only}
    )
    return run(path, opts, progress=progress)
