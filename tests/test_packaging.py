"""The wheel a user installs: everything under the one import package `vctext`, nothing else."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    tmp = tmp_path_factory.mktemp("wheel")
    # Build from a copy (symlinks kept as links) so the checkout gets no build/ or egg-info.
    source = tmp / "src"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            ".ruff_cache",
            ".venv",
            ".whl",
            ".gl",
        ),
    )
    assert (source / "vctext" / "cli.py").is_symlink(), "the repo keeps vctext/cli.py as a link"
    out = tmp / "dist"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("vctext-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def test_wheel_installs_only_the_vctext_package(wheel):
    top = {name.split("/", 1)[0] for name in wheel.namelist()}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert len(dist_info) == 1 and next(iter(dist_info)).startswith("vctext-")
    assert top - dist_info == {"vctext"}


@pytest.mark.parametrize(
    "member",
    [
        "vctext/cli.py",
        "vctext/__main__.py",
        "vctext/perception/__init__.py",
        "vctext/perception/base.py",
        "vctext/perception/asr.py",
        "vctext/templates/default.txt.j2",
        "vctext/templates/markdown.md.j2",
        "vctext/templates/_macros.j2",
        "vctext/prompts/__init__.py",
    ],
)
def test_wheel_contains(wheel, member):
    info = wheel.getinfo(member)
    mode = info.external_attr >> 16
    assert not stat.S_ISLNK(mode), f"{member} is a link in the wheel"
    assert info.file_size > 0 or member.endswith("__init__.py")


def test_cli_in_the_wheel_is_the_real_file(wheel):
    assert wheel.read("vctext/cli.py") == (ROOT / "cli.py").read_bytes()


def test_entry_point_runs_the_cli(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "[console_scripts]" in text
    assert "vctext = vctext.cli:main" in text.replace("  ", " ")


def test_every_template_in_the_repo_is_shipped(wheel):
    names = set(wheel.namelist())
    for template in (ROOT / "templates").glob("*.j2"):
        assert f"vctext/templates/{template.name}" in names
    for module in (ROOT / "perception").glob("*.py"):
        assert f"vctext/perception/{module.name}" in names


def test_every_module_and_prompt_in_the_repo_is_shipped(wheel):
    names = set(wheel.namelist())
    core = [
        f"vctext/{p.relative_to(ROOT / 'vctext').as_posix()}"
        for p in (ROOT / "vctext").rglob("*.py")
        if "__pycache__" not in p.parts
    ]
    prompts = [
        f"vctext/prompts/{p.name}"
        for p in (ROOT / "prompts").glob("*")
        if p.suffix in (".py", ".txt", ".md")
    ]
    missing = sorted(set(core + prompts) - names)
    assert not missing, f"in the repo but not in the wheel (add them to setup.cfg): {missing}"
