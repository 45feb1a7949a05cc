"""VividGAN's training module (avfh_core/train/vividgan.py) and its pairs (data/frontal_pairs.py): every run kind
trains for a few steps at tiny sizes, cached runs are reused, the planted controls are detected."""

import math

import pytest
import torch

from avfh_core.config import setup
from avfh_core.data import synth
from avfh_core.data.frontal_pairs import FrontalPairs, component_centres, grid_yaws
from avfh_core.train import experiment as E
from avfh_core.train import vividgan as V

TINY = dict(vividgan_train_scenes=3, vividgan_test_scenes=2, vividgan_views=2, vividgan_coarse_steps=2,
            vividgan_touch_steps=1, vividgan_joint_steps=2, batch_size=2, featnet_steps=2, n_train_clips=2)


@pytest.fixture
def cfg():
    E.clear_memory()
    yield setup("smoke", device="cpu", **TINY)
    E.clear_memory()


def test_pairs_grid_truth_knobs_and_errors():
    assert grid_yaws("celeba", 4) == (-75.0, -40.0, 40.0, 75.0) and len(grid_yaws("multipie", 12)) == 12
    with pytest.raises(ValueError, match="grid must be one of"):
        grid_yaws("lfw", 2)
    with pytest.raises(ValueError, match="views must be in"):
        grid_yaws("celeba", 9)
    w = synth.world(None, image_size=32, num_frames=3, n_train_identities=4, n_test_identities=2)
    plain = FrontalPairs(w, "train", 1, (-40.0, 40.0), 4)
    assert len(plain) == 2 and plain[0]["lr"].shape == (3, 8, 8) and plain[0]["hr"].shape == (3, 32, 32)
    assert torch.equal(plain[0]["hr"], plain[1]["hr"])  # one frontal truth per scene, whatever the yaw
    assert not torch.equal(plain[0]["lr"], plain[1]["lr"])
    sym = FrontalPairs(w, "train", 1, (40.0,), 4, symmetric_truth=True)[0]["hr"]
    assert torch.allclose(sym, sym.flip(-1))
    side = FrontalPairs(w, "train", 1, (40.0,), 4, side_light=0.4)[0]["hr"]
    assert side[..., :8].mean() < plain[0]["hr"][..., :8].mean()
    c = component_centres(plain[0]["landmarks"])
    assert c[0, 0] < c[1, 0] and c[3, 1] > c[2, 1] > c[0, 1]  # left eye left of the right one; mouth below the nose
    with pytest.raises(ValueError, match="side_light"):
        FrontalPairs(w, "train", 1, (40.0,), 4, side_light=1.5)


def test_every_run_kind_trains_a_few_steps_and_logs_its_terms(cfg):
    runs = {**V.table1(cfg), "v_tn": V.fig8(cfg)["v_tn"], "v_gt": V.fig8(cfg)["v_gt"]}
    for name, run in runs.items():
        scores, trained = E.cached_run(V, run, cfg, 0, disk_cache=False)
        assert all(math.isfinite(scores[m]) for m in ("psnr", "ssim", "face_psnr", "face_ssim", "psnr_75")), name
        if run.model == "bicubic":
            continue
        h = trained.log.history
        if run.model == "tann":
            assert trained.models["generator"].config.width == V.tann_width(cfg) > cfg.vividgan_width
        touch_up = run.model == "vividgan" and dict(run.generator).get("prior", "estimated") == "estimated"
        single = run.model in ("coarse", "tann", *V.CASCADES) and run.model not in V.SR_CASCADES
        stages = {1.0, 2.0} if run.model in V.SR_CASCADES else {1.0} if single else (
            {1.0, 2.0, 3.0} if touch_up else {1.0, 3.0})
        assert set(h["stage"]) == stages, name
        if run.model in V.CASCADES:
            continue  # the frontaliser has one term (tested in test_cascades_frontalise_before_or_after_bicubic)
        assert math.isfinite(h["c_mse"][0]) and "gshare/c_mse" in h  # step 0 logs every term's gradient share
    full = E.cached_run(V, runs["vividgan"], cfg, 0, disk_cache=False)[1].log.history
    for term in ("c_sym", "c_id", "c_adv", "t_mse", "f_mse", "f_id", "f_h", "f_adv"):
        assert any(math.isfinite(v) for v in full[f"gshare/{term}"]), term
    with pytest.raises(ValueError, match="unknown loss weight"):
        V.VividGANRun.make(weights=dict(l_sym=1.0))
    with pytest.raises(ValueError, match="model must be one of"):
        V.VividGANRun.make("srgan")


def test_cached_runs_are_reused(cfg, monkeypatch):
    run = V.VividGANRun.make("coarse", weights=dict(c_id=0.0, c_adv=0.0))
    first = E.cached_run(V, run, cfg, 0)[0]
    E.clear_memory()
    monkeypatch.setattr(V, "train", lambda *a, **k: pytest.fail("a cached run was trained again"))
    again, trained = E.cached_run(V, run, cfg, 0)
    assert again == first and trained.log.steps_done == cfg.vividgan_coarse_steps + cfg.vividgan_joint_steps


def test_positive_controls_are_detected(cfg):
    c = setup("smoke", device="cpu", **{**TINY, "vividgan_coarse_steps": 10, "vividgan_joint_steps": 0,
                                        "vividgan_touch_steps": 0})
    rows = V.positive_controls(c, n_seeds=1)
    assert {"side/sym_on", "side/sym_off", "symmetric/sym_on", "ours", "handicapped", "loss_kept"} <= set(rows)
    assert rows["ours"]["psnr"][0] - rows["handicapped"]["psnr"][0] == pytest.approx(0.5, abs=0.1)
    assert rows["loss_kept"]["psnr"][0] > rows["loss_removed"]["psnr"][0] + 1.0
    # the mirror projection never hurts a symmetric truth (a planted sign), per image and so on average
    assert rows["symmetric/mirrored"]["psnr"][0] >= rows["symmetric/sym_off"]["psnr"][0]
    assert math.isfinite(rows["side/mirrored"]["psnr"][0])
    # the symmetry knob's rows are measured, not planted: at a few steps L_sym can help even a side-lit truth
    assert all(math.isfinite(rows[r]["psnr"][0]) for r in ("side/sym_on", "side/sym_off", "symmetric/sym_off"))


def test_tables_yaml_claims_name_existing_rows_and_our_rows_exist(cfg):
    from avfh_core.reproduce.audit import load_controls
    from avfh_core.reproduce.tables import load_tables

    t = load_tables("vividgan")
    for c in t.claims:
        assert c.a in t.tables[c.table].rows and c.b in t.tables[c.table].rows, c.id
    ids = {c.id for c in t.claims}
    controls = load_controls(t)
    control_rows = {"side/sym_on", "side/sym_off", "ours", "handicapped", "loss_kept", "loss_removed", "truth",
                    "truth_shuffled", "symmetric/sym_off", "symmetric/mirrored", "side/mirrored"}
    for k in controls:
        assert set(k["claims"]) <= ids and {k["a"], k["b"]} <= control_rows, k["id"]
    # every testable claim is covered by a control; our table rows are rows of the tables they sit beside
    raw = {c["id"]: c for c in __import__("yaml").safe_load(t.source.read_text())["claims"]}
    covered = {cid for k in controls for cid in k["claims"]}
    assert {cid for cid, c in raw.items() if "untestable" not in c} <= covered
    for ours, theirs in (("table1", "table1_celeba"), ("table3", "table3_celeba"), ("fig8", "fig8_multipie")):
        assert set(V.TABLES[ours](cfg)) <= set(t.tables[theirs].rows), ours


def test_recognition_rows_with_a_pixel_embedding(cfg, monkeypatch):
    class Pixels(torch.nn.Module):
        def embed(self, x):
            return torch.nn.functional.avg_pool2d(x, 4).flatten(1)

    monkeypatch.setattr(V, "recognition_net", lambda cfg: Pixels())
    g_emb, g_ids = V.gallery(cfg, Pixels())
    assert g_emb.shape[0] == len(g_ids) == cfg.world_test_people
    rows = V.recognition(cfg, n_seeds=1)
    assert set(rows) == {"lr", "bicubic_f_sr", "bicubic_sr_f", "srresnet_f_sr", "srresnet_sr_f", "vividgan_coarse",
                         "tann", "vividgan", "truth", "truth_shuffled"}
    for r in rows.values():
        assert 0 <= r["rank1"][0] <= r["rank5"][0] <= 100


def test_cascades_frontalise_before_or_after_bicubic(cfg):
    lr, hr = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 64, 64)
    x, y = V.cascade_io("f_bicubic", lr, hr)
    assert x is lr and y.shape == (2, 3, 16, 16)
    x, y = V.cascade_io("bicubic_f", lr, hr)
    assert x.shape == (2, 3, 64, 64) and y is hr
    with pytest.raises(ValueError, match="cascade_io: model must be one of"):
        V.cascade_io("bicubic", lr, hr)
    rows = V.table1(cfg)
    for row, key in (("bicubic_f_sr", "frontaliser_lr"), ("bicubic_sr_f", "frontaliser_hr")):
        untrained = V.init(rows[row], cfg, seed=0)
        assert set(untrained) == {key}
        batch = {"lr": lr, "hr": hr}
        # an untrained frontaliser returns its input: both cascades start at the LR face upsampled
        assert torch.allclose(V.predict(untrained, batch), V.predict({}, batch).clamp(0, 1), atol=1e-6)
        scores, trained = E.cached_run(V, rows[row], cfg, 0, disk_cache=False)
        assert trained.log.steps_done == cfg.vividgan_coarse_steps + cfg.vividgan_joint_steps
        assert math.isfinite(scores["psnr"]) and not torch.equal(
            trained.models[key].tail.weight, untrained[key].tail.weight)


def test_learned_sr_cascades_train_frontaliser_then_sr_and_use_both(cfg):
    rows = V.table1(cfg)
    assert rows["srresnet_f_sr"].model == "f_srresnet" and rows["srresnet_sr_f"].model == "srresnet_f"
    lr, hr = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 64, 64)
    batch = {"lr": lr, "hr": hr}
    for row, key in (("srresnet_f_sr", "frontaliser_lr"), ("srresnet_sr_f", "frontaliser_hr")):
        untrained = {k: m.eval() for k, m in V.init(rows[row], cfg, seed=0).items()}
        assert set(untrained) == {key, "sr"}
        # untrained, F returns its input and the SR network outputs bicubic: the cascade starts at the LR face
        # upsampled
        assert torch.allclose(V.predict(untrained, batch), V.predict({}, batch).clamp(0, 1), atol=1e-6)
        with torch.no_grad():
            untrained["sr"].tail.bias.fill_(0.05)  # the prediction goes through the SR network
        assert (V.predict(untrained, batch) - V.predict({}, batch).clamp(0, 1)).mean() > 0.03
        scores, trained = E.cached_run(V, rows[row], cfg, 0, disk_cache=False)
        h = trained.log.history
        f_steps = cfg.vividgan_coarse_steps + cfg.vividgan_joint_steps
        assert trained.log.steps_done == f_steps + cfg.vividgan_sr_steps and math.isfinite(scores["psnr"])
        assert h["stage"] == [1.0] * f_steps + [2.0] * cfg.vividgan_sr_steps
        assert all(math.isfinite(v) for v in h["sr_mse"][f_steps:])
        fresh = V.init(rows[row], cfg, seed=0)
        for k in (key, "sr"):
            assert not torch.equal(trained.models[k].tail.weight, fresh[k].tail.weight), (row, k)
    # the frontaliser is the Bicubic cascade's, step for step: only the SR step differs
    f_bic = E.cached_run(V, rows["bicubic_f_sr"], cfg, 0, disk_cache=False)[1].models["frontaliser_lr"]
    f_sr = E.cached_run(V, rows["srresnet_f_sr"], cfg, 0, disk_cache=False)[1].models["frontaliser_lr"]
    assert all(torch.equal(a, b) for a, b in zip(f_bic.state_dict().values(), f_sr.state_dict().values(), strict=True))


def test_balanced_weights_set_each_terms_step0_share(cfg):
    g = V.step0_gradient_norms(cfg, n_batches=1)
    assert set(V.BALANCED_SHARES) | {"c_mse", "f_mse"} <= set(g) and all(v > 0 for v in g.values())
    w = V.balanced_weights(cfg, n_batches=1)
    assert set(w) == set(V.PAPER_WEIGHTS) and w["c_mse"] == w["f_mse"] == 1.0
    assert w["c_sym"] == V.PAPER_WEIGHTS["c_sym"]  # L_sym keeps the paper's weight (near-zero gradient at step 0)
    for k, share in V.BALANCED_SHARES.items():
        ref = "c_mse" if k.startswith("c_") else "f_mse"
        assert w[k] * g[k] / g[ref] == pytest.approx(share, rel=0.06), k  # two significant digits
    assert V.balanced_weights(cfg, n_batches=1) == w  # cached
    assert V.table3(cfg)["l_balanced"].loss_weights() == V.balanced_weights(cfg)  # Tab. III's balanced row
    with pytest.raises(ValueError, match="shares: each key"):
        V.balanced_weights(cfg, dict(c_mse=0.5))


def test_mirroring_cannot_raise_the_error_of_a_symmetric_truth(monkeypatch):
    from avfh_core.metrics.image import psnr

    torch.manual_seed(0)
    h = torch.rand(3, 3, 16, 16)
    h = (h + h.flip(-1)) / 2
    pred = (h + 0.2 * torch.randn_like(h)).clamp(0, 1)
    monkeypatch.setattr(V, "predict", lambda models, batch: pred)
    m = V.mirrored({}, {"lr": pred, "hr": h})
    assert torch.allclose(m, m.flip(-1)) and (psnr(m, h) >= psnr(pred, h) - 1e-6).all()
    side = (0.1 + 0.8 * h + torch.linspace(-0.1, 0.1, 16)).clamp(0, 1)  # a ramp the prediction reproduces exactly
    monkeypatch.setattr(V, "predict", lambda models, batch: side)
    assert (psnr(V.mirrored({}, {}), side) < 40).all()  # the projection loses the ramp


def test_face_scores_see_only_the_face_box(cfg):
    """face_psnr / face_ssim are PSNR / SSIM inside the truth's face box: an error outside it lowers the whole-image
    scores and leaves the face scores as they were (PSNR exactly; SSIM to float32 round-off)."""
    hr = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    pred = (hr + 0.02).clamp(0, 1)
    batch = {"hr": hr, "face_box": torch.tensor([[8.0, 8.0, 24.0, 24.0]]), "yaw": torch.tensor([40.0])}
    spoiled = pred.clone()
    spoiled[..., :, :3] = 0.0  # a stripe left of the box, beyond the SSIM window's reach into it
    a, b = V.score(pred, batch, cfg), V.score(spoiled, batch, cfg)
    assert float(b["psnr"]) < float(a["psnr"]) and float(b["ssim"]) < float(a["ssim"])
    assert float(b["face_psnr"]) == float(a["face_psnr"])
    assert float(b["face_ssim"]) == pytest.approx(float(a["face_ssim"]), abs=1e-6)  # float32 SSIM maps, centred per image
