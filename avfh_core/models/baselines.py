"""Baselines of VFH-GAN Table 3 (Sharma et al. 2022, sec. 4.3): bicubic interpolation and a single-frame
SRResNet (Ledig et al., SRGAN [19]); trained with the adversarial loss it is the SRGAN row. Both take the same
window tensors as the VFH-GAN generator and use only the centre frame, so every model is scored on the same data.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.models.vfhgan import start_at_skip
from avfh_core.nn import PixelShuffleUpsampler, ResidualBlock


def bicubic_upsample(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic x`scale` of [...,3,h,w] (or the centre frame of a [B,2j+1,3,h,w] window), clamped to [0,1]."""
    if lr.ndim == 5:
        lr = lr[:, lr.shape[1] // 2]
    if lr.ndim != 4:
        raise ValueError(f"lr must be [B,3,h,w] or [B,T,3,h,w], got {tuple(lr.shape)}")
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


class Bicubic(nn.Module):
    """Bicubic interpolation as a (parameter-free) model with the generator's call signature."""

    def __init__(self, scale: int = 4):
        super().__init__()
        self.scale = scale

    def forward(self, lr: torch.Tensor, mel: torch.Tensor | None = None) -> torch.Tensor:
        return bicubic_upsample(lr, self.scale)


class SRResNet(nn.Module):
    """Single-frame SRResNet (Ledig et al. 2017): head conv, `n_blocks` residual blocks, a long skip, sub-pixel x4.
    forward(lr [B,T,3,h,w] or [B,3,h,w], mel ignored) -> [B,3,sh,sw]; clamped to [0,1] in eval mode only.

    `bicubic_skip` (default True, not in the original SRResNet) adds the bicubic upsampling of the input, the same
    global skip our VFH-GAN generator has, so that the comparison measures the architectures, not the skip. With the
    skip, the output head starts at zero and the sub-pixel convolutions with ICNR (`models.vfhgan.start_at_skip`),
    as in our generator: the untrained network outputs exactly bicubic."""

    def __init__(self, width: int = 32, n_blocks: int = 4, scale: int = 4, bicubic_skip: bool = True):
        super().__init__()
        self.scale = scale
        self.bicubic_skip = bicubic_skip
        self.head = nn.Sequential(nn.Conv2d(3, width, 9, padding=4), nn.PReLU(width))
        self.body = nn.Sequential(*[ResidualBlock(width) for _ in range(n_blocks)], nn.Conv2d(width, width, 3, padding=1))
        self.upsample = PixelShuffleUpsampler(width, scale)
        self.tail = nn.Conv2d(width, 3, 9, padding=4)
        if bicubic_skip:
            start_at_skip(self.upsample, self.tail)

    def forward(self, lr: torch.Tensor, mel: torch.Tensor | None = None) -> torch.Tensor:
        if lr.ndim == 5:
            lr = lr[:, lr.shape[1] // 2]
        if lr.ndim != 4 or lr.shape[1] != 3:
            raise ValueError(f"lr must be [B,3,h,w] or [B,T,3,h,w], got {tuple(lr.shape)}")
        h = self.head(lr)
        out = self.tail(self.upsample(self.body(h) + h))
        if self.bicubic_skip:
            out = out + F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out if self.training else out.clamp(0, 1)
