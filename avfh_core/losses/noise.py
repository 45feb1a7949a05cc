"""The noise-resilience loss of Eskimez et al., "End-to-end generation of talking faces from noisy speech" (ICASSP
2020, section 3.2): the MSE between the speech encoder's features of the clean and the noisy version of the same
speech. Which branch receives the gradient is not said; by default the clean features are the (detached) target, so
the encoder cannot satisfy the loss by collapsing both to a constant.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def noise_resilience_loss(encoder: Callable[[torch.Tensor], torch.Tensor], clean: torch.Tensor,
                          noisy: torch.Tensor, *, detach_clean: bool = True) -> torch.Tensor:
    """MSE between encoder(clean) and encoder(noisy) (Eskimez et al. section 3.2, after their ref. [12])."""
    if clean.shape != noisy.shape:
        raise ValueError(f"clean and noisy must have the same shape, got {tuple(clean.shape)} and {tuple(noisy.shape)}")
    target = encoder(clean)
    if detach_clean:
        target = target.detach()
    return F.mse_loss(encoder(noisy), target)
