"""VFH-GAN (Sharma, Dhall, Kumar, Bawa, "Audio-visual video face hallucination with frequency supervision and cross
modality support by speech based lip reading loss", arXiv 2211.10883, 2022), sec. 3.2 and 4: training and the
tables, as the per-paper contract of CONTRIBUTING.md (shared code: train/experiment.py, train/evaluate.py).

The total generator loss (eq. 11) plus the pixel term of the authors' released code:

    L = w_pix * MSE + L_vgg + alpha * L_lip (eq. 5) + beta * L_freq (eq. 10) + gamma * L_adv

The paper gives no alpha, beta, gamma. Two weight settings (`SETTINGS`, every table takes `setting=`):
- "released": the weights of the authors' released training code (`RELEASED_WEIGHTS`: perceptual 1, LSGAN 1e-3,
  focal frequency 1e-4, lip 1e-4, pixel MSE 1) with the perceptual term as MSE of raw features. What each term
  then contributes to the gradient is measured, not assumed from the loss values (notebook 05 prints the shares):
  small loss values need not mean small gradients (at step 0 the lip term's gradient is larger than its value
  suggests, the focal frequency term's is tiny).
- "balanced": each auxiliary term's weight is set by measurement (`balanced_weights`) so that its share of the
  generator's gradient norm at step 0, on training windows, is `BALANCED_SHARES` (pixel 0.5, perceptual 0.2,
  frequency, lip and adversarial 0.1 each); the perceptual term is the scale-free form (features unit-normalised over
  channels, LPIPS-style, `PerceptualLoss(normalize=True)`). The weights depend on training data and untrained
  networks only, so they are fixed before any test score exists.
The lip term (eq. 5) compares the lip reader's features of a generated window with the true window's. The released
code (and our default, `VFHGANRun.lip_window="centre"`) feeds the true window with only the centre frame generated:
one generator pass per item. `lip_window="generated"` trains eq. 5 as written: every frame of the window generated
from its own LR window and audio (`data.windows.NeighbourWindows`, 2j+1 passes per item, gradient into all of them);
`lip_window_study` and `benchmarks/vfhgan_lip_window.py` measure what the difference does.
Every run logs each term's value and its gradient share (`train.loop.gradient_shares`) at step 0 and every
cfg.vfhgan_grad_every steps, and the discriminator's accuracy on real and generated frames at every step.

GAN optimisation (the paper gives none): G Adam(lr=cfg.lr, betas=(0.9, 0.99)); D Adam(lr=cfg.vfhgan_d_lr, equal to
G's at every preset, betas=(0.5, 0.999) as DCGAN), one D step per G step. Measured on 2026-12-04 at the course
preset (full model, released weights, seed 0, 150 steps; D patch accuracy in 25-step means): D lr 1e-3 gives 0.52
0.54 0.62 0.63 0.68 0.88, D lr 1e-4 gives 0.53 0.60 0.80 0.95 0.98 0.99, so a slower D does not keep it from winning
(it wins sooner). D starts at chance now that G starts at bicubic (the old "D wins at once", d_loss ~1e-3 from the
first steps, most likely came from the randomly initialised head's checkerboard, which a PatchGAN separates easily;
not re-measured). What lets D win later is that G does not answer it: with the released weights the adversarial
term's share of G's gradient is 1e-4 to 1e-2 while the perceptual term's is 0.97-0.9998 (same run), so G follows the
perceptual term alone. The balanced setting gives the adversarial term a 0.1 share instead.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.data import synth
from avfh_core.data.batching import spread_indices, step_batches
from avfh_core.data.windows import NeighbourWindows, WindowDataset, has_neighbour_windows, neighbour_windows
from avfh_core.losses.adversarial import lsgan_d_loss, lsgan_g_loss
from avfh_core.losses.frequency import FocalFrequencyLoss
from avfh_core.losses.lipreading import LipReadingLoss
from avfh_core.losses.perceptual import PerceptualLoss
from avfh_core.models.baselines import Bicubic, SRResNet
from avfh_core.models.vfhgan import PatchDiscriminator, VFHGANConfig, VFHGenerator
from avfh_core.nn.init import build, seeded
from avfh_core.train.evaluate import evaluate, sr_scores
from avfh_core.train.experiment import Trained
from avfh_core.train.loop import frozen, gradient_shares, rank, train_loop
from avfh_core.train.pretrain import load_feature_net, pretrained_lipreader

PAPER = "vfhgan"
RELEASED_WEIGHTS: dict[str, float] = dict(pixel=1.0, perceptual=1.0, lip=1e-4, frequency=1e-4, adversarial=1e-3)
MODELS = ("vfhgan", "srresnet", "bicubic")
SETTINGS = ("released", "balanced")
PERCEPTUAL_FORMS = ("mse", "normalized")  # raw-feature MSE (released) | unit-normalised features (scale-free)
# what the lip reader of eq. 5 sees: the true window with only its centre frame generated (the released code's form,
# one generator pass per item) | a window whose 2j+1 frames are all generated, each from its own LR window and audio
# (eq. 5 as written; 2j+1 passes per item, `data.windows.NeighbourWindows`)
LIP_WINDOWS = ("centre", "generated")
# target share of the generator's gradient norm at step 0 per term, "balanced" setting (sums to 1)
BALANCED_SHARES: dict[str, float] = dict(pixel=0.5, perceptual=0.2, frequency=0.1, lip=0.1, adversarial=0.1)


@dataclass(frozen=True)
class VFHGANRun:
    """One training run (one table row): which model, generator switches, loss weights and synthetic world.
    Build it with `VFHGANRun.make`, which drops overrides equal to the defaults so equal runs cache equal."""

    model: str = "vfhgan"  # "vfhgan" | "srresnet" | "bicubic"
    generator: tuple[tuple[str, Any], ...] = ()  # VFHGANConfig overrides
    weights: tuple[tuple[str, float], ...] = ()  # overrides of RELEASED_WEIGHTS
    world: tuple[tuple[str, Any], ...] = ()  # data.synth.world overrides (voice_coupling, shuffle_audio, ...)
    perceptual: str = "mse"  # PERCEPTUAL_FORMS
    lip_window: str = "centre"  # LIP_WINDOWS

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.perceptual not in PERCEPTUAL_FORMS:
            raise ValueError(f"perceptual must be one of {PERCEPTUAL_FORMS}, got {self.perceptual!r}")
        if self.lip_window not in LIP_WINDOWS:
            raise ValueError(f"lip_window must be one of {LIP_WINDOWS}, got {self.lip_window!r}")
        unknown = [k for k, _ in self.weights if k not in RELEASED_WEIGHTS]
        if unknown:
            raise ValueError(f"unknown loss weight(s) {unknown}; known: {sorted(RELEASED_WEIGHTS)}")

    @classmethod
    def make(cls, model: str = "vfhgan", generator: Mapping | None = None, weights: Mapping | None = None,
             world: Mapping | None = None, perceptual: str = "mse", lip_window: str = "centre") -> VFHGANRun:
        defaults = VFHGANConfig().as_dict()
        gen = {k: v for k, v in (generator or {}).items() if k not in defaults or defaults[k] != v}
        wts = {k: float(v) for k, v in (weights or {}).items() if RELEASED_WEIGHTS.get(k) != v}
        return cls(model, tuple(sorted(gen.items())), tuple(sorted(wts.items())), tuple(sorted((world or {}).items())),
                   perceptual, lip_window)

    @property
    def generates_lip_window(self) -> bool:
        """True when training generates every frame of the lip reader's window (lip_window "generated" with the lip
        term on): its batches carry each frame's own window (`NeighbourWindows`)."""
        return self.lip_window == "generated" and self.model == "vfhgan" and bool(self.loss_weights().get("lip", 0))

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
FUSION_ROWS: dict[str, dict] = {"add": {}, "concat": dict(fusion="concat")}  # eq. 2 / released code vs the text
WORLDS: dict[str, dict] = {"intact": {}, "no_coupling": dict(voice_coupling=0.0), "shuffled": dict(shuffle_audio=True)}
ERASE_MOUTH = "erase_mouth"  # a world option of ours (not data.synth's): the LR mouth erased, `erase_mouths`
STILL_MOUTH = "still_mouth"  # a world option of ours: the LR frames rendered with a still mouth, `still_mouths`
PLANT_JAW = "plant_jaw"  # a world option of ours: each HR mouth box darkened by this x the frame's jaw, `plant_jaw`


def ablation_weights(cfg) -> dict[str, float] | None:
    """Loss weights of the ablations outside Table 2: all terms (None), or without the lip term when
    cfg.vfhgan_ablation_lip is False (at its released weight it is a tiny part of the loss while it doubles the
    cost of a CPU step; Table 2 measures it directly)."""
    return None if cfg.vfhgan_ablation_lip else dict(lip=0.0)


def setting_base(cfg, setting: str = "released") -> tuple[dict[str, float], str]:
    """(weight overrides, perceptual form) of a weight setting: "released" ({}, "mse") or "balanced" (the
    measured `balanced_weights(cfg)`, "normalized")."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
    if setting == "released":
        return {}, "mse"
    return balanced_weights(cfg), "normalized"


def _make(cfg, setting: str, model: str = "vfhgan", generator=None, weights=None, world=None) -> VFHGANRun:
    base, form = setting_base(cfg, setting)
    return VFHGANRun.make(model, generator=generator, weights={**base, **(weights or {})}, world=world,
                          perceptual=form)


def table1(cfg, setting: str = "released") -> dict[str, VFHGANRun]:
    return {k: _make(cfg, setting, generator=g, weights=ablation_weights(cfg)) for k, g in TABLE1_ROWS.items()}


def table2(cfg, setting: str = "released") -> dict[str, VFHGANRun]:
    return {k: _make(cfg, setting, weights=w) for k, w in TABLE2_ROWS.items()}


def backbone(cfg, setting: str = "released") -> dict[str, VFHGANRun]:
    return {k: _make(cfg, setting, generator=g, weights=ablation_weights(cfg)) for k, g in BACKBONE_ROWS.items()}


def fusion(cfg, setting: str = "released") -> dict[str, VFHGANRun]:
    """CMFE-B fusion ablation: additive (eq. 2, the released code; the default, so this row is table1's
    audio_attention and costs nothing extra) vs concatenation (the paper's text)."""
    return {k: _make(cfg, setting, generator=g, weights=ablation_weights(cfg)) for k, g in FUSION_ROWS.items()}


def table3(cfg, setting: str = "released") -> dict[str, VFHGANRun]:
    """Bicubic, SRResNet (pixel + perceptual), SRGAN (+ adversarial), ours."""
    return {"bicubic": VFHGANRun.make("bicubic"),
            "srresnet": _make(cfg, setting, "srresnet", weights=dict(lip=0.0, frequency=0.0, adversarial=0.0)),
            "srgan": _make(cfg, setting, "srresnet", weights=dict(lip=0.0, frequency=0.0)),
            "ours": _make(cfg, setting, weights=ablation_weights(cfg))}


def causal(cfg, setting: str = "released") -> dict[str, VFHGANRun]:
    """The synthetic world's causal knob: the model with and without its audio branch, in three worlds."""
    return {f"{w}/{row}": _make(cfg, setting, generator=TABLE1_ROWS[g], world=world, weights=ablation_weights(cfg))
            for w, world in WORLDS.items() for row, g in (("audio", "audio_attention"), ("no_audio", "visual_only"))}


def weight_sensitivity(cfg, term: str, factors: tuple[float, ...] = (0.0, 1.0, 100.0),
                       setting: str = "released") -> dict[str, VFHGANRun]:
    """The setting's weight of `term` scaled by each factor (0 = off), the other weights as the ablations'."""
    if term not in RELEASED_WEIGHTS:
        raise ValueError(f"term must be one of {sorted(RELEASED_WEIGHTS)}, got {term!r}")
    base, _ = setting_base(cfg, setting)
    w0 = {**RELEASED_WEIGHTS, **base}[term]
    return {f"{term}x{f:g}": _make(cfg, setting, weights={**(ablation_weights(cfg) or {}), term: w0 * f})
            for f in factors}


def pixel_only(cfg) -> VFHGANRun:
    """The sanity row: the full generator trained on the pixel MSE alone (every other weight 0)."""
    return VFHGANRun.make(weights={k: (1.0 if k == "pixel" else 0.0) for k in RELEASED_WEIGHTS})


TABLES: dict[str, Callable[[Any], dict[str, VFHGANRun]]] = {
    "table1": table1, "table2": table2, "backbone": backbone, "fusion": fusion, "table3": table3, "causal": causal}


# ----------------------------------------------------------------------------------------------------------------
# Data and the objective (eq. 11)

_DATA: dict[tuple, WindowDataset] = {}


def window_data(cfg, split: str, world: Mapping[str, Any] | None = None) -> WindowDataset:
    """2j+1-frame windows of the run's synthetic world (`data.synth.world`), cached in-process."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    n = cfg.n_train_clips if split == "train" else cfg.n_eval_clips
    world = dict(world or {})
    erase = bool(world.pop(ERASE_MOUTH, False))
    still = bool(world.pop(STILL_MOUTH, False))
    jaw = float(world.pop(PLANT_JAW, 0.0))
    w = synth.world(cfg, **world)
    key = (w.key, cfg.window, cfg.scale, split, n, erase, still, jaw)
    if key not in _DATA:
        samples = w.dataset(split, n_clips=n)
        ds = WindowDataset(samples, window=cfg.window, scale=cfg.scale)
        if still:
            still_world = synth.world(cfg, **{**world, "mouth_motion": 0.0})
            ds = still_mouths(ds, WindowDataset(still_world.dataset(split, n_clips=n), window=cfg.window,
                                                scale=cfg.scale))
        if jaw:
            ds = plant_jaw(ds, [samples[c].extras.get("jaw") for c in range(len(samples))], jaw)
        _DATA[key] = erase_mouths(ds) if erase else ds
    return _DATA[key]


def _with_videos(ds: WindowDataset, key: str, videos: Sequence[torch.Tensor]) -> WindowDataset:
    """A shallow copy of `ds` whose clips carry `videos` (one per clip) as their `key` ("lr" or "hr"); everything
    else is `ds`'s."""
    import copy

    out = copy.copy(ds)
    out.clips = [dict(c, **{key: v}) for c, v in zip(ds.clips, videos)]
    return out


def still_mouths(ds: WindowDataset, still: WindowDataset) -> WindowDataset:
    """A copy of `ds` whose LR frames are those of `still`: the same clips rendered with a still mouth
    (`data.synth` mouth_motion=0; the head, light, eyes and speech are the same). The HR targets, mel windows and
    mouth boxes stay `ds`'s, so the LR shows what each mouth looks like but never how it moves: only the audio can
    tell that (the audio control of `positive_controls`)."""
    if len(still.clips) != len(ds.clips) or any(a["lr"].shape != b["lr"].shape for a, b in zip(ds.clips, still.clips)):
        raise ValueError(f"still_mouths: the still-mouth clips ({len(still.clips)}) must match the clips "
                         f"({len(ds.clips)}) one for one, with the same LR shapes")
    return _with_videos(ds, "lr", [c["lr"] for c in still.clips])


def plant_jaw(ds: WindowDataset, jaws: Sequence[torch.Tensor | None], amount: float) -> WindowDataset:
    """A copy of `ds` whose HR frames have the mouth box darkened by `amount` times the frame's jaw opening (jaws[c]:
    clip c's [T] jaw track in [0, 1], the world's own, which the speech carries; `data.synth` records it in each
    sample's extras). The LR frames, mel windows and boxes stay `ds`'s: the LR never shows the darkening, so only
    the audio can say how dark the mouth is. A planted effect that is the same for every person (the natural
    articulation mostly is not: `reproduce.headroom` measures its shared part), for the audio control that a
    trained model can pass (`positive_controls`' "jaw" family)."""
    from avfh_core.metrics.image import box_mask

    if not 0 < amount <= 1:
        raise ValueError(f"plant_jaw: amount must be in (0, 1], got {amount}")
    if len(jaws) != len(ds.clips):
        raise ValueError(f"plant_jaw: got {len(jaws)} jaw tracks for {len(ds.clips)} clips")
    hrs = []
    for c, (d, jaw) in enumerate(zip(ds.clips, jaws)):
        T = d["hr"].shape[0]
        if jaw is None or torch.as_tensor(jaw).shape != (T,):
            raise ValueError(f"plant_jaw: clip {c} needs a jaw track of {T} frames (a synthetic world's sample "
                             f"extras['jaw']), got {None if jaw is None else tuple(torch.as_tensor(jaw).shape)}")
        hr = d["hr"].float() / 255 if d["hr"].dtype == torch.uint8 else d["hr"].float()
        inside = box_mask(tuple(hr.shape[-2:]), d["box"], device=hr.device).to(hr.dtype)[:, None]
        j = torch.as_tensor(jaw).to(hr.dtype)
        hrs.append((hr - amount * j[:, None, None, None] * inside).clamp(0, 1))
    return _with_videos(ds, "hr", hrs)


def erase_mouths(ds: WindowDataset) -> WindowDataset:
    """A copy of `ds` whose LR frames have the mouth box erased (`data.degrade.erase_boxes`) in every frame: the HR
    targets keep their mouths, so the mouth can be restored only from what else the model gets (the audio)."""
    from avfh_core.data.degrade import erase_boxes

    return _with_videos(ds, "lr", [erase_boxes(c["lr"], c["box"], box_scale=ds.scale) for c in ds.clips])


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
                        discriminator: nn.Module | None = None,
                        sr_window: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The weighted terms of eq. 11 for the generated centre frames `sr` [B,3,H,W] and their "total".
        sr_window [B,2j+1,3,H,W]: every frame of the window generated (its centre is `sr`); when given, the lip
        reader sees it (eq. 5 as written), else the true window with only the centre replaced by `sr`."""
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
            if sr_window is not None and tuple(sr_window.shape) != tuple(hr_window.shape):
                raise ValueError(f"sr_window must be shaped like the HR window {tuple(hr_window.shape)}, "
                                 f"got {tuple(sr_window.shape)}")
            seen = replace_centre(hr_window, sr, centre) if sr_window is None else sr_window
            terms["lip"] = self.lip(seen, hr_window, batch["landmarks"])
        if w.get("adversarial", 0) and discriminator is not None:
            with frozen(discriminator):  # D's own weight gradients from G's loss would be discarded: not computed
                terms["adversarial"] = lsgan_g_loss(discriminator(sr))
        if not terms:
            raise ValueError(f"every loss term is off (weights {w}); nothing to train")
        terms["total"] = sum(w[k] * v for k, v in terms.items())
        return terms


def build_objective(cfg, weights: Mapping[str, float], perceptual_form: str = "mse") -> VFHGANObjective:
    """The objective with the real loss modules (only the terms with a non-zero weight are built; the feature
    net and the lip reader are pretrained once per configuration and cached). perceptual_form: "mse" (raw features,
    as the released code) or "normalized" (scale-free: features unit-normalised over channels)."""
    if perceptual_form not in PERCEPTUAL_FORMS:
        raise ValueError(f"perceptual_form must be one of {PERCEPTUAL_FORMS}, got {perceptual_form!r}")
    weights = dict(weights)
    perceptual = (PerceptualLoss(load_feature_net(cfg), normalize=perceptual_form == "normalized").to(cfg.device)
                  if weights.get("perceptual", 0) else None)
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
        models["discriminator"] = build(seed, "discriminator", lambda: _discriminator(cfg))
    return models


def _discriminator(cfg) -> PatchDiscriminator:
    return PatchDiscriminator(width=max(8, cfg.width // 2), n_down=3 if cfg.hr_size >= 64 else 2)


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
    objective = objective or build_objective(cfg, weights, run.perceptual)
    objective.weights = weights
    data = data if data is not None else window_data(cfg, "train", dict(run.world))
    if run.generates_lip_window:  # eq. 5 as written: each frame of the lip window generated from its own window
        data = NeighbourWindows(data)
    gen, disc = models["generator"], models.get("discriminator")
    optimizers = gan_optimizers(gen, disc, cfg)
    grad_every = int(cfg.vfhgan_grad_every)

    def step_fn(batch, step):
        sr_window = None
        if "lr_windows" in batch:  # one pass over the B x (2j+1) windows; the centre frame is the usual output
            b, n = batch["lr_windows"].shape[:2]
            sr_window = gen(batch["lr_windows"].flatten(0, 1).contiguous(), batch["mel_windows"].flatten(0, 1))
            sr_window = sr_window.reshape(b, n, *sr_window.shape[1:])
            sr = sr_window[:, n // 2]
        else:
            sr = gen(batch["lr"].contiguous(), batch["mel"])
        out = {}
        if disc is not None:
            real, fake = disc(batch["hr"][:, batch["hr"].shape[1] // 2]), disc(sr.detach())
            d_loss = lsgan_d_loss(real, fake)
            optimizers["discriminator"].zero_grad(set_to_none=True)
            d_loss.backward()
            optimizers["discriminator"].step()
            out["d_loss"] = d_loss.item()
            out.update(discriminator_accuracy(real.detach(), fake.detach()))
        terms = objective.generator_terms(sr, batch, disc, sr_window)
        if grad_every and step % grad_every == 0:  # step 0 and every grad_every steps
            out.update(gradient_shares(terms, weights, list(gen.parameters())))
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


def gan_optimizers(gen: nn.Module, disc: nn.Module | None, cfg) -> dict[str, torch.optim.Optimizer]:
    """The optimisers (see the module docstring): G Adam(cfg.lr, betas (0.9, 0.99)); D Adam(cfg.vfhgan_d_lr,
    betas (0.5, 0.999)), stepped once per G step."""
    optimizers = {"generator": torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.9, 0.99))}
    if disc is not None:
        optimizers["discriminator"] = torch.optim.Adam(disc.parameters(), lr=cfg.vfhgan_d_lr, betas=(0.5, 0.999))
    return optimizers


def discriminator_accuracy(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """The LSGAN discriminator's patch accuracy (targets 1 for real, 0 for generated; threshold 0.5): d_acc_real,
    d_acc_fake and their mean d_acc. 0.5 is chance; ~1 from the first steps on means D wins at once."""
    acc_real, acc_fake = float((real > 0.5).float().mean()), float((fake < 0.5).float().mean())
    return {"d_acc_real": acc_real, "d_acc_fake": acc_fake, "d_acc": 0.5 * (acc_real + acc_fake)}


_BALANCED: dict[tuple, dict[str, float]] = {}


def measure_gradient_shares(cfg, weights: Mapping[str, float], *, perceptual_form: str = "mse", seed: int = 0,
                            n_batches: int = 4, run: VFHGANRun | None = None) -> dict[str, float]:
    """The mean over `n_batches` training batches of each weighted term's gradient norm ("gnorm/<k>",
    `train.loop.gradient_shares`) and its share of their sum ("gshare/<k>", a ratio of the means) for the untrained generator and discriminator of `run` (default: the full model)
    at seed `seed`: what step 0 of training sees."""
    if n_batches < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    run = run or VFHGANRun.make()
    models = {k: m.to(cfg.device) for k, m in init(run, cfg, seed=seed).items()}
    if "discriminator" not in models and weights.get("adversarial", 0):
        models["discriminator"] = build(seed, "discriminator", lambda: _discriminator(cfg)).to(cfg.device)
    gen, disc = models["generator"].train(), models.get("discriminator")
    objective = build_objective(cfg, weights, perceptual_form)
    batches = step_batches(window_data(cfg, "train", dict(run.world)), cfg.batch_size, seed + 104729, cfg.device)
    acc: dict[str, float] = {}
    with seeded(seed, "gradient_shares"):  # any random draw inside a loss (e.g. dropout) is the same every call
        for i in range(n_batches):
            batch = batches(i)
            terms = objective.generator_terms(gen(batch["lr"], batch["mel"]), batch, disc)
            for k, v in gradient_shares(terms, weights, list(gen.parameters())).items():
                if k.startswith("gnorm/"):
                    acc[k] = acc.get(k, 0.0) + v / n_batches
    total = sum(acc.values())
    acc.update({"gshare/" + k.split("/", 1)[1]: v / total for k, v in list(acc.items())})
    return acc


def balanced_weights(cfg, shares: Mapping[str, float] | None = None, *, n_batches: int = 4) -> dict[str, float]:
    """The "balanced" setting: weights (pixel 1) such that each term's gradient norm at step 0 over the pixel
    term's is shares[k] / shares["pixel"] (default `BALANCED_SHARES`), measured by `measure_gradient_shares` on
    training batches at seed 0 with every term at weight 1 and the scale-free perceptual form. Rounded to two
    significant digits (readable, and stable across machines); cached in-process per configuration and seed (the
    lip term's norm is measured with cfg.seed's own lip reader, so the seed is part of the key: warm or cold, a seed
    gets the same weights)."""
    shares = dict(shares or BALANCED_SHARES)
    if set(shares) != set(RELEASED_WEIGHTS) or any(v <= 0 for v in shares.values()):
        raise ValueError(f"shares must give a positive share for each of {sorted(RELEASED_WEIGHTS)}, got {shares}")
    key = (tuple(sorted((k, str(v)) for k, v in cfg.as_dict().items())), tuple(sorted(shares.items())), n_batches)
    if key not in _BALANCED:
        ones = {k: 1.0 for k in RELEASED_WEIGHTS}
        g = measure_gradient_shares(cfg, ones, perceptual_form="normalized", seed=0, n_batches=n_batches)
        out = {"pixel": 1.0}
        for k in RELEASED_WEIGHTS:
            if k == "pixel":
                continue
            norm = g.get(f"gnorm/{k}", 0.0)
            if not norm > 0:
                raise ValueError(f"balanced_weights: the {k} term has no gradient at step 0 (norm {norm}); "
                                 "cannot set its weight by its share")
            w = shares[k] / shares["pixel"] * g["gnorm/pixel"] / norm
            out[k] = float(f"{w:.2g}")
        _BALANCED[key] = out
    return dict(_BALANCED[key])


def init_vs_bicubic(run: VFHGANRun, cfg, *, seed: int) -> dict[str, float]:
    """PSNR (Y, dB) of the run's *untrained* generator and of bicubic over the run's eval set, and the gap
    (init - bicubic). With the zero output head (`models.vfhgan.start_at_skip`) the gap is 0: training starts at
    the baseline."""
    models = {k: m.to(cfg.device) for k, m in init(run, cfg, seed=seed).items()}
    data, indices = eval_set(run, cfg)
    p_init = evaluate(predict, score, {"generator": models["generator"]}, data, indices, cfg)["psnr"]
    p_bic = evaluate(predict, score, {"generator": Bicubic(cfg.scale)}, data, indices, cfg)["psnr"]
    return {"psnr_init_db": p_init, "psnr_bicubic_db": p_bic, "gap_db": p_init - p_bic}


def eval_set(run: VFHGANRun, cfg, split: str = "test") -> tuple[WindowDataset, list[int]]:
    """The windows a run is scored on: by default the held-out identities (test split) of the run's world;
    split="train" gives the people it was trained on (the audio-use test there tells "never learned" from "not
    carried over to new people"). cfg.vfhgan_eval_windows windows spread over the split (`eval_indices`)."""
    data = window_data(cfg, split, dict(run.world))
    return data, eval_indices(data, cfg)


def eval_indices(data: WindowDataset, cfg) -> list[int]:
    """cfg.vfhgan_eval_windows windows spread evenly over `data` (the items `eval_set` scores)."""
    return spread_indices(data, cfg.vfhgan_eval_windows)


def predict(models: Mapping[str, nn.Module], batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The super-resolved centre frame [B, 3, H, W] of each window."""
    return models["generator"](batch["lr"], batch["mel"]).clamp(0, 1)


def score(pred: torch.Tensor, batch: Mapping[str, torch.Tensor], cfg) -> dict[str, torch.Tensor]:
    """Sec. 4.1: PSNR/SSIM on Y, ERQA, and PSNR/SSIM inside the mouth box, against the centre HR frame."""
    hr = batch["hr"][:, batch["hr"].shape[1] // 2]
    return sr_scores(pred, hr, cfg.scale, batch["mouth_box"])


CLI_RUNS: dict[str, Callable[[Any], VFHGANRun]] = {
    "ours": lambda cfg: VFHGANRun.make(),  # every term, released weights
    "ours_balanced": lambda cfg: table1(cfg, "balanced")["audio_attention"],
    "pixel_only": pixel_only,  # the sanity check: pixel MSE alone must beat bicubic on held-out people
}


def cli(argv: list[str] | None = None) -> None:
    """`python -m avfh_core.train.vfhgan [--run ours|ours_balanced|pixel_only] --preset ... (experiment.main's
    flags)`: train and score one run (under torchrun: data parallel); prints its scores and bicubic's."""
    import argparse

    from avfh_core.train.experiment import main

    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--run", default="ours", choices=sorted(CLI_RUNS))
    ap.add_argument("--preset", default="gpu")
    args, rest = ap.parse_known_args(argv)
    from avfh_core.config import setup

    cfg = setup(args.preset)
    main(sys.modules[__name__], CLI_RUNS[args.run](cfg), ["--preset", args.preset, *rest])
    data, indices = eval_set(VFHGANRun.make(), cfg)
    print("bicubic:", evaluate(predict, score, {"generator": Bicubic(cfg.scale)}, data, indices, cfg))


def generated_windows(generator: nn.Module, data: WindowDataset, index: int) -> torch.Tensor | None:
    """Every frame of window `index` generated from its *own* LR window and audio: [2j+1, 3, H, W], or None when
    the clip lacks the j frames either side that the neighbours' windows need. Windows of one clip are consecutive
    items of `data`, so the neighbours of item k are items k-j .. k+j (`data.windows.neighbour_windows`)."""
    if not has_neighbour_windows(data, index):
        return None
    dev = next(iter(generator.parameters()), torch.empty(0)).device
    lr, mel = neighbour_windows(data, index)
    return generator(lr.to(dev), mel.to(dev)).clamp(0, 1)


def windows_with_context(data: WindowDataset, n: int) -> list[int]:
    """Up to `n` evenly spread items of `data` whose neighbours' own windows exist (j more frames either side in
    the clip): the windows `lip_window_study` can use. Empty when the clips are too short (e.g. the smoke preset)."""
    ok = [k for k in range(len(data)) if has_neighbour_windows(data, k)]
    return [ok[i] for i in spread_indices(ok, n)] if ok else []


def lip_window_study(generator: nn.Module, lip, data: WindowDataset, indices: Sequence[int]) -> dict[str, float]:
    """Eq. 5 as the paper writes it (the lip reader sees a window whose 2j+1 frames are all generated) against the
    form we train with (`VFHGANObjective`: the ground-truth window with only the centre frame generated), on the
    same held-out windows and the same generated centre frame x.

    Returns the means over windows of: both loss values, and the cosine and the norm ratio (paper / trained) of
    their gradients with respect to x. A cosine near 1 and a ratio near 1 say that training on the centre-only
    form follows eq. 5's gradient on x; a low cosine says it pushes x elsewhere. (The paper's form also sends
    gradient to the neighbouring frames, generated from other windows; that part is not compared.) `lip` is a
    `LipReadingLoss`; windows whose clip lacks the frames for the neighbours' own windows are skipped."""
    gen_mode = generator.training
    generator.eval()
    out: dict[str, list[float]] = {k: [] for k in ("loss_trained", "loss_generated_window", "grad_cosine",
                                                  "grad_norm_ratio")}
    try:
        for k in indices:
            with torch.no_grad():
                frames = generated_windows(generator, data, int(k))
            if frames is None:
                continue
            item = data[int(k)]
            dev = frames.device
            hr, lm = item["hr"][None].to(dev), item["landmarks"][None].float().to(dev)
            c = data.window
            x = frames[c].clone()[None].requires_grad_(True)
            l_trained = lip(replace_centre(hr, x, c), hr, lm)
            g_trained, = torch.autograd.grad(l_trained, x)
            l_paper = lip(replace_centre(frames[None], x, c), hr, lm)
            g_paper, = torch.autograd.grad(l_paper, x)
            a, b = g_trained.flatten(), g_paper.flatten()
            na, nb = float(a.norm()), float(b.norm())
            out["loss_trained"].append(float(l_trained.detach()))
            out["loss_generated_window"].append(float(l_paper.detach()))
            out["grad_cosine"].append(float(a @ b) / (na * nb) if na > 0 and nb > 0 else math.nan)
            out["grad_norm_ratio"].append(nb / na if na > 0 else math.nan)
    finally:
        generator.train(gen_mode)
    n = len(out["loss_trained"])
    if n == 0:
        raise ValueError(f"lip_window_study: none of the {len(indices)} windows has the {data.window} frames either "
                         "side in its clip that the neighbours' own windows need")
    return {**{k: sum(v) / n for k, v in out.items()}, "n_windows": n}


# ----------------------------------------------------------------------------------------------------------------
# Positive controls of the claims audit (the `controls:` section of reproduce/tables/vfhgan.yaml)


def control_runs(cfg, setting: str = "released") -> dict[str, VFHGANRun]:
    """The trained rows of the audio control under one weight setting, as cached runs: Table 1's audio_attention
    ("still_audio") and visual_only ("still_visual") generators in the world whose LR frames show a still mouth
    (`still_mouths`): what each mouth looks like is in the LR, how it moves only in the audio.

    (The first form of this control erased the LR mouth, `erase_mouths`. That also hides the mouth's appearance,
    which no speech can tell, and `reproduce.headroom` measured that perfect use of the audio could then add at most
    0.1-0.2 dB: too small to be seen at three seeds. With the appearance in the LR, the same bound is above a dB.)"""
    still = {STILL_MOUTH: True}
    return {"still_visual": _make(cfg, setting, generator=TABLE1_ROWS["visual_only"], world=still,
                                  weights=ablation_weights(cfg)),
            "still_audio": _make(cfg, setting, generator=TABLE1_ROWS["audio_attention"], world=still,
                                 weights=ablation_weights(cfg))}


# The planted jaw control's darkening (of a jaw fully open). Chosen in scratch probes at 100 and 400 steps (0.1 with
# an oracle of the mouth state, 0.2 and 0.4 with the speech), before any Table 1 row was trained beside it; not
# tuned since.
JAW_PLANT = 0.4


def jaw_control_runs(cfg, setting: str = "released", amount: float = JAW_PLANT) -> dict[str, VFHGANRun]:
    """The rows of the planted audio control, as cached runs: `control_runs`' two generators ("jaw_visual",
    "jaw_audio") in the still-mouth world whose HR mouth boxes are also darkened by `amount` times the frame's jaw
    opening (`plant_jaw`). The darkening is the same for every person and the speech carries the jaw, so a model
    that reads its audio can draw it; the LR never shows it. Unlike the natural articulation (`control_runs`,
    mostly person-specific and small), this effect is large enough to be seen, once the audio branch has had the
    steps to learn to read the speech (`benchmarks/vfhgan_audio_control.py` measures how many)."""
    world = {STILL_MOUTH: True, PLANT_JAW: float(amount)}
    return {"jaw_visual": _make(cfg, setting, generator=TABLE1_ROWS["visual_only"], world=world,
                                weights=ablation_weights(cfg)),
            "jaw_audio": _make(cfg, setting, generator=TABLE1_ROWS["audio_attention"], world=world,
                               weights=ablation_weights(cfg))}


CONTROL_FAMILIES = ("still", "jaw", "handicap", "loss")


def positive_controls(cfg, setting: str = "released", n_seeds: int | None = None, handicap_db: float = 0.5,
                      progress: bool = False, families: Sequence[str] = ("still", "handicap", "loss"),
                      jaw: float = JAW_PLANT) -> dict[str, dict[str, list[float]]]:
    """Planted effects, one per claim family, under one weight setting, scored like the table rows:
    {row: {metric: [one value per seed]}} (seeds cfg.seed, cfg.seed + 1, ...; log it as `controls_seeds`, or
    `controls_balanced_seeds` for the balanced setting, and the audit scores it). Each family's control is run under
    the setting whose claims it guards: a handicap detectable with one setting's seed spread may not be with the
    other's.

    - audio helps ("still"): "still_visual" vs "still_audio" (`control_runs`). Every LR frame of the windows (train
      and test) is rendered with a still mouth while the HR target and the speech keep their articulation, so how
      the mouth moves can come only from the audio: the audio model (Table 1's audio_attention) must beat the same
      generator without its audio branch (visual_only) on mouth PSNR.
    - audio helps, planted ("jaw", not in the default `families`: it needs ~10x the course preset's steps):
      "jaw_visual" vs "jaw_audio" (`jaw_control_runs`, darkening `jaw`), the same comparison with an effect that is
      the same for every person planted in the HR mouths on top.
    - the method beats a baseline ("handicap"): "ours" vs "handicapped". The handicapped row of seed s is the setting's trained
      Table-3 "ours" of the next seed (cyclically) with its error amplified, hr + k (sr - hr), k = 10^(handicap_db /
      20): its MSE is k^2 times, a PSNR drop of exactly `handicap_db` before clipping to [0, 1] (at most that
      after). Taking the next seed's model makes the seed-to-seed spread enter the difference as it does for two
      trained rows (with one seed the row pairs with itself).
    - a loss term helps ("loss"): "loss_removed" vs "loss_kept": the pixel-MSE-only objective, trained ("kept"), against the
      same generator with that term removed, which leaves nothing to train: the untrained generator of the same
      seed. Removing the only term must matter. (The same rows under both settings: one term has no balance.)
    Every trained row is a cached run, so the rows can be trained side by side beforehand (`control_runs`,
    `jaw_control_runs`, `pixel_only`, `table3`) and this function only scores them. `families` picks the controls.
    """
    from avfh_core.train.experiment import cached_run
    from avfh_core.train.experiment import seeds as seed_list

    if not handicap_db > 0:
        raise ValueError(f"handicap_db must be > 0, got {handicap_db}")
    unknown = sorted(set(families) - set(CONTROL_FAMILIES))
    if unknown or not families:
        raise ValueError(f"families must be a non-empty subset of {CONTROL_FAMILIES}, got {list(families)}")
    me = sys.modules[__name__]
    ss = seed_list(cfg, n_seeds)
    per: dict[str, list[dict[str, float]]] = {}
    audio_rows = {**(control_runs(cfg, setting) if "still" in families else {}),
                  **(jaw_control_runs(cfg, setting, jaw) if "jaw" in families else {})}
    for row, run in audio_rows.items():
        per[row] = [cached_run(me, run, cfg, s, progress=progress)[0] for s in ss]
    if "handicap" in families:
        _handicapped(cfg, setting, ss, handicap_db, per, progress)
    if "loss" in families:
        _loss_removed(cfg, ss, per, progress)
    return {row: {m: [p[m] for p in vals] for m in vals[0]} for row, vals in per.items()}


def _handicapped(cfg, setting, ss, handicap_db, per, progress) -> None:
    """positive_controls' "ours" and "handicapped" rows, appended to `per`."""
    from avfh_core.train.evaluate import evaluate
    from avfh_core.train.experiment import cached_run

    me = sys.modules[__name__]
    k = 10 ** (handicap_db / 20)

    def handicapped(models, batch):
        hr = batch["hr"][:, batch["hr"].shape[1] // 2]
        return (hr + k * (predict(models, batch) - hr)).clamp(0, 1)

    test, idx = eval_set(VFHGANRun.make(), cfg)
    runs = [cached_run(me, table3(cfg, setting)["ours"], cfg, s, progress=progress) for s in ss]
    for i in range(len(ss)):
        per.setdefault("ours", []).append(runs[i][0])
        per.setdefault("handicapped", []).append(
            evaluate(handicapped, score, runs[(i + 1) % len(ss)][1].models, test, idx, cfg))


def _loss_removed(cfg, ss, per, progress) -> None:
    """positive_controls' "loss_kept" and "loss_removed" rows, appended to `per`."""
    from avfh_core.train.evaluate import evaluate
    from avfh_core.train.experiment import cached_run

    me = sys.modules[__name__]
    test, idx = eval_set(VFHGANRun.make(), cfg)
    pix = pixel_only(cfg)
    for s in ss:
        per.setdefault("loss_kept", []).append(cached_run(me, pix, cfg, s, progress=progress)[0])
        untrained = {n: m.to(cfg.device).eval() for n, m in init(pix, cfg, seed=s).items()}
        per.setdefault("loss_removed", []).append(evaluate(predict, score, untrained, test, idx, cfg))


if __name__ == "__main__":  # python -m avfh_core.train.vfhgan --preset gpu  (or under torchrun: data parallel)
    cli()
