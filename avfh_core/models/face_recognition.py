"""A small face-recognition network for identification scores (the role of SphereFace / ArcFace in the papers'
recognition tables), built to differ from the FeatureNet that identity and perceptual losses use:

    backbone  3x3 conv + BN + PReLU, then `stages` residual stages (each: a stride-2 basic block, BN + PReLU), no
              global average pool: the last feature map is flattened (ArcFace's "output layer E": BN -> dropout ->
              FC -> BN) into a `dim`-dimensional embedding
    head      ArcFace (Deng et al., CVPR 2019): logits s * cos(theta_j), with theta_y + m for the true class y

FeatureNet is a VGG-style plain CNN with average pooling and softmax heads for identity, gender and age; this one
is residual, keeps the spatial layout in its embedding and is trained with an angular margin on identity alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class _Block(nn.Module):
    """A basic residual block that halves the size: (BN -> 3x3 conv s2 -> BN -> PReLU -> 3x3 conv -> BN) + 1x1 s2."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(c_out), nn.PReLU(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(c_out))
        self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, 2, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class RecognitionNet(nn.Module):
    """image [B, 3, S, S] in [0, 1] -> `embed` [B, dim] (L2-normalised). `logits(x, labels)` gives the ArcFace
    logits of the training loss (labels None: no margin). image_size must be divisible by 2^stages."""

    def __init__(self, n_identities: int, image_size: int, width: int = 16, stages: int = 3, dim: int = 64,
                 scale: float = 16.0, margin: float = 0.3):
        super().__init__()
        if n_identities < 2 or width < 1 or stages < 1 or dim < 1:
            raise ValueError("RecognitionNet: n_identities must be >= 2 and width, stages, dim >= 1, got "
                             f"{n_identities}, {width}, {stages}, {dim}")
        if image_size % 2 ** stages or image_size // 2 ** stages < 1:
            raise ValueError(f"RecognitionNet: image_size={image_size} must be divisible by 2^stages={2 ** stages}")
        if not (scale > 0 and 0 <= margin < math.pi / 2):
            raise ValueError(f"RecognitionNet: scale must be > 0 and margin in [0, pi/2), got {scale}, {margin}")
        chans = [width * 2 ** k for k in range(stages + 1)]
        self.stem = nn.Sequential(nn.Conv2d(3, chans[0], 3, 1, 1, bias=False), nn.BatchNorm2d(chans[0]),
                                  nn.PReLU(chans[0]))
        self.stages = nn.Sequential(*[_Block(chans[k], chans[k + 1]) for k in range(stages)])
        side = image_size // 2 ** stages
        self.out = nn.Sequential(nn.BatchNorm2d(chans[-1]), nn.Dropout(0.1), nn.Flatten(),
                                 nn.Linear(chans[-1] * side * side, dim), nn.BatchNorm1d(dim))
        self.weight = nn.Parameter(torch.randn(n_identities, dim) * 0.01)
        self.scale, self.margin = float(scale), float(margin)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"RecognitionNet expects images [B, 3, H, W], got shape {tuple(x.shape)}")
        return F.normalize(self.out(self.stages(self.stem(x * 2 - 1))), dim=1)

    def logits(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cos = self.embed(x) @ F.normalize(self.weight, dim=1).t()
        if labels is None or not self.margin:
            return self.scale * cos
        theta = torch.acos(cos.clamp(-1 + 1e-6, 1 - 1e-6))
        target = F.one_hot(labels, cos.shape[1]).bool()
        return self.scale * torch.where(target, torch.cos(theta + self.margin), cos)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x)


__all__ = ["RecognitionNet"]
