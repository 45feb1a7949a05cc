"""The in-project landmark estimator and NLMD scoring for the talking-faces paper (Eskimez et al. sec. 4.3)."""

import pytest
import torch

from avfh_core.models.talkingface import CopyCondition
from avfh_core.models.talkingface_landmarker import LandmarkEstimator
from avfh_core.train import talkingface_landmarker as tl


def test_soft_argmax_reads_a_peaked_heatmap_in_pixel_convention():
    m = LandmarkEstimator(width=4, stride=2)
    for p in m.head.parameters():
        torch.nn.init.zeros_(p)
    # a logit spike at heatmap cell (row 3, col 5) of point 0 -> centre of input pixels 10-11 / 6-7: x 11, y 7
    with torch.no_grad():
        m.head.bias.zero_()
        hook = m.head.register_forward_hook(lambda mod, i, o: o.index_put((torch.tensor(0), torch.tensor(0),
                                                                          torch.tensor(3), torch.tensor(5)),
                                                                         torch.tensor(80.0)))
        xy = m(torch.rand(1, 3, 16, 16))
        hook.remove()
    assert xy.shape == (1, 68, 2)
    assert xy[0, 0].tolist() == pytest.approx([11.0, 7.0], abs=1e-3)
    assert xy[0, 1].tolist() == pytest.approx([8.0, 8.0], abs=1e-3)  # uniform map -> image centre


def test_estimator_bad_input():
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        LandmarkEstimator(width=4)(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="multiple of stride"):
        LandmarkEstimator(width=4)(torch.rand(1, 3, 15, 16))
    with pytest.raises(ValueError, match="must be >= 1"):
        LandmarkEstimator(width=0)


def test_degrade_keeps_range_and_shape_and_changes_frames():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 16, 16, generator=g)
    y = tl.degrade(x, g)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert (y - x).abs().mean() > 0.01
    flat = torch.full((2, 3, 16, 16), 0.5)
    assert (tl.degrade(flat, g) - flat).abs().mean() < 0.1  # blur/resampling leave a flat frame flat


def test_nlmd_scores_zero_for_the_truth_positive_for_a_changed_mouth_and_floor():
    torch.manual_seed(0)
    m = LandmarkEstimator(width=4).eval()
    g = torch.Generator().manual_seed(1)
    video = torch.rand(2, 3, 3, 16, 16, generator=g)
    tmpl = torch.rand(68, 2, generator=g) * 16
    lms = torch.rand(2, 3, 68, 2, generator=g) * 16
    same = tl.nlmd_scores(m, video, video, tmpl, lms)
    assert same["nlmd"].abs().max() < 1e-9 and same["nlmd_mouth"].abs().max() < 1e-9
    assert (same["nlmd_floor"] > 0).all() and same["nlmd_floor"].shape == (2,)
    other = video.clone()
    other[:, 1:, :, 10:14, 5:11] = 1 - other[:, 1:, :, 10:14, 5:11]
    assert (tl.nlmd_scores(m, other, video, tmpl)["nlmd"] > 0).all()
    with pytest.raises(ValueError, match="differ in shape"):
        tl.nlmd_scores(m, video[:, :2], video, tmpl)
    # the true frames' landmarks given (a sweep estimates them once): the same scores; the wrong shape is refused
    known = tl.nlmd_scores(m, other, video, tmpl, truth=tl.estimate(m, video[:, 1:]))
    assert all(torch.equal(known[k], v) for k, v in tl.nlmd_scores(m, other, video, tmpl).items())
    with pytest.raises(ValueError, match="truth must be the landmarks of video"):
        tl.nlmd_scores(m, other, video, tmpl, truth=tl.estimate(m, video))
    assert torch.allclose(tl.estimate(m, video, chunk=1), tl.estimate(m, video, chunk=256), atol=1e-4)  # chunking
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        tl.estimate(m, video, chunk=0)
    copy = tl.scored({"generator": CopyCondition()}, dict(condition=video[:, 0], audio=torch.zeros(2, 960),
                                                          video=video), m, tmpl)
    assert set(copy) == {"nlmd", "nlmd_mouth"}


class _Clips:
    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.items = [dict(video=torch.rand(3, 3, 16, 16, generator=g),
                           landmarks=torch.rand(3, 68, 2, generator=g) * 16) for _ in range(n)]


def test_landmarker_trains_caches_and_reports(tmp_path, monkeypatch):
    from avfh_core.config import setup
    from avfh_core.train import talkingface as tf

    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    monkeypatch.setitem(tl.STEPS, "smoke", 3)
    monkeypatch.setattr(tf, "clip_data", lambda cfg, split, *a, **k: _Clips(2, 0 if split == "train" else 1))
    cfg = setup("smoke", seed=0, device="cpu")
    with torch.no_grad():  # first built inside a no_grad evaluation
        model, info = tl.landmarker(cfg)
    assert info["steps"] == 3 and info["cached"] is False and info["final_l1_px"] > 0
    again, info2 = tl.landmarker(cfg)
    assert info2["cached"] is True
    assert list((tmp_path / "models").glob(f"{tl.landmarker_id(cfg)}.pt"))  # the identity a cached sweep keys on
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(model(x), again(x))
    report = tl.landmark_report(model, _Clips(1, 2))
    assert set(report) == {f"{k}_{m}" for k in ("clean", "degraded") for m in ("px", "iod", "mouth_px")}
    assert all(v > 0 for v in report.values())
    est, tmpl = tl.scorer(cfg)
    assert tmpl.shape == (68, 2) and torch.equal(est(x), model(x))
    assert torch.tensor(info["mean_landmarks"]).shape == (68, 2)
    truth = _Clips(1, 2)
    exact = tl.landmark_report(model, truth, constant=truth.items[0]["landmarks"][0])
    assert exact["constant_px"] == pytest.approx(
        float((truth.items[0]["landmarks"] - truth.items[0]["landmarks"][0]).norm(dim=-1).mean()))
    assert exact["clean_px"] == pytest.approx(report["clean_px"])
