"""models/ear.py: shapes, bad input, the fusion's start at the LR code, build determinism, the paper's sizes."""

import pytest
import torch

from avfh_core.models.ear import (
    PAPER_PARAMS,
    AudioEncoder,
    Discriminator,
    EarConfig,
    Fusion,
    Generator,
    HREncoder,
    LREncoder,
    log_spectrogram,
    parameter_counts,
)
from avfh_core.nn.init import build

TINY = EarConfig(hr_size=16, latent_dim=8, mapping_layers=2, fmap_base=32, fmap_max=8, eh_filters=4, eh_max=8,
                 el_filters=4, el_max=8, el_scales=2, el_hidden=16, ea_filters=2, ea_max=4, ea_scales=3,
                 ea_hidden=16, audio_samples=4000, fusion_hidden=16)


def test_shapes_and_styles():
    c = TINY
    assert c.n_styles == 6 and EarConfig().n_styles == 8 and EarConfig.paper().n_styles == 12
    z = torch.randn(3, c.n_styles, c.latent_dim)
    img = Generator(c)(z, noise=True)
    assert img.shape == (3, 3, 16, 16)
    assert Generator(c)(torch.randn(3, c.latent_dim)).shape == (3, 3, 16, 16)  # one code broadcast to all layers
    assert Discriminator(c)(img).shape == (3,)
    assert HREncoder(c)(img).shape == z.shape
    assert LREncoder(c)(torch.randn(3, 3, 8, 8)).shape == z.shape
    assert AudioEncoder(c).encode_audio(torch.randn(3, 4000)).shape == z.shape
    assert Fusion(c)(z, z).shape == z.shape and Fusion(c, n_layers=1)(z, z).shape == z.shape


def test_spectrogram_is_the_released_layout():
    s = log_spectrogram(torch.randn(2, 64000))
    assert s.shape == (2, 1, 257, 257) == (2, 1, *EarConfig().spec_shape)  # 1 + (64000 - 512) / 248 = 257
    assert torch.allclose(s.amin(dim=(1, 2, 3)), torch.tensor(-1.0)) and torch.allclose(s.amax(dim=(1, 2, 3)), torch.tensor(1.0))
    loud = log_spectrogram(10 * torch.sin(torch.arange(4000.0) * 0.3)[None])
    assert loud.shape == (1, 1, 15, 257)


def test_bad_inputs_name_the_tensor():
    c = TINY
    with pytest.raises(ValueError, match="z must be"):
        Generator(c)(torch.randn(2, 5, c.latent_dim))
    with pytest.raises(ValueError, match="LR image"):
        LREncoder(c)(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="HR image"):
        HREncoder(c)(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="audio must be"):
        AudioEncoder(c).encode_audio(torch.randn(2, 100))
    with pytest.raises(ValueError, match="z_a must be"):
        Fusion(c)(torch.randn(2, c.n_styles, c.latent_dim), torch.randn(2, 3))
    with pytest.raises(ValueError, match="n_layers"):
        Fusion(c, n_layers=2)
    with pytest.raises(ValueError, match="hr_size"):
        EarConfig(hr_size=24)
    with pytest.raises(ValueError, match="latent_dim"):
        EarConfig(latent_dim=0)
    with pytest.raises(ValueError, match="fewer than one window"):
        log_spectrogram(torch.randn(1, 100))


def test_fusion_starts_exactly_at_the_lr_code_and_still_learns():
    c = TINY
    f = Fusion(c)
    z_l, z_a = torch.randn(4, c.n_styles, c.latent_dim), torch.randn(4, c.n_styles, c.latent_dim)
    assert f.starts_at_skip()
    assert torch.equal(f(z_l, z_a), z_l)  # row (h) starts at row (c)
    f(z_l, z_a).pow(2).sum().backward()
    assert f.net[-1].weight.grad.abs().sum() > 0  # the zero head still gets a gradient


def test_build_is_deterministic_per_seed():
    a = build(0, "e_l", lambda: LREncoder(TINY))
    b = build(0, "e_l", lambda: LREncoder(TINY))
    c = build(1, "e_l", lambda: LREncoder(TINY))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_paper_sizes_match_the_released_networks():
    counts = parameter_counts(EarConfig.paper())
    for name, published in PAPER_PARAMS.items():
        assert abs(counts[name] - published) / published < 0.005, (name, counts[name], published)


def test_table2_baselines_start_at_their_skips_and_invert_the_wavelets():
    from avfh_core.models.ear import LapSRNLite, WSRNetLite, haar_dwt, haar_idwt

    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(haar_idwt(haar_dwt(x, 2), 2), x, atol=1e-6)
    assert torch.allclose(haar_dwt(x, 1).pow(2).sum(), x.pow(2).sum(), rtol=1e-5)  # orthonormal
    lr = torch.rand(2, 3, 8, 8)
    sr, coef = WSRNetLite(4, width=4)(lr)
    assert sr.shape == (2, 3, 32, 32) and coef.shape == (2, 48, 8, 8)
    assert torch.allclose(sr, torch.nn.functional.interpolate(lr, scale_factor=4, mode="nearest"), atol=1e-6)
    outs = LapSRNLite(4, width=4)(lr)
    up = lr
    for o in outs:
        up = torch.nn.functional.interpolate(up, scale_factor=2, mode="bilinear", align_corners=False)
        assert torch.equal(o, up)
    with pytest.raises(ValueError, match="scale must be a power of two"):
        LapSRNLite(3)
    with pytest.raises(ValueError, match="lr must be"):
        WSRNetLite(4)(torch.rand(2, 1, 8, 8))
