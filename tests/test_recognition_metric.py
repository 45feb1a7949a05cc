"""Closed-gallery identification (avfh_core/metrics/recognition.py): exact matches rank first, random embeddings
score chance, bad input raises."""

import pytest
import torch

from avfh_core.metrics.recognition import identification_ranks, rank_k


def test_identical_embeddings_rank_first_and_random_ones_score_chance():
    g = torch.randn(20, 8)
    ids = list(range(100, 120))
    assert rank_k(identification_ranks(g.clone(), ids, g, ids), 1) == 1.0
    gen = torch.Generator().manual_seed(0)
    probes = torch.randn(4000, 8, generator=gen)
    labels = torch.randint(100, 120, (4000,), generator=gen).tolist()
    ranks = identification_ranks(probes, labels, g, ids)
    assert abs(rank_k(ranks, 1) - 1 / 20) < 0.02 and abs(rank_k(ranks, 5) - 5 / 20) < 0.04
    assert int(ranks.min()) >= 1 and int(ranks.max()) <= 20
    # a tie with a wrong identity does not rank the true one first
    assert int(identification_ranks(g[:1], [100], torch.cat([g[:1], g[:1]]), [100, 101])[0]) == 2


def test_bad_input_raises():
    g = torch.randn(3, 4)
    with pytest.raises(ValueError, match="share D"):
        identification_ranks(torch.randn(2, 5), [0, 1], g, [0, 1, 2])
    with pytest.raises(ValueError, match="not in the gallery"):
        identification_ranks(torch.randn(2, 4), [0, 7], g, [0, 1, 2])
    with pytest.raises(ValueError, match="distinct"):
        identification_ranks(torch.randn(1, 4), [0], g, [0, 0, 2])
    with pytest.raises(ValueError, match="k must be"):
        rank_k(torch.tensor([1]), 0)
