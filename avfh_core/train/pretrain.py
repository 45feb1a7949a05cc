"""Pretraining the helper networks of the papers' losses and metrics on the synthetic world, through the shared
training loop (`train.loop.train_loop`: one progress style, DDP) and cached by configuration
(`train.checkpoint.load_or_train`): trained once, retrained only when what determines them changes.

- The lip reader (VFH-GAN sec. 3.2.1 uses one pretrained on LRW, its ref. [21]): no LRW weights can be downloaded
  here, so `models.lipreader.LipReader` (small configuration) learns word classification on grayscale mouth crops:
  training identities for training, held-out identities for the reported accuracy (a lip reader must read lips, not
  recognise faces). The recipe follows the official LRW training in spirit at CPU scale: AdamW with a cosine
  learning-rate schedule, cross-entropy on word labels, random horizontal flips and +-2 px shifts of the mouth.
  The crops come from `LipReader.preprocess` (the lip-reading loss calls the same method), and the small lip
  reader normalises each clip by its own mean crop (`LipReaderConfig.normalisation="clip"`), which removes the
  speaker's appearance. It learns on `lipreader_world(cfg)`: LRW-like near-frontal clips of other people than the
  generator's (as the paper's lip reader was pretrained on a corpus of its own).
- The feature network (`models.featurenet.FeatureNet`) for the perceptual loss and the attribute metrics: identity
  (training identities), gender and age group, Adam with a cosine schedule, flips and +-2 px shifts.

Every network starts from its own random stream and trains on its own (`nn.init.seeded`); the world is
`data.synth.world(cfg)`, the same people as the generator's for every seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.data import synth
from avfh_core.metrics.attributes import attribute_accuracy
from avfh_core.models.featurenet import (
    AGE_BINS,
    GENDERS,
    FeatureNet,
    VGG19Features,
    age_group,
    vgg19_weights_in_hub_cache,
)
from avfh_core.models.lipreader import LipReader, LipReaderConfig
from avfh_core.nn.init import build, seeded
from avfh_core.train.checkpoint import load_or_train
from avfh_core.train.loop import train_loop

LIPREADER_CACHE = "lipreader"
FEATURENET_CACHE = "featurenet"
CROP_VERSION = 2  # bump when the crop procedure changes, so cached lip readers are retrained
# The lip reader's world until world v5's "lrw" pose preset lands: near-frontal heads as in LRW (|yaw| <= 20 deg,
# |pitch| <= 8 deg), 100 training and 50 held-out people, and its own world seed, so its people are not the
# generator's (neither its training nor its held-out people). No frontal re-render: the lip reader does not use it,
# and it would double the rendering time and the disk cache.
LIPREADER_WORLD = dict(max_yaw=20.0, max_pitch=8.0, n_train_identities=100, n_test_identities=50, seed=1,
                       render_frontal=False)

# ----------------------------------------------------------------------------------------------------------------
# The lip reader


def world_vocabulary(world) -> list[str]:
    """The world's words in label order (label = index)."""
    vocab = getattr(world, "vocab", None) or getattr(world, "vocabulary", None)
    if vocab is None:
        from avfh_core.data.speech import VOCABULARY

        vocab = VOCABULARY[: int(world.config.vocab_size)]
    return list(vocab)



def lipreader_world(cfg=None, **overrides):
    """The world the lip reader is pretrained on: `data.synth.world(cfg, **LIPREADER_WORLD, **overrides)`."""
    return synth.world(cfg, **{**LIPREADER_WORLD, **overrides})


def mouth_crop_dataset(world, split: str, n_clips: int, reader: LipReader | int,
                       crop_fn=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mouth crops of `n_clips` clips of `split`: (uint8 [N, 1, T, s, s], word labels [N]).

    reader: the `LipReader` whose `preprocess` makes the crops (what the lip-reading loss feeds it too), or an
    int s for the default crop (`data.crops.mouth_crops`, scale 1) at s pixels, for looking at crops.
    `crop_fn(video, landmarks, size=, gray=True) -> [T, 1, s, s]` replaces both (tests use it).
    """
    if crop_fn is None:
        if isinstance(reader, LipReader):
            def crop_fn(video, landmarks, size, gray):
                return reader.preprocess(video, landmarks)[0].transpose(0, 1)  # [T, 1, s, s]
        else:
            from avfh_core.data.crops import mouth_crops as crop_fn
    size = int(reader.config.input_size) if isinstance(reader, LipReader) else int(reader)
    if n_clips < 1:
        raise ValueError(f"mouth_crop_dataset: n_clips must be >= 1, got {n_clips}")
    vocab = world_vocabulary(world)
    # The world's on-disk cache (when it has one) makes reruns and other notebooks' clips free.
    clips = world.dataset(split=split, n_clips=n_clips) if hasattr(world, "dataset") else None
    crops, labels = [], []
    for i in range(n_clips):
        s = clips[i] if clips is not None else world.clip(i, split=split)
        if s.landmarks is None:
            raise ValueError(f"mouth_crop_dataset: clip {i} of split {split!r} ({s.source}) has no landmarks to crop the mouth")
        if s.text not in vocab:
            raise ValueError(f"mouth_crop_dataset: clip {i} ({s.source}) says {s.text!r}, not in the vocabulary {vocab}")
        with torch.no_grad():
            m = crop_fn(s.video, s.landmarks, size=size, gray=True)  # [T, 1, s, s] in [0, 1]
        crops.append((m.clamp(0, 1) * 255).round().to(torch.uint8).transpose(0, 1))  # [1, T, s, s]
        labels.append(vocab.index(s.text))
    return torch.stack(crops), torch.tensor(labels)



def _as_float(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.to(device).float().div_(255.0)



@torch.no_grad()
def accuracy(model: LipReader, crops: torch.Tensor, labels: torch.Tensor, batch_size: int = 32, autocast=None) -> float:
    """Top-1 word accuracy of `model` (eval mode) on uint8 or float crops [N, 1, T, s, s]."""
    import contextlib

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(crops), batch_size):
        x = crops[i : i + batch_size]
        x = _as_float(x, device) if x.dtype == torch.uint8 else x.to(device)
        with autocast() if autocast else contextlib.nullcontext():
            pred = model(x).argmax(1)
        correct += int((pred.cpu() == labels[i : i + batch_size]).sum())
    model.train(was_training)
    return correct / max(len(crops), 1)



def train_lipreader(model: LipReader, crops: torch.Tensor, labels: torch.Tensor, *, steps: int, batch_size: int,
                    lr: float = 2e-3, weight_decay: float = 1e-2, seed: int = 0, cfg=None,
                    progress: bool = False) -> dict[str, Any]:
    """Word classification through `train_loop`: AdamW, cosine schedule, random horizontal flips and +-2 px
    shifts; the batch of a step is a pure function of (seed, step). Returns {"loss_curve": [...],
    "train_seconds": ...}."""
    if steps < 1 or batch_size < 1:
        raise ValueError(f"train_lipreader: steps and batch_size must be >= 1, got {steps}, {batch_size}")
    if len(crops) != len(labels) or len(crops) == 0:
        raise ValueError(f"train_lipreader: {len(crops)} crops and {len(labels)} labels (need equal, non-zero)")
    device = cfg.device if cfg is not None else next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(len(crops), (min(batch_size, len(crops)),), generator=g)
        x = crops[idx]
        x = _as_float(x, device) if x.dtype == torch.uint8 else x.to(device)
        flip = (torch.rand(len(idx), generator=g) < 0.5).to(device)
        x = torch.where(flip[:, None, None, None, None], x.flip(-1), x)
        dy, dx = torch.randint(-2, 3, (2,), generator=g).tolist()
        return {"x": torch.roll(x, (dy, dx), (-2, -1)), "y": labels[idx].to(device)}

    def step_fn(batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        loss = F.cross_entropy(model(batch["x"]).float(), batch["y"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss.item()}

    log = train_loop(step_fn, {"lipreader": model}, {"lipreader": opt}, batch_fn, steps, cfg=cfg,
                     progress=progress, desc="lip reader")
    return {"loss_curve": [round(v, 5) for v in log.history["loss"]], "train_seconds": round(log.seconds, 2)}


def pretrained_lipreader(
    cfg,
    *,
    steps: int | None = None,
    n_train_clips: int | None = None,
    n_test_clips: int | None = None,
    batch_size: int | None = None,
    lr: float = 2e-3,
    retrain: bool = False,
    progress: bool = False,
    crop_fn=None,
    world=None,
) -> tuple[LipReader, dict[str, Any]]:
    """The preset's small lip reader, pretrained on synthetic mouth crops (cached by configuration).

    Uses cfg.lipreader_steps, cfg.lipreader_width, cfg.mouth_size, cfg.vocab_size, cfg.clip_frames, cfg.hr_size,
    cfg.batch_size, cfg.lipreader_clips (training clips; held-out clips: a third of it, at least 2 per word) and
    cfg.seed (initial weights and batches) (explicit arguments override them). The world is `world`, default
    `lipreader_world(cfg)` (near-frontal, its own people; the same for every seed).
    Returns (model in eval mode on cfg.device, info) with info["train_accuracy"], info["test_accuracy"] (held-out
    identities), info["chance"] = 1 / vocabulary size, info["loss_curve"], info["cached"].
    """
    lip_cfg = LipReaderConfig.from_run_config(cfg)
    steps = int(steps or cfg.lipreader_steps)
    batch_size = int(batch_size or max(int(cfg.batch_size), 8))
    n_train = int(n_train_clips or getattr(cfg, "lipreader_clips", None) or cfg.n_train_clips)
    n_test = int(n_test_clips or max(n_train // 3, 2 * int(cfg.vocab_size)))
    world = world if world is not None else lipreader_world(cfg)
    key = {
        "lipreader": lip_cfg.as_dict(),
        "world": {"config": dict(vars(world.config)), "key": getattr(world, "key", None)},  # key: generator version
        "crop_version": CROP_VERSION,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "n_train_clips": n_train,
        "n_test_clips": n_test,
        "seed": int(cfg.seed),
    }

    def train_fn(model: LipReader) -> dict[str, Any]:
        with seeded(int(cfg.seed), "lipreader/train"):  # dropout draws from its own stream, not the caller's
            return _train(model)

    def _train(model: LipReader) -> dict[str, Any]:
        t0 = time.perf_counter()
        x_train, y_train = mouth_crop_dataset(world, "train", n_train, model, crop_fn)
        x_test, y_test = mouth_crop_dataset(world, "test", n_test, model, crop_fn)
        data_seconds = time.perf_counter() - t0
        model.to(cfg.device)
        info = train_lipreader(model, x_train, y_train, steps=steps, batch_size=batch_size, lr=lr,
                               seed=int(cfg.seed), cfg=cfg, progress=progress)
        info.update(
            train_accuracy=accuracy(model, x_train, y_train, autocast=cfg.autocast),
            test_accuracy=accuracy(model, x_test, y_test, autocast=cfg.autocast),
            chance=1.0 / lip_cfg.num_classes,
            n_train_clips=n_train,
            n_test_clips=n_test,
            data_seconds=round(data_seconds, 2),
            device=str(cfg.device),
            num_parameters=model.num_parameters(),
        )
        return info

    model = build(int(cfg.seed), "lipreader", lambda: LipReader(lip_cfg))
    model, info = load_or_train(LIPREADER_CACHE, key, model, train_fn, retrain=retrain)
    return model.to(cfg.device).eval(), info


# ----------------------------------------------------------------------------------------------------------------
# The feature network


def frames_and_labels(world, split: str, clip_indices: Sequence[int], frames_per_clip: int = 4,
                      identity_index: dict[int, int] | None = None) -> dict[str, torch.Tensor]:
    """Frames (evenly spaced within each clip) with labels: {"x": [N,3,H,W], "identity", "gender", "age"}.

    identity labels index the world's training identities (-1 for a person outside `identity_index`).
    """
    if identity_index is None:
        identity_index = {idn.id: k for k, idn in enumerate(world.identities("train"))}
    xs, ids, gs, ages = [], [], [], []
    for i in clip_indices:
        s = world.clip(int(i), split=split)
        t = s.video.shape[0]
        sel = torch.linspace(0, t - 1, min(frames_per_clip, t)).round().long()
        xs.append(s.video[sel].float())
        n = len(sel)
        ids += [identity_index.get(int(s.speaker), -1)] * n
        gender = s.attributes.get("gender")
        if gender not in GENDERS:
            raise ValueError(f"{s.source}: attribute gender must be one of {GENDERS}, got {gender!r}")
        gs += [GENDERS.index(gender)] * n
        ages += [age_group(s.attributes["age"])] * n
    return {"x": torch.cat(xs), "identity": torch.tensor(ids), "gender": torch.tensor(gs), "age": torch.tensor(ages)}



def train_feature_net(net: FeatureNet, data: dict[str, torch.Tensor], *, steps: int, batch_size: int = 32,
                      lr: float = 2e-3, seed: int = 0, cfg=None, augment: bool = True,
                      progress: bool = False) -> list[float]:
    """Adam on the sum of the three cross-entropies (identity ignored where unknown) through `train_loop`; the
    batch of a step is a pure function of (seed, step). augment: random horizontal flips and +-2 px shifts (cheap,
    keeps attributes). Returns the loss curve."""
    if steps < 1 or batch_size < 1:
        raise ValueError(f"train_feature_net: steps and batch_size must be >= 1, got {steps}, {batch_size}")
    n = data["x"].shape[0]
    if n == 0:
        raise ValueError("train_feature_net: no training images")
    device = cfg.device if cfg is not None else next(net.parameters()).device
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(0, n, (min(batch_size, n),), generator=g)
        x = data["x"][idx]
        if augment:
            flip = torch.rand(x.shape[0], generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            dy, dx = torch.randint(-2, 3, (2,), generator=g).tolist()
            x = torch.roll(x, (dy, dx), (-2, -1))
        return {"x": x.to(device), **{k: data[k][idx].to(device) for k in ("identity", "gender", "age")}}

    def step_fn(batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        out = net(batch["x"])
        loss = (F.cross_entropy(out["identity"].float(), batch["identity"], ignore_index=-1)
                + F.cross_entropy(out["gender"].float(), batch["gender"])
                + F.cross_entropy(out["age"].float(), batch["age"]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss.item()}

    log = train_loop(step_fn, {"featurenet": net}, {"featurenet": opt}, batch_fn, steps, cfg=cfg,
                     progress=progress, desc="feature net")
    return log.history["loss"]


def load_feature_net(cfg_or_image_size, device: torch.device | str | None = None, *, steps: int | None = None,
                     width: int | None = None, n_clips: int | None = None, prefer_vgg: bool = True,
                     retrain: bool = False, world=None, seed: int = 0) -> nn.Module:
    """The feature network for perceptual losses: VGG19 (ImageNet) if torchvision and its weights are already in
    the local torch hub cache (and prefer_vgg), else the in-project FeatureNet, trained once and cached.

    cfg_or_image_size: a RunConfig (uses hr_size, device, featnet_steps, featnet_width, n_train_clips) or an int
    image size. Returns the network in eval mode with `.source` ("vgg19-imagenet" / "in-project") and, for the
    in-project net, `.info` (training accuracies, whether it came from the cache).
    """
    cfg = None if isinstance(cfg_or_image_size, int) else cfg_or_image_size
    image_size = int(cfg_or_image_size if cfg is None else cfg.hr_size)
    if device is None:
        device = cfg.device if cfg is not None else "cpu"
    if prefer_vgg and (path := vgg19_weights_in_hub_cache()) is not None:
        try:
            net = VGG19Features(path).to(device).eval()
            net.info = {"weights": str(path)}
            return net
        except ImportError:  # weights present but torchvision is not installed
            pass
    values = getattr(cfg, "values", {}) if cfg is not None else {}
    steps = int(steps if steps is not None else values.get("featnet_steps", 300))
    width = int(width if width is not None else values.get("featnet_width", 16))
    n_clips = int(n_clips if n_clips is not None else values.get("n_train_clips", 96))
    if world is None:
        world = synth.world(cfg, image_size=image_size)  # the generator's world, whatever the seed
    n_ids = len(world.identities("train"))
    config = {"net": "FeatureNet", "width": width, "n_identities": n_ids, "image_size": image_size,
              "steps": steps, "n_clips": n_clips, "seed": seed,
              # the world's key hashes its configuration *and* its generator version: a new renderer retrains
              "world": getattr(world, "key", None) or (world.config.as_dict() if hasattr(getattr(world, "config", None),
                                                                                        "as_dict") else repr(world))}
    net = build(seed, "featurenet", lambda: FeatureNet(n_identities=n_ids, width=width))

    def train_fn(model: FeatureNet) -> dict[str, Any]:
        with seeded(seed, "featurenet/train"):
            return _train(model)

    def _train(model: FeatureNet) -> dict[str, Any]:
        train = frames_and_labels(world, "train", range(n_clips))
        # unseen clips of the training identities (identity) and held-out people (gender, age)
        val = frames_and_labels(world, "train", range(n_clips, n_clips + max(8, n_clips // 4)))
        test = frames_and_labels(world, "test", range(max(8, n_clips // 4)))
        model.to(device)
        curve = train_feature_net(model, train, steps=steps, seed=seed, cfg=cfg)
        model.cpu()
        acc_val, acc_test = attribute_accuracy(model, val["x"], val), attribute_accuracy(model, test["x"], test)
        return {"identity_accuracy_unseen_clips": acc_val["identity"], "gender_accuracy_heldout": acc_test["gender"],
                "age_accuracy_heldout": acc_test["age"], "train_accuracy": attribute_accuracy(model, train["x"], train),
                "final_loss": sum(curve[-10:]) / max(1, len(curve[-10:])), "steps": steps,
                "chance": {"identity": 1 / n_ids, "gender": 0.5, "age": 1 / (len(AGE_BINS) + 1)}}

    net, info = load_or_train(FEATURENET_CACHE, config, net, train_fn, retrain=retrain)
    net = net.to(device).eval()
    net.info = info
    return net


__all__ = ["CROP_VERSION", "LIPREADER_WORLD", "accuracy", "lipreader_world", "frames_and_labels", "load_feature_net", "mouth_crop_dataset",
           "pretrained_lipreader", "train_feature_net", "train_lipreader", "world_vocabulary"]
