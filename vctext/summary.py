"""The video's summary without an LLM: a few sentences a person could have written from the
observations, strongest evidence first.

What people do (``action``) leads, then the description of the longest clip a vision-language
model described (``clip_caption``), a captioning model's longest-shown caption, what is
said (the first words of the speech), what is written on screen, and last what is seen (the
detected objects and the tags that held). Every word comes from an observation; a video with
none of these has no summary. ``--narrate`` replaces it with an LLM's narrative.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from vctext.perception.composed_caption import listing, plural
from vctext.types import Observation

#: Words of speech quoted in the summary; longer speech is cut with an ellipsis.
SPEECH_WORDS = 24
#: An object is named only when the detector was this sure of it at least once: on real
#: footage, lone boxes under 0.5 were the wrong ones (a second "person" on a cameraman's hands).
SURE_OBJECT = 0.5
#: Tag words that take no article ("clothing", not "a clothing").
_MASS = {"clothing", "food", "furniture", "electronics", "sports gear", "tableware", "landscape"}
#: Tag words said by a COCO object already named: "a car" makes "vehicle" say nothing more.
_COVERED = {
    "vehicle": {"car", "bus", "truck", "bicycle", "motorcycle", "train", "boat", "airplane"},
    "animal": {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra"},
    "person": {"person"},
}


def _shown(observations: list[Observation], kind: str) -> dict[str, float]:
    """Seconds each distinct text of ``kind`` is shown (an instant counts a little)."""
    seconds: dict[str, float] = defaultdict(float)
    for o in observations:
        if o.kind == kind:
            seconds[o.text] += max(o.end - o.start, 0.0) + 1e-3
    return seconds


def _first_seen(observations: list[Observation], kind: str) -> dict[str, float]:
    first: dict[str, float] = {}
    for o in sorted(observations, key=lambda o: o.start):
        if o.kind == kind:
            first.setdefault(o.text, o.start)
    return first


def _longest(observations: list[Observation], kind: str, most: int) -> tuple[list[str], int]:
    """The ``most`` texts of ``kind`` shown longest, in the order they first appear, and how
    many texts there are in all."""
    shown = _shown(observations, kind)
    first = _first_seen(observations, kind)
    kept = sorted(sorted(shown, key=lambda t: -shown[t])[:most], key=first.__getitem__)
    return kept, len(shown)


def _activity(observations: list[Observation], most: int = 3) -> str:
    """'Someone riding mountain bike, then skateboarding.' The labels shown longest, in order."""
    kept, _ = _longest(observations, "action", most)
    if not kept:
        return ""
    text = ", then ".join(kept)
    lead = "Someone " if kept[0].split()[0].endswith("ing") else "Activity: "
    return f"{lead}{text}."


def _caption(observations: list[Observation]) -> str:
    """A captioning model's longest-shown caption (composed captions only repeat the objects)."""
    model = [o for o in observations if not o.source.startswith("composed:")]
    shown = _shown(model, "caption")
    if not shown:
        return ""
    best = max(shown, key=lambda t: shown[t])
    return f"Mostly {best}."


def _clip(observations: list[Observation]) -> str:
    """The description of the longest clip, as a sentence of its own (the first on a tie)."""
    clips = [o for o in observations if o.kind == "clip_caption" and o.text.strip()]
    if not clips:
        return ""
    best = max(sorted(clips, key=lambda o: o.start), key=lambda o: o.end - o.start)
    text = best.text.strip()
    return text if text[-1] in ".!?" else f"{text}."


def _speech(observations: list[Observation]) -> str:
    lines = [o.text.strip() for o in sorted(observations, key=lambda o: o.start) if o.kind == "asr"]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    words = " ".join(lines).split()
    quoted = " ".join(words[:SPEECH_WORDS]) + (" ..." if len(words) > SPEECH_WORDS else "")
    return f'Speech: "{quoted}"'


def _on_screen(observations: list[Observation], most: int = 3) -> str:
    kept, total = _longest(observations, "ocr", most)
    if not kept:
        return ""
    more = total - len(kept)
    tail = f" and {more} more" if more else ""
    return "On screen: " + ", ".join(f'"{t}"' for t in kept) + f"{tail}."


def _seen(observations: list[Observation], most: int = 5) -> str:
    """'Seen: 2 people, a car and a bicycle.' Sure objects (tracks counted), then the tags."""
    detections = [o for o in observations if o.kind == "detect"]
    sure_tracks = {o.track for o in detections if (o.score or 0.0) >= SURE_OBJECT}
    sure = [
        o
        for o in detections
        if (o.score or 0.0) >= SURE_OBJECT or (o.track is not None and o.track in sure_tracks)
    ]
    tracks: dict[str, set] = defaultdict(set)
    per_frame: dict[str, Counter] = defaultdict(Counter)
    for o in sure:
        if o.track is not None:
            tracks[o.text].add(o.track)
        per_frame[o.text][o.start] += 1
    counts = {label: len(tracks[label]) or max(per_frame[label].values()) for label in per_frame}
    shown = _shown(sure, "detect")
    items = [plural(label, counts[label]) for label in sorted(shown, key=lambda t: -shown[t])]
    named = set(counts)
    tags = _shown(observations, "tags")
    for word in sorted(tags, key=lambda t: -tags[t]):
        if word in named or _COVERED.get(word, set()) & named:
            continue
        items.append(word if word in _MASS else plural(word, 1))
        named.add(word)
    items = items[:most]
    return f"Seen: {listing(items)}." if items else ""


def extractive_summary(observations: list[Observation]) -> str | None:
    """The summary: activity, clip, caption, speech, text on screen, what is seen (None: empty)."""
    parts = [
        _activity(observations),
        _clip(observations),
        _caption(observations),
        _speech(observations),
        _on_screen(observations),
        _seen(observations),
    ]
    text = " ".join(p for p in parts if p)
    return text or None
