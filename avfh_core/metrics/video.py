"""Video metrics of SECNet (Fang et al., "Self-Enhanced Convolutional Network for Facial Video Hallucination",
section III-B, eqs. 11-15): sequence PSNR, SSIM_vh (per-frame SSIM averaged over frames), SSIM_vt (SSIM of the
vertical-temporal slices) and per-frame PSNR curves (its Fig. 11).

Videos are [..., T, C, H, W] in [0, 1]. SECNet computes SSIM "over individual RGB images", so `y_channel` defaults
to False here; pass y_channel=True for the VFH-GAN convention.
"""

from __future__ import annotations

import torch

from avfh_core.metrics.image import _prepare, check_images, psnr, ssim, ssim_map

SECNET_PSNR_CAP = 100.0


def _check_video(x: torch.Tensor, y: torch.Tensor) -> None:
    check_images(x, y)
    if x.ndim < 4:
        raise ValueError(f"videos must be [..., T, C, H, W], got shape {tuple(x.shape)}")


def video_psnr(x: torch.Tensor, y: torch.Tensor, *, y_channel: bool = False, crop: int = 0,
               data_range: float = 1.0, cap: float = SECNET_PSNR_CAP) -> torch.Tensor:
    """SECNet eq. 11: PSNR of a whole sequence from its pooled MSE, capped at 100 dB. [..., T, C, H, W] -> [...].

    PSNR = min(20 log10(R / sqrt(sum_t ||Y^t - G^t||^2 / (N c r^2 h w))), 100) with R = 1. The extracted text of
    eq. 11 prints log10(R / RMSE) without the factor 20; we use the standard dB definition (the paper's tables are
    in dB, ~30-40), so this is not a mean of per-frame PSNRs: one bad frame weighs by its MSE.
    """
    _check_video(x, y)
    a, b = _prepare(x, y, y_channel, crop, 1)
    err = ((a - b) ** 2).mean(dim=(-4, -3, -2, -1))
    return torch.clamp(10.0 * torch.log10(data_range**2 / err), max=cap)


def psnr_per_frame(x: torch.Tensor, y: torch.Tensor, *, y_channel: bool = False, crop: int = 0) -> torch.Tensor:
    """Per-frame PSNR curve [..., T] (SECNet Fig. 11 averages it over clips)."""
    _check_video(x, y)
    return psnr(x, y, y_channel=y_channel, crop=crop)


def ssim_vh(x: torch.Tensor, y: torch.Tensor, *, y_channel: bool = False, crop: int = 0) -> torch.Tensor:
    """SSIM_vh (SECNet section III-B): the SSIM of eqs. 12-15 per frame, averaged over the T frames. -> [...]."""
    _check_video(x, y)
    return ssim(x, y, y_channel=y_channel, crop=crop).mean(dim=-1)


def ssim_vt(x: torch.Tensor, y: torch.Tensor, *, y_channel: bool = False, crop: int = 0) -> torch.Tensor:
    """SSIM_vt (SECNet section III-B): slice the video along the horizontal axis and average the SSIM of all the
    vertical-temporal images (one per column x: a [C, H, T] image), with the window of eqs. 12-15 (rho 1.5, d 5).

    Needs T >= 11 frames (the window spans 11 frames in time). -> [...].
    """
    _check_video(x, y)
    if x.shape[-4] < 11:
        raise ValueError(f"ssim_vt needs at least 11 frames (the 11-tap window runs over time), got T={x.shape[-4]}")
    a, b = _prepare(x, y, y_channel, crop, 1)
    # [..., T, C, H, W] -> [..., W, C, H, T]: one vertical-temporal image per column.
    lead = tuple(range(a.ndim - 4))
    order = (*lead, a.ndim - 1, a.ndim - 3, a.ndim - 2, a.ndim - 4)
    a, b = a.permute(order), b.permute(order)
    if a.shape[-2] < 11:
        raise ValueError(f"ssim_vt needs a height of at least 11 after cropping, got {a.shape[-2]}")
    return ssim_map(a, b).mean(dim=(-3, -2, -1)).mean(dim=-1)
