"""Facial landmarks in one convention: the iBUG 68-point layout, Gaussian heatmaps, Procrustes alignment.

Convention (used by every module of avfh_core): landmarks are [..., P, 2] (x, y) in pixels of the image they belong
to, continuous coordinates with the centre of pixel (i, j) at (j + 0.5, i + 0.5): the convention of
`torch.nn.functional.grid_sample(align_corners=False)`, which the crops of `data.crops` use, so a landmark at
(0, 0) is the top-left corner of the image and one at (W, H) its bottom-right corner.

iBUG 68 (Sagonas et al. 2013, the 300-W layout) index ranges: jaw 0-16, brows 17-26, nose 27-35, eyes 36-41
(image left) and 42-47, mouth 48-67 (outer lip 48-59, inner lip 60-67).
"""

from __future__ import annotations

import torch

N_POINTS = 68
JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
LEFT_EYE = slice(36, 42)  # image left
RIGHT_EYE = slice(42, 48)
MOUTH = slice(48, 68)
OUTER_LIP = slice(48, 60)
INNER_LIP = slice(60, 68)
COMPONENTS = {"left_eye": LEFT_EYE, "right_eye": RIGHT_EYE, "nose": NOSE, "mouth": MOUTH}


def check_landmarks(landmarks: torch.Tensor, name: str = "landmarks", points: int | None = N_POINTS,
                    frames: int | None = None) -> None:
    """Raise a clear error unless `landmarks` is a [..., P, 2] tensor without NaN (P = `points` when given; the
    leading size = `frames` when given)."""
    if not isinstance(landmarks, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(landmarks).__name__}")
    if landmarks.ndim < 2 or landmarks.shape[-1] != 2 or (points is not None and landmarks.shape[-2] != points):
        want = f"[..., {points}, 2] (iBUG order, pixels)" if points else "[..., P, 2] (x, y) points"
        raise ValueError(f"{name} must be {want}, got shape {tuple(landmarks.shape)}")
    if frames is not None and landmarks.shape[0] != frames:
        raise ValueError(f"{name} have {landmarks.shape[0]} frames but the video has {frames}")
    if landmarks.is_floating_point() and torch.isnan(landmarks).any():
        raise ValueError(f"{name} contain NaN (a missed detection?)")


def landmark_heatmaps(landmarks: torch.Tensor, size: int | tuple[int, int], sigma: float = 1.0,
                      image_size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """One Gaussian heatmap per landmark, peak 1 at the landmark (the targets of FAN and of VividGAN eq. 6):
    [..., P, 2] pixels of an `image_size` image (default: `size`) -> [..., P, H, W] with (H, W) = `size`.
    `sigma` is in heatmap pixels. Pixel (i, j) of the heatmap is sampled at its centre (j + 0.5, i + 0.5)."""
    check_landmarks(landmarks, points=None)
    h, w = (size, size) if isinstance(size, int) else size
    ih, iw = (h, w) if image_size is None else ((image_size, image_size) if isinstance(image_size, int) else image_size)
    if min(h, w, ih, iw) < 1 or sigma <= 0:
        raise ValueError(f"size and image_size must be positive and sigma > 0, got {size}, {image_size}, {sigma}")
    lm = landmarks.float()
    px, py = lm[..., 0] * (w / iw), lm[..., 1] * (h / ih)
    xs = torch.arange(w, dtype=torch.float32, device=landmarks.device) + 0.5
    ys = torch.arange(h, dtype=torch.float32, device=landmarks.device) + 0.5
    dx = (xs - px[..., None]) ** 2  # [..., P, W]
    dy = (ys - py[..., None]) ** 2  # [..., P, H]
    return torch.exp(-(dy[..., :, None] + dx[..., None, :]) / (2 * sigma**2))


def procrustes(source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The similarity transform s R x + t (det R = +1, no reflection) of `source` [..., P, 2] closest to `target`
    (broadcastable to it) in least squares (Umeyama 1991). Returns (aligned source [..., P, 2], A [..., 2, 3]) with
    aligned = source @ A[..., :, :2]^T + A[..., :, 2]."""
    check_landmarks(source, "source", points=None)
    check_landmarks(target, "target", points=None)
    if source.shape[-2] < 3:
        raise ValueError(f"Procrustes alignment needs at least 3 points, got {source.shape[-2]}")
    target = target.to(source.dtype if source.is_floating_point() else torch.float32)
    source = source.to(target.dtype)
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
    linear = scale[..., None, None] * rot  # [..., 2, 2]
    shift = mu_t[..., 0, :] - (linear @ mu_s[..., 0, :, None])[..., 0]
    aligned = source @ linear.transpose(-1, -2) + shift[..., None, :]
    return aligned, torch.cat([linear, shift[..., None]], dim=-1)


__all__ = ["BROWS", "COMPONENTS", "INNER_LIP", "JAW", "LEFT_EYE", "MOUTH", "NOSE", "N_POINTS", "OUTER_LIP",
           "RIGHT_EYE", "check_landmarks", "landmark_heatmaps", "procrustes"]
