"""Benchmark: speech recall and word error rate of `describe`'s transcript, per case and model.

    python benchmarks/bench_speech.py                          # tiny.en and base, every case
    python benchmarks/bench_speech.py --before /tmp/oldpkg     # and tiny.en with another package
    python benchmarks/bench_speech.py --models tiny.en --cases sparse dense

espeak-ng sentences placed with ffmpeg at known times (tests/speech_cases.py) over silence, pink
noise or music, run through the real pipeline with Whisper tiny.en (the offline default) and the
multilingual Whisper base (the `offline-multilingual` extra). Recall is sentences found at their
time / sentences spoken; WER is the word error rate of the whole transcript. Each (model, case)
runs in a fresh subprocess, so ``--before DIR`` can put another checkout's ``vctext`` first on
PYTHONPATH. Cases are generated into benchmarks/out/speech/ and reused.

Prints a Markdown table and writes the results to benchmarks/out/speech/results.json.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "speech"
sys.path.insert(0, str(HERE.parent / "tests"))  # the case builder and scorer the tests use

from speech_cases import (  # noqa: E402
    SENTENCES,
    SpeechCase,
    Spoken,
    _speak,
    build_case,
    edit_distance,
    score,
    words,
)

#: label -> vctext model name; tiny.en runs as the offline profile's default.
MODELS = {"tiny.en": "pypi-tiny.en", "base": "pypi-base"}
#: The range of the ranged case, and when the 40-s clip it is cut from has its sentences.
RANGE = (15.0, 25.0)
RANGED_AT = (6.0, 13.5, 17.0, 23.5, 31.0)
#: Seconds: a word whose middle is this close to a range edge may fall on either side of it.
EDGE = 0.1


@dataclass(frozen=True)
class Run:
    """One row: a case, and what `describe` is asked to do with it."""

    name: str
    case: str
    chunk: float = 600.0
    start: float | None = None
    end: float | None = None


RUNS = (
    Run("sparse", "sparse"),
    Run("sparse-noise", "sparse-noise"),
    Run("dense", "dense"),
    Run("dense, 10-s chunks", "dense", chunk=10.0),
    Run("music", "music"),
    Run("ranged clip, whole file", "ranged"),
    Run("ranged 15-25 s", "ranged", start=RANGE[0], end=RANGE[1]),
)


# -- cases ---------------------------------------------------------------------------------------


def _placements() -> dict[str, tuple[float, list[tuple[str, float]], str | None]]:
    sparse = [(SENTENCES[i % len(SENTENCES)], 60.0 * i + 1) for i in range(10)]
    at, dense = 0.5, []
    for i, text in enumerate(SENTENCES):
        dense.append((text, at))
        at += _speak(text, OUT / f"say-{i}.wav") + 0.4
    return {
        "sparse": (600.0, sparse, None),
        "sparse-noise": (600.0, sparse, "noise"),
        "dense": (round(at + 1.0, 2), dense, None),
        "music": (90.0, list(zip(SENTENCES[4:8], (6.0, 28.0, 50.0, 72.0), strict=True)), "music"),
        "ranged": (40.0, list(zip(SENTENCES[:5], RANGED_AT, strict=True)), None),
    }


def make_case(name: str) -> SpeechCase:
    """The case's video, built once: reused while its recipe (stored beside it) is unchanged."""
    OUT.mkdir(parents=True, exist_ok=True)
    duration, placed, background = _placements()[name]
    recipe = json.loads(json.dumps({"duration": duration, "sentences": placed, "bg": background}))
    stored = OUT / f"{name}.json"
    path = OUT / f"{name}.mp4"
    if path.exists() and stored.exists() and json.loads(stored.read_text()) == recipe:
        spoken = tuple(
            Spoken(text, at, _speak(text, OUT / f"say-{SENTENCES.index(text)}.wav"))
            for text, at in placed
        )
        return SpeechCase(name, path, duration, spoken)
    print(f"generating {path.name}", file=sys.stderr)
    case = build_case(OUT, name, duration, placed, background)
    stored.write_text(json.dumps(recipe))
    return case


# -- one run, in a fresh process -----------------------------------------------------------------


def _record_words(sink: list) -> None:
    """Keep every word Whisper hears with its absolute time (the whole-file reference of the
    ranged case), by wrapping the recognizer's step that turns segments into observations.

    Two forms are known: (heard, offset, ...) with word texts, and an older (chunk, segments,
    extra) with word times only, matched to the segment's words when the counts agree. Where
    they do not, None is kept and the parent spreads each line's words over its time instead.
    """
    from vctext.perception import asr

    original = asr._WhisperASR.observations
    takes = inspect.signature(original).parameters
    if "heard" in takes:

        def observations(self, heard, offset, *args, **kwargs):
            sink.extend((offset + a, offset + b, t) for seg in heard for a, b, t in seg.words)
            return original(self, heard, offset, *args, **kwargs)

    elif "segments" in takes:

        def observations(self, chunk, segments, extra):
            segments = list(segments)
            for _, _, text, _, times in segments:
                texts = text.split()
                if len(texts) != len(times):
                    sink.append(None)
                    continue
                pairs = zip(times, texts, strict=True)
                sink.extend((chunk.start + a, chunk.start + b, t) for (a, b), t in pairs)
            return original(self, chunk, segments, extra)

    else:
        sink.append(None)
        return
    asr._WhisperASR.observations = observations


def _cpu_seconds() -> float:
    """User + system time of this process and its finished children (ffmpeg)."""
    import resource

    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def child(job: dict) -> dict:
    """Transcribe one case with one model; wall time excludes imports, includes model loading."""
    import time

    import vctext
    from vctext.config import DescribeOptions
    from vctext.pipeline import describe

    heard_words: list = []
    _record_words(heard_words)
    options = DescribeOptions(
        profile="offline",
        perceivers=("asr",),
        cache=False,
        asr_chunk_seconds=job["chunk"],
        start=job["start"],
        end=job["end"],
    )
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    if job["model"] == "pypi-tiny.en":  # the offline profile's own choice
        doc = describe(job["path"], options)
        obs = [o for o in doc.observations if o.kind == "asr"]
    else:  # DescribeOptions cannot name a model: the pipeline's audio pass with this one
        from vctext import video
        from vctext.perception.base import PerceiverOptions
        from vctext.perception.registry import load_perceiver
        from vctext.plan import resolve_device
        from vctext.runners import audio
        from vctext.runners.context import Pass

        info = video.probe(job["path"])
        start, end = video.clip_range(info, options.start, options.end)
        perceiver = load_perceiver(
            "asr",
            "faster-whisper",
            PerceiverOptions(job["model"], device=resolve_device(options.device)),
        )
        ((obs, _),) = audio.run(Pass(info, options, start, end), [perceiver])
        obs = sorted(obs, key=lambda o: o.start)
    wall = time.perf_counter() - t0
    return {
        "wall": wall,
        "cpu": _cpu_seconds()
        - cpu0,  # Python and its ffmpeg children: steadier on a shared machine
        "heard": [(o.start, o.end, o.text) for o in obs],
        "words": heard_words,
        "package": str(Path(vctext.__file__).parent),
    }


def run_child(job: dict, pythonpath: str | None) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        # cwd outside the checkout, so `vctext` comes from PYTHONPATH or the installed package
        proc = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                json.dumps(job),
                str(result),
            ],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not result.exists():
            return {"error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
        return json.loads(result.read_text())


# -- scoring -------------------------------------------------------------------------------------


def _timed_words(result: dict) -> list[tuple[float, str]]:
    """(time, word) of everything heard: Whisper's word times when the child kept them, else
    each line's words spread evenly over its time."""
    if result["words"] and None not in result["words"]:
        out = [((a + b) / 2, w) for a, b, text in result["words"] for w in words(text)]
    else:
        out = []
        for a, b, text in result["heard"]:
            ws = words(text)
            out += [(a + (b - a) * (i + 0.5) / len(ws), w) for i, w in enumerate(ws)]
    return sorted(out)


def score_row(run: Run, case: SpeechCase, result: dict, whole: dict | None) -> dict:
    heard = [tuple(h) for h in result["heard"]]
    if run.start is None:
        r = score(heard, case.spoken)
        return {
            "sentences": len(case.spoken),
            "found": sum(r.found),
            "wer": r.wer,
            "missed": [s.text for s, ok in zip(case.spoken, r.found, strict=True) if not ok],
            "invented": list(r.invented),
            "seconds": case.duration,
        }
    # A range: its words against the whole-file transcript's words inside it, and the sentences
    # spoken wholly inside it.
    inside = tuple(s for s in case.spoken if run.start <= s.at and s.end <= run.end)
    r = score(heard, inside)
    got = [w for h in sorted(heard) for w in words(h[2])]
    strict, wer = _range_wer(_timed_words(whole), got, run.start, run.end) if whole else ([], None)
    return {
        "sentences": len(inside),
        "found": sum(r.found),
        "wer": wer,
        "strict_wer": edit_distance(strict, got) / max(1, len(strict)) if whole else None,
        "reference": " ".join(strict),
        "missed": [s.text for s, ok in zip(inside, r.found, strict=True) if not ok],
        "invented": [],
        "seconds": run.end - run.start,
    }


def _range_wer(
    timed: list[tuple[float, str]], got: list[str], start: float, end: float
) -> tuple[list[str], float]:
    """The whole file's words inside [start, end) (by their middle), and the WER of ``got``
    against them, where a word within EDGE s of an edge may count as inside or outside: word
    times move by a few hundredths of a second between runs (different audio around them)."""
    strict = [w for t, w in timed if start <= t < end]
    head = [w for t, w in timed if start - EDGE <= t < start + EDGE]
    core = [w for t, w in timed if start + EDGE <= t < end - EDGE]
    tail = [w for t, w in timed if end - EDGE <= t < end + EDGE]
    best = min(
        edit_distance(head[i:] + core + tail[:j], got)
        for i in range(len(head) + 1)
        for j in range(len(tail) + 1)
    )
    return strict, best / max(1, len(strict))


# -- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="DIR", help="also run tiny.en with DIR's vctext")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    names = sorted({r.case for r in RUNS})
    parser.add_argument("--cases", nargs="+", choices=names, default=names)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.child[1]).write_text(json.dumps(child(json.loads(args.child[0]))))
        return
    missing = [tool for tool in ("ffmpeg", "espeak-ng") if not shutil.which(tool)]
    if missing:
        sys.exit(f"bench_speech needs {' and '.join(missing)} on PATH")

    cases = {name: make_case(name) for name in args.cases}
    setups = [(label, MODELS[label], None) for label in args.models]
    if args.before:
        setups.insert(0, ("tiny.en, before", MODELS["tiny.en"], str(Path(args.before).resolve())))
    rows = []
    for label, model, pythonpath in setups:
        whole = None
        for run in (r for r in RUNS if r.case in cases):
            case = cases[run.case]
            job = {"path": str(case.path), "model": model, "chunk": run.chunk}
            job |= {"start": run.start, "end": run.end}
            result = run_child(job, pythonpath)
            row = {**job, **result, "model": label, "case": run.name, "package_dir": pythonpath}
            if "error" not in result:
                if run.case == "ranged" and run.start is None:
                    whole = result
                row |= score_row(run, case, result, whole)
            rows.append(row)
            print(_progress(row), file=sys.stderr)

    lines = [
        f"# vctext speech benchmark ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs)",
        "",
        "| model | case | sentences | recall | WER | wall s | x real time |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['model']} | {row['case']} | failed: {row['error']} | | | | |")
            continue
        wer = "n/a" if row["wer"] is None else f"{row['wer']:.1%}"
        lines.append(
            f"| {row['model']} | {row['case']} | {row['sentences']} | "
            f"{row['found']}/{row['sentences']} | {wer} | {row['wall']:.1f} | "
            f"{row['seconds'] / row['wall']:.1f} |"
        )
    notes = [_notes(row) for row in rows if "error" not in row]
    lines += [note for note in notes if note]
    print("\n".join(lines))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(rows, indent=1))


def _progress(row: dict) -> str:
    if "error" in row:
        return f"{row['model']} / {row['case']}: failed: {row['error']}"
    return (
        f"{row['model']} / {row['case']}: {row['found']}/{row['sentences']} found, "
        f"{row['wall']:.1f} s"
    )


def _notes(row: dict) -> str:
    """The transcript of a row that lost, invented or changed words, for a reader to judge."""
    if not row["missed"] and not row["invented"] and (row["wer"] or 0) <= 0.1:
        return ""
    wer = "n/a" if row["wer"] is None else f"{row['wer']:.1%}"
    out = [f"\n{row['model']} / {row['case']}: WER {wer}"]
    out += [f"  missed: {text}" for text in row["missed"]]
    out += [f"  invented: {text}" for text in row["invented"]]
    if row.get("reference") is not None:
        out.append(f"  whole file, {RANGE[0]:g}-{RANGE[1]:g} s: {row['reference']}")
    out += [f"  {a:7.2f}-{b:7.2f}  {text}" for a, b, text in row["heard"]]
    return "\n".join(out)


if __name__ == "__main__":
    main()
