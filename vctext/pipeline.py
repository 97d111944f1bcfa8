"""Run perceivers over a video and merge what they saw: the heart of `vctext describe`.

probe → plan (which perceivers, which backends) → cache lookup per perceiver → the perceivers not
cached, grouped by modality, each group given to its runner (:mod:`vctext.runners`: frames,
audio, clips, then those that read the others' observations) → merged segments →
:class:`VideoText`.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import math
import os

from vctext import kinds, video
from vctext.cache import Cache, cache_key
from vctext.config import DescribeOptions
from vctext.document import PerceiverRun, VideoText
from vctext.errors import ConfigError
from vctext.merge import build_segments
from vctext.perception.base import Modality, Perceiver, PerceiverOptions
from vctext.perception.registry import perceiver_class
from vctext.plan import PlannedPerceiver, plan_perceivers, resolve_device
from vctext.runners import RUNNERS, Pass, Progress
from vctext.runners.clips import scene_cuts
from vctext.summary import extractive_summary
from vctext.timestamps import format_time as timestamp
from vctext.tune import check_tune_kinds, perceiver_params
from vctext.types import Observation, VideoInfo

log = logging.getLogger(__name__)
#: How a perceiver is cached: never (it reads the others' output), by its inputs, or by its
#: inputs and the scene cuts (known once the frame pass has run).
_NEVER, _PLAIN, _BY_CUTS = "never", "plain", "cuts"


def describe(
    path: str | os.PathLike,
    options: DescribeOptions | None = None,
    progress: Progress | None = None,
    cache: Cache | None = None,
) -> VideoText:
    """Perceive ``path`` and return its timestamped text (the Python API behind the CLI)."""
    options = options or DescribeOptions()
    info = video.probe(path)
    own_cache = cache is None
    cache = cache or (Cache() if options.cache else Cache.off())  # --no-cache: no file at all
    try:
        info = dataclasses.replace(info, sha256=cache.file_sha256(path, progress))
        return _describe(info, options, cache, progress)
    finally:
        if own_cache:
            cache.close()


def describe_probed(
    info: VideoInfo,
    options: DescribeOptions,
    pool: dict[tuple, Perceiver] | None = None,
    progress: Progress | None = None,
) -> VideoText:
    """Describe a probed file without the cache (its bytes are not hashed): a recording that is
    still growing, window after window. ``pool`` keeps the perceivers loaded from one call to
    the next (the caller closes them at the end)."""
    return _describe(info, options, Cache.off(), progress, pool)


def _describe(
    info: VideoInfo,
    options: DescribeOptions,
    cache: Cache,
    progress: Progress | None,
    pool: dict[tuple, Perceiver] | None = None,
) -> VideoText:
    start, end = video.clip_range(info, options.start, options.end)
    device = resolve_device(options.device)
    batch_size = options.batch_size or (32 if device == "cuda" else 8)
    plan = plan_perceivers(
        options.profile, options.perceivers, options.backend, gpu=device.startswith("cuda")
    )
    if not plan:
        raise ConfigError("no perceivers to run; pass --perceivers with at least one kind")
    check_tune_kinds(options.tune, [item.name for item in plan])

    ctx = Pass(info, options, start, end, progress)
    span = {"start": round(start, 3), "end": None if math.isinf(end) else round(end, 3)}
    runs: list[PerceiverRun] = []
    skipped: list[str] = []
    active: list[PlannedPerceiver] = []
    pending: dict[Modality, list[tuple[Perceiver, str]]] = {m: [] for m in RUNNERS}
    for item in plan:
        cls = perceiver_class(item.name, item.backend)
        params = {"language": options.language} if item.name == "asr" and options.language else {}
        params |= perceiver_params(
            item.name, item.backend, cls.defaults, options.tune.get(item.name, {})
        )
        missing = cls.missing_dependencies()
        if missing and not options.perceivers and item.name not in options.backend:
            # Asked for by default, not by name or backend: leave it out and say how to get it.
            hint = cls.install_hint(missing)
            log.warning("skipping %s: %s not installed (%s)", item.name, ", ".join(missing), hint)
            skipped.append(f"{item.name} skipped: {hint} to add it")
            continue
        active.append(item)
        key = (item.name, item.backend, item.model, repr(sorted(params.items())))
        perceiver = pool.get(key) if pool is not None else None
        if perceiver is None:
            perceiver = cls(
                PerceiverOptions(
                    item.model,
                    device=device,
                    batch_size=batch_size,
                    params=params,
                    server=options.vision,
                )
            )
            if pool is not None:
                perceiver.kept = True
                pool[key] = perceiver
        ctx.kinds.add(cls.kind)
        sampling = RUNNERS[cls.modality].sampling
        if sampling is None:  # reads the others' output: not in a cache key, never cached
            pending[cls.modality].append((perceiver, _NEVER))
        elif cls.modality is Modality.CLIPS:  # clips may follow the cuts: keyed with them
            pending[cls.modality].append((perceiver, _BY_CUTS))
        else:
            pending[cls.modality].append((perceiver, _PLAIN))

    if not active:
        raise ConfigError("no perceiver can run here: " + "; ".join(skipped))

    def from_cache(perceiver: Perceiver, how: str) -> str | None:
        """The perceiver's cache key ("" for never cached); None when the cache held its
        observations (now seen). Looked up at the modality's turn, after the passes before."""
        if how == _NEVER:
            return ""
        inputs = span | RUNNERS[perceiver.modality].sampling(options)
        if how == _BY_CUTS:  # the cuts the frame pass found place its clips
            inputs |= {"cuts": scene_cuts(ctx)}
        key = cache_key(info.sha256 or "", perceiver.name, perceiver.cache_params(), inputs)
        hit = cache.get(key) if options.cache else None
        if hit is None:
            return key
        log.info("%s: %d observations from cache", perceiver.name, len(hit))
        ctx.seen.extend(hit)
        runs.append(
            PerceiverRun(perceiver.name, perceiver.backend, perceiver.options.model, cached=True)
        )
        return None

    for modality, runner in RUNNERS.items():
        keyed = [(perceiver, from_cache(perceiver, how)) for perceiver, how in pending[modality]]
        pending[modality] = [(perceiver, key) for perceiver, key in keyed if key is not None]
        if not pending[modality]:
            continue
        results = runner.run(ctx, [perceiver for perceiver, _ in pending[modality]])
        for (perceiver, key), (obs, seconds) in zip(pending[modality], results, strict=True):
            # A file that could not be read whole is not cached: the next run says so again.
            if options.cache and key and ctx.report.ok:
                cache.put(key, info.sha256 or "", perceiver.name, perceiver.cache_params(), obs)
            ctx.seen.extend(obs)
            runs.append(
                PerceiverRun(
                    perceiver.name,
                    perceiver.backend,
                    perceiver.options.model,
                    cached=False,
                    seconds=seconds,
                    usage=perceiver.usage(),
                )
            )

    report = ctx.report
    interval = 1.0 / options.fps
    clip_end = end if math.isfinite(end) else None
    observations = _frame_spans(ctx.seen, interval, clip_end)
    collapsed, segments = build_segments(observations, interval, clip_end)
    return VideoText(
        video=info,
        observations=collapsed,
        segments=segments,
        start=start,
        end=clip_end,
        perceivers=sorted(runs, key=lambda r: r.kind),
        notes=_incomplete_notes(report, start, clip_end, info)
        + _notes(info, active, observations)
        + skipped,
        summary=extractive_summary(collapsed),
        incomplete=_incomplete(report, start, clip_end, info),
    )


def _frame_spans(
    observations: list[Observation], interval: float, clip_end: float | None
) -> list[Observation]:
    """A frame's observation lasts until the next sampled frame (one interval at most).

    Scene cuts stay instants. Extra scene-change frames make some intervals shorter.
    """
    cut = {o.kind for o in observations if kinds.spec(o.kind).cut}
    times = sorted({o.start for o in observations if o.end <= o.start and o.kind not in cut})
    out = []
    for o in observations:
        if o.end > o.start or o.kind in cut:
            out.append(o)
            continue
        end = o.start + interval
        following = bisect.bisect_right(times, o.start)
        if following < len(times):
            end = min(end, times[following])
        if clip_end is not None:
            end = min(end, clip_end)
        out.append(o.replace(end=max(end, o.start)))
    return out


def _incomplete(
    report: video.DecodeReport, start: float, clip_end: float | None, info: VideoInfo
) -> dict | None:
    """The JSON of a description that could not read all of its range, else None."""
    if report.ok:
        return None
    end = clip_end if clip_end is not None else info.duration
    covered_to = end if report.stopped_at is None else max(start, min(report.stopped_at, end))
    return {
        "reason": report.errors[0],
        "errors": list(report.errors),
        "covered": [round(start, 3), round(covered_to, 3)],
        "requested": [round(start, 3), round(end, 3)],
    }


def _incomplete_notes(
    report: video.DecodeReport, start: float, clip_end: float | None, info: VideoInfo
) -> list[str]:
    found = _incomplete(report, start, clip_end, info)
    if found is None:
        return []
    (a, b), (_, end) = found["covered"], found["requested"]
    where = (
        f"only {timestamp(a)}-{timestamp(b)} of {timestamp(a)}-{timestamp(end)} could be read"
        if b < end
        else "parts of it may be missing"
    )
    return [f"INCOMPLETE: the file is damaged, {where} (ffmpeg: {found['reason']})"]


def _notes(info: VideoInfo, plan: list[PlannedPerceiver], obs: list[Observation]) -> list[str]:
    notes = []
    wants_speech = any(p.name == "asr" for p in plan)
    if not info.has_video:
        notes.append("audio only: there is no picture, so this is a transcript")
    if not info.has_audio:
        notes.append("no audio track: this description is visual only, there is no speech")
    elif wants_speech and not any(o.kind == "asr" for o in obs):
        notes.append("no speech detected in the audio")
    return notes
