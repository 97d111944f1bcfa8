"""A self-contained HTML report: key-frame thumbnails on a timeline, with what was seen and heard.

One file, no server, no network: thumbnails are small JPEGs inlined as base64 data URIs, styles
are inline, there is no script. Text from the video is data: the template escapes all of it.
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import jinja2
import numpy as np
from jinja2.sandbox import SandboxedEnvironment

from vctext import kinds
from vctext.errors import InputError, VctextError
from vctext.timestamps import format_time
from vctext.types import Observation, Segment

if TYPE_CHECKING:
    from vctext.document import VideoText

log = logging.getLogger(__name__)

#: At most this many thumbnails, however long the video (ranges in between share one).
MAX_THUMBNAILS = 60
#: Longest side of a thumbnail, pixels.
THUMB_SIDE = 320
#: Region boxes drawn on one thumbnail, at most.
MAX_BOXES = 12


@dataclass(frozen=True)
class Box:
    """A region drawn over a thumbnail, in source pixels (the SVG's viewBox is the source size)."""

    x: int
    y: int
    w: int
    h: int
    label: str
    kind: str


@dataclass(frozen=True)
class Card:
    """One time range of the report."""

    index: int
    segment: Segment
    thumbnail: str | None  # data URI
    thumb_time: float | None
    boxes: list[Box]
    left: float  # position on the timeline, percent
    width: float


def _encode_jpeg(image: np.ndarray, quality: int = 80) -> str:
    try:
        from PIL import Image
    except ImportError:
        data = _encode_jpeg_cv2(image, quality)
    else:
        out = io.BytesIO()
        Image.fromarray(image).save(out, format="JPEG", quality=quality, optimize=True)
        data = out.getvalue()
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def _encode_jpeg_cv2(image: np.ndarray, quality: int) -> bytes:
    try:
        import cv2
    except ImportError as exc:
        raise VctextError(
            "the HTML report needs Pillow (or OpenCV) to make thumbnails: "
            "pip install 'vctext[report]'"
        ) from exc
    ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise VctextError("could not encode a thumbnail as JPEG")
    return buf.tobytes()


def thumbnail_times(doc: VideoText, limit: int = MAX_THUMBNAILS) -> list[float]:
    """When to take each thumbnail: each range's start, evenly thinned to ``limit``."""
    times = [seg.start for seg in doc.segments]
    if len(times) > limit:
        step = len(times) / limit
        times = [times[int(i * step)] for i in range(limit)]
    return times


def grab_thumbnails(
    doc: VideoText, times: list[float], side: int = THUMB_SIDE
) -> dict[float, tuple[float, str]]:
    """Thumbnails (taken time, data URI) for each wanted time, from one ffmpeg pass."""
    from vctext.video import iter_frames

    if not times or not doc.video.has_video:
        return {}
    start = doc.start
    end = doc.end if doc.end is not None else doc.video.duration
    span = max(end - start, 0.1)
    # Twice as many samples as thumbnails, so each lies near its range's start; at most 2 fps.
    fps = min(2.0, max(2.0 * len(times) / span, 1.0 / span))
    wanted = sorted(set(times))
    best: dict[float, tuple[float, np.ndarray]] = {}
    try:
        for frame in iter_frames(doc.video, fps=fps, start=start, end=end, max_side=side):
            for t in wanted:
                held = best.get(t)
                # Prefer frames at or just after the range's start: before it is another shot.
                score = abs(frame.time - t) + (0.5 / fps if frame.time < t - 1e-3 else 0.0)
                if held is None or score < held[0]:
                    best[t] = (score, frame)
    except InputError as exc:
        log.warning("no thumbnails for the report: %s", exc)
        return {}
    return {t: (fr.time, _encode_jpeg(fr.image)) for t, (_, fr) in best.items()}


def boxes_for(doc: VideoText, seg: Segment, at: float, limit: int = MAX_BOXES) -> list[Box]:
    """Boxes of the range, one per object (track or label), the one seen closest to ``at``."""
    chosen: dict[tuple, Observation] = {}
    for o in doc.observations:
        if o.box is None or not kinds.spec(o.kind).boxed:
            continue
        # Overlaps the range; a box ending where the range starts belongs to the range before.
        if o.start >= seg.end or max(o.end, o.start + 1e-6) <= seg.start:
            continue
        key = (o.kind, o.track if o.track is not None else o.text)
        held = chosen.get(key)
        if held is None or _distance(o, at) < _distance(held, at):
            chosen[key] = o
    picked = sorted(chosen.values(), key=lambda o: (_distance(o, at), -(o.score or 0)))[:limit]
    out = []
    for o in picked:
        x1, y1, x2, y2 = (int(v) for v in o.box)
        label = o.text if o.track is None else f"{o.text} #{o.track}"
        out.append(Box(x1, y1, max(x2 - x1, 1), max(y2 - y1, 1), label, o.kind))
    return out


def _distance(o: Observation, t: float) -> float:
    if o.start <= t <= o.end:
        return 0.0
    return min(abs(o.start - t), abs(o.end - t))


def build_cards(doc: VideoText, thumbnails: dict[float, tuple[float, str]]) -> list[Card]:
    start = doc.start
    end = doc.end if doc.end is not None else doc.video.duration
    span = max(end - start, 1e-6)
    cards = []
    current: tuple[float, str] | None = None
    for i, seg in enumerate(doc.segments):
        if seg.start in thumbnails:
            current = thumbnails[seg.start]
        thumb_time, uri = current if current else (None, None)
        at = thumb_time if thumb_time is not None else seg.start
        left = min(max((seg.start - start) / span * 100, 0.0), 100.0)
        width = min(max((seg.end - seg.start) / span * 100, 0.4), 100.0 - left)
        cards.append(Card(i, seg, uri, thumb_time, boxes_for(doc, seg, at), left, width))
    return cards


def _environment() -> jinja2.Environment:
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(resources.files("vctext.templates"))),
        autoescape=True,  # everything from the video is data
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["ts"] = format_time
    return env


def render_html(
    doc: VideoText, thumbnails: bool = True, max_thumbnails: int = MAX_THUMBNAILS
) -> str:
    """The report as one self-contained HTML page.

    Args:
        doc: the described video.
        thumbnails: take key-frame thumbnails from the video file (needs the file and ffmpeg).
        max_thumbnails: cap on thumbnails; long videos share one among neighbouring ranges.

    Returns:
        The HTML text (write it with :func:`vctext.render.write_atomic`).
    """
    thumbs = {}
    if thumbnails and doc.video.has_video and doc.segments:
        thumbs = grab_thumbnails(doc, thumbnail_times(doc, max_thumbnails))
    width, height = doc.video.display_size
    template = _environment().get_template("report.html.j2")
    return template.render(
        doc=doc,
        video=doc.video,
        name=doc.name,
        width=width or 1,
        height=height or 1,
        clip_start=doc.start,
        clip_end=doc.range_end,
        is_range=doc.is_range,
        length=doc.video.duration,
        cards=build_cards(doc, thumbs),
        kinds=dict(kinds.KINDS),
        top_tags=doc.top_tags,
        language=doc.language,
        summary=doc.summary,
        notes=doc.notes,
        perceivers=doc.perceivers,
    )
