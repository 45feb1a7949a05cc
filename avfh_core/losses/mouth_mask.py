"""Mouth-region masking of Eskimez et al., "End-to-end generation of talking faces from noisy speech" (ICASSP 2020,
section 3.2, eq. 1).

Masked reconstruction: a 2-D Gaussian centred at the mean of the mouth landmarks (iBUG 48-67), of a fixed size,
plus a constant 0.01 "so that the other regions are not fully ignored"; L1 between the masked frames. The paper
calibrated the Gaussian's size on its validation set without printing it: we expose it as `sigma` (pixels), by
default 0.1 of the frame width. Pixel centres follow `avfh_core.data.landmarks` (pixel
(i, j) is sampled at (j + 0.5, i + 0.5)).
"""

from __future__ import annotations

import torch

from avfh_core.data.landmarks import MOUTH, check_landmarks

MASK_CONSTANT = 0.01  # Eskimez et al. section 3.2


def gaussian_mouth_mask(landmarks: torch.Tensor, size: tuple[int, int], *, sigma: float | None = None,
                        constant: float = MASK_CONSTANT) -> torch.Tensor:
    """Per frame, exp(-||p - c||^2 / (2 sigma^2)) + constant with c the mean of iBUG points 48-67.

    landmarks: [..., 68, 2] pixel (x, y); size: (H, W). Returns [..., H, W] (peak 1 + constant).
    """
    check_landmarks(landmarks)
    h, w = size
    sigma = 0.1 * w if sigma is None else float(sigma)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive (pixels), got {sigma}")
    c = landmarks[..., MOUTH, :].float().mean(dim=-2)  # [..., 2]
    ys = torch.arange(h, dtype=torch.float32, device=landmarks.device).view(h, 1) + 0.5  # pixel centres
    xs = torch.arange(w, dtype=torch.float32, device=landmarks.device).view(1, w) + 0.5
    d2 = (xs - c[..., 0, None, None]) ** 2 + (ys - c[..., 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma**2)) + constant


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 between masked frames, mean |m * pred - m * target| over all elements (Eskimez's L_1^masked).

    pred, target: [..., C, H, W]; mask: [..., H, W] (broadcast over C), non-negative.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if mask.shape[-2:] != pred.shape[-2:]:
        raise ValueError(f"mask {tuple(mask.shape)} must end with the frame size {tuple(pred.shape[-2:])}")
    if (mask < 0).any():
        raise ValueError("mask must be non-negative")
    m = mask.unsqueeze(-3).to(pred.dtype)
    return (m * (pred - target)).abs().mean()
