"""The word-level lip reader behind VFH-GAN's lip-reading loss (Sharma et al. 2022, section 3.2.1, eq. 4).

VFH-GAN takes the lip-reading network of its reference [21] (Ma et al., "Lipreading using temporal convolutional
networks" / "Towards practical lipreading with distilled and efficient models"), pretrained on LRW, and compares
its intermediate feature maps for the ground-truth and the super-resolved mouth sequences (eq. 5, see
`avfh_core.losses.lipreading`). The network, in the paper's words and ours:

    eq. 4   f' = Conv3D({f_i}_{i=t-j}^{t+j})        front end: Conv3d(1, 64, (5,7,7), stride (1,2,2)) + BN + act
                                                    + MaxPool3d((1,3,3), (1,2,2)); input [B, 1, T, 88, 88] grayscale
            f'' = ResNet(f')                        ResNet-18 trunk applied to each frame (the T axis is folded into
                                                    the batch: "b*k*h*w -> B*h*w"), BasicBlocks (2,2,2,2), 64..512
                                                    channels, global average pool -> one 512-d vector per frame
            multi-scale TCN                         4 levels, dilations 1,2,4,8; each level two multi-branch
                                                    temporal convolutions (kernels 3, 5, 7, 256 channels each,
                                                    768 in all) + a 1x1 residual projection
            word = Linear(768, 500)(mean_t TCN)     average over time, then the word classifier

`LipReaderConfig.paper()` is the published LRW model: 36,361,396 parameters with 500 classes and ReLU/swish
activations (the "36.36 M" of the reference; PReLU everywhere adds 13,120). Two quirks of the official code are
reproduced because they set the parameter count and the checkpoint's key names:
- every TCN level has a 1x1 residual projection, even 768 -> 768 (the official test for "do we need one" compares
  `n_inputs // num_kernels` with `n_outputs`, which is never equal here);
- the official multi-branch TCN module carries a second, unused `Linear(768, num_classes)` (`tcn.tcn_output`);
  it is in the checkpoint but not in the forward pass, so we do not build it and the loader skips it.
The official TCN pads by (k-1)*d on both sides, applies BatchNorm, then trims (k-1)*d/2 from each end; we pad by
(k-1)*d/2 directly: the same output in eval mode (BatchNorm statistics in training differ only at the borders).

`LipReaderConfig.small(width)` keeps the architecture (front end, 4 ResNet stages of 2 blocks, the 3-kernel 4-level
TCN) and scales the widths for the CPU: trunk (w, 2w, 4w, 8w), TCN 3 x 2w channels.

Input normalisation (`LipReaderConfig.normalisation`, applied inside `features`/`forward`, so no caller can skip it):
- "lrw" (the paper model): as in the official pipeline, grayscale in [0, 1], then (x - 0.421) / 0.165.
- "clip" (the small models, our choice): subtract the clip's mean crop (the per-pixel mean over time), then divide
  by the clip's standard deviation. What stays constant over the clip (the person's skin, lips, teeth colour,
  lighting: identity appearance) is removed and the motion remains. Trained on synthetic people, a lip reader fed
  raw crops learns to recognise the speakers of its training set (the review of issue 12 measured 29.7 % on
  training people and chance on held-out ones); with the clip normalisation it has to read the motion.

`LipReader.preprocess(frames, landmarks)` is the one road from video to lip-reader input: the mouth crop of
`config.crop_scale` at `config.input_size` pixels, grayscale. The pretraining (`train.pretrain`) and the
lip-reading loss (`losses.lipreading`) both call it, so the loss feeds the lip reader what it was trained on.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

# The named points at which `LipReader.features` can return activations, in forward order.
FEATURE_LAYERS = ("frontend", "layer1", "layer2", "layer3", "layer4", "trunk", "tcn", "logits")

PAPER_NUM_PARAMETERS = 36.36e6  # published size of the LRW model (ResNet-18 + MS-TCN, 500 words)


@dataclass(frozen=True)
class LipReaderConfig:
    """Sizes of the lip reader. `paper()` is the published LRW model; `small(width)` a CPU-sized copy."""

    num_classes: int = 500
    frontend_channels: int = 64
    trunk_channels: tuple[int, ...] = (64, 128, 256, 512)
    trunk_blocks: tuple[int, ...] = (2, 2, 2, 2)
    tcn_kernels: tuple[int, ...] = (3, 5, 7)
    tcn_channels: int = 768  # total over the branches: 3 kernels x 256
    tcn_levels: int = 4  # dilations 1, 2, 4, 8
    dropout: float = 0.2
    activation: str = "swish"  # "relu", "prelu" or "swish" (the official LRW json uses swish)
    input_size: int = 88  # mouth crop side (88 for LRW: a 96x96 crop, centre-cropped)
    mean: float = 0.421
    std: float = 0.165
    normalisation: str = "lrw"  # "lrw": (x - mean) / std; "clip": (x - the clip's mean crop) / the clip's std
    crop_scale: float = 1.0  # `data.crops.mouth_box` scale: the box side relative to 0.6 x the face width

    def __post_init__(self):
        if self.num_classes < 1:
            raise ValueError(f"LipReaderConfig.num_classes must be >= 1, got {self.num_classes}")
        if self.activation not in ("relu", "prelu", "swish"):
            raise ValueError(f"LipReaderConfig.activation must be 'relu', 'prelu' or 'swish', got {self.activation!r}")
        if len(self.trunk_channels) != len(self.trunk_blocks):
            raise ValueError(
                f"LipReaderConfig.trunk_channels {self.trunk_channels} and trunk_blocks {self.trunk_blocks} "
                "must have the same length (one entry per ResNet stage)"
            )
        if self.tcn_channels % len(self.tcn_kernels):
            raise ValueError(
                f"LipReaderConfig.tcn_channels={self.tcn_channels} must be divisible by the number of TCN kernels "
                f"{len(self.tcn_kernels)} (each branch gets an equal share)"
            )
        if any(k % 2 == 0 for k in self.tcn_kernels):
            raise ValueError(f"LipReaderConfig.tcn_kernels must be odd (symmetric padding), got {self.tcn_kernels}")
        if self.input_size < 8:
            raise ValueError(f"LipReaderConfig.input_size must be >= 8 pixels, got {self.input_size}")
        if self.normalisation not in ("lrw", "clip"):
            raise ValueError(f"LipReaderConfig.normalisation must be 'lrw' or 'clip', got {self.normalisation!r}")
        if not self.crop_scale > 0:
            raise ValueError(f"LipReaderConfig.crop_scale must be > 0, got {self.crop_scale}")

    @classmethod
    def paper(cls, num_classes: int = 500, activation: str = "swish") -> LipReaderConfig:
        """The published LRW model of VFH-GAN's reference [21] (36.36 M parameters with 500 classes)."""
        return cls(num_classes=num_classes, activation=activation)

    @classmethod
    def small(cls, width: int = 16, num_classes: int = 20, input_size: int = 44, dropout: float = 0.1,
              normalisation: str = "clip", crop_scale: float = 1.0) -> LipReaderConfig:
        """Same architecture, widths scaled for the CPU: trunk (w, 2w, 4w, 8w), TCN 3 x 2w channels; by default
        the per-clip normalisation (see the module docstring)."""
        if width < 2:
            raise ValueError(f"LipReaderConfig.small: width must be >= 2, got {width}")
        return cls(
            num_classes=num_classes,
            frontend_channels=width,
            trunk_channels=(width, 2 * width, 4 * width, 8 * width),
            tcn_channels=3 * 2 * width,
            dropout=dropout,
            input_size=input_size,
            normalisation=normalisation,
            crop_scale=crop_scale,
        )

    @classmethod
    def from_run_config(cls, cfg) -> LipReaderConfig:
        """The small lip reader a preset asks for: cfg.lipreader_width, cfg.vocab_size, cfg.mouth_size."""
        return cls.small(width=int(cfg.lipreader_width), num_classes=int(cfg.vocab_size), input_size=int(cfg.mouth_size))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _activation(kind: str, channels: int) -> nn.Module:
    if kind == "relu":
        return nn.ReLU()
    if kind == "prelu":
        return nn.PReLU(num_parameters=channels)
    return nn.SiLU()  # swish: x * sigmoid(x)


class BasicBlock(nn.Module):
    """ResNet-18 basic block: two 3x3 convolutions + BN, identity (or 1x1-conv projection) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, activation: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.act1 = _activation(activation, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.act2 = _activation(activation, out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.act2(out + shortcut)


class Frontend3D(nn.Module):
    """Eq. 4: Conv3d(1, C, (5,7,7), stride (1,2,2), pad (2,3,3)) + BN + act + MaxPool3d((1,3,3), (1,2,2))."""

    def __init__(self, channels: int, activation: str):
        super().__init__()
        self.conv = nn.Conv3d(1, channels, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False)
        self.bn = nn.BatchNorm3d(channels)
        self.act = _activation(activation, channels)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


class ResNetTrunk(nn.Module):
    """ResNet-18 stages (no stem: the 3-D front end replaces it), applied to each frame; names layer1..layer4."""

    def __init__(self, in_ch: int, channels: tuple[int, ...], blocks: tuple[int, ...], activation: str):
        super().__init__()
        self.num_stages = len(channels)
        for s, (ch, n) in enumerate(zip(channels, blocks)):
            stride = 1 if s == 0 else 2
            stage = [BasicBlock(in_ch, ch, stride, activation)] + [BasicBlock(ch, ch, 1, activation) for _ in range(n - 1)]
            setattr(self, f"layer{s + 1}", nn.Sequential(*stage))
            in_ch = ch

    def stages(self):
        return [getattr(self, f"layer{s + 1}") for s in range(self.num_stages)]


class TemporalConv(nn.Module):
    """One branch of a multi-scale TCN level: dilated Conv1d (symmetric 'same' padding) + BN + act."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, dilation: int, activation: str):
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, padding=(kernel - 1) * dilation // 2, dilation=dilation)
        self.bn = nn.BatchNorm1d(out_ch)
        self.act = _activation(activation, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class MultiScaleTemporalLevel(nn.Module):
    """A multi-scale TCN level: [branches k=3,5,7] -> concat -> dropout -> [branches] -> concat -> dropout, + residual.

    Short kernels see short-term lip motion, long (and dilated) ones the whole word: "multi-scaling assists the
    network to map short term as well as long term dependencies" (VFH-GAN 3.2.1).
    """

    def __init__(self, in_ch: int, out_ch: int, kernels: tuple[int, ...], dilation: int, dropout: float, activation: str):
        super().__init__()
        branch = out_ch // len(kernels)
        self.conv_a = nn.ModuleList(TemporalConv(in_ch, branch, k, dilation, activation) for k in kernels)
        self.conv_b = nn.ModuleList(TemporalConv(out_ch, branch, k, dilation, activation) for k in kernels)
        self.dropout = nn.Dropout(dropout)
        # The official condition (in_ch // n_kernels != out_ch) puts a 1x1 projection on every level here.
        self.residual = nn.Conv1d(in_ch, out_ch, 1) if in_ch // len(kernels) != out_ch else None
        self.act = _activation(activation, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, C, T]
        out = self.dropout(torch.cat([b(x) for b in self.conv_a], dim=1))
        out = self.dropout(torch.cat([b(out) for b in self.conv_b], dim=1))
        shortcut = x if self.residual is None else self.residual(x)
        return self.act(out + shortcut)


class MultiScaleTCN(nn.Module):
    """Multi-scale temporal convolution network: `levels` levels with dilations 1, 2, 4, 8, ..."""

    def __init__(self, in_ch: int, channels: int, kernels: tuple[int, ...], levels: int, dropout: float, activation: str):
        super().__init__()
        self.levels = nn.ModuleList(
            MultiScaleTemporalLevel(in_ch if i == 0 else channels, channels, kernels, 2**i, dropout, activation)
            for i in range(levels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T] -> [B, channels, T]
        for level in self.levels:
            x = level(x)
        return x


class LipReader(nn.Module):
    """Word-level lip reader (VFH-GAN ref. [21]): 3-D front end (eq. 4), per-frame ResNet-18, multi-scale TCN, word.

    Input: grayscale mouth crops [B, 1, T, H, W] in [0, 1] (from `preprocess`; normalised inside by `normalise`).
    `forward` returns word logits [B, num_classes]; `features` returns the intermediate maps the lip-reading loss
    (eq. 5) compares.
    """

    def __init__(self, config: LipReaderConfig | None = None):
        super().__init__()
        self.config = config = config or LipReaderConfig.paper()
        self.frontend = Frontend3D(config.frontend_channels, config.activation)
        self.trunk = ResNetTrunk(config.frontend_channels, config.trunk_channels, config.trunk_blocks, config.activation)
        self.tcn = MultiScaleTCN(
            config.trunk_channels[-1], config.tcn_channels, config.tcn_kernels, config.tcn_levels, config.dropout,
            config.activation,
        )
        self.classifier = nn.Linear(config.tcn_channels, config.num_classes)
        self.register_buffer("mean", torch.tensor(config.mean), persistent=False)
        self.register_buffer("std", torch.tensor(config.std), persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        """He initialisation with fan-out as in the official code; BN to identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, (2.0 / m.in_features) ** 0.5)
                nn.init.zeros_(m.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 5 or x.shape[1] != 1:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"LipReader input x must be grayscale mouth crops [B, 1, T, H, W] in [0, 1], got {shape} "
                "(a [B, T, H, W] batch needs x.unsqueeze(1))"
            )
        if min(x.shape[-2:]) < 8:
            raise ValueError(f"LipReader input x: crops of {tuple(x.shape[-2:])} pixels are too small (need >= 8)")

    def preprocess(self, frames: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """The lip reader's input from video: RGB frames [B, T, 3, H, W] (or [T, 3, H, W]) in [0, 1] with their
        iBUG-68 landmarks [B, T, 68, 2] (pixels) -> grayscale mouth crops [B, 1, T, s, s] in [0, 1].

        s = config.input_size, box = `data.crops.mouth_box(landmarks, config.crop_scale)`. Differentiable in
        `frames` (bilinear resampling). Pretraining and the lip-reading loss both use this, and nothing else.
        """
        from avfh_core.data.crops import mouth_crops  # models -> data, as the loss did before

        if not isinstance(frames, torch.Tensor) or frames.ndim not in (4, 5) or frames.shape[-3] != 3:
            shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
            raise ValueError(f"LipReader.preprocess: frames must be RGB [B, T, 3, H, W] or [T, 3, H, W], got {shape}")
        if frames.ndim == 4:
            frames, landmarks = frames.unsqueeze(0), landmarks.unsqueeze(0)
        if landmarks.shape[:2] != frames.shape[:2] or tuple(landmarks.shape[2:]) != (68, 2):
            raise ValueError(
                f"LipReader.preprocess: landmarks must be [B, T, 68, 2] matching frames {tuple(frames.shape[:2])}, "
                f"got {tuple(landmarks.shape)}"
            )
        c = self.config
        crops = [mouth_crops(v, lm, size=c.input_size, gray=True, scale=c.crop_scale) for v, lm in zip(frames, landmarks)]
        return torch.stack(crops).transpose(1, 2)  # [B, T, 1, s, s] -> [B, 1, T, s, s]

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Crops [B, 1, T, H, W] in [0, 1] -> the front end's input (config.normalisation; called by `features`)."""
        if self.config.normalisation == "lrw":
            return (x - self.mean) / self.std
        x = x - x.mean(dim=2, keepdim=True)  # the clip's mean crop: identity appearance, lighting
        return x / x.flatten(1).std(dim=1).clamp_min(1e-3).view(-1, 1, 1, 1, 1)

    def features(self, x: torch.Tensor, layers: tuple[str, ...] | list[str] = ("frontend", "trunk", "tcn")):
        """Intermediate activations for the named `layers` (a dict, in `FEATURE_LAYERS` order).

        frontend        [B, C0, T, H/4, W/4]  the 3-D front end f' (eq. 4)
        layer1..layer4  [B, T, Cs, h, w]      ResNet-18 stage outputs per frame (f'' before pooling)
        trunk           [B, T, C4]            the per-frame 512-d embedding f''
        tcn             [B, T, C_tcn]         multi-scale TCN output (what the authors' code hooks)
        logits          [B, num_classes]      word scores
        The forward pass stops after the last layer asked for.
        """
        unknown = [name for name in layers if name not in FEATURE_LAYERS]
        if unknown or not layers:
            raise ValueError(f"LipReader.features: unknown layer(s) {unknown or list(layers)}; choose from {FEATURE_LAYERS}")
        self._check_input(x)
        wanted = set(layers)
        last = max(FEATURE_LAYERS.index(name) for name in layers)
        out: dict[str, torch.Tensor] = {}

        def keep(name: str, value: torch.Tensor) -> bool:
            if name in wanted:
                out[name] = value
            return FEATURE_LAYERS.index(name) >= last  # True: we can stop

        b, _, t = x.shape[:3]
        h = self.frontend(self.normalise(x))  # [B, C, T, H', W']
        if keep("frontend", h):
            return out
        h = h.transpose(1, 2).reshape(b * t, *h.shape[1:2], *h.shape[3:])  # fold time into batch: [B*T, C, H', W']
        for s, stage in enumerate(self.trunk.stages()):
            h = stage(h)
            if keep(f"layer{s + 1}", h.view(b, t, *h.shape[1:])):
                return out
        h = F.adaptive_avg_pool2d(h, 1).view(b, t, -1)  # [B, T, C4]
        if keep("trunk", h):
            return out
        h = self.tcn(h.transpose(1, 2)).transpose(1, 2)  # [B, T, C_tcn]
        if keep("tcn", h):
            return out
        keep("logits", self.classifier(h.mean(dim=1)))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Word logits [B, num_classes] for grayscale mouth crops x [B, 1, T, H, W] in [0, 1]."""
        return self.features(x, ("logits",))["logits"]


# ----------------------------------------------------------------------------------------------------------------
# The official LRW checkpoint (model_state_dict with the published module names)

# official name pattern -> our name; applied in order, first match wins.
_OFFICIAL_TO_LOCAL = [
    (r"^frontend3D\.0\.", "frontend.conv."),
    (r"^frontend3D\.1\.", "frontend.bn."),
    (r"^frontend3D\.2\.", "frontend.act."),
    (r"^trunk\.(layer\d+\.\d+)\.relu(\d)\.", r"trunk.\1.act\2."),
    (r"^trunk\.", "trunk."),
    (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr0_(\d+)\.conv\.", r"tcn.levels.\1.conv_a.\2.conv."),
    (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr0_(\d+)\.batchnorm\.", r"tcn.levels.\1.conv_a.\2.bn."),
    (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr0_(\d+)\.non_lin\.", r"tcn.levels.\1.conv_a.\2.act."),
    (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr1_(\d+)\.conv\.", r"tcn.levels.\1.conv_b.\2.conv."),
    (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr1_(\d+)\.batchnorm\.", r"tcn.levels.\1.conv_b.\2.bn."),
    (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr1_(\d+)\.non_lin\.", r"tcn.levels.\1.conv_b.\2.act."),
    (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.downsample\.", r"tcn.levels.\1.residual."),
    (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.relu_final\.", r"tcn.levels.\1.act."),
    (r"^tcn_output\.", "classifier."),
]
# In the official checkpoint but unused by its forward pass (a second classifier inside the TCN module).
_OFFICIAL_UNUSED = (r"^tcn\.tcn_output\.",)


def official_to_local(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """Rename an official state dict to our module names.

    Returns (renamed, skipped, unknown): `skipped` are official keys known to be unused (the dead
    `tcn.tcn_output`), `unknown` are keys that match no official module name. A DataParallel `module.` prefix is
    removed first.
    """
    renamed, skipped, unknown = {}, [], []
    for key, value in state_dict.items():
        k = key[len("module."):] if key.startswith("module.") else key
        if any(re.match(p, k) for p in _OFFICIAL_UNUSED):
            skipped.append(key)
            continue
        for pattern, repl in _OFFICIAL_TO_LOCAL:
            if re.match(pattern, k):
                renamed[re.sub(pattern, repl, k)] = value
                break
        else:
            unknown.append(key)
    return renamed, skipped, unknown


def load_official_checkpoint(
    path: str | os.PathLike, activation: str | None = None, strict: bool = True
) -> tuple[LipReader, dict[str, Any]]:
    """Build the paper lip reader and load the official LRW checkpoint into it.

    `path` holds either {"model_state_dict": ...} (the released training checkpoints) or a bare state dict. The
    number of classes is read from `tcn_output.weight`; the activation is "prelu" when the checkpoint has PReLU
    weights, otherwise `activation` (default "swish", the official LRW json; ReLU and swish have no weights so a
    checkpoint cannot tell them apart). Returns (model in eval mode, report) where report lists `missing`,
    `unexpected`, `skipped` (known-unused official keys) and `num_parameters`. With strict=True any missing or
    unexpected key is an error that lists them; a shape mismatch is always an error naming the key.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: official lip-reading checkpoint not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(blob, dict):
        raise ValueError(f"{path}: expected a dict (a state dict or {{'model_state_dict': ...}}), got {type(blob).__name__}")
    state = blob.get("model_state_dict", blob)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: 'model_state_dict' is not a mapping of names to tensors")
    renamed, skipped, unknown = official_to_local(state)
    if "classifier.weight" not in renamed:
        raise ValueError(f"{path}: no 'tcn_output.weight' (the word classifier); is this an LRW lip-reading checkpoint?")
    num_classes = int(renamed["classifier.weight"].shape[0])
    has_prelu = any(k.endswith("act.weight") or ".act1.weight" in k or ".act2.weight" in k for k in renamed)
    act = "prelu" if has_prelu else (activation or "swish")
    if activation is not None and has_prelu and activation != "prelu":
        raise ValueError(f"{path}: checkpoint has PReLU weights but activation={activation!r} was asked for")
    model = LipReader(LipReaderConfig.paper(num_classes=num_classes, activation=act))
    own = model.state_dict()
    for key, value in renamed.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(
                f"{path}: shape mismatch for {key}: checkpoint {tuple(value.shape)}, model {tuple(own[key].shape)}"
            )
    result = model.load_state_dict(renamed, strict=False)
    report = {
        "path": str(path),
        "num_classes": num_classes,
        "activation": act,
        "missing": list(result.missing_keys),
        "unexpected": list(result.unexpected_keys) + unknown,
        "skipped": skipped,
        "num_parameters": model.num_parameters(),
    }
    if strict and (report["missing"] or report["unexpected"]):
        raise ValueError(
            f"{path}: checkpoint does not match the paper lip reader: missing {report['missing'][:10]}"
            f"{' ...' if len(report['missing']) > 10 else ''}, unexpected {report['unexpected'][:10]}"
            f"{' ...' if len(report['unexpected']) > 10 else ''} (use strict=False to load what matches)"
        )
    return model.eval(), report
