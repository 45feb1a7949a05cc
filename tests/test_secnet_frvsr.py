"""The FRVSR baseline (models/secnet.py, train/secnet.py), Fig. 11's rising period and the RAVDESS stand-in."""

import pytest
import torch
import torch.nn.functional as F
import yaml

from avfh_core.config import setup
from avfh_core.data import synth
from avfh_core.models.secnet import FRVSR, FRVSRConfig
from avfh_core.reproduce.tables import load_tables
from avfh_core.train import secnet as S

TINY = dict(flow_width=4, width=8, blocks=1)


@pytest.fixture
def cfg():
    return setup("smoke", seed=0, device="cpu", hr_size=16, n_train_clips=3, secnet_eval_clips=2,
                 secnet_clip_frames=11, secnet_frames=3, secnet_batch=1)


def _lr(b=2, n=3, h=8, seed=0):
    return torch.rand(b, n, 3, h, h, generator=torch.Generator().manual_seed(seed))


def test_untrained_frvsr_is_bicubic_exactly():
    torch.manual_seed(0)
    net = FRVSR(FRVSRConfig(**TINY)).eval()
    lr = _lr()
    out = net(lr)
    assert out["sr"].shape == (2, 3, 3, 32, 32) and out["flow_loss"].ndim == 0
    bic = F.interpolate(lr.flatten(0, 1), scale_factor=4, mode="bicubic", align_corners=False).reshape(2, 3, 3, 32, 32)
    assert (out["sr"] - bic).abs().max() < 1e-6


def test_frvsr_is_causal_and_recurrent():
    torch.manual_seed(0)
    net = FRVSR(FRVSRConfig(**TINY))
    for p in net.parameters():  # leave the zero head: otherwise the previous estimate never reaches the output
        p.data.add_(0.05 * torch.randn_like(p))
    lr = _lr(b=1, n=3).requires_grad_(True)
    sr = net(lr)["sr"]
    g1 = torch.autograd.grad(sr[:, 1].sum(), lr, retain_graph=True)[0]  # frame 2's output
    assert g1[:, 0].abs().sum() > 0  # ... depends on frame 1's input (flow and the warped previous estimate)
    g0 = torch.autograd.grad(sr[:, 0].sum(), lr)[0]  # frame 1's output ...
    assert g0[:, 1:].abs().sum() == 0  # ... does not depend on later frames


def test_frvsr_config_and_input_errors():
    with pytest.raises(ValueError, match="FRVSRConfig.scale"):
        FRVSRConfig(scale=3)
    with pytest.raises(ValueError, match="FRVSRConfig.blocks"):
        FRVSRConfig(blocks=-1)
    with pytest.raises(ValueError, match="FRVSRConfig.max_flow"):
        FRVSRConfig(max_flow=0.0)
    with pytest.raises(ValueError, match="either a FRVSRConfig"):
        FRVSR(FRVSRConfig(), width=4)
    net = FRVSR(FRVSRConfig(**TINY))
    with pytest.raises(ValueError, match=r"lr must be \[B,N,3,h,w\]"):
        net(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="multiple of 4"):
        net(torch.rand(1, 2, 3, 6, 6))


def test_frvsr_run_sizes_and_errors(cfg):
    run = S.table2(cfg)["frvsr"]
    assert run.model == "frvsr" and run.steps is None  # cfg.secnet_steps, as SECNet's row
    c = run.frvsr_config(cfg)
    assert (c.flow_width, c.width, c.blocks) == (cfg.secnet_flow_width, cfg.secnet_lff_width, cfg.secnet_lff_blocks)
    assert S.SECNetRun.make("frvsr", net=dict(blocks=2)).frvsr_config(cfg).blocks == 2
    with pytest.raises(ValueError, match="unknown FRVSRConfig field"):
        S.SECNetRun(model="frvsr", net=(("t3", 2),))
    with pytest.raises(ValueError, match="use frvsr_config"):
        run.net_config(cfg)
    with pytest.raises(ValueError, match="not 'frvsr'"):
        S.table2(cfg)["secnet"].frvsr_config(cfg)


def test_frvsr_training_reduces_the_loss(cfg):
    run = S.SECNetRun.make("frvsr")
    trained = S.train(run, cfg, seed=0, steps=12)
    h = trained.log.history
    assert trained.log.steps_done == 12 and "gshare/L_sr" in h and "gshare/L_warp" in h
    first, last = sum(h["total"][:3]) / 3, sum(h["total"][-3:]) / 3
    assert last < first, (first, last)


def test_rise_frames_on_synthetic_curves():
    t = torch.arange(29, dtype=torch.float64)
    flat = torch.full((29,), 30.0, dtype=torch.float64)
    rising = 30.0 - 3.0 * torch.exp(-t / 3.0)  # within 0.05 dB of the plateau (last 9 frames) from frame 14 on
    plateau = rising[-9:].mean()
    expected = int((rising >= plateau - 0.05).to(torch.int64).argmax()) + 1
    got = S.rise_frames(torch.stack([flat, rising]))
    assert got.tolist() == [1.0, float(expected)] and expected == 14
    slower = 30.0 - 3.0 * torch.exp(-t / 6.0)
    assert S.rise_frames(slower) > S.rise_frames(rising)
    # a short clip: the plateau is the last third (12 frames -> last 4); a clip falling from its start has risen
    assert S.rise_frames(torch.tensor([20.0, 25.0, 29.0] + [30.0] * 9)).item() == 4.0
    assert S.rise_frames(torch.tensor([31.0, 30.0, 30.0, 30.0])).item() == 1.0
    with pytest.raises(ValueError, match="T >= 2"):
        S.rise_frames(torch.tensor([30.0]))
    with pytest.raises(ValueError, match="tol_db"):
        S.rise_frames(flat, tol_db=-1.0)


def test_cross_world_has_new_people_and_the_cross_table_the_yaml_rows(cfg):
    default, shifted = synth.world(cfg), synth.world(cfg, **S.CROSS_WORLD)
    a, b = default.identities("test"), shifted.identities("test")
    assert all((p.face_width, p.eye_spacing) != (q.face_width, q.eye_spacing) for p, q in zip(a, b, strict=False))
    assert shifted.config.utterance == "sentence" and shifted.config.max_yaw < default.config.max_yaw
    d0, d1 = S.test_data(cfg), S.test_data(cfg, S.CROSS_WORLD)
    assert not torch.equal(d0[0]["hr"], d1[0]["hr"])
    paper = load_tables("secnet")
    raw = yaml.safe_load(paper.source.read_text())
    cross_claims = [c for c in raw["claims"] if c["table"] == "table2_ravdess"]
    assert cross_claims and all("untestable" not in c for c in cross_claims)
    needed = {r for c in cross_claims for r in (c["a"], c["b"])}
    table = S.cross_table(cfg, n_seeds=1)
    assert needed <= set(table) and set(table) == set(S.table2(cfg))
    assert set(table["secnet"]) >= {"psnr", "ssim_vh", "ssim_vt", "rise_frames"}
    assert set(table) <= set(paper.tables["table2_ravdess"].rows)
    with pytest.raises(ValueError, match="must change at least one"):
        S.cross_table(cfg, world={})


def test_score_times_the_rise_on_the_gain_over_bicubic(cfg):
    data, idx = S.eval_set(S.table2(cfg)["bicubic"], cfg)
    batch = {k: (v[None] if isinstance(v, torch.Tensor) else v) for k, v in data[idx[0]].items()}
    bic = S.predict(S.init(S.table2(cfg)["bicubic"], cfg, seed=0), batch)
    assert S.score(bic, batch, cfg)["rise_frames"].tolist() == [1.0]  # no recurrence: flat gain, risen at once
    # a model whose error fades over the first frames (as a recurrent one) rises later
    t = batch["hr"].shape[1]
    fade = torch.linspace(1.0, 0.0, t).clamp(min=0.0)[None, :, None, None, None]
    late = (batch["hr"] + (bic - batch["hr"]) * (0.3 + 0.7 * fade)).clamp(0, 1)
    assert S.score(late, batch, cfg)["rise_frames"].item() > 1.0


def test_fig11_table_times_the_mean_gain_curve(cfg):
    table = S.fig11_table(cfg, n_seeds=1)
    assert set(table) == set(S.FIG11_ROWS) and all(set(v) == {"psnr_rise", "rise_frames"} for v in table.values())
    assert all(1.0 <= v["rise_frames"][0] <= cfg.secnet_clip_frames for v in table.values())
    # an untrained model is bicubic: its gain curve is 0 at every frame
    run = S.table2(cfg)["frvsr"]
    data, idx = S.eval_set(run, cfg)
    gain = S.gain_curve(S.init(run, cfg, seed=0), data, idx, cfg)
    assert gain.shape == (cfg.secnet_clip_frames,) and gain.abs().max() < 1e-3
    assert S.rise_frames(gain).item() == 1.0
    paper = load_tables("secnet")
    assert set(S.FIG11_ROWS) == set(paper.tables["fig11"].rows)
