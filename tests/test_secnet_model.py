"""SECNet networks (models/secnet.py) and their shared blocks (nn/flow.py, nn/convlstm.py)."""

import pytest
import torch
import torch.nn.functional as F

from avfh_core.models.secnet import ERFF, SECNet, SECNetConfig, param_counts
from avfh_core.nn.convlstm import BidirectionalCLSTM, ConvLSTMCell, OneWayCLSTM
from avfh_core.nn.flow import FlowNet, flow_loss, flow_warp, upsample_flow
from avfh_core.nn.init import build

TINY = dict(flow_width=4, lff_width=8, lff_blocks=1, widths=(4, 8, 8), res_blocks=2)


def test_flow_warp_integer_shift_is_exact():
    x = torch.rand(2, 3, 12, 10)
    flow = torch.zeros(2, 2, 12, 10)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # out(y, x) = in(y - 1, x + 2)
    out = flow_warp(x, flow)
    torch.testing.assert_close(out[:, :, 1:, :-2], x[:, :, :-1, 2:], rtol=0, atol=1e-6)
    torch.testing.assert_close(flow_warp(x, torch.zeros_like(flow)), x, rtol=0, atol=1e-6)


def test_flow_warp_and_upsample_errors():
    with pytest.raises(ValueError, match=r"flow must be \[B,2,H,W\]"):
        flow_warp(torch.rand(1, 3, 8, 8), torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="r must be a positive int"):
        upsample_flow(torch.zeros(1, 2, 4, 4), 0)
    up = upsample_flow(torch.ones(1, 2, 4, 4), 4)
    assert up.shape == (1, 2, 16, 16) and torch.allclose(up, torch.full_like(up, 4.0))


def test_flow_loss_zero_for_perfect_warp():
    x = torch.rand(1, 3, 8, 8)
    assert float(flow_loss(x, x.clone(), torch.zeros(1, 2, 8, 8))) == 0.0
    assert float(flow_loss(x, x, torch.randn(1, 2, 8, 8), alpha=0.01)) > 0


def test_flownet_shapes_and_errors():
    net = FlowNet(width=4, max_flow=2.0)
    f = net(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    assert f.shape == (2, 2, 8, 8) and f.abs().max() <= 4.0  # coarse + fine, each within max_flow
    with pytest.raises(ValueError, match="multiple of 4"):
        net(torch.rand(1, 3, 6, 6), torch.rand(1, 3, 6, 6))


def test_convlstm_cell_gates():
    cell = ConvLSTMCell(2, 3)
    x = torch.rand(1, 2, 5, 5)
    h, c = cell(x)
    i, f, g, o = cell.conv(torch.cat([x, torch.zeros(1, 3, 5, 5)], 1)).chunk(4, 1)
    torch.testing.assert_close(c, torch.sigmoid(i) * torch.tanh(g))  # C^0 = 0
    torch.testing.assert_close(h, torch.sigmoid(o) * torch.tanh(c))
    with pytest.raises(ValueError, match=r"x must be \[B,2,h,w\]"):
        cell(torch.rand(1, 3, 5, 5))


def test_bidirectional_modes_differ_only_in_forward_input():
    e = [torch.rand(1, 4, 3, 3) for _ in range(3)]
    casc, fused = BidirectionalCLSTM(4, "cascaded"), BidirectionalCLSTM(4, "fused")
    assert casc.forward_cell.in_ch == 4 and fused.forward_cell.in_ch == 8
    assert casc(e).shape == fused(e).shape == (1, 4, 3, 3)
    # T3 = 0 (one feature): one backward and one forward step on zero states
    hb, _ = casc.backward_cell(e[0])
    torch.testing.assert_close(casc(e[:1]), casc.forward_cell(hb)[0])
    one = OneWayCLSTM(4)
    out, state = one(e[0])
    torch.testing.assert_close(out, state[0])
    with pytest.raises(ValueError, match="window is empty"):
        casc([])


def test_config_validation():
    with pytest.raises(ValueError, match="sfe must be one of"):
        SECNetConfig(sfe="gru")
    with pytest.raises(ValueError, match="no network"):
        SECNetConfig(lff=False, erff=False)
    with pytest.raises(ValueError, match="t2 must be an int >= 0"):
        SECNetConfig(t2=-1)
    with pytest.raises(ValueError, match="power of 2"):
        SECNetConfig(scale=3)
    assert SECNetConfig.paper().t3 == 6 and SECNetConfig.paper().res_blocks == 8
    with pytest.raises(dataclasses_frozen_error()):
        SECNetConfig().t1 = 1  # type: ignore[misc]


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


@pytest.mark.parametrize("overrides", [
    {}, dict(sfe="oneway"), dict(sfe="cascaded", t3=1), dict(sfe="none", t2=0), dict(erff=False),
    dict(lff=False), dict(erff=False, t1=0), dict(erff=False, align=False), dict(attention="none", t2=3)])
def test_shapes_and_start_at_bicubic(overrides):
    """Every variant outputs [B,N,3,4h,4w] and, untrained, exactly the bicubic upsampling of each LR frame."""
    m = SECNet(SECNetConfig(**TINY, **overrides))
    lr = torch.rand(2, 4, 3, 8, 8)
    out = m(lr)
    assert out["sr"].shape == out["init"].shape == (2, 4, 3, 32, 32)
    bic = F.interpolate(lr.flatten(0, 1), scale_factor=4, mode="bicubic", align_corners=False).view(2, 4, 3, 32, 32)
    torch.testing.assert_close(out["sr"], bic, rtol=0, atol=1e-6)
    assert out["flow_loss"].ndim == 0


def test_gradient_reaches_every_part_but_rff_cuts_the_flow():
    m = SECNet(SECNetConfig(**TINY))
    out = m(torch.rand(1, 3, 3, 8, 8))
    (out["sr"] - 0.5).pow(2).mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.erff.parameters())
    assert m.lffnet.tail.weight.grad.abs().sum() > 0
    m.zero_grad(set_to_none=True)
    # ERFFNet: the flow only warps previous outputs (detached), so the SR loss gives the flow net no gradient
    e = SECNet(SECNetConfig(**TINY, lff=False))
    e(torch.rand(1, 3, 3, 8, 8))["sr"].pow(2).mean().backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in e.flow.parameters())


def test_bad_inputs():
    m = SECNet(SECNetConfig(**TINY))
    with pytest.raises(ValueError, match=r"lr must be \[B,N,3,h,w\]"):
        m(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="multiple of 4"):
        m(torch.rand(1, 2, 3, 6, 6))
    with pytest.raises(ValueError, match="ERFF: input must be"):
        ERFF(SECNetConfig(**TINY))(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="either a SECNetConfig or keyword"):
        SECNet(SECNetConfig(), t1=1)


def test_build_is_deterministic_per_seed():
    a = build(0, "secnet", lambda: SECNet(SECNetConfig(**TINY)))
    b = build(0, "secnet", lambda: SECNet(SECNetConfig(**TINY)))
    c = build(1, "secnet", lambda: SECNet(SECNetConfig(**TINY)))
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), k
    assert any(not torch.equal(p, r) for p, r in zip(a.state_dict().values(), c.state_dict().values(), strict=True))


def test_param_counts_parts_add_up():
    counts = param_counts(SECNetConfig(**TINY))
    assert counts["total"] == counts["flow"] + counts["lffnet"] + counts["erff"] > 0
    assert param_counts(SECNetConfig(**TINY, erff=False))["erff"] == 0
