"""Eskimez, Maddox, Xu, Duan, "End-to-end generation of talking faces from noisy speech" (ICASSP 2020), sec. 3.1:
the generator (raw-waveform speech encoder with context, condition-image encoder, noise encoder, frame decoder with
U-Net skips and one ConvLSTM layer), the frame discriminator and the pair (audio-visual sync) discriminator.

Sizes the paper gives are the `TalkingFaceConfig.paper()` values (128 px, 8 kHz, 25 fps). Sizes it leaves open and
their source: speech FC 512 and LSTM 512, noise LSTM 128 (the authors' follow-up code, emotalkingface); activations
LeakyReLU(0.2) and reflection 'same' padding of the speech convolutions (follow-up code); the pair discriminator's
per-frame image encoder (not given: three stride-2 convolutions on frame + condition image, ours) and its BLSTM
sizes read as per-direction 256 / 256 / 512 (so the outputs are the paper's 512 / 512 / 1024).

Open choices, ours, each a config field:
- `speech_norm` (default True): the waveform is standardised per clip and a LayerNorm follows the speech FC. The
  paper has neither; in CPU pilots without them the speech code hardly varied between clips at initialisation and the
  generator ignored the audio (spec, "Bottom line" 5).
- `output` "residual" (default): the frame is the condition image plus a zero-initialised head, so the untrained
  generator outputs exactly the condition frame ("copy the condition frame", the floor every trained model must
  beat) and training starts there. "tanh": the follow-up code's tanh image, mapped to [0, 1] here.
- Context-layer edges are zero-padded (the follow-up code pads with N(0, 0.002^2) noise; zeros keep `predict`
  deterministic given the noise code).
The course sizes (`TalkingFaceConfig.sized`) keep every layer of the paper's layout with narrower channels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

SAMPLE_RATE = 8000  # sec. 3.1: raw waveform at 8 kHz
FPS = 25
OUTPUTS = ("residual", "tanh")


@dataclass(frozen=True)
class TalkingFaceConfig:
    """Sizes of every network (defaults: the course sizes at 64 px; `paper()`: the paper's at 128 px)."""

    image_size: int = 64
    speech_channels: tuple[int, ...] = (32, 64, 128, 128, 16)  # paper: 64, 128, 256, 512, 16
    speech_kernels: tuple[int, ...] = (63, 31, 17, 9, 1)  # paper
    speech_strides: tuple[int, ...] = (4, 4, 2, 2, 1)  # paper: 125 feature vectors per second
    context: int = 17  # +-136 ms of 8 ms steps (paper)
    decimate: int = 5  # keep every 5th step: 25 per second, one per video frame (paper)
    speech_dim: int = 128  # FC after the context layer (paper: not given; follow-up code 512)
    speech_hidden: int = 128  # 2 LSTM layers (paper: not given; follow-up code 512)
    speech_norm: bool = True  # ours (module docstring)
    noise_dim: int = 16  # paper: 128-d N(0, I) per frame
    noise_hidden: int = 16  # paper: not given; follow-up code 128
    enc_channels: tuple[int, ...] = (16, 32, 64, 64)  # halving layers; paper (128 px): 64, 128, 256, 512, 512
    id_dim: int = 64  # last encoder layer (kernel 4, valid): the identity vector; paper 512
    dec_channels: tuple[int, ...] = (64, 64, 32, 16)  # up-sampling layers; paper: 512, 256, 128, 64, 32
    convlstm_layer: int = -2  # which decoder layer is the ConvLSTM (paper: the 4th of 5 up layers)
    output: str = "residual"  # OUTPUTS (module docstring)
    fd_channels: tuple[int, ...] = (16, 16, 32, 64, 128)  # frame D, strides 1, 2, 2, 2, 2; paper 64, 64, 128, 256, 512
    fd_fc: int = 256  # paper 2048
    pd_image_channels: tuple[int, ...] = (16, 32, 64)  # pair D per-frame image encoder (paper: not given)
    pd_image_dim: int = 64
    pd_speech_dim: int = 64  # pair D speech FC (its own speech encoder, weights not shared)
    pd_hidden: tuple[int, int, int] = (32, 32, 64)  # BLSTM per direction: image, speech, joint; paper 256, 256, 512

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"TalkingFaceConfig.{name}={getattr(self, name)!r}: {why}")

        n = math.log2(self.image_size / 4) if self.image_size >= 8 else -1
        if not isinstance(self.image_size, int) or n != int(n) or n < 1:
            bad("image_size", "must be 4 * 2^k with k >= 1 (8, 16, 32, 64, 128, ...)")
        for name in ("speech_channels", "speech_kernels", "speech_strides", "enc_channels", "dec_channels",
                     "fd_channels", "pd_image_channels", "pd_hidden"):
            v = getattr(self, name)
            if not isinstance(v, tuple) or not v or not all(isinstance(x, int) and x >= 1 for x in v):
                bad(name, "must be a non-empty tuple of positive ints")
        if not len(self.speech_channels) == len(self.speech_kernels) == len(self.speech_strides):
            bad("speech_channels", "speech_channels, speech_kernels and speech_strides must have the same length")
        if math.prod(self.speech_strides) * self.decimate != SAMPLE_RATE // FPS:
            bad("speech_strides", f"their product times decimate must be {SAMPLE_RATE // FPS} samples (one video "
                                  f"frame at {SAMPLE_RATE} Hz, {FPS} fps)")
        if len(self.enc_channels) != int(n):
            bad("enc_channels", f"needs log2(image_size / 4) = {int(n)} entries for image_size {self.image_size}")
        if len(self.dec_channels) != len(self.enc_channels):
            bad("dec_channels", f"needs {len(self.enc_channels)} entries (one per encoder resolution)")
        if not -len(self.dec_channels) <= self.convlstm_layer < len(self.dec_channels):
            bad("convlstm_layer", f"must index one of the {len(self.dec_channels)} decoder layers")
        if len(self.pd_hidden) != 3:
            bad("pd_hidden", "must be 3 sizes (image, speech, joint BLSTM per direction)")
        if self.output not in OUTPUTS:
            bad("output", f"must be one of {OUTPUTS}")
        for name in ("context", "decimate", "speech_dim", "speech_hidden", "noise_dim", "noise_hidden", "id_dim",
                     "fd_fc", "pd_image_dim", "pd_speech_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "context" else 1):
                bad(name, "must be a positive int" if name != "context" else "must be an int >= 0")

    @property
    def samples_per_frame(self) -> int:
        return SAMPLE_RATE // FPS

    @classmethod
    def paper(cls, **changes) -> TalkingFaceConfig:
        """The paper's sizes (sec. 3.1) at 128 px; FC/LSTM sizes from the follow-up code (module docstring)."""
        return cls(**{**dict(image_size=128, speech_channels=(64, 128, 256, 512, 16), speech_dim=512,
                             speech_hidden=512, noise_dim=128, noise_hidden=128,
                             enc_channels=(64, 128, 256, 512, 512), id_dim=512, dec_channels=(512, 256, 128, 64, 32),
                             fd_channels=(64, 64, 128, 256, 512), fd_fc=2048, pd_image_channels=(64, 128, 256),
                             pd_image_dim=512, pd_speech_dim=512, pd_hidden=(256, 256, 512), output="tanh"),
                          **changes})

    @classmethod
    def sized(cls, image_size: int, width: int = 16, **changes) -> TalkingFaceConfig:
        """The paper's layout at `image_size` with channels from `width` (course: 64 px, width 16)."""
        n = int(round(math.log2(image_size / 4))) if image_size >= 8 else 0
        enc = tuple(width * min(2 ** k, 4) for k in range(n))
        return cls(**{**dict(image_size=image_size, enc_channels=enc, id_dim=4 * width, dec_channels=enc[::-1],
                             fd_channels=(width, width, 2 * width, 4 * width, 8 * width), fd_fc=16 * width,
                             pd_image_channels=(width, 2 * width, 4 * width), pd_image_dim=4 * width,
                             pd_speech_dim=4 * width, pd_hidden=(2 * width, 2 * width, 4 * width),
                             speech_dim=8 * width, speech_hidden=8 * width, noise_dim=width, noise_hidden=width),
                          **changes})

    def as_dict(self) -> dict:
        return asdict(self)


def _check_audio(audio: torch.Tensor, cfg: TalkingFaceConfig, name: str = "audio") -> int:
    """Number of video frames of a [B, S] waveform at 8 kHz (S a multiple of 320); a clear error otherwise."""
    if not isinstance(audio, torch.Tensor) or audio.dim() != 2:
        raise ValueError(f"{name} must be a [B, S] waveform tensor, got "
                         f"{tuple(audio.shape) if isinstance(audio, torch.Tensor) else type(audio).__name__}")
    spf = cfg.samples_per_frame
    if audio.shape[1] < spf or audio.shape[1] % spf:
        raise ValueError(f"{name} has {audio.shape[1]} samples: must be a positive multiple of {spf} (one video frame "
                         f"at {SAMPLE_RATE} Hz, {FPS} fps)")
    if not torch.isfinite(audio).all():
        raise ValueError(f"{name} contains NaN or inf")
    return audio.shape[1] // spf


def _check_image(image: torch.Tensor, cfg: TalkingFaceConfig, name: str = "condition") -> None:
    s = cfg.image_size
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or tuple(image.shape[1:]) != (3, s, s):
        raise ValueError(f"{name} must be [B, 3, {s}, {s}], got "
                         f"{tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__}")


class SpeechEncoder(nn.Module):
    """Raw 8 kHz waveform [B, S] -> one feature per video frame [B, T, speech_hidden] (sec. 3.1): five Conv1d
    ('same' reflection padding, LeakyReLU(0.2)) to 125 steps/s, the +-`context` steps concatenated (35 x 16 = 560-d),
    every `decimate`-th step kept (frame t is centred on conv step 5t), FC, and (recurrent=True) 2 LSTM layers.
    `conv_features` is the conv stack's output, what the noise-resilience loss compares (ref. [12] code)."""

    def __init__(self, cfg: TalkingFaceConfig, out_dim: int | None = None, recurrent: bool = True):
        super().__init__()
        self.cfg = cfg
        layers, c_in = [], 1
        for c, k, s in zip(cfg.speech_channels, cfg.speech_kernels, cfg.speech_strides):
            layers += [nn.ReflectionPad1d(((k - 1) // 2, k // 2)), nn.Conv1d(c_in, c, k, s), nn.LeakyReLU(0.2)]
            c_in = c
        self.convs = nn.Sequential(*layers)
        dim = out_dim or cfg.speech_dim
        self.fc = nn.Linear((2 * cfg.context + 1) * c_in, dim)
        self.norm = nn.LayerNorm(dim) if cfg.speech_norm else nn.Identity()
        self.lstm = nn.LSTM(dim, cfg.speech_hidden, num_layers=2, batch_first=True) if recurrent else None
        self.out_dim = cfg.speech_hidden if recurrent else dim

    def conv_features(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, S] -> [B, C5, S / 64] (after the per-clip standardisation when speech_norm)."""
        _check_audio(audio, self.cfg)
        x = audio
        if self.cfg.speech_norm:
            x = (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-4)
        return self.convs(x[:, None])

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        T = _check_audio(audio, self.cfg)
        f = self.conv_features(audio)  # [B, C, L], L = 5 T
        c = self.cfg.context
        f = F.pad(f, (c, c))  # zero edges (module docstring)
        win = f.unfold(2, 2 * c + 1, 1)  # [B, C, L, 2c+1]
        win = win[:, :, ::self.cfg.decimate][:, :, :T]  # [B, C, T, 2c+1]
        x = win.permute(0, 2, 3, 1).reshape(audio.shape[0], T, -1)  # time-major context, then channels
        x = F.leaky_relu(self.norm(self.fc(x)), 0.2)
        return self.lstm(x)[0] if self.lstm is not None else x


class ImageEncoder(nn.Module):
    """Condition image [B, 3, H, W] -> (identity vector [B, id_dim], skips from H/2 down to 4 px) (sec. 3.1): each
    layer a 3x3 conv and a nearest-neighbour halving (no strides, no pooling), the image itself down-sampled and
    concatenated to every next layer's input; the last layer a 4x4 valid conv to 1 x 1."""

    def __init__(self, cfg: TalkingFaceConfig):
        super().__init__()
        self.cfg = cfg
        self.convs = nn.ModuleList()
        c_in = 3
        for c in cfg.enc_channels:
            self.convs.append(nn.Conv2d(c_in, c, 3, padding=1))
            c_in = c + 3
        self.last = nn.Conv2d(c_in, cfg.id_dim, 4)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        _check_image(image, self.cfg)
        x, img, skips = image, image, []
        for conv in self.convs:
            h = F.interpolate(F.leaky_relu(conv(x), 0.2), scale_factor=0.5, mode="nearest")
            img = F.interpolate(img, scale_factor=0.5, mode="nearest")
            skips.append(h)
            x = torch.cat([h, img], 1)
        return F.leaky_relu(self.last(x), 0.2).flatten(1), skips


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell (3x3 gates): the paper's "LSTM-CONV" decoder layer."""

    def __init__(self, c_in: int, c_hidden: int):
        super().__init__()
        self.c_hidden = c_hidden
        self.gates = nn.Conv2d(c_in + c_hidden, 4 * c_hidden, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, C, H, W] -> hidden states [B, T, c_hidden, H, W] (unidirectional: online generation)."""
        B, T, _, H, W = x.shape
        h = x.new_zeros(B, self.c_hidden, H, W)
        c = torch.zeros_like(h)
        out = []
        for t in range(T):
            i, f, o, g = self.gates(torch.cat([x[:, t], h], 1)).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            out.append(h)
        return torch.stack(out, 1)


class TalkingFaceGenerator(nn.Module):
    """(condition image [B, 3, H, W] in [0, 1], 8 kHz waveform [B, 320 T]) -> video [B, T, 3, H, W] (sec. 3.1,
    Fig. 2). `noise` [B, T, noise_dim] is the noise encoder's input (drawn from N(0, I) when None)."""

    def __init__(self, cfg: TalkingFaceConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TalkingFaceConfig()
        self.speech = SpeechEncoder(cfg)
        self.image = ImageEncoder(cfg)
        self.noise_lstm = nn.LSTM(cfg.noise_dim, cfg.noise_hidden, batch_first=True)
        c0 = cfg.dec_channels[0]
        self.fc = nn.Linear(cfg.speech_hidden + cfg.id_dim + cfg.noise_hidden, c0 * 16)
        self.lstm_at = cfg.convlstm_layer % len(cfg.dec_channels)
        self.layers = nn.ModuleList()
        c_in = c0
        for k, (c, skip) in enumerate(zip(cfg.dec_channels, cfg.enc_channels[::-1])):
            n_in = c_in + skip
            self.layers.append(ConvLSTMCell(n_in, c) if k == self.lstm_at else nn.Conv2d(n_in, c, 3, padding=1))
            c_in = c
        self.head = nn.Conv2d(c_in, 3, 3, padding=1)
        if cfg.output == "residual":
            start_at_condition(self)

    def forward(self, condition: torch.Tensor, audio: torch.Tensor, noise: torch.Tensor | None = None
                ) -> torch.Tensor:
        _check_image(condition, self.cfg)
        T = _check_audio(audio, self.cfg)
        B = condition.shape[0]
        if audio.shape[0] != B:
            raise ValueError(f"audio has batch {audio.shape[0]} but condition has {B}")
        if noise is None:
            noise = torch.randn(B, T, self.cfg.noise_dim, device=condition.device)
        elif tuple(noise.shape) != (B, T, self.cfg.noise_dim):
            raise ValueError(f"noise must be [{B}, {T}, {self.cfg.noise_dim}], got {tuple(noise.shape)}")
        return self.decode(condition, self.speech(audio), noise)

    def decode(self, condition: torch.Tensor, s: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The frames from the per-frame code s [B, T, speech_hidden] (the speech encoder's output here, the
        landmark code in the two-stage baseline), the condition image and the noise [B, T, noise_dim]."""
        B, T = s.shape[:2]
        ident, skips = self.image(condition)
        z = self.noise_lstm(noise)[0]
        x = self.fc(torch.cat([s, ident[:, None].expand(B, T, -1), z], -1))
        x = x.reshape(B * T, -1, 4, 4)
        for k, (layer, skip) in enumerate(zip(self.layers, skips[::-1])):
            x = torch.cat([x, skip.repeat_interleave(T, 0)], 1)
            if k == self.lstm_at:
                x = layer(x.reshape(B, T, *x.shape[1:])).flatten(0, 1)
            else:
                x = F.leaky_relu(layer(x), 0.2)
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        y = self.head(x).reshape(B, T, 3, *condition.shape[-2:])
        if self.cfg.output == "residual":
            return condition[:, None] + y
        return (torch.tanh(y) + 1) / 2


def start_at_condition(gen: TalkingFaceGenerator) -> None:
    """Zero the output head: with output "residual" the untrained generator returns the condition frame exactly."""
    nn.init.zeros_(gen.head.weight)
    nn.init.zeros_(gen.head.bias)


class FrameDiscriminator(nn.Module):
    """(frame [N, 3, H, W], condition image [N, 3, H, W]) -> one LSGAN score per frame [N] (sec. 3.1): five 3x3
    convs (strides 1, 2, 2, 2, 2), FC, FC to 1."""

    def __init__(self, cfg: TalkingFaceConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TalkingFaceConfig()
        layers, c_in = [], 6
        for k, c in enumerate(cfg.fd_channels):
            layers += [nn.Conv2d(c_in, c, 3, 1 if k == 0 else 2, 1), nn.LeakyReLU(0.2)]
            c_in = c
        self.convs = nn.Sequential(*layers)
        side = cfg.image_size // 2 ** (len(cfg.fd_channels) - 1)
        if side < 1:
            raise ValueError(f"FrameDiscriminator: image_size {cfg.image_size} is too small for "
                             f"{len(cfg.fd_channels) - 1} stride-2 layers")
        self.fc = nn.Sequential(nn.Linear(c_in * side * side, cfg.fd_fc), nn.LeakyReLU(0.2), nn.Linear(cfg.fd_fc, 1))

    def forward(self, frame: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        _check_image(frame, self.cfg, "frame")
        _check_image(condition, self.cfg)
        return self.fc(self.convs(torch.cat([frame, condition], 1)).flatten(1))[:, 0]


class PairDiscriminator(nn.Module):
    """(mouth-masked video [B, T, 3, H, W], condition image [B, 3, H, W], 8 kHz waveform [B, 320 T]) -> one LSGAN
    score per frame [B, T] (sec. 3.1, Fig. 3): per-frame image encoder -> BLSTM; its own speech encoder (weights not
    shared with the generator's) -> BLSTM; both concatenated -> BLSTM -> FC."""

    def __init__(self, cfg: TalkingFaceConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TalkingFaceConfig()
        layers, c_in = [], 6
        for c in cfg.pd_image_channels:
            layers += [nn.Conv2d(c_in, c, 3, 2, 1), nn.LeakyReLU(0.2)]
            c_in = c
        self.image = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, cfg.pd_image_dim))
        self.speech = SpeechEncoder(cfg, out_dim=cfg.pd_speech_dim, recurrent=False)
        hi, hs, hj = cfg.pd_hidden
        self.image_rnn = nn.LSTM(cfg.pd_image_dim, hi, batch_first=True, bidirectional=True)
        self.speech_rnn = nn.LSTM(cfg.pd_speech_dim, hs, batch_first=True, bidirectional=True)
        self.joint_rnn = nn.LSTM(2 * (hi + hs), hj, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hj, 1)

    def forward(self, video: torch.Tensor, condition: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        s = self.cfg.image_size
        if video.dim() != 5 or tuple(video.shape[2:]) != (3, s, s):
            raise ValueError(f"video must be [B, T, 3, {s}, {s}], got {tuple(video.shape)}")
        _check_image(condition, self.cfg)
        T = _check_audio(audio, self.cfg)
        B = video.shape[0]
        if T != video.shape[1] or audio.shape[0] != B or condition.shape[0] != B:
            raise ValueError(f"video {tuple(video.shape)}, condition {tuple(condition.shape)} and audio "
                             f"{tuple(audio.shape)} ({T} frames) do not match")
        cond = condition[:, None].expand(B, T, -1, -1, -1)
        v = self.image(torch.cat([video, cond], 2).flatten(0, 1)).reshape(B, T, -1)
        a = self.speech(audio)
        j = torch.cat([self.image_rnn(v)[0], self.speech_rnn(a)[0]], -1)
        return self.fc(self.joint_rnn(j)[0])[..., 0]


class CopyCondition(nn.Module):
    """The floor: every frame is the condition image (what a generator that ignores the audio converges to)."""

    def forward(self, condition: torch.Tensor, audio: torch.Tensor, noise: torch.Tensor | None = None
                ) -> torch.Tensor:
        T = audio.shape[1] // (SAMPLE_RATE // FPS)
        return condition[:, None].expand(-1, T, -1, -1, -1).clone()


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["CopyCondition", "ConvLSTMCell", "FrameDiscriminator", "ImageEncoder", "PairDiscriminator",
           "SpeechEncoder", "TalkingFaceConfig", "TalkingFaceGenerator", "parameter_count", "start_at_condition"]
