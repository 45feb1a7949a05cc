"""Shared building blocks (torch only): the pieces VFH-GAN (Sharma et al. 2022, sec. 3.1, Fig. 1, Fig. 4) and the
single-frame baselines are built from.

- `MultiKernelConv`: PHFE-B's first module, parallel 1x1/3x3/5x5/7x7 convolutions ("complex filter formation").
- `SqueezeExcitation`, `DepthwiseSEAttention`: PHFE-B's second module, depthwise convolutions + squeeze-and-excitation
  channel attention.
- `PHFEBlock`: the two modules with a residual connection (one stage of the progressive hierarchical extractor [26]).
- `AxialAttention`: self-attention along the height axis, then along the width axis (VFH-GAN eq. 3).
- `MixNetBlock`: the alternative backbone block of Fig. 4 (mixed depthwise kernels 3/5/7 split over channel groups).
- `ResidualBlock`, `PixelShuffleUpsampler`: SRResNet-style body and x2^k sub-pixel upsampling.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _check_channels(name: str, channels: int, divisor: int = 1) -> None:
    if not isinstance(channels, int) or channels <= 0 or channels % divisor:
        raise ValueError(f"{name} must be a positive int divisible by {divisor}, got {channels!r}")


class MultiKernelConv(nn.Module):
    """PHFE-B module 1: the input goes through parallel convolutions of increasing kernel size (1, 3, 5, 7), whose
    outputs are concatenated and fused by a 1x1 convolution. Small kernels keep local detail, large ones see the
    hierarchical context."""

    def __init__(self, in_ch: int, out_ch: int, kernels: tuple[int, ...] = (1, 3, 5, 7)):
        super().__init__()
        _check_channels("in_ch", in_ch)
        _check_channels("out_ch", out_ch)
        if not kernels or any(k % 2 == 0 or k < 1 for k in kernels):
            raise ValueError(f"kernels must be odd positive sizes, got {kernels!r}")
        branch = max(1, out_ch // len(kernels))
        self.kernels = tuple(kernels)
        self.branches = nn.ModuleList(nn.Conv2d(in_ch, branch, k, padding=k // 2) for k in kernels)
        self.fuse = nn.Conv2d(branch * len(kernels), out_ch, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.act(torch.cat([b(x) for b in self.branches], dim=1)))


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al.): per-channel gates s = sigmoid(W2 relu(W1 mean_hw(x))), output x * s."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        _check_channels("channels", channels)
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gates(x)


class DepthwiseSEAttention(nn.Module):
    """PHFE-B module 2, the channel-attention module: depthwise 3x3 convolution (cheap spatial mixing per channel),
    a pointwise 1x1 convolution, then squeeze-and-excitation that re-weights the channels that carry more."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        _check_channels("channels", channels)
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.pointwise = nn.Conv2d(channels, channels, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.se = SqueezeExcitation(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.pointwise(self.act(self.depthwise(x))))


class PHFEBlock(nn.Module):
    """One stage of the progressive hierarchical feature extractor (PHFE-B, VFH-GAN sec. 3.1):
    x + ChannelAttention(MultiKernel(x))."""

    def __init__(self, channels: int, kernels: tuple[int, ...] = (1, 3, 5, 7), reduction: int = 4):
        super().__init__()
        self.multi_kernel = MultiKernelConv(channels, channels, kernels)
        self.attention = DepthwiseSEAttention(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.attention(self.multi_kernel(x))


class MixedDepthwiseConv(nn.Module):
    """MixConv: the channels are split into groups, each group gets a depthwise convolution of its own kernel size."""

    def __init__(self, channels: int, kernels: tuple[int, ...]):
        super().__init__()
        _check_channels("channels", channels)
        if not kernels or len(kernels) > channels:
            raise ValueError(f"kernels {kernels!r} must be non-empty and at most channels={channels} long")
        base = channels // len(kernels)
        self.splits = [base] * len(kernels)
        self.splits[0] += channels - base * len(kernels)
        self.convs = nn.ModuleList(
            nn.Conv2d(c, c, k, padding=k // 2, groups=c) for c, k in zip(self.splits, kernels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.splits, dim=1)
        return torch.cat([conv(p) for conv, p in zip(self.convs, parts)], dim=1)


class MixNetBlock(nn.Module):
    """The mixnet block of VFH-GAN Fig. 4 (backbone ablation, sec. 4.2): an expansion 1x1 conv, a mixed depthwise
    convolution whose kernel sets grow along the block ((3,5) then (3,5,7)), squeeze-and-excitation and a 1x1
    projection, with a residual connection. The paper uses two such blocks per stage."""

    def __init__(self, channels: int, kernels: tuple[tuple[int, ...], ...] = ((3, 5), (3, 5, 7)), expand: int = 2):
        super().__init__()
        _check_channels("channels", channels)
        hidden = channels * expand
        self.expand = nn.Conv2d(channels, hidden, 1)
        self.mixes = nn.ModuleList(MixedDepthwiseConv(hidden, k) for k in kernels)
        self.se = SqueezeExcitation(hidden)
        self.project = nn.Conv2d(hidden, channels, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.expand(x))
        for mix in self.mixes:
            h = self.act(mix(h))
        return x + self.project(self.se(h))


class AxialAttention(nn.Module):
    """Axial self-attention (VFH-GAN eq. 3, fa = axial-atten(f_lv')): multi-head self-attention along the height
    axis (each column attends over its rows), then along the width axis, each with a residual connection. Cost is
    O(HW(H+W)) instead of O((HW)^2) for full 2-D attention, so every position still sees the whole map in two hops."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        _check_channels("channels", channels)
        if heads < 1 or channels % heads:
            raise ValueError(f"heads must divide channels={channels}, got heads={heads!r}")
        self.heads = heads
        self.norm_h = nn.GroupNorm(1, channels)
        self.norm_w = nn.GroupNorm(1, channels)
        self.qkv_h = nn.Conv2d(channels, 3 * channels, 1)
        self.qkv_w = nn.Conv2d(channels, 3 * channels, 1)
        self.out_h = nn.Conv2d(channels, channels, 1)
        self.out_w = nn.Conv2d(channels, channels, 1)

    def _attend(self, x: torch.Tensor, qkv: nn.Conv2d, out: nn.Conv2d, axis: str) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = qkv(x).chunk(3, dim=1)
        d = c // self.heads

        def seqs(t: torch.Tensor) -> torch.Tensor:  # -> [B * other axis, heads, L, d]
            t = t.reshape(b, self.heads, d, h, w)
            if axis == "h":
                return t.permute(0, 4, 1, 3, 2).reshape(b * w, self.heads, h, d)
            return t.permute(0, 3, 1, 4, 2).reshape(b * h, self.heads, w, d)

        att = torch.softmax(seqs(q) @ seqs(k).transpose(-1, -2) / math.sqrt(d), dim=-1) @ seqs(v)
        if axis == "h":
            att = att.reshape(b, w, self.heads, h, d).permute(0, 2, 4, 3, 1)
        else:
            att = att.reshape(b, h, self.heads, w, d).permute(0, 2, 4, 1, 3)
        return out(att.reshape(b, c, h, w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"AxialAttention expects [B,C,H,W], got {tuple(x.shape)}")
        x = x + self._attend(self.norm_h(x), self.qkv_h, self.out_h, "h")
        return x + self._attend(self.norm_w(x), self.qkv_w, self.out_w, "w")


class ResidualBlock(nn.Module):
    """SRResNet residual block: x + conv(act(conv(x))) (no batch norm, as in EDSR, so eval == train behaviour)."""

    def __init__(self, channels: int):
        super().__init__()
        _check_channels("channels", channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class PixelShuffleUpsampler(nn.Module):
    """x`scale` sub-pixel upsampling (scale a power of two): log2(scale) stages of conv(C -> 4C), PixelShuffle(2),
    PReLU."""

    def __init__(self, channels: int, scale: int):
        super().__init__()
        _check_channels("channels", channels)
        if scale < 1 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of two >= 1, got {scale!r}")
        layers: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            layers += [nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(channels)]
        self.body = nn.Sequential(*layers)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of `module`."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
