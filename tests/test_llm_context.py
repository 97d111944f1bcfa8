"""Small contexts of real servers: llama-cpp-python and llama.cpp's llama-server, as our server
mimics them (their endpoints, context reports and error bodies), through the real openai client.

What a user must see: a request fits the server's context (counted with the server's tokenizer
where it has one, estimated on the high side where not); a context the server reports is used;
a refusal that names the context is fitted to once; one that cannot succeed is not retried and
reaches the user in one line with the server's own words.
"""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("openai", reason="needs the llm extra (openai)")
from openai_server import OpenAIServer, whisper_tokenizer  # noqa: E402
from video_texts import FERRY, long_video_text, short_video_text, spoken  # noqa: E402

import vctext  # noqa: E402
from vctext.errors import LLMError  # noqa: E402
from vctext.llm import load_llm  # noqa: E402
from vctext.llm.base import ContextLengthError, estimate_tokens  # noqa: E402
from vctext.render import render  # noqa: E402

KEY = "sk-test-SECRET123"
MAX_TOKENS = 200


def every_character(text: str) -> list[int]:
    """A tokenizer far denser than any estimate: a token per character."""
    return [ord(c) for c in text]


@pytest.fixture(scope="module")
def ten_minutes():
    return long_video_text(10)


@pytest.fixture(scope="module")
def real_bpe():
    tokenize = whisper_tokenizer()
    if tokenize is None:
        pytest.skip("needs openai-whisper and tiktoken (a real BPE read offline)")
    return tokenize


def llm_for(server: OpenAIServer, **options):
    return load_llm(
        "openai", base_url=server.url, api_key=KEY, max_tokens=MAX_TOKENS, retries=3, **options
    )


def fits(server: OpenAIServer) -> bool:
    """Every chat request left room for the answer in the server's context."""
    return all(t + MAX_TOKENS <= server.context for t in server.prompt_tokens)


# -- counting -----------------------------------------------------------------------------------


def test_the_estimate_is_not_below_a_real_tokenizer(real_bpe, ten_minutes):
    texts = {
        "video text": render(ten_minutes, format="text"),
        "german": "Die Fähre zur Insel fährt um sieben Uhr dreißig von Steig vier ab. " * 5,
        "russian": "Паром на остров отправляется в семь тридцать от выхода четыре. " * 5,
        "chinese": "渡轮七点半从四号门开往小岛。" * 5,
        "code": "def f(x): return {'a': [1, 2, 3], 'b': x**2}  # note\n" * 5,
    }
    for name, text in texts.items():
        assert len(real_bpe(text)) <= estimate_tokens(text), name
    # High, but not so high that it wastes the context on a video's usual text.
    assert estimate_tokens(texts["video text"]) <= 1.5 * len(real_bpe(texts["video text"]))
    # Llama-style tokenizers split every digit: a timestamp can take a token a character.
    stamp = "00:01:23-00:01:27 [12,40,132,300] #14"
    assert estimate_tokens(stamp) >= len(stamp.replace(" ", ""))


def test_llama_cpp_python_counts_with_the_servers_own_tokenizer(ten_minutes):
    # A token per character: four characters a token (the old estimate) would send 4x too much.
    with OpenAIServer(mimic="llama-cpp-python", context=4096, tokenize=every_character) as server:
        answer = vctext.ask(
            ten_minutes, "What happens at gate 3?", llm=llm_for(server, context_tokens=4096)
        )
        assert server.tokenized > 0 and server.refused == [] and fits(server)
        assert answer.text.startswith("You asked: What happens at gate 3?")
        assert answer.context["window"] == 4096 and answer.context["steps"]


def test_without_a_tokenize_endpoint_the_estimate_keeps_within_the_context(real_bpe, ten_minutes):
    with OpenAIServer(
        mimic="llama-cpp-python", context=4096, tokenize=real_bpe, tokenize_endpoint=False
    ) as server:
        vctext.ask(ten_minutes, "What happens at gate 3?", llm=llm_for(server, context_tokens=4096))
        assert server.tokenized == 0 and server.refused == [] and fits(server)
        sent = server.requests[-1]["messages"]
        # What the estimate used to be (four characters a token) is far below the real count.
        assert sum(len(m["content"]) / 4 for m in sent) < 0.8 * server.prompt_tokens[-1]


# -- the server's context -----------------------------------------------------------------------


def test_llama_server_context_is_read_from_props(ten_minutes, caplog):
    with OpenAIServer(mimic="llama-server", context=3000) as server:
        llm = llm_for(server)
        # /props says 3000; the model list's n_ctx_train (12000) is not what a request may use.
        assert llm.context_tokens == 3000
        answer = vctext.ask(ten_minutes, "What happens at gate 3?", llm=llm)
        assert server.tokenized > 0 and server.refused == [] and fits(server)
        assert answer.context["window"] == 3000
        with caplog.at_level(logging.WARNING, logger="vctext"):
            assert llm_for(server, context_tokens=8000).context_tokens == 3000
        assert "context is 3000 tokens; using that, not --context-tokens 8000" in caplog.text


@pytest.mark.parametrize("mimic", ["llama-cpp-python", "llama-server"])
def test_a_refusal_that_names_the_context_is_fitted_to_once(mimic, ten_minutes, caplog):
    # Neither server says its context up front here: only its refusal does (llama-server's
    # inside a stream that began with 200).
    with OpenAIServer(mimic=mimic, context=2048, report_context=False) as server:
        llm = llm_for(server)
        with caplog.at_level(logging.WARNING, logger="vctext"):
            answer = vctext.ask(ten_minutes, "What happens at gate 3?", llm=llm)
        assert answer.text.startswith("You asked: What happens at gate 3?")
        # llama-cpp-python streams nothing when it refuses: the same request unstreamed is
        # refused again, this time saying why.
        refusals = 2 if mimic == "llama-cpp-python" else 1
        assert len(server.refused) == refusals and fits_after_refusal(server)
        assert llm.context_tokens == 2048 and answer.context["window"] == 2048
        assert "context is 2048 tokens, not 8192" in caplog.text
        # The next question starts from what was learned: nothing is refused again.
        vctext.ask(ten_minutes, "And gate 5?", llm=llm)
        assert len(server.refused) == refusals


def fits_after_refusal(server: OpenAIServer) -> bool:
    last = max(i for i, t in enumerate(server.prompt_tokens) if t in server.refused)
    return all(t + MAX_TOKENS <= server.context for t in server.prompt_tokens[last + 1 :])


def test_a_1024_token_server_answers_with_room_kept_for_the_answer(ten_minutes):
    """llama-cpp-python run with --n_ctx 1024 (seen: it says so only when it refuses): with the
    default --max-tokens 512 the answer would take half the context, so it is capped at a
    quarter, and every request after the refusal fits, summaries of long ranges included."""
    with OpenAIServer(mimic="llama-cpp-python", context=1024, report_context=False) as server:
        llm = load_llm("openai", base_url=server.url, api_key=KEY, max_tokens=512, retries=3)
        answer = vctext.ask(ten_minutes, "What happens at gate 3?", llm=llm)
        assert answer.text.startswith("You asked: What happens at gate 3?")
        assert llm.answer_tokens == 256
        last = max(i for i, t in enumerate(server.prompt_tokens) if t in server.refused)
        after = list(zip(server.prompt_tokens, server.requests, strict=True))[last + 1 :]
        assert after and all(t + body["max_tokens"] <= 1024 for t, body in after)


def test_chat_refits_once_and_keeps_talking(ten_minutes):
    with OpenAIServer(mimic="llama-cpp-python", context=2048, report_context=False) as server:
        chat = vctext.Chat(ten_minutes, llm=llm_for(server))
        assert "".join(chat.send("What happens at gate 3?")).startswith("You asked:")
        assert chat.ask("And then?").text.startswith("You asked: And then?")
        # The first question is refused streamed (no event) and unstreamed (saying why).
        assert len(server.refused) == 2 and len(chat.history) == 4


# -- errors that cannot succeed ----------------------------------------------------------------


@pytest.mark.parametrize(
    "mimic, words",
    [
        ("llama-cpp-python", "This model's maximum context length is 2048 tokens"),
        ("llama-server", "exceeds the available context size (2048 tokens)"),
        ("openai", "This model's maximum context length is 2048 tokens"),
    ],
)
@pytest.mark.parametrize("how", ["ask", "narrate"])  # streamed and not
def test_a_request_over_the_context_is_not_retried_and_said_in_one_line(
    mimic, words, how, ten_minutes
):
    # The user's --context-tokens is the server's, but the server's tokenizer is far denser
    # than any estimate and it has no tokenize endpoint: the request cannot fit as counted.
    with OpenAIServer(
        mimic=mimic, context=2048, tokenize=every_character, tokenize_endpoint=False
    ) as server:
        llm = llm_for(server, context_tokens=2048)
        with pytest.raises(ContextLengthError) as err:
            if how == "ask":
                vctext.ask(ten_minutes, "What happens at gate 3?", llm=llm)
            else:
                vctext.narrate(ten_minutes, llm=llm)
        assert server.count == 1  # no retries of a request that can only fail again
        message = str(err.value)
        assert "\n" not in message and words in message, message
        assert "longer than its context" in message and "pass a smaller --context-tokens" in message
        assert "stream ended" not in message and "SECRET123" not in message


@pytest.mark.parametrize(
    "fault, words",
    [
        ("400", "refused the request (400): Invalid type for 'temperature'"),
        ("401", "rejected the API key (401)"),
        ("404", "does not know model 'vctext-test-model' (404)"),
    ],
)
def test_requests_that_cannot_succeed_are_not_retried(fault, words):
    with OpenAIServer() as server:
        server.faults += [fault] * 4
        with pytest.raises(LLMError) as err:
            vctext.ask(short_video_text((3.0, 7.0, FERRY)), "Where to?", llm=llm_for(server))
        assert server.count == 1
        message = str(err.value)
        assert words in message and "\n" not in message and "tries" not in message
        assert "SECRET123" not in message


def test_speech_survives_a_small_context(ten_minutes):
    with OpenAIServer(mimic="llama-server", context=4096) as server:
        vctext.ask(ten_minutes, "What is said?", llm=llm_for(server))
        sent = server.requests[-1]["messages"][1]["content"]
        assert server.refused == [] and all(line in sent for line in spoken(ten_minutes))
