"""The default commands as a new user runs them: every extra installed, no --profile, no
--perceivers, a brand-new home and no model hub. They succeed with what is on disk, say in one note
what they left out and how to get it, and never try to reach anything but this machine.

Each command runs in its own process with a ``sitecustomize`` that fails and records every
connection or name lookup that is not local (so a library cannot quietly fall back when offline).
Hugging Face's offline switches are off, as on a user's machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import fresh_home_env, requires_media_tools

pytest.importorskip("openai", reason="needs the llm extra (openai)")
from openai_server import OpenAIServer  # noqa: E402

pytestmark = requires_media_tools

STREET = Path(__file__).resolve().parent.parent / "examples" / "street.mp4"

GUARD = textwrap.dedent(
    """
    import os, socket
    _log = os.environ["VCTEXT_NETWORK_LOG"]
    _local = ("127.", "::1", "localhost", "0.0.0.0")

    def _refuse(what):
        with open(_log, "a") as f:
            f.write(what + "\\n")
        raise OSError("network unreachable (test): " + what)

    _connect, _connect_ex, _lookup = (
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)

    def connect(self, address):
        if self.family != socket.AF_UNIX and not str(address[0]).startswith(_local):
            _refuse("connect %r" % (address,))
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family != socket.AF_UNIX and not str(address[0]).startswith(_local):
            _refuse("connect %r" % (address,))
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not str(host).startswith(_local):
            _refuse("lookup %r" % (host,))
        return _lookup(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = (
        connect, connect_ex, getaddrinfo)
    """
)

STORY = " ".join(
    [
        "First, a tram rolls along a sunny street while a voice makes an announcement.",
        "Next, a person walks past the tram and a car drives by on the right.",
        "Then the camera stays on the street as traffic keeps moving in both directions.",
        "Finally, the street is quiet again and the video ends on the same view.",
    ]
)


class Server(OpenAIServer):
    """Answers every request with a short story, enough for a description record."""

    def answer(self, body):
        return STORY


@pytest.fixture(scope="module")
def new_user(tmp_path_factory):
    """Environment of a user on a new machine: empty home, no hub switches, network guarded."""
    root = tmp_path_factory.mktemp("new-user")
    (root / "site").mkdir()
    (root / "site" / "sitecustomize.py").write_text(GUARD)
    env = fresh_home_env(root / "home")
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "VCTEXT_CACHE_DIR", "OPENAI_API_KEY"):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "site"), env.get("PYTHONPATH")]))
    env["VCTEXT_NETWORK_LOG"] = str(root / "network.log")
    env["OPENAI_API_KEY"] = "sk-test-new-user"
    return env, root / "network.log"


def run(env, *args, stdin=""):
    proc = subprocess.run(
        [sys.executable, "-m", "vctext", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def attempts(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture(scope="module")
def described(new_user):
    env, log = new_user
    return run(env, "describe", STREET, "-f", "json"), log


def test_describe_with_no_options_succeeds_offline(described):
    proc, log = described
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # stdout is the result only
    kinds = {o["kind"] for o in doc["observations"]}
    assert {"asr", "detect", "tags", "ocr"} <= kinds or {"asr", "detect", "tags"} <= kinds
    assert any(
        "ferry" in o["text"].lower() or "ferret" in o["text"].lower()
        for o in doc["observations"]
        if o["kind"] == "asr"
    )
    assert attempts(log) == []


def test_perceivers_left_out_are_named_once_with_how_to_get_them(described):
    proc, _ = described
    ran = {p["kind"] for p in json.loads(proc.stdout)["perceivers"]}
    notes = [line for line in proc.stderr.splitlines() if "skipping" in line]
    skipped = {line.split("skipping ")[1].split(":")[0] for line in notes}
    assert skipped and not skipped & ran
    assert len(notes) == len(skipped)  # one note each
    assert all("vctext models pull --profile standard" in line for line in notes)


def test_ask_chat_and_instruct_with_no_options_reach_only_this_machine(new_user, tmp_path):
    env, log = new_user
    env = {**env, "VCTEXT_CACHE_DIR": str(tmp_path / "cache")}
    with Server() as server:
        asked = run(env, "ask", STREET, "When does the ferry leave?", "--base-url", server.url)
        assert asked.returncode == 0, asked.stderr
        assert asked.stdout.strip().startswith(STORY)  # then the cited times
        chat = run(env, "chat", STREET, "--base-url", server.url, stdin="What happens?\n/quit\n")
        assert chat.returncode == 0, chat.stderr
        assert STORY in chat.stdout
        out = tmp_path / "data.jsonl"
        made = run(
            env,
            "instruct",
            STREET,
            "--task",
            "description",
            "-o",
            out,
            "--base-url",
            server.url,
            "--no-progress",
        )
        assert made.returncode == 0, made.stderr
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert records and all(r["task"].startswith("description") for r in records)
    assert attempts(log) == []


def test_langchain_loader_with_defaults_reaches_only_this_machine(new_user):
    pytest.importorskip("langchain_core", reason="needs the integrations extra")
    env, log = new_user
    code = (
        "from vctext.integrations.langchain import VideoTextLoader\n"
        f"docs = VideoTextLoader({str(STREET)!r}).load()\n"
        "print(len(docs), sum(len(d.page_content) for d in docs))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    count, size = map(int, proc.stdout.split())
    assert count >= 1 and size > 0
    assert attempts(log) == []


def test_a_named_perceiver_whose_model_is_not_on_disk_is_a_one_line_error(new_user):
    env, log = new_user
    proc = run(env, "describe", STREET, "--perceivers", "asr,dense")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "dense" in lines[0]
    assert "vctext models pull --profile standard" in lines[0]
    assert proc.stdout == ""
    assert attempts(log) == []


def test_profile_standard_says_it_downloads_before_trying(new_user):
    """Asked for explicitly, the standard profile may download; it says so first, and with no
    network the failure is one line."""
    pytest.importorskip("ultralytics", reason="needs the vision extra")
    env, log = new_user
    proc = run(env, "describe", STREET, "--profile", "standard", "--perceivers", "detect")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert "downloading it first" in lines[0] and "yolo11n.pt" in lines[0]
    assert lines[-1].startswith("vctext: error:") and len(lines) == 2
    assert attempts(log)  # it did try, as asked
