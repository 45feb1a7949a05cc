"""Evaluation for every paper: run a paper's `predict` over a dataset and average its `score`.

A paper gives two functions (see CONTRIBUTING.md, "The per-paper contract"):

    predict(models, batch) -> prediction            # e.g. models["generator"](batch["lr"], batch["mel"])
    score(pred, batch, cfg) -> {metric: values [B]} # one value per item; NaN = no value for that item

`evaluate` averages each metric over all items (NaN values left out), so a score is the same whatever the batch
size. `audio_use` scores a trained audio model with its audio intact, shuffled and silenced. `sr_scores` is the
metric bundle of the face super-resolution papers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from avfh_core.data.batching import collate, spread_indices
from avfh_core.metrics.erqa import erqa
from avfh_core.metrics.image import psnr, region_scores, ssim

Predict = Callable[[Mapping[str, nn.Module], Mapping[str, torch.Tensor]], Any]
Score = Callable[[Any, Mapping[str, torch.Tensor], Any], Mapping[str, torch.Tensor]]


def _eval_mode(models: Mapping[str, nn.Module]) -> None:
    for m in models.values():
        m.eval()


@torch.no_grad()
def predict_all(predict: Predict, models: Mapping[str, nn.Module], data, indices: Sequence[int], device,
                batch_size: int = 32) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """`predict` over the items `indices` of `data`: (predictions, the collated items), both on the CPU."""
    if not indices:
        raise ValueError("predict_all: no indices to predict")
    _eval_mode(models)
    preds, batches = [], []
    for i in range(0, len(indices), batch_size):
        b = collate([data[k] for k in indices[i:i + batch_size]], device)
        preds.append(predict(models, b).float().cpu())
        batches.append({k: v.cpu() for k, v in b.items()})
    return torch.cat(preds), {k: torch.cat([b[k] for b in batches]) for k in batches[0]}


@torch.no_grad()
def evaluate(predict: Predict, score: Score, models: Mapping[str, nn.Module], data, indices: Sequence[int], cfg,
             batch_size: int = 32) -> dict[str, float]:
    """{metric: mean over the items `indices`} of `score(predict(models, batch), batch, cfg)` (NaN values left
    out; NaN when no item has a value)."""
    if not indices:
        raise ValueError("evaluate: no indices to score")
    _eval_mode(models)
    values: dict[str, list[torch.Tensor]] = {}
    for i in range(0, len(indices), batch_size):
        b = collate([data[k] for k in indices[i:i + batch_size]], cfg.device)
        for k, v in score(predict(models, b), b, cfg).items():
            v = torch.as_tensor(v, dtype=torch.float64).reshape(-1).cpu()
            values.setdefault(k, []).append(v)
    out = {}
    for k, chunks in values.items():
        v = torch.cat(chunks)
        v = v[~torch.isnan(v)]
        out[k] = float(v.mean()) if len(v) else math.nan
    return out


def probe(predict: Predict, score: Score, data, cfg, n: int = 32, metrics: Sequence[str] | None = None,
          ) -> Callable[[Mapping[str, nn.Module], int], dict[str, float]]:
    """An `eval_fn(models, step)` for a paper's `train`: the mean scores of the networks on `n` fixed items of
    `data` (all metrics, or only `metrics`)."""
    idx = spread_indices(data, n)

    def eval_fn(models: Mapping[str, nn.Module], step: int) -> dict[str, float]:
        s = evaluate(predict, score, models, data, idx, cfg)
        return {k: v for k, v in s.items() if metrics is None or k in metrics}

    return eval_fn


class _AudioSwapped(torch.utils.data.Dataset):
    """Items `indices` of `data` with their `key` entry replaced by `audio[k]` (the k-th evaluated item)."""

    def __init__(self, data, indices: Sequence[int], key: str, audio: Sequence[torch.Tensor]):
        self.data, self.indices, self.key, self.audio = data, list(indices), key, list(audio)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict:
        return {**self.data[self.indices[k]], self.key: self.audio[k]}


@torch.no_grad()
def audio_use(predict: Predict, score: Score, models: Mapping[str, nn.Module], data, indices: Sequence[int], cfg,
              *, audio_key: str = "mel", silence: float | None = None, seed: int = 0, batch_size: int = 32,
              ) -> dict[str, dict[str, float]]:
    """Does a trained model use its audio at evaluation time? {condition: {metric: mean}} for the same items scored
    with their audio "intact", "shuffled" (each item gets the audio of another evaluated item: a seeded derangement,
    so no item keeps its own) and "silenced" (the audio replaced by the constant `silence`; default: the smallest
    value in the evaluated items' audio, i.e. the floor of a log-mel spectrogram). A model that uses the audio scores
    lower when it is shuffled or silenced; one that ignores it scores the same.

    Generic: `predict`, `score` as for `evaluate`; `data[k][audio_key]` is the audio the model reads."""
    indices = list(indices)
    if len(indices) < 2:
        raise ValueError(f"audio_use: needs at least 2 items to shuffle the audio, got {len(indices)}")
    try:
        audio = [torch.as_tensor(data[k][audio_key]) for k in indices]
    except KeyError:
        raise KeyError(f"audio_use: the items of {type(data).__name__} have no {audio_key!r} entry "
                       f"(keys: {sorted(data[indices[0]])})") from None
    shapes = {tuple(a.shape) for a in audio}
    if len(shapes) != 1:
        raise ValueError(f"audio_use: the items' {audio_key!r} tensors differ in shape {sorted(shapes)}; "
                         "shuffling needs one shape")
    fill = float(min(float(a.min()) for a in audio)) if silence is None else float(silence)
    perm = torch.randperm(len(indices), generator=torch.Generator().manual_seed(seed)).tolist()
    donor = {perm[i]: perm[(i + 1) % len(perm)] for i in range(len(perm))}  # a cycle: no item keeps its audio
    conditions = {"intact": audio, "shuffled": [audio[donor[k]] for k in range(len(indices))],
                  "silenced": [torch.full_like(a, fill) for a in audio]}
    every = list(range(len(indices)))
    return {name: evaluate(predict, score, models, _AudioSwapped(data, indices, audio_key, aud), every, cfg,
                           batch_size=batch_size) for name, aud in conditions.items()}


def sr_scores(sr: torch.Tensor, hr: torch.Tensor, scale: int, mouth_box: torch.Tensor | None = None,
              ) -> dict[str, torch.Tensor]:
    """Per-image super-resolution scores [B]: PSNR and SSIM on Y (border of `scale` px cropped), ERQA (edge F1), and,
    with `mouth_box` [B, 4] (x0, y0, x1, y1), PSNR/SSIM inside each box (NaN where the box is too small or the
    value is not finite)."""
    sr, hr = sr.float().clamp(0, 1).cpu(), hr.float().cpu()
    out = {"psnr": psnr(sr, hr, crop=scale), "ssim": ssim(sr, hr, crop=scale), "erqa": erqa(sr, hr).double()}
    if mouth_box is not None:
        mp, ms = [], []
        for k in range(sr.shape[0]):
            r = region_scores(sr[k], hr[k], mouth_box[k].float().cpu())
            mp.append(float(r["psnr"]))
            ms.append(float(r["ssim"]))
        out["mouth_psnr"] = torch.tensor([v if math.isfinite(v) else math.nan for v in mp], dtype=torch.float64)
        out["mouth_ssim"] = torch.tensor([v if math.isfinite(v) else math.nan for v in ms], dtype=torch.float64)
    return out


__all__ = ["audio_use", "evaluate", "predict_all", "probe", "sr_scores"]
