"""An in-project 68-point landmark estimator for NLMD on generated frames (Eskimez et al. ran dlib's predictor [17]
on both the generated and the ground-truth frames; dlib does not work on our small synthetic faces).

A small fully convolutional net (a stride-`stride` stem, then dilated 3x3 convolutions for a face-sized receptive
field) gives one heatmap logit map per iBUG point at 1/`stride` of the input resolution; a spatial softmax and its
expectation (soft-argmax) give sub-pixel coordinates in the convention of `data.landmarks` (input pixel (i, j) has
its centre at (j + 0.5, i + 0.5); heatmap cell (i, j) covers input pixels stride*i ... stride*(i+1)). Ours, not the
paper's: the paper's detector is dlib's regression-tree predictor.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from avfh_core.data.landmarks import N_POINTS


class LandmarkEstimator(nn.Module):
    """[B, 3, H, W] in [0, 1] -> [B, 68, 2] (x, y) pixels; `heatmaps` gives the [B, 68, H/stride, W/stride]
    softmax maps."""

    def __init__(self, width: int = 32, dilations: tuple[int, ...] = (1, 2, 4, 8, 1), stride: int = 2):
        super().__init__()
        if width < 1 or not dilations or min(dilations) < 1 or stride < 1:
            raise ValueError(f"LandmarkEstimator: width, dilations and stride must be >= 1, got {width}, "
                             f"{dilations}, {stride}")
        self.stride = stride
        # RGB + the two coordinate channels (the net must know where it is), then the stem
        layers, c = [nn.Conv2d(5, width, stride + 2, stride=stride, padding=1), nn.SiLU()], width
        for d in dilations:
            layers += [nn.Conv2d(c, width, 3, padding=d, dilation=d), nn.GroupNorm(1, width), nn.SiLU()]
            c = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, N_POINTS, 1)

    def _check(self, image: torch.Tensor) -> None:
        if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"LandmarkEstimator: image must be [B, 3, H, W], got "
                             f"{tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__}")

    def heatmaps(self, image: torch.Tensor) -> torch.Tensor:
        self._check(image)
        B, _, H, W = image.shape
        if H % self.stride or W % self.stride:
            raise ValueError(f"LandmarkEstimator: image size {H}x{W} must be a multiple of stride {self.stride}")
        ys = torch.linspace(-1, 1, H, device=image.device, dtype=image.dtype)
        xs = torch.linspace(-1, 1, W, device=image.device, dtype=image.dtype)
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"))[None].expand(B, 2, H, W)
        logits = self.head(self.body(torch.cat([image, grid], 1)))
        h, w = logits.shape[-2:]
        return logits.flatten(2).softmax(-1).reshape(B, N_POINTS, h, w)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        hm = self.heatmaps(image)
        H, W = hm.shape[-2:]
        xs = (torch.arange(W, device=hm.device, dtype=hm.dtype) + 0.5) * self.stride
        ys = (torch.arange(H, device=hm.device, dtype=hm.dtype) + 0.5) * self.stride
        return torch.stack([(hm.sum(-2) * xs).sum(-1), (hm.sum(-1) * ys).sum(-1)], -1)


__all__ = ["LandmarkEstimator"]
