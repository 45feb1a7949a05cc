"""A SyncNet-style audio-visual sync network (Chung & Zisserman 2016, the sync measure the talking-face literature
uses; Eskimez et al. claim their pair discriminator improves sync but report no sync score). Ours, small:

- video branch: `WINDOW` consecutive mouth crops (grey, `CROP` x `CROP`, cut from the mouth box), stacked as
  channels -> three convolutions -> an embedding. The crops are normalised per clip first (`normalise_crops`: the
  clip's mean crop subtracted, then divided by the clip's standard deviation), so the branch sees how the mouth
  moves, not whose mouth it is: on the synthetic world a crop's variation between people is several times its
  variation within a clip, and a network fed raw crops embeds identity;
- audio branch: the matching `WINDOW` x 320 samples of 8 kHz speech (standardised) -> four strided 1-D
  convolutions -> an embedding of the same size;
- distance: the cosine distance 1 - cos(video, audio) of the two embeddings;
- trained by multi-way matching (S.-W. Chung, J. S. Chung, H.-G. Kang, "Perfect match", ICASSP 2019), in place
  of SyncNet's pairwise contrastive loss: a video window against the audio at each offset -K ... K, and a
  cross-entropy that the in-sync one (offset 0) is the nearest (`multiway_loss`, logits `SCALE` x cosine
  similarity). The pairwise loss with a margin on the Euclidean distance collapsed here: every distance went to
  margin / 2 (loss 0.25) and the net found the true offset no more often than a guess. Matching over offsets
  trains what the score asks.
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
SCALE = 10.0  # logits of the multi-way matching: SCALE x cosine similarity (a fixed temperature of 0.1)
MIN_STD = 1e-3  # normalise_crops divides by at least this: a still clip stays (nearly) all zeros
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


def normalise_crops(crops: torch.Tensor) -> torch.Tensor:
    """Mouth crops [B, T, S, S] of whole clips, each clip minus its mean crop over time and divided by its standard
    deviation over time and pixels (at least `MIN_STD`): what is left is the clip's mouth motion at unit scale. A
    video whose mouth does not move gives (nearly) zeros, so its embedding cannot follow any audio."""
    if crops.ndim != 4:
        raise ValueError(f"normalise_crops: crops must be [B, T, S, S] (whole clips), got {tuple(crops.shape)}")
    centred = crops - crops.mean(1, keepdim=True)
    return centred / centred.std(dim=(1, 2, 3), keepdim=True).clamp(min=MIN_STD)


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

    def prepare(self, crops: torch.Tensor) -> torch.Tensor:
        """Whole-clip crops [B, T, S, S] as the video branch reads them (`normalise_crops`)."""
        return normalise_crops(crops)

    def distance(self, crops: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Cosine distance [N] of prepared crop windows [N, WINDOW, S, S] and audio windows [N, WINDOW * 320]."""
        return 1 - F.cosine_similarity(self.embed_video(crops), self.embed_audio(audio), dim=-1)


def multiway_loss(net: SyncNet, crops: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
    """Multi-way matching: prepared crop windows [B, WINDOW, S, S] against their audio at the 2K+1 offsets -K ... K
    [B, 2K+1, WINDOW * 320] (offset 0, in sync, in the middle): cross-entropy of SCALE x cosine similarity with the
    middle one as the target."""
    if audio.ndim != 3 or audio.shape[0] != crops.shape[0] or audio.shape[1] % 2 != 1:
        raise ValueError(f"multiway_loss: audio must be [B, 2K+1, samples] with B = {crops.shape[0]} and an odd "
                         f"number of offsets, got {tuple(audio.shape)}")
    B, n = audio.shape[:2]
    ev = net.embed_video(crops)
    ea = net.embed_audio(audio.flatten(0, 1)).reshape(B, n, -1)
    logits = SCALE * F.cosine_similarity(ev[:, None], ea, dim=-1)
    return F.cross_entropy(logits, torch.full((B,), n // 2, device=logits.device))


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
    """Per clip of raw mouth crops [B, T, S, S] (`net.prepare` normalises them) and speech [B, 320 T]:
    "sync_distance" (min over offsets of the mean window distance), "sync_confidence" (median minus min) and
    "sync_offset" (argmin, frames; 0 = in sync)."""
    crops = net.prepare(crops)
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


__all__ = ["CROP", "MIN_STD", "SCALE", "WINDOW", "SyncNet", "mouth_crops", "multiway_loss", "normalise_crops",
           "sync_score", "windows"]
