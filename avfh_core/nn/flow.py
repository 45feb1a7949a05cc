"""Optical flow between low-resolution frames and backward warping (SECNet sec. II-B, reconstructed; VESPCN-style).

Conventions: a flow is [B, 2, H, W] in pixels, channel 0 = x (right), channel 1 = y (down). `flow_warp(x, flow)` is
backward warping: out(p) = x(p + flow(p)), sampled bilinearly with `F.grid_sample` (align_corners=True, so pixel
centres sit exactly on the sampling grid and a warp by an integer shift copies pixels exactly), border padding.
`FlowNet(ref, other)` estimates the flow F^{ref->other}, i.e. the one that warps `other` onto `ref`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _check_flow(x: torch.Tensor, flow: torch.Tensor, name: str = "flow_warp") -> None:
    if x.ndim != 4:
        raise ValueError(f"{name}: image must be [B,C,H,W], got {tuple(x.shape)}")
    if flow.ndim != 4 or flow.shape[1] != 2 or flow.shape[0] != x.shape[0] or flow.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"{name}: flow must be [B,2,H,W] = [{x.shape[0]},2,{x.shape[2]},{x.shape[3]}] "
                         f"(pixels; channel 0 = x, 1 = y), got {tuple(flow.shape)}")


def flow_warp(x: torch.Tensor, flow: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Backward warp: out[..., y, x] = img at (x + flow_x, y + flow_y), bilinear. x [B,C,H,W], flow [B,2,H,W]."""
    _check_flow(x, flow)
    b, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device, dtype=flow.dtype),
                            torch.arange(w, device=x.device, dtype=flow.dtype), indexing="ij")
    px = xs[None] + flow[:, 0]
    py = ys[None] + flow[:, 1]
    gx = 2 * px / max(w - 1, 1) - 1
    gy = 2 * py / max(h - 1, 1) - 1
    grid = torch.stack([gx, gy], dim=-1).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def upsample_flow(flow: torch.Tensor, r: int) -> torch.Tensor:
    """A flow of an LR grid as a flow of the x r HR grid: bilinear in size, magnitudes x r (LR px -> HR px).
    SECNet aligns previous super-resolved frames with the "bi-linearly upsampled motion fields" (Alg. 4 step 8);
    the x r on the magnitudes is implied by the units."""
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"upsample_flow: flow must be [B,2,h,w], got {tuple(flow.shape)}")
    if not isinstance(r, int) or r < 1:
        raise ValueError(f"upsample_flow: r must be a positive int, got {r!r}")
    return F.interpolate(flow, scale_factor=r, mode="bilinear", align_corners=False) * r


def smoothness(flow: torch.Tensor) -> torch.Tensor:
    """Mean absolute spatial gradient of a flow (total variation, L1), a scalar."""
    return (flow[..., :, 1:] - flow[..., :, :-1]).abs().mean() + (flow[..., 1:, :] - flow[..., :-1, :]).abs().mean()


def flow_loss(ref: torch.Tensor, warped: torch.Tensor, flow: torch.Tensor, alpha: float = 0.01) -> torch.Tensor:
    """SECNet's L_f for one neighbour (reconstructed, eqs. 2/3 were lost): the warping MSE ||warp(X^k) - X^t||^2
    per element plus alpha (0.01, the paper's hyper-parameter paragraph) x the flow's total variation."""
    if ref.shape != warped.shape:
        raise ValueError(f"flow_loss: ref {tuple(ref.shape)} and warped {tuple(warped.shape)} differ in shape")
    if alpha < 0:
        raise ValueError(f"flow_loss: alpha must be >= 0, got {alpha}")
    return F.mse_loss(warped, ref) + alpha * smoothness(flow)


class _FlowBranch(nn.Module):
    """conv stack (stride 2 + 2 at the start, so 1/down resolution) -> tanh flow -> PixelShuffle back to full size."""

    def __init__(self, in_ch: int, width: int, down: int):
        super().__init__()
        if down not in (2, 4):
            raise ValueError(f"_FlowBranch: down must be 2 or 4, got {down}")
        layers: list[nn.Module] = [nn.Conv2d(in_ch, width, 5, stride=2, padding=2), nn.ReLU(inplace=True),
                                   nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        if down == 4:
            layers += [nn.Conv2d(width, width, 5, stride=2, padding=2), nn.ReLU(inplace=True),
                       nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(width, 2 * down * down, 3, padding=1), nn.Tanh(), nn.PixelShuffle(down)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FlowNet(nn.Module):
    """VESPCN-style coarse-to-fine motion estimation on a pair of LR frames (the likeliest content of SECNet's
    lost sec. II-B; see models/secnet.py): a coarse branch at 1/4 resolution on [ref, other], then a fine branch at
    1/2 resolution on [ref, other, other warped by the coarse flow, coarse flow]; flow = coarse + fine, each a tanh
    output times `max_flow` (LR pixels). forward(ref [B,3,h,w], other [B,3,h,w]) -> F^{ref->other} [B,2,h,w];
    h and w must be multiples of 4."""

    def __init__(self, width: int = 24, max_flow: float = 4.0):
        super().__init__()
        if width < 1:
            raise ValueError(f"FlowNet: width must be >= 1, got {width}")
        if not max_flow > 0:
            raise ValueError(f"FlowNet: max_flow must be > 0, got {max_flow}")
        self.max_flow = float(max_flow)
        self.coarse = _FlowBranch(6, width, 4)
        self.fine = _FlowBranch(11, width, 2)

    def forward(self, ref: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        if ref.ndim != 4 or ref.shape[1] != 3 or ref.shape != other.shape:
            raise ValueError(f"FlowNet: ref and other must be equal [B,3,h,w], got {tuple(ref.shape)} and "
                             f"{tuple(other.shape)}")
        if ref.shape[-1] % 4 or ref.shape[-2] % 4:
            raise ValueError(f"FlowNet: frame size must be a multiple of 4, got {tuple(ref.shape[-2:])}")
        coarse = self.coarse(torch.cat([ref, other], 1)) * self.max_flow
        warped = flow_warp(other, coarse)
        fine = self.fine(torch.cat([ref, other, warped, coarse / self.max_flow], 1)) * self.max_flow
        return coarse + fine


__all__ = ["FlowNet", "flow_loss", "flow_warp", "smoothness", "upsample_flow"]
