"""NLMD, the normalised landmark distance of Eskimez et al., "End-to-end generation of talking faces from noisy
speech" (ICASSP 2020, section 4.3).

Per frame, the predicted and the ground-truth landmarks are each aligned to a template face by Procrustes analysis
(translation, rotation and scale removed; no reflection), then their distance is measured. The paper does not print
the template nor the normalisation, so we choose, and say so:
- template: given by the caller (e.g. the mean shape of the training split), else ONE template per sequence: the
  Procrustes mean of that sequence's ground-truth frames (`sequence_template`), so a sequence's score never depends
  on which other sequences share its batch. The paper aligns every frame to "a template face"; the former default,
  each ground-truth frame itself, made the template move with the mouth;
- the template is normalised to zero mean and unit RMS radius (sqrt(mean ||p - mean||^2) = 1), so NLMD is a
  fraction of the face size and independent of the image resolution;
- distance: mean over points of the Euclidean distance between the two aligned shapes, averaged over frames.
`mouth_only=True` aligns on all 68 points (the whole face fixes the similarity transform, as the paper argues) and
measures only the 20 mouth points (iBUG 48-67), which is what mouth synchronisation is about.

For contrast, `mouth_centroid_lmd` is the metric NLMD replaces: the LMD of Chen et al. [7] as the evaluation code of
the paper's baseline [8] (ATVGnet) computes it, with only the mouth's mean point matched. `head_motion_contrast`
measures the paper's argument for NLMD ("matching the means of the mouth landmarks is prone to errors caused by facial
movements such as rotation and scaling") on given landmark sequences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from avfh_core.data.landmarks import MOUTH, check_landmarks, procrustes


def normalise_shape(p: torch.Tensor) -> torch.Tensor:
    """Translate [..., P, 2] to zero mean and scale to unit RMS radius."""
    c = p - p.mean(dim=-2, keepdim=True)
    r = c.pow(2).sum(dim=-1).mean(dim=-1).sqrt()[..., None, None]
    if (r <= 0).any():
        raise ValueError("a landmark shape has all its points at one location (zero size); cannot normalise it")
    return c / r


def mean_shape(landmarks: torch.Tensor) -> torch.Tensor:
    """One template face [P, 2] from shapes [..., P, 2]: each shape normalised (`normalise_shape`), aligned by
    Procrustes to the first one, averaged, and normalised again (one step of generalised Procrustes analysis)."""
    check_landmarks(landmarks, "landmarks", points=None)
    if landmarks.shape[-2] < 3:
        raise ValueError(f"mean_shape needs at least 3 points per shape, got {landmarks.shape[-2]}")
    flat = normalise_shape(landmarks.to(torch.float64).reshape(-1, *landmarks.shape[-2:]))
    return normalise_shape(procrustes(flat, flat[0])[0].mean(dim=0))


def sequence_template(landmarks: torch.Tensor) -> torch.Tensor:
    """One template face per sequence: [..., T, P, 2] -> [..., P, 2], each sequence's frames normalised, aligned by
    Procrustes to its first frame and averaged, then normalised again (`mean_shape` applied per sequence)."""
    check_landmarks(landmarks, "landmarks", points=None)
    if landmarks.ndim < 3 or landmarks.shape[-2] < 3:
        raise ValueError(f"sequence_template needs [..., T, P >= 3, 2] landmarks, got shape {tuple(landmarks.shape)}")
    g = normalise_shape(landmarks.to(torch.float64))
    aligned = procrustes(g, g[..., :1, :, :].expand_as(g))[0]
    return normalise_shape(aligned.mean(dim=-3))


def nlmd(pred_landmarks: torch.Tensor, gt_landmarks: torch.Tensor, *, mouth_only: bool = False,
         template: torch.Tensor | None = None) -> torch.Tensor:
    """NLMD (Eskimez et al. section 4.3) per sequence: [..., T, P, 2] pairs -> [...] (mean over T frames).

    Invariant to any similarity transform of the prediction; zero for identical landmarks. template: [P, 2] or
    broadcastable to the inputs; default: `sequence_template(gt_landmarks)`, one template for all frames of a
    sequence. mouth_only: distance over iBUG points 48-67.
    """
    check_landmarks(pred_landmarks, "pred_landmarks", points=None)
    check_landmarks(gt_landmarks, "gt_landmarks", points=None)
    if pred_landmarks.shape[-2] < 3:
        raise ValueError(f"pred_landmarks needs at least 3 points for Procrustes alignment, got {pred_landmarks.shape[-2]}")
    if pred_landmarks.shape != gt_landmarks.shape:
        raise ValueError(f"pred_landmarks {tuple(pred_landmarks.shape)} and gt_landmarks "
                         f"{tuple(gt_landmarks.shape)} must have the same shape")
    if mouth_only and pred_landmarks.shape[-2] != 68:
        raise ValueError(f"mouth_only needs the 68-point iBUG layout, got {pred_landmarks.shape[-2]} points")
    if pred_landmarks.ndim < 3:
        raise ValueError(f"landmarks must be [..., T, P, 2] sequences, got shape {tuple(pred_landmarks.shape)}")
    p, g = pred_landmarks.to(torch.float64), gt_landmarks.to(torch.float64)
    tmpl = sequence_template(g).unsqueeze(-3) if template is None else torch.as_tensor(template, dtype=torch.float64)
    tmpl = tmpl.expand_as(g)
    tmpl = normalise_shape(tmpl)
    pa, ga = procrustes(p, tmpl)[0], procrustes(g, tmpl)[0]
    dist = (pa - ga).pow(2).sum(dim=-1).sqrt()
    if mouth_only:
        dist = dist[..., MOUTH]
    return dist.mean(dim=-1).mean(dim=-1)


def mouth_centroid_lmd(pred_landmarks: torch.Tensor, gt_landmarks: torch.Tensor) -> torch.Tensor:
    """LMD with mean-point alignment, per sequence: [..., T, 68, 2] pairs -> [...], in the landmarks' units (pixels).

    As the ATVGnet evaluation code (lelechen63/ATVGnet, `evaluation_matrix.py`) computes it: the mouth points
    (iBUG 48-67) of each frame minus their centroid, the sum over the 20 points of the Euclidean distance between
    prediction and truth, the mean over frames. Chen et al. [7] write the same with a mean over points (divide by 20).
    Invariant to translation only: a rotated or scaled head with a correct mouth scores above zero.
    """
    check_landmarks(pred_landmarks, "pred_landmarks", points=68)
    check_landmarks(gt_landmarks, "gt_landmarks", points=68)
    if pred_landmarks.shape != gt_landmarks.shape or pred_landmarks.ndim < 3:
        raise ValueError(f"pred_landmarks {tuple(pred_landmarks.shape)} and gt_landmarks {tuple(gt_landmarks.shape)} "
                         "must be [..., T, 68, 2] sequences of the same shape")
    p, g = pred_landmarks[..., MOUTH, :].to(torch.float64), gt_landmarks[..., MOUTH, :].to(torch.float64)
    p, g = p - p.mean(dim=-2, keepdim=True), g - g.mean(dim=-2, keepdim=True)
    return (p - g).pow(2).sum(dim=-1).sqrt().sum(dim=-1).mean(dim=-1)


def move_head(landmarks: torch.Tensor, *, angle_deg: float = 0.0, scale: float = 1.0,
              shift: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Every frame's shape [..., P, 2] rotated by angle_deg and scaled by `scale` about its own centroid, then
    shifted: the same face, the head turned in the image plane, nearer or further, moved; its mouth unchanged."""
    check_landmarks(landmarks, "landmarks", points=None)
    if not scale > 0:
        raise ValueError(f"move_head: scale must be > 0, got {scale}")
    x = landmarks.to(torch.float64)
    c = x.mean(dim=-2, keepdim=True)
    th = math.radians(angle_deg)
    rot = torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]], dtype=torch.float64)
    return (x - c) @ (scale * rot).T + c + torch.tensor(shift, dtype=torch.float64)


def frozen_mouth(landmarks: torch.Tensor) -> torch.Tensor:
    """[..., T, 68, 2]: each frame with its mouth replaced by the first frame's mouth shape, placed at that frame's
    mouth centroid: what a generator that copies its condition frame's mouth produces, the head where the truth's is."""
    check_landmarks(landmarks, "landmarks", points=68)
    x = landmarks.to(torch.float64).clone()
    m0 = x[..., :1, MOUTH, :]
    x[..., MOUTH, :] = m0 - m0.mean(dim=-2, keepdim=True) + x[..., MOUTH, :].mean(dim=-2, keepdim=True)
    return x


def head_motion_contrast(gt_landmarks: torch.Tensor, *, angles_deg: Sequence[float] = (0, 1, 2, 5, 10),
                         scales: Sequence[float] = (0.9, 0.95, 1.0, 1.05, 1.1),
                         shift: tuple[float, float] = (5.0, -3.0)) -> dict:
    """Sec. 4.3's argument for NLMD, measured on truth sequences [N, T, 68, 2] (N clips): the truth itself moved
    (`move_head`: correct mouth, head rotated / scaled / shifted) against a frozen mouth (`frozen_mouth`: wrong mouth,
    head right), scored by mouth-only NLMD and by the mouth-centroid LMD, each averaged over clips.

    Returns {"frozen": {metric: value}, "shifted": {...}, "rotated": {angle: {...}}, "scaled": {scale: {...}},
    "break_even": {"angle_deg": ..., "scale_change": ...}}: the head rotation, and the relative change of head size
    (a scale of 1 +- scale_change), at which the LMD of a correct mouth equals that of the frozen mouth, median over
    clips, from the closed forms: a similarity transform moves a centred mouth point m by |s R m - m|, so rotation
    alone costs 2 sin(theta / 2) S and scaling alone |s - 1| S, with S the frame mean of sum_p |m_p - centroid|
    (angle inf where no rotation reaches it).
    """
    check_landmarks(gt_landmarks, "gt_landmarks", points=68)
    if gt_landmarks.ndim != 4 or gt_landmarks.shape[1] < 2:
        raise ValueError(f"head_motion_contrast needs [N, T >= 2, 68, 2] truth sequences, got shape "
                         f"{tuple(gt_landmarks.shape)}")
    g = gt_landmarks.to(torch.float64)

    def scores(pred):
        return {"nlmd_mouth": float(nlmd(pred, g, mouth_only=True).mean()),
                "lmd": float(mouth_centroid_lmd(pred, g).mean())}

    frozen = frozen_mouth(g)
    out = {"frozen": scores(frozen), "shifted": scores(move_head(g, shift=shift)),
           "rotated": {float(a): scores(move_head(g, angle_deg=a)) for a in angles_deg},
           "scaled": {float(s): scores(move_head(g, scale=s)) for s in scales}}
    m = g[..., MOUTH, :] - g[..., MOUTH, :].mean(dim=-2, keepdim=True)
    size = m.pow(2).sum(dim=-1).sqrt().sum(dim=-1).mean(dim=-1)  # S per clip [N]
    ratio = mouth_centroid_lmd(frozen, g) / size.clamp(min=1e-12)  # the frozen mouth's LMD in units of S
    angle = torch.where(ratio <= 2, 2 * torch.rad2deg(torch.asin((ratio / 2).clamp(max=1))),
                        torch.full_like(ratio, math.inf))
    out["break_even"] = {"angle_deg": float(angle.median()), "scale_change": float(ratio.median())}
    return out
