"""The frequency losses pinned to the focal-frequency-loss package (0.3.0), torch.fft and Parseval."""

import pytest
import torch

from avfh_core.losses.frequency import FocalFrequencyLoss, dft2_naive, dft_loss, radial_band_error

ffl_pkg = pytest.importorskip("focal_frequency_loss")

SETTINGS = [
    dict(),
    dict(alpha=0.5),
    dict(alpha=2.0, log_matrix=True),
    dict(patch_factor=2),
    dict(batch_matrix=True),
    dict(ave_spectrum=True),
    dict(alpha=1.5, log_matrix=True, patch_factor=4, batch_matrix=True, ave_spectrum=True),
]


@pytest.mark.parametrize("kw", SETTINGS)
def test_equals_package(kw):
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(3, 3, 16, 16, generator=g), torch.rand(3, 3, 16, 16, generator=g)
    ours = FocalFrequencyLoss(**kw)(pred, target)
    ref = ffl_pkg.FocalFrequencyLoss(**kw)(pred, target)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-7)


def test_alpha_zero_is_pixel_mse_and_eq8_parseval():
    pred, target = torch.rand(2, 3, 12, 10, dtype=torch.float64), torch.rand(2, 3, 12, 10, dtype=torch.float64)
    mse = ((pred - target) ** 2).mean()
    assert FocalFrequencyLoss(alpha=0.0)(pred, target).item() == pytest.approx(mse.item(), rel=1e-6)
    assert dft_loss(pred, target, norm="ortho").item() == pytest.approx(mse.item(), rel=1e-5)
    assert dft_loss(pred, target).item() == pytest.approx(mse.item() * 12 * 10, rel=1e-5)  # unnormalised eq. 8


def test_naive_dft_equals_fft():
    x = torch.rand(2, 5, 7, dtype=torch.float64)
    assert torch.allclose(dft2_naive(x), torch.fft.fft2(x), atol=1e-9)


def test_weight_matrix_range_and_detached_gradient():
    pred = torch.rand(2, 3, 8, 8, requires_grad=True)
    target = torch.rand(2, 3, 8, 8)
    loss_fn = FocalFrequencyLoss(alpha=1.0)
    w = loss_fn.weight_matrix(loss_fn.spectrum(pred), loss_fn.spectrum(target))
    assert not w.requires_grad and w.min() >= 0 and w.max() == pytest.approx(1.0)
    loss = loss_fn(pred, target)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    # the gradient equals the gradient of mean(W |dF|^2) with W held constant
    p2 = pred.detach().clone().requires_grad_(True)
    d = loss_fn.spectrum(p2) - loss_fn.spectrum(target)
    (w * (d.real**2 + d.imag**2)).mean().backward()
    assert torch.allclose(pred.grad, p2.grad, atol=1e-6)
    same = torch.rand(1, 1, 8, 8, requires_grad=True)
    zero = FocalFrequencyLoss()(same, same.detach())
    zero.backward()
    assert zero.item() == 0.0 and torch.isfinite(same.grad).all()


def test_printed_eq10_variant_and_bad_input():
    pred, target = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    assert FocalFrequencyLoss(squared=False)(pred, target) > 0
    with pytest.raises(ValueError, match="patch_factor"):
        FocalFrequencyLoss(patch_factor=3)(pred, target)
    with pytest.raises(ValueError, match="same shape"):
        FocalFrequencyLoss()(pred, target[..., :4])
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        dft_loss(pred[0], target[0])


def test_radial_bands():
    target = torch.zeros(1, 1, 32, 32)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    low = torch.cos(2 * torch.pi * xx / 32)[None, None]  # lowest frequency
    high = torch.cos(torch.pi * xx)[None, None]  # Nyquist
    bl, bh = radial_band_error(low, target, 8), radial_band_error(high, target, 8)
    assert bl.argmax() == 0 and bh.argmax() >= 5 and bl.shape == (8,)


def test_radial_bands_per_image_and_parseval():
    pred, target = torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16)
    per = radial_band_error(pred, target, 4, per_image=True)
    assert per.shape == (3, 4) and torch.allclose(per.mean(dim=0), radial_band_error(pred, target, 4))
    f = torch.fft.fftfreq(16, dtype=torch.float64)
    r = torch.sqrt(f.view(16, 1) ** 2 + f.view(1, 16) ** 2)
    counts = torch.bincount(torch.clamp((r / r.max() * 4).long(), max=3).reshape(-1), minlength=4).double()
    mse = ((pred.double() - target.double()) ** 2).mean(dim=(1, 2, 3))
    assert torch.allclose((per * counts).sum(dim=1) / counts.sum(), mse)


def test_half_precision_inputs_are_computed_in_float32():
    pred, target = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    a = FocalFrequencyLoss()(pred.bfloat16(), target.bfloat16())
    assert a.dtype == torch.float32 and torch.isfinite(a)
    assert dft_loss(pred.double(), target.double()).dtype == torch.float64
