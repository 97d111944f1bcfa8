"""`--backend caption=openai-vision:MODEL`: frame captions from a vision model behind an
OpenAI-compatible API, against our test server, which names each picture's dominant colour."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import FFMPEG, concat_video, fresh_home_env, run_vctext

pytest.importorskip("openai", reason="needs the llm extra (openai)")
pytest.importorskip("PIL", reason="needs Pillow")
from openai_server import OpenAIServer, free_port  # noqa: E402

import vctext  # noqa: E402
from vctext.errors import ConfigError  # noqa: E402
from vctext.perception.base import PerceiverOptions  # noqa: E402
from vctext.perception.registry import perceiver_class  # noqa: E402
from vctext.plan import parse_backends, plan_perceivers  # noqa: E402

pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg")

KEY = "sk-test-SECRET123"
BACKEND = "caption=openai-vision:test-model"
#: Where each colour is on screen in the clip, and how many pictures it has: one each.
COLOURS = [("red", 0.0, 2.0), ("blue", 2.0, 4.0), ("green", 4.0, 6.0)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """6 s: 2 s red, 2 s blue, 2 s green (each a still picture)."""
    sources = [f"color=c={name}:s=160x120:d=2" for name, _, _ in COLOURS]
    return concat_video(tmp_path_factory.mktemp("vision") / "colours.mp4", *sources)


@pytest.fixture
def server():
    with OpenAIServer(retry_after=0.1) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_vision_settings(monkeypatch):
    for name in ("VCTEXT_BACKEND", "VCTEXT_VISION_BASE_URL", "VCTEXT_VISION_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def run_cli(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``vctext ARGS`` as a user on a fresh machine runs it, with ``env`` on top."""
    environ = fresh_home_env(tmp_path / "home")
    environ |= {"OPENAI_API_KEY": KEY, "VCTEXT_CACHE_DIR": str(tmp_path / "cache"), **env}
    return run_vctext(*args, env=environ, secret="SECRET123")


def describe_cli(tmp_path, clip, *args: str) -> subprocess.CompletedProcess:
    """``vctext describe CLIP`` with captions only, from the openai-vision backend."""
    return run_cli(
        tmp_path, "describe", str(clip), "--perceivers", "caption", "--backend", BACKEND, *args
    )


def captions(observations) -> list[tuple[str, float, float]]:
    return [(o.text, o.start, o.end) for o in observations if o.kind == "caption"]


def assert_colours_in_place(found: list[tuple[str, float, float]]) -> None:
    """Each colour named over its own two seconds (frames at 1 fps: starts 0, 2, 4)."""
    assert [text for text, _, _ in found] == [name for name, _, _ in COLOURS]
    for (text, start, end), (_, begin, finish) in zip(found, COLOURS, strict=True):
        assert begin <= start < end <= finish + 0.01, (text, start, end)


def test_the_cli_captions_each_frame_with_what_the_server_saw(clip, server, tmp_path):
    proc = describe_cli(tmp_path, clip, "--base-url", server.url, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    found = [(o["text"], o["start"], o["end"]) for o in data["observations"]]
    assert_colours_in_place(found)
    assert {o["source"] for o in data["observations"]} == {"openai-vision:test-model"}
    # Six frames, three pictures: each still stretch is sent once.
    assert server.count == 3
    for body, headers in zip(server.requests, server.headers, strict=True):
        assert body["model"] == "test-model"
        (message,) = body["messages"]
        text, image = message["content"]
        assert text["type"] == "text" and "one plain, factual sentence" in text["text"]
        assert image["image_url"]["url"].startswith("data:image/jpeg;base64,")
        assert headers["authorization"] == f"Bearer {KEY}"


def test_the_python_api_takes_a_mapping_or_the_string_form(clip, server):
    doc = vctext.describe(
        clip,
        perceivers="caption",
        backend={"caption": "openai-vision:test-model"},
        base_url=server.url,
        api_key=KEY,
        cache=False,
    )
    assert_colours_in_place(captions(doc.observations))
    (run,) = doc.perceivers
    assert (run.kind, run.backend, run.model) == ("caption", "openai-vision", "test-model")
    doc = vctext.describe(
        clip, perceivers="caption", backend=BACKEND, vision_base_url=server.url, cache=False
    )
    assert_colours_in_place(captions(doc.observations))
    assert server.count == 6


@pytest.mark.parametrize("where", ["environment", "config file"])
def test_the_settings_come_from_the_environment_or_the_config_file(
    where, clip, server, monkeypatch, tmp_path
):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the LLM's key, not the one the vision server gets
    values = {"backend": BACKEND, "vision_base_url": server.url, "vision_api_key": "sk-v-KEY456"}
    if where == "environment":
        for name, value in values.items():
            monkeypatch.setenv(f"VCTEXT_{name.upper()}", value)
    else:
        config = tmp_path / "config.toml"
        config.write_text("".join(f'{name} = "{value}"\n' for name, value in values.items()))
        monkeypatch.setenv("VCTEXT_CONFIG", str(config))
    doc = vctext.describe(clip, perceivers="caption", cache=False)
    assert_colours_in_place(captions(doc.observations))
    assert {h["authorization"] for h in server.headers} == {"Bearer sk-v-KEY456"}


def test_an_empty_reply_is_no_caption(clip, server):
    server.replies += ["", "  a blue\nsquare  "]
    doc = vctext.describe(
        clip, perceivers="caption", backend=BACKEND, base_url=server.url, vision_workers=1
    )
    assert [text for text, _, _ in captions(doc.observations)] == ["a blue square", "green"]


def test_a_rate_limit_is_waited_out(clip, server):
    server.faults += ["429"]
    doc = vctext.describe(
        clip,
        perceivers="caption",
        backend=BACKEND,
        base_url=server.url,
        vision_workers=1,  # the first request is the red picture's
        cache=False,
    )
    assert_colours_in_place(captions(doc.observations))
    assert server.count == 4  # three pictures and one retry


def test_a_rejected_key_is_one_line_and_a_failed_exit(clip, server, tmp_path):
    server.faults += ["401"] * 3  # the server echoes the key back in its error
    proc = describe_cli(tmp_path, clip, "--base-url", server.url)
    assert proc.returncode != 0 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("vctext: error: ") and "rejected the API key (401)" in line
    assert "VCTEXT_VISION_API_KEY" in line


def test_the_vision_server_comes_before_the_llm_server(clip, server, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    proc = describe_cli(tmp_path, clip, "--base-url", dead, "--vision-base-url", server.url)
    assert proc.returncode == 0, proc.stderr
    assert "caption: red" in proc.stdout and "caption: green" in proc.stdout
    assert server.count == 3


@pytest.mark.parametrize(
    "value, words",
    [
        ("caption=nope", "caption has no backend 'nope'; choose from: transformers, "),
        ("caption", "is not KIND=BACKEND[:MODEL]"),
        ("nothing=openai-vision", "unknown perceiver 'nothing'; choose from: asr, "),
    ],
)
def test_a_bad_backend_is_one_line_before_any_work(value, words, server, tmp_path):
    missing = tmp_path / "not-there.mp4"  # the video would be the error if it were opened first
    proc = run_cli(tmp_path, "describe", str(missing), "--backend", value, "--base-url", server.url)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert words in line and ("openai-vision" in line or "nothing" in value)
    assert server.count == 0


def test_backend_values_are_parsed_and_checked():
    assert parse_backends("") == {}
    assert parse_backends(" caption = openai-vision : llava:7b ") == {
        "caption": ("openai-vision", "llava:7b")
    }
    assert parse_backends({"caption": "openai-vision"}) == {"caption": ("openai-vision", "")}
    assert parse_backends(["caption=openai-vision:m", "tags=clip"]) == {
        "caption": ("openai-vision", "m"),
        "tags": ("clip", ""),
    }
    with pytest.raises(ConfigError, match="caption is given twice"):
        parse_backends(f"{BACKEND},caption=transformers")
    with pytest.raises(ConfigError, match="not KIND=BACKEND"):
        parse_backends("caption=")


def test_the_backend_overrides_the_profile_for_its_kind_only():
    plan = {p.name: p for p in plan_perceivers("offline", (), {"caption": ("openai-vision", "")})}
    assert (plan["caption"].backend, plan["caption"].model) == ("openai-vision", "gpt-4o-mini")
    assert plan["ocr"].backend == "rapidocr" and plan["detect"].backend == "opencv-yolo"
    # A model the backend does not declare is the server's business, never "not on disk".
    (item,) = plan_perceivers("auto", ("caption",), {"caption": ("openai-vision", "llava:7b")})
    assert (item.backend, item.model) == ("openai-vision", "llava:7b")
    # A backend chosen by name whose weights are not here is an error, not a silent skip.
    hub = {"caption": ("transformers", "Salesforce/blip-image-captioning-large")}
    with pytest.raises(ConfigError, match="caption needs Salesforce/blip-image-captioning-large"):
        plan_perceivers("auto", (), hub)


def test_the_prompt_is_part_of_the_cache_key(clip, server, tmp_path):
    options = {"perceivers": "caption", "backend": BACKEND, "base_url": server.url}
    vctext.describe(clip, **options)
    vctext.describe(clip, **options)
    assert server.count == 3  # the second run came from the cache
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Name the main colour.\n")
    doc = vctext.describe(clip, tune={"caption.prompt_file": str(prompt)}, **options)
    assert_colours_in_place(captions(doc.observations))
    assert server.count == 6
    assert server.requests[-1]["messages"][0]["content"][0]["text"] == "Name the main colour."
    cls = perceiver_class("caption", "openai-vision")

    def key(params):
        return cls(PerceiverOptions("test-model", params=params)).cache_params()

    assert key({"prompt_file": str(prompt)}) == key({"prompt": "Name the main colour."})
    assert key({"prompt": "Name the colour."}) != key({})
    prompt.write_text("Say the colour.")  # the same file with new words is a new key
    assert key({"prompt_file": str(prompt)}) != key({"prompt": "Name the main colour."})


def test_models_list_shows_the_api_backend(tmp_path):
    proc = run_cli(tmp_path, "models", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    (row,) = [r for r in rows if r["backend"] == "openai-vision" and r["kind"] == "caption"]
    assert row["kind"] == "caption" and row["source"] == "api:openai-compatible"
    assert row["model"] == "gpt-4o-mini" and row["size_mb"] == 0


# -- clip captions: several frames of a scene in one request -------------------------------------

CLIPS = "clip_caption=openai-vision:test-model"


def clip_captions(data) -> list[tuple[str, float, float]]:
    return [
        (o["text"], o["start"], o["end"])
        for o in data["observations"]
        if o["kind"] == "clip_caption"
    ]


def test_each_scene_is_described_from_its_own_frames_in_order(clip, server, tmp_path):
    proc = run_cli(
        tmp_path,
        "describe",
        str(clip),
        "--perceivers",
        "scenes,clip_caption",
        "--backend",
        CLIPS,
        "--base-url",
        server.url,
        "-f",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    found = clip_captions(json.loads(proc.stdout))
    assert len(found) == 3, found
    for (text, start, end), (name, begin, finish) in zip(found, COLOURS, strict=True):
        # The scene's own window, and only its own pictures (the server names each one's colour).
        assert abs(start - begin) < 0.1 and abs(end - finish) < 0.1, (text, start, end)
        assert set(text.split(" then ")) == {name}, text
    for body in server.requests:
        (message,) = body["messages"]
        text, *images = message["content"]
        assert len(images) >= 2 and all(i["type"] == "image_url" for i in images)
        assert f"These {len(images)} pictures are frames of one video clip" in text["text"]
    assert (
        "clip: red then red"
        in run_cli(
            tmp_path,
            "describe",
            str(clip),
            "--perceivers",
            "scenes,clip_caption",
            "--backend",
            CLIPS,
        ).stdout
    )  # the text layout, from the cache this time
    assert server.count == 3


def test_without_cuts_windows_tile_the_video_and_keep_the_order(clip, server):
    doc = vctext.describe(
        clip,
        perceivers="clip_caption",
        backend=CLIPS,
        base_url=server.url,
        tune={"clip_caption.window": 3, "clip_caption.frames": 4},
    )
    found = [(o.text, o.start, o.end) for o in doc.observations if o.kind == "clip_caption"]
    assert [(round(s, 1), round(e, 1)) for _, s, e in found] == [(0.0, 3.0), (3.0, 6.0)]
    first, second = (text.split(" then ") for text, _, _ in found)
    assert len(first) <= 4 and first[0] == "red" and first[-1] == "blue", first
    assert second[0] == "blue" and second[-1] == "green", second
    (run,) = doc.perceivers
    assert run.usage["requests"] == 2 and not run.usage["estimated"]
    assert run.usage["prompt_tokens"] > 8 * 85  # the server counts each picture


def test_a_prompt_flag_reaches_the_model_word_for_word(clip, server, tmp_path):
    prompt = tmp_path / "mine.txt"
    prompt.write_text("Which colours, in order? {frames} frames; keep {braces} and commas, too.")
    proc = run_cli(
        tmp_path,
        "describe",
        str(clip),
        "--perceivers",
        "caption,clip_caption",
        "--backend",
        CLIPS,
        "--backend",
        BACKEND,
        "--prompt",
        f"clip_caption=@{prompt}",
        "--prompt",
        "caption=Name the colour, in one word; {not a field}",
        "--base-url",
        server.url,
        "-f",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    texts = {b["messages"][0]["content"][0]["text"] for b in server.requests}
    assert texts == {
        "Name the colour, in one word; {not a field}",
        "Which colours, in order? 6 frames; keep {braces} and commas, too.",
    }
    # The cost of the run is on stderr, a line per server-backed perceiver, and in the JSON.
    lines = [line for line in proc.stderr.splitlines() if "tokens (" in line]
    assert len(lines) == 2 and "caption (openai-vision test-model): 3 requests" in lines[0]
    assert "clip_caption (openai-vision test-model): 1 request, " in lines[1]
    usage = {r["kind"]: r["usage"] for r in json.loads(proc.stdout)["perceivers"]}
    assert usage["caption"]["requests"] == 3 and usage["clip_caption"]["requests"] == 1


@pytest.mark.parametrize(
    "value, words",
    [
        ("clip_caption", "--prompt 'clip_caption' is not KIND=TEXT or KIND=@FILE"),
        ("nothing=Say it.", "unknown perceiver 'nothing'"),
        ("caption=@/no/such/prompt.txt", "caption.prompt_file: cannot read '/no/such/prompt.txt'"),
    ],
)
def test_a_bad_prompt_is_one_line_before_any_request(value, words, clip, server, tmp_path):
    proc = describe_cli(tmp_path, clip, "--prompt", value, "--base-url", server.url)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert words in line
    assert server.count == 0
