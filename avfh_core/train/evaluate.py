"""Evaluation for every paper: run a paper's `predict` over a dataset and average its `score`.

A paper gives two functions (see CONTRIBUTING.md, "The per-paper contract"):

    predict(models, batch) -> prediction            # e.g. models["generator"](batch["lr"], batch["mel"])
    score(pred, batch, cfg) -> {metric: values [B]} # one value per item; NaN = no value for that item

`evaluate` averages each metric over all items (NaN values left out), so a score is the same whatever the batch
size. `sr_scores` is the metric bundle of the face super-resolution papers.
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


__all__ = ["evaluate", "predict_all", "probe", "sr_scores"]
