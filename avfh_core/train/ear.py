"""Ear (Meishvili, Jenni, Favaro, "Learning to Have an Ear for Face Super-Resolution", CVPR 2020), sec. 3 and 4:
the training stages and Table 1 as the per-paper contract of CONTRIBUTING.md (shared code: train/experiment.py,
train/evaluate.py). The authors released an inference demo only; every training choice below that the paper does
not state is marked "ours".

The stages, each a cached run (`EarRun(stage=...)`, trained once per configuration, world and seed; a later stage
loads the earlier ones through `experiment.cached_run`):

    gan       G, D: StyleGAN v1's non-saturating logistic loss, D + R1 (gamma = cfg.ear_r1_gamma = 10, sec. 3.1,
              StyleGAN's default), Adam(cfg.ear_gan_lr, betas (0, 0.99)), mirror augment, noise inputs on.
    inv_pre   eq. 1, E_h with G fixed:  L_pre = |G(E_h(x^h)) - x^h|_1 + lambda_f * l_feat(G(E_h(x^h)), x^h)
    inv_tune  eq. 2, E_h and G:         L_pre + lambda_t * |G_init - G|_2^2, lambda_t halved at each plateau
    e_l       eq. 3, E_l (G, E_h fixed): |E_l(x^l) - z|_1 + lambda * |D o G(E_l(x^l)) - x^l|_1,  z = E_h(x^h)
    e_a       eq. 4, E_a (E_h fixed):   |E_a(a) - z_bar|_1,  z_bar = (E_h(x^h) + E_h(flip x^h)) / 2
    fusion    eq. 5, F (+ E_a unless frozen; E_l, G fixed): |z^f - z|_1 + lambda * |D o G(z^f) - x^l|_1,
              z^f = E_l(x^l) + F(E_l(x^l), E_a(a))
    lapsrn,   Table 2's baselines, small stand-ins for the paper's retrained LapSRN [27] and W-SRNet [22]
    wsrnet    (`_baseline_step`; models/ear.py), trained on D from x^l (LapSRN's reference row: from x^h reduced
              by cfg.ear_ref_scale)

Weights and their source: lambda_f = 1, lambda_t = 1 (initial), lambda = 40 (sec. 4.2; knobs ear_lambda_f,
ear_lambda_t, ear_lambda). Stages 2-4 use Adam(cfg.ear_lr) (sec. 4.2: 1e-4 for 200K-715K iterations; the short
schedules here use the preset's value, betas (0.9, 0.999): the paper gives none).
Open choices (ours, each stated where it is made):
- eqs. 3 and 5 compare D o G(.) (8x8) with x^h (the paper's typo): read as |D o G(.) - x^l|_1, D = the project's
  antialiased bicubic (`degrade.bicubic_down`), differentiable, without the clamp;
- every norm is a mean (not the printed sums), so lambda's meaning depends on that reduction: each run logs every
  term's value and its share of the gradient at step 0 (`train.loop.gradient_shares`, keys gnorm/ and gshare/);
- the anchor |G_init - G|_2^2 is the sum of squared differences over G's parameters (literal); lambda_t is halved
  when the running mean of the eq.-2 loss has not improved by 1 % for cfg.ear_anchor_patience steps;
- l_feat: the paper uses VGG features (details in its supplementary material, not available): here the L1 distance of
  the four stage outputs of a fixed, randomly initialised `FeatureNet` (never the evaluation classifier);
- the targets of eqs. 3-5 are E_h's codes normalised to unit RMS per style code (G pixel-normalises each z_j, so
  only the direction of a code matters and E_h's code norms drift freely; spec 2.8-14), before flip-averaging;
- G runs without noise inputs in stages 2-4 (the demo's `randomize_noise=False, use_noise=False`);
- E_l, E_a are trained on D_pre = the first half of D's clips (sec. 4.1: "half of D"), F on all of D; frame and
  audio of a sample come from the same clip, the audio not synchronised with the frame (sec. 4.2);
- the GAN stage has no progressive growing (models/ear.py).
Evaluation (`score`): an `AttributeJudge` (identity, gender, age in years; trained on HR frames of every person,
`judges`) on each output: closed set = unseen clips of training people (the world's "closed" split), open set =
people never seen in training ("test"); acc_ci and acc_cg in percent, err_ca = |C_a(x^h) - C_a(output)| in years,
PSNR/SSIM (Y, no crop) of the output against x^h.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.config import avfh_home
from avfh_core.data import synth
from avfh_core.data.batching import collate, step_batches
from avfh_core.data.degrade import bicubic_down
from avfh_core.metrics.image import psnr, ssim
from avfh_core.models.ear import (
    AttributeJudge,
    AudioEncoder,
    Discriminator,
    EarConfig,
    Fusion,
    Generator,
    HREncoder,
    LapSRNLite,
    LREncoder,
    WSRNetLite,
    charbonnier,
    haar_dwt,
)
from avfh_core.models.featurenet import FeatureNet
from avfh_core.nn.init import build, seeded
from avfh_core.train.checkpoint import config_hash, load_checkpoint, save_checkpoint
from avfh_core.train.experiment import Trained
from avfh_core.train.loop import frozen, gradient_shares, train_loop

PAPER = "ear"
STAGES = ("gan", "inv_pre", "inv_tune", "e_l", "e_a", "fusion", "lapsrn", "wsrnet")  # the last two: Table 2
AUDIO_MODES = ("tuned", "fixed", "zero")  # rows (h), (g), (f) of Table 1
# world knobs a run may change: the voice only (the faces, and so the judges and the image stages, stay the same)
VOICE_KNOBS = ("voice_coupling", "voice_age_coupling", "shuffle_audio", "room_noise_dbfs", "av_offset_frames")
JUDGE_SEED = 0


@dataclass(frozen=True)
class EarRun:
    """One training stage (and with it one Table 1 row). stage: STAGES; fusion_layers: 3 (F) or 1 (F_1), audio:
    AUDIO_MODES (fusion stage only); world: voice overrides of `data.synth.world` (VOICE_KNOBS); erase_lr: every LR
    input is a flat grey image (the planted positive control: only the audio can tell who it is); naive: the
    full model's networks (E_l, E_a, F) trained together from scratch on eq. 5's loss, end to end, with the staged
    pipeline's whole budget (the "naive multimodal network" of Sec. 3.1, spec Q1)."""

    stage: str = "fusion"
    fusion_layers: int = 3
    audio: str = "tuned"
    world: tuple[tuple[str, Any], ...] = ()
    erase_lr: bool = False
    ref: bool = False  # lapsrn only: Table 2's reference row, x cfg.ear_ref_scale from a larger input
    naive: bool = False  # fusion only: E_l, E_a, F from scratch, trained together (spec Q1)

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"EarRun: stage must be one of {STAGES}, got {self.stage!r}")
        if self.fusion_layers not in (1, 3):
            raise ValueError(f"EarRun: fusion_layers must be 1 or 3, got {self.fusion_layers!r}")
        if self.audio not in AUDIO_MODES:
            raise ValueError(f"EarRun: audio must be one of {AUDIO_MODES}, got {self.audio!r}")
        if self.stage != "fusion" and (self.fusion_layers != 3 or self.audio != "tuned"):
            raise ValueError(f"EarRun: fusion_layers / audio apply to the fusion stage only, not {self.stage!r}")
        bad = [k for k, _ in self.world if k not in VOICE_KNOBS]
        if bad:
            raise ValueError(f"EarRun: world may override only the voice knobs {VOICE_KNOBS}, got {bad}")
        if self.ref and self.stage != "lapsrn":
            raise ValueError(f"EarRun: ref (the reference-factor row of Table 2) is a LapSRN row, not {self.stage!r}")
        if self.naive and (self.stage != "fusion" or self.audio != "tuned" or self.erase_lr):
            raise ValueError("EarRun: naive is the end-to-end form of the full model: stage 'fusion', audio "
                             "'tuned', no erase_lr")
        if self.erase_lr and self.stage not in ("e_l", "fusion"):
            raise ValueError(f"EarRun: erase_lr applies to the stages that see the LR image (e_l, fusion), "
                             f"not {self.stage!r}")

    @classmethod
    def make(cls, stage: str = "fusion", fusion_layers: int = 3, audio: str = "tuned",
             world: Mapping[str, Any] | None = None, erase_lr: bool = False, ref: bool = False,
             naive: bool = False) -> EarRun:
        return cls(stage, fusion_layers, audio, tuple(sorted((world or {}).items())), erase_lr, ref, naive)

    def upstream(self, stage: str) -> EarRun:
        """The run of an earlier stage this run builds on: image stages never see the voice (no world), E_a sees
        this run's world, E_l keeps erase_lr."""
        world = dict(self.world) if stage == "e_a" else None
        return EarRun.make(stage, world=world, erase_lr=self.erase_lr and stage == "e_l")


# ----------------------------------------------------------------------------------------------------------------
# The table rows (defined here only; the paper's numbers are in avfh_core/reproduce/tables/ear.yaml)

TABLE1_ROWS: dict[str, dict[str, Any]] = {
    "a_eh_fixed_g": dict(stage="inv_pre"), "b_eh_tuned_g": dict(stage="inv_tune"), "c_el_only": dict(stage="e_l"),
    "d_ea_only": dict(stage="e_a"), "e_f1_tuned_ea": dict(fusion_layers=1), "f_f_zero_ea": dict(audio="zero"),
    "g_f_fixed_ea": dict(audio="fixed"), "h_f_tuned_ea": {}}
WORLDS: dict[str, dict[str, Any]] = {"intact": {}, "decoupled": dict(voice_coupling=0.0)}


def table1(cfg) -> dict[str, EarRun]:
    return {row: EarRun.make(**kw) for row, kw in TABLE1_ROWS.items()}


def causal(cfg) -> dict[str, EarRun]:
    """The key claim's causal control: (f) and (h) in the intact world and in one whose voices are drawn
    independently of the speaker (voice_coupling = 0: no identity, gender or age in the voice): the audio gain
    (h) - (f) must vanish there."""
    return {f"{w}/{row}": EarRun.make(**TABLE1_ROWS[row], world=world)
            for w, world in WORLDS.items() for row in ("f_f_zero_ea", "h_f_tuned_ea")}


def table2(cfg) -> dict[str, EarRun]:
    """Table 2: LapSRN-style at the reference factor (input hr / ear_ref_scale) and at ours, W-SRNet-style at ours,
    and ours (= row (h)). The row keys keep the paper's factors (4x, 16x) whatever the preset's are."""
    return {"lapsrn_4x": EarRun.make("lapsrn", ref=True), "lapsrn_16x": EarRun.make("lapsrn"),
            "wsrnet_16x": EarRun.make("wsrnet"), "ours_16x": EarRun.make()}


TABLES: dict[str, Callable[[Any], dict[str, EarRun]]] = {"table1": table1, "table2": table2, "causal": causal}


def ear_config(cfg) -> EarConfig:
    """The networks' sizes from the preset's ear_* knobs (E_a's cap is twice the encoders', its hidden FC 4/3 of
    theirs: the released 2048 / 8192 against 1024 / 6144, so the paper preset gives EarConfig.paper())."""
    return EarConfig(hr_size=cfg.ear_hr_size, lr_size=cfg.ear_lr_size, latent_dim=cfg.ear_latent_dim,
                     mapping_layers=cfg.ear_mapping_layers, fmap_base=cfg.ear_fmap_base, fmap_max=cfg.ear_fmap_max,
                     eh_filters=cfg.ear_eh_filters, eh_max=cfg.ear_enc_max, el_filters=cfg.ear_el_filters,
                     el_max=cfg.ear_enc_max, el_hidden=cfg.ear_hidden, ea_filters=cfg.ear_ea_filters,
                     ea_max=2 * cfg.ear_enc_max, ea_hidden=cfg.ear_hidden * 4 // 3,
                     audio_samples=int(round(cfg.ear_audio_seconds * synth.SAMPLE_RATE)),
                     spec_window=cfg.ear_spec_window, spec_stride=cfg.ear_spec_stride, fusion_hidden=cfg.ear_hidden)


# ----------------------------------------------------------------------------------------------------------------
# Data: one frame, its 8x8 version and an audio segment of the same clip, with the person's labels


class EarSet(torch.utils.data.Dataset):
    """Items {hr [3,R,R], lr [3,r,r] in [0,1], audio [S], person, gender (0 m, 1 f), age, clip, open} from tensors."""

    def __init__(self, tensors: Mapping[str, torch.Tensor]):
        n = {len(v) for v in tensors.values()}
        if len(n) != 1:
            raise ValueError(f"EarSet: tensors of different lengths {({k: len(v) for k, v in tensors.items()})}")
        self.t = dict(tensors)

    def __len__(self) -> int:
        return len(self.t["hr"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        out = {k: v[i] for k, v in self.t.items()}
        out["hr"] = out["hr"].float() / 255
        out["lr"] = out["lr"].float() / 255
        return out

    def subset(self, idx) -> EarSet:
        idx = torch.as_tensor(list(idx), dtype=torch.long)
        return EarSet({k: v[idx] for k, v in self.t.items()})


def image_world(cfg):
    """The faces: the world of cfg with the ear_* people, frames of ear_hr_size, ear_frames_per_clip per clip."""
    return synth.world(cfg, image_size=cfg.ear_hr_size, num_frames=cfg.ear_frames_per_clip,
                       n_train_identities=cfg.ear_train_ids, n_test_identities=cfg.ear_open_ids)


def audio_world(cfg, world: Mapping[str, Any] | None = None):
    """The voices: the same people and clips (a clip's person and voice depend only on the world seed, the split
    and the clip index, not on the clip length), clips long enough for ear_audio_seconds of GRID-like sentences."""
    frames = math.ceil(cfg.ear_audio_seconds * synth.FPS)
    return synth.world(cfg, num_frames=frames, utterance="sentence", n_train_identities=cfg.ear_train_ids,
                       n_test_identities=cfg.ear_open_ids, **dict(world or {}))


_SETS: dict[tuple, EarSet] = {}
PARTS = ("train", "closed", "open", "judge")


def ear_data(cfg, part: str, world: Mapping[str, Any] | None = None) -> EarSet:
    """A part of the Ear data, cached in-process and on disk ($AVFH_HOME/ear/):
    train = D (clips 0..ear_clips of the training people; D_pre is its first half), closed = ear_eval_clips unseen
    clips of the training people, open = ear_eval_clips clips of the open-set people, judge = the classifiers'
    training frames (D's frames and ear_cls_clips more clips of the open-set people, disjoint from `open`; no
    audio). Every frame of a clip is an item; its audio is the clip's first audio_samples samples."""
    if part not in PARTS:
        raise ValueError(f"ear_data: part must be one of {PARTS}, got {part!r}")
    if part == "judge" and world:
        raise ValueError("ear_data: the judges' data has no voice: world overrides make no sense for it")
    iw, aw = image_world(cfg), audio_world(cfg, world)
    n_samples = ear_config(cfg).audio_samples
    key = (part, iw.key, aw.key, cfg.ear_clips, cfg.ear_eval_clips, cfg.ear_cls_clips, cfg.ear_lr_size, n_samples)
    if key in _SETS:
        return _SETS[key]
    path = avfh_home() / "ear" / f"{part}-{config_hash({'key': [str(k) for k in key]})}.pt"
    if path.exists():
        _SETS[key] = EarSet(load_checkpoint(path)["tensors"])
        return _SETS[key]
    people = {p.id: k for k, p in enumerate(iw.identities("train") + iw.identities("test"))}
    if part == "judge":
        jobs = [("train", range(cfg.ear_clips)), ("test", range(cfg.ear_eval_clips, cfg.ear_eval_clips + cfg.ear_cls_clips))]
    else:
        split, n = {"train": ("train", cfg.ear_clips), "closed": ("closed", cfg.ear_eval_clips),
                    "open": ("test", cfg.ear_eval_clips)}[part]
        jobs = [(split, range(n))]
    cols: dict[str, list] = {k: [] for k in ("hr", "audio", "person", "gender", "age", "clip", "open")}

    for split, clips in jobs:
        ds = iw.dataset(split, n_clips=clips.stop)
        for i in clips:
            s = ds[i]
            T = s.video.shape[0]
            cols["hr"].append((s.video * 255).round().to(torch.uint8))
            if part != "judge":
                a = aw.audio(i, split)[0][:n_samples]
                cols["audio"].append(a[None].expand(T, -1))
            cols["person"] += [people[s.speaker]] * T
            cols["gender"] += [int(s.attributes["gender"] == "f")] * T
            cols["age"] += [float(s.attributes["age"])] * T
            cols["clip"] += [i] * T
            cols["open"] += [int(split == "test")] * T
    hr = torch.cat(cols["hr"])
    scale = cfg.ear_hr_size // cfg.ear_lr_size
    lr = (bicubic_down(hr.float() / 255, scale) * 255).round().to(torch.uint8)  # 8-bit, as the demo's imresize
    t = {"hr": hr, "lr": lr, "person": torch.tensor(cols["person"]), "gender": torch.tensor(cols["gender"]),
         "age": torch.tensor(cols["age"]), "clip": torch.tensor(cols["clip"]), "open": torch.tensor(cols["open"])}
    if cols["audio"]:
        t["audio"] = torch.cat(cols["audio"]).contiguous()
    save_checkpoint({"tensors": t}, path)
    _SETS[key] = EarSet(t)
    return _SETS[key]


def d_pre(data: EarSet) -> EarSet:
    """D_pre: the items of the first half of D's clips (sec. 4.1: the same speakers, half the videos)."""
    clips = data.t["clip"]
    return data.subset(torch.nonzero(clips < (int(clips.max()) + 1) // 2).flatten().tolist())


# ----------------------------------------------------------------------------------------------------------------
# Networks of a run


def _nets(run: EarRun) -> tuple[str, ...]:
    return {"gan": ("generator", "discriminator"), "inv_pre": ("generator", "e_h"), "inv_tune": ("generator", "e_h"),
            "e_l": ("generator", "e_l"), "e_a": ("generator", "e_a"),
            "fusion": ("generator", "e_l", "fusion") + (() if run.audio == "zero" else ("e_a",)),
            "lapsrn": ("lapsrn",), "wsrnet": ("wsrnet",)}[run.stage]


def init(run: EarRun, cfg, *, seed: int) -> dict[str, nn.Module]:
    """The run's untrained networks, each from its own random stream (`nn.init.build`)."""
    c = ear_config(cfg)
    factories = {"generator": lambda: Generator(c), "discriminator": lambda: Discriminator(c),
                 "e_h": lambda: HREncoder(c), "e_l": lambda: LREncoder(c), "e_a": lambda: AudioEncoder(c),
                 "fusion": lambda: Fusion(c, run.fusion_layers),
                 "lapsrn": lambda: LapSRNLite(_factor(run, cfg), cfg.ear_baseline_width),
                 "wsrnet": lambda: WSRNetLite(_factor(run, cfg), cfg.ear_baseline_width)}
    return {name: build(seed, name, factories[name]).to(cfg.device) for name in _nets(run)}


def _factor(run: EarRun, cfg) -> int:
    return cfg.ear_ref_scale if run.ref else cfg.ear_hr_size // cfg.ear_lr_size


def _upstream_models(run: EarRun, stage: str, cfg, seed: int) -> dict[str, nn.Module]:
    """Copies of the trained networks of an earlier stage (cached run), so training this one never edits them."""
    from avfh_core.train.experiment import cached_run

    trained = cached_run(sys.modules[__name__], run.upstream(stage), cfg, seed)[1]
    return {k: copy.deepcopy(m) for k, m in trained.models.items()}


def _to_pm1(x: torch.Tensor) -> torch.Tensor:
    return 2 * x - 1


def unit_codes(z: torch.Tensor) -> torch.Tensor:
    """Each style code z_j scaled to unit RMS (what G's pixel-norm sees): the regression targets of eqs. 3-5."""
    return z * torch.rsqrt(z.pow(2).mean(dim=-1, keepdim=True) + 1e-8)


def _down(img_pm1: torch.Tensor, cfg) -> torch.Tensor:
    """D o G: G's output ([-1, 1]) downsampled like x^l (antialiased bicubic, no clamp), back in [0, 1]."""
    scale = cfg.ear_hr_size // cfg.ear_lr_size
    x = (img_pm1 + 1) / 2
    H = x.shape[-1]
    return F.interpolate(x, size=(H // scale, H // scale), mode="bicubic", align_corners=False, antialias=True)


def feature_net(cfg) -> FeatureNet:
    """l_feat's network (ours, see the module docstring): a fixed, randomly initialised FeatureNet."""
    net = build(0, "ear_l_feat", lambda: FeatureNet(n_identities=1, width=max(4, cfg.ear_judge_width))).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(cfg.device)


def feat_loss(net: FeatureNet, x_pm1: torch.Tensor, y01: torch.Tensor) -> torch.Tensor:
    fx, fy = net.features((x_pm1 + 1) / 2), net.features(y01)
    return sum(F.l1_loss(a, b) for a, b in zip(fx, fy)) / len(fx)


def erased(data: EarSet) -> EarSet:
    """The control's data: every LR input flat grey (8-bit 128), the true x^l kept as "lr_target" for the
    LR-consistency terms of eqs. 3 and 5 (the supervision still sees the person; the input does not)."""
    return EarSet({**data.t, "lr": torch.full_like(data.t["lr"], 128), "lr_target": data.t["lr"]})


def _lr_target(batch) -> torch.Tensor:
    """x^l of the LR-consistency term: the true one also where the input is erased (`erased`)."""
    return batch["lr_target"].float() / 255 if "lr_target" in batch else batch["lr"]


# ----------------------------------------------------------------------------------------------------------------
# Training


def train(run: EarRun, cfg, *, seed: int, progress: bool = False, checkpoint_path=None,
          data: EarSet | None = None) -> Trained:
    """Train one stage (its upstream stages come from the run cache). `data` replaces D (tests)."""
    data = data if data is not None else ear_data(cfg, "train", dict(run.world) if run.stage in ("e_a", "fusion") else None)
    models = init(run, cfg, seed=seed)
    e_h = None  # the fixed E_h of the stages after the inversion (their targets)
    if run.stage not in ("gan", "lapsrn", "wsrnet"):
        src = "gan" if run.stage == "inv_pre" else ("inv_pre" if run.stage == "inv_tune" else "inv_tune")
        up = _upstream_models(run, src, cfg, seed)
        models["generator"].load_state_dict(up["generator"].state_dict())
        if run.stage == "inv_tune":
            models["e_h"].load_state_dict(up["e_h"].state_dict())
        if run.stage not in ("inv_pre", "inv_tune"):
            e_h = up["e_h"].eval()
    if run.stage == "fusion" and not run.naive:
        models["e_l"].load_state_dict(_upstream_models(run, "e_l", cfg, seed)["e_l"].state_dict())
        if "e_a" in models:
            models["e_a"].load_state_dict(_upstream_models(run, "e_a", cfg, seed)["e_a"].state_dict())
    if run.stage in ("e_l", "e_a"):
        data = d_pre(data)
    if run.erase_lr:
        data = erased(data)
    trainable = {"gan": ("generator", "discriminator"), "inv_pre": ("e_h",), "inv_tune": ("e_h", "generator"),
                 "e_l": ("e_l",), "e_a": ("e_a",),
                 "fusion": ("fusion",) + (("e_a",) if run.audio == "tuned" else ()) + (("e_l",) if run.naive else ()),
                 "lapsrn": ("lapsrn",), "wsrnet": ("wsrnet",)}[run.stage]
    for name, m in models.items():
        m.requires_grad_(name in trainable)
        m.train(name in trainable)
    step_fn, optimizers, steps, batch = _STEPS[run.stage](run, cfg, models, e_h)
    batches = step_batches(data, batch, seed * 7 + STAGES.index(run.stage), cfg.device)
    with seeded(seed, f"train/{run.stage}"):
        log = train_loop(step_fn, models, optimizers, batches, steps, cfg=cfg, checkpoint_path=checkpoint_path,
                         checkpoint_every=cfg.checkpoint_every if checkpoint_path else 0, progress=progress,
                         desc=f"ear {run.stage} seed {seed}")
    return Trained({k: m.eval() for k, m in models.items()}, log)


def _shares(step: int, terms: dict[str, torch.Tensor], weights: Mapping[str, float], params) -> dict[str, float]:
    """Each term's gradient share at step 0 (train.loop.gradient_shares); later steps log nothing extra."""
    if step != 0 or sum(1 for k in terms if k != "total" and weights.get(k)) < 2:
        return {}
    return gradient_shares(terms, weights, [p for p in params if p.requires_grad])


def _gan_step(run, cfg, models, _e_h):
    G, D = models["generator"], models["discriminator"]
    opt = {"generator": torch.optim.Adam(G.parameters(), lr=cfg.ear_gan_lr, betas=(0.0, 0.99), eps=1e-8),
           "discriminator": torch.optim.Adam(D.parameters(), lr=cfg.ear_gan_lr, betas=(0.0, 0.99), eps=1e-8)}
    gamma = float(cfg.ear_r1_gamma)

    def step_fn(batch, step):
        real = _to_pm1(batch["hr"])
        flip = torch.rand(real.shape[0], device=real.device) < 0.5  # mirror augment
        real = torch.where(flip[:, None, None, None], real.flip(-1), real).requires_grad_(gamma > 0)
        z = torch.randn(real.shape[0], G.config.latent_dim, device=real.device)
        fake = G(z, noise=True)
        d_real, d_fake = D(real), D(fake.detach())
        d_loss = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
        r1 = torch.zeros((), device=real.device)
        if gamma > 0:
            g, = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            r1 = g.pow(2).sum(dim=(1, 2, 3)).mean()
        opt["discriminator"].zero_grad(set_to_none=True)
        (d_loss + gamma / 2 * r1).backward()
        opt["discriminator"].step()
        with frozen(D):  # D's weight gradients from G's loss would be discarded: not computed
            g_loss = F.softplus(-D(fake)).mean()
        opt["generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        opt["generator"].step()
        return {"d_loss": d_loss.item(), "r1": r1.item(), "g_loss": g_loss.item(),
                "d_real": d_real.mean().item(), "d_fake": d_fake.mean().item()}

    return step_fn, opt, cfg.ear_gan_steps, cfg.ear_gan_batch


def _inversion_step(run, cfg, models, _e_h):
    """Eq. 1 (inv_pre) and eq. 2 (inv_tune: + the anchor of G to its initial weights, lambda_t halved at plateaus)."""
    G, E = models["generator"], models["e_h"]
    tune = run.stage == "inv_tune"
    params = list(E.parameters()) + (list(G.parameters()) if tune else [])
    opt = {"e_h": torch.optim.Adam(params, lr=cfg.ear_lr)}
    feat = feature_net(cfg)
    g_init = [p.detach().clone() for p in G.parameters()]
    state = {"lambda_t": float(cfg.ear_lambda_t), "best": math.inf, "since": 0, "ema": None}
    weights = {"l1": 1.0, "feat": float(cfg.ear_lambda_f)}

    def step_fn(batch, step):
        x = batch["hr"]
        out = G(E(_to_pm1(x)))
        terms = {"l1": F.l1_loss(out, _to_pm1(x)), "feat": feat_loss(feat, out, x)}
        w = dict(weights)
        if tune:
            terms["anchor"] = sum((p - p0).pow(2).sum() for p, p0 in zip(G.parameters(), g_init))
            w["anchor"] = state["lambda_t"]
        terms["total"] = sum(w[k] * v for k, v in terms.items())
        log = _shares(step, terms, w, params)
        opt["e_h"].zero_grad(set_to_none=True)
        terms["total"].backward()
        opt["e_h"].step()
        if tune:  # the plateau rule (ours): halve lambda_t when the loss's running mean stops improving by 1 %
            v = terms["total"].item()
            state["ema"] = v if state["ema"] is None else 0.9 * state["ema"] + 0.1 * v
            if state["ema"] < 0.99 * state["best"]:
                state["best"], state["since"] = state["ema"], 0
            else:
                state["since"] += 1
                if state["since"] >= cfg.ear_anchor_patience:
                    state["lambda_t"] /= 2
                    state["since"], state["best"] = 0, state["ema"]
            log["lambda_t"] = w["anchor"]
        return {**log, **{k: v.item() for k, v in terms.items()}}

    steps = cfg.ear_eh_tune_steps if tune else cfg.ear_eh_pre_steps
    return step_fn, opt, steps, cfg.ear_batch


def target_codes(e_h: nn.Module, hr: torch.Tensor, flip_average: bool = False) -> torch.Tensor:
    """The codes E_h(x^h) (unit RMS per style) that eqs. 3 and 5 regress onto; flip_average: eq. 4's
    z_bar = (E_h(x^h) + E_h(flip(x^h))) / 2."""
    with torch.no_grad():
        z = unit_codes(e_h(_to_pm1(hr)))
        if flip_average:
            z = (z + unit_codes(e_h(_to_pm1(hr.flip(-1))))) / 2
    return z


def _encoder_step(run, cfg, models, e_h):
    """Eq. 3 (e_l: code L1 + lambda * LR consistency) and eq. 4 (e_a: L1 to the flip-averaged code)."""
    G = models["generator"]
    name = run.stage
    net = models[name]
    opt = {name: torch.optim.Adam(net.parameters(), lr=cfg.ear_lr)}
    weights = {"code": 1.0, "lr": float(cfg.ear_lambda)} if name == "e_l" else {"code": 1.0}

    def step_fn(batch, step):
        if name == "e_l":
            z = target_codes(e_h, batch["hr"])
            pred = net(_to_pm1(batch["lr"]))
            terms = {"code": F.l1_loss(pred, z), "lr": F.l1_loss(_down(G(pred), cfg), _lr_target(batch))}
        else:
            z = target_codes(e_h, batch["hr"], flip_average=True)
            terms = {"code": F.l1_loss(net.encode_audio(batch["audio"]), z)}
        terms["total"] = sum(weights[k] * v for k, v in terms.items())
        log = _shares(step, terms, weights, net.parameters())
        opt[name].zero_grad(set_to_none=True)
        terms["total"].backward()
        opt[name].step()
        return {**log, **{k: v.item() for k, v in terms.items()}}

    return step_fn, opt, (cfg.ear_el_steps if name == "e_l" else cfg.ear_ea_steps), cfg.ear_batch


def fused_codes(models: Mapping[str, nn.Module], lr01: torch.Tensor, audio: torch.Tensor | None) -> torch.Tensor:
    """z^f = E_l(x^l) + F(E_l(x^l), E_a(a)); the audio code is zeros without an E_a (row (f)) or audio."""
    z_l = models["e_l"](_to_pm1(lr01))
    if "e_a" in models and audio is not None:
        z_a = models["e_a"].encode_audio(audio)
    else:
        z_a = torch.zeros_like(z_l)
    return models["fusion"](z_l, z_a)


def _fusion_step(run, cfg, models, e_h):
    """Eq. 5: F (and E_a when tuned) with E_l, G fixed; naive: E_l, E_a and F together from scratch, for the steps
    of E_l, E_a and F together."""
    G = models["generator"]
    names = ["fusion"] + (["e_a"] if run.audio == "tuned" else []) + (["e_l"] if run.naive else [])
    params = [p for n in names for p in models[n].parameters()]
    opt = {"fusion": torch.optim.Adam(params, lr=cfg.ear_lr)}
    weights = {"code": 1.0, "lr": float(cfg.ear_lambda)}

    def step_fn(batch, step):
        z = target_codes(e_h, batch["hr"])
        zf = fused_codes(models, batch["lr"], batch["audio"])
        terms = {"code": F.l1_loss(zf, z), "lr": F.l1_loss(_down(G(zf), cfg), _lr_target(batch))}
        terms["total"] = sum(weights[k] * v for k, v in terms.items())
        log = _shares(step, terms, weights, params)
        opt["fusion"].zero_grad(set_to_none=True)
        terms["total"].backward()
        opt["fusion"].step()
        return {**log, **{k: v.item() for k, v in terms.items()}}

    steps = cfg.ear_fusion_steps + (cfg.ear_el_steps + cfg.ear_ea_steps if run.naive else 0)
    return step_fn, opt, steps, cfg.ear_batch


def baseline_input(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The LR input of a Table 2 baseline: the batch's 8x8 image, or for the reference row the HR frame reduced
    by the model's own factor (antialiased bicubic, 8-bit like x^l)."""
    hr, lr = batch["hr"], batch["lr"]
    if hr.shape[-1] // model.scale == lr.shape[-1]:
        return lr
    return (bicubic_down(hr, model.scale) * 255).round() / 255


def _baseline_step(run, cfg, models, _e_h):
    """Table 2's baselines (ours, small): LapSRN-style with the Charbonnier loss at every pyramid level (its
    targets: x^h reduced to each level's side); W-SRNet-style with the MSE of the wavelet-packet coefficients plus
    the L1 of the image (weights 1 and 1, ours; the original also has a texture term). Adam(cfg.ear_lr)."""
    name = run.stage
    net = models[name]
    opt = {name: torch.optim.Adam(net.parameters(), lr=cfg.ear_lr)}
    weights = {"charbonnier": 1.0} if name == "lapsrn" else {"wavelet": 1.0, "image": 1.0}

    def step_fn(batch, step):
        hr, x = batch["hr"], baseline_input(net, batch)
        if name == "lapsrn":
            outs = net(x)
            terms = {"charbonnier": sum(charbonnier(o, F.interpolate(hr, size=o.shape[-2:], mode="bicubic",
                                                                     align_corners=False, antialias=True))
                                        for o in outs) / len(outs)}
        else:
            sr, coef = net(x)
            terms = {"wavelet": F.mse_loss(coef, haar_dwt(hr, net.levels)), "image": F.l1_loss(sr, hr)}
        terms["total"] = sum(weights[k] * v for k, v in terms.items())
        log = _shares(step, terms, weights, net.parameters())
        opt[name].zero_grad(set_to_none=True)
        terms["total"].backward()
        opt[name].step()
        return {**log, **{k: v.item() for k, v in terms.items()}}

    return step_fn, opt, cfg.ear_baseline_steps, cfg.ear_batch


_STEPS = {"gan": _gan_step, "inv_pre": _inversion_step, "inv_tune": _inversion_step, "e_l": _encoder_step,
          "e_a": _encoder_step, "fusion": _fusion_step, "lapsrn": _baseline_step, "wsrnet": _baseline_step}


# ----------------------------------------------------------------------------------------------------------------
# The judges (sec. 4.4's C_i, C_g, C_a) and evaluation

_JUDGES: dict[tuple, AttributeJudge] = {}


def judges(cfg, progress: bool = False) -> AttributeJudge:
    """The evaluation classifiers, trained once per configuration on `ear_data(cfg, "judge")` (HR frames of every
    person; cross-entropy on identity and gender, L1 on age in decades), mirror-augmented, Adam 2e-3,
    cfg.ear_judge_steps x 32. Cached in-process and on disk ($AVFH_HOME/runs/ear/judge-*.pt) under the faces'
    world, the knobs of their data and schedule and the code: a change of a training-stage knob reuses them."""
    knobs = ("ear_train_ids", "ear_open_ids", "ear_clips", "ear_eval_clips", "ear_cls_clips", "ear_judge_steps",
             "ear_judge_width")
    key = (image_world(cfg).key, tuple(str(getattr(cfg, k)) for k in knobs), str(cfg.device))  # what they depend on
    if key in _JUDGES:
        return _JUDGES[key]
    from avfh_core.train.experiment import paper_fingerprint

    n_people = cfg.ear_train_ids + cfg.ear_open_ids
    path = avfh_home() / "runs" / PAPER / f"judge-{config_hash({'k': key, 'code': paper_fingerprint(sys.modules[__name__])})}.pt"
    net = build(JUDGE_SEED, "judge", lambda: AttributeJudge(n_people, cfg.ear_judge_width)).to(cfg.device)
    if path.exists():
        net.load_state_dict(load_checkpoint(path, map_location=cfg.device)["judge"])
    else:
        data = ear_data(cfg, "judge")
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        batches = step_batches(data, 32, JUDGE_SEED + 104729, cfg.device)
        net.train()

        def step_fn(batch, step):
            x = batch["hr"]
            x = torch.where((torch.rand(x.shape[0], device=x.device) < 0.5)[:, None, None, None], x.flip(-1), x)
            out = net(x)
            terms = {"identity": F.cross_entropy(out["identity"], batch["person"]),
                     "gender": F.cross_entropy(out["gender"], batch["gender"]),
                     "age": F.l1_loss(out["age"], batch["age"].float()) / 10}
            total = sum(terms.values())
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            return {k: v.item() for k, v in terms.items()}

        with seeded(JUDGE_SEED, "train/judge"), torch.enable_grad():  # score() may call this inside evaluate's no_grad
            train_loop(step_fn, {"judge": net}, {"judge": opt}, batches, cfg.ear_judge_steps, cfg=cfg,
                       progress=progress, desc="ear judges")
        save_checkpoint({"judge": net.state_dict()}, path)
    net.eval().requires_grad_(False)
    _JUDGES[key] = net
    return net


def eval_set(run: EarRun, cfg) -> tuple[EarSet, list[int]]:
    """The closed set (unseen clips of the training people) followed by the open set (people never trained on),
    with the run's voices (and its LR inputs erased for the erase_lr control); every item."""
    w = dict(run.world)
    closed, open_ = ear_data(cfg, "closed", w), ear_data(cfg, "open", w)
    both = EarSet({k: torch.cat([closed.t[k], open_.t[k]]) for k in closed.t})
    return (erased(both) if run.erase_lr else both), list(range(len(both)))


def predict(models: Mapping[str, nn.Module], batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The generated HR face [B, 3, R, R] in [0, 1] of whichever stage `models` holds: fused (e)-(h), E_l only (c),
    E_a only (d), the inversion of x^h (a)/(b), or, for the GAN stage, samples of fixed random codes (a floor:
    they know nothing of the person), or Table 2's baselines."""
    if "lapsrn" in models:
        return models["lapsrn"](baseline_input(models["lapsrn"], batch))[-1].clamp(0, 1)
    if "wsrnet" in models:
        return models["wsrnet"](baseline_input(models["wsrnet"], batch))[0].clamp(0, 1)
    G = models["generator"]
    if "fusion" in models:
        z = fused_codes(models, batch["lr"], batch.get("audio"))
    elif "e_l" in models:
        z = models["e_l"](_to_pm1(batch["lr"]))
    elif "e_a" in models:
        z = models["e_a"].encode_audio(batch["audio"])
    elif "e_h" in models:
        z = models["e_h"](_to_pm1(batch["hr"]))
    else:
        g = torch.Generator().manual_seed(0)
        z = torch.randn(batch["hr"].shape[0], G.config.latent_dim, generator=g).to(batch["hr"].device)
    return (G(z) / 2 + 0.5).clamp(0, 1)


def score(pred: torch.Tensor, batch: Mapping[str, torch.Tensor], cfg) -> dict[str, torch.Tensor]:
    """Per item, under "closed/..." or "open/..." (NaN for the other set): acc_ci, acc_cg (0 or 100), err_ca
    (|C_a(x^h) - C_a(output)|, years), psnr, ssim (Y, no crop; spec 2.8-10)."""
    j = judges(cfg)
    with torch.no_grad():
        out, ref = j(pred), j(batch["hr"])
    m = {"acc_ci": 100.0 * (out["identity"].argmax(1) == batch["person"]).double(),
         "acc_cg": 100.0 * (out["gender"].argmax(1) == batch["gender"]).double(),
         "err_ca": (out["age"] - ref["age"]).abs().double(),
         "psnr": psnr(pred, batch["hr"]).double(), "ssim": ssim(pred, batch["hr"]).double()}
    is_open = batch["open"].bool().cpu()
    res = {}
    for name, mask in (("closed", ~is_open), ("open", is_open)):
        for k, v in m.items():
            v = v.cpu().clone()
            v[~mask] = math.nan
            res[f"{name}/{k}"] = v
    return res


# How notebooks print Table 1 rows beside the paper's (`PaperTables.format_rows`): (name, metric, format, unit).
TABLE1_FIELDS = (("identity", "acc_ci", "6.2f", " %"), ("gender", "acc_cg", "6.2f", " %"),
                 ("age error", "err_ca", "5.2f", ""), ("PSNR", "psnr", "5.2f", " dB"))
TABLE1_TAGS = {"table1_closed": "closed ", "table1_open": "open   "}


def table1_lines(paper, sets: Mapping[str, Mapping[str, Mapping[str, list[float]]]]) -> list[str]:
    """The printed Table 1 rows of `split_sets`' output beside the paper's (closed set first, then open)."""
    return paper.format_rows({f"table1_{s}": rows for s, rows in sets.items()}, TABLE1_FIELDS, TABLE1_TAGS)


def split_sets(table: Mapping[str, Mapping[str, list[float]]]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """{row: {"closed/acc_ci": [...], ...}} -> {"closed": {row: {"acc_ci": [...]}}, "open": {...}}: the layout of
    the YAML's table1_closed / table1_open."""
    out: dict[str, dict[str, dict[str, list[float]]]] = {"closed": {}, "open": {}}
    for row, ms in table.items():
        for k, v in ms.items():
            if "/" in k:
                s, metric = k.split("/", 1)
                out[s].setdefault(row, {})[metric] = v
    return out


# ----------------------------------------------------------------------------------------------------------------
# Table 3: mixing a face and a voice of opposite gender


def mixed_pairs(data: EarSet, seed: int = 0) -> list[tuple[int, int]]:
    """(i, j) pairs of items of the same set (closed with closed, open with open) whose people have opposite
    genders: every item i once, its partner j drawn in a fixed shuffled order from the other gender's items."""
    g = torch.Generator().manual_seed(seed)
    pairs = []
    for s in (0, 1):
        in_set = data.t["open"] == s
        for gender in (0, 1):
            mine = torch.nonzero(in_set & (data.t["gender"] == gender)).flatten()
            other = torch.nonzero(in_set & (data.t["gender"] != gender)).flatten()
            if len(mine) == 0 or len(other) == 0:
                continue
            other = other[torch.randperm(len(other), generator=g)]
            pairs += [(int(i), int(other[k % len(other)])) for k, i in enumerate(mine.tolist())]
    return sorted(pairs)


@torch.no_grad()
def mixing_scores(models: Mapping[str, nn.Module], data: EarSet, cfg, batch_size: int = 32,
                  seed: int = 0) -> dict[str, dict[str, float]]:
    """Table 3 for one trained model: the output for (the LR image of item i, the audio of item j, the opposite
    gender) classified by the gender judge; {"audio_label": {"closed": %, "open": %}, "lr_label": {...}}, the
    agreement of its gender with the voice's and with the face's (they sum to 100 per set). NaN for a set without
    both genders."""
    pairs = mixed_pairs(data, seed)
    if not pairs:
        raise ValueError("mixing_scores: no pair of items with opposite genders in the evaluation set")
    j = judges(cfg)
    agree: dict[str, dict[str, list[float]]] = {"audio_label": {"closed": [], "open": []},
                                               "lr_label": {"closed": [], "open": []}}
    for m in models.values():
        m.eval()
    for k in range(0, len(pairs), batch_size):
        chunk = pairs[k:k + batch_size]
        batch = collate([data[i] for i, _ in chunk], cfg.device)
        batch["audio"] = torch.stack([data.t["audio"][jj] for _, jj in chunk]).to(cfg.device)
        g = j(predict(models, batch))["gender"].argmax(1).cpu()
        for n, (i, jj) in enumerate(chunk):
            s = "open" if int(data.t["open"][i]) else "closed"
            agree["lr_label"][s].append(100.0 * float(g[n] == data.t["gender"][i]))
            agree["audio_label"][s].append(100.0 * float(g[n] == data.t["gender"][jj]))
    return {row: {s: (sum(v) / len(v) if v else math.nan) for s, v in sets.items()} for row, sets in agree.items()}


def table3(cfg, n_seeds: int | None = None, run: EarRun | None = None) -> dict[str, dict[str, list[float]]]:
    """Table 3 over seeds for the full model (h) (or `run`): {row: {"closed": [per seed], "open": [...]}}."""
    from avfh_core.train.experiment import cached_run
    from avfh_core.train.experiment import seeds as seed_list

    run = run or table1(cfg)["h_f_tuned_ea"]
    data, _ = eval_set(run, cfg)
    per = [mixing_scores(cached_run(sys.modules[__name__], run, cfg, s)[1].models, data, cfg)
           for s in seed_list(cfg, n_seeds)]
    return {row: {s: [p[row][s] for p in per] for s in ("closed", "open")} for row in per[0]}


# ----------------------------------------------------------------------------------------------------------------
# Positive controls of the claims audit (the `controls:` section of reproduce/tables/ear.yaml)


def substitute_person(out: torch.Tensor, batch: Mapping[str, torch.Tensor], frac: float) -> torch.Tensor:
    """The handicap of `positive_controls`: `out` [B, 3, R, R] with the first max(1, round(frac B)) items replaced
    by the true HR face (batch["hr"]) of another item of the batch: among the items of the other gender the one
    whose age differs most (if the batch holds only one gender, the other person whose age differs most). A new
    tensor; items with no other person in the batch keep their output."""
    if not 0 < frac <= 1:
        raise ValueError(f"substitute_person: frac must be in (0, 1], got {frac}")
    missing = [k for k in ("hr", "person", "gender", "age") if k not in batch]
    if missing:
        raise KeyError(f"substitute_person: the batch has no {missing} (keys: {sorted(batch)})")
    out = out.clone()
    person, gender, age = batch["person"], batch["gender"], batch["age"].float()
    for i in range(max(1, int(round(frac * out.shape[0])))):
        other = person != person[i]
        pool = other & (gender != gender[i]) if (other & (gender != gender[i])).any() else other
        if pool.any():
            gap = torch.where(pool, (age - age[i]).abs(), torch.full_like(age, -1.0))
            out[i] = batch["hr"][int(gap.argmax())].to(out)
    return out


def positive_controls(cfg, n_seeds: int | None = None, handicap: float | None = None,
                      progress: bool = False) -> dict[str, dict[str, list[float]]]:
    """Planted effects, one per claim family of Table 1, scored like the table rows ({row: {"closed/acc_ci": [...]}}; log it
    as `controls_seeds`, split with `split_sets`).

    - audio helps: "erased_zero" vs "erased_tuned": rows (f) and (h) trained and scored with every LR image
      replaced by flat grey (erase_lr), so only the voice can say who it is: (h) must beat (f) on identity and
      gender wherever the voice carries them (cached runs).
    - a design choice helps / ours beats a baseline: "ours" vs "handicapped": the handicapped row of seed s is the
      trained (h) of the next seed (cyclically) that has lost the person for a fraction `handicap`
      (cfg.ear_handicap) of the items: its output for them is the true HR face of someone else
      (`substitute_person`: of the other gender, and of those the most different age). The judges read that face
      as its own person, so identity and gender accuracy drop and the age error grows by a planted amount that
      does not depend on what the model itself carries (the earlier handicap, another item's output, planted
      nothing on a metric the model carries no signal for: a deaf-to-gender model's outputs swapped among
      themselves are judged the same). Taking the next seed's model lets the seed spread enter the difference as
      it does between two trained rows.
    """
    from avfh_core.train.evaluate import evaluate
    from avfh_core.train.experiment import cached_run
    from avfh_core.train.experiment import seeds as seed_list

    frac = float(cfg.ear_handicap if handicap is None else handicap)
    if not 0 < frac <= 1:
        raise ValueError(f"handicap must be in (0, 1], got {frac}")
    me = sys.modules[__name__]
    ss = seed_list(cfg, n_seeds)
    per: dict[str, list[dict[str, float]]] = {}
    for row, audio in (("erased_zero", "zero"), ("erased_tuned", "tuned")):
        run = EarRun.make(audio=audio, erase_lr=True)
        for s in ss:
            per.setdefault(row, []).append(cached_run(me, run, cfg, s)[0])

    def handicapped(models, batch):
        return substitute_person(predict(models, batch), batch, frac)

    ours = table1(cfg)["h_f_tuned_ea"]
    runs = [cached_run(me, ours, cfg, s) for s in ss]
    data, idx = eval_set(ours, cfg)
    order = torch.randperm(len(idx), generator=torch.Generator().manual_seed(0)).tolist()  # mix people in batches
    for i in range(len(ss)):
        per.setdefault("ours", []).append(runs[i][0])
        per.setdefault("handicapped", []).append(
            evaluate(handicapped, score, runs[(i + 1) % len(ss)][1].models, data, [idx[o] for o in order], cfg))
    return {row: {m: [p[m] for p in vals] for m in vals[0] if "/" in m} for row, vals in per.items()}


def mixing_control(cfg, n_seeds: int | None = None) -> dict[str, dict[str, list[float]]]:
    """The positive control of Table 3's claims: mixing scored on row (f), whose F is fed zeros for the voice, so
    its output's gender can only follow the face: {"f_audio_label": ..., "f_lr_label": ...} (log it as
    `controls_mixing_seeds`); the audit must see the face win."""
    t = table3(cfg, n_seeds, table1(cfg)["f_f_zero_ea"])
    return {f"f_{row}": v for row, v in t.items()}


# ----------------------------------------------------------------------------------------------------------------
# Sec. 3.1's naive multimodal network (spec Q1): does end-to-end training ignore the voice?


def q1_rows(cfg) -> dict[str, EarRun]:
    """The full model (h), staged as the paper trains it, and the same networks trained end to end (naive)."""
    return {"staged": table1(cfg)["h_f_tuned_ea"], "naive": EarRun.make(naive=True)}


@torch.no_grad()
def audio_sensitivity(models: Mapping[str, nn.Module], data: EarSet, cfg, batch_size: int = 32,
                      seed: int = 0) -> dict[str, list[float]]:
    """Per item of `data`, the full model's output with the item's own voice and with another item's (a fixed
    random derangement of the items, so mostly another person): {"own": identity correct (0 / 100), "other": the
    same with the other voice, "change": mean |output(own) - output(other)| in [0, 1] pixel units}. A model that
    ignores its audio has change 0 and own == other."""
    n = len(data)
    if n < 2:
        raise ValueError(f"audio_sensitivity: need >= 2 items to swap voices, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    other = torch.empty(n, dtype=torch.long)
    other[order] = order.roll(1)  # item order[k] hears the voice of order[k - 1]: never its own
    j = judges(cfg)
    for m in models.values():
        m.eval()
    out: dict[str, list[float]] = {"own": [], "other": [], "change": []}
    for k in range(0, n, batch_size):
        idx = list(range(k, min(n, k + batch_size)))
        batch = collate([data[i] for i in idx], cfg.device)
        own = predict(models, batch)
        swapped = predict(models, {**batch, "audio": data.t["audio"][other[idx]].to(cfg.device)})
        person = batch["person"]
        out["own"] += (100.0 * (j(own)["identity"].argmax(1) == person).double()).cpu().tolist()
        out["other"] += (100.0 * (j(swapped)["identity"].argmax(1) == person).double()).cpu().tolist()
        out["change"] += (own - swapped).abs().mean(dim=(1, 2, 3)).double().cpu().tolist()
    return out


def collate_items(data: EarSet, idx) -> dict[str, torch.Tensor]:
    """A batch of the given items (for figures)."""
    return collate([data[i] for i in idx])


if __name__ == "__main__":  # python -m avfh_core.train.ear --preset gpu: train and score the full model (h)
    from avfh_core.train.experiment import main

    main(sys.modules[__name__], EarRun.make())
