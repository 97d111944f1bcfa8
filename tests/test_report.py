"""The HTML report: one self-contained file, text from the video escaped, seen in a real browser."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_video, requires_media_tools

from vctext.document import VideoText
from vctext.render import render
from vctext.types import Observation, Segment, VideoInfo
from vctext.video import probe

pytestmark = requires_media_tools

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
requires_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs a headless Chromium (apt-get install -y chromium)"
)
TRICKY_OCR = 'GATE 7 <script>alert("x")</script> {{ 7*7 }}'
TRICKY_CAPTION = "a test pattern <img src=x onerror=alert(1)> & more"
SPEECH = "Hey, are you going to finish that?"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("report") / "pattern.mp4", 8, size="640x360")


def _doc(clip: Path, summary: str | None = "A test pattern plays while someone asks.") -> VideoText:
    info = probe(clip)
    obs = [
        Observation(0, 4, "caption", "test", TRICKY_CAPTION),
        Observation(0, 4, "detect", "test", "person", 0.9, (40, 30, 300, 320), track=1),
        Observation(1, 3, "asr", "test", SPEECH),
        Observation(4, 8, "caption", "test", "a test pattern with a clock"),
        Observation(4, 8, "dense", "test", "a round clock", 0.8, (350, 60, 600, 300)),
        Observation(4.5, 6, "ocr", "test", TRICKY_OCR),
    ]
    segments = [
        Segment(
            0,
            4,
            {
                "caption": [TRICKY_CAPTION],
                "tags": ["pattern", "colour"],
                "detect": ["person [40,30,300,320]"],
                "asr": [SPEECH],
            },
        ),
        Segment(
            4,
            8,
            {
                "caption": ["a test pattern with a clock"],
                "dense": ["a round clock [350,60,600,300]"],
                "ocr": [TRICKY_OCR],
            },
        ),
    ]
    return VideoText(info, obs, segments, end=info.duration, summary=summary)


def _jpegs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', html)]


def test_report_is_one_self_contained_file(clip):
    from PIL import Image

    html = render(_doc(clip), format="html")
    assert html.startswith("<!DOCTYPE html>")
    # Nothing to fetch: no external stylesheet, script, font or image.
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert "@import" not in html and "url(" not in html and "<script" not in html
    frames = _jpegs(html)
    assert len(frames) == 2  # one key frame per range
    first = Image.open(io.BytesIO(frames[0]))
    assert first.format == "JPEG" and first.width <= 320 and first.height == 180
    # The boxes are drawn in source pixels over the thumbnail: the SVG's viewBox is the source.
    assert html.count('viewBox="0 0 640 360"') == 2
    assert 'x="40" y="30" width="260" height="290"' in html
    assert 'x="350" y="60" width="250" height="240"' in html
    assert "A test pattern plays while someone asks." in html


def test_text_from_the_video_is_escaped(clip):
    html = render(_doc(clip), format="html")
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; {{ 7*7 }}" in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; more" in html


def test_long_videos_get_a_capped_number_of_thumbnails(clip):
    from vctext.report import render_html

    doc = _doc(clip, summary=None)
    segments = [Segment(i * 0.1, (i + 1) * 0.1, {"caption": [f"moment {i}"]}) for i in range(80)]
    html = render_html(VideoText(doc.video, [], segments, end=8.0), max_thumbnails=5)
    assert html.count('class="range"') == 80
    assert 1 < len(set(_jpegs(html))) <= 5  # neighbouring ranges share a key frame
    assert "Narrative" not in html


def test_audio_only_report_has_no_pictures(tmp_path):
    info = VideoInfo("talk.wav", 5.0, 0, 0, 0, has_video=False, has_audio=True)
    doc = VideoText(
        info, [Observation(0, 2, "asr", "t", SPEECH)], [Segment(0, 2, {"asr": [SPEECH]})]
    )
    html = render(doc, format="html")
    assert "data:image" not in html and "no picture" in html and SPEECH.replace('"', "") in html


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@requires_chromium
def test_cli_report_opens_in_a_browser(speech_clip, tmp_path):
    """`describe --format html` on a real clip, loaded and drawn by headless Chromium."""
    from PIL import Image

    out = tmp_path / "report.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vctext",
            "describe",
            "--profile",
            "offline",
            "--perceivers",
            "asr",
            "--format",
            "html",
            "-o",
            str(out),
            str(speech_clip),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    url = out.resolve().as_uri()
    dom = _chromium("--dump-dom", url, profile=tmp_path / "profile1")
    assert dom.returncode == 0, dom.stderr
    ranges = re.findall(r'<article class="range"', dom.stdout)
    assert ranges, dom.stdout[:2000]
    assert re.search(r"<q>[^<]*\bf(e|ai)r", dom.stdout, re.IGNORECASE)  # the spoken sentence
    assert len(re.findall(r'<img src="data:image/jpeg', dom.stdout)) == len(ranges)

    png = tmp_path / "report.png"
    shot = _chromium(f"--screenshot={png}", "--window-size=1280,900", url, profile=tmp_path / "p2")
    assert shot.returncode == 0, shot.stderr
    image = Image.open(png).convert("RGB")
    assert image.size == (1280, 900)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200  # thumbnails and text, not a blank page


@requires_chromium
def test_boxes_and_escaped_text_survive_the_browser(clip, tmp_path):
    page = tmp_path / "tricky.html"
    page.write_text(render(_doc(clip), format="html"), encoding="utf-8")
    dom = _chromium("--dump-dom", page.resolve().as_uri(), profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr
    assert "<script" not in dom.stdout  # the on-screen text stayed text
    assert "onerror" not in re.sub(r"&lt;img src=x onerror=alert\(1\)&gt;", "", dom.stdout)
    assert len(re.findall(r"<rect ", dom.stdout)) == 2
    assert "a round clock" in dom.stdout
