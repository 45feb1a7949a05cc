"""NLMD's template default (Eskimez et al. sec. 4.3: every frame aligned to one template face)."""

import pytest
import torch

from avfh_core.metrics.landmarks import mean_shape, nlmd, normalise_shape


def _clip(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(68, 2, generator=g, dtype=torch.float64) * 40 + 10
    clip = base.expand(n, 68, 2).clone()
    clip[:, 57:60, 1] += torch.linspace(0, 6, n, dtype=torch.float64)[:, None]  # the mouth opens over the clip
    return clip


def test_default_template_is_one_mean_shape_for_all_frames():
    gt = _clip()
    pred = gt + 0.5 * torch.randn(gt.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    tmpl = mean_shape(gt)
    assert tmpl.shape == (68, 2)
    assert normalise_shape(tmpl).sub(tmpl).abs().max().item() < 1e-9
    assert nlmd(pred, gt).item() == pytest.approx(nlmd(pred, gt, template=tmpl).item(), abs=1e-12)
    # the former default (each ground-truth frame as its own template) scores differently
    per_frame = torch.stack([nlmd(pred[t:t + 1], gt[t:t + 1], template=gt[t]) for t in range(len(gt))]).mean()
    assert abs(per_frame.item() - nlmd(pred, gt).item()) > 1e-6


def test_mean_shape_is_similarity_invariant_and_checks_input():
    gt = _clip()
    moved = 3.0 * gt @ torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64).T + 5.0
    a, b = mean_shape(gt), mean_shape(moved)
    from avfh_core.data.landmarks import procrustes
    assert procrustes(b, a)[0].sub(a).abs().max().item() < 1e-9
    with pytest.raises(ValueError, match="at least 3 points"):
        mean_shape(torch.rand(4, 2, 2))


def test_nlmd_default_template_is_per_sequence_so_batches_do_not_mix():
    """A sequence's NLMD is the same alone and in a batch with other sequences (the default template is built from
    its own frames only), and the template does not move with the mouth within a sequence."""
    from avfh_core.metrics.landmarks import nlmd, sequence_template

    g = torch.Generator().manual_seed(0)
    gt = torch.rand(3, 5, 68, 2, generator=g, dtype=torch.float64) * 64
    pred = gt + torch.randn(3, 5, 68, 2, generator=g, dtype=torch.float64)
    batch = nlmd(pred, gt)
    for i in range(3):
        assert torch.allclose(nlmd(pred[i:i + 1], gt[i:i + 1]), batch[i:i + 1], atol=1e-12)
    assert sequence_template(gt).shape == (3, 68, 2)
    with pytest.raises(ValueError, match="sequence_template"):
        sequence_template(gt[0, 0])
