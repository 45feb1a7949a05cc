"""Heatmap-guided cross attention: the integration block of VividGAN's facial component-aware module (Zhang et al.,
"Face Hallucination with Finishing Touches", TIP 2021, sec. III-B, Fig. 5(c), eqs. 1-2).

    F_CH^i = 1/M(F) sum_j exp( theta(F_C)_i . psi(F_H)_j ) zeta(F_H)_j,   M(F) = sum_j exp( theta(F_C)_i . psi(F_H)_j )   (1)
    F_E    = sigma * phi(F_CH) + F_C,   sigma = 1 ("a trade-off parameter")                                        (2)

i.e. a softmax over all positions j: the query of position i comes from the fused features F_C (W_theta), key
(W_psi) and value (W_zeta) from the landmark heatmaps F_H; W_phi maps back to F_C's channels. Choices the paper
leaves open (ours): F_C and F_H are "normalized" with GroupNorm(1) (a LayerNorm over channels and positions) before
the 1x1 projections; no 1/sqrt(d) temperature (eq. 1 has none); the embedding width defaults to C/2; W_phi starts
at zero, so the block starts as the identity (F_E = F_C) and the attention grows in as it trains. Sigma is a scalar
weight, not a sigmoid. Attention over all N positions costs N^2: use it on a reduced grid (16x16 -> N = 256).
"""

from __future__ import annotations

import torch
import torch.nn as nn


class HeatmapAttention(nn.Module):
    """forward(fc [B, C, H, W], fh [B, P, H, W]) -> (F_E [B, C, H, W], attention [B, N, N]) with N = H*W; each
    attention row sums to 1."""

    def __init__(self, channels: int, heat_channels: int, embed: int | None = None, sigma: float = 1.0):
        super().__init__()
        embed = embed or max(1, channels // 2)
        if channels < 1 or heat_channels < 1 or embed < 1:
            raise ValueError(f"HeatmapAttention: channels, heat_channels and embed must be >= 1, got "
                             f"{channels}, {heat_channels}, {embed}")
        self.channels, self.heat_channels, self.sigma = channels, heat_channels, float(sigma)
        self.norm_c = nn.GroupNorm(1, channels)
        self.norm_h = nn.GroupNorm(1, heat_channels)
        self.theta = nn.Conv2d(channels, embed, 1)
        self.psi = nn.Conv2d(heat_channels, embed, 1)
        self.zeta = nn.Conv2d(heat_channels, embed, 1)
        self.phi = nn.Conv2d(embed, channels, 1)
        nn.init.zeros_(self.phi.weight)
        nn.init.zeros_(self.phi.bias)

    def forward(self, fc: torch.Tensor, fh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if fc.ndim != 4 or fc.shape[1] != self.channels:
            raise ValueError(f"HeatmapAttention: fc must be [B, {self.channels}, H, W], got {tuple(fc.shape)}")
        if fh.ndim != 4 or fh.shape[1] != self.heat_channels or fh.shape[0] != fc.shape[0] or fh.shape[2:] != fc.shape[2:]:
            raise ValueError(f"HeatmapAttention: fh must be [B, {self.heat_channels}, H, W] on fc's grid "
                             f"{tuple(fc.shape[2:])}, got {tuple(fh.shape)}")
        b, c, h, w = fc.shape
        q = self.theta(self.norm_c(fc)).flatten(2).transpose(1, 2)  # [B, N, E]
        nh = self.norm_h(fh)
        k = self.psi(nh).flatten(2)  # [B, E, N]
        v = self.zeta(nh).flatten(2).transpose(1, 2)  # [B, N, E]
        attn = torch.softmax(q @ k, dim=-1)  # eq. 1: exp(.) / M(F) over j
        fch = (attn @ v).transpose(1, 2).reshape(b, -1, h, w)
        return self.sigma * self.phi(fch) + fc, attn  # eq. 2


__all__ = ["HeatmapAttention"]
