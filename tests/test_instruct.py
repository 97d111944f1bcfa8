"""`vctext instruct`: batch instruction data against our OpenAI-compatible test server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import kill_after_first_line, make_video, requires_media_tools, speak

from vctext.errors import PARTIAL_EXIT
from vctext.instruct_data import (
    BRIEF_MAX_WORDS,
    RECORD_KINDS,
    InvalidOutput,
    clean_description,
    parse_conversation,
    read_manifest,
    validate_record,
)
from vctext.reason.prompts import load_prompt

pytest.importorskip("openai", reason="needs the llm extra (openai)")
from openai_server import OpenAIServer  # noqa: E402

KEY = "sk-test-SECRET123"
SENTENCES = ["The red kite flies over the hill.", "Open the window please.", "Dinner is ready now."]

STORY = (
    "First, a colourful test pattern fills the screen while a calm voice begins to speak. "
    "At 00:01 the pattern keeps moving in small steps across the picture. "
    "Next, the voice says a short sentence about what is going on, clearly and slowly. "
    "Next, the voice says a short sentence about what is going on, clearly and slowly. "
    "Then the colours shift gently and a small counter in the corner keeps ticking upward. "
    "The bright bars stay in place, and the moving patch slides from one side to the other. "
    "Nothing else appears in the scene, and no person can be seen at any point in the clip. "
    "这是一个不应该出现的句子。 "
    "Finally, the voice stops, the pattern carries on for a moment, and the video comes to an "
    "end without any further change, leaving the same calm test picture on the screen."
)
BRIEF = "A colourful test pattern moves on screen while a calm voice says one short sentence."
QA = {
    "qa": [
        {
            "type": "descriptive",
            "question": "What is shown on the screen?",
            "answer": "A colourful test pattern.",
        },
        {
            "type": "descriptive",
            "question": "What is shown on screen?",
            "answer": "A test pattern.",
        },  # a near duplicate: dropped
        {
            "type": "temporal",
            "question": "What happens after the voice speaks?",
            "answer": "The pattern keeps moving until the end.",
        },
        {
            "type": "causal",
            "question": "Why might the video have been made?",
            "answer": "I cannot tell from the video.",
        },
    ]
}


class ScriptedServer(OpenAIServer):
    """Answers each kind of request from its own script, then with a good default."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scripts: dict[str, list[str]] = {"description": [], "brief": [], "conversation": []}

    def answer(self, body):
        user = str(body["messages"][-1]["content"])
        kind = "conversation" if "Reply with JSON only" in user else "description"
        if "one or two sentences" in user:
            kind = "brief"
        with self._lock:
            if self.scripts[kind]:
                return self.scripts[kind].pop(0)
        if kind == "conversation":
            return "```json\n" + json.dumps(QA) + "\n```"
        return STORY if kind == "description" else BRIEF


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("instruct-clips")
    for i, sentence in enumerate(SENTENCES):
        wav = speak(sentence, folder / f"s{i}.wav")
        make_video(folder / f"clip{i}.mp4", duration=3, size="160x120", speech=wav, speech_at=0.3)
        wav.unlink()
    return folder


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One perception cache for the module: each clip is transcribed once."""
    return tmp_path_factory.mktemp("instruct-cache")


@pytest.fixture
def server():
    with ScriptedServer(retry_after=0.1) as srv:
        yield srv


def command(server, out: Path, *inputs, extra=()):
    args = [sys.executable, "-m", "vctext", "instruct", *map(str, inputs), "-o", str(out)]
    return args + ["--perceivers", "asr", "--base-url", server.url, "--no-progress", *extra]


def run_cli(args, cache):
    env = {**os.environ, "OPENAI_API_KEY": KEY, "VCTEXT_CACHE_DIR": str(cache)}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert "SECRET123" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@requires_media_tools
def test_a_batch_makes_valid_records_and_reports_a_corrupt_file(
    clips, shared_cache, server, tmp_path
):
    batch = tmp_path / "batch"
    batch.mkdir()
    for clip in sorted(clips.glob("*.mp4")):
        (batch / clip.name).symlink_to(clip)
    (batch / "broken.mp4").write_bytes(b"this is not a video" * 100)
    out = tmp_path / "data.jsonl"
    proc = run_cli(command(server, out, batch, extra=("--workers", "3")), shared_cache)
    assert proc.returncode == PARTIAL_EXIT, proc.stderr  # written, but one video failed
    got = records(out)
    assert len(got) == 9 and len({r["id"] for r in got}) == 9
    for record in got:
        validate_record(record)
        assert record["conversations"][0]["value"].startswith("<video>\n")
    assert {(Path(r["video"]).name, r["task"]) for r in got} == {
        (f"clip{i}.mp4", t) for i in range(3) for t in RECORD_KINDS
    }
    story = next(r for r in got if r["task"] == "description")["conversations"][1]["value"]
    assert story.startswith("First,") and "Finally," in story
    assert "00:01" not in story and "这" not in story
    assert story.count("Next, the voice says") == 1
    talk = next(r for r in got if r["task"] == "conversation")["conversations"]
    questions = [t["value"] for t in talk[::2]]
    assert len(questions) == 3 and questions[0] == "<video>\nWhat is shown on the screen?"
    failures = [
        json.loads(x) for x in out.with_name("data.failures.jsonl").read_text().split("\n") if x
    ]
    assert {(Path(f["path"]).name, f["stage"]) for f in failures} == {("broken.mp4", "perception")}
    assert "broken.mp4" in proc.stderr and "9 written" in proc.stderr
    assert "LLM calls" in proc.stderr and "tokens" in proc.stderr

    again = run_cli(command(server, out, *sorted(clips.glob("*.mp4"))), shared_cache)
    assert again.returncode == 0, again.stderr
    assert "0 written, 9 skipped, 0 failed" in again.stderr
    assert records(out) == got  # a rerun of a finished job adds nothing


@requires_media_tools
def test_garbage_429_and_invalid_output_are_retried(clips, shared_cache, server, tmp_path):
    server.faults += ["garbage", "429"]
    server.scripts["conversation"] += ["Sure! Here are some questions.", '{"qa": []}']
    out = tmp_path / "talk.jsonl"
    proc = run_cli(
        command(server, out, clips / "clip0.mp4", extra=("--task", "conversation")), shared_cache
    )
    assert proc.returncode == 0, proc.stderr
    (record,) = records(out)
    validate_record(record)
    assert server.count == 5  # garbage, 429, two invalid answers, then a good one
    assert "1 written" in proc.stderr


@requires_media_tools
def test_output_that_stays_invalid_is_a_failure_never_data(clips, shared_cache, server, tmp_path):
    server.scripts["description"] += ["Too short."] * 3
    server.scripts["brief"] += ["这是一个不应该出现的句子。", STORY] * 2
    out = tmp_path / "story.jsonl"
    args = command(server, out, clips / "clip1.mp4", extra=("--task", "description"))
    proc = run_cli(args + ["--instruct-retries", "2"], shared_cache)
    assert proc.returncode == 1
    assert "nothing succeeded" in proc.stderr
    assert not out.exists()  # no data, and no empty output file left behind
    failures = [
        json.loads(x) for x in out.with_name("story.failures.jsonl").read_text().split("\n") if x
    ]
    assert sorted(f["task"] for f in failures) == ["description", "description-brief"]
    for failure in failures:
        assert failure["stage"] == "validate" and "after 3 tries" in failure["reason"]


@requires_media_tools
def test_killed_run_resumes_without_loss_or_duplicates(clips, shared_cache, tmp_path):
    manifest = clips / "manifest.csv"
    manifest.write_text(
        "video,caption\n"
        + "".join(f"clip{i}.mp4,a clip saying {s}\n" for i, s in enumerate(SENTENCES))
    )
    out = tmp_path / "resume.jsonl"
    env = {**os.environ, "OPENAI_API_KEY": KEY, "VCTEXT_CACHE_DIR": str(shared_cache)}
    with ScriptedServer(slow_seconds=1.5) as slow:
        slow.faults += ["slow"] * 20
        lines = kill_after_first_line(
            command(slow, out, manifest, extra=("--workers", "1")), env, out, timeout=90
        )
    assert 1 <= lines < 9
    with ScriptedServer() as fast:
        rerun = run_cli(command(fast, out, manifest), shared_cache)
    assert rerun.returncode == 0, rerun.stderr
    got = records(out)  # every line parses
    assert len(got) == 9 and len({r["id"] for r in got}) == 9
    assert {(Path(r["video"]).name, r["task"]) for r in got} == {
        (f"clip{i}.mp4", t) for i in range(3) for t in RECORD_KINDS
    }
    assert all(r["meta"]["original_caption"].startswith("a clip saying") for r in got)
    assert f"{9 - lines} written, {lines} skipped" in rerun.stderr


RECORD = {"id": "0123456789abcdef-conversation", "task": "conversation", "conversations": []}


@pytest.mark.parametrize(
    "content",
    [
        b'{"a": 1}',  # no final newline: it looked like a record torn by a kill
        b'{"a": 1}\n',
        b"my notes\nno newline at the end",
        # our records, then an unfinished one, but no state file says vctext wrote it
        json.dumps(RECORD).encode() + b'\n{"id": "0123',
    ],
    ids=["json-no-newline", "json", "text", "records-torn-no-state"],
)
def test_a_file_vctext_did_not_write_is_left_untouched(content, server, tmp_path):
    out = tmp_path / "x.json"
    out.write_bytes(content)
    before = sorted(tmp_path.iterdir())
    proc = run_cli(command(server, out, tmp_path / "clip.mp4"), tmp_path / "cache")
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "x.json" in proc.stderr and "choose another -o or delete it" in proc.stderr
    assert out.read_bytes() == content
    assert sorted(tmp_path.iterdir()) == before  # no state, failures or lock file either
    assert server.count == 0


class GatedServer(ScriptedServer):
    """Holds every answer until the test opens the gate."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gate = threading.Event()

    def answer(self, body):
        self.gate.wait(60)
        return super().answer(body)


@requires_media_tools
def test_a_second_run_on_the_same_output_is_refused_while_the_first_writes(
    clips, shared_cache, tmp_path
):
    out = tmp_path / "data.jsonl"
    env = {**os.environ, "OPENAI_API_KEY": KEY, "VCTEXT_CACHE_DIR": str(shared_cache)}
    with GatedServer() as gated:
        args = command(gated, out, clips / "clip0.mp4", extra=("--workers", "1"))
        first = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 90
            while gated.count < 1:  # the first run is waiting on its first answer
                assert first.poll() is None, first.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
            asked = gated.count
            gated.gate.set()
            assert first.wait(timeout=90) == 0, first.stderr.read()
        finally:
            gated.gate.set()
            if first.poll() is None:
                first.kill()
                first.wait()
    assert second.returncode != 0
    assert second.stderr.strip().splitlines() == [
        f"vctext: error: another vctext instruct is writing '{out}'; wait for it or choose "
        "another -o"
    ], second.stderr
    assert asked == 1  # the refused run asked the LLM nothing
    got = records(out)
    assert len(got) == len(RECORD_KINDS) and len({r["id"] for r in got}) == len(RECORD_KINDS)
    assert gated.count == len(RECORD_KINDS)
    assert not out.with_name("data.lock").exists()
    again = run_cli(args, shared_cache)  # the lock went with the first run
    assert again.returncode == 0, again.stderr
    assert f"0 written, {len(RECORD_KINDS)} skipped" in again.stderr


@requires_media_tools
def test_a_rerun_drops_duplicates_an_older_version_wrote(clips, shared_cache, server, tmp_path):
    out = tmp_path / "data.jsonl"
    args = command(server, out, clips / "clip1.mp4")
    assert run_cli(args, shared_cache).returncode == 0
    first = out.read_bytes()
    # As two runs at once used to leave it: every record twice, the second copies different.
    twice = [json.loads(line) for line in first.splitlines()]
    for record in twice:
        record["conversations"][-1]["value"] += " (second copy)"
    out.write_bytes(first + b"".join(json.dumps(r).encode() + b"\n" for r in twice))
    out.chmod(0o640)
    asked = server.count
    rerun = run_cli(args, shared_cache)
    assert rerun.returncode == 0, rerun.stderr
    notes = [line for line in rerun.stderr.splitlines() if "duplicate records" in line]
    assert len(notes) == 1 and f"dropping {len(RECORD_KINDS)} duplicate records" in notes[0]
    assert out.read_bytes() == first  # the first of each video + task kept, in its place
    assert out.stat().st_mode & 0o777 == 0o640
    assert server.count == asked  # nothing made again
    assert f"0 written, {len(RECORD_KINDS)} skipped" in rerun.stderr
    assert "duplicate records" not in run_cli(args, shared_cache).stderr  # repaired for good


@requires_media_tools
def test_brief_records_use_brief_instructions_and_stay_short(clips, shared_cache, server, tmp_path):
    server.scripts["brief"] += [STORY]  # a whole story where a summary was asked: tried again
    out = tmp_path / "brief.jsonl"
    args = command(server, out, clips / "clip2.mp4", extra=("--task", "description"))
    proc = run_cli(args, shared_cache)
    assert proc.returncode == 0, proc.stderr
    by_task = {r["task"]: r for r in records(out)}
    assert set(by_task) == {"description", "description-brief"}
    pools = {
        name: {ln.strip() for ln in load_prompt(f"instruct_pool_{name}.txt").splitlines() if ln}
        for name in ("brief", "detailed")
    }
    brief, detailed = by_task["description-brief"], by_task["description"]
    validate_record(brief)
    asked = brief["conversations"][0]["value"].removeprefix("<video>\n")
    assert asked in pools["brief"] and asked not in pools["detailed"]
    assert detailed["conversations"][0]["value"].removeprefix("<video>\n") in pools["detailed"]
    summary = brief["conversations"][1]["value"]
    assert summary == BRIEF and len(summary.split()) <= BRIEF_MAX_WORDS
    assert brief["id"] != detailed["id"] and brief["id"].endswith("-description-brief")
    assert server.count == 3  # the story, the overlong summary, then a short one


def test_clean_up_drops_times_repeats_and_broken_sentences():
    text = clean_description(
        "First a dog runs at 00:03 across the yard. First a dog runs across the yard. "
        "Then it barks loudly at a cat. Ça c'est très très bien évidemment là. and then it"
    )
    assert text == "First a dog runs across the yard. Then it barks loudly at a cat."


def test_conversation_parsing_rejects_what_is_not_data():
    with pytest.raises(InvalidOutput):
        parse_conversation("I cannot answer that.")
    with pytest.raises(InvalidOutput):
        parse_conversation(json.dumps({"qa": [{"question": "What is it?", "answer": "A dog."}]}))
    pairs = parse_conversation(json.dumps(QA))
    assert [p["type"] for p in pairs] == ["descriptive", "temporal", "causal"]


def test_records_are_checked_against_the_schema():
    good = {
        "id": "x-conversation",
        "video": "a.mp4",
        "task": "conversation",
        "conversations": [
            {"from": "human", "value": "<video>\nWhy?"},
            {"from": "gpt", "value": "-"},
        ],
    }
    validate_record(good)
    for broken in (
        {**good, "conversations": good["conversations"][:1]},
        {**good, "conversations": [{"from": "human", "value": "Why?"}, good["conversations"][1]]},
        {**good, "conversations": good["conversations"][::-1]},
        {**good, "task": "other"},
    ):
        with pytest.raises(InvalidOutput):
            validate_record(broken)


def test_manifests_give_paths_and_captions(tmp_path):
    (tmp_path / "m.jsonl").write_text(
        '{"video": "a.mp4", "caption": "a dog"}\n\n{"path": "/abs/b.mp4"}\n'
    )
    items = read_manifest(tmp_path / "m.jsonl")
    assert [(i.path, i.caption) for i in items] == [
        (tmp_path / "a.mp4", "a dog"),
        (Path("/abs/b.mp4"), ""),
    ]


@requires_media_tools
def test_ray_engine_makes_the_same_records_as_local(clips, shared_cache, server, tmp_path):
    pytest.importorskip("ray", reason="needs the ray extra")
    inputs = sorted(clips.glob("clip*.mp4"))
    local, distributed = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert run_cli(command(server, local, *inputs), shared_cache).returncode == 0
    proc = run_cli(
        command(
            server,
            distributed,
            *inputs,
            tmp_path / "missing.mp4",
            extra=("--engine", "ray", "--workers", "2"),
        ),
        shared_cache,
    )
    assert proc.returncode == PARTIAL_EXIT, proc.stderr  # missing.mp4 failed
    assert sorted(records(distributed), key=lambda r: r["id"]) == sorted(
        records(local), key=lambda r: r["id"]
    )
    assert "missing.mp4 [description] input" in proc.stderr
