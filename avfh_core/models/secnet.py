"""SECNet: Fang, Li, Han, Yu, "Self-Enhanced Convolutional Network for Facial Video Hallucination" (IEEE TIP 2020),
sec. II, Algorithm 4, Fig. 2. The networks; training and the tables are in avfh_core/train/secnet.py.

Per frame t of an LR sequence X^1..X^N (Algorithm 4, the part of sec. II that survived the text extraction):

    F^{t->k}  = FlowNet(X^t, X^k)                     k = t-T1..t+T1 (borders replicated), LR flows   (steps 4-5)
    Ỹ^t       = LFFNet(warp(X^k, F^{t->k}) for all k)  local frame fusion, x r                        (step 6)
    Y^{k->t}  = warp(Y^k, r * up(F^{t->k}).detach())   k = t-1..t-T2, Y^k = 0 for k <= 0 (rff)          (steps 7-8)
    E_1..E_3  = encoder([Ỹ^t, Y^{t-1->t}, ..., Y^{t-T2->t}])                                          (step 9)
    Ê_3       = SFE(E_3^t and up to T3 past E_3)       ConvLSTM (sfe) or a Table IV alternative      (steps 10-11)
    Y^t       = Ỹ^t + decoder(E_1, E_2, Ê_3)           the "refinement map of the initial prediction"  (step 12)

Reconstructions (sec. II-A/B and eqs. 1-3 were lost in extraction; each is a documented default, not a claim about
the authors' model): the flow network is VESPCN's coarse-to-fine design (`nn.flow.FlowNet`); LFFNet is early
fusion of the 2 T1 + 1 warped frames, residual blocks and x4 sub-pixel upsampling; the encoder input follows sec.
II-C1 (Ỹ^t and the warped previous outputs; Alg. 4 step 9 mentions the warped LR frames as well); the third scale
holds `res_blocks` residual blocks split half before the SFE (encoder) and half after it (decoder); the spatial
attention map (sec. II-C4) is sigmoid(conv(ReLU(conv(r)))) multiplying the residual branch.

Two choices of ours, for training on a CPU: LFFNet adds a global bicubic skip of X^t (the paper never says), and
every output head starts exactly at its skip (zero last conv, ICNR sub-pixel convs): the untrained LFFNet outputs
bicubic, the untrained ERFF outputs Ỹ^t, so the untrained SECNet outputs bicubic exactly (a test asserts it).

Variants (one config): `erff=False` is LFFNet alone (Tables II/III); `lff=False` is ERFFNet (Ỹ^t replaced by the
bicubic X^t, sec. III-A); `t1=0, erff=False` is a single-frame SR network of the same body; `align=False` fuses the
window without warping; `t2=0` turns rff off and `sfe="none"` turns sfe off (Table IV); `t2`, `t3` (Table VI),
`res_blocks` (Table VII) and `attention` (Table V, "none", "spatial" or "nonlocal") are the other ablation axes.
`oracle_flow=True` is our diagnostic, not the paper's (the spec's oracle-flow ablation): no flow network; every flow
F^{t->k} is the world's ground truth (`data.gtflow`), passed to forward as gt_flow, so the row shows what the
fusion could do with perfect motion.

Table IV's alternative temporal fusion modules (sec. III-C4, spec 2.7) replace the ConvLSTM SFE at scale 3; each is
a reconstruction (the paper names them and cites [16], [45], [23], nothing more): sfe="brcn" (BRCN's recurrent
convolutional unit in the fused bidirectional scheme, `BRCNBidirectional`), sfe="nonlocal" (embedded-Gaussian
non-local attention from E_3^t to the current and T3 past features, `NonLocal`), sfe="flowguided" (FGFA-style
aggregation of the flow-warped past features, `FlowGuidedAggregation`). Table V's attention="nonlocal" puts a
spatial `NonLocal` block after the last encoder and the last decoder residual block of the third scale (the
paper's blocks 4 and 8 of 8) and no spatial attention in the residual blocks.

`FRVSR` is the paper's strongest competitor (Table II, Sajjadi et al. 2018) as a baseline, with SECNet's flow
network (see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.models.vfhgan import icnr_
from avfh_core.nn.convlstm import BidirectionalCLSTM, OneWayCLSTM
from avfh_core.nn.flow import FlowNet, flow_loss, flow_warp, upsample_flow

SFE_KINDS = ("none", "oneway", "cascaded", "fused", "brcn", "nonlocal", "flowguided")
WINDOW_SFES = ("cascaded", "fused", "brcn", "nonlocal", "flowguided")  # over the current and up to T3 past E_3
ATTENTIONS = ("none", "spatial", "nonlocal")
# Table II of the paper: parameter counts (SECNet = LFFNet + ERFF module + flow network, fused BCLSTM T3 = 6)
PAPER_PARAMS = {"lffnet": 3_382_405, "erffnet": 4_551_237, "secnet": 5_334_792}


@dataclass(frozen=True)
class SECNetConfig:
    """Sizes and switches. Defaults are the course sizes (16 -> 64 px on a CPU); `SECNetConfig.paper()` has the
    paper's hyper-parameters (T1 2, T2 2, T3 6, fused BCLSTM, 8 residual blocks, spatial attention) and the
    widths reconstructed from Table II's parameter counts (32/64/64 in the ERFF, 64 in LFFNet)."""

    scale: int = 4
    t1: int = 2  # LR half-window of LFFNet: 2 T1 + 1 frames
    t2: int = 2  # previous super-resolved frames fused (rff); 0 = rff off
    t3: int = 2  # past third-scale features in the bidirectional SFE (the paper's model: 6)
    sfe: str = "fused"  # SFE_KINDS
    lff: bool = True  # False: ERFFNet (the bicubic X^t instead of Ỹ^t)
    erff: bool = True  # False: LFFNet alone
    align: bool = True  # False: LFFNet fuses the window without warping
    attention: str = "spatial"  # ATTENTIONS: "spatial" in every ERFF residual block, "nonlocal" at scale 3
    flow_width: int = 16
    max_flow: float = 4.0  # LR pixels per branch (tanh x max_flow)
    lff_width: int = 32
    lff_blocks: int = 4
    widths: tuple[int, int, int] = (16, 32, 16)  # ERFF scales 1-3
    res_blocks: int = 4  # third scale, split half encoder / half decoder
    oracle_flow: bool = False  # ground-truth flows (forward's gt_flow) instead of a flow network

    def __post_init__(self):
        if not isinstance(self.scale, int) or self.scale < 2 or self.scale & (self.scale - 1):
            raise ValueError(f"SECNetConfig.scale must be a power of 2 >= 2, got {self.scale!r}")
        for name in ("t1", "t2", "t3"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"SECNetConfig.{name} must be an int >= 0, got {v!r}")
        if self.sfe not in SFE_KINDS:
            raise ValueError(f"SECNetConfig.sfe must be one of {SFE_KINDS}, got {self.sfe!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"SECNetConfig.attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if not (self.lff or self.erff):
            raise ValueError("SECNetConfig: lff=False and erff=False leaves no network (bicubic is models.baselines)")
        if len(self.widths) != 3 or any(not isinstance(w, int) or w < 1 for w in self.widths):
            raise ValueError(f"SECNetConfig.widths must be three ints >= 1, got {self.widths!r}")
        for name in ("flow_width", "lff_width", "lff_blocks", "res_blocks"):
            if getattr(self, name) < (0 if name.endswith("blocks") else 1):
                raise ValueError(f"SECNetConfig.{name} is out of range: {getattr(self, name)!r}")
        if not self.max_flow > 0:
            raise ValueError(f"SECNetConfig.max_flow must be > 0, got {self.max_flow!r}")

    @classmethod
    def paper(cls, **overrides) -> SECNetConfig:
        return replace(cls(t3=6, flow_width=24, lff_width=64, lff_blocks=8, widths=(32, 64, 64), res_blocks=8),
                       **overrides)

    @property
    def frames(self) -> int:
        return 2 * self.t1 + 1

    @property
    def uses_flow(self) -> bool:
        return (self.lff and self.align and self.t1 > 0) or (self.erff and (self.t2 > 0 or self.flow_sfe))

    @property
    def flow_sfe(self) -> bool:
        """True when the SFE warps past features by the flow (sfe="flowguided" with T3 >= 1)."""
        return self.sfe == "flowguided" and self.t3 > 0

    def offsets(self) -> list[int]:
        """The frame offsets k - t whose flow F^{t->k} a frame needs (window neighbours, previous outputs and, for
        the flow-guided SFE, the T3 past features: F^{t->k} computed directly by the flow network for every
        offset beyond T2, like the others, not composed)."""
        out = set()
        if self.lff and self.align:
            out |= {o for o in range(-self.t1, self.t1 + 1) if o}
        if self.erff:
            out |= {-j for j in range(1, self.t2 + 1)}
            if self.flow_sfe:
                out |= {-j for j in range(1, self.t3 + 1)}
        return sorted(out)

    def as_dict(self) -> dict:
        return asdict(self)


class ResBlock(nn.Module):
    """conv3x3-ReLU-conv3x3 + identity (no BN); attention="spatial" multiplies the residual branch by a spatial
    map sigmoid(conv3x3(ReLU(conv3x3(r -> C/4))) -> 1) (sec. II-C4: "two convolution layers and one ReLU layer ...
    suppress activations of pixels with low attention values"; the sigmoid is ours)."""

    def __init__(self, ch: int, attention: str = "none"):
        super().__init__()
        if attention not in ("none", "spatial"):
            raise ValueError(f"ResBlock: attention must be 'none' or 'spatial', got {attention!r}")
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(ch, ch, 3, padding=1))
        self.att = None
        if attention == "spatial":
            mid = max(1, ch // 4)
            self.att = nn.Sequential(nn.Conv2d(ch, mid, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(mid, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.body(x)
        if self.att is not None:
            r = r * torch.sigmoid(self.att(r))
        return x + r


def _zero(conv: nn.Conv2d) -> nn.Conv2d:
    nn.init.zeros_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


# ----------------------------------------------------------------------------------------------------------------
# Table IV's alternative temporal fusion modules and Table V's non-local attention (reconstructions, spec 2.7)


class BRCNCell(nn.Module):
    """BRCN's recurrent convolutional unit (Huang, Wang, Wang, NIPS 2015) [reconstruction: SECNet only cites it]:
    H^k = ReLU(W_v * X^k + W_r * H^{k-1} + W_t * X^{k-1} + b), the feed-forward conv of the input, the recurrent
    conv of the previous hidden state and the conditional conv of the previous input (all k x k). The interface of
    `nn.convlstm.ConvLSTMCell`: forward(x [B,Cin,h,w], state (H^{k-1}, X^{k-1}) or None = zeros) -> (H^k, X^k)."""

    def __init__(self, in_ch: int, hidden: int, kernel: int = 3):
        super().__init__()
        if in_ch < 1 or hidden < 1 or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"BRCNCell: in_ch, hidden >= 1 and an odd kernel, got {in_ch}, {hidden}, {kernel}")
        self.in_ch, self.hidden = in_ch, hidden
        self.feedforward = nn.Conv2d(in_ch, hidden, kernel, padding=kernel // 2)
        self.recurrent = nn.Conv2d(hidden, hidden, kernel, padding=kernel // 2, bias=False)
        self.conditional = nn.Conv2d(in_ch, hidden, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        if x.ndim != 4 or x.shape[1] != self.in_ch:
            raise ValueError(f"BRCNCell: x must be [B,{self.in_ch},h,w], got {tuple(x.shape)}")
        if state is None:
            state = (x.new_zeros(x.shape[0], self.hidden, *x.shape[-2:]), torch.zeros_like(x))
        h_prev, x_prev = state
        h = F.relu(self.feedforward(x) + self.recurrent(h_prev) + self.conditional(x_prev))
        return h, x


class BRCNBidirectional(nn.Module):
    """sfe="brcn" (Table IV "recurrent unit in [23]") [reconstruction]: the fused bidirectional scheme of
    `nn.convlstm.BidirectionalCLSTM` (backward pass from the current frame over the past window, forward pass with
    [H_b^k, E^k] as input, Ê = H_f^t) with `BRCNCell` in place of both ConvLSTM cells. Composition: the scheme's
    two cells are swapped for BRCN cells, its forward (the window loops) is reused as is. forward(window) -> Ê."""

    def __init__(self, channels: int):
        super().__init__()
        self.scheme = BidirectionalCLSTM(channels, "fused")
        self.scheme.backward_cell = BRCNCell(channels, channels)
        self.scheme.forward_cell = BRCNCell(2 * channels, channels)

    def forward(self, window: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.scheme(window)


class NonLocal(nn.Module):
    """Embedded-Gaussian non-local operation (Wang et al., CVPR 2018, SECNet's [16]) [reconstruction of the exact
    layers]: y_i = sum_j softmax_j(theta(q)_i . phi(k)_j) g(k)_j over every position j of every key/value map,
    out = q + W(y) with W a 1x1 conv that starts at zero (the block is the identity at init). theta, phi, g are
    1x1 convs to max(1, C/2) channels; no 1/sqrt(d) scaling (the embedded-Gaussian form of the paper).
    forward(q [B,C,h,w], keys: maps [B,C,h,w] (default: q itself, the spatial block)) -> [B,C,h,w]."""

    def __init__(self, channels: int, inner: int | None = None):
        super().__init__()
        inner = max(1, channels // 2) if inner is None else inner
        if channels < 1 or inner < 1:
            raise ValueError(f"NonLocal: channels and inner must be >= 1, got {channels}, {inner}")
        self.channels = channels
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = _zero(nn.Conv2d(inner, channels, 1))

    def attention(self, q: torch.Tensor, keys: Sequence[torch.Tensor]) -> torch.Tensor:
        """The attention weights [B, h*w (queries), K*h*w (keys of every map)]; each row sums to 1."""
        b = q.shape[0]
        theta = self.theta(q).flatten(2).transpose(1, 2)  # [B, hw, C']
        phi = torch.cat([self.phi(k).flatten(2) for k in keys], 2)  # [B, C', K hw]
        return torch.softmax(torch.bmm(theta, phi), dim=-1).view(b, theta.shape[1], -1)

    def forward(self, q: torch.Tensor, keys: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        keys = [q] if keys is None else list(keys)
        if len(keys) == 0:
            raise ValueError("NonLocal: keys is empty (it holds at least one feature map)")
        for k in (q, *keys):
            if k.ndim != 4 or k.shape[1] != self.channels or k.shape[-2:] != q.shape[-2:] or k.shape[0] != q.shape[0]:
                raise ValueError(f"NonLocal: queries and keys must be [B,{self.channels},h,w] of one size, "
                                 f"got {tuple(q.shape)} and {tuple(k.shape)}")
        b, _, h, w = q.shape
        g = torch.cat([self.g(k).flatten(2) for k in keys], 2).transpose(1, 2)  # [B, K hw, C']
        y = torch.bmm(self.attention(q, keys), g).transpose(1, 2).reshape(b, -1, h, w)
        return q + self.out(y)


class NonLocalTemporal(nn.Module):
    """sfe="nonlocal" (Table IV "non-local attention, T3 = 2") [reconstruction]: `NonLocal` with E_3^t as the
    queries and the current and up to T3 past E_3 as keys/values (causal). forward(window, oldest first) -> Ê."""

    def __init__(self, channels: int):
        super().__init__()
        self.block = NonLocal(channels)

    def forward(self, window: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(window) == 0:
            raise ValueError("NonLocalTemporal: the feature window is empty (it holds at least the current frame)")
        return self.block(window[-1], window)


def flow_to_scale3(flow: torch.Tensor, scale: int) -> torch.Tensor:
    """An LR flow [B,2,h,w] as a flow of the ERFF's third scale (1/4 of HR, i.e. h * scale / 4): resized
    bilinearly, magnitudes x scale / 4 (the identity at scale 4, where the third scale is the LR grid)."""
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow_to_scale3: flow must be [B,2,h,w], got {tuple(flow.shape)}")
    if scale == 4:
        return flow
    size = (flow.shape[-2] * scale // 4, flow.shape[-1] * scale // 4)
    return F.interpolate(flow, size=size, mode="bilinear", align_corners=False) * (scale / 4)


class FlowGuidedAggregation(nn.Module):
    """sfe="flowguided" (Table IV "flow-guided attention, T3 = 2"), FGFA-style (Zhu et al., ICCV 2017, SECNet's
    [45]) [reconstruction]: each past E_3^k is warped to t by the (detached, third-scale) flow F^{t->k}; a shared
    embedding (1x1 -> ReLU -> 3x3 -> ReLU -> 1x1, FGFA's three layers) of E_3^t and of every warped feature; per
    pixel, weights = softmax over the frames (the current one included) of the cosine similarity of the embeddings;
    Ê = the weighted sum of the warped features (E_3^t itself for the current frame).
    forward(window (oldest first, the current last), flows [F^{t->t-1}, F^{t->t-2}, ...] at the third scale, at
    least len(window) - 1 of them) -> Ê."""

    def __init__(self, channels: int):
        super().__init__()
        if channels < 1:
            raise ValueError(f"FlowGuidedAggregation: channels must be >= 1, got {channels}")
        mid = max(1, channels // 2)
        self.embed = nn.Sequential(nn.Conv2d(channels, mid, 1), nn.ReLU(inplace=True),
                                   nn.Conv2d(mid, mid, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.Conv2d(mid, channels, 1))

    def aligned(self, window: Sequence[torch.Tensor], flows: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
        """[E^t, warp(E^{t-1}, F^{t->t-1}), warp(E^{t-2}, F^{t->t-2}), ...] (the current frame first)."""
        if len(window) == 0:
            raise ValueError("FlowGuidedAggregation: the feature window is empty (it holds at least the current frame)")
        n_past = len(window) - 1
        flows = list(flows or [])
        if len(flows) < n_past:
            raise ValueError(f"FlowGuidedAggregation: {n_past} past features need {n_past} flows F^(t->k), "
                             f"got {len(flows)}")
        return [window[-1]] + [flow_warp(window[-1 - j], flows[j - 1]) for j in range(1, n_past + 1)]

    def weights(self, window: Sequence[torch.Tensor], flows: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The aggregation weights [B, K, 1, h, w] (K = len(window), the current frame first); they sum to 1
        over K at every pixel."""
        return self._weights(self.aligned(window, flows))

    def _weights(self, feats: list[torch.Tensor]) -> torch.Tensor:
        emb = [F.normalize(self.embed(f), dim=1, eps=1e-6) for f in feats]
        cos = torch.stack([(emb[0] * e).sum(1, keepdim=True) for e in emb], 1)  # [B, K, 1, h, w]
        return torch.softmax(cos, dim=1)

    def forward(self, window: Sequence[torch.Tensor], flows: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        feats = self.aligned(window, flows)
        return (self._weights(feats) * torch.stack(feats, 1)).sum(1)


class LFFNet(nn.Module):
    """Local frame fusion (sec. II-B, reconstructed): early fusion of the 2 T1 + 1 (warped) LR frames, residual
    blocks, x scale sub-pixel upsampling, plus the bicubic X^t. forward(window [B,2T1+1,3,h,w]) -> Ỹ^t [B,3,H,W]."""

    def __init__(self, config: SECNetConfig):
        super().__init__()
        c, w = config, config.lff_width
        self.config = c
        self.head = nn.Conv2d(3 * c.frames, w, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(w) for _ in range(c.lff_blocks)], nn.Conv2d(w, w, 3, padding=1))
        up: list[nn.Module] = []
        for _ in range(int(math.log2(c.scale))):
            up += [icnr_(nn.Conv2d(w, 4 * w, 3, padding=1), 2), nn.PixelShuffle(2), nn.ReLU(inplace=True)]
        self.up = nn.Sequential(*up)
        self.tail = _zero(nn.Conv2d(w, 3, 3, padding=1))

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        c = self.config
        if window.ndim != 5 or window.shape[1] != c.frames or window.shape[2] != 3:
            raise ValueError(f"LFFNet: window must be [B,{c.frames},3,h,w], got {tuple(window.shape)}")
        b, t, _, h, w = window.shape
        f0 = F.relu(self.head(window.reshape(b, t * 3, h, w)))
        out = self.tail(self.up(f0 + self.body(f0)))
        skip = F.interpolate(window[:, c.t1], scale_factor=c.scale, mode="bicubic", align_corners=False)
        return out + skip


class ERFF(nn.Module):
    """The enhanced recurrent frame fusion module (sec. II-C1): a three-scale encoder-decoder with skips at scales
    1-2; the third scale (1/4 of HR) holds res_blocks residual blocks around the SFE. forward(x [B,3(1+T2),H,W],
    sfe_state, flows) -> (refinement [B,3,H,W], new sfe_state); flows (sfe="flowguided" only): the third-scale
    flows [F^{t->t-1}, ..., F^{t->t-T3}] (`flow_to_scale3`). The last conv starts at zero (refinement 0 at init).
    attention="nonlocal": a `NonLocal` block after the last encoder residual block of the third scale and one after
    the last decoder one (the paper's blocks 4 and 8 of 8; with an odd res_blocks the encoder holds the extra
    block), and no spatial attention in any residual block."""

    def __init__(self, config: SECNetConfig):
        super().__init__()
        self.config = c = config
        c1, c2, c3 = c.widths
        att = "spatial" if c.attention == "spatial" else "none"
        n_enc = c.res_blocks - c.res_blocks // 2
        self.enc1 = nn.Sequential(nn.Conv2d(3 * (1 + c.t2), c1, 3, padding=1), nn.ReLU(inplace=True), ResBlock(c1, att))
        self.enc2 = nn.Sequential(nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(inplace=True), ResBlock(c2, att))
        self.enc3 = nn.Sequential(nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.ReLU(inplace=True),
                                  *[ResBlock(c3, att) for _ in range(n_enc)])
        self.sfe: nn.Module | None = None
        if c.sfe == "oneway":
            self.sfe = OneWayCLSTM(c3)
        elif c.sfe in ("cascaded", "fused"):
            self.sfe = BidirectionalCLSTM(c3, c.sfe)
        elif c.sfe == "brcn":
            self.sfe = BRCNBidirectional(c3)
        elif c.sfe == "nonlocal":
            self.sfe = NonLocalTemporal(c3)
        elif c.sfe == "flowguided":
            self.sfe = FlowGuidedAggregation(c3)
        self.dec3 = nn.Sequential(*[ResBlock(c3, att) for _ in range(c.res_blocks // 2)])
        self.nonlocal_enc = NonLocal(c3) if c.attention == "nonlocal" else None
        self.nonlocal_dec = NonLocal(c3) if c.attention == "nonlocal" else None
        self.up2 = nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1)
        self.dec2 = ResBlock(c2, att)
        self.up1 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.dec1 = ResBlock(c1, att)
        self.tail = _zero(nn.Conv2d(c1, 3, 3, padding=1))

    def forward(self, x: torch.Tensor, state=None, flows: Sequence[torch.Tensor] | None = None):
        c = self.config
        if x.ndim != 4 or x.shape[1] != 3 * (1 + c.t2) or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"ERFF: input must be [B,{3 * (1 + c.t2)},H,W] with H, W multiples of 4, "
                             f"got {tuple(x.shape)}")
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        if self.nonlocal_enc is not None:
            e3 = self.nonlocal_enc(e3)
        if c.sfe == "oneway":
            e3_hat, state = self.sfe(e3, state)
        elif c.sfe in WINDOW_SFES:
            window = [*(state or [])][-c.t3:] if c.t3 else []
            window = window + [e3]
            e3_hat = self.sfe(window, flows) if c.sfe == "flowguided" else self.sfe(window)
            state = window  # the current and up to T3 past features (Alg. 4 steps 10, 15)
        else:
            e3_hat = e3
        d3 = self.dec3(e3_hat)
        if self.nonlocal_dec is not None:
            d3 = self.nonlocal_dec(d3)
        d2 = self.dec2(F.relu(self.up2(d3)) + e2)
        d1 = self.dec1(F.relu(self.up1(d2)) + e1)
        return self.tail(d1), state


class SECNet(nn.Module):
    """The whole model (Algorithm 4) and its variants (see the module docstring). forward(lr [B,N,3,h,w],
    alpha=0.01, erff=True) -> dict(sr [B,N,3,H,W] (Y), init [B,N,3,H,W] (Ỹ), flow_loss (mean L_f over frames and
    the flows used; 0 without a flow network)). erff=False skips the ERFF (sr = init: training stage 1). Values are
    not clamped (the caller clamps for scoring)."""

    def __init__(self, config: SECNetConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = SECNetConfig(**kwargs)
        elif kwargs:
            raise ValueError("SECNet: pass either a SECNetConfig or keyword arguments, not both")
        self.config = c = config
        self.flow = FlowNet(c.flow_width, c.max_flow) if c.uses_flow and not c.oracle_flow else None
        self.lffnet = LFFNet(c) if c.lff else None
        self.erff = ERFF(c) if c.erff else None

    def forward(self, lr: torch.Tensor, alpha: float = 0.01, erff: bool = True,
                gt_flow: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        c = self.config
        use_erff = erff and self.erff is not None
        if lr.ndim != 5 or lr.shape[2] != 3:
            raise ValueError(f"SECNet: lr must be [B,N,3,h,w], got {tuple(lr.shape)}")
        oracle = self._oracle_index(lr, gt_flow)
        if self.flow is not None and (lr.shape[-1] % 4 or lr.shape[-2] % 4):
            raise ValueError(f"SECNet: the LR frame size must be a multiple of 4 (flow network), got {tuple(lr.shape[-2:])}")
        n = lr.shape[1]
        srs, inits, f_terms = [], [], []
        prev: list[torch.Tensor] = []  # Y^{t-1}, Y^{t-2}, ... (most recent first)
        state = None
        for t in range(n):
            x = lr[:, t]
            flows, warped = {}, {}
            for o in (c.offsets() if use_erff else [o for o in c.offsets() if abs(o) <= c.t1 and c.align]):
                other = lr[:, min(max(t + o, 0), n - 1)]  # replicate padding in time (Alg. 4 step 3)
                flows[o] = self.flow(x, other) if oracle is None else gt_flow[:, t, oracle[o]]
                warped[o] = flow_warp(other, flows[o])
                if oracle is None:  # the true flow has nothing to learn
                    f_terms.append(flow_loss(x, warped[o], flows[o], alpha))
            if self.lffnet is not None:
                window = []
                for o in range(-c.t1, c.t1 + 1):
                    if o == 0:
                        window.append(x)
                    else:
                        window.append(warped[o] if c.align else lr[:, min(max(t + o, 0), n - 1)])
                init = self.lffnet(torch.stack(window, 1))
            else:
                init = F.interpolate(x, scale_factor=c.scale, mode="bicubic", align_corners=False)
            y = init
            if use_erff:
                parts = [init]
                for j in range(1, c.t2 + 1):
                    if j <= len(prev):
                        parts.append(flow_warp(prev[j - 1], upsample_flow(flows[-j].detach(), c.scale)))
                    else:
                        parts.append(torch.zeros_like(init))  # Y^k = 0 for k <= 0 (Alg. 4 step 7)
                sfe_flows = None
                if c.flow_sfe:  # the past features' flows at the third scale, detached like rff's
                    sfe_flows = [flow_to_scale3(flows[-j].detach(), c.scale) for j in range(1, c.t3 + 1)]
                refinement, state = self.erff(torch.cat(parts, 1), state, sfe_flows)
                y = init + refinement
                prev = [y, *prev][: c.t2]
            srs.append(y)
            inits.append(init)
        fl = torch.stack(f_terms).mean() if f_terms else lr.new_zeros(())
        return dict(sr=torch.stack(srs, 1), init=torch.stack(inits, 1), flow_loss=fl)

    def _oracle_index(self, lr: torch.Tensor, gt_flow: torch.Tensor | None) -> dict[int, int] | None:
        """{offset: index on gt_flow's K axis} for an oracle_flow model (gt_flow [B,N,K,2,h,w] over the offsets
        `data.gtflow.flow_offsets(K // 2)`); None otherwise."""
        c = self.config
        if not c.oracle_flow:
            if gt_flow is not None:
                raise ValueError("SECNet: gt_flow is for an oracle_flow model (SECNetConfig.oracle_flow=True)")
            return None
        if gt_flow is None:
            raise ValueError("SECNet: an oracle_flow model needs gt_flow [B,N,K,2,h,w] (data.gtflow.FlowItems)")
        b, n, _, h, w = lr.shape
        if gt_flow.ndim != 6 or tuple(gt_flow.shape[:2]) != (b, n) or gt_flow.shape[3] != 2 \
                or tuple(gt_flow.shape[-2:]) != (h, w) or gt_flow.shape[2] % 2:
            raise ValueError(f"SECNet: gt_flow must be [B,N,K,2,h,w] = [{b},{n},K,2,{h},{w}] with K even, got "
                             f"{tuple(gt_flow.shape)}")
        m = gt_flow.shape[2] // 2
        offsets = [o for o in range(-m, m + 1) if o]
        need = [o for o in c.offsets() if o not in offsets]
        if need:
            raise ValueError(f"SECNet: gt_flow covers offsets +-{m}, the model needs {c.offsets()}")
        return {o: k for k, o in enumerate(offsets)}


@dataclass(frozen=True)
class FRVSRConfig:
    """Sizes of the FRVSR baseline (sizes from the preset like SECNet's: flow network as SECNet's, SR net as
    LFFNet's width and blocks; `train.secnet.SECNetRun.frvsr_config`)."""

    scale: int = 4
    flow_width: int = 16
    max_flow: float = 4.0
    width: int = 32
    blocks: int = 4

    def __post_init__(self):
        if not isinstance(self.scale, int) or self.scale < 2 or self.scale & (self.scale - 1):
            raise ValueError(f"FRVSRConfig.scale must be a power of 2 >= 2, got {self.scale!r}")
        for name, lo in (("flow_width", 1), ("width", 1), ("blocks", 0)):
            v = getattr(self, name)
            if not isinstance(v, int) or v < lo:
                raise ValueError(f"FRVSRConfig.{name} must be an int >= {lo}, got {v!r}")
        if not self.max_flow > 0:
            raise ValueError(f"FRVSRConfig.max_flow must be > 0, got {self.max_flow!r}")

    def as_dict(self) -> dict:
        return asdict(self)


class FRVSR(nn.Module):
    """FRVSR (Sajjadi, Vemulapalli, Brown, "Frame-Recurrent Video Super-Resolution", CVPR 2018), the paper's
    strongest competitor (Table II), as a baseline. Per frame t of an LR clip X^1..X^N:

        F^t   = FlowNet(X^t, X^{t-1})                    LR flow (X^{t-1} warped onto X^t)
        Ŷ^t   = warp(Y^{t-1}, up_r(F^t))                 the previous HR estimate, warped (Y^0 = 0, black)
        Y^t   = bicubic(X^t) + SRNet([X^t, s2d_r(Ŷ^t)])  s2d = space-to-depth (pixel unshuffle) to LR size

    SRNet: conv3x3 -> ReLU -> `blocks` residual blocks (+ a global skip) -> x r sub-pixel upsampling -> conv3x3
    starting at zero. Loss (FRVSR's, `train.secnet`): MSE(Y, HR) over all frames + the warping MSE of X^{t-1} onto
    X^t (weight 1, as the TecoGAN-PyTorch FRVSR recipe; no smoothness term).

    Open choices (ours): the flow network is `nn.flow.FlowNet` (VESPCN's coarse-to-fine design, the one SECNet
    uses) instead of FRVSR's FNet encoder-decoder, so FRVSR vs SECNet isolates the recurrence and fusion, not the
    flow estimator; the bicubic skip of X^t and the zero-initialised head (the untrained FRVSR outputs bicubic
    exactly, as every generator here); the gradient of the SR loss flows into the flow network (FRVSR trains end
    to end; SECNet cuts it); for the first frame there is no flow (the warped previous estimate is the black Y^0).
    forward(lr [B,N,3,h,w]) -> dict(sr [B,N,3,H,W] (unclamped), flow_loss (mean warping MSE over frames 2..N; 0
    for N = 1))."""

    def __init__(self, config: FRVSRConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = FRVSRConfig(**kwargs)
        elif kwargs:
            raise ValueError("FRVSR: pass either a FRVSRConfig or keyword arguments, not both")
        self.config = c = config
        w, r = c.width, c.scale
        self.flow = FlowNet(c.flow_width, c.max_flow)
        self.head = nn.Conv2d(3 + 3 * r * r, w, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(w) for _ in range(c.blocks)], nn.Conv2d(w, w, 3, padding=1))
        up: list[nn.Module] = []
        for _ in range(int(math.log2(r))):
            up += [icnr_(nn.Conv2d(w, 4 * w, 3, padding=1), 2), nn.PixelShuffle(2), nn.ReLU(inplace=True)]
        self.up = nn.Sequential(*up)
        self.tail = _zero(nn.Conv2d(w, 3, 3, padding=1))

    def forward(self, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        r = self.config.scale
        if lr.ndim != 5 or lr.shape[2] != 3:
            raise ValueError(f"FRVSR: lr must be [B,N,3,h,w], got {tuple(lr.shape)}")
        if lr.shape[-1] % 4 or lr.shape[-2] % 4:
            raise ValueError(f"FRVSR: the LR frame size must be a multiple of 4 (flow network), got {tuple(lr.shape[-2:])}")
        b, n, _, h, w = lr.shape
        srs, f_terms = [], []
        prev = lr.new_zeros(b, 3, h * r, w * r)  # Y^0: a black previous frame
        for t in range(n):
            x = lr[:, t]
            if t == 0:
                warped = prev
            else:
                flow = self.flow(x, lr[:, t - 1])
                f_terms.append(flow_loss(x, flow_warp(lr[:, t - 1], flow), flow, alpha=0.0))
                warped = flow_warp(prev, upsample_flow(flow, r))
            f0 = F.relu(self.head(torch.cat([x, F.pixel_unshuffle(warped, r)], 1)))
            skip = F.interpolate(x, scale_factor=r, mode="bicubic", align_corners=False)
            prev = skip + self.tail(self.up(f0 + self.body(f0)))
            srs.append(prev)
        fl = torch.stack(f_terms).mean() if f_terms else lr.new_zeros(())
        return dict(sr=torch.stack(srs, 1), flow_loss=fl)


def param_counts(config: SECNetConfig) -> dict[str, int]:
    """Parameters of each part (flow, lffnet, erff) and the total of a model built from `config`."""
    m = SECNet(config)
    parts = {k: sum(p.numel() for p in getattr(m, k).parameters()) if getattr(m, k) is not None else 0
             for k in ("flow", "lffnet", "erff")}
    parts["total"] = sum(parts.values())
    return parts


__all__ = ["ATTENTIONS", "BRCNBidirectional", "BRCNCell", "ERFF", "FRVSR", "FRVSRConfig", "FlowGuidedAggregation",
           "LFFNet", "NonLocal", "NonLocalTemporal", "PAPER_PARAMS", "ResBlock", "SECNet", "SECNetConfig", "SFE_KINDS",
           "WINDOW_SFES", "flow_to_scale3", "param_counts"]
