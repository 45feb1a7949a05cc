"""Face-region crops from iBUG-68 landmarks: mouth crops for lip reading, component crops, heatmaps, alignment.

- `mouth_crops`: the lip-reading input of VFH-GAN's lip loss (Sharma et al., Sec. III-C; the LRW lip reader of
  Ma et al. takes 88x88 grayscale mouth crops). Implemented with `affine_grid` + `grid_sample`, so a loss on the
  crops backpropagates into the video (the landmarks only place the boxes and are not differentiated).
- `component_boxes` / `component_crops`: eyes, nose, mouth (VividGAN's component-wise refinement, Zhang et al.).
Landmarks follow the one convention of `avfh_core.data.landmarks` (iBUG 68, pixel centres at +0.5), where the
heatmaps and the Procrustes alignment live too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from avfh_core.data.landmarks import COMPONENTS, MOUTH, check_landmarks


def mouth_box(landmarks: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Square mouth boxes [T, 4] (x0, y0, x1, y1) in pixels from landmarks [T, 68, 2].

    Centre: the mean of the 20 mouth points per frame. Side: one size per clip (as LRW's fixed crops), the clip
    median of max(0.6 * face width |p16 - p0|, 1.5 * mouth width |p54 - p48|), times `scale`."""
    check_landmarks(landmarks)
    lm = landmarks.detach().float()
    if lm.ndim == 2:
        lm = lm[None]
    centre = lm[:, MOUTH].mean(1)
    face_w = (lm[:, 16] - lm[:, 0]).norm(dim=-1)
    mouth_w = (lm[:, 54] - lm[:, 48]).norm(dim=-1)
    side = torch.maximum(0.6 * face_w, 1.5 * mouth_w).median() * scale
    side = side.clamp_min(4.0)
    half = side / 2
    return torch.stack([centre[:, 0] - half, centre[:, 1] - half, centre[:, 0] + half, centre[:, 1] + half], -1)


def crop_boxes(video: torch.Tensor, boxes: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Differentiable crops: video [T, C, H, W], boxes [T, 4] pixels -> [T, C, size, size] (bilinear, border)."""
    if video.ndim != 4:
        raise ValueError(f"video must be [T, C, H, W], got {tuple(video.shape)}")
    T, C, H, W = video.shape
    if boxes.shape != (T, 4):
        raise ValueError(f"boxes must be [T, 4] with T={T}, got {tuple(boxes.shape)}")
    sh, sw = (size, size) if isinstance(size, int) else size
    b = boxes.to(video.dtype).to(video.device)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    theta = torch.zeros(T, 2, 3, dtype=video.dtype, device=video.device)
    theta[:, 0, 0] = bw / W
    theta[:, 0, 2] = 2 * cx / W - 1
    theta[:, 1, 1] = bh / H
    theta[:, 1, 2] = 2 * cy / H - 1
    grid = F.affine_grid(theta, (T, C, sh, sw), align_corners=False)
    return F.grid_sample(video, grid, mode="bilinear", padding_mode="border", align_corners=False)


def to_gray(video: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma: [..., 3, H, W] -> [..., 1, H, W]."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=video.dtype, device=video.device).view(3, 1, 1)
    return (video * w).sum(-3, keepdim=True)


def mouth_crops(video: torch.Tensor, landmarks: torch.Tensor, size: int = 88, gray: bool = True,
                scale: float = 1.0) -> torch.Tensor:
    """[T, 3, H, W] + landmarks [T, 68, 2] -> [T, 1 (or 3), size, size] mouth crops, differentiable in `video`.

    Also accepts a batch [N, T, 3, H, W] with landmarks [N, T, 68, 2]."""
    if video.ndim == 5:
        return torch.stack([mouth_crops(v, l, size, gray, scale) for v, l in zip(video, landmarks)])
    if video.ndim != 4 or video.shape[1] != 3:
        raise ValueError(f"video must be [T, 3, H, W] (or [N, T, 3, H, W]), got {tuple(video.shape)}")
    check_landmarks(landmarks, frames=video.shape[0])
    crops = crop_boxes(video, mouth_box(landmarks, scale), size)
    return to_gray(crops) if gray else crops


def component_boxes(landmarks: torch.Tensor, pad: float = 0.35) -> dict[str, torch.Tensor]:
    """Square boxes [T, 4] around each component (eyes, nose, mouth), side = extent * (1 + 2 pad)."""
    check_landmarks(landmarks)
    lm = landmarks.detach().float()
    out = {}
    for name, sl in COMPONENTS.items():
        pts = lm[..., sl, :]
        lo, hi = pts.min(-2).values, pts.max(-2).values
        c = (lo + hi) / 2
        side = (hi - lo).max(-1).values.clamp_min(2.0) * (1 + 2 * pad)
        out[name] = torch.stack([c[..., 0] - side / 2, c[..., 1] - side / 2, c[..., 0] + side / 2,
                                 c[..., 1] + side / 2], -1)
    return out


def component_crops(video: torch.Tensor, landmarks: torch.Tensor, size: int = 32) -> dict[str, torch.Tensor]:
    """{component: [T, 3, size, size]} differentiable crops of eyes, nose and mouth."""
    return {k: crop_boxes(video, b, size) for k, b in component_boxes(landmarks).items()}
