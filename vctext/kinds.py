"""What each kind of observation is, in one table that merging, fitting, every renderer, the HTML
report, the templates and the LangChain loader read.

A kind's entry says how it is labelled and where it stands in a time range's block, whether it
lasts on screen until replaced or happens at an instant, whether it is quoted word for word,
whether its items carry a box and a track id, and how repeated items join on one line. A new kind
is one :class:`KindSpec` here (or :func:`register` from a plugin); an observation of a kind not in
the table is an error where it is made, never a line that silently disappears.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindSpec:
    """One kind of observation and how every part of vctext treats it."""

    #: The ``kind`` of its observations and the key of its lines in a segment.
    name: str
    #: How the text layout, the report and the LLM's text name its lines ("objects").
    label: str
    #: On screen until replaced (a caption, an object): shown in every time range it overlaps.
    #: Otherwise an instant or an utterance (speech, text that appears): shown in the range where
    #: it starts.
    lasts: bool = False
    #: Quoted in the text layout ("GATE 7").
    quoted: bool = False
    #: Kept word for word when ranges are compacted for an LLM, never ranked or cut.
    verbatim: bool = False
    #: Items carry a box (source pixels) and a track id, shown as ``person #1 [x1,y1,x2,y2]``.
    boxed: bool = False
    #: Between two items on one line; ``"; "`` where an item may hold commas of its own (a box).
    join: str = ", "
    #: At most this many items per range, best scored first (None: every item, in time order).
    per_range: int | None = None
    #: How the kind cuts a video into ranges: 1, a change in it starts a new range; 2, so does a
    #: change here when no kind of tier 1 was seen on the frame; 0, it does not.
    range_tier: int = 0
    #: Sentences a model words anew on every frame: when ranges merge, items that share most of
    #: their words count as one, and neighbouring ranges alike in them are one range.
    reworded: bool = False
    #: First to go when compacting for an LLM leaves too little room.
    low_value: bool = False
    #: Ranges holding it are the last to be left out when compacting for an LLM.
    kept_longest: bool = False
    #: Subtitles: 0, the cues are this kind's observations; 1 and up, with none of those, each
    #: range's cue is its lowest-ranked kind's first items; None, never a cue.
    cue_rank: int | None = None
    #: Marks a moment (a scene cut) that shapes the ranges instead of showing in them.
    cut: bool = False
    #: Written while compacting (a summary of ranges), never by a perceiver.
    derived: bool = False


#: Every kind, in the order a range's block shows them.
_TABLE: list[KindSpec] = [
    KindSpec("scene", "scene", cut=True),
    # A description of a whole scene or window, from several of its frames (what happens in it,
    # in order): said once, where its window starts, like an utterance.
    KindSpec("clip_caption", "clip", join=" ", cue_rank=1),
    KindSpec("caption", "caption", lasts=True, range_tier=1, reworded=True, cue_rank=2),
    KindSpec("action", "action", lasts=True, range_tier=2, reworded=True, cue_rank=3),
    KindSpec("tags", "tags", lasts=True, per_range=8, range_tier=2, low_value=True, cue_rank=7),
    KindSpec("dense", "regions", lasts=True, boxed=True, join="; ", low_value=True, cue_rank=6),
    KindSpec("detect", "objects", lasts=True, boxed=True, join="; ", range_tier=2, cue_rank=5),
    KindSpec("ocr", "text on screen", quoted=True, verbatim=True, join=" ", cue_rank=4),
    KindSpec("asr", "speech", quoted=True, verbatim=True, join=" ", kept_longest=True, cue_rank=0),
    KindSpec("summary", "summary", verbatim=True, derived=True),
]

KINDS: dict[str, KindSpec] = {spec.name: spec for spec in _TABLE}


def register(spec: KindSpec) -> KindSpec:
    """Add a kind (a plugin's perceiver emits it); it shows after the built-in kinds.

    Registering the same spec again is harmless; a different spec under a known name is an error.
    """
    known = KINDS.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"observation kind '{spec.name}' is already registered as {known}")
    KINDS[spec.name] = spec
    return spec


def spec(kind: str) -> KindSpec:
    """The entry for ``kind``; an unknown kind is an error that lists the known ones."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(
            f"unknown observation kind '{kind}'; known kinds: {', '.join(KINDS)} "
            "(add a KindSpec to vctext.kinds, or kinds.register() one)"
        ) from None


def order(kind: str) -> int:
    """Where ``kind`` stands in a range's block (unknown kinds after every known one)."""
    return list(KINDS).index(kind) if kind in KINDS else len(KINDS)


def labels() -> dict[str, str]:
    """kind -> label, for templates and integrations."""
    return {name: s.label for name, s in KINDS.items()}
