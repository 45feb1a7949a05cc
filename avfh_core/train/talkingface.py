"""Eskimez, Maddox, Xu, Duan, "End-to-end generation of talking faces from noisy speech" (ICASSP 2020), sec. 3.2
and 4: training, the Fig. 5 evaluation and the collapse monitor, as the per-paper contract of CONTRIBUTING.md.

The generator's loss, eq. (1) plus the noise-resilience term of sec. 3.2 (text, not in eq. 1):

    J_GEN = L1_masked(clean) + L1_masked~(noisy) + alpha J_FD + beta J_PD  [+ w_nr MSE(enc(noisy), enc(clean))]

- L1_masked: mean |M * (G - Y)| with M a 2-D Gaussian at the mean of the mouth landmarks (iBUG 48-67) plus 0.01
  (sec. 3.2, `losses.mouth_mask`). The paper calibrated the Gaussian's size without printing it; here sigma is
  cfg.talkingface_mask_sigma (0.12) of the face width (jaw points 0-16), i.e. relative to face size. The follow-up
  code's 9 px at 128 px is 0.07 of the frame and about 0.12 of an aligned face's width. The "no_mask" ablation uses
  M = 1 (plain L1).
- L1_masked~: the same loss on the video generated from the noisy version of the speech (Proposed-NR only).
- J_FD, J_PD: LSGAN generator costs of the frame and pair discriminators (sec. 3.1; LSGAN [16]); alpha = beta = 1e-3
  (sec. 4.2). The frame D scores one random frame per video with the condition image (the paper's "random indexes"
  read as one per video; ambiguous, spec 2.5); the pair D scores the mouth-masked video (M * video) with the
  condition image and the clean speech, per frame, generated vs ground truth only (the paper names no other negatives).
- Noise-resilience MSE (Proposed-NR only): between the speech encoder's conv features of the noisy and the clean
  speech, gradient through both (ref. [12]'s code: weight 1e-3, no detach); weight cfg.talkingface_nr_weight.
- Proposed (not NR) trains on clean speech only (inferred: the paper never spells the difference out).
- Noise for NR training: each clip mixed with a random one of the 138 procedural training types
  (`data.noise_bank.TRAIN_TYPES`) at a random SNR of -6 ... 30 dB in 3 dB steps (sec. 4.1).

Design sweeps (ours; `mask_sweep`, `nr_parts`, behind the row knob cfg.talkingface_design_sweeps): the mask's
sigma at half and double its default, and Proposed-NR's two added terms one at a time, or with the clean features
detached, each trained like Proposed.

Training windows (ours, for CPU presets): each step trains on a random cfg.talkingface_train_frames-frame window of
the clips (the paper trains on whole 1.16 s LRW clips: 29 frames at the gpu and paper presets).

Schedule (sec. 4.2): Adam beta1 0.5; G lr cfg.talkingface_g_lr, both Ds 1/10 of it (paper 1e-4 / 1e-5); phase 1
reconstruction only ("until convergence": here the first cfg.talkingface_phase1_frac of the steps), phase 2 adds the
discriminators, which then take one LSGAN step each per G step. Every loss term's value and gradient share
(`train.loop.gradient_shares`) is logged at step 0, at the first phase-2 step and every cfg.talkingface_grad_every
steps.

Data (ours): the synthetic world at 8 kHz (16 kHz speech resampled), near-frontal still heads (pose preset
"frontal", no head motion: what the paper's eye-and-nose similarity alignment approximates); the condition image is
the clip's first frame (the follow-up code's choice) and the scores skip that frame. "LRW" is the word world, "GRID"
the sentence world (`utterance="sentence"`, the same held-out people, never trained on).

The binding risk is audio use: `collapse_monitor` compares the model with intact and shuffled audio, its mouth
motion energy with the truth's, and its masked L1 with copying the condition frame; training logs it every
cfg.talkingface_monitor_every steps.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.data import noise_bank as nb
from avfh_core.data import synth
from avfh_core.data.batching import collate, step_batches
from avfh_core.data.landmarks import JAW, MOUTH
from avfh_core.losses.adversarial import lsgan_d_loss, lsgan_g_loss
from avfh_core.losses.mouth_mask import gaussian_mouth_mask, masked_l1
from avfh_core.losses.noise import noise_resilience_loss
from avfh_core.metrics.image import box_mask, mse, ssim
from avfh_core.models.talkingface import (
    CopyCondition,
    FrameDiscriminator,
    PairDiscriminator,
    TalkingFaceConfig,
    TalkingFaceGenerator,
)
from avfh_core.models.talkingface_baseline import TwoStageBaseline, mouth_displacement
from avfh_core.nn.init import build, module_generator, seeded
from avfh_core.train.evaluate import evaluate
from avfh_core.train.experiment import Trained
from avfh_core.train.loop import frozen, gradient_shares, rank, train_loop

PAPER = "talkingface"
MODELS = ("proposed", "baseline", "copy")
WORLD = dict(pose_preset="frontal", rotation_motion=0.0, translation_motion=0.0)  # aligned near-frontal crops
DATASETS = {"lrw": dict(utterance="word"), "grid": dict(utterance="sentence")}
CONDITIONS = ("clean", "lt10", "ge10")  # clean speech; SNR bands of Fig. 5: -10..9 dB and 10..30 dB
BANDS = {"lt10": tuple(range(-10, 10)), "ge10": tuple(range(10, 31))}
METRICS = ("psnr", "ssim", "nlmd", "nlmd_mouth", "mouth_psnr", "mouth_l1")


NR_TERMS = ("l1_noisy", "nr")  # the masked L1 on the noisy-speech video, the conv-feature MSE (module docstring)


@dataclass(frozen=True)
class TalkingFaceRun:
    """One training run (one table row). model "copy" is the floor (no training)."""

    model: str = "proposed"
    noise_resilient: bool = False  # Proposed-NR: noisy-speech L1 and the noise-resilience MSE
    mask: bool = True  # mouth-region weighted L1 (False: plain L1)
    frame_d: bool = True
    pair_d: bool = True
    world: tuple[tuple[str, Any], ...] = ()  # data.synth.world overrides on top of WORLD
    mask_sigma: float | None = None  # the training mask's sigma (fraction of face width); None: cfg's
    nr_terms: tuple[str, ...] = NR_TERMS  # Proposed-NR's added terms (`nr_parts`: one of them alone)
    nr_detach: bool = False  # the NR MSE with the clean features detached (ref. [12]'s code does not detach)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if not self.nr_terms or not set(self.nr_terms) <= set(NR_TERMS):
            raise ValueError(f"nr_terms must be a non-empty subset of {NR_TERMS}, got {self.nr_terms!r}")
        if self.mask_sigma is not None and not self.mask_sigma > 0:
            raise ValueError(f"mask_sigma must be > 0 (a fraction of the face width), got {self.mask_sigma}")

    def generator_config(self, cfg) -> TalkingFaceConfig:
        if cfg.talkingface_paper_sizes:
            if int(cfg.hr_size) != 128:
                raise ValueError(f"talkingface_paper_sizes needs hr_size 128 (the paper's), got {cfg.hr_size}")
            return TalkingFaceConfig.paper()
        return TalkingFaceConfig.sized(int(cfg.hr_size), int(cfg.talkingface_width))


PROPOSED = TalkingFaceRun()
PROPOSED_NR = TalkingFaceRun(noise_resilient=True)
COPY = TalkingFaceRun(model="copy")
BASELINE = TalkingFaceRun(model="baseline", frame_d=False, pair_d=False)


def fig5(cfg) -> dict[str, TalkingFaceRun]:
    """Fig. 5's systems (the two-stage baseline [8] reduced: `models.talkingface_baseline`) and the
    copy-the-condition-frame floor."""
    return {"baseline": BASELINE, "proposed": PROPOSED, "proposed_nr": PROPOSED_NR, "copy": COPY}


def ablations(cfg) -> dict[str, TalkingFaceRun]:
    """What the paper reasons about but does not run (sec. 3, conclusion): no mask, no pair D, no frame D. Only
    Proposed when cfg.talkingface_ablations is False (a row knob, `config.ROW_KNOBS`: Proposed is the Fig. 5 run
    either way)."""
    if not cfg.talkingface_ablations:
        return {"proposed": PROPOSED}
    return {"proposed": PROPOSED, "no_mask": TalkingFaceRun(mask=False), "no_pair_d": TalkingFaceRun(pair_d=False),
            "no_frame_d": TalkingFaceRun(frame_d=False)}


MASK_SIGMA_FACTORS = (0.5, 2.0)  # `mask_sweep`: half and double cfg.talkingface_mask_sigma


def mask_sweep(cfg) -> dict[str, TalkingFaceRun]:
    """The mask's size, which the paper calibrated without printing (sec. 3.2): Proposed trained with the mask's
    sigma at half and double cfg.talkingface_mask_sigma (the pair D sees the video through the same mask), beside
    the default and plain L1 (sigma -> infinity, the ablations' no_mask). Scored with the default mask, so the rows
    compare. Empty when cfg.talkingface_design_sweeps is False (a row knob)."""
    if not cfg.talkingface_design_sweeps:
        return {}
    base = float(cfg.talkingface_mask_sigma)
    return {"proposed": PROPOSED, "sigma_half": TalkingFaceRun(mask_sigma=base * MASK_SIGMA_FACTORS[0]),
            "sigma_double": TalkingFaceRun(mask_sigma=base * MASK_SIGMA_FACTORS[1]),
            "no_mask": TalkingFaceRun(mask=False)}


def nr_parts(cfg) -> dict[str, TalkingFaceRun]:
    """The noise-resilient training's parts (sec. 3.2 adds two terms at once): the noisy-speech L1 alone, the
    conv-feature MSE alone, both (Proposed-NR), both with the clean features detached, and neither (Proposed).
    Empty when cfg.talkingface_design_sweeps is False (a row knob)."""
    if not cfg.talkingface_design_sweeps:
        return {}
    return {"proposed": PROPOSED, "nr_l1_only": TalkingFaceRun(noise_resilient=True, nr_terms=("l1_noisy",)),
            "nr_mse_only": TalkingFaceRun(noise_resilient=True, nr_terms=("nr",)), "proposed_nr": PROPOSED_NR,
            "nr_detached": TalkingFaceRun(noise_resilient=True, nr_detach=True)}


TABLES: dict[str, Callable[[Any], dict[str, TalkingFaceRun]]] = {"fig5_lrw": fig5, "fig5_grid": fig5,
                                                                 "ablations": ablations, "mask_sweep": mask_sweep,
                                                                 "nr_parts": nr_parts}


def table_view(table: Mapping[str, Mapping[str, list[float]]], dataset: str) -> dict[str, dict[str, list[float]]]:
    """The run_rows output restricted to one dataset's metrics, named without the dataset prefix ("lrw/psnr_lt10"
    -> "psnr_lt10"): what a Fig. 5 table of the YAML holds."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
    p = dataset + "/"
    return {row: {m[len(p):]: v for m, v in ms.items() if m.startswith(p)} for row, ms in table.items()}


# ----------------------------------------------------------------------------------------------------------------
# Data


def face_sigma(landmarks: torch.Tensor, fraction: float) -> float:
    """The mask's sigma (pixels): `fraction` of the median face width (jaw point 0 to 16) over the clip's frames."""
    width = (landmarks[:, JAW.stop - 1] - landmarks[:, JAW.start]).norm(dim=-1)
    return float(fraction * width.median())


def mouth_box(landmarks: torch.Tensor, margin: float = 0.3) -> torch.Tensor:
    """[T, 4] (x0, y0, x1, y1) around the mouth landmarks, widened by `margin` of their size on each side."""
    m = landmarks[:, MOUTH]
    lo, hi = m.min(1).values, m.max(1).values
    pad = margin * (hi - lo).clamp(min=2.0)
    return torch.cat([lo - pad, hi + pad], -1)


class ClipSet(torch.utils.data.Dataset):
    """Clips (`AVSample`s with landmarks: a synthetic world's, or real ones from `train.talkingface_real`) as
    training / evaluation items (dicts of tensors):
    video [T, 3, H, W], condition [3, H, W] (the first frame), audio [320 T] (8 kHz), mask [T, H, W] (the mouth
    Gaussian + 0.01), box [T, 4] (mouth box), landmarks [T, 68, 2] (rendered, for the landmark estimator), and with `noisy` the per-band noisy speech audio_lt10 / audio_ge10,
    their SNRs and the test noise type (`noise_bank.TEST_TYPES`, item i gets type i % 5; SNRs drawn per item from a
    fixed stream)."""

    def __init__(self, samples, sigma_fraction: float, noisy: bool = False):
        n_clips = len(samples)
        if n_clips < 1:
            raise ValueError("ClipSet: needs at least one clip, got none")
        self.items = []
        g = torch.Generator().manual_seed(1234)
        for i in range(n_clips):
            s = samples[i]
            if s.landmarks is None:
                raise ValueError(f"ClipSet: clip {i} ({s.source}) has no landmarks; the mouth mask and NLMD need them")
            audio = nb.resample(s.audio.float()[None], int(s.sample_rate))[0]
            T, _, H, W = s.video.shape
            audio = F.pad(audio, (0, max(0, T * 320 - len(audio))))[: T * 320]
            lm = s.landmarks.float()
            item = dict(video=s.video.float(), condition=s.video[0].float(), audio=audio,
                        mask=gaussian_mouth_mask(lm, (H, W), sigma=face_sigma(lm, sigma_fraction)),
                        box=mouth_box(lm), landmarks=lm)
            if noisy:
                kind = i % len(nb.TEST_TYPES)
                noise = nb.noise(nb.TEST_TYPES[kind], len(audio), seed=1000 + i)[None]
                for band, levels in BANDS.items():
                    snr = float(levels[int(torch.randint(len(levels), (1,), generator=g))])
                    item[f"audio_{band}"] = nb.mix_at_snr(audio[None], noise, snr)[0] if audio.abs().sum() > 0 \
                        else audio.clone()
                    item[f"snr_{band}"] = torch.tensor(snr)
                item["noise_type"] = torch.tensor(kind)
            self.items.append(item)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.items[i]


_DATA: dict[tuple, ClipSet] = {}


def clip_data(cfg, split: str, dataset: str = "lrw", world: Mapping[str, Any] | None = None,
              sigma: float | None = None) -> ClipSet:
    """The clips of the run's world (cached in-process): "train" (cfg.talkingface_train_clips, clean) or "test"
    (held-out people, cfg.talkingface_eval_clips, with noisy versions); their masks' sigma is `sigma` of the face
    width (None: cfg.talkingface_mask_sigma)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    w = synth.world(cfg, **{**WORLD, **DATASETS[dataset], **dict(world or {})})
    n = int(cfg.talkingface_train_clips if split == "train" else cfg.talkingface_eval_clips)
    sigma = float(cfg.talkingface_mask_sigma if sigma is None else sigma)
    key = (w.key, split, n, sigma)
    if key not in _DATA:
        _DATA[key] = ClipSet(w.dataset(split, n_clips=n), sigma, noisy=(split == "test"))
    return _DATA[key]


def mask_profile(data: ClipSet, fractions=(0.03, 0.06, 0.12, 0.24, 0.48)) -> dict[float, dict[str, float]]:
    """What the mask's size does to eq. 1 before any training, over the clips' frames 1.. (frame 0 is the condition
    image): for sigma = each fraction of the face width (math.inf: plain L1, M = 1), the share of the mask's weight
    inside the mouth box (`weight_in_box`) and the share of the masked L1 of copying the condition frame that comes
    from inside it (`loss_in_box`: what the first steps chase, since every generator starts as that copy), means
    over clips; `box_area` is the box's share of the frame."""
    if not fractions or any(not f > 0 for f in fractions):
        raise ValueError(f"mask_profile: fractions must be positive, got {tuple(fractions)}")
    out: dict[float, dict[str, list[float]]] = {}
    for it in data.items:
        lm, video, box = it["landmarks"][1:], it["video"][1:], it["box"][1:]
        H, W = video.shape[-2:]
        inside = box_mask((H, W), box, device=video.device).float()  # [T, H, W]
        err = (video - it["condition"]).abs().mean(dim=1)  # [T, H, W]: the copy's error per pixel
        for f in fractions:
            m = torch.ones_like(err) if f == float("inf") else \
                gaussian_mouth_mask(lm, (H, W), sigma=face_sigma(lm, f))
            row = out.setdefault(float(f), {"weight_in_box": [], "loss_in_box": [], "box_area": []})
            row["weight_in_box"].append(float((m * inside).sum() / m.sum()))
            loss = (m * err).sum()
            row["loss_in_box"].append(float((m * err * inside).sum() / loss) if loss > 0 else float("nan"))
            row["box_area"].append(float(inside.mean()))
    return {f: {k: sum(v) / len(v) for k, v in row.items()} for f, row in out.items()}


class EvalSet(torch.utils.data.Dataset):
    """The LRW-like and the GRID-like test clips in one set (`dataset` 0 / 1 per item), so one evaluation scores
    both; `score` gives NaN to the other dataset's metrics, which `evaluate` leaves out of the means."""

    def __init__(self, parts: list[ClipSet]):
        self.items = [dict(it, dataset=torch.tensor(k)) for k, p in enumerate(parts) for it in p.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.items[i]


def eval_set(run: TalkingFaceRun, cfg) -> tuple[EvalSet, list[int]]:
    """Held-out people of the word ("lrw") and sentence ("grid") worlds, every item."""
    data = EvalSet([clip_data(cfg, "test", d, dict(run.world)) for d in DATASETS])
    return data, list(range(len(data)))


# ----------------------------------------------------------------------------------------------------------------
# Networks, prediction, scores


def init(run: TalkingFaceRun, cfg, *, seed: int) -> dict[str, nn.Module]:
    if run.model == "copy":
        return {"generator": CopyCondition()}
    gcfg = run.generator_config(cfg)
    if run.model == "baseline":
        return {"generator": build(seed, "baseline", lambda: TwoStageBaseline(gcfg))}
    models: dict[str, nn.Module] = {"generator": build(seed, "generator", lambda: TalkingFaceGenerator(gcfg))}
    if run.frame_d:
        models["frame_d"] = build(seed, "frame_d", lambda: FrameDiscriminator(gcfg))
    if run.pair_d:
        models["pair_d"] = build(seed, "pair_d", lambda: PairDiscriminator(gcfg))
    return models


def _noise_code(gen: nn.Module, B: int, T: int, device, seed: int = 0) -> torch.Tensor | None:
    cfg = getattr(gen, "cfg", None)
    if cfg is None:
        return None
    return torch.randn(B, T, cfg.noise_dim, generator=module_generator(seed, "noise_code")).to(device)


def generate(models: Mapping[str, nn.Module], condition: torch.Tensor, audio: torch.Tensor,
             noise: torch.Tensor | None = None) -> torch.Tensor:
    """The video [B, T, 3, H, W] in [0, 1] with a fixed noise code (the same for every call: evaluation compares
    conditions, not noise draws); `noise` [B, T, noise_dim] gives it instead (a slice of a larger batch's code)."""
    gen = models["generator"]
    T = audio.shape[1] // 320
    if noise is None:
        noise = _noise_code(gen, condition.shape[0], T, condition.device)
    return gen(condition, audio, noise).clamp(0, 1)


def predict(models: Mapping[str, nn.Module], batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """[B, len(CONDITIONS), T, 3, H, W]: the video generated from clean speech and from the two noisy bands."""
    return torch.stack([generate(models, batch["condition"], batch["audio" if c == "clean" else f"audio_{c}"])
                        for c in CONDITIONS], 1)


def video_scores(pred: torch.Tensor, video: torch.Tensor, mask: torch.Tensor, box: torch.Tensor
                 ) -> dict[str, torch.Tensor]:
    """Per clip [B], frames 1.. (frame 0 is the condition image): PSNR (RGB, from the clip's mean MSE), SSIM (Y,
    mean over frames), mouth PSNR (inside the mouth box) and the masked L1 of eq. 1."""
    p, v, m, b = pred[:, 1:], video[:, 1:], mask[:, 1:], box[:, 1:]
    B, T = p.shape[:2]
    pf, vf = p.flatten(0, 1), v.flatten(0, 1)
    err = mse(pf, vf).reshape(B, T).mean(1)
    mbox = box_mask(pf.shape[-2:], b.flatten(0, 1), device=pf.device)
    merr = mse(pf, vf, mask=mbox).reshape(B, T).mean(1)
    to_db = lambda e: 10 * torch.log10(1.0 / e.clamp(min=1e-10))  # noqa: E731
    return {"psnr": to_db(err), "ssim": ssim(pf, vf).reshape(B, T).mean(1), "mouth_psnr": to_db(merr),
            "mouth_l1": (m[:, :, None] * (p - v)).abs().flatten(1).mean(1).double()}


def score(pred: torch.Tensor, batch: Mapping[str, torch.Tensor], cfg) -> dict[str, torch.Tensor]:
    """{"<dataset>/<metric>_<condition>": [B]} for datasets lrw / grid (NaN for the other dataset's items),
    conditions clean / lt10 / ge10 and "all" (-10 ... 30 dB: the two bands weighted by their 20 and 21 levels);
    plus "<dataset>/nlmd_floor" and, on clean speech, "<dataset>/sync_confidence" and "<dataset>/sync_distance"
    from the in-project sync network (`train.talkingface_sync`)."""
    out: dict[str, torch.Tensor] = {}
    per = {c: video_scores(pred[:, k], batch["video"], batch["mask"], batch["box"]) for k, c in enumerate(CONDITIONS)}
    for k, c in enumerate(CONDITIONS):
        per[c].update(_nlmd(pred[:, k], batch, cfg))
    from avfh_core.train import talkingface_sync as ts  # (it imports this module)

    sync = ts.scores(pred[:, 0], batch, cfg)  # clean speech
    wl, wg = len(BANDS["lt10"]) / 41, len(BANDS["ge10"]) / 41
    for d, name in enumerate(DATASETS):
        mine = batch["dataset"] == d
        for metric in METRICS:
            vals = {c: per[c][metric] for c in CONDITIONS}
            vals["all"] = wl * vals["lt10"] + wg * vals["ge10"]
            for c, v in vals.items():
                out[f"{name}/{metric}_{c}"] = torch.where(mine, v.double(), torch.full_like(v.double(), float("nan")))
        extra = {"nlmd_floor": per["clean"]["nlmd_floor"], "sync_confidence": sync["sync_confidence"],
                 "sync_distance": sync["sync_distance"]}
        for metric, v in extra.items():
            out[f"{name}/{metric}"] = torch.where(mine, v.double(), torch.full_like(v.double(), float("nan")))
    return out


def _nlmd(pred: torch.Tensor, batch: Mapping[str, torch.Tensor], cfg) -> dict[str, torch.Tensor]:
    """NLMD, mouth-only NLMD and the estimator's floor per clip [B] through the in-project landmark estimator
    (`train.talkingface_landmarker`, trained once per world and cached)."""
    from avfh_core.train import talkingface_landmarker as tl  # (it imports this module)

    est, tmpl = tl.scorer(cfg)
    est.to(pred.device)
    return tl.nlmd_scores(est, pred, batch["video"], tmpl, batch.get("landmarks"))


SWEEP_SNRS = (-10.0, -5.0, 0.0, 5.0, 10.0, 20.0, 30.0)  # the coarse grid of notebook 03's Fig. 5 curves
SWEEP_CPU_CLIPS, SWEEP_DEVICE_CLIPS = 4, 32
"""Clips per generator pass of `snr_sweep`: on one CPU thread 4 clips (116 frames of 64 px) generated 20% faster
than all 24 course clips at once (the same frames bit for bit here, 2026-12-05); on an accelerator more; both bound
the memory at the larger presets (the paper preset holds 1000 clips)."""


@torch.no_grad()
def snr_sweep(models: Mapping[str, nn.Module], data: ClipSet, cfg, snrs=nb.TEST_SNRS_DB,
              types=nb.TEST_TYPES, *, by_type: bool = False, clips: int | None = None
              ) -> dict[float, dict[str, float]]:
    """Fig. 5's x axis: {snr_db: {metric: mean}} (the metrics of `video_scores`, NLMD and mouth-only NLMD) over
    every clip of `data` mixed with each of `types` at each SNR (clip i with noise segment seed 1000 + i, as the
    eval set), frames 1.. as `score`; with `by_type` also "<metric>/<type>", the mean over one noise type's clips.
    Costs len(snrs) x len(types) generations of every clip, `clips` clips per pass (default SWEEP_CPU_CLIPS on the
    CPU, SWEEP_DEVICE_CLIPS elsewhere); each clip keeps the noise code `generate` gives it in one pass over all the
    clips, so the chunking changes no number beyond float reordering.

    Work done once, not per (SNR, type): the estimator's landmarks of the true frames (NLMD's reference), and for
    the copy floor (`CopyCondition`, which never reads its audio) the whole scoring: its output is the same at
    every SNR and type, so the scores are too."""
    from avfh_core.train import talkingface_landmarker as tl  # (it imports this module)

    snrs, types = [float(x) for x in snrs], list(types)
    if not snrs or not types:
        raise ValueError(f"snr_sweep: needs at least one SNR and one noise type, got {snrs} and {types}")
    if clips is None:
        clips = SWEEP_CPU_CLIPS if torch.device(cfg.device).type == "cpu" else SWEEP_DEVICE_CLIPS
    if clips < 1:
        raise ValueError(f"snr_sweep: clips must be >= 1, got {clips}")
    for m in models.values():
        m.eval()
    b = collate(data.items, cfg.device)
    clean, N = b["audio"], len(data)
    T = clean.shape[1] // 320
    gen = models["generator"]
    z = _noise_code(gen, N, T, clean.device)  # what generate() gives a batch of all N clips
    est, tmpl = tl.scorer(cfg)
    est.to(clean.device)
    parts = [slice(i, min(i + clips, N)) for i in range(0, N, clips)]
    truth = [tl.estimate(est, b["video"][c, 1:]) for c in parts]  # NLMD's reference, once per sweep

    def scores(audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per clip [N] of the generation from `audio` [N, S], one chunk of clips at a time."""
        per: dict[str, list[torch.Tensor]] = {}
        for c, g in zip(parts, truth):
            p = generate(models, b["condition"][c], audio[c], None if z is None else z[c])
            v = video_scores(p, b["video"][c], b["mask"][c], b["box"][c]) | \
                tl.nlmd_scores(est, p, b["video"][c], tmpl, truth=g)
            for name, val in v.items():
                per.setdefault(name, []).append(val.double().cpu())
        return {name: torch.cat(vals) for name, vals in per.items()}

    noises = {k: torch.stack([nb.noise(k, clean.shape[1], seed=1000 + i) for i in range(N)]).to(clean.device)
              for k in types}
    blind = scores(clean) if isinstance(gen, CopyCondition) else None  # the floor never reads its audio
    ok = clean.pow(2).sum(1) > 0
    out: dict[float, dict[str, float]] = {}
    for snr in snrs:
        acc: dict[str, list[torch.Tensor]] = {}
        for k in types:
            if blind is None:
                noisy = torch.where(ok[:, None], nb.mix_at_snr(clean + (~ok)[:, None] * 1e-6, noises[k], snr), clean)
                v = scores(noisy)
            else:
                v = blind
            for name, val in v.items():
                acc.setdefault(name, []).append(val)
        out[snr] = {name: float(torch.cat(vals).mean()) for name, vals in acc.items()}
        if by_type:
            out[snr].update({f"{name}/{k}": float(val.mean()) for name, vals in acc.items()
                             for k, val in zip(types, vals)})
    return out


def fig5_sweep(run: TalkingFaceRun, cfg, seed: int, dataset: str = "lrw", snrs=SWEEP_SNRS, types=nb.TEST_TYPES
               ) -> dict[float, dict[str, float]]:
    """`snr_sweep` (by_type) of the cached run (run, seed) on the held-out clips of `dataset` ("lrw" word world,
    "grid" sentence world), itself cached on disk (`experiment.cached_eval`, $AVFH_HOME/evals/talkingface): keyed
    by the run's key (configuration, seed, code) and the sweep's SNRs, noise types, dataset and its world, clip
    count and the landmark estimator's identity. The run is trained (or loaded) only when the sweep is not cached."""
    from avfh_core.train import talkingface_landmarker as tl  # (it imports this module)
    from avfh_core.train.experiment import cached_eval, cached_run

    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
    snrs, types = [float(x) for x in snrs], list(types)
    me = sys.modules[__name__]
    world = synth.world(cfg, **{**WORLD, **DATASETS[dataset], **dict(run.world)})
    params = {"dataset": dataset, "world": str(world.key), "snrs": snrs, "types": types,
              "eval_clips": int(cfg.talkingface_eval_clips), "landmarker": tl.landmarker_id(cfg)}

    def fn():
        models = cached_run(me, run, cfg, seed)[1].models
        return snr_sweep(models, clip_data(cfg, "test", dataset, dict(run.world)), cfg, snrs, types, by_type=True)

    return cached_eval(me, run, cfg, seed, "fig5_sweep", params, fn)


# ----------------------------------------------------------------------------------------------------------------
# The collapse monitor


@torch.no_grad()
def collapse_monitor(models: Mapping[str, nn.Module], data, indices: list[int] | None = None,
                     device="cpu") -> dict[str, Any]:
    """Does the generator use the audio? On clean speech of held-out clips (frames 1..):
    - l1_intact / l1_shuffled / l1_copy: the masked L1 of eq. 1 with the clip's own audio, with another clip's audio
      (a cyclic shift over the items) and for copying the condition frame (the floor);
    - out_change: the mean absolute change of the generated mouth region (mask-weighted) when the audio is shuffled;
    - motion_gen / motion_true: mouth motion energy, the mask-weighted mean |frame t - frame t-1|;
    - uses_audio: the output changes (> 1e-4) and shuffled audio is worse than intact; beats_copy: l1_intact < l1_copy.
    """
    indices = list(range(len(data))) if indices is None else list(indices)
    if len(indices) < 2:
        raise ValueError(f"collapse_monitor: needs at least 2 clips to shuffle the audio, got {len(indices)}")
    for m in models.values():
        m.eval()
    b = collate([data[i] for i in indices], device)
    shuffled = b["audio"].roll(1, 0)
    g, gs = generate(models, b["condition"], b["audio"]), generate(models, b["condition"], shuffled)
    v, m, cond = b["video"][:, 1:], b["mask"][:, 1:, None], b["condition"][:, None]
    g, gs = g[:, 1:], gs[:, 1:]

    def ml1(x):
        return float((m * (x - v)).abs().mean())

    def motion(x):
        return float((m[:, 1:] * (x[:, 1:] - x[:, :-1]).abs()).sum() / (m[:, 1:].sum() * 3))

    rec = {"l1_intact": ml1(g), "l1_shuffled": ml1(gs), "l1_copy": ml1(cond.expand_as(v)),
           "out_change": float((m * (g - gs).abs()).sum() / (m.sum() * 3)),
           "motion_gen": motion(g), "motion_true": motion(b["video"][:, 1:])}
    rec["uses_audio"] = bool(rec["out_change"] > 1e-4 and rec["l1_shuffled"] > rec["l1_intact"])
    rec["beats_copy"] = bool(rec["l1_intact"] < rec["l1_copy"])
    rec["verdict"] = ("uses the audio" if rec["uses_audio"] else "ignores the audio (collapse)") + \
        (", beats copying the condition frame" if rec["beats_copy"] else ", does not beat copying the condition frame")
    return rec


# ----------------------------------------------------------------------------------------------------------------
# Training


def loss_weights(run: TalkingFaceRun, cfg) -> dict[str, float]:
    """Eq. 1's weights (+ the NR term) of the terms the run has."""
    w = {"l1": 1.0}
    if run.noise_resilient:
        nr = {"l1_noisy": 1.0, "nr": float(cfg.talkingface_nr_weight)}
        w.update({k: nr[k] for k in run.nr_terms})
    if run.frame_d:
        w["frame"] = float(cfg.talkingface_alpha)
    if run.pair_d:
        w["pair"] = float(cfg.talkingface_beta)
    return w


def train(run: TalkingFaceRun, cfg, *, seed: int, progress: bool = False, checkpoint_path=None,
          data: ClipSet | None = None, steps: int | None = None) -> Trained:
    """Both phases of sec. 4.2 (module docstring); `data`/`steps` override the run's training clips and
    cfg.talkingface_steps (tests, controls)."""
    models = {k: m.to(cfg.device) for k, m in init(run, cfg, seed=seed).items()}
    if run.model == "copy":
        return Trained({k: m.eval() for k, m in models.items()})
    steps = int(cfg.talkingface_steps if steps is None else steps)
    frac = float(cfg.talkingface_phase1_frac)
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"talkingface_phase1_frac must be in [0, 1], got {frac}")
    phase1 = int(round(frac * steps))
    data = data if data is not None else clip_data(cfg, "train", "lrw", dict(run.world), sigma=run.mask_sigma)
    gen, fd, pd = models["generator"], models.get("frame_d"), models.get("pair_d")
    opt = {"generator": torch.optim.Adam(gen.parameters(), lr=cfg.talkingface_g_lr, betas=(0.5, 0.999))}
    for name, d in (("frame_d", fd), ("pair_d", pd)):
        if d is not None:
            opt[name] = torch.optim.Adam(d.parameters(), lr=cfg.talkingface_d_lr, betas=(0.5, 0.999))
    weights = loss_weights(run, cfg)
    grad_every = int(cfg.talkingface_grad_every)
    noise = nb.bank(nb.TRAIN_TYPES, int(cfg.talkingface_noise_seconds * nb.SAMPLE_RATE), seed=seed) \
        if run.noise_resilient else None
    snrs = torch.tensor(nb.TRAIN_SNRS_DB)

    win = int(cfg.talkingface_train_frames)

    def baseline_step(batch, step):
        """Both stages of the two-stage baseline in one step: (b) renders the TRUE mouth displacements (teacher
        forcing, masked L1), (a) regresses them from the speech (L1, weight 1: both losses are O(0.01-0.1))."""
        video, audio, mask = batch["video"], batch["audio"], batch["mask"]
        target = mouth_displacement(batch["landmarks"])
        if win < video.shape[1]:
            s0 = int(torch.randint(video.shape[1] - win + 1, (1,)))
            video, mask, target = video[:, s0:s0 + win], mask[:, s0:s0 + win], target[:, s0:s0 + win]
            audio = audio[:, s0 * 320:(s0 + win) * 320]
        mask = mask if run.mask else torch.ones_like(mask)
        z = torch.randn(*video.shape[:2], gen.cfg.noise_dim, device=video.device)
        terms = {"l1": masked_l1(gen.render(batch["condition"], target, z), video, mask),
                 "landmarks": (gen.landmarks(audio) - target).abs().mean()}
        terms["total"] = terms["l1"] + terms["landmarks"]
        opt["generator"].zero_grad(set_to_none=True)
        terms["total"].backward()
        opt["generator"].step()
        return {"phase": 1.0, **{k: v.item() for k, v in terms.items()}}

    def step_fn(batch, step):
        if run.model == "baseline":
            return baseline_step(batch, step)
        cond, video, audio, mask0 = batch["condition"], batch["video"], batch["audio"], batch["mask"]
        if win < video.shape[1]:  # a random window of the clips (the condition image stays the clip's first frame)
            s0 = int(torch.randint(video.shape[1] - win + 1, (1,)))
            video, mask0, audio = video[:, s0:s0 + win], mask0[:, s0:s0 + win], audio[:, s0 * 320:(s0 + win) * 320]
        B, T = video.shape[:2]
        mask = mask0 if run.mask else torch.ones_like(mask0)
        z = torch.randn(B, T, gen.cfg.noise_dim, device=video.device)
        fake = gen(cond, audio, z)
        terms = {"l1": masked_l1(fake, video, mask)}
        if run.noise_resilient:
            kinds = torch.randint(len(nb.TRAIN_TYPES), (B,))
            seg = nb.crops(noise, kinds, torch.randint(noise.shape[1], (B,)), audio.shape[1]).to(audio.device)
            silent = audio.pow(2).sum(1) == 0
            noisy = nb.mix_at_snr(audio + silent[:, None] * 1e-6, seg, snrs[torch.randint(len(snrs), (B,))])
            if "l1_noisy" in run.nr_terms:
                terms["l1_noisy"] = masked_l1(gen(cond, noisy, z), video, mask)
            if "nr" in run.nr_terms:
                terms["nr"] = noise_resilience_loss(gen.speech.conv_features, audio, noisy,
                                                    detach_clean=run.nr_detach)
        out: dict[str, float] = {"phase": 1.0 if step < phase1 else 2.0}
        if step >= phase1:
            t = torch.randint(T, (B,), device=video.device)
            pick = torch.arange(B, device=video.device)
            m = mask0[:, :, None]
            if fd is not None:
                real, fake_f = video[pick, t], fake[pick, t]
                d_loss = lsgan_d_loss(fd(real, cond), fd(fake_f.detach(), cond))
                opt["frame_d"].zero_grad(set_to_none=True)
                d_loss.backward()
                opt["frame_d"].step()
                out["d_frame"] = d_loss.item()
                with frozen(fd):  # its weight gradients from G's loss would be discarded: not computed
                    terms["frame"] = lsgan_g_loss(fd(fake_f, cond))
            if pd is not None:
                d_loss = lsgan_d_loss(pd(m * video, cond, audio), pd((m * fake).detach(), cond, audio))
                opt["pair_d"].zero_grad(set_to_none=True)
                d_loss.backward()
                opt["pair_d"].step()
                out["d_pair"] = d_loss.item()
                with frozen(pd):
                    terms["pair"] = lsgan_g_loss(pd(m * fake, cond, audio))
        terms["total"] = sum(weights[k] * v for k, v in terms.items())
        if grad_every and (step % grad_every == 0 or step == phase1):
            out.update(gradient_shares(terms, weights, list(gen.parameters())))
        opt["generator"].zero_grad(set_to_none=True)
        terms["total"].backward()
        opt["generator"].step()
        return {**out, **{k: v.item() for k, v in terms.items()}}

    monitor_every = int(cfg.talkingface_monitor_every)
    mon_data = clip_data(cfg, "test", "lrw", dict(run.world)) if monitor_every else None

    def eval_fn(step):
        rec = collapse_monitor(models, mon_data, device=cfg.device)
        for m in models.values():
            m.train()
        return {k: v for k, v in rec.items() if k != "verdict"}

    batches = step_batches(data, cfg.batch_size, seed + 7919 * rank(), cfg.device)
    with seeded(seed, "train"):
        log = train_loop(step_fn, models, opt, batches, steps, cfg=cfg, checkpoint_path=checkpoint_path,
                         checkpoint_every=cfg.checkpoint_every if checkpoint_path else 0,
                         eval_fn=eval_fn if monitor_every else None, eval_every=monitor_every, progress=progress,
                         desc=f"talkingface {'NR ' if run.noise_resilient else ''}seed {seed}",
                         ddp_kwargs={"find_unused_parameters": True})
    return Trained({k: m.eval() for k, m in models.items()}, log)


# ----------------------------------------------------------------------------------------------------------------
# Positive controls of the claims audit (the `controls:` section of reproduce/tables/talkingface.yaml)


MOUTH_BLUR_SIGMA = 1.5  # px: the planted mouth blur of the ablation family's positive control


def blur_mouth(video: torch.Tensor, box: torch.Tensor, sigma: float) -> torch.Tensor:
    """video [B, ..., T, 3, H, W] with the mouth box [B, T, 4] of every frame replaced by a Gaussian blur (sigma px,
    7x7 separable, replicate padding) of the frame itself; the rest untouched."""
    if not sigma > 0:
        raise ValueError(f"blur_mouth: sigma must be > 0, got {sigma}")
    H, W = video.shape[-2:]
    r = torch.arange(-3, 4, dtype=video.dtype, device=video.device)
    k = torch.exp(-r**2 / (2 * sigma**2))
    k = k / k.sum()
    flat = video.reshape(-1, 1, H, W)
    b = F.conv2d(F.pad(flat, (3, 3, 0, 0), mode="replicate"), k.view(1, 1, 1, 7))
    b = F.conv2d(F.pad(b, (0, 0, 3, 3), mode="replicate"), k.view(1, 1, 7, 1)).reshape(video.shape)
    m = box_mask((H, W), box, device=video.device).to(video.dtype)  # [B, T, H, W]
    m = m.reshape(m.shape[0], *([1] * (video.ndim - 5)), m.shape[1], 1, H, W)
    return m * b + (1 - m) * video


def positive_controls(cfg, n_seeds: int | None = None, handicap_db: float = 0.5,
                      fig5_table: Mapping[str, Mapping[str, list[float]]] | None = None
                      ) -> dict[str, dict[str, list[float]]]:
    """Rows of the `controls` table, {row: {metric: [one value per seed]}} (log as `controls_seeds`):

    - "ours" vs "handicapped" (family: the method beats a baseline, C1-C6): the trained Proposed of seed s against
      the trained Proposed of the next seed (cyclically) with its error amplified, y + k (g - y), k =
      10^(handicap_db / 20): a planted PSNR drop of exactly `handicap_db` (before clipping) on top of the
      seed-to-seed spread. Metric: LRW psnr_all.
    - "ours_mouth" vs "blurred_mouth" (family: ablations, C10-C12): the trained Proposed of seed s against the
      trained Proposed of the next seed whose mouth box is replaced by its own Gaussian blur (sigma
      MOUTH_BLUR_SIGMA px), a known loss of mouth detail of the kind "the mask improves the mouth" is about.
      Metric: LRW mouth_psnr_all; sign only (the dB size of a blur depends on the images).
    - "clean" vs "low_snr" (family: noise resilience, C7 and C9): the Proposed model's mouth PSNR on clean speech
      against the < 10 dB band (from `fig5_table`, the fig5 run_rows output, or the cached runs). Noise must be
      seen to hurt before a noise-resilience claim can be refuted: a model that ignores its audio passes noise
      through unharmed, and then "NR does not beat Proposed" says nothing.
    """
    from avfh_core.train.experiment import cached_run, run_rows
    from avfh_core.train.experiment import seeds as seed_list

    if not handicap_db > 0:
        raise ValueError(f"handicap_db must be > 0, got {handicap_db}")
    me = sys.modules[__name__]
    ss = seed_list(cfg, n_seeds)
    k = 10 ** (handicap_db / 20)
    data, idx = eval_set(PROPOSED, cfg)

    def handicapped(models, batch):
        y = batch["video"][:, None]
        return (y + k * (predict(models, batch) - y)).clamp(0, 1)

    def blurred_mouth(models, batch):
        return blur_mouth(predict(models, batch), batch["box"], MOUTH_BLUR_SIGMA)

    runs = [cached_run(me, PROPOSED, cfg, s) for s in ss]
    out: dict[str, dict[str, list[float]]] = {"ours": {"psnr_all": []}, "handicapped": {"psnr_all": []}}
    for i in range(len(ss)):
        out["ours"]["psnr_all"].append(runs[i][0]["lrw/psnr_all"])
        out["handicapped"]["psnr_all"].append(
            evaluate(handicapped, score, runs[(i + 1) % len(ss)][1].models, data, idx, cfg)["lrw/psnr_all"])
    out["ours_mouth"], out["blurred_mouth"] = {"mouth_psnr": []}, {"mouth_psnr": []}
    for i in range(len(ss)):
        out["ours_mouth"]["mouth_psnr"].append(runs[i][0]["lrw/mouth_psnr_all"])
        out["blurred_mouth"]["mouth_psnr"].append(
            evaluate(blurred_mouth, score, runs[(i + 1) % len(ss)][1].models, data, idx, cfg)["lrw/mouth_psnr_all"])
    t = fig5_table if fig5_table is not None else run_rows(me, {"proposed": PROPOSED}, cfg, n_seeds, progress=False)
    out["clean"] = {"mouth_psnr": list(t["proposed"]["lrw/mouth_psnr_clean"])}
    out["low_snr"] = {"mouth_psnr": list(t["proposed"]["lrw/mouth_psnr_lt10"])}
    return out


if __name__ == "__main__":  # python -m avfh_core.train.talkingface --preset gpu
    from avfh_core.train.experiment import main

    main(sys.modules[__name__], PROPOSED_NR)
