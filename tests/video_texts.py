"""Videos' text without the videos, for LLM tests and benchmarks.

``short_video_text`` is a few ranges written by hand. ``long_video_text`` is made the way the
pipeline makes it (perceiving a 30-minute clip takes far too long on a test machine): what the
perceivers would return at 1 fps, i.e. a caption per frame that flickers between a shot's few
wordings (as real captioners do), scored tags, tracked objects with boxes, now and then text on
screen, and a spoken sentence every ``speech_every`` seconds. The same merge as the pipeline turns
them into ranges.
"""

from __future__ import annotations

import random

from vctext.document import VideoText
from vctext.merge import build_segments
from vctext.types import Observation, Segment, VideoInfo

#: What is said in the short clip, as the perception cache would hold it.
FERRY = "The ferry to the island leaves at seven thirty from gate four."


def short_video_text(
    *speech: tuple[float, float, str],
    caption: str = "a harbour with a boat",
    duration: float = 10.0,
) -> VideoText:
    """A small VideoText with a caption over the whole clip and the given speech."""
    info = VideoInfo(
        path="harbour.mp4", duration=duration, fps=25, width=320, height=240, has_audio=True
    )
    obs = [Observation(0, duration, "caption", "test", caption)]
    obs += [Observation(a, b, "asr", "test", text) for a, b, text in speech]
    segments = [Segment(a, b, {"caption": [caption], "asr": [text]}) for a, b, text in speech]
    return VideoText(info, obs, segments, end=duration)


_SHOTS = [
    ("a man standing in a kitchen", ["kitchen", "man", "stove", "cabinet", "counter", "pot"]),
    ("a woman sitting at a desk with a laptop", ["office", "desk", "laptop", "woman", "chair"]),
    ("a city street with cars and people", ["street", "car", "building", "crowd", "road"]),
    ("a dog running on the grass in a park", ["dog", "grass", "park", "tree", "ball"]),
    ("two people talking on a couch", ["living room", "couch", "lamp", "person", "pillow"]),
    ("a boat on the water near a pier", ["boat", "water", "pier", "harbor", "sky"]),
]
_VARIANTS = ["{c}", "{c} next to a window", "there is {c} in this picture", "{c} in the daytime"]
_OBJECTS = {
    "man": "person",
    "woman": "person",
    "car": "car",
    "dog": "dog",
    "boat": "boat",
    "laptop": "laptop",
    "couch": "couch",
    "person": "person",
}
_SUBJECTS = ["the ferry", "the meeting", "the recipe", "the train", "the parade", "the game"]
_VERBS = ["starts", "moves", "ends", "changes", "opens", "closes"]


def speech_line(i: int) -> str:
    """The ``i``-th spoken sentence: unique and easy to find again."""
    return (
        f"Number {i}: {_SUBJECTS[i % len(_SUBJECTS)]} {_VERBS[(i // 6) % len(_VERBS)]} "
        f"at gate {i + 1} in about {10 + i % 50} minutes, please remember that."
    )


def long_observations(
    minutes: float,
    fps: float = 1.0,
    speech_every: float = 20.0,
    shot_seconds: float = 12.0,
    seed: int = 0,
) -> list[Observation]:
    rng = random.Random(seed)
    duration = minutes * 60
    step = 1.0 / fps
    obs: list[Observation] = []
    n_frames = int(duration * fps)
    for k in range(n_frames):
        t = round(k * step, 3)
        shot = int(t // shot_seconds)
        caption, tags = _SHOTS[(shot * 7 + shot // 3) % len(_SHOTS)]
        variant = _VARIANTS[rng.randrange(3) if rng.random() < 0.5 else 0]
        obs.append(
            Observation(t, t, "caption", "test:captioner", variant.format(c=caption), score=0.9)
        )
        for j, tag in enumerate(tags + ["indoor" if shot % 2 else "outdoor", "photo", "color"]):
            obs.append(
                Observation(
                    t,
                    t,
                    "tags",
                    "test:tagger",
                    tag,
                    score=round(0.95 - 0.08 * j - rng.random() * 0.05, 3),
                )
            )
        for j, tag in enumerate(tags):
            if tag in _OBJECTS:
                x = 40 + (k % 20) * 3
                obs.append(
                    Observation(
                        t,
                        t,
                        "detect",
                        "test:detector",
                        _OBJECTS[tag],
                        score=0.8,
                        box=(x, 60 + j * 10, x + 120, 300),
                        track=shot * 10 + j,
                    )
                )
        if shot % 5 == 2 and k % 6 == 0:
            obs.append(Observation(t, t, "ocr", "test:ocr", f"EXIT {shot}", score=0.9))
    i = 0
    t = 2.0
    while t + 4 < duration:
        obs.append(
            Observation(
                t, t + 4.0, "asr", "test:asr", speech_line(i), score=0.9, extra={"language": "en"}
            )
        )
        i += 1
        t += speech_every
    return obs


def long_video_text(
    minutes: float, fps: float = 1.0, speech_every: float = 20.0, seed: int = 0
) -> VideoText:
    """A VideoText as `describe` would build it for a ``minutes``-long video."""
    duration = minutes * 60
    raw = long_observations(minutes, fps, speech_every, seed=seed)
    interval = 1.0 / fps
    raw = [o if o.end > o.start else o.replace(end=min(o.start + interval, duration)) for o in raw]
    collapsed, segments = build_segments(raw, interval, duration)
    info = VideoInfo(
        path=f"long-{minutes:g}min.mp4",
        duration=duration,
        fps=25.0,
        width=1280,
        height=720,
        has_audio=True,
    )
    return VideoText(video=info, observations=collapsed, segments=segments, end=duration)


def spoken(doc: VideoText) -> list[str]:
    return [o.text for o in doc.observations if o.kind == "asr"]
