"""Issue 12 parts 1-3: every SR generator starts at its bicubic skip (zero head + ICNR), the gradient share of each
loss term is measured and logged, the balanced weight setting, the GAN optimiser settings and D's accuracy."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import avfh_core.train.vfhgan as V
from avfh_core.config import setup
from avfh_core.losses.perceptual import PerceptualLoss
from avfh_core.models.baselines import SRResNet, bicubic_upsample
from avfh_core.models.vfhgan import VFHGANConfig, VFHGenerator, icnr_, start_at_skip
from avfh_core.nn import PixelShuffleUpsampler
from avfh_core.train.loop import gradient_shares


@pytest.fixture(scope="module")
def smoke():
    return setup("smoke", seed=0, device="cpu")


def test_every_table_row_starts_exactly_at_bicubic(smoke):
    seen = 0
    for name, table in V.TABLES.items():
        for row, run in table(smoke).items():
            r = V.init_vs_bicubic(run, smoke, seed=1)
            assert set(r) == {"psnr_init_db", "psnr_bicubic_db", "gap_db"}
            assert math.isfinite(r["psnr_bicubic_db"])
            assert abs(r["gap_db"]) < 1e-6, (name, row, r)
            seen += 1
    assert seen >= 15


@pytest.mark.parametrize("make", [
    lambda: VFHGenerator(VFHGANConfig(width=8, n_stages=1, window=1)),
    lambda: VFHGenerator(VFHGANConfig(width=8, n_stages=1, window=1, use_audio=False, use_neighbours=False,
                                      use_attention=False)),
    lambda: SRResNet(width=8, n_blocks=1),
])
def test_untrained_output_is_the_bicubic_skip_and_the_head_learns(make):
    torch.manual_seed(3)
    net = make()
    lr, mel = torch.rand(2, 3, 3, 8, 8), torch.randn(2, 1, 80, 48)
    with torch.no_grad():
        out = net.eval()(lr, mel)
    assert torch.equal(out, bicubic_upsample(lr, 4))
    net.train()
    net(lr, mel).pow(2).mean().backward()
    assert net.tail.weight.grad.abs().sum() > 0  # the zero head is not stuck


def test_icnr_makes_the_shuffled_output_nearest_neighbour_constant():
    torch.manual_seed(0)
    conv = icnr_(nn.Conv2d(4, 16, 3, padding=1))
    y = F.pixel_shuffle(conv(torch.rand(1, 4, 6, 6)), 2)
    # every 2x2 sub-pixel block holds one value: no checkerboard at init
    assert torch.allclose(y, F.interpolate(y[:, :, ::2, ::2], scale_factor=2, mode="nearest"), atol=1e-6)
    with pytest.raises(ValueError, match="multiple of upscale"):
        icnr_(nn.Conv2d(4, 6, 3))
    up, tail = PixelShuffleUpsampler(4, 4), nn.Conv2d(4, 3, 3)
    start_at_skip(up, tail)
    assert tail.weight.abs().sum() == 0 and tail.bias.abs().sum() == 0


def test_gradient_shares_norms_and_errors():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    terms = {"a": (x ** 2).sum(), "b": x.sum(), "c": x.sum(), "total": x.sum()}
    out = gradient_shares(terms, {"a": 1.0, "b": 2.0, "c": 0.0}, [x])
    assert out["gnorm/a"] == pytest.approx(math.hypot(2, 4))  # d(x^2)/dx = 2x
    assert out["gnorm/b"] == pytest.approx(2 * math.sqrt(2))
    assert "gnorm/c" not in out and "gnorm/total" not in out
    assert out["gshare/a"] + out["gshare/b"] == pytest.approx(1.0)
    terms["total"].backward()  # the graph was retained
    with pytest.raises(ValueError, match="no tensor that requires grad"):
        gradient_shares(terms, {"a": 1.0}, [torch.zeros(2)])
    with pytest.raises(ValueError, match="does not depend"):
        gradient_shares({"a": torch.tensor(1.0)}, {"a": 1.0}, [x])


def test_training_logs_shares_and_discriminator_accuracy(smoke):
    run = V.VFHGANRun.make(weights=dict(lip=0.0))
    cfg = setup("smoke", seed=0, device="cpu", steps=5, vfhgan_grad_every=4)
    log = V.train(run, cfg, seed=0).log
    h = log.history
    for k in ("pixel", "perceptual", "frequency", "adversarial"):
        assert math.isfinite(h[f"gshare/{k}"][0]) and math.isfinite(h[f"gshare/{k}"][4])
        assert all(math.isnan(v) for v in h[f"gshare/{k}"][1:4])
    assert "gshare/lip" not in h
    assert sum(h[f"gshare/{k}"][0] for k in ("pixel", "perceptual", "frequency", "adversarial")) == pytest.approx(1)
    assert all(0 <= a <= 1 for a in h["d_acc"]) and len(h["d_acc_real"]) == 5


def test_discriminator_accuracy_and_optimisers(smoke):
    acc = V.discriminator_accuracy(torch.tensor([0.9, 0.2]), torch.tensor([0.1, 0.1, 0.7, 0.0]))
    assert acc == {"d_acc_real": 0.5, "d_acc_fake": 0.75, "d_acc": 0.625}
    opt = V.gan_optimizers(nn.Linear(2, 2), nn.Linear(2, 2), smoke)
    assert opt["generator"].param_groups[0]["lr"] == smoke.lr
    assert opt["discriminator"].param_groups[0]["lr"] == smoke.vfhgan_d_lr
    assert opt["discriminator"].param_groups[0]["betas"] == (0.5, 0.999)


def test_balanced_weights_hit_their_target_shares(smoke):
    w = V.balanced_weights(smoke)
    assert w["pixel"] == 1.0 and set(w) == set(V.RELEASED_WEIGHTS)
    assert V.balanced_weights(smoke) == w  # cached, deterministic
    g = V.measure_gradient_shares(smoke, w, perceptual_form="normalized", seed=0)
    for k, share in V.BALANCED_SHARES.items():
        assert g[f"gshare/{k}"] == pytest.approx(share, rel=0.1), k  # two significant digits of rounding
    rows = V.table2(smoke, setting="balanced")
    assert all(r.perceptual == "normalized" for r in rows.values())
    assert rows["a_perc_adv"].loss_weights()["perceptual"] == w["perceptual"]
    assert rows["a_perc_adv"].loss_weights()["lip"] == 0.0
    assert V.table2(smoke)["d_all"].loss_weights() == V.RELEASED_WEIGHTS
    with pytest.raises(ValueError, match="setting must be one of"):
        V.table1(smoke, setting="tuned")
    with pytest.raises(ValueError, match="positive share"):
        V.balanced_weights(smoke, dict(pixel=1.0))
    with pytest.raises(ValueError, match="perceptual must be one of"):
        V.VFHGANRun.make(perceptual="l1")


def test_balanced_weights_are_the_same_warm_or_cold(tmp_path, monkeypatch):
    """The measurement uses the configuration's own lip reader (pretrained at cfg.seed), so the in-process cache must
    tell seeds apart: a seed's weights are the same whether another seed's were measured first or not."""
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    cfgs = [setup("smoke", seed=s, device="cpu") for s in (0, 1)]
    monkeypatch.setattr(V, "_BALANCED", {})
    cold = V.balanced_weights(cfgs[1])
    monkeypatch.setattr(V, "_BALANCED", {})
    first = V.balanced_weights(cfgs[0])
    assert V.balanced_weights(cfgs[1]) == cold
    assert first["lip"] != cold["lip"]  # the two lip readers differ, so a cache that mixed them would show


def test_normalized_perceptual_is_scale_free():
    class Net(nn.Module):
        def __init__(self, gain):
            super().__init__()
            self.gain = gain

        def features(self, x, layers=None):
            return [self.gain * x, self.gain * x ** 2]

    a, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    raw = [PerceptualLoss(Net(g))(a, b) for g in (1.0, 10.0)]
    norm = [PerceptualLoss(Net(g), normalize=True)(a, b) for g in (1.0, 10.0)]
    assert raw[1] > 10 * raw[0]  # the raw form grows with the feature net's scale
    assert 0 < norm[0] <= 4 and norm[1] == pytest.approx(float(norm[0]), rel=1e-5)


def test_pixel_only_row(smoke):
    w = V.pixel_only(smoke).loss_weights()
    assert w["pixel"] == 1.0 and all(v == 0 for k, v in w.items() if k != "pixel")


def test_fusion_is_additive_by_default_and_concat_is_a_row():
    assert VFHGANConfig().fusion == "add"
    torch.manual_seed(0)
    add = VFHGenerator(VFHGANConfig(width=8, n_stages=1, window=1))
    cat = VFHGenerator(VFHGANConfig(width=8, n_stages=1, window=1, fusion="concat"))
    assert add.fuse[0].in_channels == 8 and cat.fuse[0].in_channels == 16
    lr, mel = torch.rand(1, 3, 3, 8, 8), torch.randn(1, 1, 80, 48)
    vis = add.visual_branch(add.head(lr.reshape(3, 3, 8, 8)).reshape(1, 24, 8, 8))
    aud = add.audio_branch(mel)[:, :, None, None]
    expected = add.attention(add.fuse(vis + aud))  # eq. 2: Psi(xi + psi), then eq. 3
    torch.testing.assert_close(add.cmfe(add.head(lr.reshape(3, 3, 8, 8)).reshape(1, 3, 8, 8, 8), mel), expected)
    with pytest.raises(ValueError, match="fusion must be"):
        VFHGANConfig(fusion="mul")
    rows = V.fusion(setup("smoke", seed=0, device="cpu"))
    assert rows["add"] == V.table1(setup("smoke", seed=0, device="cpu"))["audio_attention"]  # no extra run
    assert dict(rows["concat"].generator) == {"fusion": "concat"}
