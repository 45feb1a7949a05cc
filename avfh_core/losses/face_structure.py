"""Face-structure losses of VividGAN (Zhang et al., "Face Hallucination with Finishing Touches", section III-D):
mirror symmetry (eq. 3), identity similarity (eq. 5) and landmark-heatmap structure similarity (eq. 6), which
compares Gaussian landmark heatmaps (`avfh_core.data.landmarks.landmark_heatmaps`).

The paper writes each term as an expectation over images of a squared Frobenius (or L2) norm. We return the
expectation over the batch of the per-image sum (reduction="sum", the paper's form, whose scale grows with the
image size) or the mean over all elements (reduction="mean", the default, scale-free and comparable across
presets); they differ by a constant factor only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def _reduce(sq: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return sq.mean()
    if reduction == "sum":
        return sq.reshape(sq.shape[0], -1).sum(dim=1).mean()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def symmetry_loss(images: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """VividGAN eq. 3: L_sym = E ||flip(h_hat) - h_hat||_F^2, flip = the horizontal mirror. images: [B, C, H, W]."""
    if images.ndim != 4:
        raise ValueError(f"images must be [B, C, H, W], got shape {tuple(images.shape)}")
    return _reduce((images.flip(-1) - images) ** 2, reduction)


def identity_loss(features: Callable[[torch.Tensor], torch.Tensor], pred: torch.Tensor, target: torch.Tensor,
                  reduction: str = "mean") -> torch.Tensor:
    """VividGAN eq. 5: L_id = E ||Phi(h_hat) - Phi(h)||^2 with Phi a pooled identity embedding (the paper: ResNet-50's
    average pool; here any callable, e.g. FeatureNet.embed). The target's features are detached."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    fp = features(pred)
    with torch.no_grad():
        ft = features(target)
    return _reduce((fp - ft) ** 2, reduction)


def heatmap_loss(pred_heatmaps: torch.Tensor, gt_heatmaps: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """VividGAN eq. 6: L_h = E 1/P sum_k ||H_k(f) - H_k(h)||_2^2 over P landmark heatmaps [B, P, H, W].

    reduction="sum" gives the printed form (per-heatmap sum of squares, averaged over k and the batch)."""
    if pred_heatmaps.shape != gt_heatmaps.shape or pred_heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must both be [B, P, H, W], got {tuple(pred_heatmaps.shape)} and "
                         f"{tuple(gt_heatmaps.shape)}")
    sq = (pred_heatmaps - gt_heatmaps.detach()) ** 2
    if reduction == "sum":
        return sq.sum(dim=(-2, -1)).mean()
    return _reduce(sq, reduction)
