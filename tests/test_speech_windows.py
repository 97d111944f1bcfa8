"""How speech regions become the windows Whisper hears, and what is carried into the next chunk."""

from __future__ import annotations

from vctext.perception.speech_windows import (
    MAX_WINDOW,
    SAMPLE_RATE,
    Window,
    split_open_end,
    windows,
)

S = SAMPLE_RATE


def test_close_regions_share_a_window_and_far_ones_do_not():
    regions = [(1 * S, 3 * S), (4 * S, 6 * S), (60 * S, 62 * S)]
    assert windows(regions, 100 * S) == [Window(1 * S, 6 * S), Window(60 * S, 62 * S)]


def test_a_window_never_grows_past_the_longest_whisper_hears_at_once():
    regions = [(i * 3 * S, i * 3 * S + int(2.5 * S)) for i in range(30)]  # 90 s of talk
    found = windows(regions, 100 * S)
    assert all(w.end - w.start <= MAX_WINDOW * S for w in found)
    assert [r for r in regions if not any(w.start <= r[0] and r[1] <= w.end for w in found)] == []


def test_speech_reaching_the_chunk_end_is_carried_whole_into_the_next_chunk():
    found = [Window(1 * S, 3 * S), Window(27 * S, int(29.8 * S))]
    now, carry = split_open_end(found, 30 * S, final=False)
    assert now == [Window(1 * S, 3 * S)] and carry == 27 * S


def test_the_last_second_is_carried_even_when_no_speech_was_found_there():
    now, carry = split_open_end([Window(1 * S, 3 * S)], 30 * S, final=False)
    assert now == [Window(1 * S, 3 * S)] and carry == 29 * S


def test_the_last_chunk_carries_nothing():
    found = [Window(27 * S, 30 * S)]
    assert split_open_end(found, 30 * S, final=True) == (found, 30 * S)


def test_talk_with_no_pause_is_not_carried_forever():
    found = [Window(0, 30 * S)]
    now, carry = split_open_end(found, 30 * S, final=False)
    assert now == found and carry == 30 * S
