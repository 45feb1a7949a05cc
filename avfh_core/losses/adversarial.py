"""Adversarial losses, generator and discriminator sides, on raw discriminator outputs (logits / critic scores).

- vanilla, non-saturating (Goodfellow et al. 2014; VividGAN's L_D / L_adv, its eqs. 7-8 as the usual
  non-saturating variant): D minimises -log D(x) - log(1 - D(G(z))), G minimises -log D(G(z));
- LSGAN (Mao et al. 2017), which VFH-GAN's released code and Eskimez et al. (section 3.2) use:
  D minimises 0.5 [(D(x) - 1)^2 + D(G(z))^2], G minimises 0.5 (D(G(z)) - 1)^2;
- WGAN-GP (Gulrajani et al. 2017): D (the critic) minimises D(G(z)) - D(x) + lambda (||grad D(x_hat)|| - 1)^2 on
  random interpolates x_hat, G minimises -D(G(z)).
Every loss is a mean over all elements of the output, so patch discriminators ([B, 1, h, w]) work unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def _check(*named: tuple[str, torch.Tensor]) -> None:
    for name, t in named:
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a float tensor of discriminator outputs, got {type(t).__name__}")
        if torch.isnan(t).any():
            raise ValueError(f"{name} contains NaN (did the discriminator diverge?)")


def vanilla_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))), computed stably from logits."""
    _check(("real_logits", real_logits), ("fake_logits", fake_logits))
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def vanilla_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log sigmoid(D(G(z)))."""
    _check(("fake_logits", fake_logits))
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def lsgan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """LSGAN discriminator: 0.5 [(D(x) - 1)^2 + D(G(z))^2]."""
    _check(("real_logits", real_logits), ("fake_logits", fake_logits))
    return 0.5 * ((real_logits - 1) ** 2).mean() + 0.5 * (fake_logits**2).mean()


def lsgan_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """LSGAN generator: 0.5 (D(G(z)) - 1)^2."""
    _check(("fake_logits", fake_logits))
    return 0.5 * ((fake_logits - 1) ** 2).mean()


def wgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic: D(G(z)) - D(x) (add gradient_penalty for WGAN-GP)."""
    _check(("real_scores", real_scores), ("fake_scores", fake_scores))
    return fake_scores.mean() - real_scores.mean()


def wgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN generator: -D(G(z))."""
    _check(("fake_scores", fake_scores))
    return -fake_scores.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP: weight * E[(||grad_x_hat D(x_hat)||_2 - 1)^2], x_hat = eps x + (1 - eps) G(z), eps ~ U(0,1) per sample.

    Differentiable in the critic's parameters (create_graph=True). `fake` is detached: the penalty trains D only.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    eps = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.reshape(grad.shape[0], -1).norm(2, dim=1)
    return weight * ((norm - 1) ** 2).mean()


LOSSES = {
    "vanilla": (vanilla_d_loss, vanilla_g_loss),
    "lsgan": (lsgan_d_loss, lsgan_g_loss),
    "wgan-gp": (wgan_d_loss, wgan_g_loss),
}


def get(kind: str) -> tuple[Callable, Callable]:
    """(d_loss, g_loss) for kind in {'vanilla', 'lsgan', 'wgan-gp'} (WGAN-GP: add gradient_penalty to d_loss)."""
    if kind not in LOSSES:
        raise ValueError(f"unknown adversarial loss {kind!r}; choose one of {list(LOSSES)}")
    return LOSSES[kind]
