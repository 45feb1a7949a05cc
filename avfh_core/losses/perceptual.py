"""The perceptual (feature) loss L_vgg of VFH-GAN (Sharma et al. 2022, eq. 11; its ref. [19], Johnson et al.) over a
pluggable feature network (`avfh_core.models.featurenet`: ImageNet VGG19 when its weights are local, else the
in-project `FeatureNet`). The loss is the mean over the chosen layers of the MSE between feature maps (target
detached; the network frozen and kept in eval mode). With `normalize=True` each feature vector (one per position) is
first divided by its norm over the channels (LPIPS-style, Zhang et al. 2018, without the learned channel weights):
a scale-free form whose size no longer depends on how large a feature net's activations are (each layer's term is
in [0, 4]); the raw form is the released code's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class PerceptualLoss(nn.Module):
    """L_vgg of VFH-GAN eq. 11: mean over layers of MSE(phi_l(pred), phi_l(target)), phi frozen, target detached.

    feature_net: anything with `.features(x, layers)` (FeatureNet or VGG19Features); `.source` says which.
    """

    def __init__(self, feature_net: nn.Module, layers: Sequence[str] | None = None, normalize: bool = False):
        super().__init__()
        if not hasattr(feature_net, "features"):
            raise TypeError(f"feature_net must have a .features(x, layers) method, got {type(feature_net).__name__}")
        self.net = feature_net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.layers = tuple(layers) if layers else None
        self.source = getattr(feature_net, "source", "unknown")
        self.normalize = bool(normalize)

    def train(self, mode: bool = True):  # the feature network stays in eval mode
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
        fp = self.net.features(pred, self.layers)
        with torch.no_grad():
            ft = self.net.features(target, self.layers)
        if self.normalize:
            fp = [_unit(a.float()) for a in fp]
            ft = [_unit(b.float()) for b in ft]
        return sum(F.mse_loss(a.float(), b.float()) for a, b in zip(fp, ft)) / len(fp)


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Feature vectors over dim 1 divided by their norm (LPIPS's normalize_tensor)."""
    return f / (f.pow(2).sum(dim=1, keepdim=True) + eps).sqrt()


__all__ = ["PerceptualLoss"]
