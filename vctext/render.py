"""Render a VideoText: Jinja2 templates for text/Markdown, writers for JSON, SRT and WebVTT.

Text that came out of the video is only ever passed to templates as data, so braces in speech or
on-screen text are printed, never evaluated.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from vctext import kinds
from vctext.blocks import blocks
from vctext.errors import InputError, VctextError
from vctext.timestamps import format_time

if TYPE_CHECKING:
    from vctext.document import VideoText

FORMATS = ("text", "json", "md", "srt", "vtt", "html")
_BUILTIN = {"text": "default.txt.j2", "md": "markdown.md.j2"}


def _quote(text: str) -> str:
    return '"' + " ".join(str(text).split()).replace('"', '\\"') + '"'


def _md(text: str) -> str:
    """Escape Markdown so text from the video cannot become links, HTML or emphasis."""
    out = str(text)
    for ch in "\\`*_{}[]<>()#|!":
        out = out.replace(ch, "\\" + ch)
    return out


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    env = SandboxedEnvironment(
        loader=loader,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["ts"] = format_time
    env.filters["quote"] = _quote
    env.filters["md"] = _md
    return env


def _context(doc: VideoText) -> dict:
    width, height = doc.video.display_size
    return {
        "doc": doc,
        "video": doc.video,
        "name": doc.name,
        "width": width,
        "height": height,
        "segments": doc.segments,
        "blocks": blocks(doc.segments, doc.observations),
        "kinds": dict(kinds.KINDS),
        "notes": doc.notes,
        "language": doc.language,
        "top_tags": doc.top_tags,
        "summary": doc.summary,
        "clip_start": doc.start,
        "clip_end": doc.range_end,
        "is_range": doc.is_range,
        "length": doc.video.duration,
    }


def load_template(template: str | os.PathLike) -> jinja2.Template:
    """A user's template file, compiled; one-line errors for a missing, unreadable, non-UTF-8 or
    broken one (``--template`` is checked with this before any perception)."""
    path = Path(template).expanduser()
    if not path.is_file():
        raise InputError(f"template not found: '{path}' (pass a Jinja2 template file)")
    try:
        return _environment(jinja2.FileSystemLoader(str(path.parent))).get_template(path.name)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"template '{path}' is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc
    except OSError as exc:
        raise InputError(f"cannot read template '{path}': {exc.strerror}") from exc
    except jinja2.TemplateError as exc:
        raise InputError(f"template '{path}' failed: {exc}") from exc


def render_template(doc: VideoText, template: str | Path | None = None, fmt: str = "text") -> str:
    """Render with a built-in template (by format) or a user's template file."""
    if template:
        compiled = load_template(template)
    else:
        env = _environment(jinja2.FileSystemLoader(str(resources.files("vctext.templates"))))
        compiled = env.get_template(_BUILTIN[fmt])
    try:
        return compiled.render(**_context(doc))
    except jinja2.TemplateError as exc:
        where = f"template '{template}'" if template else f"built-in template {_BUILTIN[fmt]}"
        raise InputError(f"{where} failed: {exc}") from exc


def _cues(doc: VideoText) -> list[tuple[float, float, str]]:
    """Subtitle cues: speech; with no speech, each range's best-ranked kind's first items."""
    own = {s.name for s in kinds.KINDS.values() if s.cue_rank == 0}
    speech = [(o.start, o.end, o.text) for o in doc.observations if o.kind in own]
    if speech:
        return speech
    ranked = [s for s in kinds.KINDS.values() if s.cue_rank]
    ranked.sort(key=lambda s: s.cue_rank)
    cues = []
    for seg in doc.segments:
        for spec in ranked:
            if seg.items.get(spec.name):
                first = seg.items[spec.name][:3]
                cues.append((seg.start, seg.end, "; ".join(item.line() for item in first)))
                break
    return cues


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(doc: VideoText) -> str:
    blocks = []
    for i, (start, end, text) in enumerate(_cues(doc), 1):
        end = max(end, start + 0.001)
        blocks.append(f"{i}\n{_stamp(start, ',')} --> {_stamp(end, ',')}\n{_one_line(text)}\n")
    return "\n".join(blocks)


def to_vtt(doc: VideoText) -> str:
    blocks = ["WEBVTT\n"]
    for start, end, text in _cues(doc):
        end = max(end, start + 0.001)
        safe = _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        blocks.append(f"{_stamp(start, '.')} --> {_stamp(end, '.')}\n{safe}\n")
    return "\n".join(blocks)


def _one_line(text: str) -> str:
    # A blank line or "-->" inside a cue would end it early.
    return " ".join(text.split()).replace("-->", "->")


def render(doc: VideoText, format: str = "text", template: str | Path | None = None) -> str:
    if format not in FORMATS:
        raise InputError(f"unknown format '{format}'; choose from: {', '.join(FORMATS)}")
    if format == "json":
        return json.dumps(doc.to_json(), ensure_ascii=False, indent=2) + "\n"
    if format == "srt":
        return to_srt(doc)
    if format == "vtt":
        return to_vtt(doc)
    if format == "html":
        from vctext.report import render_html

        return render_html(doc)
    return render_template(doc, template, format)


def check_output(path: str | os.PathLike) -> Path:
    """The file that writing ``path`` replaces (a symlink's target), if it can be written.

    Raises InputError naming the problem and the fix: a folder given, a folder missing, a file
    where a folder should be, or a folder this user may not write to.
    """
    given = Path(path).expanduser()
    if given.exists() and not (given.is_file() or given.is_dir()):
        return given  # a device or a pipe (/dev/null, /dev/stdout, a FIFO): never replaced
    target = Path(os.path.realpath(given)) if given.is_symlink() else given
    if target.is_dir():
        raise InputError(f"output path '{given}' is a directory; give a file name")
    folder = target.parent
    if not folder.exists():
        raise InputError(f"output folder '{folder}' does not exist; create it first")
    if not folder.is_dir():
        raise InputError(
            f"output folder '{folder}' is a file, not a folder; give a path in an existing folder"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(
            f"cannot write to folder '{folder}': permission denied; choose another output path"
        )
    return target


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder, then rename.

    A symlink is written through: its target is replaced and the link stays. The file keeps the
    mode an existing one had, else gets the one the umask gives new files. A device or a pipe
    (``/dev/stdout``) is written into as it is.
    """
    target = check_output(path)
    tmp = None
    try:
        if target.exists() and not target.is_file():
            with open(target, "w", encoding="utf-8") as f:
                f.write(text)
            return
        mode = _new_file_mode(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.chmod(tmp, mode)  # mkstemp makes it 0600 whatever the umask says
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:  # disk full, read-only file system, ...
        reason = exc.strerror or str(exc)
        raise VctextError(f"cannot write '{path}': {reason}; choose another output path") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _new_file_mode(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
        os.umask(mask)
        return 0o666 & ~mask
