"""SECNet's oracle-flow diagnostic: the model with ground-truth flows (models/secnet.py), its rows and the flow
network's end-point error (train/secnet.py)."""

import math

import pytest
import torch
import torch.nn.functional as F

from avfh_core.config import setup
from avfh_core.data.gtflow import FlowItems
from avfh_core.models.secnet import SECNet, SECNetConfig
from avfh_core.train import secnet as S
from avfh_core.train.evaluate import evaluate

TINY = dict(flow_width=4, lff_width=8, lff_blocks=1, widths=(4, 8, 8), res_blocks=2)


@pytest.fixture
def cfg():
    return setup("smoke", seed=0, device="cpu", hr_size=32, n_train_clips=2, secnet_eval_clips=1,
                 secnet_clip_frames=11, secnet_frames=3, secnet_batch=1, secnet_steps=2, secnet_ablation_steps=1)


def test_an_oracle_model_has_no_flow_network_and_starts_at_bicubic():
    lr = torch.rand(2, 3, 3, 8, 8)
    gt = torch.randn(2, 3, 4, 2, 8, 8)
    for extra in (dict(erff=False), {}):
        m = SECNet(SECNetConfig(oracle_flow=True, **TINY, **extra))
        assert m.flow is None
        out = m(lr, gt_flow=gt)
        bic = F.interpolate(lr.flatten(0, 1), scale_factor=4, mode="bicubic", align_corners=False)
        torch.testing.assert_close(out["sr"].flatten(0, 1), bic)
        assert float(out["flow_loss"]) == 0.0 and not out["flow_loss"].requires_grad


def test_the_oracle_model_fuses_by_the_flows_it_is_given():
    torch.manual_seed(0)
    m = SECNet(SECNetConfig(oracle_flow=True, erff=False, **TINY))
    with torch.no_grad():  # a non-zero output head, so the fused window reaches the output
        for p in m.lffnet.parameters():
            p.add_(0.1 * torch.randn_like(p))
    lr = torch.rand(1, 3, 3, 8, 8)
    with torch.no_grad():
        a = m(lr, gt_flow=torch.zeros(1, 3, 4, 2, 8, 8))["sr"]
        b = m(lr, gt_flow=torch.full((1, 3, 4, 2, 8, 8), 0.7))["sr"]
    assert float((a - b).abs().max()) > 1e-4


def test_oracle_flow_inputs_are_checked():
    lr = torch.rand(1, 3, 3, 8, 8)
    oracle = SECNet(SECNetConfig(oracle_flow=True, **TINY))
    with pytest.raises(ValueError, match="needs gt_flow"):
        oracle(lr)
    with pytest.raises(ValueError, match="K even"):
        oracle(lr, gt_flow=torch.zeros(1, 3, 3, 2, 8, 8))
    with pytest.raises(ValueError, match=r"covers offsets \+-1"):
        oracle(lr, gt_flow=torch.zeros(1, 3, 2, 2, 8, 8))
    with pytest.raises(ValueError, match="for an oracle_flow model"):
        SECNet(SECNetConfig(**TINY))(lr, gt_flow=torch.zeros(1, 3, 4, 2, 8, 8))


def test_oracle_rows_train_and_score_with_ground_truth_flows(cfg):
    rows = S.oracle(cfg)
    assert set(rows) == {"lffnet", "lffnet_oracle", "secnet", "secnet_oracle", "strong/srrescnn", "strong/lffnet",
                         "strong/lffnet_oracle"}
    assert rows["lffnet"] == S.table2(cfg)["lffnet"] and rows["strong/lffnet"] == S.motion(cfg)["strong/lffnet"]
    assert S.flow_reach(rows["secnet_oracle"], cfg) == 2 and S.flow_reach(rows["secnet"], cfg) == 0
    run = rows["secnet_oracle"]
    tr = S.train(run, cfg, seed=0)
    data, idx = S.eval_set(run, cfg)
    assert isinstance(data, FlowItems)
    scores = evaluate(S.predict, S.score, tr.models, data, idx, cfg)
    assert math.isfinite(scores["psnr"])
    item = S.test_data(cfg)[0]
    with pytest.raises(ValueError, match="needs the batch's ground-truth flows"):
        S.predict(tr.models, {k: v[None] for k, v in item.items() if isinstance(v, torch.Tensor)})


def test_flow_epe_of_a_flow_network_and_of_zero_flow(cfg):
    data = S.test_data(cfg, None, 2)
    rows = S.table2(cfg)
    net = S.init(rows["lffnet"], cfg, seed=0)
    epe = S.flow_epe(net, data, [0], cfg)
    assert epe["epe_zero"] > 0 and math.isfinite(epe["epe"])
    with torch.no_grad():  # a flow network that outputs exactly zero has the EPE of zero flow
        for p in net["secnet"].flow.parameters():
            p.zero_()
    torch.testing.assert_close(S.flow_epe(net, data, [0], cfg)["epe"], epe["epe_zero"])
    assert math.isnan(S.flow_epe(S.init(rows["srrescnn"], cfg, seed=0), data, [0], cfg)["epe"])
    with pytest.raises(ValueError, match="must be a data.gtflow.FlowItems"):
        S.flow_epe(net, S.test_data(cfg), [0], cfg)
