"""The header of every output says what was described: the range, and the video's real length."""

from __future__ import annotations

import json

import pytest

from vctext.document import VideoText
from vctext.report import render_html
from vctext.types import Observation, Segment, VideoInfo

INFO = VideoInfo(path="gate.mp4", duration=40.0, fps=25, width=320, height=240, has_audio=True)


def described(start: float = 0.0, end: float | None = None) -> VideoText:
    """A 40-s video described from ``start`` to ``end``, with one line of speech inside."""
    obs = [Observation(18.0, 21.0, "asr", "test", "Boarding at gate seven.")]
    segments = [Segment(18.0, 21.0, {"asr": ["Boarding at gate seven."]})]
    return VideoText(INFO, obs, segments, start=start, end=end)


def test_ranged_text_header_says_the_range_and_the_whole_length():
    lines = described(15.0, 25.0).render().splitlines()
    assert lines[0] == "video: gate.mp4 (00:15-00:25 of 00:40, 320x240, 25 fps)"
    assert not any(line.startswith("range:") for line in lines)  # said once, in the header


@pytest.mark.parametrize("start,end", [(0.0, None), (0.0, 40.0), (0.0, 100.0)])
def test_whole_video_header_says_its_length(start, end):
    assert described(start, end).render().splitlines()[0] == (
        "video: gate.mp4 (00:40 long, 320x240, 25 fps)"
    )


def test_end_past_the_video_is_shown_as_the_video_end():
    header = described(15.0, 100.0).render().splitlines()[0]
    assert header == "video: gate.mp4 (00:15-00:40 of 00:40, 320x240, 25 fps)"


def test_ranged_markdown_says_the_whole_length_and_the_range():
    md = described(15.0, 25.0).render(format="md")
    assert "**Length:** 00:40" in md
    assert "- **Range:** 00:15–00:25" in md.splitlines()
    assert "**Range:**" not in described().render(format="md")


def test_ranged_html_report_says_the_range_of_the_whole_length():
    html = render_html(described(15.0, 25.0), thumbnails=False)
    assert "<span>range 00:15–00:25 of 00:40</span>" in html
    assert "00:25 long" not in html
    whole = render_html(described(), thumbnails=False)
    assert "<span>00:40 long</span>" in whole and "range 00:" not in whole


def test_ranged_json_keeps_the_video_length_and_states_the_range():
    data = json.loads(described(15.0, 25.0).render(format="json"))
    assert data["video"]["duration"] == 40.0
    assert data["range"] == {"start": 15.0, "end": 25.0}
