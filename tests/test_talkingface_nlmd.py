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


def test_mouth_centroid_lmd_is_atvgnets_sum_and_sees_only_translation_through():
    """The metric NLMD replaces: mouth points minus their centroid, summed distances, mean over frames. A correct
    mouth on a moved head scores 0 for a shift but 2 sin(theta/2) S for a rotation and |s - 1| S for a scaling."""
    import math

    from avfh_core.metrics.landmarks import mouth_centroid_lmd, move_head

    gt = _clip()
    pred = gt.clone()
    pred[:, 50, 0] += 3.0  # one mouth point 3 px off: after centring, 3 * 19/20 for it and 3/20 for each other one
    assert mouth_centroid_lmd(gt, gt).item() == pytest.approx(0.0, abs=1e-12)
    assert mouth_centroid_lmd(pred, gt).item() == pytest.approx(3 * 19 / 20 + 19 * 3 / 20, abs=1e-9)
    assert mouth_centroid_lmd(move_head(gt, shift=(7.0, -2.0)), gt).item() == pytest.approx(0.0, abs=1e-9)
    m = gt[:, 48:] - gt[:, 48:].mean(dim=1, keepdim=True)
    size = m.norm(dim=-1).sum(dim=-1).mean().item()
    assert mouth_centroid_lmd(move_head(gt, angle_deg=10), gt).item() == pytest.approx(
        2 * math.sin(math.radians(5)) * size, rel=1e-9)
    assert mouth_centroid_lmd(move_head(gt, scale=1.2), gt).item() == pytest.approx(0.2 * size, rel=1e-9)
    assert mouth_centroid_lmd(gt.expand(3, 6, 68, 2), gt.expand(3, 6, 68, 2)).shape == (3,)
    with pytest.raises(ValueError, match="same shape"):
        mouth_centroid_lmd(gt, gt[:5])
    with pytest.raises(ValueError):
        mouth_centroid_lmd(gt[:, :67], gt[:, :67])


def test_move_head_and_frozen_mouth():
    from avfh_core.metrics.landmarks import frozen_mouth, move_head

    gt = _clip()
    moved = move_head(gt, angle_deg=90, scale=2.0, shift=(1.0, 0.0))
    c = gt.mean(dim=1, keepdim=True)
    assert torch.allclose(moved.mean(dim=1, keepdim=True), c + torch.tensor([1.0, 0.0], dtype=torch.float64))
    x, y = (gt - c)[..., 0], (gt - c)[..., 1]  # 90 degrees: (x, y) -> (-y, x), then doubled
    assert torch.allclose(moved - c - torch.tensor([1.0, 0.0], dtype=torch.float64), 2 * torch.stack([-y, x], -1))
    with pytest.raises(ValueError, match="scale"):
        move_head(gt, scale=0.0)
    fz = frozen_mouth(gt)
    assert torch.equal(fz[:, :48], gt[:, :48]) and torch.allclose(fz[0], gt[0])
    centred = fz[:, 48:] - fz[:, 48:].mean(dim=1, keepdim=True)
    assert torch.allclose(centred, centred[:1].expand_as(centred))  # every frame has frame 0's mouth shape ...
    assert torch.allclose(fz[:, 48:].mean(dim=1), gt[:, 48:].mean(dim=1))  # ... where that frame's mouth is
    assert not torch.allclose(fz[-1], gt[-1])  # (the clip's mouth opens, so the last frame differs)


def test_head_motion_contrast_nlmd_ignores_the_head_lmd_does_not():
    from avfh_core.metrics.landmarks import head_motion_contrast

    gt = _clip()[None]
    out = head_motion_contrast(gt, angles_deg=(0, 5), scales=(0.9, 1.0))
    for row in [out["shifted"], *out["rotated"].values(), *out["scaled"].values()]:
        assert row["nlmd_mouth"] == pytest.approx(0.0, abs=1e-9)  # NLMD: a correct mouth scores 0 however the head moves
    assert out["shifted"]["lmd"] == pytest.approx(0.0, abs=1e-9) and out["rotated"][0.0]["lmd"] == pytest.approx(0.0)
    assert out["rotated"][5.0]["lmd"] > 0 and out["scaled"][0.9]["lmd"] > 0
    frozen = out["frozen"]
    assert frozen["nlmd_mouth"] > 0 and frozen["lmd"] > 0
    be = out["break_even"]
    at = head_motion_contrast(gt, angles_deg=(be["angle_deg"],), scales=(1 + be["scale_change"],))
    assert at["rotated"][be["angle_deg"]]["lmd"] == pytest.approx(frozen["lmd"], rel=1e-9)
    assert at["scaled"][1 + be["scale_change"]]["lmd"] == pytest.approx(frozen["lmd"], rel=1e-9)
    with pytest.raises(ValueError, match=r"\[N, T >= 2, 68, 2\]"):
        head_motion_contrast(gt[0])
