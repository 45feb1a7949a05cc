"""The frequency losses of VFH-GAN (Sharma et al. 2022, section 3.2.2, eqs. 6-10), with the semantics of the focal
frequency loss (Jiang et al., ICCV 2021; PyPI `focal-frequency-loss` 0.3.0) that the authors' code uses.

eqs. 6-7: the 2-D DFT F(u, v) = sum_x sum_y P(x, y) (cos 2 pi (ux/w + vy/h) - i sin 2 pi (ux/w + vy/h)), one per
          frame of the window t-j..t+j, for the ground truth and the generated frames;
eq. 8:    L_freq = 1/(wh) sum_u sum_v |F(u, v) - F*(u, v)|^2;
eq. 9:    a weight matrix m(u, v) = |F(u, v) - F*(u, v)| "having range [0, 1]";
eq. 10:   L*_freq = 1/(wh) sum_u sum_v m(u, v) ||F(u, v) - F*(u, v)||.

Where the text is ambiguous, and what we chose (the focal frequency loss, which the released code calls):
- eq. 9 says m lies in [0, 1] without saying how: |dF| is unbounded. We raise it to alpha, optionally take
  log(1 + .), divide by its maximum per image and channel (or over the batch), clamp to [0, 1] and detach it
  (it is a weight, not a path for gradients). Its sentence "weights near 0 signify the frequencies with more
  weightage" reads backwards: with this normalisation the hardest frequency (largest error) has weight 1.
- eq. 10 as printed multiplies m by |dF| (not squared); the focal frequency loss uses |dF|^2, which makes
  alpha = 0 equal the pixel MSE (Parseval). We use |dF|^2 by default; `squared=False` gives the printed form.
- eqs. 6-7 are unnormalised; the focal frequency loss uses the orthonormal DFT (1/sqrt(wh)), which only rescales
  the loss by wh. `dft_loss` keeps the paper's unnormalised eq. 8 (= the sum of squared pixel errors, by Parseval)
  and offers norm="ortho" (= the pixel MSE).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a float tensor, got {getattr(t, 'dtype', type(t).__name__)}")
        if t.ndim != 4:
            raise ValueError(f"{name} must be [N, C, H, W] (fold the window into N), got shape {tuple(t.shape)}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")


def _fft_dtype(x: torch.Tensor) -> torch.Tensor:
    """FFTs need float32/float64: half precision (e.g. a bf16-autocast output) is computed in float32."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def dft2_naive(x: torch.Tensor) -> torch.Tensor:
    """VFH-GAN eq. 6 written as the literal double sum, for checking torch.fft.fft2 on small images.

    x: [..., h, w] real; returns complex [..., h, w] with F[..., v, u] = sum_x sum_y x[y, x] e^{-2 pi i (ux/w + vy/h)}.
    O(h^2 w^2): only for tiny images.
    """
    h, w = x.shape[-2:]
    xd = x.to(torch.float64)
    out = torch.zeros(*x.shape, dtype=torch.complex128)
    ys = torch.arange(h, dtype=torch.float64).view(h, 1)
    xs = torch.arange(w, dtype=torch.float64).view(1, w)
    for v in range(h):
        for u in range(w):
            phase = 2 * math.pi * (u * xs / w + v * ys / h)
            re = (xd * torch.cos(phase)).sum(dim=(-2, -1))
            im = -(xd * torch.sin(phase)).sum(dim=(-2, -1))
            out[..., v, u] = torch.complex(re, im)
    return out


def dft_loss(pred: torch.Tensor, target: torch.Tensor, *, norm: str = "backward") -> torch.Tensor:
    """VFH-GAN eq. 8: 1/(wh) sum_{u,v} |F - F*|^2 per image and channel, averaged over N and C.

    norm="backward": the paper's unnormalised DFT (eqs. 6-7), which equals the per-image sum of squared pixel
    errors (Parseval); norm="ortho": the orthonormal DFT, which equals the pixel MSE.
    """
    _check_pair(pred, target)
    if norm not in ("backward", "ortho"):
        raise ValueError(f"norm must be 'backward' (the paper's eqs. 6-7) or 'ortho', got {norm!r}")
    d = torch.fft.fft2(_fft_dtype(pred - target), norm=norm)  # the DFT is linear: F - F* = DFT(P - P*)
    return (d.real**2 + d.imag**2).mean()


class FocalFrequencyLoss(nn.Module):
    """VFH-GAN eqs. 9-10 with focal-frequency-loss semantics (equal to the 0.3.0 package for every option).

    F = ortho 2-D DFT of each of patch_factor^2 patches; W = |F - F*|^alpha (log(1 + W) if log_matrix), divided by
    its max per (image, patch, channel) or over the batch (batch_matrix), NaN -> 0, clamped to [0, 1], detached;
    loss = loss_weight * mean(W * |F - F*|^2). ave_spectrum averages the spectra over the batch first.
    squared=False uses |F - F*| as eq. 10 is printed (not the package's behaviour).
    """

    def __init__(self, alpha: float = 1.0, log_matrix: bool = False, patch_factor: int = 1,
                 batch_matrix: bool = False, ave_spectrum: bool = False, loss_weight: float = 1.0,
                 squared: bool = True):
        super().__init__()
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        if not isinstance(patch_factor, int) or patch_factor < 1:
            raise ValueError(f"patch_factor must be a positive int, got {patch_factor!r}")
        self.alpha, self.log_matrix, self.patch_factor = alpha, log_matrix, patch_factor
        self.batch_matrix, self.ave_spectrum, self.loss_weight, self.squared = batch_matrix, ave_spectrum, loss_weight, squared

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> complex [N, P, C, H/p, W/p]: the ortho DFT of each patch (eqs. 6-7, normalised)."""
        n, c, h, w = x.shape
        p = self.patch_factor
        if h % p or w % p:
            raise ValueError(f"patch_factor {p} must divide the image size {h}x{w}")
        ph, pw = h // p, w // p
        patches = x.reshape(n, c, p, ph, p, pw).permute(0, 2, 4, 1, 3, 5).reshape(n, p * p, c, ph, pw)
        return torch.fft.fft2(_fft_dtype(patches), norm="ortho")

    def weight_matrix(self, pred_freq: torch.Tensor, target_freq: torch.Tensor) -> torch.Tensor:
        """eq. 9 made precise: the detached spectrum weight in [0, 1], the same shape as the spectra."""
        with torch.no_grad():
            d = pred_freq - target_freq
            w = torch.sqrt(d.real**2 + d.imag**2) ** self.alpha
            if self.log_matrix:
                w = torch.log(w + 1.0)
            if self.batch_matrix:
                w = w / w.max()
            else:
                w = w / w.amax(dim=(-2, -1), keepdim=True)
            w = torch.nan_to_num(w, nan=0.0).clamp(0.0, 1.0)
        return w

    def forward(self, pred: torch.Tensor, target: torch.Tensor, matrix: torch.Tensor | None = None) -> torch.Tensor:
        _check_pair(pred, target)
        pf, tf = self.spectrum(pred), self.spectrum(target)
        if self.ave_spectrum:
            pf, tf = pf.mean(dim=0, keepdim=True), tf.mean(dim=0, keepdim=True)
        w = matrix.detach() if matrix is not None else self.weight_matrix(pf, tf)
        d = pf - tf
        dist = d.real**2 + d.imag**2
        if not self.squared:
            dist = torch.sqrt(dist + 1e-12)
        return (w * dist).mean() * self.loss_weight


def radial_band_error(pred: torch.Tensor, target: torch.Tensor, n_bands: int = 8, *,
                      per_image: bool = False) -> torch.Tensor:
    """The error spectrum |F - F*|^2 (ortho DFT) averaged within n_bands rings of radial frequency -> [n_bands].

    Band k holds the frequencies whose radius sqrt(fx^2 + fy^2) (cycles/pixel, max 0.5*sqrt(2)) falls in
    [k, k+1) * r_max / n_bands; averaged over C (and N, unless per_image: then [N, n_bands]). By Parseval the
    count-weighted mean over bands is the pixel MSE. Used to show the spectral bias (low bands are learned first).
    """
    _check_pair(pred, target)
    if n_bands < 1:
        raise ValueError(f"n_bands must be >= 1, got {n_bands}")
    h, w = pred.shape[-2:]
    d = torch.fft.fft2(pred.detach().double() - target.detach().double(), norm="ortho")
    power = (d.real**2 + d.imag**2).mean(dim=1)  # [N, h, w]
    fy = torch.fft.fftfreq(h, dtype=torch.float64, device=power.device).view(h, 1)
    fx = torch.fft.fftfreq(w, dtype=torch.float64, device=power.device).view(1, w)
    r = torch.sqrt(fx**2 + fy**2)
    band = torch.clamp((r / r.max() * n_bands).long(), max=n_bands - 1).reshape(-1)
    sums = torch.zeros(power.shape[0], n_bands, dtype=torch.float64, device=power.device)
    sums.index_add_(1, band, power.reshape(power.shape[0], -1))
    counts = torch.bincount(band, minlength=n_bands).to(torch.float64).clamp(min=1)
    out = (sums / counts).cpu()
    return out if per_image else out.mean(dim=0)
