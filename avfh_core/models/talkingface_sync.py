"""A SyncNet-style audio-visual sync network (Chung & Zisserman 2016, the sync measure the talking-face literature
uses; Eskimez et al. claim their pair discriminator improves sync but report no sync score). Ours, small:

- video branch: `WINDOW` consecutive mouth crops (grey, `CROP` x `CROP`, cut from the mouth box), stacked as
  channels -> three convolutions -> an embedding;
- audio branch: the matching `WINDOW` x 320 samples of 8 kHz speech (standardised) -> four strided 1-D
  convolutions -> an embedding of the same size;
- trained with SyncNet's contrastive loss on the Euclidean distance (in-sync pairs close, pairs offset by >= 2
  frames at least `MARGIN` apart).
The sync score of a clip (SyncNet's): the mean distance over the clip's windows at every audio offset -K ... K;
"distance" is the minimum over offsets, "confidence" the median minus that minimum (higher = better sync),
"offset" its argmin.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

WINDOW = 3  # frames (SyncNet: 5; the smoke clips have 9 frames)
CROP = 16
MARGIN = 1.0
SAMPLES_PER_FRAME = 320


def mouth_crops(video: torch.Tensor, box: torch.Tensor, size: int = CROP) -> torch.Tensor:
    """video [B, T, 3, H, W], box [B, T, 4] pixels (x0, y0, x1, y1) -> grey crops [B, T, size, size]."""
    if video.ndim != 5 or box.shape != (*video.shape[:2], 4):
        raise ValueError(f"mouth_crops: video must be [B, T, 3, H, W] and box [B, T, 4], got "
                         f"{tuple(video.shape)} and {tuple(box.shape)}")
    B, T, _, H, W = video.shape
    grey = video.mean(2).reshape(B * T, 1, H, W)
    b = box.reshape(B * T, 4).to(video.dtype)
    t = (torch.arange(size, device=video.device, dtype=video.dtype) + 0.5) / size  # cell centres
    xs = b[:, 0:1] + (b[:, 2:3] - b[:, 0:1]) * t  # [BT, size] pixels
    ys = b[:, 1:2] + (b[:, 3:4] - b[:, 1:2]) * t
    grid = torch.stack([(xs / W * 2 - 1)[:, None, :].expand(-1, size, -1),
                        (ys / H * 2 - 1)[:, :, None].expand(-1, -1, size)], -1)
    return F.grid_sample(grey, grid, align_corners=False, padding_mode="border").reshape(B, T, size, size)


class SyncNet(nn.Module):
    def __init__(self, dim: int = 32, width: int = 16):
        super().__init__()
        self.video = nn.Sequential(
            nn.Conv2d(WINDOW, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(2 * width, dim))
        self.audio = nn.Sequential(
            nn.Conv1d(1, width, 9, stride=4, padding=4), nn.ReLU(),
            nn.Conv1d(width, width, 9, stride=4, padding=4), nn.ReLU(),
            nn.Conv1d(width, 2 * width, 9, stride=4, padding=4), nn.ReLU(),
            nn.Conv1d(2 * width, 2 * width, 5, stride=2, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
            nn.Flatten(), nn.Linear(2 * width, dim))

    def embed_video(self, crops: torch.Tensor) -> torch.Tensor:
        """[N, WINDOW, CROP, CROP] -> [N, dim]."""
        return self.video(crops)

    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """[N, WINDOW * 320] -> [N, dim] (each window standardised)."""
        a = (audio - audio.mean(-1, keepdim=True)) / audio.std(-1, keepdim=True).clamp(min=1e-5)
        return self.audio(a[:, None])

    def distance(self, crops: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return (self.embed_video(crops) - self.embed_audio(audio)).norm(dim=-1)


def contrastive_loss(dist: torch.Tensor, in_sync: torch.Tensor, margin: float = MARGIN) -> torch.Tensor:
    """SyncNet's loss: d^2 for in-sync pairs, max(margin - d, 0)^2 for the others."""
    y = in_sync.to(dist.dtype)
    return (y * dist**2 + (1 - y) * F.relu(margin - dist) ** 2).mean()


def windows(crops: torch.Tensor, audio: torch.Tensor, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All WINDOW-frame windows of crops [B, T, S, S] paired with the audio [B, 320 T] shifted by `offset` frames
    (audio window starts at frame s + offset), where both fit: ([B, n, WINDOW, S, S], [B, n, WINDOW * 320])."""
    B, T = crops.shape[:2]
    starts = [s for s in range(T - WINDOW + 1) if 0 <= s + offset <= T - WINDOW]
    if not starts:
        raise ValueError(f"no {WINDOW}-frame window fits {T} frames at offset {offset}")
    v = torch.stack([crops[:, s:s + WINDOW] for s in starts], 1)
    n = WINDOW * SAMPLES_PER_FRAME
    a = torch.stack([audio[:, (s + offset) * SAMPLES_PER_FRAME:(s + offset) * SAMPLES_PER_FRAME + n] for s in starts], 1)
    return v, a


@torch.no_grad()
def sync_score(net: SyncNet, crops: torch.Tensor, audio: torch.Tensor, max_offset: int = 2) -> dict[str, torch.Tensor]:
    """Per clip [B]: "sync_distance" (min over offsets of the mean window distance), "sync_confidence" (median
    minus min) and "sync_offset" (argmin, frames; 0 = in sync)."""
    offs = list(range(-max_offset, max_offset + 1))
    d = []
    for o in offs:
        v, a = windows(crops, audio, o)
        B, n = v.shape[:2]
        d.append(net.distance(v.flatten(0, 1), a.flatten(0, 1)).reshape(B, n).mean(1))
    d = torch.stack(d, 1)  # [B, offsets]
    mn, arg = d.min(1)
    return {"sync_distance": mn, "sync_confidence": d.median(1).values - mn,
            "sync_offset": torch.tensor(offs, device=d.device)[arg].to(d.dtype)}


__all__ = ["CROP", "MARGIN", "WINDOW", "SyncNet", "contrastive_loss", "mouth_crops", "sync_score", "windows"]
