"""VividGAN: Zhang, Tsang, Li, Liu, Lu, Yu, "Face Hallucination with Finishing Touches", IEEE TIP 30 (2021)
1728-1743, sec. III (Figs. 3-5): Vivid-FHnet and its two discriminators.

From an unaligned, non-frontal LR face the generator makes the frontal HR face of the same person:

    coarse  = CoarseNet(lr)                 encoder + log2(scale) FT modules (STN -> residual block -> x2 deconv)
    comps   = TouchUp(crops of coarse)      U-Net on the left eye, right eye, nose and mouth (sec. III-B(a))
    prior   = stitch(comps)                 pasted onto a zero template at fixed positions, max-out fusion (Fig. 4(b))
    F_C     = encoder(coarse, prior)        6 channels -> the LR grid
    F_H     = StackedHourglass(F_C)         68 landmark heatmaps (the structure loss, eq. 6, supervises them)
    F_E     = HeatmapAttention(F_C, F_H)    the integration block, eqs. 1-2
    fine    = coarse + tail(FT modules(F_E))

Choices the paper leaves open (each a documented default here, not a claim about the authors' model):
- the coarse network has no bicubic skip (its input and its target are not pixel aligned); its encoder is a 3x3
  convolution and `lr_blocks` residual blocks at the LR size; FT modules use ConvTranspose2d(4, 2, 1);
- the fine-integration network refines the coarse face: its output is coarse + a residual whose 3x3 head starts
  at zero, so an untrained fine network outputs exactly the coarse face (training starts at the coarse baseline);
  its encoder is strided convolutions down to the LR grid, where the hourglass and the attention run (the paper's
  "same architecture as the coarse network" cannot start at 128 px and upsample);
- one touching-up U-Net is shared by the four components (a one-hot component code is concatenated to its input);
  its output is crop + a residual whose head starts at zero (an untrained U-Net returns its crop);
- crop sizes are the released code's (H x W at 128 px: eyes 40x40, nose 32x40, mouth 32x48), scaled to `hr_size`
  and rounded up to multiples of 4; crops are cut around per-face component centres (template or landmarks) and
  pasted back at the fixed `template` centres (the released code's `LocalFuser`); `template` is a buffer the
  training code sets to the mean frontal component centres of the training faces;
- the discriminators are PatchGANs (the paper gives no architecture).
Switches: `prior` "estimated" (VividGAN), "none" (V-TN, Fig. 8), "ground_truth" (V+GT, Fig. 8); `use_fine` False
is VividGAN-dagger (the coarse network alone); `use_component_module` False drops the hourglass and the attention
(Fig. 6(f)); `use_stn` False drops the STNs of the FT modules.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn as nn

from avfh_core.models.vfhgan import PatchDiscriminator
from avfh_core.nn.attention import HeatmapAttention
from avfh_core.nn.blocks import ResidualBlock, count_parameters
from avfh_core.nn.hourglass import StackedHourglass
from avfh_core.nn.stn import SpatialTransformer

COMPONENTS = ("left_eye", "right_eye", "nose", "mouth")
# (H, W) at 128 px, the released code's crop windows
CROP_SIZES_128: dict[str, tuple[int, int]] = {"left_eye": (40, 40), "right_eye": (40, 40), "nose": (32, 40),
                                              "mouth": (32, 48)}
# TP-GAN's mean 5-point positions at 128 px (x, y) -> component centres (mouth: midpoint of the two corners)
TEMPLATE_128 = ((39.48, 40.28), (85.96, 38.71), (63.64, 63.65), (64.785, 89.325))
PRIORS = ("estimated", "none", "ground_truth")
# Tab. IV "parameter number (KB)" (the unit is unclear; compare ratios only)
PAPER_PARAMETERS = {"tann": 196_231, "vividgan_coarse": 103_473, "vividgan": 242_089}


@dataclass(frozen=True)
class VividGANConfig:
    """Sizes and switches. hr_size: output side; scale: hr/lr (4: 16 -> 64, 8: 8 -> 64 or 16 -> 128); width:
    features of the coarse and fine networks; lr_blocks: residual blocks of the coarse encoder; touch_width: the
    touching-up U-Net's first width; hg_stacks / hg_depth: the hourglass on the LR grid; n_points: heatmaps (68);
    embed: attention width (0 = width // 2); sigma: eq. 2's trade-off (1); d_width / d_down: the PatchGANs."""

    hr_size: int = 64
    scale: int = 4
    width: int = 16
    lr_blocks: int = 2
    touch_width: int = 8
    hg_stacks: int = 1
    hg_depth: int = 2
    n_points: int = 68
    embed: int = 0
    sigma: float = 1.0
    d_width: int = 16
    d_down: int = 3
    use_stn: bool = True
    use_fine: bool = True
    use_component_module: bool = True
    prior: str = "estimated"

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"VividGANConfig: {name}={getattr(self, name)!r} {why}")

        if self.scale < 2 or self.scale & (self.scale - 1):
            bad("scale", "must be a power of two >= 2 (one FT module per x2)")
        if self.hr_size % self.scale:
            bad("hr_size", f"must be divisible by scale={self.scale}")
        if self.lr_size < 4:
            bad("hr_size", f"gives an LR side of {self.lr_size}; need >= 4")
        for name in ("width", "touch_width", "n_points", "d_width", "d_down", "hg_stacks", "hg_depth"):
            if getattr(self, name) < 1:
                bad(name, "must be >= 1")
        if self.lr_blocks < 0 or self.embed < 0:
            bad("lr_blocks" if self.lr_blocks < 0 else "embed", "must be >= 0")
        if self.prior not in PRIORS:
            bad("prior", f"must be one of {PRIORS}")
        if self.use_component_module and self.lr_size % (2**self.hg_depth):
            bad("hg_depth", f"needs the LR grid {self.lr_size} divisible by 2**hg_depth")

    @property
    def lr_size(self) -> int:
        return self.hr_size // self.scale

    @property
    def n_up(self) -> int:
        return int(math.log2(self.scale))

    @classmethod
    def paper(cls, **overrides) -> VividGANConfig:
        """The paper's geometry, 16 -> 128 (x8, three FT modules), with widths of its order (not given: ours)."""
        base = cls(hr_size=128, scale=8, width=64, lr_blocks=2, touch_width=32, hg_stacks=2, hg_depth=3,
                   d_width=64, d_down=4)
        return replace(base, **overrides)

    def as_dict(self) -> dict:
        return asdict(self)


def crop_sizes(hr_size: int) -> dict[str, tuple[int, int]]:
    """The component windows (H, W) at `hr_size`: the 128 px ones scaled, rounded up to multiples of 4."""
    return {k: tuple(max(4, math.ceil(s * hr_size / 128 / 4) * 4) for s in hw) for k, hw in CROP_SIZES_128.items()}


def corners(centres: torch.Tensor, hr_size: int) -> torch.Tensor:
    """Top-left integer corners [..., 4, 2] (x, y) of the component windows around `centres` [..., 4, 2] (pixels,
    continuous), clamped so each window lies inside the image."""
    sizes = crop_sizes(hr_size)
    hw = torch.tensor([sizes[k] for k in COMPONENTS], dtype=torch.float32, device=centres.device)  # [4, 2] (H, W)
    wh = hw.flip(-1)
    c = torch.round(centres.float() - wh / 2)
    return torch.minimum(c.clamp(min=0), hr_size - wh).long()


def crop_components(img: torch.Tensor, centres: torch.Tensor) -> list[torch.Tensor]:
    """The four component crops of img [B, 3, H, H] around centres [B, 4, 2] (or [4, 2] for every face): a list
    (COMPONENTS order) of [B, 3, h_k, w_k]."""
    if img.ndim != 4 or img.shape[1] != 3 or img.shape[2] != img.shape[3]:
        raise ValueError(f"crop_components: img must be [B, 3, H, H], got {tuple(img.shape)}")
    b, H = img.shape[0], img.shape[-1]
    if centres.shape[-2:] != (4, 2) or centres.ndim not in (2, 3) or (centres.ndim == 3 and centres.shape[0] != b):
        raise ValueError(f"crop_components: centres must be [4, 2] or [{b}, 4, 2] (x, y), got {tuple(centres.shape)}")
    cs = corners(centres, H)
    sizes = crop_sizes(H)
    out = []
    for k, name in enumerate(COMPONENTS):
        h, w = sizes[name]
        if cs.ndim == 2:
            x0, y0 = int(cs[k, 0]), int(cs[k, 1])
            out.append(img[:, :, y0:y0 + h, x0:x0 + w])
        else:
            out.append(torch.stack([img[i, :, int(cs[i, k, 1]):int(cs[i, k, 1]) + h,
                                        int(cs[i, k, 0]):int(cs[i, k, 0]) + w] for i in range(b)]))
    return out


def stitch_components(patches: list[torch.Tensor], template: torch.Tensor, hr_size: int) -> torch.Tensor:
    """Fig. 4(b): each patch zero-padded into an hr_size canvas at its template window (template [4, 2] centres),
    the four canvases fused by an element-wise max (max-out over the overlaps) -> [B, 3, H, H]. Patches are
    clamped to [0, 1] first, so the empty canvas (0) never wins over a patch."""
    if len(patches) != 4:
        raise ValueError(f"stitch_components: need 4 patches ({COMPONENTS}), got {len(patches)}")
    cs = corners(template, hr_size)
    sizes = crop_sizes(hr_size)
    b = patches[0].shape[0]
    fused = None
    for k, (name, p) in enumerate(zip(COMPONENTS, patches, strict=True)):
        if tuple(p.shape[-2:]) != sizes[name]:
            raise ValueError(f"stitch_components: the {name} patch must be {sizes[name]}, got {tuple(p.shape[-2:])}")
        x0, y0 = int(cs[k, 0]), int(cs[k, 1])
        h, w = sizes[name]
        canvas = p.new_zeros(b, 3, hr_size, hr_size)
        canvas[:, :, y0:y0 + h, x0:x0 + w] = p.clamp(0, 1)
        fused = canvas if fused is None else torch.maximum(fused, canvas)
    return fused


class FTModule(nn.Module):
    """Sec. III-A, Fig. 3: STN (aligns the features) -> residual block (details) -> x2 deconvolution + LeakyReLU.
    forward -> (features at twice the size, theta [B, 2, 3] or None)."""

    def __init__(self, channels: int, use_stn: bool = True):
        super().__init__()
        self.stn = SpatialTransformer(channels) if use_stn else None
        self.res = ResidualBlock(channels)
        self.up = nn.ConvTranspose2d(channels, channels, 4, 2, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        theta = None
        if self.stn is not None:
            x, theta = self.stn(x)
        return self.act(self.up(self.res(x))), theta


class CoarseNet(nn.Module):
    """The coarse-level FH network (VividGAN-dagger): lr [B, 3, h, h] -> (coarse frontal face [B, 3, H, H], thetas)."""

    def __init__(self, c: VividGANConfig):
        super().__init__()
        w = c.width
        self.head = nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                                  *[ResidualBlock(w) for _ in range(c.lr_blocks)])
        self.ft = nn.ModuleList([FTModule(w, c.use_stn) for _ in range(c.n_up)])
        self.tail = nn.Conv2d(w, 3, 3, padding=1)

    def forward(self, lr: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x, thetas = self.head(lr), []
        for ft in self.ft:
            x, theta = ft(x)
            if theta is not None:
                thetas.append(theta)
        return self.tail(x), thetas


class Frontaliser(nn.Module):
    """The frontaliser F of Tab. I's two-step cascades (the paper's F is DR-GAN [5]; ours is a small stand-in):
    face [B, 3, s, s] -> frontal face at the same size s. A 3x3 convolution, an STN on the features (the global
    alignment), `blocks` residual blocks, a 3x3 head; the output is the input plus the head's residual, and the
    head starts at zero, so an untrained F returns its input. The same architecture runs at the LR size (before a
    bicubic upsampling: F + Bicubic) or at the HR size (after one: Bicubic + F)."""

    def __init__(self, width: int = 16, blocks: int = 2, use_stn: bool = True):
        super().__init__()
        if width < 1 or blocks < 0:
            raise ValueError(f"Frontaliser: width must be >= 1 and blocks >= 0, got {width}, {blocks}")
        self.head = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True))
        self.stn = SpatialTransformer(width) if use_stn else None
        self.body = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.tail = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"Frontaliser expects faces [B, 3, H, W], got shape {tuple(x.shape)}")
        f = self.head(x)
        if self.stn is not None:
            f = self.stn(f)[0]
        return x + self.tail(self.body(f))


class TouchUpNet(nn.Module):
    """Sec. III-B(a), Fig. 4(a): a U-Net (two stride-2 levels, skip concatenations) shared by the four components
    (a one-hot component code is concatenated to the RGB crop). forward(crop [B, 3, h, w], k) -> crop + residual
    (h, w divisible by 4); the residual head starts at zero."""

    def __init__(self, width: int = 8, n_components: int = 4):
        super().__init__()
        w, self.n_components = width, n_components
        act = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        self.enc1 = nn.Sequential(nn.Conv2d(3 + n_components, w, 3, padding=1), act())
        self.enc2 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), act())
        self.enc3 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), act(), ResidualBlock(4 * w))
        self.up2 = nn.Sequential(nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), act())
        self.dec2 = nn.Sequential(nn.Conv2d(4 * w, 2 * w, 3, padding=1), act())
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * w, w, 4, 2, 1), act())
        self.dec1 = nn.Sequential(nn.Conv2d(2 * w, w, 3, padding=1), act())
        self.out = nn.Conv2d(w, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, crop: torch.Tensor, k: int) -> torch.Tensor:
        if crop.ndim != 4 or crop.shape[1] != 3 or crop.shape[2] % 4 or crop.shape[3] % 4:
            raise ValueError(f"TouchUpNet: crop must be [B, 3, h, w] with h, w divisible by 4, got {tuple(crop.shape)}")
        if not 0 <= k < self.n_components:
            raise ValueError(f"TouchUpNet: component index k={k} not in [0, {self.n_components})")
        code = crop.new_zeros(crop.shape[0], self.n_components, *crop.shape[2:])
        code[:, k] = 1.0
        e1 = self.enc1(torch.cat([crop, code], 1))
        e2 = self.enc2(e1)
        d2 = self.dec2(torch.cat([self.up2(self.enc3(e2)), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return crop + self.out(d1)


class FineNet(nn.Module):
    """Sec. III-B(b), Fig. 5: encoder on [coarse, prior] (6 channels) down to the LR grid, the facial component-aware
    module (stacked hourglass -> 68 heatmaps; integration block, eqs. 1-2), decoder of FT modules, and a zero-init
    residual head on the coarse face. forward -> (fine [B, 3, H, H], heatmaps [B, P, h, h] or None, attention or None,
    thetas)."""

    def __init__(self, c: VividGANConfig):
        super().__init__()
        w = c.width
        down: list[nn.Module] = [nn.Conv2d(6, w, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(c.n_up):
            down += [nn.Conv2d(w, w, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True), ResidualBlock(w)]
        self.encoder = nn.Sequential(*down)
        self.hourglass = self.attention = None
        if c.use_component_module:
            self.hourglass = StackedHourglass(w, c.n_points, c.hg_stacks, c.hg_depth)
            self.attention = HeatmapAttention(w, c.n_points, c.embed or None, c.sigma)
        self.ft = nn.ModuleList([FTModule(w, c.use_stn) for _ in range(c.n_up)])
        self.tail = nn.Conv2d(w, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, coarse: torch.Tensor, prior: torch.Tensor):
        fc = self.encoder(torch.cat([coarse, prior], 1))
        heat = attn = None
        if self.hourglass is not None:
            _, heats = self.hourglass(fc)
            heat = heats[-1]
            fc, attn = self.attention(fc, heat)
        thetas = []
        for ft in self.ft:
            fc, theta = ft(fc)
            if theta is not None:
                thetas.append(theta)
        return coarse + self.tail(fc), heat, attn, thetas


class VividGANGenerator(nn.Module):
    """Vivid-FHnet. forward(lr [B, 3, h, h], truth=None, centres=None) -> dict with "coarse", and unless
    use_fine=False: "fine", "prior", "crops" (component crops of the coarse face), "components" (their touched-up
    versions; prior "estimated"), "heatmaps" (use_component_module), "attention", "thetas".

    centres [B, 4, 2] or [4, 2]: where the components are cut (default: the template); truth [B, 3, H, H]: needed
    by prior="ground_truth" (V+GT). Outputs are clamped to [0, 1] in eval mode only."""

    def __init__(self, config: VividGANConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = VividGANConfig(**kwargs)
        elif kwargs:
            raise ValueError("pass either a VividGANConfig or keyword arguments, not both")
        self.config = c = config
        self.coarse = CoarseNet(c)
        self.touchup = TouchUpNet(c.touch_width) if c.use_fine and c.prior == "estimated" else None
        self.fine = FineNet(c) if c.use_fine else None
        self.register_buffer("template", torch.tensor(TEMPLATE_128) * (c.hr_size / 128))

    def components(self, img: torch.Tensor, centres: torch.Tensor | None = None) -> tuple[list, list]:
        """(crops of img, touched-up crops) around `centres` (default: the template)."""
        if self.touchup is None:
            raise ValueError("components: this generator has no touching-up subnetwork (prior != 'estimated')")
        crops = crop_components(img, self.template if centres is None else centres)
        return crops, [self.touchup(p, k) for k, p in enumerate(crops)]

    def forward(self, lr: torch.Tensor, truth: torch.Tensor | None = None,
                centres: torch.Tensor | None = None) -> dict:
        c = self.config
        if lr.ndim != 4 or lr.shape[1] != 3 or tuple(lr.shape[2:]) != (c.lr_size, c.lr_size):
            raise ValueError(f"VividGANGenerator: lr must be [B, 3, {c.lr_size}, {c.lr_size}], got {tuple(lr.shape)}")
        coarse, thetas = self.coarse(lr)
        out = {"coarse": coarse if self.training else coarse.clamp(0, 1), "thetas": thetas}
        if self.fine is None:
            return out
        if c.prior == "estimated":
            out["crops"], out["components"] = self.components(coarse, centres)
            prior = stitch_components(out["components"], self.template, c.hr_size)
        elif c.prior == "ground_truth":
            if truth is None or truth.shape != coarse.shape:
                raise ValueError(f"VividGANGenerator: prior='ground_truth' (V+GT) needs truth of shape "
                                 f"{tuple(coarse.shape)}, got {None if truth is None else tuple(truth.shape)}")
            prior = stitch_components(crop_components(truth, self.template if centres is None else centres),
                                      self.template, c.hr_size)
        else:
            prior = torch.zeros_like(coarse)
        fine, heat, attn, th = self.fine(coarse, prior)
        out.update(fine=fine if self.training else fine.clamp(0, 1), prior=prior, heatmaps=heat, attention=attn,
                   thetas=thetas + th)
        return out


def discriminator(c: VividGANConfig) -> PatchDiscriminator:
    """Coarse-D and Fine-D (sec. III-C): PatchGANs of the same shape."""
    return PatchDiscriminator(c.d_width, c.d_down)


def parameter_counts(gen: VividGANGenerator) -> dict[str, int]:
    """Trainable parameters per part and in total (compare with PAPER_PARAMETERS, whose unit is unclear)."""
    parts = {"coarse": gen.coarse, "touchup": gen.touchup, "fine": gen.fine}
    out = {k: (count_parameters(m) if m is not None else 0) for k, m in parts.items()}
    out["total"] = count_parameters(gen)
    return out


__all__ = ["COMPONENTS", "CROP_SIZES_128", "PAPER_PARAMETERS", "PRIORS", "TEMPLATE_128", "CoarseNet", "FTModule", "Frontaliser",
           "FineNet", "TouchUpNet", "VividGANConfig", "VividGANGenerator", "corners", "crop_components",
           "crop_sizes", "discriminator", "parameter_counts", "stitch_components"]
