"""NLMD, the normalised landmark distance of Eskimez et al., "End-to-end generation of talking faces from noisy
speech" (ICASSP 2020, section 4.3).

Per frame, the predicted and the ground-truth landmarks are each aligned to a template face by Procrustes analysis
(translation, rotation and scale removed; no reflection), then their distance is measured. The paper does not print
the template nor the normalisation, so we choose, and say so:
- template: given by the caller (e.g. a mean face of the data set), else the ground-truth frame itself;
- the template is normalised to zero mean and unit RMS radius (sqrt(mean ||p - mean||^2) = 1), so NLMD is a
  fraction of the face size and independent of the image resolution;
- distance: mean over points of the Euclidean distance between the two aligned shapes, averaged over frames.
`mouth_only=True` aligns on all 68 points (the whole face fixes the similarity transform, as the paper argues) and
measures only the 20 mouth points (iBUG 48-67), which is what mouth synchronisation is about.
"""

from __future__ import annotations

import torch

MOUTH = slice(48, 68)


def _check_landmarks(t: torch.Tensor, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.ndim < 2 or t.shape[-1] != 2:
        raise ValueError(f"{name} must be [..., P, 2] (x, y) points, got shape {tuple(t.shape)}")
    if t.shape[-2] < 3:
        raise ValueError(f"{name} needs at least 3 points for Procrustes alignment, got {t.shape[-2]}")
    if torch.isnan(t).any():
        raise ValueError(f"{name} contains NaN (a missed detection?)")


def normalise_shape(p: torch.Tensor) -> torch.Tensor:
    """Translate [..., P, 2] to zero mean and scale to unit RMS radius."""
    c = p - p.mean(dim=-2, keepdim=True)
    r = c.pow(2).sum(dim=-1).mean(dim=-1).sqrt()[..., None, None]
    if (r <= 0).any():
        raise ValueError("a landmark shape has all its points at one location (zero size); cannot normalise it")
    return c / r


def procrustes_align(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The similarity transform s R x + t (det R = +1) of `source` [..., P, 2] closest to `target` in least squares
    (Umeyama 1991), applied to `source`."""
    mu_s, mu_t = source.mean(dim=-2, keepdim=True), target.mean(dim=-2, keepdim=True)
    xs, xt = source - mu_s, target - mu_t
    cov = xt.transpose(-1, -2) @ xs  # [..., 2, 2]
    u, sv, vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(u @ vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    e = torch.ones_like(sv)
    e[..., -1] = d
    rot = u @ torch.diag_embed(e) @ vh
    var_s = xs.pow(2).sum(dim=(-1, -2))
    scale = (sv * e).sum(dim=-1) / var_s.clamp(min=1e-12)
    return scale[..., None, None] * xs @ rot.transpose(-1, -2) + mu_t


def nlmd(pred_landmarks: torch.Tensor, gt_landmarks: torch.Tensor, *, mouth_only: bool = False,
         template: torch.Tensor | None = None) -> torch.Tensor:
    """NLMD (Eskimez et al. section 4.3) per sequence: [..., T, P, 2] pairs -> [...] (mean over T frames).

    Invariant to any similarity transform of the prediction; zero for identical landmarks. template: [P, 2] or
    broadcastable to the inputs; default: each ground-truth frame. mouth_only: distance over iBUG points 48-67.
    """
    _check_landmarks(pred_landmarks, "pred_landmarks")
    _check_landmarks(gt_landmarks, "gt_landmarks")
    if pred_landmarks.shape != gt_landmarks.shape:
        raise ValueError(f"pred_landmarks {tuple(pred_landmarks.shape)} and gt_landmarks "
                         f"{tuple(gt_landmarks.shape)} must have the same shape")
    if mouth_only and pred_landmarks.shape[-2] != 68:
        raise ValueError(f"mouth_only needs the 68-point iBUG layout, got {pred_landmarks.shape[-2]} points")
    if pred_landmarks.ndim < 3:
        raise ValueError(f"landmarks must be [..., T, P, 2] sequences, got shape {tuple(pred_landmarks.shape)}")
    p, g = pred_landmarks.to(torch.float64), gt_landmarks.to(torch.float64)
    tmpl = g if template is None else torch.as_tensor(template, dtype=torch.float64).expand_as(g)
    tmpl = normalise_shape(tmpl)
    pa, ga = procrustes_align(p, tmpl), procrustes_align(g, tmpl)
    dist = (pa - ga).pow(2).sum(dim=-1).sqrt()
    if mouth_only:
        dist = dist[..., MOUTH]
    return dist.mean(dim=-1).mean(dim=-1)
