"""Presets, seeding, device choice: the one call every notebook makes first.

A preset is a named set of knobs stored here as data (not a sed over the notebook). A notebook's `parameters` cell
holds `preset`, `seed`, `device`, `data_root` and explicit knobs whose default is `None`, meaning "take the
preset's value"; it then calls

    cfg = setup(preset, seed=seed, device=device, data_root=data_root, steps=steps, ...)

which validates the names, seeds every generator, switches on deterministic algorithms on the CPU, picks the device
and returns a `RunConfig` (attribute access, `cfg.as_dict()` for the results sidecar).

Presets (see README for measured times):
- smoke:  CI; every notebook <= 60 s on 2 CPU cores. Tiny images, a handful of steps. Proves the code runs.
- course: the default; a student's laptop CPU, minutes per notebook, < 4 GB RAM, the paper's effect visible.
- gpu:    one H100-class GPU, paper resolution (32 -> 128), <= 15 min per training notebook, < 24 GB GPU memory.
- paper:  the paper's schedule (multi-GPU through torchrun).
"""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

PRESET_NAMES = ("smoke", "course", "gpu", "paper")

# Knobs shared by notebooks. Per-paper knobs carry the paper's prefix (e.g. `vfhgan_steps`).
# Image sizes are the HR side; the LR side is hr_size // scale.
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(
        hr_size=32, scale=4, window=2, n_train_clips=24, n_eval_clips=6, clip_frames=9, vocab_size=8,
        steps=12, batch_size=4, lr=2e-3, width=16, n_seeds=1, num_workers=0, amp=False,
        lipreader_steps=15, lipreader_width=8, mouth_size=24,
        eval_every=6, checkpoint_every=6, widgets=False, bench_frames=64,
        featnet_steps=30, featnet_width=8,
        vfhgan_stages=1, vfhgan_eval_windows=12, vfhgan_ablation_steps=3,
        vfhgan_ablation_seeds=1, vfhgan_ablation_lip=False,
        vfhgan_lip_demo_steps=8,
    ),
    "course": dict(
        hr_size=64, scale=4, window=2, n_train_clips=192, n_eval_clips=24, clip_frames=29, vocab_size=20,
        steps=600, batch_size=8, lr=1e-3, width=32, n_seeds=3, num_workers=0, amp=False,
        lipreader_steps=400, lipreader_width=16, mouth_size=44,
        eval_every=100, checkpoint_every=100, widgets=True, bench_frames=1024,
        featnet_steps=400, featnet_width=16,
        vfhgan_stages=3, vfhgan_eval_windows=64, vfhgan_ablation_steps=150,
        vfhgan_ablation_seeds=2, vfhgan_ablation_lip=False,
        vfhgan_lip_demo_steps=120,
    ),
    "gpu": dict(
        hr_size=128, scale=4, window=2, n_train_clips=2000, n_eval_clips=100, clip_frames=29, vocab_size=20,
        steps=6000, batch_size=32, lr=5e-4, width=64, n_seeds=3, num_workers=4, amp=True,
        lipreader_steps=3000, lipreader_width=64, mouth_size=88,
        eval_every=500, checkpoint_every=500, widgets=True, bench_frames=4096,
        featnet_steps=3000, featnet_width=32,
        vfhgan_stages=6, vfhgan_eval_windows=500, vfhgan_ablation_steps=2000,
        vfhgan_ablation_seeds=3, vfhgan_ablation_lip=True,
        vfhgan_lip_demo_steps=300,
    ),
    "paper": dict(
        hr_size=128, scale=4, window=2, n_train_clips=20000, n_eval_clips=500, clip_frames=29, vocab_size=20,
        steps=100000, batch_size=32, lr=1e-4, width=64, n_seeds=3, num_workers=8, amp=True,
        lipreader_steps=30000, lipreader_width=64, mouth_size=88,
        eval_every=5000, checkpoint_every=2000, widgets=True, bench_frames=4096,
        featnet_steps=20000, featnet_width=64,
        vfhgan_stages=8, vfhgan_eval_windows=2000, vfhgan_ablation_steps=100000,
        vfhgan_ablation_seeds=3, vfhgan_ablation_lip=True,
        vfhgan_lip_demo_steps=300,
    ),
}

# Knobs that are not preset values but every notebook accepts.
BASE_PARAMETERS = ("preset", "seed", "device", "data_root")


def avfh_home() -> Path:
    """Where caches (synthetic shards, pretrained in-project networks) live: $AVFH_HOME or <repo>/data/cache."""
    env = os.environ.get("AVFH_HOME")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "data" / "cache"


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@dataclass
class RunConfig:
    """The resolved settings of one notebook run (preset values, explicit overrides, device)."""

    preset: str
    seed: int
    device: torch.device
    data_root: Path | None
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"RunConfig has no knob {name!r}; known knobs: {sorted(values)}")

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """bf16 autocast on CUDA when the preset asks for AMP; None (full fp32) otherwise."""
        if self.device.type == "cuda" and self.values.get("amp", False):
            return torch.bfloat16
        return None

    def autocast(self):
        """Context manager: bf16 autocast on CUDA with amp, a no-op on the CPU."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def as_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "seed": self.seed,
            "device": str(self.device),
            "data_root": str(self.data_root) if self.data_root else None,
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in self.values.items()},
        }


def preset_values(preset: str) -> dict[str, Any]:
    """A copy of a preset's knobs; a clear error for an unknown name."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {list(PRESETS)}")
    return dict(PRESETS[preset])


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU. An explicit 'cuda' without a GPU is an error, not a silent fallback."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for but torch sees no CUDA GPU; use device='auto' or 'cpu'")
    return dev


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; deterministic kernels (on the CPU always, on CUDA where torch has them)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds the legacy global generator other libraries use
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def setup(
    preset: str = "course",
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    data_root: str | os.PathLike | None = None,
    deterministic: bool = True,
    **overrides: Any,
) -> RunConfig:
    """Resolve a preset plus explicit knobs, seed everything, pick the device.

    `overrides` whose value is None keep the preset's value; an unknown knob is an error naming it.
    """
    values = preset_values(preset)
    unknown = sorted(k for k in overrides if k not in values)
    if unknown:
        raise ValueError(f"unknown knob(s) {unknown} for preset {preset!r}; known knobs: {sorted(values)}")
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed_everything(seed, deterministic=deterministic)
    dev = resolve_device(device)
    root = Path(data_root).expanduser() if data_root else None
    return RunConfig(preset=preset, seed=seed, device=dev, data_root=root, values=values)
