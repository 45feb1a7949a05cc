"""Spatial transformer on feature maps (Jaderberg et al., "Spatial Transformer Networks", NeurIPS 2015), as the
face-hallucination papers interleave it with upsampling layers to line up unaligned faces (TDAE, TANN, VividGAN's
FT modules).

The localiser regresses the six parameters of an affine warp theta [B, 2, 3] (normalised coordinates of
`F.affine_grid`); its last layer starts at weight 0 and bias = the identity, so an untrained STN passes its input
through unchanged (up to the interpolation of `grid_sample` at the pixel centres, exact with align_corners=False).
An affine warp removes in-plane rotation, scale and shift; it cannot undo yaw (an out-of-plane rotation).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

IDENTITY_THETA = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


class SpatialTransformer(nn.Module):
    """forward(x [B, C, H, W]) -> (warped x [B, C, H, W], theta [B, 2, 3]); `last_theta` keeps the last theta (detached)
    for plots. Localiser: two stride-2 3x3 convolutions with ReLU, global average pool, two linear layers."""

    def __init__(self, channels: int, hidden: int = 32):
        super().__init__()
        if channels < 1 or hidden < 1:
            raise ValueError(f"SpatialTransformer: channels and hidden must be >= 1, got {channels}, {hidden}")
        self.localiser = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
        )
        self.theta = nn.Linear(hidden, 6)
        nn.init.zeros_(self.theta.weight)
        with torch.no_grad():
            self.theta.bias.copy_(torch.tensor(IDENTITY_THETA))
        self.last_theta: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 4:
            raise ValueError(f"SpatialTransformer expects [B, C, H, W], got shape {tuple(x.shape)}")
        theta = self.theta(self.localiser(x)).view(-1, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        self.last_theta = theta.detach()
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False), theta


__all__ = ["IDENTITY_THETA", "SpatialTransformer"]
