"""VFH-GAN (Sharma, Dhall, Kumar, Bawa, "Audio-visual video face hallucination with frequency supervision and cross
modality support by speech based lip reading loss", arXiv 2211.10883, 2022), sec. 3.2 and 4: training and the
tables, as the per-paper contract of CONTRIBUTING.md (shared code: train/experiment.py, train/evaluate.py).

The total generator loss (eq. 11) plus the pixel term of the authors' released code:

    L = w_pix * MSE + L_vgg + alpha * L_lip (eq. 5) + beta * L_freq (eq. 10) + gamma * L_adv

The paper gives no alpha, beta, gamma; `RELEASED_WEIGHTS` are the weights of the authors' released training code:
perceptual 1, LSGAN 1e-3, focal frequency 1e-4, lip 1e-4, pixel MSE 1. Table 2 and `weight_sensitivity` show what
changing them does.

Choices the paper leaves open: the lip-reading term needs a sequence of 2j+1 frames while the generator makes one
frame per window; we feed the lip reader the ground-truth window with its centre frame replaced by the generated
one, so the gradient reaches the generator through the centre frame (the authors' code detaches both branches, so
their lip loss trains nothing). Every network starts from its own random stream (avfh_core.nn.init).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.data import synth
from avfh_core.data.batching import spread_indices, step_batches
from avfh_core.data.windows import WindowDataset
from avfh_core.losses.adversarial import lsgan_d_loss, lsgan_g_loss
from avfh_core.losses.frequency import FocalFrequencyLoss
from avfh_core.losses.lipreading import LipReadingLoss
from avfh_core.losses.perceptual import PerceptualLoss
from avfh_core.models.baselines import Bicubic, SRResNet
from avfh_core.models.vfhgan import PatchDiscriminator, VFHGANConfig, VFHGenerator
from avfh_core.nn.init import build, seeded
from avfh_core.train.evaluate import sr_scores
from avfh_core.train.experiment import Trained
from avfh_core.train.loop import rank, train_loop
from avfh_core.train.pretrain import load_feature_net, pretrained_lipreader

PAPER = "vfhgan"
RELEASED_WEIGHTS: dict[str, float] = dict(pixel=1.0, perceptual=1.0, lip=1e-4, frequency=1e-4, adversarial=1e-3)
MODELS = ("vfhgan", "srresnet", "bicubic")


@dataclass(frozen=True)
class VFHGANRun:
    """One training run (one table row): which model, generator switches, loss weights and synthetic world.
    Build it with `VFHGANRun.make`, which drops overrides equal to the defaults so equal runs cache equal."""

    model: str = "vfhgan"  # "vfhgan" | "srresnet" | "bicubic"
    generator: tuple[tuple[str, Any], ...] = ()  # VFHGANConfig overrides
    weights: tuple[tuple[str, float], ...] = ()  # overrides of RELEASED_WEIGHTS
    world: tuple[tuple[str, Any], ...] = ()  # data.synth.world overrides (voice_coupling, shuffle_audio, ...)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        unknown = [k for k, _ in self.weights if k not in RELEASED_WEIGHTS]
        if unknown:
            raise ValueError(f"unknown loss weight(s) {unknown}; known: {sorted(RELEASED_WEIGHTS)}")

    @classmethod
    def make(cls, model: str = "vfhgan", generator: Mapping | None = None, weights: Mapping | None = None,
             world: Mapping | None = None) -> VFHGANRun:
        defaults = VFHGANConfig().as_dict()
        gen = {k: v for k, v in (generator or {}).items() if k not in defaults or defaults[k] != v}
        wts = {k: float(v) for k, v in (weights or {}).items() if RELEASED_WEIGHTS.get(k) != v}
        return cls(model, tuple(sorted(gen.items())), tuple(sorted(wts.items())), tuple(sorted((world or {}).items())))

    def loss_weights(self) -> dict[str, float]:
        return {**RELEASED_WEIGHTS, **dict(self.weights)}

    def generator_config(self, cfg) -> VFHGANConfig:
        return VFHGANConfig(**{"width": cfg.width, "scale": cfg.scale, "window": cfg.window,
                               "n_stages": cfg.vfhgan_stages, **dict(self.generator)})


# ----------------------------------------------------------------------------------------------------------------
# The table rows (defined here only; the paper's numbers are in avfh_core/reproduce/tables/vfhgan.yaml)

TABLE1_ROWS: dict[str, dict] = {  # generator switches
    "no_audio": dict(use_audio=False, use_neighbours=False, use_attention=False),  # PHFE-B only (paper's w/o audio)
    "audio": dict(use_audio=True, use_neighbours=True, use_attention=False),
    "audio_attention": dict(use_audio=True, use_neighbours=True, use_attention=True),
    "visual_only": dict(use_audio=False, use_neighbours=True, use_attention=True),  # ours: isolates the audio
}
TABLE2_ROWS: dict[str, dict[str, float]] = {  # which terms of eq. 11 are on (pixel, perceptual always)
    "a_perc_adv": dict(lip=0.0, frequency=0.0), "b_freq": dict(lip=0.0), "c_lip": dict(frequency=0.0), "d_all": {},
}
BACKBONE_ROWS: dict[str, dict] = {"mixnet": dict(backbone="mixnet"), "phfe": {}}
WORLDS: dict[str, dict] = {"intact": {}, "no_coupling": dict(voice_coupling=0.0), "shuffled": dict(shuffle_audio=True)}


def ablation_weights(cfg) -> dict[str, float] | None:
    """Loss weights of the ablations outside Table 2: all terms (None), or without the lip term when
    cfg.vfhgan_ablation_lip is False (at its released weight it is a tiny part of the loss while it doubles the
    cost of a CPU step; Table 2 measures it directly)."""
    return None if cfg.vfhgan_ablation_lip else dict(lip=0.0)


def table1(cfg) -> dict[str, VFHGANRun]:
    return {k: VFHGANRun.make(generator=g, weights=ablation_weights(cfg)) for k, g in TABLE1_ROWS.items()}


def table2(cfg) -> dict[str, VFHGANRun]:
    return {k: VFHGANRun.make(weights=w) for k, w in TABLE2_ROWS.items()}


def backbone(cfg) -> dict[str, VFHGANRun]:
    return {k: VFHGANRun.make(generator=g, weights=ablation_weights(cfg)) for k, g in BACKBONE_ROWS.items()}


def table3(cfg) -> dict[str, VFHGANRun]:
    """Bicubic, SRResNet (pixel + perceptual), SRGAN (+ adversarial), ours."""
    return {"bicubic": VFHGANRun.make("bicubic"),
            "srresnet": VFHGANRun.make("srresnet", weights=dict(lip=0.0, frequency=0.0, adversarial=0.0)),
            "srgan": VFHGANRun.make("srresnet", weights=dict(lip=0.0, frequency=0.0)),
            "ours": VFHGANRun.make(weights=ablation_weights(cfg))}


def causal(cfg) -> dict[str, VFHGANRun]:
    """The synthetic world's causal knob: the model with and without its audio branch, in three worlds."""
    return {f"{w}/{row}": VFHGANRun.make(generator=TABLE1_ROWS[g], world=world, weights=ablation_weights(cfg))
            for w, world in WORLDS.items() for row, g in (("audio", "audio_attention"), ("no_audio", "visual_only"))}


def weight_sensitivity(cfg, term: str, factors: tuple[float, ...] = (0.0, 1.0, 100.0)) -> dict[str, VFHGANRun]:
    """The released weight of `term` scaled by each factor (0 = off), the other weights as the ablations'."""
    if term not in RELEASED_WEIGHTS:
        raise ValueError(f"term must be one of {sorted(RELEASED_WEIGHTS)}, got {term!r}")
    base = ablation_weights(cfg) or {}
    return {f"{term}x{f:g}": VFHGANRun.make(weights={**base, term: RELEASED_WEIGHTS[term] * f}) for f in factors}


TABLES: dict[str, Callable[[Any], dict[str, VFHGANRun]]] = {
    "table1": table1, "table2": table2, "backbone": backbone, "table3": table3, "causal": causal}


# ----------------------------------------------------------------------------------------------------------------
# Data and the objective (eq. 11)

_DATA: dict[tuple, WindowDataset] = {}


def window_data(cfg, split: str, world: Mapping[str, Any] | None = None) -> WindowDataset:
    """2j+1-frame windows of the run's synthetic world (`data.synth.world`), cached in-process."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    n = cfg.n_train_clips if split == "train" else cfg.n_eval_clips
    w = synth.world(cfg, **dict(world or {}))
    key = (w.key, cfg.window, cfg.scale, split, n)
    if key not in _DATA:
        _DATA[key] = WindowDataset(w.dataset(split, n_clips=n), window=cfg.window, scale=cfg.scale)
    return _DATA[key]


def replace_centre(window: torch.Tensor, frame: torch.Tensor, centre: int) -> torch.Tensor:
    """The window [B,T,3,H,W] with frame `centre` replaced by `frame` [B,3,H,W] (differentiable in `frame`)."""
    return torch.cat([window[:, :centre], frame[:, None], window[:, centre + 1:]], dim=1)


@dataclass
class VFHGANObjective:
    """Eq. 11. A term whose weight is 0 (or whose callable is None) is skipped. perceptual(sr, hr) and
    frequency(sr, hr) -> scalar; lip(sr_window, hr_window, landmarks) -> scalar (mouth crops are taken inside)."""

    weights: dict[str, float] = field(default_factory=lambda: dict(RELEASED_WEIGHTS))
    perceptual: Callable | None = None
    frequency: Callable | None = None
    lip: Callable | None = None

    def generator_terms(self, sr: torch.Tensor, batch: Mapping[str, torch.Tensor],
                        discriminator: nn.Module | None = None) -> dict[str, torch.Tensor]:
        w, hr_window = self.weights, batch["hr"]
        centre = hr_window.shape[1] // 2
        hr = hr_window[:, centre]
        terms: dict[str, torch.Tensor] = {}
        if w.get("pixel", 0):
            terms["pixel"] = F.mse_loss(sr, hr)
        if w.get("perceptual", 0) and self.perceptual is not None:
            terms["perceptual"] = self.perceptual(sr, hr)
        if w.get("frequency", 0) and self.frequency is not None:
            terms["frequency"] = self.frequency(sr, hr)
        if w.get("lip", 0) and self.lip is not None:
            terms["lip"] = self.lip(replace_centre(hr_window, sr, centre), hr_window, batch["landmarks"])
        if w.get("adversarial", 0) and discriminator is not None:
            terms["adversarial"] = lsgan_g_loss(discriminator(sr))
        if not terms:
            raise ValueError(f"every loss term is off (weights {w}); nothing to train")
        terms["total"] = sum(w[k] * v for k, v in terms.items())
        return terms


def build_objective(cfg, weights: Mapping[str, float]) -> VFHGANObjective:
    """The objective with the real loss modules (only the terms with a non-zero weight are built; the feature
    net and the lip reader are pretrained once per configuration and cached)."""
    weights = dict(weights)
    perceptual = PerceptualLoss(load_feature_net(cfg)).to(cfg.device) if weights.get("perceptual", 0) else None
    frequency = FocalFrequencyLoss() if weights.get("frequency", 0) else None
    lip = None
    if weights.get("lip", 0):
        lipreader, info = pretrained_lipreader(cfg)
        lip = LipReadingLoss(lipreader).to(cfg.device)
        lip.info = info
    return VFHGANObjective(weights, perceptual, frequency, lip)


# ----------------------------------------------------------------------------------------------------------------
# The contract: init, train, eval_set, predict, score


def init(run: VFHGANRun, cfg, *, seed: int) -> dict[str, nn.Module]:
    """The run's untrained networks, each from its own random stream: the generator, and the discriminator when
    the adversarial weight is on."""
    def generator() -> nn.Module:
        if run.model == "vfhgan":
            return VFHGenerator(run.generator_config(cfg))
        if run.model == "srresnet":
            return SRResNet(width=cfg.width, n_blocks=cfg.vfhgan_stages, scale=cfg.scale)
        return Bicubic(cfg.scale)

    models = {"generator": build(seed, "generator", generator)}
    if run.model != "bicubic" and run.loss_weights().get("adversarial", 0):
        models["discriminator"] = build(seed, "discriminator", lambda: PatchDiscriminator(
            width=max(8, cfg.width // 2), n_down=3 if cfg.hr_size >= 64 else 2))
    return models


def train(run: VFHGANRun, cfg, *, seed: int, steps: int | None = None, progress: bool = False,
          objective: VFHGANObjective | None = None, data=None, checkpoint_path=None, eval_fn=None) -> Trained:
    """Train the generator (and the discriminator) of `run` with the eq.-11 objective through `train_loop`; the
    networks come back in eval mode with the loss curves. eval_fn(models, step) -> dict (e.g. `evaluate.probe`)
    runs every cfg.eval_every steps."""
    models = init(run, cfg, seed=seed)
    if run.model == "bicubic":
        return Trained({k: m.eval() for k, m in models.items()})
    steps = cfg.steps if steps is None else steps
    weights = run.loss_weights()
    objective = objective or build_objective(cfg, weights)
    objective.weights = weights
    data = data if data is not None else window_data(cfg, "train", dict(run.world))
    gen, disc = models["generator"], models.get("discriminator")
    optimizers = {"generator": torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.9, 0.99))}
    if disc is not None:
        optimizers["discriminator"] = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.99))

    def step_fn(batch, step):
        sr = gen(batch["lr"].contiguous(), batch["mel"])
        out = {}
        if disc is not None:
            d_loss = lsgan_d_loss(disc(batch["hr"][:, batch["hr"].shape[1] // 2]), disc(sr.detach()))
            optimizers["discriminator"].zero_grad(set_to_none=True)
            d_loss.backward()
            optimizers["discriminator"].step()
            out["d_loss"] = d_loss.item()
        terms = objective.generator_terms(sr, batch, disc)
        optimizers["generator"].zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizers["generator"].step()
        return {**out, **{k: v.item() for k, v in terms.items()}}

    batches = step_batches(data, cfg.batch_size, seed + 7919 * rank(), cfg.device)  # own batches per DDP rank
    with seeded(seed, "train"):
        log = train_loop(step_fn, models, optimizers, batches, steps, cfg=cfg, checkpoint_path=checkpoint_path,
                         checkpoint_every=cfg.checkpoint_every if checkpoint_path else 0,
                         eval_fn=(lambda step: eval_fn(models, step)) if eval_fn else None,
                         eval_every=cfg.eval_every if eval_fn else 0, progress=progress,
                         desc=f"{run.model} seed {seed}")
    return Trained({k: m.eval() for k, m in models.items()}, log)


def eval_set(run: VFHGANRun, cfg) -> tuple[WindowDataset, list[int]]:
    """The held-out identities (test split) of the run's world: cfg.vfhgan_eval_windows spread windows."""
    data = window_data(cfg, "test", dict(run.world))
    return data, spread_indices(data, cfg.vfhgan_eval_windows)


def predict(models: Mapping[str, nn.Module], batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The super-resolved centre frame [B, 3, H, W] of each window."""
    return models["generator"](batch["lr"], batch["mel"]).clamp(0, 1)


def score(pred: torch.Tensor, batch: Mapping[str, torch.Tensor], cfg) -> dict[str, torch.Tensor]:
    """Sec. 4.1: PSNR/SSIM on Y, ERQA, and PSNR/SSIM inside the mouth box, against the centre HR frame."""
    hr = batch["hr"][:, batch["hr"].shape[1] // 2]
    return sr_scores(pred, hr, cfg.scale, batch["mouth_box"])


# ----------------------------------------------------------------------------------------------------------------
# Positive controls of the claims audit (the `controls:` section of reproduce/tables/vfhgan.yaml)


def positive_controls(cfg, n_seeds: int | None = None, handicap_db: float = 0.5,
                      progress: bool = False) -> dict[str, dict[str, list[float]]]:
    """Planted effects, one per claim family, scored like the table rows: {row: {metric: [one value per seed]}}
    (seeds cfg.seed, cfg.seed + 1, ...; log it as `controls_seeds` and the audit scores it).

    - audio helps: "erased_visual" vs "erased_audio". The mouth box is erased from every LR frame of the windows
      (`data.degrade.erase_boxes`, train and test), so the mouth can come only from the audio: the audio model
      (Table 1's audio_attention) must beat the same generator without its audio branch (visual_only) on mouth
      PSNR. Trained here (the erased world is not a cached run).
    - the method beats a baseline: "ours" vs "handicapped". The handicapped row of seed s is the trained Table-3
      "ours" of the next seed (cyclically) with its error amplified, hr + k (sr - hr), k = 10^(handicap_db / 20):
      its MSE is k^2 times, a PSNR drop of exactly `handicap_db` before clipping to [0, 1] (at most that after).
      Taking the next seed's model makes the seed-to-seed spread enter the difference as it does for two trained
      rows (with one seed the row pairs with itself). Reuses the cached Table-3 runs.
    - a loss term helps: "loss_removed" vs "loss_kept": the pixel-MSE-only objective, trained ("kept"), against the
      same generator with that term removed, which leaves nothing to train: the untrained generator of the same
      seed. Removing the only term must matter.
    """
    import copy
    import sys

    from avfh_core.data.degrade import erase_boxes
    from avfh_core.train.evaluate import evaluate
    from avfh_core.train.experiment import cached_run
    from avfh_core.train.experiment import seeds as seed_list

    if not handicap_db > 0:
        raise ValueError(f"handicap_db must be > 0, got {handicap_db}")
    me = sys.modules[__name__]
    ss = seed_list(cfg, n_seeds)

    def erased(ds: WindowDataset) -> WindowDataset:
        out = copy.copy(ds)
        out.clips = [dict(c, lr=erase_boxes(c["lr"], c["box"], box_scale=ds.scale)) for c in ds.clips]
        return out

    test, idx = eval_set(VFHGANRun.make(), cfg)
    train_e, test_e = erased(window_data(cfg, "train")), erased(test)
    weights = ablation_weights(cfg)
    per: dict[str, list[dict[str, float]]] = {}
    for row, gen in (("erased_visual", TABLE1_ROWS["visual_only"]), ("erased_audio", TABLE1_ROWS["audio_attention"])):
        run = VFHGANRun.make(generator=gen, weights=weights)
        for s in ss:
            trained = train(run, cfg, seed=s, data=train_e, progress=progress)
            per.setdefault(row, []).append(evaluate(predict, score, trained.models, test_e, idx, cfg))

    k = 10 ** (handicap_db / 20)

    def handicapped(models, batch):
        hr = batch["hr"][:, batch["hr"].shape[1] // 2]
        return (hr + k * (predict(models, batch) - hr)).clamp(0, 1)

    ours = table3(cfg)["ours"]
    runs = [cached_run(me, ours, cfg, s) for s in ss]
    for i in range(len(ss)):
        per.setdefault("ours", []).append(runs[i][0])
        per.setdefault("handicapped", []).append(
            evaluate(handicapped, score, runs[(i + 1) % len(ss)][1].models, test, idx, cfg))

    pixel_only = VFHGANRun.make(weights={t: (1.0 if t == "pixel" else 0.0) for t in RELEASED_WEIGHTS})
    for s in ss:
        per.setdefault("loss_kept", []).append(cached_run(me, pixel_only, cfg, s)[0])
        untrained = {n: m.to(cfg.device).eval() for n, m in init(pixel_only, cfg, seed=s).items()}
        per.setdefault("loss_removed", []).append(evaluate(predict, score, untrained, test, idx, cfg))
    return {row: {m: [p[m] for p in vals] for m in vals[0]} for row, vals in per.items()}


if __name__ == "__main__":  # python -m avfh_core.train.vfhgan --preset gpu  (or under torchrun: data parallel)
    import sys

    from avfh_core.train.experiment import main

    main(sys.modules[__name__], VFHGANRun.make())
