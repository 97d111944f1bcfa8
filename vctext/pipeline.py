"""Run perceivers over a video and merge what they saw: the heart of `vctext describe`.

probe → (cache lookup per perceiver) → one streamed pass over frames (or one per frame perceiver
with ``load_in_turn``, see :mod:`vctext.frames_pass`) and one over audio for the perceivers not
cached → observations → merged segments → :class:`VideoText`.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable

from vctext import kinds, video
from vctext.cache import Cache, cache_key
from vctext.config import DescribeOptions, check_tune_kinds, perceiver_params
from vctext.document import PerceiverRun, VideoText
from vctext.errors import ConfigError
from vctext.frames_pass import run_frames
from vctext.merge import build_segments
from vctext.perception.base import (
    Modality,
    Perceiver,
    PerceiverOptions,
    load_perceiver,
    perceiver_class,
)
from vctext.plan import PlannedPerceiver, plan_perceivers, resolve_device
from vctext.types import Observation, VideoInfo

log = logging.getLogger(__name__)

#: progress(stage, done, total): stage is "hashing" (MB read), "frames", "clips" or "audio"; total
#: may be None. "frames" counts frames decoded over all passes (one per frame perceiver with
#: load_in_turn).
Progress = Callable[[str, float, "float | None"], None]


#: Seconds of audio heard on each side of a --start/--end range, so its edge sentences are whole.
AUDIO_CONTEXT = 10.0


def _clip_params(modality: Modality, options: DescribeOptions, start: float, end: float) -> dict:
    clip = {"start": round(start, 3), "end": None if math.isinf(end) else round(end, 3)}
    if modality is Modality.AUDIO:
        return {**clip, "chunk": options.asr_chunk_seconds}
    return {
        **clip,
        "fps": options.fps,
        "scene": options.scene_threshold,
        "max_side": options.max_side,
    }


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


def _describe(
    info: VideoInfo, options: DescribeOptions, cache: Cache, progress: Progress | None
) -> VideoText:
    start, end = video.clip_range(info, options.start, options.end)
    device = resolve_device(options.device)
    batch_size = options.batch_size or (32 if device == "cuda" else 8)
    plan = plan_perceivers(options.profile, options.perceivers)
    if not plan:
        raise ConfigError("no perceivers to run; pass --perceivers with at least one kind")
    check_tune_kinds(options.tune, [item.kind for item in plan])

    runs: list[PerceiverRun] = []
    observations: list[Observation] = []
    skipped: list[str] = []
    active: list[PlannedPerceiver] = []
    pending: dict[Modality, list[tuple[Perceiver, str]]] = {m: [] for m in Modality}
    for item in plan:
        cls = perceiver_class(item.kind, item.backend)
        params = {"language": options.language} if item.kind == "asr" and options.language else {}
        params |= perceiver_params(
            item.kind, item.backend, cls.defaults, options.tune.get(item.kind, {})
        )
        missing = cls.missing_dependencies()
        if missing and not options.perceivers:
            # Asked for by default, not by name: leave it out and say how to get it.
            log.warning(
                'skipping %s: %s not installed (pip install "vctext[%s]")',
                item.kind,
                ", ".join(missing),
                cls.extra,
            )
            skipped.append(f'{item.kind} skipped: pip install "vctext[{cls.extra}]" to add it')
            continue
        active.append(item)
        perceiver = load_perceiver(
            item.kind,
            item.backend,
            PerceiverOptions(item.model, device=device, batch_size=batch_size, params=params),
        )
        if perceiver.modality is Modality.OBSERVATIONS:
            # Reads the others' output, cheap: never cached (its input is not in a cache key).
            pending[Modality.OBSERVATIONS].append((perceiver, ""))
            continue
        key = cache_key(
            info.sha256 or "",
            item.kind,
            perceiver.cache_params(),
            _clip_params(perceiver.modality, options, start, end),
        )
        hit = cache.get(key) if options.cache else None
        if hit is not None:
            log.info("%s: %d observations from cache", item.kind, len(hit))
            observations += hit
            runs.append(PerceiverRun(item.kind, item.backend, item.model, cached=True))
        else:
            pending[perceiver.modality].append((perceiver, key))

    if not active:
        raise ConfigError("no perceiver can run here: " + "; ".join(skipped))

    report = video.DecodeReport()

    def finished(perceiver: Perceiver, key: str, obs: list[Observation], seconds: float) -> None:
        # A file that could not be read whole is not cached: the next run says so again.
        if options.cache and key and report.ok:
            cache.put(key, info.sha256 or "", perceiver.kind, perceiver.cache_params(), obs)
        observations.extend(obs)
        runs.append(
            PerceiverRun(
                perceiver.kind,
                perceiver.backend,
                perceiver.options.model,
                cached=False,
                seconds=seconds,
            )
        )

    if pending[Modality.FRAMES]:
        frame_perceivers = [perceiver for perceiver, _ in pending[Modality.FRAMES]]
        results = run_frames(info, options, start, end, frame_perceivers, progress, report)
        for (perceiver, key), (obs, seconds) in zip(pending[Modality.FRAMES], results, strict=True):
            finished(perceiver, key, obs, seconds)
    for perceiver, key in pending[Modality.AUDIO]:
        obs, seconds = _run_audio(info, options, start, end, perceiver, progress, report)
        finished(perceiver, key, obs, seconds)
    for perceiver, key in pending[Modality.CLIPS]:
        obs, seconds = _run_clips(info, options, start, end, perceiver, progress, report)
        finished(perceiver, key, obs, seconds)
    for perceiver, key in pending[Modality.OBSERVATIONS]:
        t0 = time.perf_counter()
        perceiver.ensure_loaded()
        obs = perceiver.process(list(observations)) + perceiver.finish()
        perceiver.close()
        finished(perceiver, key, obs, time.perf_counter() - t0)

    interval = 1.0 / options.fps
    clip_end = end if math.isfinite(end) else None
    observations = _frame_spans(observations, interval, clip_end)
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
    from vctext.render import format_time as timestamp

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
    wants_speech = any(p.kind == "asr" for p in plan)
    if not info.has_video:
        notes.append("audio only: there is no picture, so this is a transcript")
    if not info.has_audio:
        notes.append("no audio track: this description is visual only, there is no speech")
    elif wants_speech and not any(o.kind == "asr" for o in obs):
        notes.append("no speech detected in the audio")
    return notes


def _run_clips(
    info: VideoInfo,
    options: DescribeOptions,
    start: float,
    end: float,
    perceiver: Perceiver,
    progress: Progress | None,
    report: video.DecodeReport | None = None,
) -> tuple[list[Observation], float]:
    """A second streamed pass, at the clip frame rate, cut into windows as frames arrive.

    Only the window being filled and one batch of clips are held in memory.
    """
    if not info.has_video:
        return [], 0.0
    from vctext.perception.action import Clip

    t0 = time.perf_counter()
    perceiver.ensure_loaded()
    spec = perceiver.clip_spec()
    last = end if math.isfinite(end) else info.duration
    out: list[Observation] = []
    clips: list[Clip] = []
    window: list = []
    index = 0  # the window being filled starts at start + index * spec.every

    def close_window() -> None:
        # A window cut short by the end of the video counts when at least half full: padded
        # with its last frame, as video classifiers expect a fixed number of frames.
        if len(window) * 2 >= spec.frames:
            frames = window[: spec.frames] + [window[-1]] * (spec.frames - len(window))
            w_start = start + index * spec.every
            clips.append(Clip(w_start, min(w_start + spec.length, last), frames))
        window.clear()
        if len(clips) >= perceiver.options.batch_size:
            flush()

    def flush() -> None:
        out.extend(perceiver.process(list(clips)))
        if progress:
            progress("clips", clips[-1].end - start, (last - start) or None)
        clips.clear()

    frames = video.iter_frames(info, spec.fps, start, end, None, options.max_side, report=report)
    for frame in frames:
        k = math.floor((frame.time - start) / spec.every + 1e-6)
        if k != index:
            close_window()
            index = k
        if frame.time - (start + index * spec.every) < spec.length - 1e-6:
            window.append(frame)
            if len(window) == spec.frames:
                close_window()
    close_window()
    if clips:
        flush()
    out.extend(perceiver.finish())
    perceiver.close()
    return out, time.perf_counter() - t0


def extractive_summary(observations: list[Observation], most: int = 2) -> str | None:
    """One or two sentences for the whole video without an LLM: the captions on screen longest.

    ``--narrate`` replaces it with an LLM's narrative. None when no perceiver wrote captions.
    """
    shown: dict[str, float] = {}
    for o in observations:
        if o.kind == "caption":
            shown[o.text] = shown.get(o.text, 0.0) + max(o.end - o.start, 0.0)
    if not shown:
        return None
    ranked = sorted(shown, key=lambda text: -shown[text])[:most]
    summary = f"Mostly {ranked[0]}."
    if len(ranked) > 1:
        summary += f" Also {ranked[1]}."
    actions = [o for o in observations if o.kind == "action"]
    if actions:
        best = max(actions, key=lambda o: (o.end - o.start) * (o.score or 0.0)).text
        summary += f" Action: {best}."
    return summary


def _run_audio(
    info: VideoInfo,
    options: DescribeOptions,
    start: float,
    end: float,
    perceiver: Perceiver,
    progress: Progress | None,
    report: video.DecodeReport | None = None,
) -> tuple[list[Observation], float]:
    if not info.has_audio:
        return [], 0.0
    t0 = time.perf_counter()
    perceiver.ensure_loaded()
    last = end if math.isfinite(end) else info.duration
    total = last - start
    # A range is heard with some audio around it, so a sentence cut by --start or --end is
    # recognized as well as in the whole file; only the words inside the range are kept.
    keep = (start, end) if start > 0 or math.isfinite(end) else (-math.inf, math.inf)
    heard_from = max(0.0, start - AUDIO_CONTEXT)
    heard_to = min(end + AUDIO_CONTEXT, info.duration) if math.isfinite(end) else None
    out: list[Observation] = []
    chunks = video.iter_audio(info, heard_from, heard_to, options.asr_chunk_seconds, report)
    for chunk in chunks:
        out.extend(perceiver.process(dataclasses.replace(chunk, keep=keep)))
        if progress:
            progress("audio", min(max(chunk.end - start, 0.0), total), total or None)
    out.extend(perceiver.finish())
    perceiver.close()
    return out, time.perf_counter() - t0
