"""VividGAN's networks (avfh_core/models/vividgan.py) and its shared blocks (nn/stn.py, nn/hourglass.py,
nn/attention.py): shapes, bad input, the baseline start, determinism of build per seed."""

import pytest
import torch

from avfh_core.models.vividgan import (
    COMPONENTS,
    PAPER_PARAMETERS,
    TouchUpNet,
    VividGANConfig,
    VividGANGenerator,
    crop_components,
    crop_sizes,
    discriminator,
    parameter_counts,
    stitch_components,
)
from avfh_core.nn.attention import HeatmapAttention
from avfh_core.nn.hourglass import StackedHourglass
from avfh_core.nn.init import build
from avfh_core.nn.stn import SpatialTransformer

TINY = dict(hr_size=32, scale=4, width=8, touch_width=4, hg_depth=1, n_points=68)


def test_shapes_at_course_tiny_and_x8():
    for c in (VividGANConfig(**TINY), VividGANConfig(hr_size=64, scale=8, width=8, touch_width=4, hg_depth=2)):
        g = VividGANGenerator(c).eval()
        with torch.no_grad():
            out = g(torch.rand(2, 3, c.lr_size, c.lr_size))
        assert out["coarse"].shape == out["fine"].shape == out["prior"].shape == (2, 3, c.hr_size, c.hr_size)
        assert out["heatmaps"].shape == (2, 68, c.lr_size, c.lr_size)
        assert out["attention"].shape == (2, c.lr_size**2, c.lr_size**2)
        assert len(out["thetas"]) == 2 * c.n_up and len(out["components"]) == 4
        assert 0 <= float(out["fine"].min()) and float(out["fine"].max()) <= 1
    coarse_only = VividGANGenerator(VividGANConfig(**TINY, use_fine=False))
    assert set(coarse_only(torch.rand(1, 3, 8, 8))) == {"coarse", "thetas"}


def test_paper_config_and_parameter_counts():
    p = VividGANConfig.paper()
    assert (p.hr_size, p.lr_size, p.scale, p.n_up) == (128, 16, 8, 3)
    counts = parameter_counts(VividGANGenerator(VividGANConfig(**TINY)))
    assert counts["total"] == counts["coarse"] + counts["touchup"] + counts["fine"]
    print("ours (tiny):", counts, "paper Tab. IV:", PAPER_PARAMETERS)
    vtn = parameter_counts(VividGANGenerator(VividGANConfig(**TINY, prior="none")))
    assert vtn["touchup"] == 0 and vtn["fine"] == counts["fine"]


def test_bad_config_and_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="scale"):
        VividGANConfig(scale=3)
    with pytest.raises(ValueError, match="prior"):
        VividGANConfig(prior="oracle")
    with pytest.raises(ValueError, match="hg_depth"):
        VividGANConfig(hr_size=32, scale=4, hg_depth=4)
    g = VividGANGenerator(VividGANConfig(**TINY))
    with pytest.raises(ValueError, match=r"lr must be \[B, 3, 8, 8\]"):
        g(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="ground_truth"):
        VividGANGenerator(VividGANConfig(**TINY, prior="ground_truth"))(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="not both"):
        VividGANGenerator(VividGANConfig(), width=4)
    with pytest.raises(ValueError, match="divisible by 4"):
        TouchUpNet(4)(torch.rand(1, 3, 10, 12), 0)
    with pytest.raises(ValueError, match="centres"):
        crop_components(torch.rand(2, 3, 32, 32), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="fh must be"):
        HeatmapAttention(8, 68)(torch.rand(1, 8, 4, 4), torch.rand(1, 68, 2, 2))
    with pytest.raises(ValueError, match="divisible"):
        StackedHourglass(8, 68, 1, 3)(torch.rand(1, 8, 4, 4))


def test_baseline_start_fine_is_coarse_touchup_is_identity_stn_is_identity():
    g = VividGANGenerator(VividGANConfig(**TINY)).train()
    lr = torch.rand(2, 3, 8, 8)
    out = g(lr)
    assert torch.equal(out["fine"], out["coarse"])  # the fine network starts exactly at its skip (the coarse face)
    for crop, touched in zip(out["crops"], out["components"], strict=True):
        assert torch.equal(crop, touched)  # the touching-up U-Net starts at its crop
    x = torch.rand(2, 8, 8, 8)
    warped, theta = SpatialTransformer(8)(x)
    assert torch.allclose(warped, x, atol=1e-6) and torch.allclose(theta, torch.tensor([[1., 0, 0], [0, 1., 0]]))
    fc = torch.rand(2, 8, 4, 4)
    fe, attn = HeatmapAttention(8, 68)(fc, torch.rand(2, 68, 4, 4))
    assert torch.equal(fe, fc) and torch.allclose(attn.sum(-1), torch.ones(2, 16))


def test_attention_matches_eq1_by_hand():
    torch.manual_seed(0)
    blk = HeatmapAttention(4, 3, embed=2, sigma=1.0)
    torch.nn.init.normal_(blk.phi.weight)
    fc, fh = torch.rand(1, 4, 2, 3), torch.rand(1, 3, 2, 3)
    fe, _ = blk(fc, fh)
    q = blk.theta(blk.norm_c(fc))[0].flatten(1)  # [E, N]
    k = blk.psi(blk.norm_h(fh))[0].flatten(1)
    v = blk.zeta(blk.norm_h(fh))[0].flatten(1)
    n = q.shape[1]
    fch = torch.zeros(2, n)
    for i in range(n):
        e = torch.stack([torch.exp(q[:, i] @ k[:, j]) for j in range(n)])
        fch[:, i] = sum(e[j] * v[:, j] for j in range(n)) / e.sum()
    want = blk.phi(fch.reshape(1, 2, 2, 3)) + fc
    assert torch.allclose(fe, want, atol=1e-5)


def test_crop_and_stitch_with_max_out():
    H = 32
    sizes = crop_sizes(H)
    assert sizes["left_eye"] == (12, 12) and crop_sizes(128)["mouth"] == (32, 48) and crop_sizes(64)["nose"] == (16, 20)
    img = torch.rand(2, 3, H, H)
    template = torch.tensor([[10.0, 10.0], [22.0, 10.0], [16.0, 16.0], [16.0, 24.0]])
    crops = crop_components(img, template)
    assert [tuple(c.shape[-2:]) for c in crops] == [sizes[k] for k in COMPONENTS]
    fused = stitch_components(crops, template, H)
    # by hand: the max of the four zero-padded canvases; inside a window that no other window overlaps, the image
    assert torch.equal(fused[:, :, 4:5, 4:5], img[:, :, 4:5, 4:5])
    assert float(fused[:, :, 0, :].abs().sum()) == 0.0  # the template outside the windows stays empty
    per_face = crop_components(img, template.expand(2, 4, 2))
    assert all(torch.equal(a, b) for a, b in zip(crops, per_face, strict=True))


def test_build_is_deterministic_per_seed_and_name():
    c = VividGANConfig(**TINY)
    a = build(0, "generator", lambda: VividGANGenerator(c))
    b = build(0, "generator", lambda: VividGANGenerator(c))
    d = build(1, "generator", lambda: VividGANGenerator(c))
    sa, sb, sd = a.state_dict(), b.state_dict(), d.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sd[k]) for k in sa)
    assert discriminator(c)(torch.rand(1, 3, 32, 32)).shape == (1, 1, 4, 4)


def test_frontaliser_keeps_the_size_and_starts_at_identity():
    from avfh_core.models.vividgan import Frontaliser

    f = Frontaliser(width=4, blocks=1)
    for s in (16, 64):
        x = torch.rand(2, 3, s, s)
        assert torch.allclose(f(x), x)
    with pytest.raises(ValueError, match="Frontaliser expects faces"):
        f(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="Frontaliser: width"):
        Frontaliser(width=0)
