"""PSNR and SSIM, batched in torch, with the conventions the face-hallucination papers report.

VFH-GAN (Sharma et al. 2022, section 4.1), SECNet (Fang et al., section III-B), Ear (Meishvili et al. 2020) and
VividGAN (Zhang et al.) all report PSNR/SSIM; "on the Y channel" conventionally means (BasicSR, MATLAB `rgb2ycbcr`)

    Y = 16 + 65.481 R + 128.553 G + 24.966 B        (R, G, B in [0, 1]; Y in [16, 235])

computed here as Y / 255 so that `data_range=1` keeps the 255-scale PSNR of BasicSR. A border of `crop` pixels
(the scale factor, by convention) is removed on each side first. SSIM (Wang et al. 2004) uses an 11x11 Gaussian
window with sigma 1.5, K1 = 0.01, K2 = 0.03, population (not sample) covariances, and averages the SSIM map over
the positions where the window lies fully inside the image -- exactly scikit-image's
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`. Statistics are computed in
float64. Every function takes batched tensors [..., C, H, W] in [0, 1] and returns one score per image [...].
"""

from __future__ import annotations

import math

import torch

Y_WEIGHTS = (65.481, 128.553, 24.966)  # BT.601 studio range, RGB in [0,1] -> Y in [16,235]
Y_OFFSET = 16.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


# ----------------------------------------------------------------------------------------------------------------
# Input checks: a wrong input is an error that says what is wrong, never a silent wrong number.


def check_images(x: torch.Tensor, y: torch.Tensor | None = None, *, name: str = "x", min_size: int = 1,
                 channels: int | None = None, check_range: bool = True) -> None:
    """Raise ValueError/TypeError naming the argument if `x` (and `y`) are not float images [..., C, H, W] in [0,1]."""
    pairs = [(name, x)] + ([("y", y)] if y is not None else [])
    for nm, t in pairs:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{nm} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{nm} must be a float tensor in [0,1], got dtype {t.dtype}"
                            + (" (divide uint8 images by 255)" if t.dtype == torch.uint8 else ""))
        if t.ndim < 3:
            raise ValueError(f"{nm} must be [..., C, H, W], got shape {tuple(t.shape)}")
        if channels is not None and t.shape[-3] != channels:
            raise ValueError(f"{nm} must have {channels} channels in dim -3, got shape {tuple(t.shape)}")
        if t.shape[-1] < min_size or t.shape[-2] < min_size:
            raise ValueError(f"{nm} is {t.shape[-2]}x{t.shape[-1]} (after cropping); it must be at least "
                             f"{min_size}x{min_size} (the SSIM window)" if min_size > 1 else
                             f"{nm} has an empty spatial size {tuple(t.shape[-2:])}")
        if t.numel():
            lo_t, hi_t = torch.aminmax(t.detach())
            lo, hi = float(lo_t), float(hi_t)
            if lo != lo or hi != hi:  # min/max propagate NaN
                raise ValueError(f"{nm} contains NaN")
            if check_range and (lo < -1e-6 or hi > 1 + 1e-6):
                raise ValueError(f"{nm} must lie in [0,1], got values in [{lo:.4g}, {hi:.4g}]"
                                 + (" (looks like a 0..255 image: divide by 255)" if hi > 1.5 else ""))
    if y is not None and x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of RGB in [0,1], returned in [16/255, 235/255] with the channel kept: [..., 3, H, W] -> [..., 1, H, W]."""
    if x.shape[-3] != 3:
        raise ValueError(f"rgb_to_y needs 3 channels in dim -3, got shape {tuple(x.shape)}")
    r, g, b = x.unbind(-3)  # explicit weighted sum: a reduction over the strided channel dim is slow on the CPU
    return ((Y_WEIGHTS[0] * r + Y_WEIGHTS[1] * g + Y_WEIGHTS[2] * b + Y_OFFSET) / 255.0).unsqueeze(-3)


def _prepare(x: torch.Tensor, y: torch.Tensor, y_channel: bool, crop: int, min_size: int):
    """Validate, then float64 (and Y, and the border crop). For whole tensors; `_per_image` does it in chunks."""
    _validate(x, y, y_channel, crop, min_size)
    return _convert(x, y_channel, crop), _convert(y, y_channel, crop)


def _validate(x: torch.Tensor, y: torch.Tensor, y_channel: bool, crop: int, min_size: int) -> None:
    check_images(x, y, channels=3 if y_channel else None)
    if not isinstance(crop, int) or crop < 0:
        raise ValueError(f"crop must be a non-negative int, got {crop!r}")
    h, w = x.shape[-2] - 2 * crop, x.shape[-1] - 2 * crop
    if h < min_size or w < min_size:
        raise ValueError(f"images are {h}x{w} after cropping {crop} px; they must be at least "
                         f"{min_size}x{min_size}" + (" (the SSIM window)" if min_size > 1 else ""))


def _convert(x: torch.Tensor, y_channel: bool, crop: int) -> torch.Tensor:
    x = x.detach().to(torch.float64)
    if y_channel:
        x = rgb_to_y(x)
    if crop:
        x = x[..., crop:-crop, crop:-crop]
    return x


CHUNK_ELEMENTS = 2**17  # per CPU chunk: ~1 MB of float64 per operand stays in cache (measured faster than one big batch)


def _per_image(fn, x: torch.Tensor, y: torch.Tensor, y_channel: bool, crop: int, mask: torch.Tensor | None):
    """Apply fn(x64, y64, mask) -> [n] to [..., C, H, W] pairs, flattened to [N, C, H, W] and cut into chunks on the
    CPU (whole on a GPU); returns [...]. The mask ([..., H, W], broadcast to the leading dims) is cropped alike."""
    lead, chw = x.shape[:-3], x.shape[-3:]
    xf, yf = x.reshape(-1, *chw), y.reshape(-1, *chw)
    mf = None
    if mask is not None:
        m = torch.as_tensor(mask, device=x.device)
        if m.shape[-2:] != chw[-2:]:
            raise ValueError(f"mask must end with the image size {tuple(chw[-2:])}, got shape {tuple(m.shape)}")
        if m.ndim == x.ndim:  # [..., 1, H, W]
            m = m.squeeze(-3)
        mf = m.expand(*lead, *chw[-2:]).reshape(-1, *chw[-2:])
        if crop:
            mf = mf[..., crop:-crop, crop:-crop]
    n = xf.shape[0]
    step = n if x.device.type != "cpu" else max(1, CHUNK_ELEMENTS // max(1, chw.numel()))
    out = [fn(_convert(xf[i:i + step], y_channel, crop), _convert(yf[i:i + step], y_channel, crop),
              None if mf is None else mf[i:i + step]) for i in range(0, n, step)]
    return torch.cat(out).reshape(lead) if out else torch.empty(lead, dtype=torch.float64)


def _apply_mask(err: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `err` [..., C, H, W] over C, H, W, weighted by `mask` ([..., H, W] or [..., 1, H, W], broadcast)."""
    if mask is None:
        return err.mean(dim=(-3, -2, -1))
    m = mask.to(err.dtype)
    if m.ndim == err.ndim - 1:
        m = m.unsqueeze(-3)
    m = m.expand_as(err)
    total = m.sum(dim=(-3, -2, -1))
    if (total <= 0).any():
        raise ValueError("mask selects no pixel for at least one image")
    return (err * m).sum(dim=(-3, -2, -1)) / total


def mse(x: torch.Tensor, y: torch.Tensor, *, y_channel: bool = False, crop: int = 0,
        mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per image [...] in float64 (on Y/255 when y_channel), optionally weighted by a mask."""
    _validate(x, y, y_channel, crop, 1)
    return _per_image(lambda a, b, m: _apply_mask((a - b) ** 2, m), x, y, y_channel, crop, mask)


def psnr(x: torch.Tensor, y: torch.Tensor, *, y_channel: bool = True, crop: int = 0, data_range: float = 1.0,
         mask: torch.Tensor | None = None) -> torch.Tensor:
    """PSNR = 10 log10(data_range^2 / MSE) in dB, one value per image [...] (float64; +inf for identical images).

    x, y: [..., C, H, W] floats in [0,1]. y_channel: score the BT.601 Y channel (needs C=3), else all channels.
    crop: border removed on each side. mask: optional [..., H, W] weights (a mouth box or a soft mask) restricting
    the MSE to a region. Not differentiable (a metric): use a loss for training.
    """
    err = mse(x, y, y_channel=y_channel, crop=crop, mask=mask)
    return 10.0 * torch.log10(data_range**2 / err)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, dtype=torch.float64, device=None):
    """The normalised 1-D Gaussian g (the 2-D window is the outer product g g^T, as MATLAB's fspecial)."""
    r = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def _band_matrix(g: torch.Tensor, n: int) -> torch.Tensor:
    """The [n - k + 1, n] matrix whose rows hold g at offsets 0, 1, ...: 'valid' filtering along a dim is a matmul."""
    k = g.numel()
    m = torch.zeros(n - k + 1, n, dtype=g.dtype, device=g.device)
    rows = torch.arange(n - k + 1, device=g.device)
    for j in range(k):
        m[rows, rows + j] = g[j]
    return m


def _filter_valid(z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering of z [..., H, W] with g along H then W, as two batched matmuls
    (B_h z B_w^T with banded B): on the CPU this is far faster than a depthwise float64 convolution."""
    bh, bw = _band_matrix(g, z.shape[-2]), _band_matrix(g, z.shape[-1])
    return torch.matmul(torch.matmul(bh, z), bw.transpose(0, 1))


def ssim_map(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, window: int = SSIM_WINDOW,
             sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The SSIM map (Wang et al. 2004, SECNet eqs. 12-15) on float64 [..., C, H, W] -> [..., C, H-10, W-10].

    mu, sigma^2 and sigma_xy are Gaussian-weighted local means (eqs. 13-15, rho = sigma = 1.5, d = 5); positions
    where the window would leave the image are dropped (no padding). Speed without losing accuracy: the five
    filtered maps and the SSIM map are computed in float32 on images centred on their common mean (so
    E[x^2] - E[x]^2 does not cancel catastrophically), the averages in float64; the largest difference to an
    all-float64 computation we measured on photos is ~1e-6 in mean SSIM (the tests pin 1e-4 to scikit-image).
    """
    m = 0.5 * (x.mean(dim=(-2, -1), keepdim=True) + y.mean(dim=(-2, -1), keepdim=True))
    a, b = (x - m).to(torch.float32), (y - m).to(torch.float32)
    g = gaussian_window(window, sigma, dtype=torch.float32, device=x.device)
    stats = _filter_valid(torch.stack([a, b, a * a, b * b, a * b]), g)
    ma, mb, maa, mbb, mab = stats.unbind(0)
    vx, vy, cxy = maa - ma * ma, mbb - mb * mb, mab - ma * mb
    mx, my = ma + m.to(torch.float32), mb + m.to(torch.float32)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    return (((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))).to(torch.float64)


def ssim(x: torch.Tensor, y: torch.Tensor, *, y_channel: bool = True, crop: int = 0, data_range: float = 1.0,
         mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean SSIM per image [...] (float64): 11x11 Gaussian window, sigma 1.5, averaged over valid positions and channels.

    Equals skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=...) to float precision. mask: optional [..., H, W]
    weights on the image grid; the SSIM map is averaged with the mask cropped to the valid positions.
    """
    _validate(x, y, y_channel, crop, SSIM_WINDOW)
    r = SSIM_WINDOW // 2

    def one(a, b, m):
        return _apply_mask(ssim_map(a, b, data_range=data_range), None if m is None else m[..., r:-r, r:-r])

    return _per_image(one, x, y, y_channel, crop, mask)


def box_mask(shape_hw: tuple[int, int], box, *, device=None) -> torch.Tensor:
    """A {0,1} mask [..., H, W] that is 1 inside box = (x0, y0, x1, y1) (pixels, x1/y1 exclusive); box may be [..., 4]."""
    h, w = shape_hw
    box = torch.as_tensor(box, dtype=torch.float64, device=device)
    if box.shape[-1] != 4:
        raise ValueError(f"box must be (x0, y0, x1, y1) in its last dim, got shape {tuple(box.shape)}")
    ys = torch.arange(h, dtype=torch.float64, device=device).view(h, 1)
    xs = torch.arange(w, dtype=torch.float64, device=device).view(1, w)
    b = box[..., None, None, :]
    m = (xs >= b[..., 0].floor()) & (xs < b[..., 2].ceil()) & (ys >= b[..., 1].floor()) & (ys < b[..., 3].ceil())
    return m.to(torch.float64)


def region_scores(x: torch.Tensor, y: torch.Tensor, box, *, y_channel: bool = True) -> dict[str, torch.Tensor]:
    """PSNR and SSIM restricted to a box (e.g. the mouth box of `WindowDataset`): crops [..., C, H, W] to the box.

    box: (x0, y0, x1, y1) pixels (rounded, clipped to the image), one box for the whole batch. SSIM needs a box of
    at least 11x11 px: for a smaller box its entry is NaN (stated, not a silent number). For a per-image box use
    psnr(..., mask=box_mask(...)). Returns {"psnr": [...], "ssim": [...]}.
    """
    b = [int(round(float(v))) for v in torch.as_tensor(box).reshape(-1)[:4]]
    x0, y0, x1, y1 = max(b[0], 0), max(b[1], 0), min(b[2], x.shape[-1]), min(b[3], x.shape[-2])
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise ValueError(f"box {tuple(b)} does not overlap the {x.shape[-2]}x{x.shape[-1]} image")
    xc, yc = x[..., y0:y1, x0:x1], y[..., y0:y1, x0:x1]
    out = {"psnr": psnr(xc, yc, y_channel=y_channel)}
    if min(x1 - x0, y1 - y0) >= SSIM_WINDOW:
        out["ssim"] = ssim(xc, yc, y_channel=y_channel)
    else:
        out["ssim"] = torch.full(out["psnr"].shape, math.nan, dtype=torch.float64)
    return out
