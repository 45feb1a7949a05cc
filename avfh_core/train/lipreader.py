"""Pretraining the lip reader in-project (VFH-GAN section 3.2.1 uses a lip reader pretrained on LRW; ref. [21]).

No LRW weights can be downloaded here, so the lip reader of `avfh_core.models.lipreader` (small configuration) is
trained for word classification on grayscale mouth crops of the synthetic world: training identities for
training, held-out identities for the reported accuracy (a lip reader must read lips, not recognise faces). The
result is cached by `avfh_core.train.checkpoint.load_or_train` under a hash of everything that determines it
(network sizes, world, crops, schedule, seed), so it is trained once and retrained only when that changes.

The recipe follows the official LRW training in spirit at CPU scale: AdamW with a cosine learning-rate schedule,
cross-entropy on word labels, random horizontal flips of the mouth (mirror-symmetric), full clips.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F

from avfh_core.data import synth
from avfh_core.models.lipreader import LipReader, LipReaderConfig
from avfh_core.nn.init import build, seeded
from avfh_core.train.checkpoint import load_or_train

CACHE_NAME = "lipreader"
CROP_VERSION = 1  # bump when the crop procedure changes, so cached lip readers are retrained


def world_vocabulary(world) -> list[str]:
    """The world's words in label order (label = index)."""
    vocab = getattr(world, "vocab", None) or getattr(world, "vocabulary", None)
    if vocab is None:
        from avfh_core.data.speech import VOCABULARY

        vocab = VOCABULARY[: int(world.config.vocab_size)]
    return list(vocab)


def mouth_crop_dataset(world, split: str, n_clips: int, size: int, crop_fn=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Grayscale mouth crops of `n_clips` clips of `split`: (uint8 [N, 1, T, size, size], word labels [N]).

    `crop_fn(video, landmarks, size=, gray=True) -> [T, 1, size, size]` defaults to `data.crops.mouth_crops`.
    """
    if crop_fn is None:
        from avfh_core.data.crops import mouth_crops as crop_fn

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


def train_lipreader(
    model: LipReader,
    crops: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float = 2e-3,
    weight_decay: float = 1e-2,
    seed: int = 0,
    autocast=None,
    progress: bool = False,
) -> dict[str, Any]:
    """Word classification: AdamW, cosine schedule, random horizontal flips. Returns {"loss_curve": [...], ...}."""
    import contextlib

    if steps < 1 or batch_size < 1:
        raise ValueError(f"train_lipreader: steps and batch_size must be >= 1, got {steps}, {batch_size}")
    if len(crops) != len(labels) or len(crops) == 0:
        raise ValueError(f"train_lipreader: {len(crops)} crops and {len(labels)} labels (need equal, non-zero)")
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    model.train()
    curve: list[float] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="lip reader", leave=False)
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(len(crops), (min(batch_size, len(crops)),), generator=gen)
        x = crops[idx]
        x = _as_float(x, device) if x.dtype == torch.uint8 else x.to(device)
        flip = torch.rand(len(idx), generator=gen) < 0.5
        x = torch.where(flip.to(device)[:, None, None, None, None], x.flip(-1), x)
        with autocast() if autocast else contextlib.nullcontext():
            logits = model(x)
        loss = F.cross_entropy(logits.float(), labels[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        curve.append(round(loss.item(), 5))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{curve[-1]:.3f}")
    if bar is not None:
        bar.close()
    model.eval()
    return {"loss_curve": curve, "train_seconds": round(time.perf_counter() - t0, 2)}


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
) -> tuple[LipReader, dict[str, Any]]:
    """The preset's small lip reader, pretrained on synthetic mouth crops (cached by configuration).

    Uses cfg.lipreader_steps, cfg.lipreader_width, cfg.mouth_size, cfg.vocab_size, cfg.clip_frames, cfg.hr_size,
    cfg.batch_size, cfg.n_train_clips / cfg.n_eval_clips and cfg.seed (initial weights and batches; the world is
    `data.synth.world(cfg)`, the same for every seed) (explicit arguments override them).
    Returns (model in eval mode on cfg.device, info) with info["train_accuracy"], info["test_accuracy"] (held-out
    identities), info["chance"] = 1 / vocabulary size, info["loss_curve"], info["cached"].
    """
    lip_cfg = LipReaderConfig.from_run_config(cfg)
    steps = int(steps or cfg.lipreader_steps)
    batch_size = int(batch_size or max(int(cfg.batch_size), 8))
    n_train = int(n_train_clips or cfg.n_train_clips)
    n_test = int(n_test_clips or max(int(cfg.n_eval_clips), 2 * int(cfg.vocab_size)))
    world = synth.world(cfg)  # the generator's world: the same people, the same held-out identities
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
        x_train, y_train = mouth_crop_dataset(world, "train", n_train, lip_cfg.input_size, crop_fn)
        x_test, y_test = mouth_crop_dataset(world, "test", n_test, lip_cfg.input_size, crop_fn)
        data_seconds = time.perf_counter() - t0
        model.to(cfg.device)
        info = train_lipreader(model, x_train, y_train, steps=steps, batch_size=batch_size, lr=lr,
                               seed=int(cfg.seed), autocast=cfg.autocast, progress=progress)
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
    model, info = load_or_train(CACHE_NAME, key, model, train_fn, retrain=retrain)
    return model.to(cfg.device).eval(), info
