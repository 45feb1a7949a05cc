"""train/talkingface.py's design sweeps (the mask's sigma, the NR loss's parts) and the mask profile."""

import math

import pytest
import torch

from avfh_core.config import setup
from avfh_core.train import talkingface as TF


@pytest.fixture(scope="module")
def cfg():
    return setup("smoke", seed=0, device="cpu", hr_size=16, clip_frames=4, batch_size=2, talkingface_width=4,
                 talkingface_train_clips=4, talkingface_eval_clips=2, talkingface_steps=2, talkingface_grad_every=1,
                 talkingface_monitor_every=0, talkingface_noise_seconds=0.5, talkingface_train_frames=3)


def test_sweep_rows_follow_the_knob_and_keep_their_reference_runs(cfg):
    m, n = TF.mask_sweep(cfg), TF.nr_parts(cfg)
    assert set(m) == {"proposed", "sigma_half", "sigma_double", "no_mask"}
    assert m["proposed"] == TF.PROPOSED and m["no_mask"] == TF.TalkingFaceRun(mask=False)  # the ablations' run
    base = cfg.talkingface_mask_sigma
    assert (m["sigma_half"].mask_sigma, m["sigma_double"].mask_sigma) == pytest.approx((base / 2, 2 * base))
    assert set(n) == {"proposed", "nr_l1_only", "nr_mse_only", "proposed_nr", "nr_detached"}
    assert n["proposed_nr"] == TF.PROPOSED_NR and n["proposed"] == TF.PROPOSED
    off = setup("course", device="cpu")
    assert off.talkingface_design_sweeps is False and TF.mask_sweep(off) == {} and TF.nr_parts(off) == {}
    assert setup("gpu", device="cpu").talkingface_design_sweeps is True


def test_loss_weights_and_logged_terms_follow_the_nr_parts(cfg):
    assert set(TF.loss_weights(TF.PROPOSED_NR, cfg)) >= {"l1", "l1_noisy", "nr"}
    for terms in (("l1_noisy",), ("nr",)):
        run = TF.TalkingFaceRun(noise_resilient=True, nr_terms=terms)
        w = TF.loss_weights(run, cfg)
        assert set(w) & {"l1_noisy", "nr"} == set(terms)
        h = TF.train(run, cfg, seed=0).log.history
        assert {k for k in ("gshare/l1_noisy", "gshare/nr") if k in h} == {f"gshare/{t}" for t in terms}


def test_detaching_the_clean_features_changes_only_the_nr_gradient(cfg):
    """Same seed, same batches: attached and detached NR runs log the same L1 terms at step 0 and the same NR value,
    but the NR term's gradient differs (detached, it pulls only the noisy branch)."""
    a = TF.train(TF.PROPOSED_NR, cfg, seed=0).log.history
    b = TF.train(TF.TalkingFaceRun(noise_resilient=True, nr_detach=True), cfg, seed=0).log.history
    assert a["l1"][0] == b["l1"][0] and a["nr"][0] == pytest.approx(b["nr"][0], rel=1e-6)
    assert a["gnorm/nr"][0] != pytest.approx(b["gnorm/nr"][0], rel=1e-3)


def test_a_runs_mask_sigma_sets_its_training_masks(cfg):
    wide, narrow = TF.clip_data(cfg, "train", sigma=0.5), TF.clip_data(cfg, "train", sigma=0.05)
    assert wide[0]["mask"].mean() > narrow[0]["mask"].mean()
    assert torch.equal(TF.clip_data(cfg, "train")[0]["mask"],
                       TF.clip_data(cfg, "train", sigma=cfg.talkingface_mask_sigma)[0]["mask"])
    h = TF.train(TF.TalkingFaceRun(mask_sigma=0.5), cfg, seed=0).log.history
    h0 = TF.train(TF.PROPOSED, cfg, seed=0).log.history
    assert h["l1"][0] > h0["l1"][0]  # the same copy error weighted by a wider mask


def test_mask_profile_plain_l1_weighs_the_box_by_its_area_and_a_small_mask_concentrates():
    world = setup("smoke", seed=0, device="cpu")
    data = TF.clip_data(world, "test")
    p = TF.mask_profile(data, (0.03, 0.12, math.inf))
    flat = p[math.inf]
    assert flat["weight_in_box"] == pytest.approx(flat["box_area"], rel=1e-5)
    assert p[0.12]["weight_in_box"] > flat["weight_in_box"]
    assert p[0.12]["loss_in_box"] >= flat["loss_in_box"]
    assert all(0 <= v <= 1 for r in p.values() for v in r.values())
    with pytest.raises(ValueError, match="positive"):
        TF.mask_profile(data, (0.0,))


def test_bad_design_runs():
    with pytest.raises(ValueError, match="nr_terms"):
        TF.TalkingFaceRun(noise_resilient=True, nr_terms=())
    with pytest.raises(ValueError, match="nr_terms"):
        TF.TalkingFaceRun(noise_resilient=True, nr_terms=("l2",))
    with pytest.raises(ValueError, match="mask_sigma"):
        TF.TalkingFaceRun(mask_sigma=0.0)
