"""Stacked hourglass network (Newell, Yang, Deng, "Stacked Hourglass Networks for Human Pose Estimation", ECCV
2016): the landmark-heatmap estimator of FAN and of VividGAN's facial component-aware module (sec. III-B, Fig. 5).

An hourglass of depth d: a residual branch at full resolution plus, below it, pool -> residual -> (hourglass of
depth d-1, or a residual block at the bottom) -> residual -> nearest upsampling, added together; the grid must be
divisible by 2**d. A stack ends in a residual block and a 1x1 head to the P heatmaps; between stacks the
features and the heatmaps are mapped back and added (intermediate supervision: every stack's heatmaps are
returned).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.nn.blocks import ResidualBlock


class Hourglass(nn.Module):
    """One recursive hourglass of `depth` levels on `channels` features: [B, C, H, W] -> [B, C, H, W]."""

    def __init__(self, channels: int, depth: int):
        super().__init__()
        if depth < 1:
            raise ValueError(f"Hourglass: depth must be >= 1, got {depth}")
        self.depth = depth
        self.skip = ResidualBlock(channels)
        self.down = ResidualBlock(channels)
        self.inner = Hourglass(channels, depth - 1) if depth > 1 else ResidualBlock(channels)
        self.up = ResidualBlock(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % (2**self.depth) or w % (2**self.depth):
            raise ValueError(f"Hourglass of depth {self.depth} needs a grid divisible by {2**self.depth}, got {h}x{w}")
        low = self.up(self.inner(self.down(F.max_pool2d(x, 2))))
        return self.skip(x) + F.interpolate(low, scale_factor=2, mode="nearest")


class StackedHourglass(nn.Module):
    """forward(x [B, C, H, W]) -> (features [B, C, H, W], [heatmaps [B, P, H, W] of every stack]); the last stack's
    heatmaps are the estimate."""

    def __init__(self, channels: int, n_points: int = 68, n_stacks: int = 1, depth: int = 2):
        super().__init__()
        if n_stacks < 1 or n_points < 1:
            raise ValueError(f"StackedHourglass: n_stacks and n_points must be >= 1, got {n_stacks}, {n_points}")
        self.hourglasses = nn.ModuleList([Hourglass(channels, depth) for _ in range(n_stacks)])
        self.post = nn.ModuleList([ResidualBlock(channels) for _ in range(n_stacks)])
        self.heads = nn.ModuleList([nn.Conv2d(channels, n_points, 1) for _ in range(n_stacks)])
        self.back_features = nn.ModuleList([nn.Conv2d(channels, channels, 1) for _ in range(n_stacks - 1)])
        self.back_heatmaps = nn.ModuleList([nn.Conv2d(n_points, channels, 1) for _ in range(n_stacks - 1)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        heatmaps = []
        for k, (hg, post, head) in enumerate(zip(self.hourglasses, self.post, self.heads, strict=True)):
            feats = post(hg(x))
            heat = head(feats)
            heatmaps.append(heat)
            if k < len(self.back_features):
                x = x + self.back_features[k](feats) + self.back_heatmaps[k](heat)
            else:
                x = feats
        return x, heatmaps


__all__ = ["Hourglass", "StackedHourglass"]
