"""Shapes, gradients and the semantics of the shared blocks (avfh_core.nn)."""

import pytest
import torch

from avfh_core.nn import (
    AxialAttention,
    DepthwiseSEAttention,
    MixedDepthwiseConv,
    MixNetBlock,
    MultiKernelConv,
    PHFEBlock,
    PixelShuffleUpsampler,
    ResidualBlock,
    SqueezeExcitation,
    count_parameters,
)


@pytest.mark.parametrize(
    "block",
    [
        lambda: MultiKernelConv(8, 8),
        lambda: DepthwiseSEAttention(8),
        lambda: PHFEBlock(8),
        lambda: MixNetBlock(8),
        lambda: MixedDepthwiseConv(8, (3, 5, 7)),
        lambda: AxialAttention(8, heads=2),
        lambda: ResidualBlock(8),
        lambda: SqueezeExcitation(8),
    ],
)
def test_shape_preserving_blocks_keep_shape_and_pass_gradient(block):
    torch.manual_seed(0)
    m = block()
    x = torch.randn(2, 8, 6, 5, requires_grad=True)
    y = m(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


def test_multi_kernel_uses_the_four_kernel_sizes():
    m = MultiKernelConv(3, 16)
    assert [b.kernel_size[0] for b in m.branches] == [1, 3, 5, 7]
    assert m(torch.zeros(1, 3, 9, 9)).shape == (1, 16, 9, 9)


def test_squeeze_excitation_gates_are_per_channel_in_unit_interval():
    se = SqueezeExcitation(6)
    x = torch.randn(3, 6, 4, 4)
    g = se.gates(x)
    assert g.shape == (3, 6, 1, 1)
    assert bool(((g > 0) & (g < 1)).all())
    torch.testing.assert_close(se(x), x * g)


def test_depthwise_conv_is_grouped():
    m = DepthwiseSEAttention(12)
    assert m.depthwise.groups == 12


def test_axial_attention_mixes_along_columns_then_rows():
    torch.manual_seed(0)
    m = AxialAttention(4, heads=1).eval()
    x = torch.randn(1, 4, 5, 5)
    x2 = x.clone()
    x2[..., 2, 2] += 5.0  # perturb one position

    def hops(t):  # without the global GroupNorm, which would spread any change everywhere
        h = t + m._attend(t, m.qkv_h, m.out_h, "h")
        return h, h + m._attend(h, m.qkv_w, m.out_w, "w")

    (h1, y1), (h2, y2) = hops(x), hops(x2)
    changed1 = (h2 - h1).abs().sum(1)[0] > 1e-6
    assert changed1[:, 2].all() and not changed1[:, [0, 1, 3, 4]].any()  # the height pass: its column only
    assert ((y2 - y1).abs().sum(1)[0] > 1e-6).all()  # the width pass: everywhere


def test_axial_attention_rejects_bad_heads():
    with pytest.raises(ValueError, match="heads"):
        AxialAttention(6, heads=4)


def test_mixnet_kernel_groups():
    m = MixNetBlock(8, kernels=((3, 5), (3, 5, 7)))
    assert [c.kernel_size[0] for c in m.mixes[0].convs] == [3, 5]
    assert [c.kernel_size[0] for c in m.mixes[1].convs] == [3, 5, 7]
    assert sum(m.mixes[1].splits) == 16


def test_pixel_shuffle_upsampler_scales():
    up = PixelShuffleUpsampler(4, 4)
    assert up(torch.zeros(2, 4, 8, 8)).shape == (2, 4, 32, 32)
    with pytest.raises(ValueError, match="power of two"):
        PixelShuffleUpsampler(4, 3)


def test_bad_channels_is_a_clear_error():
    with pytest.raises(ValueError, match="channels"):
        ResidualBlock(0)
    with pytest.raises(ValueError, match="kernels"):
        MultiKernelConv(3, 8, kernels=(2,))


def test_count_parameters():
    assert count_parameters(torch.nn.Linear(3, 2)) == 8
