"""reproduce.headroom: the largest effect a planted control can show, bounded from the world; the audit's use of it."""

import math

import pytest
import torch

from avfh_core.data.sample import AVSample
from avfh_core.reproduce.audit import audit_claims, audit_controls, control_ceilings, control_lines
from avfh_core.reproduce.headroom import (
    Headroom,
    StillMouthHeadroom,
    articulation_headroom,
    mel_state_readout,
    mouth_states,
    samples_still_headroom,
    still_mouth_headroom,
)
from avfh_core.reproduce.tables import load_tables

Y_GAIN = 219 / 255  # BT.601 luma of a grey level v is (219 v + 16) / 255


def _clips(alpha: float, noise: float, n: int = 6, T: int = 29, seed: int = 0):
    """Grey clips whose level is the clip's appearance + alpha * jaw + noise; the box is fixed, 16 px wide."""
    g = torch.Generator().manual_seed(seed)
    videos, boxes, states = [], [], []
    for c in range(n):
        jaw = torch.rand(T, generator=g)
        level = 0.3 + 0.05 * c + alpha * jaw + noise * torch.randn(T, generator=g)
        videos.append(level[:, None, None, None].expand(T, 3, 32, 32).clamp(0, 1).contiguous())
        boxes.append(torch.tensor([[8.0, 8.0, 24.0, 24.0]]).expand(T, 4).contiguous())
        states.append(jaw[:, None])
    return videos, boxes, states


def test_a_state_that_sets_the_mouth_explains_it_and_one_that_does_not_explains_nothing():
    v, b, s = _clips(alpha=0.2, noise=0.0)
    h = articulation_headroom(v, b, s)
    expected = sum(float(st[:, 0].var(unbiased=False)) for st in s) / len(s) * (0.2 * Y_GAIN) ** 2
    assert h.appearance_mse == pytest.approx(expected, rel=1e-4)
    assert h.articulation_mse < 1e-10 and h.explained_share == pytest.approx(1.0, abs=1e-6)
    assert h.n_clips == 6 and h.n_frames == 6 * 29

    v, b, s = _clips(alpha=0.0, noise=0.05, seed=1)
    h = articulation_headroom(v, b, s)
    assert 0 <= h.explained_share < 0.2  # an in-sample fit of one unrelated regressor explains ~1/28 of the rest
    assert h.appearance_mse == pytest.approx((0.05 * Y_GAIN) ** 2, rel=0.25)


def test_gain_db_is_what_removing_the_explained_error_buys_at_the_models_level():
    h = Headroom(n_clips=1, n_frames=10, appearance_mse=2e-3, articulation_mse=1e-3, explained_share=0.5)
    assert h.delta_mse == pytest.approx(1e-3)
    assert h.appearance_psnr == pytest.approx(-10 * math.log10(2e-3))
    assert h.gain_db(20.0) == pytest.approx(10 * math.log10(1e-2 / 9e-3))  # MSE 1e-2 -> 9e-3
    assert h.gain_db(20.0) < h.gain_db(25.0)  # the better the model, the more the same information buys
    assert h.gain_db(31.0) == math.inf  # error already below what the state explains
    with pytest.raises(ValueError, match="finite"):
        h.gain_db(math.nan)
    assert set(h.as_dict()) >= {"appearance_psnr", "articulation_psnr", "explained_share"}


def test_bad_inputs_name_the_clip():
    v, b, s = _clips(alpha=0.1, noise=0.01, n=2)
    with pytest.raises(ValueError, match="as many videos"):
        articulation_headroom(v, b, s[:1])
    with pytest.raises(ValueError, match="clip 1"):
        articulation_headroom(v, [b[0], b[1][:5]], s)
    with pytest.raises(ValueError, match="too few"):
        articulation_headroom([x[:2] for x in v], [x[:2] for x in b], [x[:2] for x in s])
    sample = AVSample(video=torch.zeros(3, 3, 8, 8), audio=torch.zeros(1, 1920), sample_rate=16000, fps=25.0,
                      source="real/clip7.mp4")
    with pytest.raises(KeyError, match="clip7.mp4.*jaw"):
        mouth_states([sample])


def _twice_rendered(n: int, T: int = 29, alpha: float = 0.2, signs=None, seed: int = 0):
    """Clips rendered twice: a still grey clip, and the same clip whose level moves by sign_c * alpha * jaw (jaw
    uniform in [-1, 1]) over the whole frame; the box is fixed, 16 px wide."""
    g = torch.Generator().manual_seed(seed)
    videos, still, boxes, states = [], [], [], []
    for c in range(n):
        jaw = torch.rand(T, generator=g) * 2 - 1
        base = 0.4 + 0.02 * c + 0.01 * torch.randn(T, generator=g)  # head motion and light: in both renders
        sign = 1.0 if signs is None else signs[c]
        still.append(base[:, None, None, None].expand(T, 3, 32, 32).contiguous())
        videos.append((base + sign * alpha * jaw)[:, None, None, None].expand(T, 3, 32, 32).contiguous())
        boxes.append(torch.tensor([[8.0, 8.0, 24.0, 24.0]]).expand(T, 4).contiguous())
        states.append(jaw[:, None])
    return videos, still, boxes, states


def test_still_mouth_headroom_is_the_render_difference_and_splits_off_what_one_map_for_everyone_explains():
    fit = _twice_rendered(8, seed=1)
    v, sv, b, s = _twice_rendered(4, seed=2)
    h = still_mouth_headroom(v, sv, b, s, fit=fit)
    mouth_only = [x.clone() for x in sv]
    for m, x in zip(mouth_only, v):
        m[..., 8:24, 8:24] = x[..., 8:24, 8:24]  # the articulation inside the box only: a quarter of the frame
    local = still_mouth_headroom(mouth_only, sv, b, s)
    assert local.articulation_mse == pytest.approx(h.articulation_mse, rel=1e-4)
    assert local.frame_mse == pytest.approx(h.frame_mse / 4, rel=1e-4)
    expected = sum(float(st.pow(2).mean()) for st in s) / len(s) * (0.2 * Y_GAIN) ** 2  # E (alpha jaw)^2, in Y
    assert h.articulation_mse == pytest.approx(expected, rel=1e-4) and h.delta_mse == h.articulation_mse
    assert h.frame_mse == pytest.approx(expected, rel=1e-4)  # the level moves over the whole frame here
    assert h.n_clips == 4 and h.n_frames == 4 * 29
    assert h.shared_share == pytest.approx(1.0, abs=0.02)  # the same map for every person: all of it shared
    # nuisance motion common to both renders is not articulation, however it correlates with the state
    assert still_mouth_headroom(sv, sv, b, s, fit=fit).articulation_mse == 0
    # each person's mouth moves its own way (half of them the other sign): one map for all explains ~nothing
    signs = [1.0, -1.0] * 4
    person = still_mouth_headroom(*_twice_rendered(4, signs=signs[:4], seed=2), fit=_twice_rendered(8, signs=signs))
    assert person.articulation_mse == pytest.approx(h.articulation_mse, rel=1e-6) and person.shared_share < 0.1
    assert math.isnan(still_mouth_headroom(v, sv, b, s).shared_share)  # no fitting set: not measured


def test_still_mouth_gain_db_uses_the_whole_or_the_shared_part():
    h = StillMouthHeadroom(n_clips=1, n_frames=10, articulation_mse=1e-3, shared_share=0.25)
    assert h.shared_mse == pytest.approx(2.5e-4)
    assert h.gain_db(20.0) == pytest.approx(10 * math.log10(1e-2 / 9e-3))
    assert h.gain_db(20.0, shared=True) == pytest.approx(10 * math.log10(1e-2 / 9.75e-3))
    assert math.isnan(StillMouthHeadroom(1, 10, 1e-3, math.nan).gain_db(20.0, shared=True))
    assert h.gain_db(31.0) == math.inf
    with pytest.raises(ValueError, match="finite"):
        h.gain_db(math.inf)
    assert math.isnan(h.frame_gain_db(20.0))  # the full frame not measured
    framed = StillMouthHeadroom(1, 10, 1e-3, 0.25, frame_mse=1e-4)
    assert framed.frame_gain_db(20.0) == pytest.approx(10 * math.log10(1e-2 / 9.9e-3))
    assert set(h.as_dict()) == {"n_clips", "n_frames", "articulation_mse", "shared_share", "frame_mse", "shared_mse"}


def test_still_mouth_headroom_bad_inputs_name_the_clip_and_the_set():
    v, sv, b, s = _twice_rendered(3)
    with pytest.raises(ValueError, match="the scored set needs as many"):
        still_mouth_headroom(v, sv[:2], b, s)
    with pytest.raises(ValueError, match="scored set clip 1"):
        still_mouth_headroom(v, [sv[0], sv[1][:, :, :16], sv[2]], b, s)
    with pytest.raises(ValueError, match="one state per scored clip"):
        still_mouth_headroom(v, sv, b, None, fit=(v, sv, b, s))
    with pytest.raises(ValueError, match="fitting set has 3 clips and 2 states"):
        still_mouth_headroom(v, sv, b, s, fit=(v, sv, b, s[:2]))
    with pytest.raises(ValueError, match=r"state 4 is \(5, 1\)"):
        still_mouth_headroom(v, sv, b, [s[0], s[1][:5], s[2]], fit=(v, sv, b, s))
    sample = AVSample(video=torch.zeros(3, 3, 8, 8), audio=torch.zeros(1, 1920), sample_rate=16000, fps=25.0,
                      source="real/clip7.mp4")
    with pytest.raises(ValueError, match="scored set sample 0 .*clip7.mp4.*landmarks"):
        samples_still_headroom([sample], [sample])
    with pytest.raises(ValueError, match="2 clips but 1 still-mouth"):
        samples_still_headroom([sample, sample], [sample])
    with pytest.raises(ValueError, match="needs fit_still"):
        samples_still_headroom([], [], fit_samples=[sample])


def test_mel_state_readout_reads_a_state_the_mel_carries_and_not_one_it_does_not():
    g = torch.Generator().manual_seed(0)

    def clips(n):
        mels, states = [], []
        for _ in range(n):
            st = torch.rand(12, 2, generator=g)  # column 0 sets the energy of bins 0-9, column 1 is nowhere
            mel = torch.randn(20, 12 * 16, generator=g) * 0.3
            mel[:10] += st[:, 0].repeat_interleave(16)
            mels.append(mel)
            states.append(st)
        return mels, states

    r2 = mel_state_readout(*clips(20), *clips(10))
    assert r2[0] > 0.95 and r2[1] < 0.1
    with pytest.raises(ValueError, match="the test set clip 0: mel"):
        mel_state_readout(*clips(2), [torch.zeros(20, 5)], [torch.zeros(12, 2)])
    with pytest.raises(ValueError, match="the training set needs as many"):
        mel_state_readout([], [], *clips(1))


def _sidecar(ceiling):
    seeds = {"still_visual": {"mouth_psnr": [21.0, 21.4, 20.8]}, "still_audio": {"mouth_psnr": [21.1, 20.9, 21.3]}}
    metrics = {"controls_seeds": seeds}
    if ceiling is not None:
        metrics["control_ceilings"] = {"audio_needed_when_mouth_still": ceiling}
    return {"config": {"preset": "course", "seed": 0}, "metrics": metrics}


def test_the_audit_says_when_a_control_could_not_have_been_seen():
    paper = load_tables("vfhgan")
    rec = next(r for r in audit_controls(paper, [_sidecar(0.3)]) if r["id"] == "audio_needed_when_mouth_still")
    assert not rec["detected"] and rec["ceiling"] == 0.3 and rec["too_small"]
    line = next(x for x in control_lines([rec]) if "audio_needed" in x)
    assert "at most +0.300" in line and "too small to be seen" in line
    big = next(r for r in audit_controls(paper, [_sidecar(50.0)]) if r["id"] == "audio_needed_when_mouth_still")
    assert big["too_small"] is False
    plain = next(r for r in audit_controls(paper, [_sidecar(None)]) if r["id"] == "audio_needed_when_mouth_still")
    assert "ceiling" not in plain and "too_small" not in plain
    # a claim it guards that the seeds refute is voided, and says why
    sc = _sidecar(0.3)
    sc["metrics"]["table1_seeds"] = {"no_audio": {"psnr": [25.0, 25.2, 24.9]}, "audio": {"psnr": [25.0, 25.1, 25.0]}}
    claim = next(c for c in audit_claims(paper, [sc], controls=[rec]) if c["id"] == "audio_improves_psnr")
    assert claim["verdict"] == "inconclusive"
    assert claim["void"] == "control audio_needed_when_mouth_still too small to be seen"


def test_control_ceilings_keep_the_smallest_bound_and_reject_non_numbers():
    assert control_ceilings([_sidecar(0.5), _sidecar(0.3), {"metrics": {}}]) == {"audio_needed_when_mouth_still": 0.3}
    with pytest.raises(ValueError, match="audio_needed_when_mouth_still"):
        control_ceilings([_sidecar("big")])


def test_the_benchmarks_oracle_audio_is_the_mouth_state_laid_out_as_a_mel_window():
    import importlib.util
    import types
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "vfhgan_audio_control.py"
    spec = importlib.util.spec_from_file_location("vfhgan_audio_control", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    T = 5
    jaw, spread, closed = torch.linspace(0, 1, T), torch.linspace(1, 0, T), (torch.arange(T) % 2).float()
    sample = types.SimpleNamespace(extras=dict(jaw=jaw, spread=spread, closed=closed), source="synthetic")
    ds = types.SimpleNamespace(clips=[dict(mel=torch.randn(80, T * 16), hr=None)])
    out = mod.oracle_audio(ds, [sample])
    mel = out.clips[0]["mel"]
    assert mel.shape == (80, T * 16) and ds.clips[0]["mel"] is not mel  # a copy: the input keeps its mel
    assert torch.equal(mel[0, ::16], jaw) and torch.equal(mel[30, 16 * 3:16 * 4], spread[3].expand(16))
    assert torch.equal(mel[79, ::16], closed)


def test_the_world_level_helpers_are_the_sample_level_measurements_of_a_synthetic_world():
    from avfh_core.config import setup
    from avfh_core.data import synth
    from avfh_core.reproduce.headroom import samples_still_headroom, windows_mel_readout, world_still_headroom
    from avfh_core.train import vfhgan

    cfg = setup("smoke", seed=0, device="cpu")
    world, still = synth.world(cfg), synth.world(cfg, mouth_motion=0.0)
    h = world_still_headroom(world, still, 3, 6)
    assert h == samples_still_headroom(world.dataset("test", n_clips=3), still.dataset("test", n_clips=3),
                                       fit_samples=world.dataset("train", n_clips=6),
                                       fit_still=still.dataset("train", n_clips=6))
    assert h.n_clips == 3 and h.articulation_mse > 0 and h.frame_mse > 0
    tr, te = vfhgan.window_data(cfg, "train"), vfhgan.window_data(cfg, "test")
    r2 = windows_mel_readout(tr, world.dataset("train", n_clips=cfg.n_train_clips), te,
                             world.dataset("test", n_clips=cfg.n_eval_clips))
    assert r2 == mel_state_readout([c["mel"] for c in tr.clips], mouth_states(world.dataset("train", n_clips=cfg.n_train_clips)),
                                   [c["mel"] for c in te.clips], mouth_states(world.dataset("test", n_clips=cfg.n_eval_clips)))
    assert len(r2) == 3
