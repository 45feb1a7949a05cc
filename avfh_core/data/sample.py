"""One sample format for every source, synthetic or real (DESIGN.md, "One sample format").

Every dataset yields an `AVSample`, so every model and notebook works on every source. Degradations are transforms
`AVSample -> AVSample` (or on its tensors); they never change this contract.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, replace
from typing import Any

import torch


@dataclass
class AVSample:
    """A talking-face clip.

    video:       [T, 3, H, W] float32 RGB in [0, 1]
    fps:         frames per second (25 for LRW/LRS2/GRID/synthetic)
    audio:       [S] float32 mono waveform in [-1, 1]
    sample_rate: audio sample rate in Hz (16 kHz everywhere in this project)
    landmarks:   [T, 68, 2] float32 pixel coordinates (x, y) in the iBUG 68-point order, or None
    pose:        [T, 3] float32 (yaw, pitch, roll) in degrees, or None
    text:        the word or sentence spoken, or None
    speaker:     speaker / identity id, or None
    attributes:  known attributes, e.g. {"gender": "f", "age": 34}
    frontal:     [T, 3, H, W] frontal rendering of the same frames (frontalization ground truth), or None
    source:      where it came from: a file path, or "synth:<config-hash>:<index>"
    extras:      anything source-specific (word timings, phonemes, ...)

    `validate()` checks shapes, dtypes and values: a sample with NaN frames or audio, or values outside these
    ranges, is refused with a ValueError naming its source and the tensor (loaders clip or refuse at read time).
    """

    video: torch.Tensor
    fps: float
    audio: torch.Tensor
    sample_rate: int
    landmarks: torch.Tensor | None = None
    pose: torch.Tensor | None = None
    text: str | None = None
    speaker: str | int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    frontal: torch.Tensor | None = None
    source: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.video.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def replace(self, **changes: Any) -> AVSample:
        return replace(self, **changes)

    def validate(self) -> AVSample:
        """Check the contract; raise ValueError naming the source, the tensor and what is wrong: shapes, dtypes, and
        values (video and frontal finite in [0, 1], audio finite in [-1, 1], landmarks and pose without inf; NaN
        landmarks are allowed: frames where a detector found no face)."""
        where = self.source or "<sample>"
        v = self.video
        if not isinstance(v, torch.Tensor) or v.ndim != 4 or v.shape[1] != 3:
            raise ValueError(f"{where}: video must be [T,3,H,W], got {_shape(v)}")
        if not v.is_floating_point():
            raise ValueError(f"{where}: video must be float in [0,1], got dtype {v.dtype}")
        _check_range(v, 0.0, 1.0, f"{where}: video")
        if not isinstance(self.audio, torch.Tensor) or self.audio.ndim != 1:
            raise ValueError(f"{where}: audio must be a mono waveform [S], got {_shape(self.audio)}")
        if not self.audio.is_floating_point():
            raise ValueError(f"{where}: audio must be float in [-1,1], got dtype {self.audio.dtype}")
        _check_range(self.audio, -1.0, 1.0, f"{where}: audio")
        if not (isinstance(self.fps, numbers.Real) and math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"{where}: fps must be a positive number, got {self.fps!r}")
        if not (isinstance(self.sample_rate, numbers.Integral) and self.sample_rate > 0):
            raise ValueError(f"{where}: sample_rate must be a positive int (Hz), got {self.sample_rate!r}")
        if self.landmarks is not None:
            if tuple(self.landmarks.shape) != (v.shape[0], 68, 2):
                raise ValueError(f"{where}: landmarks must be [T,68,2] with T={v.shape[0]}, "
                                 f"got {tuple(self.landmarks.shape)}")
            if bool(torch.isinf(self.landmarks).any()):
                raise ValueError(f"{where}: landmarks contain infinite coordinates")
        if self.pose is not None and bool(torch.isinf(self.pose).any()):
            raise ValueError(f"{where}: pose contains infinite angles")
        if self.frontal is not None:
            if self.frontal.shape != v.shape:
                raise ValueError(f"{where}: frontal must match video shape {tuple(v.shape)}, "
                                 f"got {tuple(self.frontal.shape)}")
            _check_range(self.frontal, 0.0, 1.0, f"{where}: frontal")
        return self


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


def _check_range(x: torch.Tensor, lo: float, hi: float, what: str) -> None:
    """ValueError naming `what` when x has NaN/inf values or values outside [lo, hi]."""
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        raise ValueError(f"{what} has {int(finite.numel() - finite.sum())} NaN or infinite values "
                         f"(of {x.numel()}); the contract is finite values in [{lo:g}, {hi:g}]")
    if x.numel():
        mn, mx = float(x.min()), float(x.max())
        if mn < lo or mx > hi:
            raise ValueError(f"{what} has values in [{mn:.4g}, {mx:.4g}], outside the contract [{lo:g}, {hi:g}]; "
                             f"clamp or rescale it (e.g. x.clamp({lo:g}, {hi:g}))")
