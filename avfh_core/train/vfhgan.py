"""Training and experiments of VFH-GAN (Sharma et al. 2022): the total loss (eq. 11), one training run, evaluation,
and one function per table of the paper (sec. 4.2-4.3), so that the notebooks stay thin.

The total generator loss (eq. 11) plus the pixel term of the authors' released code:

    L = w_pix * MSE + L_vgg + alpha * L_lip (eq. 5) + beta * L_freq (eq. 10) + gamma * L_adv

The paper gives no alpha, beta, gamma; `RELEASED_WEIGHTS` are the weights of the authors' released code
(../shared/papers/INDEX.md): perceptual 1, LSGAN 1e-3, focal frequency 1e-4, lip 1e-4, pixel MSE 1.
`weight_sensitivity` shows what changing them does.

The lip-reading term needs a sequence of 2j+1 frames; the generator makes one frame per window. We feed the lip
reader the ground-truth window with its centre frame replaced by the generated one, so the gradient reaches the
generator through the centre frame (the authors' code detaches both branches, so their lip loss trains nothing).

Every experiment returns per-seed scores {row: {metric: [seed values]}}; `score_claims` turns them and the
paper's claims (avfh_core/reproduce/tables/vfhgan.yaml) into verdicts with `metrics.stats.claim_verdict`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

from avfh_core.models.baselines import Bicubic, SRResNet
from avfh_core.models.vfhgan import TABLE1_ROWS, PatchDiscriminator, VFHGANConfig, VFHGenerator
from avfh_core.nn.init import build, seeded
from avfh_core.train.loop import TrainLog, init_distributed, rank, train_loop

TABLES_YAML = Path(__file__).resolve().parent.parent / "reproduce" / "tables" / "vfhgan.yaml"

# Loss weights of the authors' released code (INDEX.md); the paper itself gives none.
RELEASED_WEIGHTS: dict[str, float] = dict(pixel=1.0, perceptual=1.0, lip=1e-4, frequency=1e-4, adversarial=1e-3)

# Table 2 rows: which terms of eq. 11 are on (pixel and perceptual always, as in the released code).
TABLE2_ROWS: dict[str, dict[str, float]] = {
    "a_perc_adv": dict(lip=0.0, frequency=0.0),
    "b_freq": dict(lip=0.0),
    "c_lip": dict(frequency=0.0),
    "d_all": {},
}
METRICS = ("psnr", "ssim", "erqa", "mouth_psnr", "mouth_ssim")


def load_paper_tables(path: str | Path = TABLES_YAML) -> dict[str, Any]:
    """The paper's tables and claims (transcribed, never tuned) from the YAML file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: paper tables not found")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or "tables" not in data or "claims" not in data:
        raise ValueError(f"{path}: expected keys 'tables' and 'claims'")
    return data


# ----------------------------------------------------------------------------------------------------------------
# Runs: what to train


@dataclass(frozen=True)
class RunSpec:
    """One training run: which model, which generator switches, which loss weights, which synthetic world."""

    model: str = "vfhgan"  # "vfhgan" | "srresnet" | "bicubic"
    generator: tuple[tuple[str, Any], ...] = ()  # VFHGANConfig overrides
    weights: tuple[tuple[str, float], ...] = ()  # overrides of RELEASED_WEIGHTS
    world: tuple[tuple[str, Any], ...] = ()  # SynthConfig overrides (voice_coupling, shuffle_audio, ...)

    def __post_init__(self):
        if self.model not in ("vfhgan", "srresnet", "bicubic"):
            raise ValueError(f"model must be 'vfhgan', 'srresnet' or 'bicubic', got {self.model!r}")
        unknown = [k for k, _ in self.weights if k not in RELEASED_WEIGHTS]
        if unknown:
            raise ValueError(f"unknown loss weight(s) {unknown}; known: {sorted(RELEASED_WEIGHTS)}")

    @classmethod
    def make(cls, model: str = "vfhgan", generator: Mapping | None = None, weights: Mapping | None = None,
             world: Mapping | None = None) -> RunSpec:
        """A canonical spec: overrides equal to the defaults are dropped, so equal runs compare (and cache) equal."""
        defaults = VFHGANConfig().as_dict()
        gen = {k: v for k, v in (generator or {}).items() if k not in defaults or defaults[k] != v}
        wts = {k: float(v) for k, v in (weights or {}).items() if RELEASED_WEIGHTS.get(k) != v}
        return cls(model, tuple(sorted(gen.items())), tuple(sorted(wts.items())), tuple(sorted((world or {}).items())))

    def loss_weights(self) -> dict[str, float]:
        return {**RELEASED_WEIGHTS, **dict(self.weights)}

    def generator_config(self, cfg) -> VFHGANConfig:
        return VFHGANConfig(**{"width": cfg.width, "scale": cfg.scale, "window": cfg.window,
                               "n_stages": cfg.vfhgan_stages, **dict(self.generator)})


def build_generator(spec: RunSpec, cfg) -> nn.Module:
    if spec.model == "vfhgan":
        return VFHGenerator(spec.generator_config(cfg))
    if spec.model == "srresnet":
        return SRResNet(width=cfg.width, n_blocks=cfg.vfhgan_stages, scale=cfg.scale)
    return Bicubic(cfg.scale)


# ----------------------------------------------------------------------------------------------------------------
# Data: synthetic-world windows (avfh_core.data contract)


_DATA_CACHE: dict[tuple, Any] = {}


def window_data(cfg, split: str, world: Mapping[str, Any] | None = None, n_clips: int | None = None):
    """A `WindowDataset` of the synthetic world for `split` (cached in-process per world and size)."""
    from avfh_core.data.synth import world as synth_world
    from avfh_core.data.windows import WindowDataset

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    n = n_clips or (cfg.n_train_clips if split == "train" else cfg.n_eval_clips)
    world = dict(world or {})
    key = (cfg.hr_size, cfg.clip_frames, cfg.vocab_size, cfg.window, cfg.scale, split, n, tuple(sorted(world.items())))
    if key not in _DATA_CACHE:
        synth = synth_world(cfg, **world)
        _DATA_CACHE[key] = WindowDataset(synth.dataset(split, n_clips=n), window=cfg.window, scale=cfg.scale)
    return _DATA_CACHE[key]


def collate(items: list[dict[str, Any]], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Stack WindowDataset items into a batch dict of tensors on `device`."""
    out = {}
    for k in items[0]:
        v = [it[k] for it in items]
        out[k] = torch.stack(v) if isinstance(v[0], torch.Tensor) else torch.as_tensor(v)
    return {k: v.to(device) for k, v in out.items()}


def batch_sampler(data, batch_size: int, seed: int, device) -> Callable[[int], dict[str, torch.Tensor]]:
    """batch_fn(step): the batch of a step is a pure function of (seed, step), which makes resume exact."""
    if len(data) < 1:
        raise ValueError("window dataset is empty")

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(len(data), (batch_size,), generator=g).tolist()
        return collate([data[i] for i in idx], device)

    return batch_fn


def eval_indices(data, n: int) -> list[int]:
    """`n` evenly spread window indices for evaluation (the same for every model)."""
    total = len(data)
    if n >= total:
        return list(range(total))
    return sorted({round(k * (total - 1) / max(1, n - 1)) for k in range(n)})


# ----------------------------------------------------------------------------------------------------------------
# The objective (eq. 11)


def lsgan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """LSGAN discriminator loss: 0.5 [(D(x)-1)^2 + D(G(z))^2] (Mao et al.), as the released code."""
    from avfh_core.losses import adversarial

    return adversarial.lsgan_d_loss(real_logits, fake_logits)


def lsgan_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    from avfh_core.losses import adversarial

    return adversarial.lsgan_g_loss(fake_logits)


def replace_centre(window: torch.Tensor, frame: torch.Tensor, centre: int) -> torch.Tensor:
    """The window [B,T,3,H,W] with frame `centre` replaced by `frame` [B,3,H,W] (differentiable in `frame`)."""
    return torch.cat([window[:, :centre], frame[:, None], window[:, centre + 1:]], dim=1)


@dataclass
class VFHGANObjective:
    """Eq. 11: w_pix MSE + w_vgg L_vgg + alpha L_lip + beta L_freq + gamma L_adv. A term whose weight is 0 (or whose
    callable is None) is skipped. perceptual(sr, hr), frequency(sr, hr) -> scalar; lip(sr_window, hr_window,
    landmarks) -> scalar (grayscale mouth crops are taken inside)."""

    weights: dict[str, float] = field(default_factory=lambda: dict(RELEASED_WEIGHTS))
    perceptual: Callable | None = None
    frequency: Callable | None = None
    lip: Callable | None = None

    def generator_terms(self, sr: torch.Tensor, batch: Mapping[str, torch.Tensor],
                        discriminator: nn.Module | None = None) -> dict[str, torch.Tensor]:
        w = self.weights
        hr_window = batch["hr"]
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
    """The objective with the project's real loss modules (only the terms with a non-zero weight are built)."""
    weights = dict(weights)
    perceptual = frequency = lip = None
    if weights.get("perceptual", 0):
        from avfh_core.losses.perceptual import PerceptualLoss, load_feature_net

        perceptual = PerceptualLoss(load_feature_net(cfg)).to(cfg.device)
    if weights.get("frequency", 0):
        from avfh_core.losses.frequency import FocalFrequencyLoss

        frequency = FocalFrequencyLoss()
    if weights.get("lip", 0):
        from avfh_core.losses.lipreading import LipReadingLoss
        from avfh_core.train.lipreader import pretrained_lipreader

        lipreader, info = pretrained_lipreader(cfg)  # cached by configuration: trained once
        lip = LipReadingLoss(lipreader).to(cfg.device)
        lip.info = info
    return VFHGANObjective(weights, perceptual, frequency, lip)


# ----------------------------------------------------------------------------------------------------------------
# One training run


@dataclass
class TrainedModel:
    spec: RunSpec
    generator: nn.Module
    log: TrainLog | None
    seed: int

    @property
    def seconds(self) -> float:
        return self.log.seconds if self.log else 0.0


def train_vfhgan(spec: RunSpec, cfg, *, seed: int | None = None, steps: int | None = None,
                 objective: VFHGANObjective | None = None, data=None, checkpoint_path: str | Path | None = None,
                 progress: bool = True, eval_fn=None) -> TrainedModel:
    """Train one generator (VFH-GAN or the SRResNet/SRGAN baseline) with the eq.-11 objective; returns it in eval
    mode with its loss curves. A discriminator is trained alongside when the adversarial weight is non-zero.
    eval_fn(generator, step) -> dict runs every cfg.eval_every steps (e.g. `psnr_probe`)."""
    seed = cfg.seed if seed is None else seed
    steps = cfg.steps if steps is None else steps
    gen = build(seed, "generator", lambda: build_generator(spec, cfg))  # its own stream: see avfh_core.nn.init
    if spec.model == "bicubic":
        return TrainedModel(spec, gen.eval(), None, seed)
    weights = spec.loss_weights()
    objective = objective or build_objective(cfg, weights)
    objective.weights = weights
    data = data if data is not None else window_data(cfg, "train", dict(spec.world))
    modules: dict[str, nn.Module] = {"generator": gen}
    optimizers = {"generator": torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.9, 0.99))}
    disc = None
    if weights.get("adversarial", 0):
        disc = build(seed, "discriminator",
                     lambda: PatchDiscriminator(width=max(8, cfg.width // 2), n_down=3 if cfg.hr_size >= 64 else 2))
        modules["discriminator"] = disc
        optimizers["discriminator"] = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.99))
    channels_last = cfg.device.type == "cuda"

    def step_fn(batch, step):
        lr, mel = batch["lr"], batch["mel"]
        if channels_last:
            lr = lr.contiguous()
        sr = gen(lr, mel)
        out = {}
        if disc is not None:
            hr = batch["hr"][:, batch["hr"].shape[1] // 2]
            d_loss = lsgan_d_loss(disc(hr), disc(sr.detach()))
            optimizers["discriminator"].zero_grad(set_to_none=True)
            d_loss.backward()
            optimizers["discriminator"].step()
            out["d_loss"] = d_loss.item()
        terms = objective.generator_terms(sr, batch, disc)
        optimizers["generator"].zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizers["generator"].step()
        out.update({k: v.item() for k, v in terms.items()})
        return out

    batches = batch_sampler(data, cfg.batch_size, seed + 7919 * rank(), cfg.device)  # own batches per DDP rank
    with seeded(seed, "train"):
        log = train_loop(step_fn, modules, optimizers, batches, steps,
                         cfg=cfg, checkpoint_path=checkpoint_path,
                         checkpoint_every=cfg.checkpoint_every if checkpoint_path else 0,
                         eval_fn=(lambda step: eval_fn(gen, step)) if eval_fn else None,
                         eval_every=cfg.eval_every if eval_fn else 0, progress=progress,
                         desc=f"{spec.model} seed {seed}")
    return TrainedModel(spec, gen.eval(), log, seed)


# ----------------------------------------------------------------------------------------------------------------
# Evaluation


@torch.no_grad()
def super_resolve(model: nn.Module, data, indices: list[int], device, batch_size: int = 32):
    """Run `model` over the windows `indices`: returns (sr, hr, mouth_box) on the CPU."""
    srs, hrs, boxes = [], [], []
    model.eval()
    for i in range(0, len(indices), batch_size):
        b = collate([data[k] for k in indices[i:i + batch_size]], device)
        srs.append(model(b["lr"], b["mel"]).float().clamp(0, 1).cpu())
        hrs.append(b["hr"][:, b["hr"].shape[1] // 2].float().cpu())
        boxes.append(b["mouth_box"].float().cpu())
    return torch.cat(srs), torch.cat(hrs), torch.cat(boxes)


def psnr_probe(cfg, data, n: int = 32) -> Callable[[nn.Module, int], dict[str, float]]:
    """An eval_fn for `train_vfhgan`: mean Y-PSNR of the generator on `n` fixed windows of `data`."""
    from avfh_core.metrics.image import psnr

    idx = eval_indices(data, n)

    def eval_fn(gen: nn.Module, step: int) -> dict[str, float]:
        sr, hr, _ = super_resolve(gen, data, idx, cfg.device)
        return {"psnr": float(psnr(sr, hr, crop=cfg.scale).mean())}

    return eval_fn


def score_images(sr: torch.Tensor, hr: torch.Tensor, mouth_box: torch.Tensor, scale: int) -> dict[str, float]:
    """Mean PSNR/SSIM on Y (border of `scale` cropped), ERQA, and PSNR/SSIM inside the mouth box (sec. 4.1)."""
    from avfh_core.metrics.erqa import erqa
    from avfh_core.metrics.image import psnr, region_scores, ssim

    out = {"psnr": float(psnr(sr, hr, crop=scale).mean()), "ssim": float(ssim(sr, hr, crop=scale).mean()),
           "erqa": float(erqa(sr, hr).mean())}
    mp, ms = [], []
    for k in range(sr.shape[0]):
        r = region_scores(sr[k], hr[k], mouth_box[k])
        mp.append(float(r["psnr"]))
        ms.append(float(r["ssim"]))
    finite = [v for v in mp if math.isfinite(v)]
    out["mouth_psnr"] = sum(finite) / len(finite) if finite else math.nan
    finite = [v for v in ms if math.isfinite(v)]
    out["mouth_ssim"] = sum(finite) / len(finite) if finite else math.nan
    return out


def evaluate(model: nn.Module, cfg, world: Mapping[str, Any] | None = None, data=None) -> dict[str, float]:
    """Score a model on the held-out identities (test split) of the synthetic world."""
    data = data if data is not None else window_data(cfg, "test", world)
    sr, hr, boxes = super_resolve(model, data, eval_indices(data, cfg.vfhgan_eval_windows), cfg.device)
    return score_images(sr, hr, boxes, cfg.scale)


# ----------------------------------------------------------------------------------------------------------------
# Experiments: one function per table; each returns {row: {metric: [per-seed values]}}


_RUN_CACHE: dict[tuple, tuple[dict[str, float], TrainedModel]] = {}
RUN_CACHE_VERSION = 1  # bump when training or evaluation changes: it is part of the disk-cache key


def run_cache_path(spec: RunSpec, cfg, seed: int) -> Path:
    """Where a finished run's scores and weights are cached: $AVFH_HOME/runs/vfhgan-ablation/<hash>.pt, keyed by
    the spec, the seed, every knob of the preset, the device type, RUN_CACHE_VERSION, the synthetic world's
    generator version and a fingerprint of the sources that train and score a run (a changed world or changed code
    never reuses stale scores)."""
    from avfh_core.config import avfh_home
    from avfh_core.data.synth import GENERATOR_VERSION
    from avfh_core.train.checkpoint import config_hash, source_fingerprint

    key = {"spec": spec_dict(spec), "seed": seed, "values": {k: str(v) for k, v in sorted(cfg.values.items())},
           "device": cfg.device.type, "version": RUN_CACHE_VERSION, "world_version": GENERATOR_VERSION,
           "code": source_fingerprint()}
    return avfh_home() / "runs" / "vfhgan-ablation" / f"{config_hash(key)}.pt"


def run(spec: RunSpec, cfg, seed: int, *, progress: bool = False, disk_cache: bool = True) -> tuple[dict, TrainedModel]:
    """Train (or reuse) and evaluate one spec for one seed: (scores, trained model). Runs are cached in-process and,
    with `disk_cache`, on disk (`run_cache_path`), so re-running a notebook does not retrain what it has."""
    from avfh_core.train.checkpoint import load_checkpoint, save_checkpoint

    key = (spec, seed, cfg.preset, tuple(sorted((k, str(v)) for k, v in cfg.values.items())), str(cfg.device))
    if key in _RUN_CACHE:
        return _RUN_CACHE[key]
    path = run_cache_path(spec, cfg, seed)
    if disk_cache and path.exists():
        state = load_checkpoint(path, map_location=cfg.device)
        gen = build_generator(spec, cfg).to(cfg.device)
        if state.get("generator") is not None:
            gen.load_state_dict(state["generator"])
        log = None
        if state.get("history") is not None:
            log = TrainLog(history=state["history"], steps_done=cfg.steps, seconds=float(state["seconds"]))
        _RUN_CACHE[key] = (dict(state["scores"]), TrainedModel(spec, gen.eval(), log, seed))
        return _RUN_CACHE[key]
    trained = train_vfhgan(spec, cfg, seed=seed, progress=progress)
    scores = evaluate(trained.generator, cfg, dict(spec.world))
    scores["train_seconds"] = trained.seconds
    _RUN_CACHE[key] = (scores, trained)
    if disk_cache:
        has_weights = any(True for _ in trained.generator.parameters())
        save_checkpoint({"scores": scores, "generator": trained.generator.state_dict() if has_weights else None,
                         "history": trained.log.history if trained.log else None, "seconds": trained.seconds}, path)
    return _RUN_CACHE[key]


def seeds_for(cfg, n_seeds: int | None = None) -> list[int]:
    return [cfg.seed + k for k in range(n_seeds or cfg.n_seeds)]


def run_rows(rows: Mapping[str, RunSpec], cfg, n_seeds: int | None = None, progress: bool = False) -> dict[str, dict]:
    """{row: {metric: [one value per seed]}} for the given specs."""
    out: dict[str, dict[str, list[float]]] = {}
    for name, spec in rows.items():
        per = [run(spec, cfg, s, progress=progress)[0] for s in seeds_for(cfg, n_seeds)]
        out[name] = {m: [p[m] for p in per] for m in per[0]}
    return out


def table1_specs(weights: Mapping[str, float] | None = None) -> dict[str, RunSpec]:
    """Table 1 rows (+ `visual_only`: CMFE-B without its audio branch, which isolates what the audio adds).
    `weights`: loss-weight overrides shared by every row (None: the released weights, all terms on)."""
    rows = {k: RunSpec.make(generator=v, weights=weights) for k, v in TABLE1_ROWS.items()}
    rows["visual_only"] = RunSpec.make(generator=dict(use_audio=False, use_neighbours=True, use_attention=True),
                                       weights=weights)
    return rows


def table2_specs() -> dict[str, RunSpec]:
    return {k: RunSpec.make(weights=v) for k, v in TABLE2_ROWS.items()}


def backbone_specs(weights: Mapping[str, float] | None = None) -> dict[str, RunSpec]:
    return {"mixnet": RunSpec.make(generator=dict(backbone="mixnet"), weights=weights),
            "phfe": RunSpec.make(weights=weights)}


def table3_specs(weights: Mapping[str, float] | None = None) -> dict[str, RunSpec]:
    """Bicubic, SRResNet (pixel + perceptual), SRGAN (+ adversarial), ours (`weights`, default all losses)."""
    return {
        "bicubic": RunSpec.make("bicubic"),
        "srresnet": RunSpec.make("srresnet", weights=dict(lip=0.0, frequency=0.0, adversarial=0.0)),
        "srgan": RunSpec.make("srresnet", weights=dict(lip=0.0, frequency=0.0)),
        "ours": RunSpec.make(weights=weights),
    }


def causal_specs(weights: Mapping[str, float] | None = None) -> dict[str, RunSpec]:
    """The synthetic world's causal knob: audio vs the same model without its audio branch, in three worlds."""
    worlds = {"intact": {}, "no_coupling": dict(voice_coupling=0.0), "shuffled": dict(shuffle_audio=True)}
    rows = {}
    for w, world in worlds.items():
        rows[f"{w}/audio"] = RunSpec.make(world=world, weights=weights)
        rows[f"{w}/no_audio"] = RunSpec.make(
            generator=dict(use_audio=False, use_neighbours=True, use_attention=True), world=world, weights=weights)
    return rows


def ablation_weights(cfg) -> dict[str, float] | None:
    """Loss weights of the ablations outside Table 2: all terms (None), or, when cfg.vfhgan_ablation_lip is False,
    without the lip term. Its released weight (1e-4) makes it a tiny part of the loss while it doubles the cost of
    a step on a CPU; Table 2 measures its effect directly."""
    return None if cfg.vfhgan_ablation_lip else dict(lip=0.0)


def weight_sensitivity_specs(term: str, factors: tuple[float, ...] = (0.0, 1.0, 100.0),
                             weights: Mapping[str, float] | None = None) -> dict[str, RunSpec]:
    """The released weight of `term` scaled by each factor (0 = off), other weights as `weights`."""
    if term not in RELEASED_WEIGHTS:
        raise ValueError(f"term must be one of {sorted(RELEASED_WEIGHTS)}, got {term!r}")
    return {f"{term}x{f:g}": RunSpec.make(weights={**(weights or {}), term: RELEASED_WEIGHTS[term] * f})
            for f in factors}


def means(table: Mapping[str, Mapping[str, list[float]]]) -> dict[str, dict[str, float]]:
    """{row: {metric: mean over seeds}} (NaN-free means; NaN if no finite value)."""
    out = {}
    for row, ms in table.items():
        out[row] = {}
        for m, vals in ms.items():
            good = [v for v in vals if v is not None and math.isfinite(v)]
            out[row][m] = sum(good) / len(good) if good else math.nan
    return out


def score_claims(ours: Mapping[str, Mapping[str, Mapping[str, list[float]]]], paper: Mapping | None = None,
                 row_map: Mapping[str, Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
    """Score every claim of the paper whose table we ran: {id, text, verdict, effect, ci, p, n, published_effect}.

    ours: {table: {row: {metric: [per-seed]}}}; row_map renames paper rows to ours per table (e.g. Table 3's
    'srgan' row). A claim whose table or rows we did not run is reported with verdict "not run"."""
    from avfh_core.metrics.stats import claim_verdict

    paper = paper or load_paper_tables()
    results = []
    for claim in paper["claims"]:
        table = ours.get(claim["table"], {})
        names = row_map.get(claim["table"], {}) if row_map else {}
        a, b = names.get(claim["a"], claim["a"]), names.get(claim["b"], claim["b"])
        rec = {k: claim[k] for k in ("id", "text", "table", "metric", "a", "b", "published_effect")}
        if a not in table or b not in table or claim["metric"] not in table[a]:
            results.append({**rec, "verdict": "not run"})
            continue
        va, vb = table[a][claim["metric"]], table[b][claim["metric"]]
        # claim_verdict(a, b) scores a - b; the YAML's published_effect is b - a
        v = claim_verdict(vb, va, better=claim["better"], published_effect=claim["published_effect"])
        results.append({**rec, **v})
    return results


def beside_paper(table: str, ours: Mapping[str, Mapping[str, float]], paper: Mapping | None = None,
                 metrics: tuple[str, ...] = ("psnr", "ssim", "erqa")) -> list[dict[str, Any]]:
    """Rows of a comparison table: {row, label, paper_<m>, ours_<m>} for the rows of `ours` (means)."""
    paper = paper or load_paper_tables()
    prow = paper["tables"].get(table, {}).get("rows", {})
    out = []
    for row, vals in ours.items():
        p = prow.get(row, {})
        rec = {"row": row, "label": p.get("label", row)}
        for m in metrics:
            rec[f"paper_{m}"] = p.get(m)
            rec[f"ours_{m}"] = vals.get(m)
        out.append(rec)
    return out


def spec_dict(spec: RunSpec) -> dict[str, Any]:
    d = asdict(spec)
    return {k: (dict(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def main(argv: list[str] | None = None) -> None:
    """Train and score the full model from the command line, on one process or several:

        python -m avfh_core.train.vfhgan --preset gpu
        torchrun --nproc_per_node 8 -m avfh_core.train.vfhgan --preset paper
    """
    import argparse
    import json

    from avfh_core.config import avfh_home, setup
    from avfh_core.train.checkpoint import config_hash

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--preset", default="gpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    distributed = init_distributed()
    device = f"cuda:{torch.cuda.current_device()}" if distributed and torch.cuda.is_available() else args.device
    cfg = setup(args.preset, seed=args.seed, device=device, steps=args.steps)
    spec = RunSpec.make()
    ckpt = avfh_home() / "runs" / f"vfhgan_cli-{config_hash({'cfg': cfg.as_dict(), 'spec': spec_dict(spec)})}.pt"
    trained = train_vfhgan(spec, cfg, checkpoint_path=ckpt, progress=rank() == 0)
    if rank() == 0:
        scores = evaluate(trained.generator, cfg)
        print(json.dumps({"preset": cfg.preset, "steps": trained.log.steps_done, "seconds": trained.seconds,
                          "checkpoint": str(ckpt), **scores}, indent=1))


__all__ = [
    "RELEASED_WEIGHTS", "TABLE2_ROWS", "RunSpec", "ablation_weights", "TrainedModel", "VFHGANObjective", "backbone_specs", "beside_paper",
    "build_objective", "causal_specs", "evaluate", "load_paper_tables", "means", "psnr_probe", "run", "run_cache_path", "run_rows",
    "score_claims", "score_images", "seeds_for", "spec_dict", "super_resolve", "table1_specs", "table2_specs",
    "table3_specs", "train_vfhgan", "weight_sensitivity_specs", "window_data",
]

if __name__ == "__main__":
    main()
