"""Closed-gallery face identification (VividGAN Tab. VI, and any paper that scores hallucinated faces by whether a
recogniser still knows who they are): every probe embedding is compared with one embedding per gallery identity by
cosine similarity; the rank of the true identity gives rank-k rates and the CMC curve.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def identification_ranks(probes: torch.Tensor, probe_ids, gallery: torch.Tensor, gallery_ids) -> torch.Tensor:
    """The 1-based rank [N] of each probe's true identity among the gallery, by cosine similarity (ties count
    against the probe: a tie with a wrong identity does not rank the true one first).

    probes [N, D], gallery [G, D] embeddings; probe_ids (N) and gallery_ids (G, distinct) identity labels; every
    probe identity must be in the gallery."""
    if probes.ndim != 2 or gallery.ndim != 2 or probes.shape[1] != gallery.shape[1]:
        raise ValueError(f"probes [N, D] and gallery [G, D] must share D, got {tuple(probes.shape)} and "
                         f"{tuple(gallery.shape)}")
    pid, gid = [int(i) for i in probe_ids], [int(i) for i in gallery_ids]
    if len(pid) != probes.shape[0] or len(gid) != gallery.shape[0]:
        raise ValueError(f"{len(pid)} probe ids for {probes.shape[0]} probes or {len(gid)} gallery ids for "
                         f"{gallery.shape[0]} gallery embeddings")
    if len(set(gid)) != len(gid):
        raise ValueError("gallery_ids must be distinct (one gallery image per identity)")
    where = {g: k for k, g in enumerate(gid)}
    missing = sorted({p for p in pid if p not in where})
    if missing:
        raise ValueError(f"probe identities {missing[:5]} are not in the gallery")
    sim = F.normalize(probes.float(), dim=1) @ F.normalize(gallery.float(), dim=1).T  # [N, G]
    true = sim[torch.arange(len(pid)), torch.tensor([where[p] for p in pid])]
    return (sim >= true[:, None]).sum(1)  # the true identity counts itself: rank 1 when nothing else is as close


def rank_k(ranks: torch.Tensor, k: int) -> float:
    """The share of probes whose true identity is among the first k (rank-k identification rate, in [0, 1])."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if ranks.numel() == 0:
        raise ValueError("rank_k: no probes")
    return float((ranks <= k).float().mean())


__all__ = ["identification_ranks", "rank_k"]
