"""A plain caption written from what the other perceivers saw, for when no captioner is installed.

No captioner weights ship on PyPI, so the offline profile composes a line per sampled frame that
puts what people do there (the action model's label, when a clip around the frame has one) first,
then the frame's scene (its top tag) and its objects: "a person riding mountain bike, with a car",
"a streetcar with a person, 2 cars and a bicycle". Every word comes from an observation: nothing
is guessed, and ``source`` ("composed:...") says the line was written, not seen by a captioning
model.

A range shows its tags, objects and on-screen text on lines of their own, so a caption that would
only repeat one of them (just the scene, just the objects, the text on screen) is not written.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from vctext.perception.base import ModelSpec, ObservationsPerceiver
from vctext.types import Observation

#: Kinds read at each sampled frame; ``action`` (clips) is read where it covers the frame.
READS = ("tags", "detect")
ACTION = "action"
_PLURALS = {
    "person": "people",
    "mouse": "mice",
    "knife": "knives",
    "skis": "skis",
    "sheep": "sheep",
    "scissors": "scissors",
}


def plural(label: str, count: int) -> str:
    """'a car', '2 cars', '3 people': English enough for COCO and ImageNet labels."""
    if count == 1:
        return f"{'an' if label[:1].lower() in 'aeiou' else 'a'} {label}"
    head, _, last = label.rpartition(" ")
    if last in _PLURALS:
        many = _PLURALS[last]
    elif last.endswith(("s", "x", "ch", "sh")):
        many = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        many = last[:-1] + "ies"
    else:
        many = last + "s"
    return f"{count} {head + ' ' if head else ''}{many}"


def listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def sentence(
    tags: list[str], objects: Counter, max_objects: int = 5, action: str | None = None
) -> str:
    """One frame's caption: what people do, else its scene, with the objects in it; empty when
    it would say no more than the range's action, tags or objects line does on its own."""
    named = [plural(label, n) for label, n in objects.most_common(max_objects)]
    if action:
        people = objects.get("person", 0)
        if people and action.split()[0].endswith("ing"):  # "2 people riding mountain bike"
            others = [plural(k, n) for k, n in objects.most_common(max_objects) if k != "person"]
            head = f"{plural('person', people)} {action}"
            return head + (f", with {listing(others)}" if others else "")
        return f"{action}, with {listing(named)}" if named else ""
    # A tag that repeats a detected object adds nothing: "a car with a car".
    scene = next((t for t in tags if t.lower() not in {k.lower() for k in objects}), None)
    if not (scene and named):
        return ""
    return f"{plural(scene, 1)} with {listing(named)}"


def compose(observations: list[Observation], source: str) -> list[Observation]:
    """A caption at every frame time with a scene and objects (instants, like the inputs)."""
    frames: dict[float, dict[str, list[Observation]]] = defaultdict(lambda: defaultdict(list))
    for o in observations:
        if o.kind in READS and o.end <= o.start:
            frames[o.start][o.kind].append(o)
    actions = sorted((o for o in observations if o.kind == ACTION), key=lambda o: o.start)
    out = []
    for time in sorted(frames):
        seen = frames[time]
        tags = [o.text for o in sorted(seen["tags"], key=lambda o: -(o.score or 0.0))]
        objects = Counter(o.text for o in seen["detect"])
        doing = max(
            (a for a in actions if a.start <= time < a.end),
            key=lambda a: a.score or 0.0,
            default=None,
        )
        if doing is not None:
            seen[ACTION].append(doing)
        text = sentence(tags, objects, action=doing.text if doing else None)
        if text:
            out.append(
                Observation(
                    time,
                    time,
                    "caption",
                    source,
                    text,
                    extra={"from": sorted(k for k in (*READS, ACTION) if seen[k])},
                )
            )
    return out


class ComposedCaption(ObservationsPerceiver):
    """Reads the other perceivers' observations (it runs after them) and writes captions."""

    kind = "caption"
    backend = "from-observations"
    extra = "vision-offline"
    models = (
        ModelSpec(
            "offline-observations",
            "pypi:vctext",
            0,
            "Apache-2.0",
            profiles=("offline",),
            note="no model: a sentence from the action, tags and detect observations",
        ),
    )

    @property
    def source(self) -> str:
        return f"composed:{self.options.model}"

    def load(self) -> None:
        """Nothing to load: there is no model."""

    def process(self, batch: list[Observation]) -> list[Observation]:
        return compose(batch, self.source)
