"""The merged document: what a video's perception turned into, ready to render or send to an LLM."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vctext.merge import top_tags
from vctext.types import Observation, Segment, VideoInfo

SCHEMA = "vctext/1"


@dataclass(frozen=True)
class PerceiverRun:
    """Which backend and model produced one kind of observation, and whether it came from cache."""

    kind: str
    backend: str
    model: str
    cached: bool
    seconds: float = 0.0
    #: Requests and tokens of a backend that runs on a server (None for the others):
    #: requests, prompt_tokens, completion_tokens, estimated (the server did not say).
    usage: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "kind": self.kind,
            "backend": self.backend,
            "model": self.model,
            "cached": self.cached,
            "seconds": round(self.seconds, 3),
        }
        if self.usage is not None:
            out["usage"] = dict(self.usage)
        return out


@dataclass(frozen=True)
class VideoText:
    """A video as timestamped text: observations, merged segments and video-level facts."""

    video: VideoInfo
    observations: list[Observation]
    segments: list[Segment]
    start: float = 0.0
    end: float | None = None
    perceivers: list[PerceiverRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: str | None = None
    #: Set when the file could not be read whole: ``reason`` (ffmpeg's first error line),
    #: ``errors``, ``covered`` and ``requested`` ([start, end] seconds). None when complete.
    incomplete: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return Path(self.video.path).name

    @property
    def range_end(self) -> float:
        """Where the described part ends: ``end`` (never past the video's end), else the end."""
        length = self.video.duration
        if self.end is None:
            return length
        return min(self.end, length) if length > 0 else self.end

    @property
    def is_range(self) -> bool:
        """True when only part of the video was described (``--start``/``--end``)."""
        return self.start > 0.01 or self.range_end < self.video.duration - 0.01

    @property
    def language(self) -> str | None:
        """Spoken language the speech recognizer detected, if there was speech."""
        for o in self.observations:
            if o.kind == "asr" and o.extra.get("language"):
                return str(o.extra["language"])
        return None

    @property
    def top_tags(self) -> list[str]:
        return top_tags(self.observations)

    def kinds(self) -> set[str]:
        return {o.kind for o in self.observations}

    def to_json(self) -> dict[str, Any]:
        """The versioned JSON contract (``schema: vctext/1``)."""
        return {
            "schema": SCHEMA,
            "video": self.video.to_json(),
            "range": {
                "start": round(self.start, 3),
                "end": None if self.end is None else round(self.end, 3),
            },
            "language": self.language,
            "perceivers": [p.to_json() for p in self.perceivers],
            "notes": list(self.notes),
            "observations": [o.to_json() for o in self.observations],
            "segments": [s.to_json() for s in self.segments],
            "summary": self.summary,
            "incomplete": self.incomplete,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoText:
        """A document saved with :meth:`to_json` (``describe -f json``, ``watch --save``).

        Its segments come back as their text lines (what every layout and the LLM read).
        """
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError(f"not a vctext document (schema {SCHEMA})")
        v = data["video"]
        info = VideoInfo(
            path=v["path"],
            duration=float(v.get("duration") or 0.0),
            fps=float(v.get("fps") or 0.0),
            width=int(v.get("width") or 0),
            height=int(v.get("height") or 0),
            has_video=bool(v.get("has_video", True)),
            has_audio=bool(v.get("has_audio", False)),
            sha256=v.get("sha256"),
        )
        span = data.get("range") or {}
        return cls(
            video=info,
            observations=[Observation.from_json(o) for o in data.get("observations", [])],
            segments=[
                Segment(float(s["start"]), float(s["end"]), dict(s.get("lines") or {}))
                for s in data.get("segments", [])
            ],
            start=float(span.get("start") or 0.0),
            end=None if span.get("end") is None else float(span["end"]),
            perceivers=[
                PerceiverRun(
                    p["kind"],
                    p["backend"],
                    p["model"],
                    bool(p.get("cached")),
                    float(p.get("seconds") or 0.0),
                    p.get("usage"),
                )
                for p in data.get("perceivers", [])
            ],
            notes=list(data.get("notes") or []),
            summary=data.get("summary"),
            incomplete=data.get("incomplete"),
        )

    def render(self, template: str | Path | None = None, format: str = "text") -> str:
        """Render as text (default layout), ``md``, ``json``, ``srt`` or ``vtt``, or a template."""
        from vctext.render import render

        return render(self, format=format, template=template)
