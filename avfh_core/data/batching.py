"""Batches for every paper: stack dataset items, draw a step's batch as a pure function of (seed, step), spread
evaluation indices. Items are dicts of tensors (or numbers), as `WindowDataset` yields."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


def collate(items: Sequence[dict[str, Any]], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Stack dataset items (dicts with the same keys) into a batch dict of tensors on `device`."""
    if not items:
        raise ValueError("collate: no items to stack")
    out = {}
    for k in items[0]:
        v = [it[k] for it in items]
        out[k] = torch.stack(v) if isinstance(v[0], torch.Tensor) else torch.as_tensor(v)
    return {k: v.to(device) for k, v in out.items()}


def step_batches(data, batch_size: int, seed: int, device) -> Callable[[int], dict[str, torch.Tensor]]:
    """batch_fn(step): the batch of a step is a pure function of (seed, step), which makes resume exact. A dataset
    with a `stacked(indices, device)` method builds the batch itself (it must equal `collate` of its items)."""
    if len(data) < 1:
        raise ValueError("step_batches: the dataset is empty")
    if batch_size < 1:
        raise ValueError(f"step_batches: batch_size must be >= 1, got {batch_size}")

    fast = getattr(data, "stacked", None)  # a dataset that stacks a batch itself (`WindowDataset.stacked`), same values

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(len(data), (batch_size,), generator=g).tolist()
        return fast(idx, device) if fast is not None else collate([data[i] for i in idx], device)

    return batch_fn


def spread_indices(data, n: int) -> list[int]:
    """`n` evenly spread indices of `data` (all of them when n >= len): the same evaluation items for every model."""
    total = len(data)
    if n >= total:
        return list(range(total))
    return sorted({round(k * (total - 1) / max(1, n - 1)) for k in range(n)})


__all__ = ["collate", "spread_indices", "step_batches"]
