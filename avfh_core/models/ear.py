"""Ear: Meishvili, Jenni, Favaro, "Learning to Have an Ear for Face Super-Resolution" (CVPR 2020), sec. 3 and 4.2.

An 8x8 face x^l and 4 s of the same person's speech a are mapped into the latent space of a pretrained
StyleGAN-style generator G, and the fused code is decoded by G:

    z^f = E_l(x^l) + F(E_l(x^l), E_a(a))      eq. 5, the fusion is a residual on the LR code (in z space)
    x^f = G(z^f)                               each of the k codes z_j goes through G's mapping network alone

Networks (sizes of the authors' released TensorFlow demo at `EarConfig.paper()`; much smaller by default):
- `Generator`: StyleGAN v1 (sec. 3.1): mapping network (pixel-norm of z, FC + leaky ReLU, lr multiplier 0.01,
  equalised learning rate), synthesis from a learned 4x4 constant, two layers per resolution 4..R, each with a
  per-channel noise input (zero-initialised weight), instance norm and a style modulation x * (1 + y_s) + y_b from
  its own w_j, so k = 2 log2(R) - 2 style inputs (12 at 128, 8 at 32). Simplifications (ours, stated): no
  progressive growing, no [1,2,1] blur, bilinear upsampling, plain (not equalised) convolutions.
- `Discriminator`: StyleGAN v1's D_basic pattern (fromRGB, two 3x3 convs per resolution with 2x average-pool
  downsampling, minibatch-stddev at 4x4, two dense layers -> one logit); trained with R1 (stage 1 only).
- `HREncoder` (E_h, eqs. 1-2), `LREncoder` (E_l, eq. 3), `AudioEncoder` (E_a, eq. 4): the released layer patterns,
  TF "SAME" padding (`Conv2dSame`), each ending in a linear FC to k x d codes.
- `Fusion` (F, eq. 5): 3 FC layers (`n_layers=3`, row (h)) or one (F_1, row (e)) on [E_l, E_a] concatenated, plus
  the residual E_l. Its last layer is zero-initialised (our choice, the paper gives none): an untrained F returns
  exactly E_l(x^l), so fusion training starts at row (c), the LR-only model (`Fusion.starts_at_skip`).
- `log_spectrogram`: the released audio front end (window 512, stride 248, Hann, |STFT|^2, log(. + 1e-6),
  time-major, per-example min-max to [-1, 1]); 4 s at 16 kHz -> 257 x 257 (1 + (64000 - 512) / 248 = 257 frames,
  512 / 2 + 1 = 257 bins). Only torch.stft: no torchaudio.

Images are in [-1, 1] inside these networks (the demo's 2x - 1); `train/ear.py` converts from the project's [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.models.featurenet import FeatureNet

SAMPLE_RATE = 16000
# Parameter counts of the released networks (spec sec. 2.3-2.6: the demo's layer shapes counted on torch's meta
# device); G's is the spec's own arithmetic for StyleGAN v1 at 128 with the default widths (no loaded model).
PAPER_PARAMS: dict[str, float] = {"generator": 25.8e6, "e_h": 167.7e6, "e_l": 88.7e6, "e_a": 402.6e6, "fusion": 151.0e6}


def _is_pow2(n: int) -> bool:
    return isinstance(n, int) and n >= 4 and (n & (n - 1)) == 0


@dataclass(frozen=True)
class EarConfig:
    """Sizes of every network. Defaults: the course preset (8x8 -> 32x32, d = 128); `EarConfig.paper()`: the
    released demo's (8x8 -> 128x128, d = 512, k = 12).

    hr_size / lr_size: G's output side and the LR input side (powers of two); latent_dim: d; mapping_layers: FC
    layers of G's mapping network; fmap_base / fmap_max: G's and D's channels at stage s, min(base / 2^s, max)
    (StyleGAN's nf); eh_filters / eh_max: E_h's first and largest widths; el_filters / el_max / el_scales /
    el_hidden: E_l's; ea_filters / ea_max / ea_scales / ea_hidden: E_a's; audio_samples: the audio segment
    (64000 = the paper's 4 s); spec_window / spec_stride: the spectrogram; fusion_hidden: F's width."""

    hr_size: int = 32
    lr_size: int = 8
    latent_dim: int = 128
    mapping_layers: int = 4
    fmap_base: int = 256
    fmap_max: int = 64
    eh_filters: int = 16
    eh_max: int = 128
    el_filters: int = 32
    el_max: int = 128
    el_scales: int = 3
    el_hidden: int = 512
    ea_filters: int = 8
    ea_max: int = 128
    ea_scales: int = 6
    ea_hidden: int = 512
    audio_samples: int = 64000
    spec_window: int = 512
    spec_stride: int = 248
    fusion_hidden: int = 512

    def __post_init__(self):
        for name in ("hr_size", "lr_size"):
            if not _is_pow2(getattr(self, name)) and not (name == "lr_size" and getattr(self, name) in (1, 2)):
                raise ValueError(f"EarConfig.{name} must be a power of two >= 4, got {getattr(self, name)!r}")
        if self.lr_size >= self.hr_size:
            raise ValueError(f"EarConfig: lr_size={self.lr_size} must be smaller than hr_size={self.hr_size}")
        positive = ("latent_dim", "mapping_layers", "fmap_base", "fmap_max", "eh_filters", "eh_max", "el_filters",
                    "el_max", "el_scales", "el_hidden", "ea_filters", "ea_max", "ea_scales", "ea_hidden",
                    "spec_window", "spec_stride", "fusion_hidden")
        for name in positive:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"EarConfig.{name} must be an int >= 1, got {v!r}")
        if self.audio_samples < self.spec_window:
            raise ValueError(f"EarConfig.audio_samples={self.audio_samples} is shorter than one spectrogram window "
                             f"(spec_window={self.spec_window})")

    @classmethod
    def paper(cls) -> EarConfig:
        """The released demo's sizes: E_h 6 scales from 64 to 1024 filters, E_l 3 scales from 128 (x3, cap 1024,
        FC 6144), E_a 6 scales from 64 (cap 2048, FC 8192), F 6144 wide, d = 512, k = 12, StyleGAN v1 widths."""
        return cls(hr_size=128, lr_size=8, latent_dim=512, mapping_layers=8, fmap_base=8192, fmap_max=512,
                   eh_filters=64, eh_max=1024, el_filters=128, el_max=1024, el_scales=3, el_hidden=6144,
                   ea_filters=64, ea_max=2048, ea_scales=6, ea_hidden=8192, audio_samples=64000, fusion_hidden=6144)

    @property
    def n_styles(self) -> int:
        """k = 2 log2(R) - 2: two style inputs per resolution 4..R."""
        return 2 * int(math.log2(self.hr_size)) - 2

    @property
    def spec_shape(self) -> tuple[int, int]:
        """(time frames, frequency bins) of `log_spectrogram` for `audio_samples` samples."""
        return 1 + (self.audio_samples - self.spec_window) // self.spec_stride, self.spec_window // 2 + 1

    def nf(self, stage: int) -> int:
        return max(1, min(self.fmap_base // 2**stage, self.fmap_max))

    def as_dict(self) -> dict:
        return asdict(self)

    def with_(self, **kw) -> EarConfig:
        return replace(self, **kw)


# ----------------------------------------------------------------------------------------------------------------
# The audio front end


def log_spectrogram(audio: torch.Tensor, window: int = 512, stride: int = 248) -> torch.Tensor:
    """[B, S] waveform (16 kHz) -> [B, 1, T, window/2 + 1] log power spectrogram, time-major, each example
    min-max scaled to [-1, 1] (the released `load_test_sample`: TF audio_spectrogram(magnitude_squared) with a
    periodic Hann window and no centring, log(P + 1e-6), (x - min) / (max - min), 2x - 1)."""
    if audio.dim() != 2:
        raise ValueError(f"log_spectrogram: audio must be [B, samples], got {tuple(audio.shape)}")
    if audio.shape[1] < window:
        raise ValueError(f"log_spectrogram: {audio.shape[1]} samples are fewer than one window ({window})")
    spec = torch.stft(audio.float(), n_fft=window, hop_length=stride, win_length=window,
                      window=torch.hann_window(window, periodic=True, device=audio.device), center=False,
                      return_complex=True)
    x = torch.log(spec.abs().pow(2) + 1e-6).transpose(1, 2)  # [B, T, F]
    lo = x.amin(dim=(1, 2), keepdim=True)
    hi = x.amax(dim=(1, 2), keepdim=True)
    return (2 * (x - lo) / (hi - lo).clamp_min(1e-8) - 1)[:, None]


# ----------------------------------------------------------------------------------------------------------------
# Building blocks


class EqualLinear(nn.Module):
    """StyleGAN's equalised-learning-rate dense layer: weights drawn N(0, 1/lr_mul^2) and scaled at run time by
    lr_mul / sqrt(fan_in), bias scaled by lr_mul (so the mapping network's lr multiplier 0.01 slows its updates)."""

    def __init__(self, n_in: int, n_out: int, lr_mul: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((n_out,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul = lr_mul / math.sqrt(n_in), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding (output side ceil(in / stride), the extra pixel of an odd
    total padding on the bottom/right), as the released encoders use."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _same_out(size: int, stride: int) -> int:
    return -(-size // stride)


class MappingNetwork(nn.Module):
    """z [N, d] -> w [N, d]: pixel-norm, then `layers` equalised FC layers with leaky ReLU 0.2 (lr mul 0.01)."""

    def __init__(self, d: int, layers: int, lr_mul: float = 0.01):
        super().__init__()
        self.fcs = nn.ModuleList(EqualLinear(d, d, lr_mul) for _ in range(layers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.pow(2).mean(dim=-1, keepdim=True) + 1e-8)
        for fc in self.fcs:
            x = F.leaky_relu(fc(x), 0.2)
        return x


class StyleLayer(nn.Module):
    """(optional 2x upsampling + 3x3 conv), noise, bias, leaky ReLU, instance norm, style modulation."""

    def __init__(self, c_in: int, c_out: int, d: int, conv: bool = True, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False) if conv else None
        self.noise_weight = nn.Parameter(torch.zeros(1, c_out, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1))
        self.style = EqualLinear(d, 2 * c_out)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: bool) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if self.conv is not None:
            x = self.conv(x)
        if noise:
            x = x + self.noise_weight * torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        x = F.leaky_relu(x + self.bias, 0.2)
        x = F.instance_norm(x)
        ys, yb = self.style(w).chunk(2, dim=1)
        return x * (1 + ys[:, :, None, None]) + yb[:, :, None, None]


class Generator(nn.Module):
    """G: codes z [B, k, d] (one per style layer) -> image [B, 3, R, R] in about [-1, 1]. Each z_j goes through
    the mapping network on its own (the demo's `get_images`: W+), no truncation. A single code [B, d] is
    broadcast to all k layers (sampling)."""

    def __init__(self, config: EarConfig | None = None):
        super().__init__()
        self.config = c = config or EarConfig()
        self.mapping = MappingNetwork(c.latent_dim, c.mapping_layers)
        self.const = nn.Parameter(torch.ones(1, c.nf(1), 4, 4))
        layers, c_prev = [], c.nf(1)
        for r in range(2, int(math.log2(c.hr_size)) + 1):
            ch = c.nf(r - 1)
            if r == 2:
                layers += [StyleLayer(c_prev, ch, c.latent_dim, conv=False), StyleLayer(ch, ch, c.latent_dim)]
            else:
                layers += [StyleLayer(c_prev, ch, c.latent_dim, upsample=True), StyleLayer(ch, ch, c.latent_dim)]
            c_prev = ch
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.Conv2d(c_prev, 3, 1)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        c = self.config
        if z.dim() == 2:
            z = z[:, None].expand(-1, c.n_styles, -1)
        if z.dim() != 3 or z.shape[1:] != (c.n_styles, c.latent_dim):
            raise ValueError(f"Generator: z must be [B, {c.n_styles}, {c.latent_dim}] or [B, {c.latent_dim}], "
                             f"got {tuple(z.shape)}")
        return z

    def forward(self, z: torch.Tensor, noise: bool = False) -> torch.Tensor:
        z = self.codes(z)
        B, k, d = z.shape
        w = self.mapping(z.reshape(B * k, d)).reshape(B, k, d)
        x = self.const.expand(B, -1, -1, -1)
        for j, layer in enumerate(self.layers):
            x = layer(x, w[:, j], noise)
        return self.to_rgb(x)


class Discriminator(nn.Module):
    """D: image [B, 3, R, R] -> logit [B]. StyleGAN v1's D_basic pattern (no blur), minibatch stddev (group 4)."""

    def __init__(self, config: EarConfig | None = None):
        super().__init__()
        self.config = c = config or EarConfig()
        top = int(math.log2(c.hr_size))
        self.from_rgb = nn.Conv2d(3, c.nf(top - 1), 1)
        blocks = []
        for r in range(top, 2, -1):
            blocks += [nn.Conv2d(c.nf(r - 1), c.nf(r - 1), 3, padding=1), nn.LeakyReLU(0.2),
                       nn.Conv2d(c.nf(r - 1), c.nf(r - 2), 3, padding=1), nn.LeakyReLU(0.2), nn.AvgPool2d(2)]
        self.blocks = nn.Sequential(*blocks)
        ch = c.nf(1)
        self.final_conv = nn.Conv2d(ch + 1, ch, 3, padding=1)
        self.fc = nn.Linear(ch * 16, ch)
        self.out = nn.Linear(ch, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        R = self.config.hr_size
        if img.dim() != 4 or img.shape[1:] != (3, R, R):
            raise ValueError(f"Discriminator: image must be [B, 3, {R}, {R}], got {tuple(img.shape)}")
        x = self.blocks(F.leaky_relu(self.from_rgb(img), 0.2))
        B = x.shape[0]
        g = min(4, B)
        if B % g:
            g = 1
        y = x.reshape(g, -1, *x.shape[1:]) if g > 1 else x[None]
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [B / g]
        std = std.repeat(g)[:, None, None, None].expand(B, 1, *x.shape[2:]) if g > 1 else \
            torch.zeros(B, 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        x = F.leaky_relu(self.final_conv(torch.cat([x, std], 1)), 0.2)
        return self.out(F.leaky_relu(self.fc(x.flatten(1)), 0.2))[:, 0]


def _codes_head(n_in: int, c: EarConfig, hidden: int | None = None) -> nn.Sequential:
    k_d = c.n_styles * c.latent_dim
    if hidden is None:
        return nn.Sequential(nn.Flatten(), nn.Linear(n_in, k_d))
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, k_d))


class _Encoder(nn.Module):
    side: int
    channels: int

    def _check(self, x: torch.Tensor, name: str) -> None:
        if x.dim() != 4 or x.shape[1] != self.channels or tuple(x.shape[2:]) != self.in_shape:
            raise ValueError(f"{type(self).__name__}: {name} must be [B, {self.channels}, {self.in_shape[0]}, "
                             f"{self.in_shape[1]}], got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x, self.input_name)
        c = self.config
        return self.head(self.body(x)).reshape(x.shape[0], c.n_styles, c.latent_dim)


class HREncoder(_Encoder):
    """E_h: HR image [B, 3, R, R] in [-1, 1] -> z [B, k, d]. Released pattern: per scale a 4x4 conv (instance norm
    after the first), the width doubled (capped at eh_max) by a 4x4 stride-2 conv, down to 4x4; linear FC."""

    channels, input_name = 3, "the HR image"

    def __init__(self, config: EarConfig | None = None):
        super().__init__()
        self.config = c = config or EarConfig()
        self.in_shape = (c.hr_size, c.hr_size)
        n_scales = int(math.log2(c.hr_size)) - 1
        layers, c_in, n = [], 3, c.eh_filters
        for i in range(n_scales):
            layers += [Conv2dSame(c_in, n, 4)] + ([nn.InstanceNorm2d(n, affine=True)] if i else []) + \
                      [nn.LeakyReLU(0.2)]
            c_in = n
            if i < n_scales - 1:
                n = min(2 * n, c.eh_max)
                layers += [Conv2dSame(c_in, n, 4, stride=2), nn.InstanceNorm2d(n, affine=True), nn.LeakyReLU(0.2)]
                c_in = n
        self.body = nn.Sequential(*layers)
        self.head = _codes_head(c_in * 16, c)


class LREncoder(_Encoder):
    """E_l: LR image [B, 3, r, r] in [-1, 1] -> z [B, k, d]. Released pattern: a 3x3 conv, then per scale two 3x3
    convs with instance norm, the width tripled (capped at el_max) by a stride-2 conv; FC + leaky ReLU, FC."""

    channels, input_name = 3, "the LR image"

    def __init__(self, config: EarConfig | None = None):
        super().__init__()
        self.config = c = config or EarConfig()
        self.in_shape = (c.lr_size, c.lr_size)
        n, side = c.el_filters, c.lr_size
        layers, c_in = [Conv2dSame(3, n, 3), nn.LeakyReLU(0.2)], n
        for i in range(c.el_scales):
            for _ in range(2):
                layers += [Conv2dSame(c_in, n, 3), nn.InstanceNorm2d(n, affine=True), nn.LeakyReLU(0.2)]
                c_in = n
            if i < c.el_scales - 1:
                n = min(3 * n, c.el_max)
                layers += [Conv2dSame(c_in, n, 3, stride=2), nn.InstanceNorm2d(n, affine=True), nn.LeakyReLU(0.2)]
                c_in, side = n, _same_out(side, 2)
        self.body = nn.Sequential(*layers)
        self.head = _codes_head(c_in * side * side, c, c.el_hidden)


class AudioEncoder(_Encoder):
    """E_a: log spectrogram [B, 1, T, F] -> z [B, k, d]. Released pattern, no normalisation: a 4x4 stride-2 conv,
    then per scale a 4x4 conv and a 4x4 stride-2 conv doubling the width (capped at ea_max); FC + leaky ReLU, FC."""

    channels, input_name = 1, "the spectrogram"

    def __init__(self, config: EarConfig | None = None):
        super().__init__()
        self.config = c = config or EarConfig()
        self.in_shape = c.spec_shape
        n = c.ea_filters
        h, w = (_same_out(s, 2) for s in self.in_shape)
        layers, c_in = [Conv2dSame(1, n, 4, stride=2), nn.LeakyReLU(0.2)], n
        for _ in range(c.ea_scales):
            layers += [Conv2dSame(c_in, n, 4), nn.LeakyReLU(0.2)]
            n = min(2 * n, c.ea_max)
            layers += [Conv2dSame(c_in, n, 4, stride=2), nn.LeakyReLU(0.2)]
            c_in, h, w = n, _same_out(h, 2), _same_out(w, 2)
        self.body = nn.Sequential(*layers)
        self.head = _codes_head(c_in * h * w, c, c.ea_hidden)

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """Waveform [B, audio_samples] -> z [B, k, d] through `log_spectrogram`."""
        c = self.config
        if audio.dim() != 2 or audio.shape[1] != c.audio_samples:
            raise ValueError(f"AudioEncoder: audio must be [B, {c.audio_samples}], got {tuple(audio.shape)}")
        return self(log_spectrogram(audio, c.spec_window, c.spec_stride))


class Fusion(nn.Module):
    """F of eq. 5: z^f = z_l + F([z_l, z_a]); n_layers FC layers (3 = the paper's F, 1 = F_1 of row (e)) with leaky
    ReLU between them. The last layer starts at zero (ours), so an untrained F returns z_l exactly."""

    def __init__(self, config: EarConfig | None = None, n_layers: int = 3):
        super().__init__()
        if n_layers not in (1, 3):
            raise ValueError(f"Fusion: n_layers must be 1 (F_1, row (e)) or 3 (F, rows (f)-(h)), got {n_layers!r}")
        self.config = c = config or EarConfig()
        kd = c.n_styles * c.latent_dim
        widths = [2 * kd] + [c.fusion_hidden] * (n_layers - 1) + [kd]
        layers: list[nn.Module] = []
        for i in range(n_layers):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i < n_layers - 1:
                layers.append(nn.LeakyReLU(0.2))
        self.net = nn.Sequential(*layers)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, z_l: torch.Tensor, z_a: torch.Tensor) -> torch.Tensor:
        c = self.config
        shape = (c.n_styles, c.latent_dim)
        for name, z in (("z_l", z_l), ("z_a", z_a)):
            if z.dim() != 3 or tuple(z.shape[1:]) != shape:
                raise ValueError(f"Fusion: {name} must be [B, {shape[0]}, {shape[1]}], got {tuple(z.shape)}")
        if z_l.shape[0] != z_a.shape[0]:
            raise ValueError(f"Fusion: z_l and z_a have different batch sizes {z_l.shape[0]} and {z_a.shape[0]}")
        B = z_l.shape[0]
        return z_l + self.net(torch.cat([z_l.reshape(B, -1), z_a.reshape(B, -1)], 1)).reshape(B, *shape)

    @torch.no_grad()
    def starts_at_skip(self) -> bool:
        """True while the last layer is all zeros (z^f = z_l exactly)."""
        last = self.net[-1]
        return bool((last.weight == 0).all() and (last.bias == 0).all())


class AttributeJudge(nn.Module):
    """The evaluation classifiers of sec. 4.4 in one network: identity (C_i), gender (C_g) and apparent age in
    years (C_a, a regression as DEX's expected age). A `FeatureNet` body (the in-project VGG-like CNN) with its
    identity and gender heads, plus an age regression head on the same embedding. Input [B, 3, H, W] in [0, 1].
    Trained on HR frames of every person (training and open-set people, clips disjoint from every evaluation
    clip); never used by a training loss of the Ear stages."""

    AGE_MEAN, AGE_SCALE = 46.5, 16.5  # the synthetic world's ages are uniform-ish in [18, 75]

    def __init__(self, n_identities: int, width: int = 16):
        super().__init__()
        self.net = FeatureNet(n_identities, width)
        self.age = nn.Linear(8 * width, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        e = self.net.embed(x)
        return {"identity": self.net.identity_head(e), "gender": self.net.gender_head(e),
                "age": self.AGE_MEAN + self.AGE_SCALE * self.age(e)[:, 0]}


# ----------------------------------------------------------------------------------------------------------------
# Table 2's general-purpose SR baselines, small (ours: the paper retrains the authors' LapSRN [27] and W-SRNet [22])


class LapSRNLite(nn.Module):
    """A LapSRN-style network (Lai et al. 2017): log2(scale) levels, each doubling the side; per level a feature
    branch (3x3 convs with leaky ReLU 0.2, a 4x4 transposed conv) predicts the Laplacian residual added to the
    bilinearly doubled image of the level below. Every residual head starts at zero, so the untrained network
    outputs the repeated bilinear doubling (the skip). forward(lr [B,3,h,w] in [0,1]) -> [outputs of every level],
    the last one the SR image; trained with the Charbonnier loss at every level (`charbonnier`)."""

    def __init__(self, scale: int, width: int = 32, depth: int = 3):
        super().__init__()
        if not _is_pow2(scale) and scale != 2:
            raise ValueError(f"LapSRNLite: scale must be a power of two >= 2, got {scale!r}")
        self.scale, self.levels = scale, int(math.log2(scale))
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.features = nn.ModuleList()
        self.residuals = nn.ModuleList()
        for _ in range(self.levels):
            layers: list[nn.Module] = []
            for _ in range(depth):
                layers += [nn.LeakyReLU(0.2), nn.Conv2d(width, width, 3, padding=1)]
            layers += [nn.LeakyReLU(0.2), nn.ConvTranspose2d(width, width, 4, stride=2, padding=1)]
            self.features.append(nn.Sequential(*layers))
            head = nn.Conv2d(width, 3, 3, padding=1)
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
            self.residuals.append(head)

    def forward(self, lr: torch.Tensor) -> list[torch.Tensor]:
        if lr.dim() != 4 or lr.shape[1] != 3:
            raise ValueError(f"LapSRNLite: lr must be [B, 3, h, w], got {tuple(lr.shape)}")
        f, img, outs = self.head(lr), lr, []
        for feat, res in zip(self.features, self.residuals):
            f = feat(f)
            img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False) + res(f)
            outs.append(img)
        return outs


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """LapSRN's robust loss: mean sqrt((x - y)^2 + eps^2)."""
    return torch.sqrt((x - y).pow(2) + eps * eps).mean()


def haar_dwt(x: torch.Tensor, levels: int) -> torch.Tensor:
    """[B, C, H, W] -> [B, C * 4^levels, H / 2^levels, W / 2^levels]: the orthonormal Haar packet of `levels`
    levels (every sub-band split again, as W-SRNet's wavelet packet)."""
    for _ in range(levels):
        a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
        c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
        x = torch.cat([(a + b + c + d) / 2, (a - b + c - d) / 2, (a + b - c - d) / 2, (a - b - c + d) / 2], dim=1)
    return x


def haar_idwt(w: torch.Tensor, levels: int) -> torch.Tensor:
    """The inverse of `haar_dwt`."""
    for _ in range(levels):
        C = w.shape[1] // 4
        ll, lh, hl, hh = w[:, :C], w[:, C:2 * C], w[:, 2 * C:3 * C], w[:, 3 * C:]
        a, b = (ll + lh + hl + hh) / 2, (ll - lh + hl - hh) / 2
        c, d = (ll + lh - hl - hh) / 2, (ll - lh - hl + hh) / 2
        B, _, h, wd = ll.shape
        x = torch.empty(B, C, 2 * h, 2 * wd, dtype=w.dtype, device=w.device)
        x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2] = a, b, c, d
        w = x
    return w


class WSRNetLite(nn.Module):
    """A W-SRNet-style network (Huang et al. 2017, "Wavelet-SRNet"): an embedding CNN on the LR image predicts
    the 4^L wavelet-packet coefficients of the HR image at the LR grid (L = log2(scale)), which the inverse Haar
    transform turns into the SR image. The coefficient head starts at the coefficients of the nearest-neighbour
    upsampling (the LL band carries the image scaled by 2^L, every detail band zero), its skip.
    forward(lr) -> (sr [B,3,H,W], coefficients); trained with the wavelet and image losses (train/ear.py)."""

    def __init__(self, scale: int, width: int = 32, depth: int = 4):
        super().__init__()
        if not _is_pow2(scale) and scale != 2:
            raise ValueError(f"WSRNetLite: scale must be a power of two >= 2, got {scale!r}")
        self.scale, self.levels = scale, int(math.log2(scale))
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1)]
        for _ in range(depth):
            layers += [nn.LeakyReLU(0.2), nn.Conv2d(width, width, 3, padding=1)]
        self.body = nn.Sequential(*layers, nn.LeakyReLU(0.2))
        self.head = nn.Conv2d(width, 3 * 4 ** self.levels, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if lr.dim() != 4 or lr.shape[1] != 3:
            raise ValueError(f"WSRNetLite: lr must be [B, 3, h, w], got {tuple(lr.shape)}")
        base = torch.zeros(lr.shape[0], 3 * 4 ** self.levels, *lr.shape[2:], dtype=lr.dtype, device=lr.device)
        base[:, :3] = lr * 2 ** self.levels  # the LL^L band of a nearest-neighbour upsampling of lr
        coef = base + self.head(self.body(lr))
        return haar_idwt(coef, self.levels), coef


NETWORKS = {"generator": Generator, "discriminator": Discriminator, "e_h": HREncoder, "e_l": LREncoder,
            "e_a": AudioEncoder, "fusion": Fusion}


def parameter_counts(config: EarConfig | None = None) -> dict[str, int]:
    """Parameters of each network of `NETWORKS` at `config`, counted on torch's meta device (nothing allocated,
    so the paper's 400M-parameter E_a costs nothing)."""
    config = config or EarConfig()
    with torch.device("meta"):
        return {name: sum(p.numel() for p in cls(config).parameters()) for name, cls in NETWORKS.items()}


__all__ = ["AttributeJudge", "AudioEncoder", "LapSRNLite", "WSRNetLite", "charbonnier", "haar_dwt", "haar_idwt", "Conv2dSame", "Discriminator", "EarConfig", "EqualLinear", "Fusion", "Generator",
           "HREncoder", "LREncoder", "MappingNetwork", "NETWORKS", "PAPER_PARAMS", "StyleLayer", "log_spectrogram",
           "parameter_counts"]
