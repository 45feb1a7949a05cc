"""VividGAN (Zhang, Tsang, Li, Liu, Lu, Yu, "Face Hallucination with Finishing Touches", IEEE TIP 30, 2021),
sec. III-D/E and IV-V: the objective, the three training stages and the tables, as the per-paper contract of
CONTRIBUTING.md (shared code: train/experiment.py, train/evaluate.py). Networks: models/vividgan.py; pairs:
data/frontal_pairs.py.

The objective (h = frontal truth, c = coarse face, f = fine face, t = touched-up components):

    L_C = L_mse(c) + L_sym(c) + a1 L_id(c) + p1 L_adv(Coarse-D(c))                      (eq. 9; eqs. 3, 4, 5, 8)
    L_T = L_mse(t)  (each component against the same crop of h)                         (eq. 10)
    L_F = L_mse(f) + a2 L_id(f) + g2 L_h(heatmaps, heatmaps of h's landmarks) + p2 L_adv(Fine-D(f))  (eq. 11; eq. 6)
    L_G = L_C + L_T + L_F                                                               (eq. 12)
    L_D = -E[log D(h) + log(1 - D(.))] for Coarse-D and Fine-D                          (eq. 7)

Weights (`PAPER_WEIGHTS`): a1 = p1 = a2 = g2 = p2 = 0.01 and 1 for the mse and symmetry terms, as the paper
(sec. III-E: "lower weights on L_id, L_h and L_adv"). Open choices (ours): every term uses a mean reduction (the
paper's Frobenius norms are sums; with means the relative sizes change, so each run logs every term's value and
its share of the generator's gradient norm at step 0 of each stage and every cfg.vividgan_grad_every steps); Phi of
L_id is the in-project FeatureNet's pooled embedding (`train.pretrain.load_feature_net`, trained on the world's
identities; the paper's is ImageNet ResNet-50's average pool); the heatmap targets of eq. 6 are Gaussians (sigma
1 cell) at the truth's exact landmarks on the LR grid where the hourglass runs (`data.landmarks.landmark_heatmaps`).

Stages (sec. III-E): (i) the coarse network with L_C (cfg.vividgan_coarse_steps); (ii) the touching-up U-Net with
L_T on component crops of the frozen coarse faces of the training pairs (cfg.vividgan_touch_steps); (iii) everything
with L_G, both discriminators with L_D (cfg.vividgan_joint_steps); learning rates: the paper's 1e-3 for the
fine-integration network and 1e-4 elsewhere (cfg.vividgan_fine_lr, cfg.vividgan_lr; short presets raise the
latter). Optimiser, batch, D/G ratio: not given (ours: Adam(0.9, 0.99) for G, Adam(0.5, 0.999) for the Ds, one D
step per G step). VividGAN-dagger trained alone ("coarse") and the TANN stand-in ("tann": `tann_width`) get stage
(i) for the steps of stages (i) + (iii).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.data import synth
from avfh_core.data.batching import spread_indices, step_batches
from avfh_core.data.degrade import bicubic_down, bicubic_up
from avfh_core.data.frontal_pairs import FrontalPairs, grid_yaws
from avfh_core.data.landmarks import landmark_heatmaps
from avfh_core.losses.adversarial import vanilla_d_loss, vanilla_g_loss
from avfh_core.losses.face_structure import heatmap_loss, identity_loss, symmetry_loss
from avfh_core.metrics.image import box_mask, psnr, ssim
from avfh_core.models.vividgan import (
    Frontaliser,
    VividGANConfig,
    VividGANGenerator,
    crop_components,
    discriminator,
)
from avfh_core.nn.init import build, seeded
from avfh_core.train.experiment import Trained
from avfh_core.train.loop import TrainLog, frozen, gradient_shares, train_loop

PAPER = "vividgan"
PAPER_WEIGHTS: dict[str, float] = dict(c_mse=1.0, c_sym=1.0, c_id=0.01, c_adv=0.01, t_mse=1.0, f_mse=1.0,
                                       f_id=0.01, f_h=0.01, f_adv=0.01)
MODELS = ("vividgan", "coarse", "tann", "bicubic", "f_bicubic", "bicubic_f", "f_srresnet", "srresnet_f")
# model -> the key of its frontaliser; the "*srresnet*" cascades also have a learned SR network ("sr", `SR_CASCADES`)
CASCADES = {"f_bicubic": "frontaliser_lr", "bicubic_f": "frontaliser_hr", "f_srresnet": "frontaliser_lr",
            "srresnet_f": "frontaliser_hr"}
SR_CASCADES = ("f_srresnet", "srresnet_f")
TANN_PARAMETER_RATIO = 196_231 / 242_089  # Tab. IV: TANN's parameters over VividGAN's
WORLD_KEYS = ("side_light", "symmetric_truth")


@dataclass(frozen=True)
class VividGANRun:
    """One table row: model ("vividgan", "coarse" = VividGAN-dagger trained alone, "tann" = the single-stage joint
    stand-in of TANN (`tann_width`), "bicubic" = the LR face upsampled, "f_bicubic" / "bicubic_f" = Tab. I's
    two-step cascades F + Bicubic / Bicubic + F with our frontaliser F, `train_cascade`; "f_srresnet" /
    "srresnet_f" = the same with a learned SR network in place of Bicubic, an SRResNet-style stand-in for Tab. I's
    WaveletSRNet, SRGAN, CBN and TDAE), generator (VividGANConfig overrides), weights (overrides of PAPER_WEIGHTS), world (pair knobs of
    data.frontal_pairs: side_light, symmetric_truth). Build it with `make` so equal runs cache equal."""

    model: str = "vividgan"
    generator: tuple[tuple[str, Any], ...] = ()
    weights: tuple[tuple[str, float], ...] = ()
    world: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        bad = [k for k, _ in self.weights if k not in PAPER_WEIGHTS]
        if bad:
            raise ValueError(f"unknown loss weight(s) {bad}; known: {sorted(PAPER_WEIGHTS)}")
        bad = [k for k, _ in self.world if k not in WORLD_KEYS]
        if bad:
            raise ValueError(f"unknown world knob(s) {bad}; known: {WORLD_KEYS}")

    @classmethod
    def make(cls, model: str = "vividgan", generator: Mapping | None = None, weights: Mapping | None = None,
             world: Mapping | None = None) -> VividGANRun:
        wts = {k: float(v) for k, v in (weights or {}).items() if PAPER_WEIGHTS.get(k) != v}
        return cls(model, tuple(sorted((generator or {}).items())), tuple(sorted(wts.items())),
                   tuple(sorted((world or {}).items())))

    def loss_weights(self) -> dict[str, float]:
        w = {**PAPER_WEIGHTS, **({"c_sym": 0.0} if self.model == "tann" else {}), **dict(self.weights)}
        if self.model in CASCADES:
            return {k: (v if k == "c_mse" else 0.0) for k, v in w.items()}
        if self.model in ("coarse", "tann") or dict(self.generator).get("use_fine") is False:
            w.update(t_mse=0.0, f_mse=0.0, f_id=0.0, f_h=0.0, f_adv=0.0)
        return w

    def generator_config(self, cfg) -> VividGANConfig:
        g = dict(self.generator)
        if self.model in ("coarse", "tann"):
            g["use_fine"] = False
        if self.model == "tann":
            g.setdefault("width", tann_width(cfg))
        return VividGANConfig(**{"hr_size": cfg.hr_size, "scale": cfg.vividgan_scale, "width": cfg.vividgan_width,
                                 "touch_width": cfg.vividgan_touch_width, "hg_depth": cfg.vividgan_hg_depth,
                                 "d_width": max(8, cfg.vividgan_width), "d_down": 3 if cfg.hr_size >= 64 else 2, **g})


_TANN_WIDTH: dict[tuple, int] = {}


def tann_width(cfg) -> int:
    """TANN stand-in (Yu et al., TPAMI; no public code): TANN is a single-stage joint network that interleaves STNs
    with upsampling, trained with pixel, identity-feature and adversarial losses. Ours is the coarse network (FT
    modules) alone, with no symmetry loss, made wider until it has at least `TANN_PARAMETER_RATIO` (0.81, Tab. IV)
    of VividGAN's parameters at this preset: the smallest such width."""
    base = VividGANRun.make().generator_config(cfg)
    key = tuple(sorted(base.as_dict().items()))
    if key not in _TANN_WIDTH:
        from avfh_core.nn.blocks import count_parameters

        target = TANN_PARAMETER_RATIO * count_parameters(VividGANGenerator(base))
        w = base.width
        while count_parameters(VividGANGenerator(replace(base, width=w, use_fine=False))) < target:
            w += 1
        _TANN_WIDTH[key] = w
    return _TANN_WIDTH[key]


# ----------------------------------------------------------------------------------------------------------------
# The table rows (the paper's numbers are in avfh_core/reproduce/tables/vividgan.yaml)

OFF_AUX = dict(c_id=0.0, f_id=0.0, c_sym=0.0, c_adv=0.0, f_adv=0.0)
TABLE3_ROWS: dict[str, dict[str, float]] = {  # Tab. III: L_mse and L_h in every row, then one term more per row
    "l_mse_h": OFF_AUX,
    "l_id": dict(c_sym=0.0, c_adv=0.0, f_adv=0.0),
    "l_sym": dict(c_adv=0.0, f_adv=0.0),
    "l_coarse_d": dict(f_adv=0.0),
    "l_full": {},
}
FIG8_ROWS: dict[str, dict] = {"v_tn": dict(prior="none"), "vividgan": {}, "v_gt": dict(prior="ground_truth")}


def table1(cfg) -> dict[str, VividGANRun]:
    """Tab. I rows we build: the LR face upsampled (do nothing), the two Bicubic cascades with our frontaliser
    (F + Bicubic, Bicubic + F), the two learned-SR cascades (F + SR, SR + F with an SRResNet-style SR network),
    VividGAN-dagger trained alone, the TANN stand-in, VividGAN."""
    return {"bicubic": VividGANRun.make("bicubic"), "bicubic_f_sr": VividGANRun.make("f_bicubic"),
            "bicubic_sr_f": VividGANRun.make("bicubic_f"), "srresnet_f_sr": VividGANRun.make("f_srresnet"),
            "srresnet_sr_f": VividGANRun.make("srresnet_f"), "vividgan_coarse": VividGANRun.make("coarse"),
            "tann": VividGANRun.make("tann"), "vividgan": VividGANRun.make()}


def table3(cfg) -> dict[str, VividGANRun]:
    """Tab. III's rows, then ours: "l_balanced", the full objective with `balanced_weights`."""
    rows = {k: VividGANRun.make(weights=w) for k, w in TABLE3_ROWS.items()}
    rows["l_balanced"] = VividGANRun.make(weights=balanced_weights(cfg))
    return rows


def fig8(cfg) -> dict[str, VividGANRun]:
    return {k: VividGANRun.make(generator=g) for k, g in FIG8_ROWS.items()}


TABLES: dict[str, Callable[[Any], dict[str, VividGANRun]]] = {"table1": table1, "table3": table3, "fig8": fig8}


# ----------------------------------------------------------------------------------------------------------------
# Data and the objective

_PAIRS: dict[tuple, FrontalPairs] = {}


def grid(cfg) -> str:
    """The yaw grid of the presets: "multipie" (+-15 ... +-90) when cfg.vividgan_multipie_grid, else "celeba"."""
    return "multipie" if cfg.vividgan_multipie_grid else "celeba"


def pair_world(cfg) -> synth.SynthWorld:
    """The world the pairs are rendered from: the run's people, one still frame per scene (no head motion)."""
    return synth.world(cfg, num_frames=9, rotation_motion=0.0, translation_motion=0.0)


def pairs(cfg, split: str, world: Mapping[str, Any] | None = None) -> FrontalPairs:
    """The frontalisation pairs of a run's world (cached in-process): cfg.vividgan_train_scenes or
    cfg.vividgan_test_scenes scenes x cfg.vividgan_views yaws of the run's grid (`grid`)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    w = pair_world(cfg)
    n = cfg.vividgan_train_scenes if split == "train" else cfg.vividgan_test_scenes
    yaws = grid_yaws(grid(cfg), cfg.vividgan_views)
    knobs = dict(world or {})
    key = (w.key, split, n, yaws, cfg.vividgan_scale, tuple(sorted(knobs.items())))
    if key not in _PAIRS:
        _PAIRS[key] = FrontalPairs(w, split, n, yaws, cfg.vividgan_scale, **knobs)
    return _PAIRS[key]


class Objective:
    """Eqs. 3-12 as named terms: coarse_terms, touch_terms, fine_terms -> {term: scalar}. A term whose weight is 0
    is not computed. `phi` is the identity embedding of eq. 5 (None: no L_id)."""

    def __init__(self, weights: Mapping[str, float], phi: nn.Module | None, hm_sigma: float = 1.0):
        self.weights, self.phi, self.hm_sigma = dict(weights), phi, hm_sigma

    def _on(self, k: str) -> bool:
        return bool(self.weights.get(k, 0))

    def coarse_terms(self, c, h, coarse_d=None) -> dict[str, torch.Tensor]:
        t = {}
        if self._on("c_mse"):
            t["c_mse"] = F.mse_loss(c, h)
        if self._on("c_sym"):
            t["c_sym"] = symmetry_loss(c)
        if self._on("c_id") and self.phi is not None:
            t["c_id"] = identity_loss(self.phi.embed, c, h)
        if self._on("c_adv") and coarse_d is not None:
            with frozen(coarse_d):  # D's weight gradients from G's loss would be discarded: not computed
                t["c_adv"] = vanilla_g_loss(coarse_d(c))
        return t

    def touch_terms(self, touched: list, truth_crops: list) -> dict[str, torch.Tensor]:
        if not self._on("t_mse"):
            return {}
        return {"t_mse": sum(F.mse_loss(a, b) for a, b in zip(touched, truth_crops, strict=True)) / len(touched)}

    def fine_terms(self, out, h, landmarks, fine_d=None) -> dict[str, torch.Tensor]:
        f, t = out["fine"], {}
        if self._on("f_mse"):
            t["f_mse"] = F.mse_loss(f, h)
        if self._on("f_id") and self.phi is not None:
            t["f_id"] = identity_loss(self.phi.embed, f, h)
        if self._on("f_h") and out.get("heatmaps") is not None:
            hm = out["heatmaps"]
            target = landmark_heatmaps(landmarks, hm.shape[-1], sigma=self.hm_sigma, image_size=h.shape[-1])
            t["f_h"] = heatmap_loss(hm, target)
        if self._on("f_adv") and fine_d is not None:
            with frozen(fine_d):
                t["f_adv"] = vanilla_g_loss(fine_d(f))
        return t


# Each low-weight term's share of the generator's gradient at step 0, relative to its level's L_mse (c_* to c_mse,
# f_* to f_mse): fixed a priori (before any test score), a tenth each. These are the terms the paper weights 0.01
# ("lower weights on L_id, L_h and L_adv"); L_sym keeps the paper's 1 (the weight of L_mse): the untrained coarse
# output is nearly symmetric, so L_sym's step-0 gradient is near zero and a step-0 share would give it a weight of
# tens (41 measured at the smoke preset) that bites only once the output becomes asymmetric.
BALANCED_SHARES: dict[str, float] = dict(c_id=0.1, c_adv=0.1, f_id=0.1, f_h=0.1, f_adv=0.1)
_BALANCED: dict[tuple, dict[str, float]] = {}


def step0_gradient_norms(cfg, *, seed: int = 0, n_batches: int = 4) -> dict[str, float]:
    """{term: mean ||d L_term / d generator params||} of the untrained VividGAN (seed `seed`, template set as in
    training) on the first `n_batches` training batches, every term at weight 1: the coarse terms on the coarse
    network's output, the touch-up and fine terms on the full forward pass (which starts at the coarse face)."""
    if n_batches < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    run = VividGANRun.make()
    models = {k: m.to(cfg.device) for k, m in init(run, cfg, seed=seed).items()}
    gen, data = models["generator"], pairs(cfg, "train")
    with torch.no_grad():
        gen.template.copy_(data.mean_centres())
    ones = {k: 1.0 for k in PAPER_WEIGHTS}
    objective = Objective(ones, _phi(cfg, ones))
    params = [p for p in gen.parameters() if p.requires_grad]
    batches = step_batches(data, cfg.batch_size, seed, cfg.device)
    sums: dict[str, float] = {}
    for b in range(n_batches):
        batch = batches(b)
        h = batch["hr"]
        res = gen(batch["lr"], truth=h)
        terms = objective.coarse_terms(res["coarse"], h, models.get("coarse_d"))
        terms.update(objective.fine_terms(res, h, batch["landmarks"], models.get("fine_d")))
        for k, v in gradient_shares(terms, ones, params).items():
            if k.startswith("gnorm/"):
                sums[k[6:]] = sums.get(k[6:], 0.0) + v / n_batches
    return sums


def balanced_weights(cfg, shares: Mapping[str, float] | None = None, *, n_batches: int = 4) -> dict[str, float]:
    """The "balanced" setting (as VFH-GAN's `train.vfhgan.balanced_weights`): the paper's weights with each
    auxiliary term's weight w_k = shares[k] * g(level's mse) / g(k), g = `step0_gradient_norms` (seed 0), so that
    at step 0 its weighted gradient norm is shares[k] times its level's L_mse's (default `BALANCED_SHARES`).
    Rounded to two significant digits; cached in-process per configuration and seed (the pretrained networks are
    cfg.seed's own)."""
    shares = dict(BALANCED_SHARES if shares is None else shares)
    bad = [k for k, v in shares.items() if k not in BALANCED_SHARES or not v > 0]
    if bad:
        raise ValueError(f"shares: each key must be one of {sorted(BALANCED_SHARES)} with a value > 0, got {shares}")
    key = (tuple(sorted((k, str(v)) for k, v in cfg.as_dict().items())), tuple(sorted(shares.items())), n_batches)
    if key not in _BALANCED:
        g = step0_gradient_norms(cfg, n_batches=n_batches)
        out = dict(PAPER_WEIGHTS)
        for k, share in shares.items():
            ref = "c_mse" if k.startswith("c_") else "f_mse"
            if not g.get(k, 0.0) > 0:
                raise ValueError(f"balanced_weights: the {k} term has no gradient at step 0 (norm {g.get(k)}); "
                                 "cannot set its weight by its share")
            out[k] = float(f"{share * g[ref] / g[k]:.2g}")
        _BALANCED[key] = out
    return dict(_BALANCED[key])


def total(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    if not terms:
        raise ValueError(f"every loss term is off (weights {dict(weights)}); nothing to train")
    return sum(weights[k] * v for k, v in terms.items())


# ----------------------------------------------------------------------------------------------------------------
# The contract: init, train, eval_set, predict, score


def init(run: VividGANRun, cfg, *, seed: int) -> dict[str, nn.Module]:
    """The run's untrained networks, each from its own random stream: the generator, Coarse-D when p1 > 0, Fine-D
    when p2 > 0 (and the model has a fine level). "bicubic" has none; a cascade has its frontaliser
    (cfg.vividgan_width features, `CASCADE_BLOCKS` residual blocks) and, for a learned-SR cascade, its SR network
    "sr" (`sr_network`)."""
    if run.model == "bicubic":
        return {}
    if run.model in CASCADES:
        key = CASCADES[run.model]
        out = {key: build(seed, key, lambda: Frontaliser(cfg.vividgan_width, CASCADE_BLOCKS))}
        if run.model in SR_CASCADES:
            out["sr"] = build(seed, "sr", lambda: sr_network(cfg))
        return out
    c = run.generator_config(cfg)
    w = run.loss_weights()
    models: dict[str, nn.Module] = {"generator": build(seed, "generator", lambda: VividGANGenerator(c))}
    if w["c_adv"]:
        models["coarse_d"] = build(seed, "coarse_d", lambda: discriminator(c))
    if w["f_adv"] and c.use_fine:
        models["fine_d"] = build(seed, "fine_d", lambda: discriminator(c))
    return models


def _phi(cfg, weights) -> nn.Module | None:
    if not (weights.get("c_id") or weights.get("f_id")):
        return None
    from avfh_core.train.pretrain import load_feature_net

    phi = load_feature_net(cfg, prefer_vgg=False).to(cfg.device).eval()
    for p in phi.parameters():
        p.requires_grad_(False)
    return phi


def _d_step(d: nn.Module, opt, real: torch.Tensor, fake: torch.Tensor) -> float:
    loss = vanilla_d_loss(d(real), d(fake.detach()))  # eq. 7
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


CASCADE_BLOCKS = 2  # residual blocks of the cascades' frontaliser F
SR_BLOCKS = 2  # residual blocks of the learned-SR cascades' SR network


def sr_network(cfg) -> nn.Module:
    """The SR step of the learned-SR cascades: the shared single-image SRResNet (models.baselines.SRResNet:
    residual blocks, sub-pixel x cfg.vividgan_scale, a bicubic global skip so that the untrained network outputs
    exactly bicubic) with cfg.vividgan_width features and `SR_BLOCKS` blocks. A stand-in for Tab. I's learned SR
    methods (WaveletSRNet, SRGAN, CBN, TDAE), trained with L_mse alone on frontal LR/HR pairs (`train_cascade`)."""
    from avfh_core.models.baselines import SRResNet

    return SRResNet(width=cfg.vividgan_width, n_blocks=SR_BLOCKS, scale=cfg.vividgan_scale, bicubic_skip=True)


def cascade_io(model: str, lr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, target) of a cascade's frontaliser: F + Bicubic frontalises at the LR size (posed LR -> the
    frontal truth bicubic-downsampled); Bicubic + F frontalises the upsampled posed face at the HR size."""
    scale = hr.shape[-1] // lr.shape[-1]
    if model in ("f_bicubic", "f_srresnet"):
        return lr, bicubic_down(hr, scale)
    if model in ("bicubic_f", "srresnet_f"):
        return bicubic_up(lr, scale), hr
    raise ValueError(f"cascade_io: model must be one of {sorted(CASCADES)}, got {model!r}")


def train_cascade(run: VividGANRun, models: dict[str, nn.Module], cfg, data: FrontalPairs, *, seed: int,
                  progress: bool = False, checkpoint_path=None) -> Trained:
    """Tab. I's two-step cascades: the frontaliser F alone, trained with L_mse (the paper's F, DR-GAN, also has
    identity and adversarial terms; ours is a pixel-loss stand-in) for the steps of VividGAN-dagger (stages (i) +
    (iii)) at cfg.vividgan_lr, on the pairs of `cascade_io` (the same F, step for step, whatever the SR step). The
    Bicubic cascades' SR step has nothing to train; a learned-SR cascade then trains its SR network "sr" with
    L_mse on the frontal pairs (bicubic_down(h) -> h) for cfg.vividgan_sr_steps steps at cfg.vividgan_lr, logged as
    stage 2 ("sr_mse"). The paper trains F and the SR method separately, as here: neither sees the other's output."""
    key = CASCADES[run.model]
    net = models[key]
    opt = {key: torch.optim.Adam(net.parameters(), lr=cfg.vividgan_lr, betas=(0.9, 0.99))}
    batches = step_batches(data, cfg.batch_size, seed, cfg.device)

    def step(batch, s):
        x, y = cascade_io(run.model, batch["lr"], batch["hr"])
        loss = F.mse_loss(net(x), y)
        opt[key].zero_grad(set_to_none=True)
        loss.backward()
        opt[key].step()
        return {"c_mse": loss.item()}

    with seeded(seed, "train/cascade"):
        lg = train_loop(step, models, opt, batches, cfg.vividgan_coarse_steps + cfg.vividgan_joint_steps, cfg=cfg,
                        checkpoint_path=checkpoint_path, checkpoint_every=cfg.checkpoint_every if checkpoint_path else 0,
                        progress=progress, desc=f"vividgan {run.model} seed {seed}")
    log = TrainLog()
    for k in range(len(lg.history.get("c_mse", []))):
        log.record({"stage": 1, "c_mse": lg.history["c_mse"][k]})
    log.steps_done, log.seconds = lg.steps_done, lg.seconds
    if run.model in SR_CASCADES:
        sr = models["sr"]
        sr_opt = {"sr": torch.optim.Adam(sr.parameters(), lr=cfg.vividgan_lr, betas=(0.9, 0.99))}
        scale = cfg.vividgan_scale

        def sr_step(batch, s):
            h = batch["hr"]
            loss = F.mse_loss(sr(bicubic_down(h, scale)), h)
            sr_opt["sr"].zero_grad(set_to_none=True)
            loss.backward()
            sr_opt["sr"].step()
            return {"sr_mse": loss.item()}

        path = None if checkpoint_path is None else f"{checkpoint_path}.sr"
        with seeded(seed, "train/cascade_sr"):
            lg2 = train_loop(sr_step, {"sr": sr}, sr_opt, lambda s: batches(s + 200_003), cfg.vividgan_sr_steps,
                             cfg=cfg, checkpoint_path=path, checkpoint_every=cfg.checkpoint_every if path else 0,
                             progress=progress, desc=f"vividgan {run.model} SR seed {seed}")
        for v in lg2.history.get("sr_mse", []):
            log.record({"stage": 2, "sr_mse": v})
        log.steps_done += lg2.steps_done
        log.seconds += lg2.seconds
    return Trained({k: m.eval() for k, m in models.items()}, log)


def train(run: VividGANRun, cfg, *, seed: int, progress: bool = False, checkpoint_path=None,
          data: FrontalPairs | None = None) -> Trained:
    """The three stages of sec. III-E through `train_loop` (one checkpoint file per stage when checkpoint_path is
    given); returns the networks in eval mode and one log with a "stage" column (1, 2, 3). A cascade trains its
    frontaliser alone (`train_cascade`)."""
    models = init(run, cfg, seed=seed)
    if run.model == "bicubic":
        return Trained({}, TrainLog())
    data = data if data is not None else pairs(cfg, "train", dict(run.world))
    if run.model in CASCADES:
        return train_cascade(run, models, cfg, data, seed=seed, progress=progress, checkpoint_path=checkpoint_path)
    gen = models["generator"]
    with torch.no_grad():
        gen.template.copy_(data.mean_centres())  # the stitching template: the mean frontal component centres
    weights = run.loss_weights()
    objective = Objective(weights, _phi(cfg, weights))
    dev, grad_every = cfg.device, int(cfg.vividgan_grad_every)
    d_opts = {k: torch.optim.Adam(models[k].parameters(), lr=cfg.vividgan_d_lr, betas=(0.5, 0.999))
              for k in ("coarse_d", "fine_d") if k in models}
    batches = step_batches(data, cfg.batch_size, seed, dev)
    log = TrainLog()

    def run_stage(stage: int, steps: int, step_fn, optimizers, modules):
        path = None if checkpoint_path is None else f"{checkpoint_path}.stage{stage}"
        with seeded(seed, f"train/stage{stage}"):
            lg = train_loop(step_fn, modules, optimizers, lambda s: batches(s + 100_003 * stage), steps, cfg=cfg,
                            checkpoint_path=path, checkpoint_every=cfg.checkpoint_every if path else 0,
                            progress=progress, desc=f"vividgan {run.model} stage {stage} seed {seed}")
        for k in range(len(next(iter(lg.history.values()), []))):
            log.record({"stage": stage, **{n: v[k] for n, v in lg.history.items()}})
        log.steps_done += lg.steps_done
        log.seconds += lg.seconds

    def shares(terms, step):
        if grad_every and step % grad_every == 0:
            return gradient_shares(terms, weights, [p for p in gen.parameters() if p.requires_grad])
        return {}

    # stage (i): the coarse network with L_C
    g_opt = {"generator": torch.optim.Adam(gen.coarse.parameters(), lr=cfg.vividgan_lr, betas=(0.9, 0.99))}

    def coarse_step(batch, step):
        out = {}
        c = gen.coarse(batch["lr"])[0]
        if "coarse_d" in models:
            out["d_coarse"] = _d_step(models["coarse_d"], d_opts["coarse_d"], batch["hr"], c)
        terms = objective.coarse_terms(c, batch["hr"], models.get("coarse_d"))
        out.update(shares(terms, step))
        g_opt["generator"].zero_grad(set_to_none=True)
        total(terms, weights).backward()
        g_opt["generator"].step()
        return {**out, **{k: v.item() for k, v in terms.items()}}

    steps1 = cfg.vividgan_coarse_steps + (cfg.vividgan_joint_steps if run.model in ("coarse", "tann") else 0)
    opts1 = {**g_opt, **({"coarse_d": d_opts["coarse_d"]} if "coarse_d" in d_opts else {})}
    run_stage(1, steps1, coarse_step, opts1, {"generator": gen, **{k: models[k] for k in opts1 if k != "generator"}})
    if not gen.config.use_fine:
        return Trained({k: m.eval() for k, m in models.items()}, log)

    # stage (ii): the touching-up U-Net with L_T on crops of the frozen coarse faces
    if gen.touchup is not None and weights["t_mse"] and cfg.vividgan_touch_steps:
        t_opt = {"generator": torch.optim.Adam(gen.touchup.parameters(), lr=cfg.vividgan_lr, betas=(0.9, 0.99))}

        def touch_step(batch, step):
            with torch.no_grad():
                c = gen.coarse(batch["lr"])[0]
            crops, touched = gen.components(c)
            terms = objective.touch_terms(touched, crop_components(batch["hr"], gen.template))
            out = shares(terms, step)
            t_opt["generator"].zero_grad(set_to_none=True)
            total(terms, weights).backward()
            t_opt["generator"].step()
            return {**out, **{k: v.item() for k, v in terms.items()}}

        run_stage(2, cfg.vividgan_touch_steps, touch_step, t_opt, {"generator": gen})

    # stage (iii): everything with L_G = L_C + L_T + L_F; Coarse-D and Fine-D with L_D
    fine_params = list(gen.fine.parameters())
    fine_ids = {id(p) for p in fine_params}
    rest = [p for p in gen.parameters() if id(p) not in fine_ids]
    j_opt = {"generator": torch.optim.Adam([{"params": fine_params, "lr": cfg.vividgan_fine_lr},
                                            {"params": rest, "lr": cfg.vividgan_lr}], betas=(0.9, 0.99))}

    def joint_step(batch, step):
        out, h = {}, batch["hr"]
        res = gen(batch["lr"], truth=h)
        for k, key in (("coarse_d", "coarse"), ("fine_d", "fine")):
            if k in models:
                out[f"d_{key}"] = _d_step(models[k], d_opts[k], h, res[key])
        terms = objective.coarse_terms(res["coarse"], h, models.get("coarse_d"))
        if res.get("components") is not None:
            terms.update(objective.touch_terms(res["components"], crop_components(h, gen.template)))
        terms.update(objective.fine_terms(res, h, batch["landmarks"], models.get("fine_d")))
        out.update(shares(terms, step))
        j_opt["generator"].zero_grad(set_to_none=True)
        total(terms, weights).backward()
        j_opt["generator"].step()
        return {**out, **{k: v.item() for k, v in terms.items()}}

    run_stage(3, cfg.vividgan_joint_steps, joint_step, {**j_opt, **d_opts}, models)
    return Trained({k: m.eval() for k, m in models.items()}, log)


def eval_set(run: VividGANRun, cfg) -> tuple[FrontalPairs, list[int]]:
    """Every pair of the held-out people (test split) of the run's world."""
    data = pairs(cfg, "test", dict(run.world))
    return data, spread_indices(data, len(data))


def predict(models: Mapping[str, nn.Module], batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The fine frontal face (the coarse one for VividGAN-dagger; the LR face upsampled for "bicubic"; for a
    cascade, its frontaliser before or after the upsampling: bicubic, or its SR network "sr" when it has one)."""
    lr, hr = batch["lr"], batch["hr"]
    scale = hr.shape[-1] // lr.shape[-1]
    if "sr" in models:
        def up(x):
            return models["sr"](x)
    else:
        def up(x):
            return bicubic_up(x, scale)
    if "frontaliser_lr" in models:
        return up(models["frontaliser_lr"](lr)).clamp(0, 1)
    if "frontaliser_hr" in models:
        return models["frontaliser_hr"](up(lr)).clamp(0, 1)
    if "generator" not in models:
        return bicubic_up(lr, scale)
    out = models["generator"](batch["lr"], truth=batch["hr"])
    return out.get("fine", out["coarse"]).clamp(0, 1)


def score(pred: torch.Tensor, batch: Mapping[str, torch.Tensor], cfg) -> dict[str, torch.Tensor]:
    """PSNR/SSIM (Y) of the whole face image and inside the face box (the truth's landmarks: face_psnr, face_ssim),
    and the PSNR of each |yaw| of the grid as psnr_<yaw> (NaN for the other items; evaluate averages over the finite
    ones)."""
    pred, hr = pred.float().clamp(0, 1).cpu(), batch["hr"].float().cpu()
    mask = box_mask(hr.shape[-2:], batch["face_box"].cpu())
    out = {"psnr": psnr(pred, hr), "ssim": ssim(pred, hr), "face_psnr": psnr(pred, hr, mask=mask),
           "face_ssim": ssim(pred, hr, mask=mask)}
    yaw = batch["yaw"].abs().cpu()
    for y in sorted({abs(v) for v in grid_yaws(grid(cfg), cfg.vividgan_views)}):
        out[f"psnr_{y:g}"] = torch.where((yaw - y).abs() < 0.5, out["psnr"], torch.full_like(out["psnr"], float("nan")))
    return out


# ----------------------------------------------------------------------------------------------------------------
# Positive controls of the claims audit (the `controls:` section of reproduce/tables/vividgan.yaml)

SIDE_WORLD = dict(side_light=0.4)  # the truth lit from one side: mirror symmetry is wrong by construction


def symmetry_rows(cfg) -> dict[str, VividGANRun]:
    """The causal knob of L_sym (coarse network trained alone, L_C with and without L_sym): in a world whose
    truth is exactly mirror symmetric and in one whose truth is side lit."""
    out = {}
    for name, world in (("symmetric", dict(symmetric_truth=True)), ("side", SIDE_WORLD)):
        for row, w in (("sym_on", {}), ("sym_off", dict(c_sym=0.0))):
            out[f"{name}/{row}"] = VividGANRun.make("coarse", weights={**w, "c_id": 0.0, "c_adv": 0.0}, world=world)
    return out


def mirrored(models: Mapping[str, nn.Module], batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """`predict` projected onto mirror-symmetric images: (p + flip(p)) / 2 (the flip is left-right)."""
    p = predict(models, batch)
    return (p + p.flip(-1)) / 2


def positive_controls(cfg, n_seeds: int | None = None, handicap_db: float = 0.5,
                      progress: bool = False) -> dict[str, dict[str, list[float]]]:
    """Planted effects, one per claim family, scored like the table rows: {row: {metric: [one value per seed]}}.

    - the symmetry knob (issue 15: L_sym must help where the truth is symmetric and not where lighting breaks the
      symmetry): "<world>/sym_on" vs "<world>/sym_off" for a symmetric and a side-lit truth (`symmetry_rows`). Its
      sign after a few steps is not known (measured at a smoke size, L_sym still helped the side-lit truth), so
      these rows are a measured knob, logged, and no control.
    - the symmetry prior, planted (`mirrored`): "<world>/mirrored" is the "<world>/sym_off" network's output
      projected onto mirror-symmetric images, (p + flip(p)) / 2, the limit an unbounded L_sym weight enforces. With
      h = h_s + h_a and p = p_s + p_a (symmetric and antisymmetric parts, orthogonal; flipping commutes with the
      per-pixel Y transform) the squared error goes from |h_s - p_s|^2 + |h_a - p_a|^2 to |h_s - p_s|^2 + |h_a|^2:
      for a symmetric truth (h_a = 0) the projection never hurts, per image (a planted sign); for the side-lit
      truth it hurts as soon as the network reproduces part of the lighting (|h_a - p_a| < |h_a|).
    - the method beats a baseline ("ours" vs "handicapped"): Tab. I's VividGAN of seed s against the VividGAN of
      the next seed (cyclically) with its error amplified, hr + k (pred - hr), k = 10^(handicap_db / 20).
    - removing the only term matters ("loss_kept" vs "loss_removed"): the coarse network trained on L_mse alone
      against the same network untrained.
    """
    from avfh_core.train.evaluate import evaluate
    from avfh_core.train.experiment import cached_run
    from avfh_core.train.experiment import seeds as seed_list

    if not handicap_db > 0:
        raise ValueError(f"handicap_db must be > 0, got {handicap_db}")
    me, ss = sys.modules[__name__], seed_list(cfg, n_seeds)
    per: dict[str, list[dict[str, float]]] = {}
    for row, run in symmetry_rows(cfg).items():
        for s in ss:
            per.setdefault(row, []).append(cached_run(me, run, cfg, s, progress=progress)[0])
    for world in ("symmetric", "side"):
        run = symmetry_rows(cfg)[f"{world}/sym_off"]
        wdata, widx = eval_set(run, cfg)
        for s in ss:
            models = cached_run(me, run, cfg, s, progress=progress)[1].models
            per.setdefault(f"{world}/mirrored", []).append(evaluate(mirrored, score, models, wdata, widx, cfg))
    k = 10 ** (handicap_db / 20)

    def handicapped(models, batch):
        return (batch["hr"] + k * (predict(models, batch) - batch["hr"])).clamp(0, 1)

    ours = table1(cfg)["vividgan"]
    data, idx = eval_set(ours, cfg)
    runs = [cached_run(me, ours, cfg, s, progress=progress) for s in ss]
    for i in range(len(ss)):
        per.setdefault("ours", []).append(runs[i][0])
        per.setdefault("handicapped", []).append(
            evaluate(handicapped, score, runs[(i + 1) % len(ss)][1].models, data, idx, cfg))
    mse_only = VividGANRun.make("coarse", weights={k: (1.0 if k == "c_mse" else 0.0) for k in PAPER_WEIGHTS})
    for s in ss:
        per.setdefault("loss_kept", []).append(cached_run(me, mse_only, cfg, s, progress=progress)[0])
        untrained = {n: m.to(cfg.device).eval() for n, m in init(mse_only, cfg, seed=s).items()}
        per.setdefault("loss_removed", []).append(evaluate(predict, score, untrained, data, idx, cfg))
    return {row: {m: [p[m] for p in vals] for m in vals[0]} for row, vals in per.items()}


# ----------------------------------------------------------------------------------------------------------------
# Identification (Tab. VI): rank-1 / rank-5 against a gallery of one frontal image per held-out person

RECOGNITION_SEED = 1
RECOGNITION_CACHE = "vividgan_recognition"


def recognition_data(cfg) -> dict[str, torch.Tensor]:
    """The recognition net's training images: 2 frames of each of cfg.n_train_clips clips of the train people and of
    cfg.n_train_clips // 2 clips of the held-out people, all from the pair world's scenes *after* the first
    cfg.vividgan_test_scenes test scenes (those make the test pairs: no probe's scene is seen in training).
    {"x": [N, 3, H, W], "identity": [N] indexing train then test people}."""
    from avfh_core.train.pretrain import frames_and_labels

    w = pair_world(cfg)
    people = [p.id for p in w.identities("train")] + [p.id for p in w.identities("test")]
    index = {p: k for k, p in enumerate(people)}
    n = int(cfg.n_train_clips)
    a = frames_and_labels(w, "train", range(n), frames_per_clip=2, identity_index=index)
    start = int(cfg.vividgan_test_scenes)
    b = frames_and_labels(w, "test", range(start, start + max(2, n // 2)), frames_per_clip=2, identity_index=index)
    return {"x": torch.cat([a["x"], b["x"]]), "identity": torch.cat([a["identity"], b["identity"]])}


def recognition_net(cfg) -> nn.Module:
    """The evaluation embedding (the paper's SphereFace): `models.face_recognition.RecognitionNet`, a residual
    backbone with an ArcFace head, trained (cached) on identity alone over all the world's people
    (`recognition_data`) for cfg.featnet_steps steps of 32 images at lr 2e-3 with flips and +-2 px shifts. It
    differs from Phi of L_id (FeatureNet: plain VGG-style CNN, average pool, softmax heads, train people only) in
    architecture, loss and data, so L_id does not train against the scorer."""
    from avfh_core.models.face_recognition import RecognitionNet
    from avfh_core.train.checkpoint import load_or_train

    w = pair_world(cfg)
    n_ids = len(w.identities("train")) + len(w.identities("test"))
    stages = 3 if cfg.hr_size % 8 == 0 and cfg.hr_size >= 32 else 2
    config = {"net": "RecognitionNet", "width": int(cfg.featnet_width), "stages": stages, "image_size": cfg.hr_size,
              "steps": int(cfg.featnet_steps), "n_clips": int(cfg.n_train_clips),
              "test_scenes": int(cfg.vividgan_test_scenes), "seed": RECOGNITION_SEED, "world": w.key}
    net = build(RECOGNITION_SEED, "recognition",
                lambda: RecognitionNet(n_ids, cfg.hr_size, width=int(cfg.featnet_width), stages=stages))

    def train_fn(model: nn.Module) -> dict[str, Any]:
        data = recognition_data(cfg)
        x, y = data["x"], data["identity"]
        model.to(cfg.device).train()
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)

        def batch_fn(step: int) -> dict[str, torch.Tensor]:
            g = torch.Generator().manual_seed(RECOGNITION_SEED * 1_000_003 + step)
            idx = torch.randint(0, len(x), (min(32, len(x)),), generator=g)
            xb = x[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            dy, dx = torch.randint(-2, 3, (2,), generator=g).tolist()
            return {"x": torch.roll(xb, (dy, dx), (-2, -1)).to(cfg.device), "y": y[idx].to(cfg.device)}

        def step_fn(batch, step):
            loss = F.cross_entropy(model.logits(batch["x"], batch["y"]), batch["y"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return {"loss": loss.item()}

        with seeded(RECOGNITION_SEED, "recognition/train"):
            lg = train_loop(step_fn, {"recognition": model}, {"recognition": opt}, batch_fn, int(cfg.featnet_steps),
                            cfg=cfg, progress=False, desc="recognition net")
        model.cpu().eval()
        curve = lg.history["loss"]
        return {"final_loss": sum(curve[-10:]) / max(1, len(curve[-10:])), "steps": len(curve), "images": len(x)}

    net, _ = load_or_train(RECOGNITION_CACHE, config, net, train_fn)
    return net.to(cfg.device).eval()


def gallery(cfg, net: nn.Module) -> tuple[torch.Tensor, list[int]]:
    """(embeddings [G, D], identity ids) of the gallery: one frontal, neutral, canonically lit image per
    held-out (test) person (`SynthWorld.gallery`), as Tab. V's protocol."""
    w = pair_world(cfg)
    people = w.identities("test")
    imgs = torch.cat([w.gallery("test", p).images for p in range(len(people))]).to(cfg.device)
    with torch.no_grad():
        return net.embed(imgs).cpu(), [int(p.id) for p in people]


def recognition(cfg, n_seeds: int | None = None) -> dict[str, dict[str, list[float]]]:
    """Rank-1 / rank-5 rates (%) of the test pairs as probes, per seed: {row: {"rank1": [...], "rank5": [...]}} for
    Tab. I's rows ("lr": the LR face upsampled, the paper's "LR face" column), the frontal truth ("truth", the
    ceiling), and "truth_shuffled": the truth with every probe's identity label moved to another gallery person
    (chance by construction: the planted control that the embedding sees identity at all)."""
    from avfh_core.data.batching import collate
    from avfh_core.metrics.recognition import identification_ranks, rank_k
    from avfh_core.train.experiment import cached_run
    from avfh_core.train.experiment import seeds as seed_list

    me, net = sys.modules[__name__], recognition_net(cfg)
    g_emb, g_ids = gallery(cfg, net)
    shift = {g: g_ids[(k + 1) % len(g_ids)] for k, g in enumerate(g_ids)}
    data, idx = eval_set(VividGANRun.make(), cfg)
    ids = [int(data[i]["person"]) for i in idx]

    def embed_all(fn) -> torch.Tensor:
        out = []
        for k in range(0, len(idx), 32):
            batch = collate([data[i] for i in idx[k:k + 32]], cfg.device)
            with torch.no_grad():
                out.append(net.embed(fn(batch).clamp(0, 1)).cpu())
        return torch.cat(out)

    def rates(emb, labels) -> dict[str, float]:
        r = identification_ranks(emb, labels, g_emb, g_ids)
        return {"rank1": 100 * rank_k(r, 1), "rank5": 100 * rank_k(r, 5)}

    truth = embed_all(lambda b: b["hr"])
    per: dict[str, list[dict[str, float]]] = {}
    for s in seed_list(cfg, n_seeds):
        for row, run in table1(cfg).items():
            models = cached_run(me, run, cfg, s)[1].models
            per.setdefault("lr" if row == "bicubic" else row, []).append(
                rates(embed_all(lambda b, m=models: predict(m, b)), ids))
        per.setdefault("truth", []).append(rates(truth, ids))
        per.setdefault("truth_shuffled", []).append(rates(truth, [shift[i] for i in ids]))
    return {row: {m: [p[m] for p in vals] for m in vals[0]} for row, vals in per.items()}


if __name__ == "__main__":  # python -m avfh_core.train.vividgan --preset gpu
    from avfh_core.train.experiment import main

    main(sys.modules[__name__], VividGANRun.make())
