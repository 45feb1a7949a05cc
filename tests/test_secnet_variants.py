"""SECNet's Table IV alternative temporal fusion modules (sfe = brcn, nonlocal, flowguided) and Table V's
non-local attention (models/secnet.py), and their table rows (train/secnet.py)."""

import pytest
import torch
import torch.nn.functional as F

from avfh_core.config import setup
from avfh_core.models.secnet import (
    ERFF,
    BRCNBidirectional,
    BRCNCell,
    FlowGuidedAggregation,
    NonLocal,
    NonLocalTemporal,
    SECNet,
    SECNetConfig,
    flow_to_scale3,
)
from avfh_core.nn.flow import flow_warp
from avfh_core.train import secnet as S

TINY = dict(flow_width=4, lff_width=8, lff_blocks=1, widths=(4, 8, 8), res_blocks=2)
VARIANTS = [dict(sfe="brcn"), dict(sfe="nonlocal", t3=2), dict(sfe="flowguided", t3=2),
            dict(sfe="flowguided", t3=3, t2=1), dict(sfe="nonlocal", t2=0, t3=1), dict(attention="nonlocal"),
            dict(attention="nonlocal", res_blocks=3), dict(sfe="flowguided", t3=2, lff=False)]


def _randomise_erff(m: SECNet) -> None:
    """Make the untrained ERFF non-trivial: every conv gets N(0, 1 / fan_in) weights (the zero-initialised output
    convs included; the default init of these tiny widths leaves the third-scale features nearly constant)."""
    g = torch.Generator().manual_seed(0)
    for mod in m.erff.modules():
        if isinstance(mod, torch.nn.Conv2d):
            with torch.no_grad():
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) / fan_in ** 0.5)


@pytest.mark.parametrize("overrides", VARIANTS)
def test_variant_shapes_and_start_at_bicubic(overrides):
    m = SECNet(SECNetConfig(**{**TINY, **overrides}))
    lr = torch.rand(2, 4, 3, 8, 8)
    out = m(lr)
    assert out["sr"].shape == (2, 4, 3, 32, 32)
    bic = F.interpolate(lr.flatten(0, 1), scale_factor=4, mode="bicubic", align_corners=False).view(2, 4, 3, 32, 32)
    torch.testing.assert_close(out["sr"], bic, rtol=0, atol=1e-6)


@pytest.mark.parametrize("sfe", ["brcn", "nonlocal", "flowguided"])
def test_temporal_sfes_use_past_frames_and_are_causal(sfe):
    torch.manual_seed(0)
    m = SECNet(SECNetConfig(**TINY, sfe=sfe, t3=2, t2=0, lff=False)).eval()  # t2 = 0: only the SFE sees the past
    _randomise_erff(m)
    lr = torch.rand(1, 4, 3, 8, 8)
    with torch.no_grad():
        base = m(lr)["sr"]
        past = lr.clone()
        past[:, 1] = 0.0  # frame t-1 of t = 2, black (a new random frame has the same mean: too weak for the
        # nearly uniform attention of an untrained non-local block)
        future = lr.clone()
        future[:, 3] = torch.rand(1, 3, 8, 8)  # frame t+1 of t = 2
        out_past, out_future = m(past)["sr"], m(future)["sr"]
    assert (out_past[:, 2] - base[:, 2]).abs().max() > 1e-4  # frame t uses frame t-1
    torch.testing.assert_close(out_future[:, :3], base[:, :3], rtol=0, atol=0)  # and never frame t+1


def test_flowguided_weights_sum_to_one_and_zero_flow_is_plain_average_of_equal_frames():
    agg = FlowGuidedAggregation(6)
    window = [torch.rand(2, 6, 5, 7) for _ in range(3)]
    flows = [torch.randn(2, 2, 5, 7) for _ in range(2)]
    w = agg.weights(window, flows)
    assert w.shape == (2, 3, 1, 5, 7) and (w >= 0).all()
    torch.testing.assert_close(w.sum(1), torch.ones(2, 1, 5, 7))
    out = agg(window, flows)
    aligned = [window[2], flow_warp(window[1], flows[0]), flow_warp(window[0], flows[1])]
    torch.testing.assert_close(out, (w * torch.stack(aligned, 1)).sum(1))
    same = [window[0]] * 3  # identical frames and zero flows: equal weights, the output is the frame
    zero = [torch.zeros(2, 2, 5, 7)] * 2
    torch.testing.assert_close(agg.weights(same, zero), torch.full((2, 3, 1, 5, 7), 1 / 3))
    torch.testing.assert_close(agg(same, zero), window[0])
    torch.testing.assert_close(agg(window[:1]), window[0])  # no past frame: the current feature
    with pytest.raises(ValueError, match="2 past features need 2 flows"):
        agg(window, flows[:1])
    with pytest.raises(ValueError, match="window is empty"):
        agg([])


def test_flow_to_scale3():
    f = torch.ones(1, 2, 8, 8)
    assert flow_to_scale3(f, 4) is f
    half = flow_to_scale3(f, 2)
    assert half.shape == (1, 2, 4, 4) and torch.allclose(half, torch.full_like(half, 0.5))
    double = flow_to_scale3(f, 8)
    assert double.shape == (1, 2, 16, 16) and torch.allclose(double, torch.full_like(double, 2.0))
    with pytest.raises(ValueError, match=r"flow must be \[B,2,h,w\]"):
        flow_to_scale3(torch.ones(1, 3, 8, 8), 4)


def test_flowguided_needs_flows_of_the_past_features():
    c = SECNetConfig(**TINY, sfe="flowguided", t3=3, t2=1)
    assert c.offsets() == [-3, -2, -1, 1, 2] and c.uses_flow  # T3 > T2: F^(t->t-3) computed directly
    assert SECNetConfig(**TINY, sfe="flowguided", t3=2, t2=0, lff=False).offsets() == [-2, -1]
    assert SECNetConfig(**TINY, sfe="nonlocal", t3=3, t2=1).offsets() == [-2, -1, 1, 2]  # no flow in non-local
    erff = ERFF(SECNetConfig(**TINY, sfe="flowguided", t3=2))
    x = torch.rand(1, 9, 16, 16)
    _, state = erff(x, None)  # the first frame has no past features: no flow needed
    with pytest.raises(ValueError, match="1 past features need 1 flows"):
        erff(x, state)


def test_flowguided_cuts_the_flow_gradient():
    """Like rff, the flow-guided SFE warps with a detached flow: ERFFNet's SR loss gives the flow net no gradient."""
    m = SECNet(SECNetConfig(**TINY, sfe="flowguided", t3=2, lff=False))
    _randomise_erff(m)
    m(torch.rand(1, 3, 3, 8, 8))["sr"].pow(2).mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.erff.sfe.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in m.flow.parameters())


def test_nonlocal_attention_rows_sum_to_one_and_block_starts_as_identity():
    nl = NonLocal(8)
    q, k = torch.rand(2, 8, 3, 4), torch.rand(2, 8, 3, 4)
    a = nl.attention(q, [q, k])
    assert a.shape == (2, 12, 24)
    torch.testing.assert_close(a.sum(-1), torch.ones(2, 12))
    torch.testing.assert_close(nl(q, [q, k]), q)  # zero output conv
    torch.nn.init.normal_(nl.out.weight)
    assert (nl(q, [q, k]) - q).abs().max() > 1e-4
    with pytest.raises(ValueError, match="queries and keys must be"):
        nl(q, [torch.rand(2, 8, 5, 5)])
    with pytest.raises(ValueError, match="keys is empty"):
        nl(q, [])
    with pytest.raises(ValueError, match="window is empty"):
        NonLocalTemporal(8)([])


def test_nonlocal_attention_placement_and_no_spatial_maps():
    erff = ERFF(SECNetConfig(**TINY, attention="nonlocal"))
    assert isinstance(erff.nonlocal_enc, NonLocal) and isinstance(erff.nonlocal_dec, NonLocal)
    assert all(getattr(m, "att", None) is None for m in erff.modules())  # no spatial map in any residual block
    spatial = ERFF(SECNetConfig(**TINY))
    assert spatial.nonlocal_enc is None and any(getattr(m, "att", None) is not None for m in spatial.modules())


def test_brcn_cell_and_scheme():
    cell = BRCNCell(3, 4)
    x0, x1 = torch.rand(1, 3, 5, 5), torch.rand(1, 3, 5, 5)
    h0, s0 = cell(x0)
    torch.testing.assert_close(h0, F.relu(cell.feedforward(x0)))  # zero state: the feed-forward conv only
    h1, _ = cell(x1, (h0, s0))
    torch.testing.assert_close(h1, F.relu(cell.feedforward(x1) + cell.recurrent(h0) + cell.conditional(x0)))
    with pytest.raises(ValueError, match=r"x must be \[B,3,h,w\]"):
        cell(torch.rand(1, 4, 5, 5))
    with pytest.raises(ValueError, match="odd kernel"):
        BRCNCell(3, 4, kernel=2)
    bi = BRCNBidirectional(4)
    assert isinstance(bi.scheme.backward_cell, BRCNCell) and bi.scheme.forward_cell.in_ch == 8
    assert bi([torch.rand(1, 4, 3, 3) for _ in range(3)]).shape == (1, 4, 3, 3)


def test_bad_configs_are_named():
    with pytest.raises(ValueError, match="sfe must be one of"):
        SECNetConfig(sfe="gru")
    with pytest.raises(ValueError, match="attention must be one of"):
        SECNetConfig(attention="channel")
    with pytest.raises(ValueError, match="channels and inner must be >= 1"):
        NonLocal(0)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        FlowGuidedAggregation(0)


def test_rows_of_the_new_variants():
    cfg = setup("smoke", device="cpu")
    t4, t5 = S.table4(cfg), S.table5(cfg)
    for row, sfe, t3 in (("rff_brcn_unit", "brcn", cfg.secnet_t3), ("rff_nonlocal_t2", "nonlocal", 2),
                         ("rff_flowguided_t2", "flowguided", 2)):
        c = t4[row].net_config(cfg)
        assert (c.sfe, c.t3, c.attention, c.t2) == (sfe, t3, "none", 2), row
    assert t5["nonlocal"].net_config(cfg).attention == "nonlocal"
