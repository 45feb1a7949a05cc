"""One sample format for every source, synthetic or real (DESIGN.md, "One sample format").

Every dataset yields an `AVSample`, so every model and notebook works on every source. Degradations are transforms
`AVSample -> AVSample` (or on its tensors); they never change this contract.
"""

from __future__ import annotations

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
        """Check the contract; raise ValueError naming the source and what is wrong."""
        where = self.source or "<sample>"
        v = self.video
        if v.ndim != 4 or v.shape[1] != 3:
            raise ValueError(f"{where}: video must be [T,3,H,W], got {tuple(v.shape)}")
        if not v.is_floating_point():
            raise ValueError(f"{where}: video must be float in [0,1], got dtype {v.dtype}")
        if self.audio.ndim != 1:
            raise ValueError(f"{where}: audio must be a mono waveform [S], got {tuple(self.audio.shape)}")
        if self.landmarks is not None and tuple(self.landmarks.shape) != (v.shape[0], 68, 2):
            raise ValueError(f"{where}: landmarks must be [T,68,2] with T={v.shape[0]}, got {tuple(self.landmarks.shape)}")
        if self.frontal is not None and self.frontal.shape != v.shape:
            raise ValueError(f"{where}: frontal must match video shape {tuple(v.shape)}, got {tuple(self.frontal.shape)}")
        return self
