"""VFH-GAN training/experiments (avfh_core.train.vfhgan) on a tiny stand-in window dataset (data contract shapes)."""

import math

import pytest
import torch
import torch.nn.functional as F

import avfh_core.train.vfhgan as V
from avfh_core.config import setup
from avfh_core.models.vfhgan import VFHGenerator


def fake_windows(n=6, j=1, lr=8, scale=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n):
        hr = torch.rand(2 * j + 1, 3, lr * scale, lr * scale, generator=g)
        items.append(dict(
            lr=F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=True).clamp(0, 1),
            hr=hr, mel=torch.randn(1, 80, (2 * j + 1) * 16, generator=g), t=i,
            mouth_box=torch.tensor([8.0, 18.0, 24.0, 30.0]), landmarks=torch.rand(2 * j + 1, 68, 2) * 32,
            word=i % 3, speaker=i % 2,
        ))
    return items


@pytest.fixture
def cfg():
    return setup("smoke", seed=0, device="cpu", window=1, steps=4, batch_size=2, width=8, hr_size=32)


@pytest.fixture
def lsgan(monkeypatch):  # stand-in until avfh_core.losses.adversarial lands
    monkeypatch.setattr(V, "lsgan_d_loss", lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean())
    monkeypatch.setattr(V, "lsgan_g_loss", lambda f: 0.5 * ((f - 1) ** 2).mean())


def test_objective_weights_and_skips():
    batch = V.collate(fake_windows(2))
    sr = batch["hr"][:, 1] + 0.1
    obj = V.VFHGANObjective(dict(pixel=2.0, perceptual=0.0, lip=0.5, frequency=1.0, adversarial=0.0),
                            perceptual=lambda a, b: torch.tensor(99.0), frequency=lambda a, b: (a - b).abs().mean(),
                            lip=lambda s, h, lm: (s - h).abs().mean())
    t = obj.generator_terms(sr, batch)
    assert set(t) == {"pixel", "frequency", "lip", "total"}
    torch.testing.assert_close(t["pixel"], torch.tensor(0.01))
    torch.testing.assert_close(t["total"], 2 * t["pixel"] + t["frequency"] + 0.5 * t["lip"])
    with pytest.raises(ValueError, match="every loss term is off"):
        V.VFHGANObjective(dict(pixel=0.0)).generator_terms(sr, batch)


def test_lip_term_sends_gradient_to_the_generator():
    """The released code detaches both branches; here the lip term alone must move the generator."""
    torch.manual_seed(0)
    gen = VFHGenerator(width=8, n_stages=1, window=1)
    batch = V.collate(fake_windows(2))
    feat = torch.nn.Conv3d(3, 4, 3, padding=1)  # a stand-in lip feature net on the window [B,3,T,H,W]
    lip = lambda s, h, lm: (feat(s.transpose(1, 2)) - feat(h.transpose(1, 2)).detach()).abs().mean()
    obj = V.VFHGANObjective(dict(pixel=0.0, lip=1.0), lip=lip)
    obj.generator_terms(gen(batch["lr"], batch["mel"]), batch)["total"].backward()
    grads = [p.grad.abs().sum() for p in gen.parameters() if p.grad is not None]
    assert grads and sum(grads) > 0


def test_replace_centre():
    w = torch.zeros(2, 5, 3, 4, 4)
    f = torch.ones(2, 3, 4, 4, requires_grad=True)
    out = V.replace_centre(w, f, 2)
    assert out.shape == w.shape and out[:, 2].eq(1).all() and out[:, [0, 1, 3, 4]].eq(0).all()


def test_train_vfhgan_runs_resumes_and_records_curves(cfg, lsgan, tmp_path):
    data = fake_windows(6)
    obj = V.VFHGANObjective(frequency=lambda a, b: (a - b).abs().mean())
    spec = V.RunSpec.make(weights=dict(perceptual=0.0, lip=0.0, frequency=1e-4))
    a = V.train_vfhgan(spec, cfg, objective=obj, data=data, progress=False)
    assert {"d_loss", "pixel", "adversarial", "frequency", "total"} <= set(a.log.history)
    assert len(a.log.history["total"]) == 4 and not a.generator.training
    b = V.train_vfhgan(spec, cfg, objective=obj, data=data, progress=False, checkpoint_path=tmp_path / "c.pt")
    for p, q in zip(a.generator.parameters(), b.generator.parameters()):
        assert torch.equal(p, q)  # same seed -> same run; checkpointing does not change the result
    assert (tmp_path / "c.pt").exists()


def test_srresnet_and_bicubic_specs(cfg, lsgan):
    data = fake_windows(4)
    t = V.train_vfhgan(V.RunSpec.make("srresnet", weights=dict(perceptual=0.0, lip=0.0, frequency=0.0)),
                       cfg, objective=V.VFHGANObjective(), data=data, progress=False)
    assert "adversarial" in t.log.history
    b = V.train_vfhgan(V.RunSpec.make("bicubic"), cfg, data=data)
    assert b.log is None


def test_score_images_and_evaluate(cfg):
    data = fake_windows(4)
    torch.manual_seed(0)
    gen = VFHGenerator(width=8, n_stages=1, window=1)
    sr, hr, boxes = V.super_resolve(gen, data, [0, 1, 2], "cpu")
    assert sr.shape == (3, 3, 32, 32) and boxes.shape == (3, 4)
    s = V.score_images(sr, hr, boxes, 4)
    assert set(V.METRICS) <= set(s)
    assert 0 < s["psnr"] < 60 and 0 <= s["erqa"] <= 1 and -1 <= s["ssim"] <= 1
    perfect = V.score_images(hr, hr, boxes, 4)
    assert perfect["ssim"] == pytest.approx(1.0) and perfect["erqa"] == pytest.approx(1.0)
    assert V.eval_indices(range(10), 4) == [0, 3, 6, 9]


def test_specs_and_errors():
    assert set(V.table1_specs()) == {"no_audio", "audio", "audio_attention", "visual_only"}
    assert set(V.table2_specs()) == {"a_perc_adv", "b_freq", "c_lip", "d_all"}
    assert V.table2_specs()["a_perc_adv"].loss_weights()["lip"] == 0.0
    assert V.table2_specs()["d_all"].loss_weights() == V.RELEASED_WEIGHTS
    assert len(V.causal_specs()) == 6
    # equal runs are equal specs (so experiments share them)
    assert V.table1_specs()["audio_attention"] == V.table2_specs()["d_all"] == V.table3_specs()["ours"]
    assert V.causal_specs()["intact/no_audio"] == V.table1_specs()["visual_only"]
    assert set(V.weight_sensitivity_specs("lip")) == {"lipx0", "lipx1", "lipx100"}
    with pytest.raises(ValueError, match="unknown loss weight"):
        V.RunSpec.make(weights=dict(vgg=1.0))
    with pytest.raises(ValueError, match="model must be"):
        V.RunSpec.make("edsr")
    with pytest.raises(ValueError, match="term must be"):
        V.weight_sensitivity_specs("tv")


def test_paper_tables_and_claims_are_consistent():
    paper = V.load_paper_tables()
    for c in paper["claims"]:
        rows = paper["tables"][c["table"]]["rows"]
        assert math.isclose(rows[c["b"]][c["metric"]] - rows[c["a"]][c["metric"]], c["published_effect"], abs_tol=1e-3)
    assert paper["tables"]["table1"]["rows"]["no_audio"]["psnr"] == 27.128


def test_score_claims_verdicts():
    ours = {"table1": {"no_audio": {"psnr": [20.0, 20.1, 20.2]}, "audio": {"psnr": [21.0, 21.2, 21.1]}}}
    claims = {c["id"]: c for c in V.score_claims(ours)}
    assert claims["audio_improves_psnr"]["verdict"] == "reproduced"
    assert claims["audio_improves_psnr"]["effect"] == pytest.approx(1.0)
    assert claims["audio_improves_ssim"]["verdict"] == "not run"
    m = V.means({"r": {"psnr": [1.0, 3.0], "ssim": [float("nan")]}})
    assert m["r"]["psnr"] == 2.0 and math.isnan(m["r"]["ssim"])
    rows = V.beside_paper("table1", {"audio": {"psnr": 21.0}})
    assert rows[0]["paper_psnr"] == 28.784 and rows[0]["ours_psnr"] == 21.0


def test_real_lip_loss_alone_trains_the_generator_and_the_released_detach_does_not():
    """Issue 5: a non-zero gradient on the generator from the lip-reading loss alone (eq. 5), through the real
    LipReadingLoss and a (small, untrained) LipReader; detach_sr=True (the released code) gives none."""
    from avfh_core.losses.lipreading import LipReadingLoss
    from avfh_core.models.lipreader import LipReader, LipReaderConfig

    torch.manual_seed(0)
    gen = VFHGenerator(width=8, n_stages=1, window=1)
    batch = V.collate(fake_windows(2))
    reader = LipReader(LipReaderConfig.small(width=2, num_classes=3, input_size=16))
    for detach, expect_grad in ((False, True), (True, False)):
        gen.zero_grad(set_to_none=True)
        obj = V.VFHGANObjective(dict(pixel=0.0, lip=1.0), lip=LipReadingLoss(reader, detach_sr=detach))
        total = obj.generator_terms(gen(batch["lr"], batch["mel"]), batch)["total"]
        if total.requires_grad:
            total.backward()
        g = sum(float(p.grad.abs().sum()) for p in gen.parameters() if p.grad is not None)
        assert (g > 0) == expect_grad, (detach, g)


def test_run_is_cached_on_disk_and_reloaded(cfg, lsgan, monkeypatch, tmp_path):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    data = fake_windows(4)
    monkeypatch.setattr(V, "window_data", lambda cfg, split, world=None, n_clips=None: data)
    monkeypatch.setattr(V, "build_objective", lambda cfg, w: V.VFHGANObjective(w))
    spec = V.RunSpec.make(weights=dict(perceptual=0.0, lip=0.0, frequency=0.0))
    V._RUN_CACHE.clear()
    s1, t1 = V.run(spec, cfg, 0)
    path = V.run_cache_path(spec, cfg, 0)
    assert path.exists() and str(path).startswith(str(tmp_path))
    V._RUN_CACHE.clear()
    s2, t2 = V.run(spec, cfg, 0)  # from disk: same scores, same weights, no training
    assert s1 == s2
    for p, q in zip(t1.generator.parameters(), t2.generator.parameters()):
        assert torch.equal(p, q)
    assert V.run_cache_path(spec, cfg, 1) != path
    V._RUN_CACHE.clear()
