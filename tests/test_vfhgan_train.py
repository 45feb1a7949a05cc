"""VFH-GAN training/experiments (avfh_core.train.vfhgan) on a tiny stand-in window dataset (data contract shapes)."""

import pytest
import torch
import torch.nn.functional as F

import avfh_core.train.vfhgan as V
from avfh_core.config import setup
from avfh_core.data.batching import collate, spread_indices
from avfh_core.models.vfhgan import VFHGenerator
from avfh_core.train import experiment as E
from avfh_core.train.evaluate import evaluate, predict_all


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


def test_objective_weights_and_skips():
    batch = collate(fake_windows(2))
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
    batch = collate(fake_windows(2))
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


def test_train_vfhgan_runs_resumes_and_records_curves(cfg, tmp_path):
    data = fake_windows(6)
    obj = V.VFHGANObjective(frequency=lambda a, b: (a - b).abs().mean())
    run = V.VFHGANRun.make(weights=dict(perceptual=0.0, lip=0.0, frequency=1e-4))
    a = V.train(run, cfg, seed=0, objective=obj, data=data)
    assert {"d_loss", "pixel", "adversarial", "frequency", "total"} <= set(a.log.history)
    assert len(a.log.history["total"]) == 4 and not a.models["generator"].training
    b = V.train(run, cfg, seed=0, objective=obj, data=data, checkpoint_path=tmp_path / "c.pt")
    for p, q in zip(a.models["generator"].parameters(), b.models["generator"].parameters()):
        assert torch.equal(p, q)  # same seed -> same run; checkpointing does not change the result
    assert (tmp_path / "c.pt").exists()


def test_srresnet_and_bicubic_specs(cfg):
    data = fake_windows(4)
    t = V.train(V.VFHGANRun.make("srresnet", weights=dict(perceptual=0.0, lip=0.0, frequency=0.0)),
                cfg, seed=0, objective=V.VFHGANObjective(), data=data)
    assert "adversarial" in t.log.history and set(t.models) == {"generator", "discriminator"}
    b = V.train(V.VFHGANRun.make("bicubic"), cfg, seed=0, data=data)
    assert b.log is None and set(b.models) == {"generator"}


def test_predict_score_and_evaluate(cfg):
    data = fake_windows(4)
    torch.manual_seed(0)
    models = {"generator": VFHGenerator(width=8, n_stages=1, window=1)}
    sr, batch = predict_all(V.predict, models, data, [0, 1, 2], "cpu")
    assert sr.shape == (3, 3, 32, 32) and batch["mouth_box"].shape == (3, 4)
    per_item = V.score(sr, batch, cfg)
    assert set(per_item) == {"psnr", "ssim", "erqa", "mouth_psnr", "mouth_ssim"}
    assert all(v.shape == (3,) for v in per_item.values())
    s = evaluate(V.predict, V.score, models, data, [0, 1, 2], cfg, batch_size=2)  # the batch size changes nothing
    assert s["psnr"] == pytest.approx(float(per_item["psnr"].mean()))
    assert 0 < s["psnr"] < 60 and 0 <= s["erqa"] <= 1 and -1 <= s["ssim"] <= 1
    hr = batch["hr"][:, 1]
    perfect = V.score(hr, batch, cfg)
    assert float(perfect["ssim"].mean()) == pytest.approx(1.0) and float(perfect["erqa"].mean()) == pytest.approx(1.0)
    assert spread_indices(range(10), 4) == [0, 3, 6, 9]


def test_table_rows_and_errors(cfg):
    t1, t2, t3, causal = V.table1(cfg), V.table2(cfg), V.table3(cfg), V.causal(cfg)
    assert set(t1) == {"no_audio", "audio", "audio_attention", "visual_only"}
    assert set(t2) == {"a_perc_adv", "b_freq", "c_lip", "d_all"}
    assert t2["a_perc_adv"].loss_weights()["lip"] == 0.0
    assert t2["d_all"].loss_weights() == V.RELEASED_WEIGHTS
    assert len(causal) == 6 and set(V.TABLES) == {"table1", "table2", "backbone", "fusion", "table3", "causal"}
    # equal runs are equal (so experiments share them); the smoke preset trains the ablations without the lip term
    assert not cfg.vfhgan_ablation_lip and t1["audio_attention"] == t3["ours"] == V.backbone(cfg)["phfe"]
    assert t3["ours"] == V.VFHGANRun.make(weights=dict(lip=0.0)) != t2["d_all"]
    assert causal["intact/no_audio"] == t1["visual_only"]
    assert set(V.weight_sensitivity(cfg, "lip")) == {"lipx0", "lipx1", "lipx100"}
    with pytest.raises(ValueError, match="unknown loss weight"):
        V.VFHGANRun.make(weights=dict(vgg=1.0))
    with pytest.raises(ValueError, match="model must be"):
        V.VFHGANRun.make("edsr")
    with pytest.raises(ValueError, match="term must be"):
        V.weight_sensitivity(cfg, "tv")


def test_real_lip_loss_alone_trains_the_generator_and_the_released_detach_does_not():
    """Issue 5: a non-zero gradient on the generator from the lip-reading loss alone (eq. 5), through the real
    LipReadingLoss and a (small, untrained) LipReader; detach_sr=True (the released code) gives none."""
    from avfh_core.losses.lipreading import LipReadingLoss
    from avfh_core.models.lipreader import LipReader, LipReaderConfig

    torch.manual_seed(0)
    gen = VFHGenerator(width=8, n_stages=1, window=1)
    batch = collate(fake_windows(2))
    reader = LipReader(LipReaderConfig.small(width=2, num_classes=3, input_size=16))
    for detach, expect_grad in ((False, True), (True, False)):
        gen.zero_grad(set_to_none=True)
        obj = V.VFHGANObjective(dict(pixel=0.0, lip=1.0), lip=LipReadingLoss(reader, detach_sr=detach))
        total = obj.generator_terms(gen(batch["lr"], batch["mel"]), batch)["total"]
        if total.requires_grad:
            total.backward()
        g = sum(float(p.grad.abs().sum()) for p in gen.parameters() if p.grad is not None)
        assert (g > 0) == expect_grad, (detach, g)


def test_run_is_cached_on_disk_and_reloaded(cfg, monkeypatch, tmp_path):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    data = fake_windows(4)
    monkeypatch.setattr(V, "window_data", lambda cfg, split, world=None: data)
    monkeypatch.setattr(V, "build_objective", lambda cfg, w, form="mse": V.VFHGANObjective(w))
    run = V.VFHGANRun.make(weights=dict(perceptual=0.0, lip=0.0, frequency=0.0))
    E.clear_memory()
    s1, t1 = E.cached_run(V, run, cfg, 0)
    path = E.run_path(V, run, cfg, 0)
    assert path.exists() and str(path).startswith(str(tmp_path / "runs" / "vfhgan"))
    E.clear_memory()
    monkeypatch.setattr(V, "train", lambda *a, **k: pytest.fail("a cached run must not train"))
    s2, t2 = E.cached_run(V, run, cfg, 0)  # from disk: same scores, same weights, no training
    assert s1 == s2 and set(t2.models) == {"generator", "discriminator"}
    for name in t1.models:
        for p, q in zip(t1.models[name].parameters(), t2.models[name].parameters()):
            assert torch.equal(p, q)
    nan_free = lambda h: {k: [None if v != v else v for v in vs] for k, vs in h.items()}  # noqa: E731 (NaN != NaN)
    assert nan_free(t2.log.history) == nan_free(t1.log.history) and t2.log.steps_done == cfg.steps
    assert E.run_path(V, run, cfg, 1) != path
    E.clear_memory()


def test_lip_window_study_compares_the_trained_form_with_a_fully_generated_window():
    from avfh_core.losses.lipreading import LipReadingLoss
    from avfh_core.models.baselines import Bicubic
    from avfh_core.models.lipreader import LipReader, LipReaderConfig

    torch.manual_seed(0)
    lip = LipReadingLoss(LipReader(LipReaderConfig.small(width=4, num_classes=5, input_size=16)))
    cfg = setup("smoke", seed=0, device="cpu", window=1, hr_size=32)
    data = V.window_data(cfg, "test")
    # a window's neighbours are the neighbouring items of the same clip, each generated from its own window
    k = 1
    frames = V.generated_windows(Bicubic(cfg.scale), data, k)
    for d in (-1, 0, 1):
        own = Bicubic(cfg.scale)(data[k + d]["lr"][None], data[k + d]["mel"][None]).clamp(0, 1)[0]
        assert torch.allclose(frames[d + 1], own)
    first_of_clip = 0  # its left neighbour would need a frame before the clip starts
    assert V.generated_windows(Bicubic(cfg.scale), data, first_of_clip) is None
    usable = V.windows_with_context(data, len(data))
    assert first_of_clip not in usable and 1 in usable
    assert all(V.generated_windows(Bicubic(cfg.scale), data, k) is not None for k in usable)
    assert len(V.windows_with_context(data, 2)) == 2
    out = V.lip_window_study(Bicubic(cfg.scale), lip, data, [first_of_clip, 1, 2])
    assert out["n_windows"] == 2
    assert out["loss_generated_window"] != out["loss_trained"]  # bicubic neighbours are not the ground truth
    assert -1 <= out["grad_cosine"] < 0.999 and out["grad_norm_ratio"] > 0
    with pytest.raises(ValueError, match="none of the 1 windows"):
        V.lip_window_study(Bicubic(cfg.scale), lip, data, [first_of_clip])


def test_lip_window_study_with_perfect_neighbours_is_the_trained_form(monkeypatch):
    from avfh_core.losses.lipreading import LipReadingLoss
    from avfh_core.models.baselines import Bicubic
    from avfh_core.models.lipreader import LipReader, LipReaderConfig

    torch.manual_seed(0)
    lip = LipReadingLoss(LipReader(LipReaderConfig.small(width=4, num_classes=5, input_size=16)))
    cfg = setup("smoke", seed=0, device="cpu", window=1, hr_size=32)
    data = V.window_data(cfg, "test")
    real = V.generated_windows

    def perfect_neighbours(gen, ds, k):
        frames = real(gen, ds, k)
        if frames is None:
            return None
        return torch.cat([ds[k]["hr"][:1], frames[1:2], ds[k]["hr"][2:]])  # generated centre, true neighbours

    # neighbours generated perfectly (the ground truth): the two forms are the same loss, cosine and ratio 1
    monkeypatch.setattr(V, "generated_windows", perfect_neighbours)
    same = V.lip_window_study(Bicubic(cfg.scale), lip, data, [1, 2])
    assert same["loss_generated_window"] == pytest.approx(same["loss_trained"])
    assert same["grad_cosine"] == pytest.approx(1.0, abs=1e-5) and same["grad_norm_ratio"] == pytest.approx(1.0)


def test_neighbour_windows_carry_each_frames_own_window():
    from avfh_core.data.windows import NeighbourWindows

    cfg = setup("smoke", seed=0, device="cpu", window=1, hr_size=32)
    data = V.window_data(cfg, "test")
    nw = NeighbourWindows(data)
    j = data.window
    assert len(nw) == len(V.windows_with_context(data, len(data)))  # the same centres lip_window_study uses
    item = nw[0]
    k = nw.index[0]
    assert item["lr_windows"].shape == (2 * j + 1, *data[k]["lr"].shape)
    assert item["mel_windows"].shape == (2 * j + 1, *data[k]["mel"].shape)
    for i, d in enumerate(range(-j, j + 1)):  # row i is the window of frame t-j+i: the item k+d of the same clip
        assert data[k + d]["clip"] == item["clip"] and torch.equal(item["lr_windows"][i], data[k + d]["lr"])
        assert torch.equal(item["mel_windows"][i], data[k + d]["mel"])
    assert torch.equal(item["lr"], data[k]["lr"]) and torch.equal(item["hr"], data[k]["hr"])
    with pytest.raises(ValueError, match="wraps a WindowDataset"):
        NeighbourWindows(fake_windows(3))
    short = V.window_data(setup("smoke", seed=0, device="cpu", window=3, hr_size=32), "test")  # 9-frame clips
    with pytest.raises(ValueError, match="13 frames .* longest clip has 9"):
        NeighbourWindows(short)


def test_lip_window_option_validates_and_needs_the_lip_term():
    with pytest.raises(ValueError, match="lip_window must be one of"):
        V.VFHGANRun.make(lip_window="all")
    assert V.VFHGANRun.make() == V.VFHGANRun.make(lip_window="centre")
    assert V.VFHGANRun.make(lip_window="generated").generates_lip_window
    assert not V.VFHGANRun.make(lip_window="generated", weights=dict(lip=0.0)).generates_lip_window
    assert not V.VFHGANRun.make(model="srresnet", lip_window="generated").generates_lip_window


def test_generated_lip_window_is_what_the_lip_reader_sees():
    batch = collate(fake_windows(2))
    sr = batch["hr"][:, 1] + 0.1
    seen = {}

    def lip(s, h, lm):
        seen["window"] = s
        return (s - h).abs().mean()

    obj = V.VFHGANObjective(dict(pixel=1.0, perceptual=0.0, lip=1.0, frequency=0.0, adversarial=0.0), lip=lip)
    obj.generator_terms(sr, batch)
    assert torch.equal(seen["window"], V.replace_centre(batch["hr"], sr, 1))  # the released form
    window = batch["hr"] + 0.2
    window[:, 1] = sr
    t = obj.generator_terms(sr, batch, sr_window=window)
    assert seen["window"] is window
    torch.testing.assert_close(t["lip"], (window - batch["hr"]).abs().mean())
    with pytest.raises(ValueError, match="sr_window must be shaped like the HR window"):
        obj.generator_terms(sr, batch, sr_window=window[:, :2])


def test_training_on_generated_lip_windows_generates_every_frame(monkeypatch):
    """lip_window="generated": each step runs the generator on B x (2j+1) windows and the lip term's gradient
    reaches every one of them; the default runs B windows."""
    cfg = setup("smoke", seed=0, device="cpu", window=1, hr_size=32, steps=2, batch_size=2, width=8)
    sizes, grads = [], []
    real_forward = VFHGenerator.forward

    def forward(self, lr, mel=None):
        sizes.append(lr.shape[0])
        out = real_forward(self, lr, mel)
        if out.requires_grad:
            out.register_hook(lambda g: grads.append(g.flatten(1).abs().sum(1)))
        return out

    monkeypatch.setattr(VFHGenerator, "forward", forward)
    lip_seen = []

    def lip(s, h, lm):
        lip_seen.append(s.shape)
        return (s - h).pow(2).mean()

    obj = V.VFHGANObjective(lip=lip)
    weights = dict(perceptual=0.0, frequency=0.0, adversarial=0.0, pixel=0.0, lip=1.0)
    V.train(V.VFHGANRun.make(weights=weights, lip_window="generated"), cfg, seed=0, objective=obj)
    assert sizes == [2 * 3, 2 * 3] and all(s[:2] == (2, 3) for s in lip_seen)
    assert all((g > 0).all() for g in grads)  # the lip term alone sends gradient to all 2 x 3 generated frames
    sizes.clear()
    V.train(V.VFHGANRun.make(weights=weights), cfg, seed=0, objective=obj)
    assert sizes == [2, 2]


def test_eval_set_scores_held_out_people_by_default_and_training_people_on_request(cfg):
    """eval_set's two splits: the same number of windows spread over each, and no person in both."""
    run = V.VFHGANRun.make()
    test, test_idx = V.eval_set(run, cfg)
    train, train_idx = V.eval_set(run, cfg, "train")
    assert test_idx == V.eval_indices(test, cfg) and train_idx == V.eval_indices(train, cfg)
    assert len(test_idx) == min(cfg.vfhgan_eval_windows, len(test))
    assert len(train_idx) == min(cfg.vfhgan_eval_windows, len(train))
    people = lambda ds, idx: {int(ds[i]["speaker"]) for i in idx}  # noqa: E731
    assert not people(test, test_idx) & people(train, train_idx)
