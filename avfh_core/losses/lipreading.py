"""VFH-GAN's lip-reading loss (Sharma et al. 2022, section 3.2.1, eq. 5).

The mouth region of the ground-truth window {f_gt_i}_{i=t-j}^{t+j} and of the super-resolved window
{f_sr_i}_{i=t-j}^{t+j} is cropped, converted to grayscale, and passed through a frozen, pretrained lip reader
(`avfh_core.models.lipreader`, the paper's reference [21]). The loss is the L1 distance between the two sets of
intermediate feature maps:

    eq. 5   L_lip^{l,m} = 1 / (w_{l,m} h_{l,m}) * sum_{x,y} | N_{l,m}({f_gt_i})_{x,y} - N_{l,m}({f_sr_i})_{x,y} |

where N_{l,m} is the feature map of layer (l, m) of the lip reader. We average eq. 5 over all its axes (batch,
channels, time, space) and then over the chosen layers, so the weight alpha of eq. 11 does not depend on how many
layers are used.

The pitfall this module exists to avoid: the authors' released code hooks the MS-TCN output with `.detach()` on
*both* branches, so the super-resolved branch is cut from the graph and the "lip-reading loss" sends no gradient
to the generator: its value is logged but it trains nothing. Here only the lip reader's own weights are frozen
(eval mode, requires_grad False); the gradient flows through the frozen network into the crops and the
generator. `detach_sr=True` reproduces the released behaviour for comparison.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from avfh_core.models.lipreader import FEATURE_LAYERS, LipReader


class LipReadingLoss(nn.Module):
    """VFH-GAN eq. 5: mean L1 between lip-reader features of ground-truth and super-resolved mouth sequences.

    lipreader:  a (pretrained) `LipReader`; frozen here: eval mode forever, requires_grad False.
    layers:     which of `FEATURE_LAYERS` to compare (default: the 3-D front end, the per-frame ResNet embedding
                and the MS-TCN output; the authors' code uses the MS-TCN output only).
    crop_size:  side of the grayscale mouth crops; must equal the lip reader's config.input_size (the crops come
                from `lipreader.preprocess`, the preprocessing it was trained on).
    detach_sr:  True reproduces the released code's pitfall (the SR branch is detached: no gradient reaches the
                generator). Default False.

    Call with frame windows: `loss(sr, hr, landmarks)` where sr, hr are [B, K, 3, H, W] (K = 2j+1) RGB in [0, 1]
    and landmarks [B, K, 68, 2] in pixels of those frames (the ground truth's; the same crop for both branches).
    Or with crops already made: `loss.feature_loss(mouth_sr, mouth_hr)` with [B, 1, K, s, s].
    """

    def __init__(
        self,
        lipreader: LipReader,
        layers: tuple[str, ...] = ("frontend", "trunk", "tcn"),
        crop_size: int | None = None,
        detach_sr: bool = False,
    ):
        super().__init__()
        if not isinstance(lipreader, LipReader):
            raise TypeError(f"LipReadingLoss: lipreader must be a LipReader, got {type(lipreader).__name__}")
        layers = tuple(layers)
        bad = [name for name in layers if name not in FEATURE_LAYERS]
        if bad or not layers:
            raise ValueError(f"LipReadingLoss: unknown layers {bad or list(layers)}; choose from {FEATURE_LAYERS}")
        self.lipreader = lipreader.eval()
        for p in self.lipreader.parameters():
            p.requires_grad_(False)
        self.layers = layers
        trained = int(lipreader.config.input_size)
        if crop_size is not None and int(crop_size) != trained:
            raise ValueError(
                f"LipReadingLoss: crop_size={crop_size} differs from the {trained} px crops the lip reader was "
                "trained on (its config.input_size); the loss must feed it what it was trained on"
            )
        self.crop_size = trained
        self.detach_sr = bool(detach_sr)

    def train(self, mode: bool = True) -> LipReadingLoss:
        """Switching the owner to training mode must not switch the frozen lip reader's BatchNorm/Dropout."""
        super().train(mode)
        self.lipreader.eval()
        return self

    def mouth_sequence(self, video: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """Grayscale mouth crops of a frame window: [B, K, 3, H, W] + [B, K, 68, 2] -> [B, 1, K, s, s].

        Exactly the lip reader's own `preprocess` (the crop it was pretrained on); its `normalise` runs inside
        `features`. Differentiable in `video` (the crop is a bilinear resampling).
        """
        if video.ndim == 4:
            video, landmarks = video.unsqueeze(0), landmarks.unsqueeze(0)
        if video.ndim != 5 or video.shape[2] != 3:
            raise ValueError(f"LipReadingLoss: frames must be [B, K, 3, H, W] (or [K, 3, H, W]), got {tuple(video.shape)}")
        if landmarks.shape[:2] != video.shape[:2] or landmarks.shape[2:] != (68, 2):
            raise ValueError(
                f"LipReadingLoss: landmarks must be [B, K, 68, 2] matching frames {tuple(video.shape[:2])}, "
                f"got {tuple(landmarks.shape)}"
            )
        return self.lipreader.preprocess(video, landmarks)

    def feature_loss(self, mouth_sr: torch.Tensor, mouth_hr: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Eq. 5 on crops [B, 1, K, s, s]: returns (loss averaged over layers, {layer: eq. 5 for that layer})."""
        if mouth_sr.shape != mouth_hr.shape:
            raise ValueError(
                f"LipReadingLoss: mouth_sr {tuple(mouth_sr.shape)} and mouth_hr {tuple(mouth_hr.shape)} must match"
            )
        with torch.no_grad():
            target = self.lipreader.features(mouth_hr, self.layers)
        if self.detach_sr:  # the released code: hooks with .detach() -> no gradient to the generator
            with torch.no_grad():
                pred = self.lipreader.features(mouth_sr, self.layers)
        else:
            pred = self.lipreader.features(mouth_sr, self.layers)
        per_layer = {name: (pred[name].float() - target[name].float()).abs().mean() for name in self.layers}
        total = torch.stack(list(per_layer.values())).mean()
        return total, per_layer

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """Eq. 5 for super-resolved and ground-truth frame windows [B, K, 3, H, W] with landmarks [B, K, 68, 2]."""
        if sr.shape != hr.shape:
            raise ValueError(f"LipReadingLoss: sr {tuple(sr.shape)} and hr {tuple(hr.shape)} must have the same shape")
        total, _ = self.feature_loss(self.mouth_sequence(sr, landmarks), self.mouth_sequence(hr, landmarks))
        return total
