"""`vctext ask`, `vctext chat` and `describe --narrate` as a user runs them, against our server."""

from __future__ import annotations

import json
import os

import pytest
from conftest import requires_media_tools, run_vctext

pytest.importorskip("openai", reason="needs the llm extra (openai)")
from openai_server import OpenAIServer, free_port  # noqa: E402

KEY = "sk-test-SECRET123"

pytestmark = requires_media_tools


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One perception cache for this module's commands: the clip is transcribed once."""
    return tmp_path_factory.mktemp("llm-cli-cache")


@pytest.fixture
def server():
    with OpenAIServer(slow_seconds=3) as srv:
        yield srv


def vctext_cli(*args: str, cache=None, stdin: str | None = None, **env: str):
    environ = {**os.environ, "OPENAI_API_KEY": KEY, **env}
    if cache is not None:
        environ["VCTEXT_CACHE_DIR"] = str(cache)
    return run_vctext(*args, env=environ, stdin=stdin, secret="SECRET123")


def test_ask_answers_and_a_second_question_reuses_the_perception(speech_clip, server, shared_cache):
    first = vctext_cli(
        "ask",
        str(speech_clip),
        "Where does the ferry go?",
        "--perceivers",
        "asr",
        "--base-url",
        server.url,
        cache=shared_cache,
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("You asked: Where does the ferry go?")
    assert "island" in first.stdout  # the echo quotes the transcribed speech
    second = vctext_cli(
        "-v",
        "ask",
        str(speech_clip),
        "Which gate?",
        "--perceivers",
        "asr",
        "--json",
        cache=shared_cache,
        OPENAI_BASE_URL=server.url,
    )
    assert second.returncode == 0, second.stderr
    assert "asr: 1 observations from cache" in second.stderr
    data = json.loads(second.stdout)
    assert data["question"] == "Which gate?" and data["answer"].startswith("You asked: Which")
    assert data["llm"] == {"backend": "openai", "model": "vctext-test-model"}
    (used,) = data["ranges"]
    assert 2.0 <= used["start"] < used["end"] <= 8.0 and "gate" in used["text"]


@pytest.mark.parametrize(
    "fault, requests, words",
    [
        ("429", 2, "rate limiting requests (429)"),
        ("500", 2, "failed (500)"),
        ("slow", 2, "did not answer within 1 s"),
        ("garbage", 3, "malformed answer"),  # the empty stream is asked again unstreamed
        ("401", 1, "rejected the API key (401)"),
    ],
)
def test_faults_end_in_one_clear_line(fault, requests, words, speech_clip, server, shared_cache):
    server.faults += [fault] * 3
    proc = vctext_cli(
        "ask",
        str(speech_clip),
        "Where to?",
        "--perceivers",
        "asr",
        "--base-url",
        server.url,
        "--retries",
        "1",
        "--timeout",
        "1",
        cache=shared_cache,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vctext: error: ") and words in lines[0]
    assert server.count == requests


def test_a_refusal_inside_a_stream_reaches_the_user_in_one_line(speech_clip, shared_cache):
    # llama.cpp's server, its context full by its own count (a token a character here), sends
    # its refusal as an `error:` field of a stream that began with 200.
    with OpenAIServer(
        mimic="llama-server",
        context=1200,
        tokenize=lambda text: list(text.encode()),
        tokenize_endpoint=False,
    ) as llama:
        proc = vctext_cli(
            "ask",
            str(speech_clip),
            "Where to?",
            "--perceivers",
            "asr",
            "--base-url",
            llama.url,
            "--context-tokens",
            "1200",
            "--max-tokens",
            "64",
            "--retries",
            "3",
            cache=shared_cache,
        )
        assert llama.count == 1 and len(llama.refused) == 1  # not retried
    assert proc.returncode == 1 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("vctext: error: the LLM server at ")
    assert "exceeds the available context size (1200 tokens)" in line
    assert "pass a smaller --context-tokens" in line and "stream ended" not in line


def test_a_server_that_is_down_is_one_line_too(speech_clip, shared_cache):
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = vctext_cli(
        "ask",
        str(speech_clip),
        "Where to?",
        "--perceivers",
        "asr",
        "--retries",
        "0",
        cache=shared_cache,
        OPENAI_BASE_URL=url,
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"vctext: error: cannot reach the LLM server at {url}: is it running?; "
        "check --base-url / OPENAI_BASE_URL"
    ]


def test_chat_reads_questions_from_a_pipe(speech_clip, server, shared_cache, tmp_path):
    saved = tmp_path / "chat.json"
    script = f"Where does the ferry go?\n\n/reset\nWhich gate?\n/save {saved}\n/quit\nignored\n"
    proc = vctext_cli(
        "chat",
        str(speech_clip),
        "--perceivers",
        "asr",
        "--base-url",
        server.url,
        cache=shared_cache,
        stdin=script,
    )
    assert proc.returncode == 0, proc.stderr
    answers = proc.stdout.splitlines()
    assert len(answers) == 2 and answers[1].startswith("You asked: Which gate?")
    assert "(conversation cleared)" in proc.stderr and f"(saved to {saved})" in proc.stderr
    assert [m["content"] for m in json.loads(saved.read_text())["messages"]][0] == "Which gate?"
    assert server.count == 2
    assert all(r["stream"] for r in server.requests)


def test_chat_reports_a_failed_turn_and_goes_on(speech_clip, server, shared_cache):
    server.faults += ["500"]
    proc = vctext_cli(
        "chat",
        str(speech_clip),
        "--perceivers",
        "asr",
        "--base-url",
        server.url,
        "--retries",
        "0",
        cache=shared_cache,
        stdin="First?\nSecond?\n/nope\n",
    )
    assert proc.returncode == 1
    assert proc.stdout.strip().startswith("You asked: Second?")
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 2 and "failed (500)" in errors[0] and "unknown command /nope" in errors[1]


def test_describe_narrate_adds_a_narrative(speech_clip, server, shared_cache):
    story = "Over a test pattern, a voice announces the ferry to the island."
    server.replies += [story, story]
    text = vctext_cli(
        "describe",
        str(speech_clip),
        "--perceivers",
        "asr",
        "--narrate",
        "--base-url",
        server.url,
        cache=shared_cache,
    )
    assert text.returncode == 0, text.stderr
    timeline, narrative = text.stdout.split("\nnarrative:\n")
    assert "speech:" in timeline and narrative.strip() == story
    as_json = vctext_cli(
        "describe",
        str(speech_clip),
        "--perceivers",
        "asr",
        "--narrate",
        "--format",
        "json",
        "--base-url",
        server.url,
        cache=shared_cache,
    )
    assert json.loads(as_json.stdout)["summary"] == story


def test_config_never_shows_the_key():
    proc = vctext_cli("config", VCTEXT_API_KEY=KEY)
    assert proc.returncode == 0
    assert "api_key = '*** (hidden)'  # VCTEXT_API_KEY" in proc.stdout
    assert "llm = 'auto'" in proc.stdout
