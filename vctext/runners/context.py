"""What every runner is given: one run's video, options and range, where progress goes, the
decode report, and the observations seen so far."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from vctext.config import DescribeOptions
from vctext.types import Observation, VideoInfo
from vctext.video import DecodeReport

#: progress(stage, done, total): stage is "hashing" (MB read), "frames", "clips" or "audio"; total
#: may be None. "frames" counts frames decoded over all passes (one per frame perceiver with
#: load_in_turn).
Progress = Callable[[str, float, "float | None"], None]

#: What a runner returns for each perceiver: its observations and the seconds it took.
Result = tuple[list[Observation], float]


@dataclass
class Pass:
    """One run over one video's range, shared by the runners of every modality."""

    info: VideoInfo
    options: DescribeOptions
    #: The range, absolute seconds; ``end`` is ``math.inf`` for the end of the file.
    start: float
    end: float
    progress: Progress | None = None
    #: What could not be decoded, filled in by the runners as they read.
    report: DecodeReport = field(default_factory=DecodeReport)
    #: Observations made so far (cached ones included), for the perceivers that read them.
    seen: list[Observation] = field(default_factory=list)
    #: The kinds this run perceives (cached or not), so a runner can tell "no scene cut" from
    #: "no cut detector".
    kinds: set[str] = field(default_factory=set)

    @property
    def last(self) -> float:
        """Where the range ends, in seconds (the duration when it runs to the end)."""
        return self.end if math.isfinite(self.end) else self.info.duration

    def tell(self, stage: str, done: float, total: float | None) -> None:
        if self.progress:
            self.progress(stage, done, total)
