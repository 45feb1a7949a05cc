"""Shared building blocks (torch only)."""

from avfh_core.nn.blocks import (
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

__all__ = [
    "AxialAttention",
    "DepthwiseSEAttention",
    "MixNetBlock",
    "MixedDepthwiseConv",
    "MultiKernelConv",
    "PHFEBlock",
    "PixelShuffleUpsampler",
    "ResidualBlock",
    "SqueezeExcitation",
    "count_parameters",
]
