"""Video I/O as a user sees it: probing, key frames at the right times, streamed, 16 kHz audio."""

from __future__ import annotations

import inspect
import math
import os
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST_H264, FFMPEG, SPEECH_START, ffmpeg, make_video, requires_media_tools

from vctext import video
from vctext.errors import InputError

pytestmark = requires_media_tools

RED, BLUE = (255, 0, 0), (0, 0, 255)
#: The colour clip switches from red to blue here.
SWITCH_AT = 2.4
#: The tone clip is silent here (seconds).
GAP = (1.7, 1.9)


# -- clips -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def plain_clip(media_dir) -> Path:
    return make_video(media_dir / "plain.mp4", duration=3, audio=False)


@pytest.fixture(scope="session")
def rotated_clip(media_dir, plain_clip) -> Path:
    """plain_clip with a 90° display rotation (stream copy, so the pixels are the same)."""
    out = media_dir / "rotated.mp4"
    tries = (
        ["-display_rotation", "90", "-i", str(plain_clip), "-c", "copy"],  # ffmpeg >= 6
        ["-i", str(plain_clip), "-c", "copy", "-metadata:s:v:0", "rotate=90"],  # older
    )
    for args in tries:
        proc = subprocess.run(
            [FFMPEG, "-y", "-loglevel", "error", *args, str(out)], capture_output=True
        )
        if proc.returncode == 0 and _ffprobe_rotation(out):
            return out
    pytest.skip("this ffmpeg cannot write a display rotation")


def _ffprobe_rotation(path: Path) -> bool:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", str(path)], capture_output=True, text=True
    )
    return "rotation=" in proc.stdout.replace("rotation=0\n", "") or "rotate=" in proc.stdout


@pytest.fixture(scope="session")
def colour_clip(media_dir) -> Path:
    """Red until SWITCH_AT, then blue (4.8 s, no audio)."""
    out = media_dir / "colours.mp4"
    colour = f"size=320x240:rate=25:duration={SWITCH_AT}"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"color=c=red:{colour}",
        "-f",
        "lavfi",
        "-i",
        f"color=c=blue:{colour}",
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1[v]",
        "-map",
        "[v]",
        *FAST_H264,
        str(out),
    )
    return out


@pytest.fixture(scope="session")
def speech_wav(speech_clip, media_dir) -> Path:
    return media_dir / "sentence.wav"  # written by the speech_clip fixture


@pytest.fixture(scope="session")
def tone_wav(media_dir) -> Path:
    """5 s of a loud 440 Hz tone, silent only during GAP; 16 kHz mono PCM."""
    out = media_dir / "tone.wav"
    expr = rf"0.5*sin(2*PI*440*t)*(1-between(t\,{GAP[0]}\,{GAP[1]}))"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"aevalsrc='{expr}':s=16000:d=5",
        "-ac",
        "1",
        "-c:a",
        "pcm_s16le",
        str(out),
    )
    return out


@pytest.fixture(params=["ffprobe", "ffmpeg -i"])
def probe_path(request, monkeypatch):
    """Run the test once with ffprobe and once with the `ffmpeg -i` fallback."""
    video.ffprobe_binary.cache_clear()
    if request.param == "ffmpeg -i":
        monkeypatch.setenv("VCTEXT_NO_FFPROBE", "1")
    else:
        monkeypatch.delenv("VCTEXT_NO_FFPROBE", raising=False)
    yield request.param
    video.ffprobe_binary.cache_clear()


def _colour(frame) -> tuple[int, int, int]:
    """The frame's middle pixel, snapped to pure colours (the encoder shifts them a little)."""
    h, w = frame.image.shape[:2]
    return tuple(255 if v > 127 else 0 for v in frame.image[h // 2, w // 2])


def _ffmpeg_children() -> list[int]:
    """Live ffmpeg processes started by this test process."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if (
            fields.get("PPid", "").strip() == str(os.getpid())
            and fields.get("Name", "").strip() == "ffmpeg"
            and not fields.get("State", "").startswith("Z")
        ):
            pids.append(int(status.parent.name))
    return pids


# -- probing -----------------------------------------------------------------------------------


def test_probe_reads_duration_rate_size_and_streams(probe_path, speech_clip, silent_video):
    info = video.probe(speech_clip)
    if probe_path == "ffmpeg -i":
        assert video.ffprobe_binary() is None
    assert info.duration == pytest.approx(10.0, abs=0.1)
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (320, 240)
    assert info.display_size == (320, 240)
    assert info.rotation == 0
    assert info.has_video and info.has_audio

    silent = video.probe(silent_video)
    assert silent.duration == pytest.approx(6.0, abs=0.1)
    assert silent.has_video and not silent.has_audio


def test_probe_audio_only_file(probe_path, speech_wav):
    with wave.open(str(speech_wav)) as w:
        seconds = w.getnframes() / w.getframerate()
    info = video.probe(speech_wav)
    assert info.has_audio and not info.has_video
    assert info.duration == pytest.approx(seconds, abs=0.05)
    assert list(video.iter_frames(info)) == []


def test_probe_rotation(probe_path, rotated_clip):
    info = video.probe(rotated_clip)
    assert info.rotation in (90, 270)
    assert (info.width, info.height) == (320, 240)  # as stored
    assert info.display_size == (240, 320)  # as shown


def test_both_probe_paths_agree(monkeypatch, speech_clip, silent_video, rotated_clip, speech_wav):
    paths = [speech_clip, silent_video, rotated_clip, speech_wav]
    video.ffprobe_binary.cache_clear()
    monkeypatch.delenv("VCTEXT_NO_FFPROBE", raising=False)
    assert video.ffprobe_binary() is not None
    with_ffprobe = [video.probe(p) for p in paths]
    monkeypatch.setenv("VCTEXT_NO_FFPROBE", "1")
    video.ffprobe_binary.cache_clear()
    try:
        with_ffmpeg = [video.probe(p) for p in paths]
    finally:
        video.ffprobe_binary.cache_clear()
    for a, b in zip(with_ffprobe, with_ffmpeg, strict=True):
        assert a.duration == pytest.approx(b.duration, abs=0.02), a.path
        assert a.fps == pytest.approx(b.fps, abs=0.01), a.path
        assert (a.width, a.height, a.rotation) == (b.width, b.height, b.rotation), a.path
        assert (a.has_video, a.has_audio) == (b.has_video, b.has_audio), a.path


def test_rotated_frames_are_upright(plain_clip, rotated_clip):
    """Frames come out as a viewer sees them, turned the way the probed rotation says."""
    stored = next(video.iter_frames(video.probe(plain_clip))).image.astype(int)
    info = video.probe(rotated_clip)
    shown = next(video.iter_frames(info)).image.astype(int)
    assert shown.shape == (320, 240, 3)
    # rotation is clockwise; np.rot90 turns counter-clockwise for positive k.
    expected = np.rot90(stored, k=-info.rotation // 90)
    assert np.abs(expected - shown).mean() < 3
    assert np.abs(np.rot90(expected, 2) - shown).mean() > 20  # the other way round differs


@pytest.mark.parametrize("make_bad", ["missing", "empty", "directory", "text"])
def test_probe_rejects_what_is_not_media(tmp_path, make_bad):
    path = tmp_path / "clip.mp4"
    if make_bad == "empty":
        path.write_bytes(b"")
    elif make_bad == "directory":
        path.mkdir()
    elif make_bad == "text":
        path.write_text("this is not a video\n" * 20)
    with pytest.raises(InputError) as err:
        video.probe(path)
    assert "clip.mp4" in str(err.value)
    assert "\n" not in str(err.value)


# -- frames ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fps, start, end, count",
    [
        (1.0, None, None, 10),
        (0.5, None, None, 5),
        (1.0, 2.5, 6.0, 4),
        (2.0, 1.0, 3.0, 4),
        (1.0, 7.0, None, 3),
    ],
)
def test_frames_have_the_right_count_and_absolute_times(speech_clip, fps, start, end, count):
    info = video.probe(speech_clip)
    frames = list(video.iter_frames(info, fps=fps, start=start, end=end))
    s = start or 0.0
    e = end if end is not None else info.duration
    assert len(frames) == count
    times = [f.time for f in frames]
    assert times == sorted(times) and len(set(times)) == len(times)
    for k, frame in enumerate(frames):
        # the k-th sample is taken within half an interval of start + k/fps, never outside the range
        assert abs(frame.time - (s + k / fps)) <= 0.5 / fps + 1e-6, times
        assert s - 1e-6 <= frame.time < e
        assert frame.image.shape == (240, 320, 3) and frame.image.dtype == np.uint8
        assert frame.index == k
        assert not frame.is_scene_change


def test_frames_show_what_is_on_screen_at_their_time(colour_clip):
    info = video.probe(colour_clip)
    frames = list(video.iter_frames(info, fps=1))
    assert len(frames) == 5
    for f in frames:
        assert _colour(f) == (RED if f.time < SWITCH_AT else BLUE), f.time
    later = list(video.iter_frames(info, fps=1, start=2.6))
    assert later and all(_colour(f) == BLUE for f in later)
    assert later[0].time == pytest.approx(2.6, abs=0.5)


def test_scene_change_frames_are_added(colour_clip):
    info = video.probe(colour_clip)
    plain = list(video.iter_frames(info, fps=1))
    with_scenes = list(video.iter_frames(info, fps=1, scene_threshold=0.3))
    cuts = [f for f in with_scenes if f.is_scene_change]
    assert len(cuts) == 1
    assert cuts[0].time == pytest.approx(SWITCH_AT, abs=0.05)
    assert _colour(cuts[0]) == BLUE
    # the regular samples are all still there, plus the cut
    assert len(with_scenes) == len(plain) + 1
    regular = [f.time for f in with_scenes if not f.is_scene_change]
    assert regular == pytest.approx([f.time for f in plain], abs=0.01)
    assert [f.time for f in with_scenes] == sorted(f.time for f in with_scenes)


def test_frames_are_streamed_not_collected(speech_clip):
    info = video.probe(speech_clip)
    before = set(_ffmpeg_children())
    frames = video.iter_frames(info, fps=5)
    assert inspect.isgenerator(frames)
    assert set(_ffmpeg_children()) == before  # nothing runs until the first frame is asked for
    first = next(frames)
    assert first.time == pytest.approx(0.0, abs=0.1)
    if Path("/proc").is_dir():
        # The first frame arrived while ffmpeg is still producing the rest: a frame is larger
        # than a pipe's buffer, so ffmpeg waits for us and nothing piles up in memory.
        assert len(set(_ffmpeg_children()) - before) == 1
    frames.close()
    assert set(_ffmpeg_children()) == before  # closing the generator stops ffmpeg


def test_frame_options_are_checked(speech_clip):
    info = video.probe(speech_clip)
    with pytest.raises(InputError, match="fps"):
        list(video.iter_frames(info, fps=0))
    with pytest.raises(InputError, match="past the end"):
        list(video.iter_frames(info, start=60))
    with pytest.raises(InputError):
        list(video.iter_frames(info, start=5, end=4))


def test_large_frames_are_scaled_and_boxes_map_back(media_dir):
    clip = make_video(media_dir / "wide.mp4", duration=1, size="640x360", audio=False)
    frame = next(video.iter_frames(video.probe(clip), max_side=320))
    assert frame.image.shape == (180, 320, 3)
    assert frame.scale == pytest.approx(2.0)


# -- audio -------------------------------------------------------------------------------------


def _onset(samples: np.ndarray, threshold: float = 0.05) -> float:
    """Seconds until the first loud sample."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    assert len(loud), "no sound at all"
    return loud[0] / video.SAMPLE_RATE


def test_audio_is_16khz_mono_float32_with_the_right_length(speech_clip):
    info = video.probe(speech_clip)
    chunks = list(video.iter_audio(info))
    assert len(chunks) == 1  # shorter than a chunk
    chunk = chunks[0]
    assert chunk.sample_rate == 16000
    assert chunk.samples.dtype == np.float32 and chunk.samples.ndim == 1
    assert chunk.start == 0.0
    assert len(chunk.samples) == pytest.approx(10.0 * 16000, abs=0.05 * 16000)
    assert float(np.abs(chunk.samples).max()) <= 1.0
    # the speech starts when it was mixed in, and before that it is quiet
    assert _onset(chunk.samples) == pytest.approx(SPEECH_START, abs=0.3)
    assert float(np.abs(chunk.samples[: int(2.5 * 16000)]).max()) < 0.01


def test_audio_range_keeps_absolute_times(speech_clip):
    info = video.probe(speech_clip)
    chunks = list(video.iter_audio(info, start=2.0, end=7.0))
    assert chunks[0].start == pytest.approx(2.0)
    samples = np.concatenate([c.samples for c in chunks])
    assert len(samples) == pytest.approx(5.0 * 16000, abs=0.05 * 16000)
    assert chunks[-1].end == pytest.approx(7.0, abs=0.05)
    assert chunks[0].start + _onset(samples) == pytest.approx(SPEECH_START, abs=0.3)


def test_video_without_audio_has_no_audio_chunks(silent_video):
    assert list(video.iter_audio(video.probe(silent_video))) == []


def test_audio_chunks_are_cut_in_a_quiet_spot_and_contiguous(tone_wav):
    info = video.probe(tone_wav)
    whole = np.concatenate([c.samples for c in video.iter_audio(info)])
    chunks = list(video.iter_audio(info, chunk_seconds=2.0))
    assert len(chunks) >= 2
    # the first cut falls in the only quiet stretch near the 2 s mark, not mid-tone
    assert GAP[0] <= chunks[0].end <= GAP[1]
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start == pytest.approx(a.end, abs=1e-9)  # no gap, no overlap
    assert all(len(c.samples) > 0 for c in chunks)
    assert all(c.duration <= 2.0 + 1e-9 for c in chunks[:-1])
    # together the chunks are exactly the audio read in one piece
    joined = np.concatenate([c.samples for c in chunks])
    assert np.array_equal(joined, whole)
    assert chunks[-1].end == pytest.approx(info.duration, abs=0.01)


def test_audio_chunks_of_a_range_start_at_the_range(tone_wav):
    info = video.probe(tone_wav)
    chunks = list(video.iter_audio(info, start=1.0, end=4.0, chunk_seconds=1.0))
    assert chunks[0].start == pytest.approx(1.0)
    assert chunks[-1].end == pytest.approx(4.0, abs=0.01)
    total = sum(len(c.samples) for c in chunks)
    assert total == pytest.approx(3.0 * 16000, abs=2)
    assert math.isclose(sum(c.duration for c in chunks), 3.0, abs_tol=0.01)
