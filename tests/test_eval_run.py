"""`vctext eval` end to end against our OpenAI-compatible test server with scripted answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SENTENCE, kill_after_first_line, requires_media_tools

from vctext.errors import PARTIAL_EXIT

pytest.importorskip("openai", reason="needs the llm extra (openai)")
from openai_server import OpenAIServer  # noqa: E402

KEY = "sk-test-SECRET123"
JUDGED = {"correctness": 5, "detail": 4, "context": 4, "temporal": 3, "consistency": 5}


class ScriptedServer(OpenAIServer):
    """Judge prompts get fixed scores; questions get the answers scripted for them."""

    def answer(self, body):
        user = str(body["messages"][-1]["content"])
        if "Answer to grade:" in user:
            return json.dumps(JUDGED)
        if "Which gate" in user:
            return "B"
        if "What time" in user:
            return "Answer: C."  # wrong: the manifest says A
        return "It goes to the island, they said."


def rows(video: Path, broken: Path) -> list[dict]:
    return [
        {
            "id": "gate",
            "video": str(video),
            "question": "Which gate does the ferry leave from?",
            "options": ["gate two", "gate four", "gate nine"],
            "answer": "B",
            "start": 3,
            "end": 7,
        },
        {
            "id": "time",
            "video": str(video),
            "question": "What time does the ferry leave?",
            "options": ["seven thirty", "eight", "nine fifteen"],
            "answer": 0,
        },
        {
            "id": "where",
            "video": str(video),
            "question": "Where does the ferry go?",
            "answer": "to the island",
            "transcript": SENTENCE,
        },
        {"id": "broken", "video": broken.name, "question": "What is shown?", "answer": "nothing"},
    ]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory, speech_clip) -> Path:
    folder = tmp_path_factory.mktemp("eval")
    broken = folder / "broken.mp4"
    broken.write_text("not a video")
    path = folder / "bench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows(speech_clip, broken)))
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eval-cache")


def command(server, manifest: Path, out: Path, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "vctext", "eval", str(manifest), "-o", str(out)),
        *("--perceivers", "asr", "--base-url", server.url, "--no-progress", *extra),
    ]


def env(cache: Path) -> dict:
    return {**os.environ, "OPENAI_API_KEY": KEY, "VCTEXT_CACHE_DIR": str(cache)}


def run_cli(args, cache):
    proc = subprocess.run(args, capture_output=True, text=True, env=env(cache), timeout=180)
    assert "SECRET123" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def results(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


@requires_media_tools
def test_eval_scores_known_answers(manifest, cache, tmp_path):
    out = tmp_path / "res.jsonl"
    with ScriptedServer() as server:
        proc = run_cli(command(server, manifest, out, "--judge-base-url", server.url), cache)
    assert proc.returncode == PARTIAL_EXIT, proc.stderr
    got = results(out)
    assert set(got) == {"gate", "time", "where", "broken"}
    assert got["gate"]["choice"] == "B" and got["gate"]["scores"]["accuracy"] == 1.0
    assert got["gate"]["reference"] == "B. gate four"
    assert got["time"]["choice"] == "C" and got["time"]["scores"]["accuracy"] == 0.0
    assert "iou" in got["gate"]["scores"] and got["gate"]["moment"]
    where = got["where"]["scores"]
    assert where["exact"] == 0.0 and where["contains"] == 1.0 and where["judge"] == JUDGED
    assert where["wer"] < 0.3  # tiny.en hears the espeak sentence almost word for word
    assert "perception failed" in got["broken"]["error"]
    summary = json.loads(out.with_name("res.summary.json").read_text())
    assert summary["multiple_choice"] == {"n": 2, "accuracy": 0.5}
    assert summary["open_ended"]["contains"] == 1.0
    assert summary["open_ended"]["judge"]["correctness"] == 5
    assert summary["open_ended"]["judge"]["mean"] == pytest.approx(21 / 5)
    assert summary["grounding"]["n"] == 1 and summary["failed"] == 1
    md = out.with_name("res.summary.md").read_text()
    assert "| multiple-choice accuracy | 50.0% | 2 |" in md
    assert "multiple-choice accuracy" in proc.stdout and "50.0%" in proc.stdout
    assert "1 of 4 items failed" in proc.stderr and "LLM calls" in proc.stderr


@requires_media_tools
def test_eval_without_judge_says_it_was_off(manifest, cache, tmp_path):
    one = tmp_path / "one.jsonl"
    one.write_text(manifest.read_text().splitlines()[2] + "\n")
    out = tmp_path / "one.results.jsonl"
    with ScriptedServer() as server:
        proc = run_cli(command(server, one, out), cache)
        assert server.count == 1  # no judge call
    assert proc.returncode == 0, proc.stderr
    assert "judge" not in results(out)["where"]["scores"]
    assert "off: no --judge-model" in proc.stdout


@requires_media_tools
def test_killed_eval_resumes_scoring_each_item_once(manifest, cache, tmp_path):
    out = tmp_path / "resume.jsonl"
    good = tmp_path / "good.jsonl"
    good.write_text("".join(manifest.read_text().splitlines(keepends=True)[:3]))
    with ScriptedServer(slow_seconds=1.5) as slow:
        slow.faults += ["slow"] * 20
        lines = kill_after_first_line(
            command(slow, good, out, "--workers", "1"), env(cache), out, timeout=120
        )
    assert 1 <= lines < 3
    with ScriptedServer() as fast:
        rerun = run_cli(command(fast, good, out), cache)
        assert fast.count == 3 - lines
    assert rerun.returncode == 0, rerun.stderr
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == ["gate", "time", "where"]
    assert f"{3 - lines} scored, {lines} skipped" in rerun.stderr


def test_eval_refuses_a_file_it_did_not_write(tmp_path, speech_clip):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"video,question,answer\n{speech_clip},What?,x\n")
    out = tmp_path / "notes.jsonl"
    out.write_text('{"a": 1}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "vctext", "eval", str(manifest), "-o", str(out), "--llm", "openai"],
        capture_output=True,
        text=True,
        env={**os.environ, "OPENAI_API_KEY": KEY},
        timeout=60,
    )
    assert proc.returncode == 2 and "does not look like vctext eval results" in proc.stderr
    assert out.read_text() == '{"a": 1}\n'


@requires_media_tools
def test_a_model_that_scores_options_chooses_by_likelihood(manifest, cache, tmp_path, monkeypatch):
    from vctext.eval import evaluate, load_manifest
    from vctext.llm import load_llm

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("VCTEXT_CACHE_DIR", str(cache))
    [gate] = [i for i in load_manifest(manifest) if i.id == "gate"]
    seen = []

    def choice_logprobs(messages, choices):
        seen.append((messages[-1].content, choices))
        return [-3.0, -0.5, -2.0]

    with ScriptedServer() as server:
        model = load_llm("openai", base_url=server.url)
        model.choice_logprobs = choice_logprobs  # as the local backend has it
        report = evaluate([gate], tmp_path / "r.jsonl", llm=model, perceivers="asr")
        assert server.count == 0  # no text generated
    [record] = results(tmp_path / "r.jsonl").values()
    assert record["method"] == "likelihood" and record["choice"] == "B"
    assert record["prediction"] == "B. gate four" and report.summary["multiple_choice"]["n"] == 1
    [(asked, choices)] = seen
    assert choices == ["gate two", "gate four", "gate nine"] and "Which gate" in asked


@requires_media_tools
def test_search_only_grounds_questions_without_an_llm(manifest, cache, tmp_path):
    one = tmp_path / "gate.jsonl"
    one.write_text(manifest.read_text().splitlines()[0] + "\n")
    out = tmp_path / "gate.results.jsonl"
    args = [sys.executable, "-m", "vctext", "eval", str(one), "-o", str(out), "--search-only"]
    proc = run_cli([*args, "--perceivers", "asr", "--no-progress"], cache)
    assert proc.returncode == 0, proc.stderr
    got = results(out)["gate"]
    assert got["prediction"] is None and got["scores"]["iou"] > 0.3  # the spoken sentence
    start, end = got["moment"]
    assert start <= 4 and end >= 6
    assert "0 LLM calls" in proc.stderr
