"""Answers that cite their time ranges, "when" questions with moments, evidence-first answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import requires_media_tools
from video_texts import short_video_text

pytest.importorskip("openai", reason="needs the llm extra (openai)")
from openai_server import OpenAIServer  # noqa: E402

import vctext  # noqa: E402
from vctext.llm import load_llm  # noqa: E402
from vctext.reason.ask import is_temporal, parse_citations  # noqa: E402
from vctext.reason.prompts import system_prompt  # noqa: E402

FERRY = "The ferry to the island leaves at seven thirty from gate four."


@pytest.fixture(scope="module")
def doc():
    return short_video_text(
        (2.0, 6.0, FERRY),
        (8.0, 12.0, "The museum opens at noon."),
        duration=20.0,
    )


def ask(doc, reply: str, question: str, **options):
    with OpenAIServer(replies=[reply]) as server:
        llm = load_llm("openai", base_url=server.url, api_key="sk-test")
        return vctext.ask(doc, question, llm, cache=False, **options), server


def test_the_prompt_asks_for_citations_in_the_record_s_form():
    assert "[01:20-01:35]" in system_prompt()


def test_citations_are_parsed_and_a_time_outside_the_evidence_is_dropped(doc):
    reply = "It leaves at seven thirty [00:02-00:06]; the bus leaves at [05:00-05:10]."
    answer, _ = ask(doc, reply, "Where does the ferry go?")
    assert answer.cited == "[00:02-00:06]"
    data = answer.to_json()
    assert data["citations"] == [
        {"start": 2.0, "end": 6.0, "label": "[00:02-00:06]", "by": "model"}
    ]
    assert data["dropped_citations"] == 1
    assert data["ranges"] and data["answer"] == reply  # the evidence and the text stay
    for c in answer.citations:  # every kept citation lies in a range the model was given
        assert any(s.start - 1 <= c.start and c.end <= s.end + 1 for s in doc.segments)


def test_an_answer_that_cites_nothing_cites_what_it_relied_on(doc):
    answer, _ = ask(doc, "The ferry goes to the island.", "Where does the ferry go?")
    assert answer.cited == "[00:02-00:06]"
    assert answer.to_json()["citations"][0]["by"] == "evidence"
    assert answer.dropped_citations == 0 and answer.moments == []


def test_citation_forms():
    from vctext.types import Segment

    segments = [Segment(3720.0, 3730.0, {"asr": ["x"]})]
    kept, dropped = parse_citations("at [1:02:01-1:02:09], [1:02:05] and [00:10-00:20]", segments)
    assert [(c.start, c.end) for c in kept] == [(3721.0, 3729.0), (3725.0, 3725.0)]
    assert dropped == 1


@pytest.mark.parametrize(
    "question, temporal",
    [
        ("When does the ferry leave?", True),
        ("At what time does the museum open?", True),
        ("what time is it said", True),
        ("How long into the video does she speak?", True),
        ("Tell me when the dog barks", False),
        ("Where does the ferry go?", False),
    ],
)
def test_when_questions_are_recognised(question, temporal):
    assert is_temporal(question) is temporal


def test_a_when_question_gets_moments(doc):
    answer, _ = ask(doc, "At 00:02 [00:02-00:06].", "When does the ferry leave?")
    moments = answer.to_json()["moments"]
    assert moments[0] == {"start": 2.0, "end": 6.0, "score": 1.0}
    assert all(0 < m["score"] <= 1 for m in moments)

    answer, _ = ask(doc, "Around noon, I think.", "At what time does the museum open?")
    assert answer.moments and (answer.moments[0].start, answer.moments[0].end) == (8.0, 12.0)


def test_evidence_first_quotes_the_best_range_before_the_model(doc):
    answer, _ = ask(doc, "Seven thirty.", "When does the ferry leave?", evidence_first=True)
    lead, sentence = answer.text.split("\n\n")
    assert lead.startswith("From the video:\n[00:02-00:06] speech:") and "ferry" in lead
    assert sentence == "Seven thirty." and answer.evidence_first
    assert answer.cited.startswith("[00:02-00:06]") and answer.dropped_citations == 0

    plain, _ = ask(doc, "Seven thirty.", "When does the ferry leave?")
    assert plain.text == "Seven thirty." and not plain.evidence_first  # not for a server model
    story, _ = ask(doc, "A ferry, then a museum.", "Summarize the video", evidence_first=True)
    assert story.text == "A ferry, then a museum."  # an overview is not a factual question


@requires_media_tools
def test_ask_command_prints_and_returns_citations(speech_clip, tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "VCTEXT_CACHE_DIR": str(tmp_path)}
    with OpenAIServer(replies=["To the island [00:03-00:05] [09:00-09:30].", "x"]) as srv:
        args = [sys.executable, "-m", "vctext", "ask", str(speech_clip)]
        args += ["--perceivers", "asr", "--base-url", srv.url]
        text = subprocess.run(
            [*args, "Where does it go?"], capture_output=True, text=True, env=env, timeout=300
        )
        as_json = subprocess.run(
            [*args, "When is it said?", "--json"], capture_output=True, text=True, env=env
        )
    assert text.returncode == 0, text.stderr
    # One line: the answer as the model wrote it, then only the citations that hold.
    assert text.stdout == "To the island [00:03-00:05] [09:00-09:30]. [00:03-00:05]\n"
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["citations"] and data["citations"][0]["by"] == "evidence"  # "x" cites nothing
    assert data["dropped_citations"] == 0 and data["moments"] and "ranges" in data
