"""SECNet training and the per-paper contract (train/secnet.py), sequences (data/sequences.py)."""

import pytest
import torch

from avfh_core.config import setup
from avfh_core.data import synth
from avfh_core.data.sequences import ClipDataset, SequenceDataset
from avfh_core.reproduce.audit import one_sided_verdict
from avfh_core.train import experiment as E
from avfh_core.train import secnet as S


@pytest.fixture
def cfg():
    return setup("smoke", seed=0, device="cpu", hr_size=16, n_train_clips=3, secnet_eval_clips=2,
                 secnet_clip_frames=11, secnet_frames=3, secnet_batch=1, secnet_ablation_steps=2)


def _samples(n=2, frames=11, size=16):
    return synth.world(None, image_size=size, num_frames=frames, n_train_identities=2, n_test_identities=2,
                       render_frontal=False).dataset("train", n_clips=n, cache=False)


def test_sequence_dataset_augmentations_are_deterministic_and_valid():
    data = SequenceDataset(_samples(), n_frames=4, max_stride=2, repeats=20)
    a, b = data[7], data[7]
    assert torch.equal(a["hr"], b["hr"]) and a["lr"].shape == (4, 3, 4, 4) and a["hr"].shape == (4, 3, 16, 16)
    kinds = {(data[k]["stride"], data[k]["reversed"], data[k]["flipped"]) for k in range(len(data))}
    assert {s for s, _, _ in kinds} == {1, 2} and {r for _, r, _ in kinds} == {False, True}
    plain = SequenceDataset(_samples(), n_frames=4, augment=False, repeats=1)[0]
    clip = ClipDataset(_samples())[0]
    torch.testing.assert_close(plain["hr"], clip["hr"][:4])
    torch.testing.assert_close(plain["lr"], clip["lr"][:4])
    with pytest.raises(ValueError, match="fewer than 12"):
        SequenceDataset(_samples(), n_frames=12)
    with pytest.raises(IndexError, match="out of range"):
        data[len(data)]


def test_flip_degrades_the_flipped_hr():
    data = SequenceDataset(_samples(), n_frames=3, repeats=50)
    k = next(k for k in range(len(data)) if data[k]["flipped"])
    from avfh_core.data.degrade import blur_subsample

    item = data[k]
    torch.testing.assert_close(item["lr"], blur_subsample(item["hr"], 1.5, 4))


def test_run_make_and_errors(cfg):
    assert S.SECNetRun.make(net=dict(t1=2, sfe="fused")) == S.SECNetRun.make()  # defaults dropped
    assert S.SECNetRun.make(net=dict(t3=2)) != S.SECNetRun.make()  # preset-derived fields are kept
    assert S.SECNetRun.make(net=dict(t3=2)).net_config(cfg).t3 == 2
    with pytest.raises(ValueError, match="unknown SECNetConfig field"):
        S.SECNetRun(net=(("depth", 3),))
    with pytest.raises(ValueError, match="model must be one of"):
        S.SECNetRun(model="spmc")
    with pytest.raises(ValueError, match="kind must be one of"):
        S.motion_world(cfg, "fast")


def test_two_step_train_of_each_run_kind(cfg):
    runs = {**S.table2(cfg), **{f"t4/{k}": v for k, v in S.table4(cfg).items() if k in ("oneway_only", "rff_cascaded_t6")}}
    for name, run in runs.items():
        trained = S.train(run, cfg, seed=0, steps=2)
        data, idx = S.eval_set(run, cfg)
        batch = {k: (v[None] if isinstance(v, torch.Tensor) else v) for k, v in data[idx[0]].items()}
        pred = S.predict(trained.models, batch)
        assert pred.shape == batch["hr"].shape, name
        scores = S.score(pred, batch, cfg)
        assert set(scores) == {"psnr", "ssim_vh", "ssim_vt", "psnr_rise", "rise_frames"}
        if run.model != "bicubic":
            h = trained.log.history
            assert trained.log.steps_done == 2 and any(k.startswith("gshare/") for k in h), name
        if name == "secnet":  # stage 1 then stage 2, each logging its terms' gradient shares
            assert h["stage"] == [1.0, 2.0] and "gshare/L_e" in h and "gshare/L_f" in h
        if name == "frvsr":  # FRVSR's two terms, with their gradient shares
            assert "gshare/L_sr" in h and "gshare/L_warp" in h and "stage" not in h


def test_cached_run_is_reused(cfg):
    run = S.table2(cfg)["lffnet"]
    E._RUNS.clear()
    scores, _ = E.cached_run(S, run, cfg, 0)
    assert E.is_cached(S, run, cfg, 0) and E.run_path(S, run, cfg, 0).exists()
    E._RUNS.clear()  # from disk now
    again, trained = E.cached_run(S, run, cfg, 0)
    assert again == scores and trained.log.steps_done == cfg.secnet_steps


def test_planted_handicap_is_detected(cfg):
    rows = S.positive_controls(cfg, n_seeds=2, which=("handicap",))
    a, b = rows["handicapped"]["psnr"], rows["secnet"]["psnr"]
    assert len(a) == len(b) == 2
    rec = one_sided_verdict(a, b, published_effect=0.5)
    assert rec["verdict"] == "reproduced", rec
    with pytest.raises(ValueError, match="unknown control"):
        S.positive_controls(cfg, which=("noise",))


def test_motion_worlds_change_the_head_motion(cfg):
    def spread(kind):
        w = synth.world(cfg, **S.motion_world(cfg, kind))
        return float(w.head_motion(0, "train")["centre"].std(0).sum())

    assert spread("still") < 1e-6 < spread("strong")


def test_psnr_rise_per_frame_psnr_and_fps(cfg):
    curve = torch.tensor([[30.0, 31.0, 32.0, 32.0], [20.0, 20.0, 20.0, 20.0]])
    torch.testing.assert_close(S.psnr_rise(curve), torch.tensor([2.0, 0.0]))
    models = S.init(S.table2(cfg)["lffnet"], cfg, seed=0)
    data, idx = S.eval_set(S.table2(cfg)["lffnet"], cfg)
    frames = S.per_frame_psnr(models, data, idx, cfg)
    assert frames.shape == (len(idx), cfg.secnet_clip_frames) and torch.isfinite(frames).all()
    # the untrained model outputs bicubic: its per-frame PSNR is bicubic's
    bic = S.per_frame_psnr(S.init(S.table2(cfg)["bicubic"], cfg, seed=0), data, idx, cfg)
    torch.testing.assert_close(frames, bic, rtol=0, atol=1e-3)
    assert S.frames_per_second(models["secnet"], cfg, n_frames=3, repeats=1) > 0
