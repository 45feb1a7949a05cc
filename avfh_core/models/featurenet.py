"""Feature networks for perceptual losses and face-attribute metrics.

VFH-GAN (Sharma et al. 2022, eq. 11) uses a "pre-trained vgg network based perceptual loss" L_vgg (its ref. [19],
Johnson et al.); VividGAN's identity loss (its eq. 5) and the Ear paper (Meishvili et al. 2020, section 5) judge
identity and attributes with pretrained face networks. No pretrained weights can be downloaded here, so:
- `VGG19Features`: VGG19's convolutional part (relu2_2, relu3_4, relu4_4, relu5_4) with the ImageNet weights, used
  only when torchvision is installed and the weights are already in the local torch hub cache;
- `FeatureNet`: a small VGG-like CNN with identity, gender and age-group heads, trained in-project on the synthetic
  world (`avfh_core.train.pretrain.load_feature_net`).
Both have `.features(x, layers)` (for `losses.perceptual.PerceptualLoss`) and `.source` saying which they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn

AGE_BINS = (35.0, 55.0)  # age groups: [18, 35), [35, 55), [55, 75] (the synthetic world samples ages in 18-75)
GENDERS = ("m", "f")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet VGG19 weights file name
VGG19_LAYERS = {"relu2_2": 8, "relu3_4": 17, "relu4_4": 26, "relu5_4": 35}



def age_group(age: float) -> int:
    """0: under 35, 1: 35-55, 2: 55 and over."""
    return sum(float(age) >= b for b in AGE_BINS)



class FeatureNet(nn.Module):
    """A small VGG-style CNN (4 stages of two 3x3 conv + BatchNorm + ReLU, average-pool downsampling) with three heads on the
    globally pooled 8w-channel embedding: identity (n_identities), gender (2), age group (3).

    Input [B, 3, H, W] in [0, 1] (any H, W >= 16); `features(x)` returns the stage outputs for a perceptual loss.
    """

    layer_names = ("stage1", "stage2", "stage3", "stage4")

    def __init__(self, n_identities: int = 40, width: int = 16):
        super().__init__()
        if n_identities < 1 or width < 1:
            raise ValueError(f"n_identities and width must be positive, got {n_identities}, {width}")
        self.n_identities, self.width = n_identities, width
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        self.stages = nn.ModuleList()
        for k in range(4):
            self.stages.append(nn.Sequential(
                *([nn.AvgPool2d(2)] if k else []),
                nn.Conv2d(chans[k], chans[k + 1], 3, padding=1, bias=False), nn.BatchNorm2d(chans[k + 1]), nn.ReLU(),
                nn.Conv2d(chans[k + 1], chans[k + 1], 3, padding=1, bias=False), nn.BatchNorm2d(chans[k + 1]),
                nn.ReLU(),
            ))
        self.identity_head = nn.Linear(8 * width, n_identities)
        self.gender_head = nn.Linear(8 * width, 2)
        self.age_head = nn.Linear(8 * width, len(AGE_BINS) + 1)
        self.source = "in-project"

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"FeatureNet input must be [B, 3, H, W], got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < 16:
            raise ValueError(f"FeatureNet input must be at least 16x16, got {tuple(x.shape[-2:])}")

    def features(self, x: torch.Tensor, layers: Sequence[str] | None = None) -> list[torch.Tensor]:
        """The outputs of the requested stages (default: all four), for x in [0, 1]."""
        self._check(x)
        layers = tuple(layers or self.layer_names)
        unknown = [n for n in layers if n not in self.layer_names]
        if unknown:
            raise ValueError(f"unknown FeatureNet layer(s) {unknown}; choose from {self.layer_names}")
        h = (x - 0.5) / 0.25
        out = []
        for name, stage in zip(self.layer_names, self.stages):
            h = stage(h)
            if name in layers:
                out.append(h)
            if len(out) == len(layers):
                break
        return out

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The globally average-pooled last-stage features [B, 8w] (the identity embedding, VividGAN's Phi)."""
        return self.features(x, ("stage4",))[0].mean(dim=(-2, -1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        e = self.embed(x)
        return {"identity": self.identity_head(e), "gender": self.gender_head(e), "age": self.age_head(e)}



class VGG19Features(nn.Module):
    """torchvision VGG19's convolutional layers with ImageNet weights (only from the local torch hub cache)."""

    layer_names = tuple(VGG19_LAYERS)

    def __init__(self, weights_path: str | Path):
        super().__init__()
        import torchvision  # noqa: F401  (raises ImportError when absent; the caller falls back)

        vgg = torchvision.models.vgg19()
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        vgg.load_state_dict(state)
        self.body = vgg.features[: max(VGG19_LAYERS.values()) + 1]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.source = "vgg19-imagenet"

    def features(self, x: torch.Tensor, layers: Sequence[str] | None = None) -> list[torch.Tensor]:
        layers = tuple(layers or self.layer_names)
        want = {VGG19_LAYERS[n] for n in layers}
        h, out = (x - self.mean) / self.std, []
        for k, mod in enumerate(self.body):
            h = mod(h)
            if k in want:
                out.append(h)
            if len(out) == len(want):
                break
        return out



def vgg19_weights_in_hub_cache() -> Path | None:
    """The path of torchvision's VGG19 ImageNet weights if they are already in the torch hub cache, else None."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    return path if path.exists() else None


__all__ = ["AGE_BINS", "GENDERS", "FeatureNet", "VGG19Features", "age_group", "vgg19_weights_in_hub_cache"]
