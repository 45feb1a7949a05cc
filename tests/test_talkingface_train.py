"""train/talkingface.py: both phases of every run kind, the collapse monitor, scores, cached runs, the controls."""

import math

import pytest
import torch
import torch.nn as nn

from avfh_core.config import setup
from avfh_core.data.batching import collate
from avfh_core.data.noise_bank import snr_db
from avfh_core.reproduce.audit import audit_controls
from avfh_core.reproduce.tables import load_tables
from avfh_core.train import experiment
from avfh_core.train import talkingface as TF


@pytest.fixture(scope="module")
def cfg():
    return setup("smoke", seed=0, device="cpu", hr_size=16, clip_frames=4, batch_size=2, talkingface_width=4,
                 talkingface_train_clips=4, talkingface_eval_clips=2, talkingface_steps=2, talkingface_grad_every=1,
                 talkingface_monitor_every=2, talkingface_noise_seconds=0.5,
                 talkingface_train_frames=3)  # random 3-frame windows of 4-frame clips


RUNS = [TF.PROPOSED, TF.PROPOSED_NR, TF.TalkingFaceRun(mask=False), TF.TalkingFaceRun(pair_d=False),
        TF.TalkingFaceRun(frame_d=False)]


@pytest.mark.parametrize("run", RUNS, ids=["proposed", "nr", "no_mask", "no_pair_d", "no_frame_d"])
def test_two_steps_of_each_run_kind(cfg, run):
    """Step 0 is phase 1 (reconstruction only), step 1 phase 2 (+ the run's discriminators); the gradient shares of
    every weighted term are logged; the generator moves; the collapse monitor ran."""
    before = {k: v.clone() for k, v in TF.init(run, cfg, seed=0)["generator"].state_dict().items()}
    trained = TF.train(run, cfg, seed=0)
    h = trained.log.history
    assert h["phase"] == [1.0, 2.0]
    assert math.isfinite(h["gshare/l1"][0]) and all(math.isfinite(v) for v in h["total"])
    assert ("gshare/l1_noisy" in h and "gshare/nr" in h) == run.noise_resilient
    assert ("frame" in h) == run.frame_d and ("pair" in h) == run.pair_d
    if run.frame_d:
        assert math.isnan(h["frame"][0]) and math.isfinite(h["gshare/frame"][1])
    after = trained.models["generator"].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert trained.log.evals and "uses_audio" in trained.log.evals[-1]


def test_copy_row_and_scores(cfg):
    trained = TF.train(TF.COPY, cfg, seed=0)
    data, idx = TF.eval_set(TF.COPY, cfg)
    assert len(idx) == 2 * cfg.talkingface_eval_clips
    batch = collate([data[i] for i in idx], "cpu")
    pred = TF.predict(trained.models, batch)
    assert pred.shape[:2] == (len(idx), len(TF.CONDITIONS))
    assert torch.equal(pred[:, 0, 2], batch["condition"])  # the floor copies the condition frame
    s = TF.score(batch["video"][:, None].expand_as(pred), batch, cfg)  # a perfect prediction
    lrw = batch["dataset"] == 0
    assert torch.isnan(s["grid/psnr_all"][lrw]).all() and not torch.isnan(s["lrw/psnr_all"][lrw]).any()
    assert (s["lrw/mouth_l1_clean"][lrw] == 0).all() and (s["lrw/psnr_clean"][lrw] >= 99).all()
    assert s["lrw/nlmd_all"][lrw].abs().max() < 1e-9 and s["lrw/nlmd_mouth_clean"][lrw].abs().max() < 1e-9
    assert (s["lrw/nlmd_floor"][lrw] > 0).all() and torch.isnan(s["lrw/nlmd_floor"][~lrw]).all()
    assert torch.isfinite(s["lrw/sync_confidence"][lrw]).all() and (s["lrw/sync_confidence"][lrw] >= 0).all()
    assert torch.isnan(s["grid/sync_distance"][lrw]).all()
    noisy = batch["audio_lt10"] - batch["audio"]
    assert torch.allclose(snr_db(batch["audio"], noisy), batch["snr_lt10"].double(), atol=1e-2)
    view = TF.table_view({"copy": {"lrw/psnr_all": [1.0], "grid/psnr_all": [2.0]}}, "grid")
    assert view == {"copy": {"psnr_all": [2.0]}}


class _AudioDriven(nn.Module):
    """Brightens each frame by the loudness of its audio: uses the audio by construction."""

    def forward(self, condition, audio, noise=None):
        T = audio.shape[1] // 320
        loud = audio.reshape(audio.shape[0], T, 320).abs().mean(-1)
        return (condition[:, None] + 5 * loud[..., None, None, None]).clamp(0, 1)


def test_snr_sweep_shapes_and_noise_effect(cfg):
    data = TF.clip_data(cfg, "test")
    copy = TF.snr_sweep({"generator": TF.CopyCondition()}, data, cfg, snrs=(-10.0, 30.0), types=("babble",))
    assert set(copy) == {-10.0, 30.0} and copy[-10.0] == copy[30.0]  # the floor ignores the audio
    assert {"nlmd", "nlmd_mouth"} <= set(copy[30.0]) and "nlmd_floor" not in copy[30.0]
    driven = TF.snr_sweep({"generator": _AudioDriven()}, data, cfg, snrs=(-10.0, 30.0), types=("factory",))
    assert driven[-10.0]["mouth_psnr"] != driven[30.0]["mouth_psnr"]


class _Counting(nn.Module):
    """A trained-like generator (a TalkingFaceGenerator with a noise code) that counts the clips it generates."""

    def __init__(self, gen):
        super().__init__()
        self.gen, self.cfg, self.clips = gen, gen.cfg, 0

    def forward(self, condition, audio, noise=None):
        self.clips += condition.shape[0]
        return self.gen(condition, audio, noise)


def test_snr_sweep_chunks_per_type_and_its_shortcuts(cfg, monkeypatch):
    """Generating one clip per pass gives the numbers of one pass over all clips (each clip keeps its noise code);
    by_type gives each noise type's mean, whose mean is the all-type mean; the true frames' landmarks are estimated
    once per sweep, and the copy floor is scored once (it never reads its audio) with the numbers of scoring it at
    every SNR and type."""
    data = TF.clip_data(cfg, "test")
    gen = _Counting(TF.init(TF.PROPOSED, cfg, seed=0)["generator"])
    types, snrs = ("babble", "factory"), (-10.0, 30.0)
    one = TF.snr_sweep({"generator": gen}, data, cfg, snrs=snrs, types=types, by_type=True, clips=1)
    assert gen.clips == len(snrs) * len(types) * len(data)
    every = TF.snr_sweep({"generator": gen}, data, cfg, snrs=snrs, types=types, by_type=True, clips=len(data))
    assert one.keys() == every.keys() and all(one[s][m] == pytest.approx(every[s][m], rel=1e-5) for s in one
                                              for m in one[s])
    assert {"psnr", "psnr/babble", "psnr/factory", "nlmd_mouth/factory"} <= set(one[-10.0])
    assert one[-10.0]["psnr"] == pytest.approx((one[-10.0]["psnr/babble"] + one[-10.0]["psnr/factory"]) / 2)
    assert "psnr/babble" not in TF.snr_sweep({"generator": gen}, data, cfg, snrs=snrs, types=types)[30.0]

    from avfh_core.train import talkingface_landmarker as tl

    calls, real = [], tl.estimate
    monkeypatch.setattr(tl, "estimate", lambda model, video, chunk=None: calls.append(len(video)) or
                        real(model, video, chunk))
    copy = TF.snr_sweep({"generator": TF.CopyCondition()}, data, cfg, snrs=snrs, types=types, clips=1)
    # once per chunk for the truth, once per chunk for the (single) scoring of the floor: 2 x 2 clips
    assert calls == [1] * (2 * len(data))
    assert copy[-10.0] == copy[30.0]
    for bad in (0, -1):
        with pytest.raises(ValueError, match="clips must be >= 1"):
            TF.snr_sweep({"generator": gen}, data, cfg, snrs=snrs, clips=bad)
    with pytest.raises(ValueError, match="unknown noise type"):
        TF.snr_sweep({"generator": gen}, data, cfg, snrs=snrs, types=("rain",))
    with pytest.raises(ValueError, match="at least one SNR"):
        TF.snr_sweep({"generator": gen}, data, cfg, snrs=())


def test_fig5_sweep_is_cached_beside_the_run(cfg, monkeypatch, tmp_path):
    """Cold: the run is trained and swept; warm (a new process: empty memory): the same floats, bit for bit, with
    no training and no generation; other settings or another dataset sweep again."""
    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    experiment.clear_memory()
    cold = TF.fig5_sweep(TF.PROPOSED, cfg, 0, "grid", snrs=(-10.0, 30.0))
    assert set(cold) == {-10.0, 30.0} and {"mouth_psnr", "mouth_psnr/factory"} <= set(cold[30.0])
    assert list((tmp_path / "evals" / "talkingface").glob("fig5_sweep-*.pt"))
    experiment.clear_memory()
    monkeypatch.setattr(TF, "train", lambda *a, **k: pytest.fail("a cached sweep must not train"))
    monkeypatch.setattr(TF, "snr_sweep", lambda *a, **k: pytest.fail("a cached sweep must not sweep"))
    warm = TF.fig5_sweep(TF.PROPOSED, cfg, 0, "grid", snrs=(-10.0, 30.0))
    assert warm == cold and all(warm[s][m] == cold[s][m] for s in cold for m in cold[s])
    for other in (dict(dataset="lrw"), dict(snrs=(-10.0,)), dict(types=("babble",))):
        with pytest.raises(pytest.fail.Exception):
            TF.fig5_sweep(TF.PROPOSED, cfg, 0, **{"dataset": "grid", "snrs": (-10.0, 30.0), **other})
    with pytest.raises(ValueError, match="dataset must be"):
        TF.fig5_sweep(TF.PROPOSED, cfg, 0, "lrs3")


def test_collapse_monitor_tells_audio_use(cfg):
    data = TF.clip_data(cfg, "test")
    copy = TF.collapse_monitor({"generator": TF.CopyCondition()}, data)
    assert not copy["uses_audio"] and copy["out_change"] == 0 and copy["l1_intact"] == copy["l1_copy"]
    driven = TF.collapse_monitor({"generator": _AudioDriven()}, data)
    assert driven["out_change"] > 1e-4 and driven["motion_gen"] > 0
    with pytest.raises(ValueError, match="at least 2 clips"):
        TF.collapse_monitor({"generator": TF.CopyCondition()}, data, indices=[0])


def test_cached_run_is_reused(cfg, monkeypatch, tmp_path):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    experiment.clear_memory()
    scores, _ = experiment.cached_run(TF, TF.TalkingFaceRun(pair_d=False), cfg, 0)
    assert experiment.run_path(TF, TF.TalkingFaceRun(pair_d=False), cfg, 0).exists()
    experiment.clear_memory()
    monkeypatch.setattr(TF, "train", lambda *a, **k: pytest.fail("a cached run must not train"))
    again, trained = experiment.cached_run(TF, TF.TalkingFaceRun(pair_d=False), cfg, 0)
    assert again == scores and set(trained.models) == {"generator", "frame_d"}


def test_planted_control_is_detected(cfg, monkeypatch, tmp_path):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    experiment.clear_memory()
    """The planted drop is exact on average (the next-seed pairing cancels over the cycle); at 2 training steps
    the seed spread is dB-sized, so the test plants 10 dB over 3 seeds."""
    rows = TF.positive_controls(cfg, n_seeds=3, handicap_db=10.0)
    sidecar = {"metrics": {"controls_seeds": rows}, "config": {"seed": 0, "preset": "course"}}
    recs = {r["id"]: r for r in audit_controls(load_tables("talkingface"), [sidecar])}
    assert recs["ours_beats_handicapped"]["effect"] == pytest.approx(10.0, abs=1e-3)
    assert recs["ours_beats_handicapped"]["detected"]
    assert len(rows["clean"]["mouth_psnr"]) == len(rows["low_snr"]["mouth_psnr"]) == 3
    assert len(rows["blurred_mouth"]["mouth_psnr"]) == len(rows["ours_mouth"]["mouth_psnr"]) == 3
    assert recs["blurred_mouth_is_worse"]["verdict"] != "not run"


def test_blur_mouth_touches_only_the_mouth_box():
    g = torch.Generator().manual_seed(0)
    video = torch.rand(2, 3, 4, 3, 16, 16, generator=g)  # [B, conditions, T, 3, H, W]
    box = torch.tensor([4.0, 8.0, 12.0, 13.0]).expand(2, 4, 4)
    out = TF.blur_mouth(video, box, 1.5)
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[8:13, 4:12] = True
    assert torch.equal(out[..., ~inside], video[..., ~inside])
    assert (out[..., inside] - video[..., inside]).abs().mean() > 0.05
    assert out[..., inside].std() < video[..., inside].std()  # blurred: less contrast
    with pytest.raises(ValueError, match="sigma"):
        TF.blur_mouth(video, box, 0.0)


def test_ablation_rows_follow_the_knob(cfg):
    assert set(TF.ablations(cfg)) == {"proposed", "no_mask", "no_pair_d", "no_frame_d"}
    assert set(TF.ablations(setup("course", device="cpu", talkingface_ablations=False))) == {"proposed"}


def test_bad_input(cfg):
    with pytest.raises(ValueError, match="model must be"):
        TF.TalkingFaceRun(model="atvgnet")
    with pytest.raises(ValueError, match="split"):
        TF.clip_data(cfg, "val")
    with pytest.raises(ValueError, match="dataset must be"):
        TF.table_view({}, "lrs3")
    bad = setup("smoke", device="cpu", hr_size=16, clip_frames=4, talkingface_phase1_frac=1.5,
                talkingface_train_clips=4, talkingface_width=4)
    with pytest.raises(ValueError, match="phase1_frac"):
        TF.train(TF.PROPOSED, bad, seed=0)
    with pytest.raises(ValueError, match="hr_size 128"):
        TF.PROPOSED.generator_config(setup("smoke", device="cpu", talkingface_paper_sizes=True))
