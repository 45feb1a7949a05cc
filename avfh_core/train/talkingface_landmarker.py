"""Training and scoring of the in-project landmark estimator (`models.talkingface_landmarker`) that NLMD needs on
generated frames, and NLMD as Eskimez et al. (sec. 4.3) score it: the detector runs on both the generated and the
ground-truth frames, and both landmark sets are aligned to one template face (`metrics.landmarks.nlmd`).

- Trained on the synthetic world's rendered landmarks (`data.landmarks` convention) of the TRAIN people only, never
  on a generator's outputs; frames are degraded the way generator outputs are (Gaussian blur sigma 0-1.5 px, a
  x2 down-up resampling, pixel noise, brightness/contrast jitter), each at random, so the estimator is not thrown
  by blurry generated mouths.
- Loss: coordinate L1 (pixels) of the soft-argmax; Adam lr 2e-3; steps per preset in STEPS (ours: the smoke value
  only exercises the code); cached with `load_or_train` (key: preset sizes, steps, world).
- `landmark_report` gives its error on HELD-OUT people (test split): mean point error in pixels and divided by the
  inter-ocular distance (outer eye corners 36, 45), mouth points (48-67) apart, on clean and on degraded frames.
- The template face for NLMD is the Procrustes mean shape of the training split's landmarks (`scorer`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from avfh_core.data import synth
from avfh_core.data.landmarks import MOUTH
from avfh_core.metrics.landmarks import mean_shape, nlmd
from avfh_core.models.talkingface_landmarker import LandmarkEstimator
from avfh_core.nn.init import build
from avfh_core.train import talkingface as tf
from avfh_core.train.checkpoint import cached_model_path, load_or_train

STEPS = {"smoke": 20, "course": 1200, "gpu": 3000, "paper": 3000}
BATCH = 16


def _frames(data) -> tuple[torch.Tensor, torch.Tensor]:
    """All frames [N, 3, H, W] and their landmarks [N, 68, 2] of a `train.talkingface.ClipSet`."""
    return (torch.cat([it["video"] for it in data.items]), torch.cat([it["landmarks"] for it in data.items]))


def degrade(frames: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random generator-like degradations of [N, 3, H, W] frames (each frame its own draw; geometry unchanged)."""
    N, _, H, W = frames.shape
    out = frames.clone()
    sig = torch.rand(N, generator=g) * 1.5
    r = torch.arange(-3, 4, dtype=frames.dtype)
    k = torch.exp(-(r[None] ** 2) / (2 * sig.clamp(min=1e-3)[:, None] ** 2))
    k = (k / k.sum(1, keepdim=True))[:, None, None]  # [N, 1, 1, 7]
    blurred = F.conv2d(F.pad(out.reshape(1, N * 3, H, W), (3, 3, 0, 0), mode="replicate"),
                       k.repeat_interleave(3, 0), groups=N * 3)
    blurred = F.conv2d(F.pad(blurred, (0, 0, 3, 3), mode="replicate"),
                       k.repeat_interleave(3, 0).transpose(-1, -2), groups=N * 3)
    out = blurred.reshape(N, 3, H, W)
    down = torch.rand(N, generator=g) < 0.3
    if down.any():
        small = F.interpolate(out[down], scale_factor=0.5, mode="bilinear", align_corners=False, antialias=True)
        out[down] = F.interpolate(small, size=(H, W), mode="bilinear", align_corners=False)
    gain = 1 + 0.2 * (torch.rand(N, 1, 1, 1, generator=g) - 0.5)
    bias = 0.1 * (torch.rand(N, 1, 1, 1, generator=g) - 0.5)
    noise = torch.randn(out.shape, generator=g) * (0.03 * torch.rand(N, 1, 1, 1, generator=g))
    return (out * gain + bias + noise).clamp(0, 1)


def _world_key(cfg):
    return synth.world(cfg, **{**tf.WORLD, **tf.DATASETS["lrw"]}).key


def _config(cfg) -> dict:
    return dict(paper=tf.PAPER, part="landmarker", preset=cfg.preset, steps=STEPS.get(cfg.preset, STEPS["course"]),
                batch=BATCH, clips=int(cfg.talkingface_train_clips), world=str(_world_key(cfg)))


def landmarker_id(cfg) -> str:
    """The estimator's identity for cfg: the name of its cache file (its configuration and training code, hashed),
    what a cached evaluation scored with it (`train.talkingface.fig5_sweep`) puts in its key."""
    roots = (__name__, LandmarkEstimator.__module__)  # what load_or_train hashes: train_fn's module, the model's
    return cached_model_path("talkingface_landmarker", _config(cfg), roots).stem


def landmarker(cfg, *, progress: bool = False) -> tuple[LandmarkEstimator, dict]:
    """The estimator for cfg's world (trained once, then loaded from the cache without rendering the training clips)
    and its training info, which also holds the NLMD template ("template", `mean_shape` of the training split's
    landmarks) and the training split's mean landmarks ("mean_landmarks", pixels), both [68, 2] lists."""
    steps = STEPS.get(cfg.preset, STEPS["course"])
    config = _config(cfg)

    def train_fn(model):
        frames, lms = _frames(tf.clip_data(cfg, "train"))
        g = torch.Generator().manual_seed(0)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        losses = []
        with torch.enable_grad():  # first needed inside a no_grad evaluation (`train.talkingface.score`)
            for step in range(steps):
                idx = torch.randint(len(frames), (BATCH,), generator=g)
                loss = (model(degrade(frames[idx], g)) - lms[idx]).abs().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
                if progress and step % max(1, steps // 10) == 0:
                    print(f"landmarker step {step}: L1 {loss.item():.3f} px")
        return {"steps": steps, "final_l1_px": sum(losses[-10:]) / len(losses[-10:]),
                "template": mean_shape(lms).tolist(), "mean_landmarks": lms.mean(0).tolist()}

    model = build(0, "landmarker", LandmarkEstimator)
    model.train()
    model, info = load_or_train("talkingface_landmarker", config, model, train_fn)
    return model.eval(), info


_SCORERS: dict[tuple, tuple[LandmarkEstimator, torch.Tensor]] = {}


def scorer(cfg) -> tuple[LandmarkEstimator, torch.Tensor]:
    """(estimator, NLMD template [68, 2]) for cfg, cached in-process."""
    key = (cfg.preset, int(cfg.talkingface_train_clips), str(_world_key(cfg)))
    if key not in _SCORERS:
        model, info = landmarker(cfg)
        _SCORERS[key] = (model, torch.tensor(info["template"], dtype=torch.float64))
    return _SCORERS[key]


CPU_CHUNK, DEVICE_CHUNK = 32, 512
"""Frames per forward pass of `estimate`: on one CPU thread 32 frames of 64 px ran 2.6x faster than 256 (0.86 s vs
2.22 s for 672 frames, 2026-12-05; the same landmarks bit for bit here), the larger batches falling out of the
cache; on an accelerator bigger batches."""


@torch.no_grad()
def estimate(model: LandmarkEstimator, video: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Landmarks [..., 68, 2] of frames [..., 3, H, W], `chunk` frames per pass (default: CPU_CHUNK on the CPU,
    DEVICE_CHUNK elsewhere)."""
    if chunk is None:
        chunk = CPU_CHUNK if video.device.type == "cpu" else DEVICE_CHUNK
    if chunk < 1:
        raise ValueError(f"estimate: chunk must be >= 1, got {chunk}")
    flat = video.reshape(-1, *video.shape[-3:]).float()
    out = torch.cat([model(flat[i:i + chunk]) for i in range(0, len(flat), chunk)])
    return out.reshape(*video.shape[:-3], 68, 2)


@torch.no_grad()
def landmark_report(model: LandmarkEstimator, data, constant: torch.Tensor | None = None) -> dict[str, float]:
    """Errors of the estimator on `data` (a ClipSet of held-out people): mean point error in px and / inter-ocular,
    all 68 points and the 20 mouth points, on clean and on degraded frames. With `constant` [68, 2] (e.g. the
    training split's mean landmarks) also the error of predicting that one shape for every frame ("constant_*"):
    in a world of still, aligned heads that guess is already close, and the estimator must beat it to be useful."""
    frames, lms = _frames(data)
    iod = (lms[:, 45] - lms[:, 36]).norm(dim=-1)
    out = {}
    if constant is not None:
        err = (constant.to(lms.dtype) - lms).norm(dim=-1)
        out.update(constant_px=float(err.mean()), constant_iod=float((err / iod[:, None]).mean()),
                   constant_mouth_px=float(err[:, MOUTH].mean()))
    for kind, x in (("clean", frames), ("degraded", degrade(frames, torch.Generator().manual_seed(7)))):
        err = (estimate(model, x) - lms).norm(dim=-1)  # [N, 68]
        out[f"{kind}_px"] = float(err.mean())
        out[f"{kind}_iod"] = float((err / iod[:, None]).mean())
        out[f"{kind}_mouth_px"] = float(err[:, MOUTH].mean())
    return out


@torch.no_grad()
def nlmd_scores(model: LandmarkEstimator, pred: torch.Tensor, video: torch.Tensor, tmpl: torch.Tensor,
                landmarks: torch.Tensor | None = None, truth: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per clip [B], frames 1.. (frame 0 is the condition image): NLMD and mouth-only NLMD between the estimator's
    landmarks of the generated [B, T, 3, H, W] and of the true video; with the rendered `landmarks` [B, T, 68, 2]
    also the measurement floor, NLMD between the estimator on the true frames and the true landmarks. `truth`
    [B, T - 1, 68, 2]: the estimator's landmarks of video[:, 1:] when already known (`estimate`; a sweep scoring
    many generations of the same clips estimates them once)."""
    if pred.shape != video.shape:
        raise ValueError(f"nlmd_scores: pred {tuple(pred.shape)} and video {tuple(video.shape)} differ in shape")
    want = (*video.shape[:1], video.shape[1] - 1, 68, 2)
    if truth is not None and tuple(truth.shape) != want:
        raise ValueError(f"nlmd_scores: truth must be the landmarks of video[:, 1:], shape {want}, got "
                         f"{tuple(truth.shape)}")
    p, g = estimate(model, pred[:, 1:]), estimate(model, video[:, 1:]) if truth is None else truth
    tmpl = tmpl.to(p.device)
    out = {"nlmd": nlmd(p, g, template=tmpl), "nlmd_mouth": nlmd(p, g, template=tmpl, mouth_only=True)}
    if landmarks is not None:
        out["nlmd_floor"] = nlmd(g, landmarks[:, 1:].to(g.dtype), template=tmpl)
    return out


def scored(models: Mapping, batch: Mapping[str, torch.Tensor], model: LandmarkEstimator, tmpl: torch.Tensor
           ) -> dict[str, torch.Tensor]:
    """NLMD scores of `models` on clean speech for one batch of `train.talkingface` items."""
    return nlmd_scores(model, tf.generate(models, batch["condition"], batch["audio"]), batch["video"], tmpl,
                       batch.get("landmarks"))


__all__ = ["BATCH", "CPU_CHUNK", "DEVICE_CHUNK", "STEPS", "degrade", "estimate", "landmark_report", "landmarker", "landmarker_id", "nlmd_scores", "scored", "scorer"]
