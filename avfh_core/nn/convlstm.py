"""ConvLSTM (SECNet eq. 5, no peephole terms) and the sequential feature encoders of SECNet sec. II-C3:
one-way (Alg. 1, eq. 6), cascaded bidirectional (Alg. 2, eqs. 7-8) and fused bidirectional (Alg. 3, eq. 9).

"Bidirectional" in SECNet is bidirectional *within the causal window* of the current and at most T3 past features
(the backward pass starts at the current frame), so the model stays online. Typos of the extracted text and the
reading taken here: eq. (8)'s "H_f^1" is H_f^t (Alg. 2 line 8); eq. (9)'s H_f^{k+1} is H_f^{k-1} (Alg. 3 line 6);
the cascaded forward pass takes H_b^k only (eq. 8 and Fig. 3's caption; Alg. 2 line 6 as extracted feeds [H_b, E],
which would make it the fused variant).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn


class ConvLSTMCell(nn.Module):
    """Eq. (5): gates i, f, o = sigmoid, candidate g = tanh, all from one conv (k x k) of [E, H_prev];
    C = f * C_prev + i * g; H = o * tanh(C). forward(x [B,Cin,h,w], state (H, C) or None = zeros) -> (H, C)."""

    def __init__(self, in_ch: int, hidden: int, kernel: int = 3):
        super().__init__()
        if in_ch < 1 or hidden < 1 or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"ConvLSTMCell: in_ch, hidden >= 1 and an odd kernel, got {in_ch}, {hidden}, {kernel}")
        self.in_ch, self.hidden = in_ch, hidden
        self.conv = nn.Conv2d(in_ch + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        if x.ndim != 4 or x.shape[1] != self.in_ch:
            raise ValueError(f"ConvLSTMCell: x must be [B,{self.in_ch},h,w], got {tuple(x.shape)}")
        if state is None:
            z = x.new_zeros(x.shape[0], self.hidden, *x.shape[-2:])
            state = (z, z)
        h, c = state
        i, f, g, o = self.conv(torch.cat([x, h], 1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class OneWayCLSTM(nn.Module):
    """Alg. 1: (H^t, C^t) = ConvLSTM(H^{t-1}, C^{t-1}, E^t), state carried over the whole sequence (zeros at t = 1);
    the enhanced feature is H^t. forward(e, state) -> (H^t, new state)."""

    def __init__(self, channels: int):
        super().__init__()
        self.cell = ConvLSTMCell(channels, channels)

    def forward(self, e: torch.Tensor, state=None):
        h, c = self.cell(e, state)
        return h, (h, c)


class BidirectionalCLSTM(nn.Module):
    """Algs. 2 and 3 over a window of features [E^{t-T_t+1}, ..., E^t] (oldest first, T_t = min(t, T3+1)):
    backward pass from the current frame back (zero init), then a forward pass from the oldest to the current frame
    (zero init) whose input is H_b^k ("cascaded") or [H_b^k, E^k] ("fused"); the enhanced feature is H_f^t.
    Recomputed every frame (no state across frames): 2 T_t cell steps per frame."""

    def __init__(self, channels: int, mode: str = "fused"):
        super().__init__()
        if mode not in ("cascaded", "fused"):
            raise ValueError(f"BidirectionalCLSTM: mode must be 'cascaded' or 'fused', got {mode!r}")
        self.mode = mode
        self.backward_cell = ConvLSTMCell(channels, channels)
        self.forward_cell = ConvLSTMCell(channels * (2 if mode == "fused" else 1), channels)

    def forward(self, window: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(window) == 0:
            raise ValueError("BidirectionalCLSTM: the feature window is empty (it holds at least the current frame)")
        state = None
        hb: list[torch.Tensor] = [None] * len(window)  # type: ignore[list-item]
        for k in range(len(window) - 1, -1, -1):
            state = self.backward_cell(window[k], state)
            hb[k] = state[0]
        state = None
        for k in range(len(window)):
            x = hb[k] if self.mode == "cascaded" else torch.cat([hb[k], window[k]], 1)
            state = self.forward_cell(x, state)
        return state[0]


__all__ = ["BidirectionalCLSTM", "ConvLSTMCell", "OneWayCLSTM"]
