"""VFH-GAN: Sharma, Dhall, Kumar, Bawa, "Audio-visual video face hallucination with frequency supervision and cross
modality support by speech based lip reading loss" (arXiv 2211.10883, 2022), sec. 3.1, Fig. 1 and Fig. 4.

The generator (the paper's VFHN, zeta in eq. 1) maps the LR centre frame f_lr_t, its 2j neighbours and the log-mel
window aligned to frame t to the HR frame f_sr_t:

    primary = head(each LR frame)                               "primary convolution layers of PHFE-B"
    phfe    = PHFE-B(primary[t])                                 multi-kernel conv + depthwise/SE channel attention
    visual  = xi(primary[t-j..t+j])                              CMFE-B visual branch
    audio   = psi(mel)                                           CMFE-B audio branch
    f_lv'   = Psi(visual + audio)                                eq. 2 (eq. 2 prints +, the released code adds;
                                                                 the text says "concatenated": fusion="concat")
    f_a     = axial-atten(f_lv')                                 eq. 3
    f_sr_t  = upsample(phfe + f_a) + bicubic(f_lr_t)             x4 sub-pixel upsampling

Choices the paper leaves open (each is a documented default here, not a claim about the authors' model):
- the audio embedding is a vector broadcast over the LR grid before it is added to the visual features (eq. 2 and
  the released code add; `fusion="concat"`, the paper's text, concatenates and is an ablation row);
- a global bicubic skip makes the network learn the residual (it speeds up training on a CPU a lot), and the output
  head starts at zero with ICNR-initialised sub-pixel convolutions (`start_at_skip`): an untrained generator outputs
  exactly its bicubic skip (no random residual, no pixel-shuffle checkerboard), so training starts at the baseline;
- the switches: `use_audio=False, use_neighbours=False` removes CMFE-B altogether, which is the paper's "w/o audio"
  row of Table 1; `use_audio=False, use_neighbours=True` keeps the visual branch only (isolates the audio).
The discriminator is a PatchGAN (`PatchDiscriminator`), as the paper gives no details.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.nn import AxialAttention, MixNetBlock, PHFEBlock, PixelShuffleUpsampler


@torch.no_grad()
def icnr_(conv: nn.Conv2d, upscale: int = 2) -> nn.Conv2d:
    """ICNR (Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution"): initialise `conv`, which feeds
    PixelShuffle(upscale), so that the upscale**2 sub-pixel outputs of each channel start with the same kernel; the
    shuffled output is then a nearest-neighbour upsampling of a Kaiming-initialised conv (no checkerboard at init).
    The bias is zeroed. Returns `conv`."""
    r2 = upscale * upscale
    if conv.out_channels % r2:
        raise ValueError(f"icnr_: out_channels={conv.out_channels} of {conv} is not a multiple of upscale**2={r2}")
    sub = torch.empty(conv.out_channels // r2, *conv.weight.shape[1:])
    nn.init.kaiming_normal_(sub, a=0.25, nonlinearity="leaky_relu")  # the PReLU after the shuffle starts at 0.25
    conv.weight.copy_(sub.repeat_interleave(r2, dim=0))  # PixelShuffle reads channels c*r2 .. c*r2+r2-1 for channel c
    if conv.bias is not None:
        conv.bias.zero_()
    return conv


@torch.no_grad()
def start_at_skip(upsampler: PixelShuffleUpsampler, tail: nn.Conv2d) -> None:
    """ICNR for every sub-pixel convolution of `upsampler` and a zero output head `tail`: a generator whose output
    is tail(upsampler(...)) + bicubic skip then starts exactly at its skip. The zero head still gets a gradient at
    step 0 (its input features are non-zero), so everything upstream learns from step 1 on."""
    for m in upsampler.modules():
        if isinstance(m, nn.Conv2d):
            icnr_(m, 2)
    nn.init.zeros_(tail.weight)
    if tail.bias is not None:
        nn.init.zeros_(tail.bias)


@dataclass(frozen=True)
class VFHGANConfig:
    """Architecture switches and sizes of the generator.

    width: feature channels; n_stages: PHFE-B (or mixnet) stages; scale: upsampling factor (4 in the paper);
    window: j, the generator sees 2j+1 frames (released code: 5 frames, j=2); n_mels / mel_steps_per_frame: the
    log-mel window layout (80 bins, 16 steps per video frame in the released code); backbone: "phfe" or "mixnet";
    fusion: how CMFE-B joins the visual and audio features before Psi, "add" (eq. 2) or "concat" (the text);
    audio_gain: 0 = the audio vector psi(a) is broadcast over the LR grid (our reading of eq. 2; the paper does not
    say how a vector meets a map); n > 0 = it is multiplied by a learned per-position gain [width, n, n], initialised
    to 1 (so training starts from the broadcast network), n equal to the LR side: a probe of whether the generator
    ignores its audio because it cannot find where on the face the audio matters (`benchmarks/vfhgan_audio_control`).
    """

    width: int = 32
    n_stages: int = 4
    scale: int = 4
    window: int = 2
    n_mels: int = 80
    mel_steps_per_frame: int = 16
    use_audio: bool = True
    use_neighbours: bool = True
    use_attention: bool = True
    backbone: str = "phfe"
    attention_heads: int = 4
    fusion: str = "add"
    audio_gain: int = 0

    def __post_init__(self):
        if self.backbone not in ("phfe", "mixnet"):
            raise ValueError(f"backbone must be 'phfe' or 'mixnet', got {self.backbone!r}")
        if self.fusion not in ("add", "concat"):
            raise ValueError(f"fusion must be 'add' (eq. 2, released code) or 'concat', got {self.fusion!r}")
        if not isinstance(self.audio_gain, int) or self.audio_gain < 0:
            raise ValueError(f"audio_gain must be 0 (broadcast) or the LR side (an int > 0), got {self.audio_gain!r}")
        if self.audio_gain and not self.use_audio:
            raise ValueError("audio_gain needs the audio branch (use_audio=True)")
        if self.window < 0:
            raise ValueError(f"window (j) must be >= 0, got {self.window!r}")
        if self.width < 4 or self.width % self.attention_heads:
            raise ValueError(f"width must be >= 4 and divisible by attention_heads={self.attention_heads}, got {self.width}")
        if self.use_attention and not (self.use_audio or self.use_neighbours):
            raise ValueError("use_attention needs CMFE-B (use_audio or use_neighbours): attention acts on its latent")

    @property
    def frames(self) -> int:
        return 2 * self.window + 1

    @property
    def mel_steps(self) -> int:
        return self.frames * self.mel_steps_per_frame

    @property
    def uses_cmfe(self) -> bool:
        return self.use_audio or self.use_neighbours

    def as_dict(self) -> dict:
        return asdict(self)


class AudioBranch(nn.Module):
    """CMFE-B audio branch psi(a_m-s) (eq. 2): a small 2-D CNN over the log-mel window [B,1,n_mels,steps] -> [B,C].

    The mel layout (`data.audio`): hop 40 samples at 16 kHz, i.e. 16 steps per video frame (25 fps) and 80 per
    5-frame window. The released code uses hop 200 with 16 steps per window: the same 0.2 s of audio at a fifth of
    our time resolution. We keep the finer hop so that frame t owns mel columns 16t..16t+15 exactly (notebook 01
    shows a click landing there); the CNN's strided convolutions and pooling reduce either layout to one vector.
    Normalisation: the log-mel (natural log, floor about -11.5, mean about -8, std about 3.5 on the synthetic world)
    is standardised per window (zero mean, unit variance over bins and steps) before the first convolution, so its
    offset and scale do not set the size of the audio features at initialisation (the released code feeds the
    log-mel as it is)."""

    def __init__(self, width: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.AdaptiveAvgPool2d((2, 4)),
        )
        self.fc = nn.Linear(32 * 2 * 4, width)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        mean = mel.mean(dim=(1, 2, 3), keepdim=True)
        std = mel.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
        return self.fc(self.net((mel - mean) / (std + 1e-5)).flatten(1))


class VFHGenerator(nn.Module):
    """VFH-GAN generator (eq. 1-3, Fig. 1). forward(lr [B,2j+1,3,h,w], mel [B,1,n_mels,(2j+1)*steps]) -> [B,3,sh,sw].

    `mel` may be None only when use_audio is False. Returns values in [0,1] (clamped in eval mode only, so the
    training gradient is never cut)."""

    def __init__(self, config: VFHGANConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = VFHGANConfig(**kwargs)
        elif kwargs:
            raise ValueError("pass either a VFHGANConfig or keyword arguments, not both")
        self.config = c = config
        w = c.width
        self.head = nn.Conv2d(3, w, 3, padding=1)  # primary convolution, shared by all frames
        block = (lambda: PHFEBlock(w)) if c.backbone == "phfe" else (lambda: nn.Sequential(MixNetBlock(w), MixNetBlock(w)))
        self.backbone = nn.Sequential(*[block() for _ in range(c.n_stages)])
        if c.use_neighbours:
            self.visual_branch = nn.Sequential(
                nn.Conv2d(w * c.frames, w, 3, padding=1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(w, w, 3, padding=1)
            )
        if c.use_audio:
            self.audio_branch = AudioBranch(w)
        # a learned per-position gain on the audio vector (ones: no random draw, the other modules' init unchanged)
        self.register_parameter("audio_gain", nn.Parameter(torch.ones(w, c.audio_gain, c.audio_gain))
                                if c.audio_gain else None)
        if c.uses_cmfe:
            n_in = w * (int(c.use_neighbours) + int(c.use_audio)) if c.fusion == "concat" else w
            self.fuse = nn.Sequential(nn.Conv2d(n_in, w, 1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(w, w, 3, padding=1))
        if c.use_attention:
            self.attention = AxialAttention(w, c.attention_heads)
        self.body_out = nn.Conv2d(w, w, 3, padding=1)
        self.upsample = PixelShuffleUpsampler(w, c.scale)
        self.tail = nn.Conv2d(w, 3, 3, padding=1)
        start_at_skip(self.upsample, self.tail)

    def check_inputs(self, lr: torch.Tensor, mel: torch.Tensor | None) -> None:
        c = self.config
        if lr.ndim != 5 or lr.shape[1] != c.frames or lr.shape[2] != 3:
            raise ValueError(f"lr must be [B,{c.frames},3,h,w] (2j+1={c.frames} frames), got {tuple(lr.shape)}")
        if c.use_audio:
            if mel is None:
                raise ValueError("mel is required when use_audio=True")
            if mel.ndim != 4 or mel.shape[1] != 1 or mel.shape[2] != c.n_mels or mel.shape[0] != lr.shape[0]:
                raise ValueError(f"mel must be [B,1,{c.n_mels},steps] with B={lr.shape[0]}, got {tuple(mel.shape)}")
        if c.audio_gain and tuple(lr.shape[-2:]) != (c.audio_gain, c.audio_gain):
            raise ValueError(f"audio_gain={c.audio_gain} is a gain per LR position: the LR frames must be "
                             f"{c.audio_gain}x{c.audio_gain}, got {tuple(lr.shape[-2:])}")

    def cmfe(self, primary: torch.Tensor, mel: torch.Tensor | None) -> torch.Tensor:
        """CMFE-B: f_a = axial-atten(Psi(xi(frames) + psi(mel))) (eq. 2-3; fusion="concat" concatenates), a
        [B,C,h,w] map."""
        b, t, ch, h, w = primary.shape
        parts = []
        if self.config.use_neighbours:
            parts.append(self.visual_branch(primary.reshape(b, t * ch, h, w)))
        if self.config.use_audio:
            a = self.audio_branch(mel)[:, :, None, None]
            parts.append(a * self.audio_gain if self.audio_gain is not None else a.expand(b, ch, h, w))
        latent = self.fuse(torch.cat(parts, dim=1) if self.config.fusion == "concat" else sum(parts))
        return self.attention(latent) if self.config.use_attention else latent

    def forward(self, lr: torch.Tensor, mel: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(lr, mel)
        b, t, _, h, w = lr.shape
        centre = lr[:, self.config.window]
        primary = self.head(lr.reshape(b * t, 3, h, w)).reshape(b, t, -1, h, w)
        feats = self.backbone(primary[:, self.config.window])
        if self.config.uses_cmfe:
            feats = feats + self.cmfe(primary, mel)
        out = self.tail(self.upsample(self.body_out(feats) + primary[:, self.config.window]))
        skip = F.interpolate(centre, scale_factor=self.config.scale, mode="bicubic", align_corners=False)
        out = out + skip
        return out if self.training else out.clamp(0, 1)


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator (Isola et al.): strided 4x4 convolutions, one realness score per receptive-field patch.
    forward(img [B,3,H,W]) -> [B,1,H/2^(n_down),W/2^(n_down)] logits (used with LSGAN, as the released code)."""

    def __init__(self, width: int = 32, n_down: int = 3):
        super().__init__()
        if n_down < 1:
            raise ValueError(f"n_down must be >= 1, got {n_down!r}")
        layers: list[nn.Module] = [nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.GroupNorm(1, ch * 2), nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"PatchDiscriminator expects [B,3,H,W], got {tuple(img.shape)}")
        return self.net(img)
