"""PSNR and SSIM, batched in torch, with the conventions the face-hallucination papers report.

VFH-GAN (Sharma et al. 2022, section 4.1), SECNet (Fang et al., section III-B), Ear (Meishvili et al. 2020) and
VividGAN (Zhang et al.) all report PSNR/SSIM; "on the Y channel" conventionally means (BasicSR, MATLAB `rgb2ycbcr`)

    Y = 16 + 65.481 R + 128.553 G + 24.966 B        (R, G, B in [0, 1]; Y in [16, 235])

computed here as Y / 255 so that `data_range=1` keeps the 255-scale PSNR of BasicSR. A border of `crop` pixels
(the scale factor, by convention) is removed on each side first. SSIM (Wang et al. 2004) uses an 11x11 Gaussian
window with sigma 1.5, K1 = 0.01, K2 = 0.03, population (not sample) covariances, and averages the SSIM map over
the positions where the window lies fully inside the image -- exactly scikit-image's
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`. Statistics are computed in
float32 where that is exact to well under the tested tolerances (see mse, ssim_map), results in float64.
Every function takes batched tensors [..., C, H, W] in [0, 1] and returns one score per image [...].
"""

from __future__ import annotations

import math

import torch

from avfh_core.metrics._chunks import single_threaded_call

Y_WEIGHTS = (65.481, 128.553, 24.966)  # BT.601 studio range, RGB in [0,1] -> Y in [16,235]
Y_OFFSET = 16.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


# ----------------------------------------------------------------------------------------------------------------
# Input checks: a wrong input is an error that says what is wrong, never a silent wrong number.


def check_images(x: torch.Tensor, y: torch.Tensor | None = None, *, name: str = "x", min_size: int = 1,
                 channels: int | None = None, check_range: bool = True, check_values: bool = True) -> None:
    """Raise ValueError/TypeError naming the argument if `x` (and `y`) are not float images [..., C, H, W] in [0,1].

    check_values=False skips the pass over the values (NaN, range): for callers that check chunk by chunk."""
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
        if check_values:
            _check_values(t, nm, check_range)
    if y is not None and x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def _check_values(t: torch.Tensor, name: str, check_range: bool = True) -> None:
    """Raise ValueError naming `name` if t holds NaN or (check_range) values outside [0, 1]."""
    if t.numel():
        lo_t, hi_t = torch.aminmax(t.detach())
        lo, hi = float(lo_t), float(hi_t)
        if lo != lo or hi != hi:  # min/max propagate NaN
            raise ValueError(f"{name} contains NaN")
        if check_range and (lo < -1e-6 or hi > 1 + 1e-6):
            raise ValueError(f"{name} must lie in [0,1], got values in [{lo:.4g}, {hi:.4g}]"
                             + (" (looks like a 0..255 image: divide by 255)" if hi > 1.5 else ""))


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


def _validate(x: torch.Tensor, y: torch.Tensor, y_channel: bool, crop: int, min_size: int,
              check_values: bool = True) -> None:
    check_images(x, y, channels=3 if y_channel else None, check_values=check_values)
    if not isinstance(crop, int) or crop < 0:
        raise ValueError(f"crop must be a non-negative int, got {crop!r}")
    h, w = x.shape[-2] - 2 * crop, x.shape[-1] - 2 * crop
    if h < min_size or w < min_size:
        raise ValueError(f"images are {h}x{w} after cropping {crop} px; they must be at least "
                         f"{min_size}x{min_size}" + (" (the SSIM window)" if min_size > 1 else ""))


def _convert(x: torch.Tensor, y_channel: bool, crop: int, dtype=torch.float64) -> torch.Tensor:
    x = x.detach().to(dtype)
    if y_channel:
        x = rgb_to_y(x)
    if crop:
        x = x[..., crop:-crop, crop:-crop]
    return x


CHUNK_ELEMENTS = 2**18  # per CPU chunk (float32 elements of one operand): ~1 MB, so the intermediates stay in cache
SSIM_CHUNK_ELEMENTS = 2**16  # SSIM holds ~10 maps per pixel: smaller chunks (measured: 2^14-2^16 best, 2^18 1.3x slower)


def _per_image(fn, x: torch.Tensor, y: torch.Tensor, y_channel: bool, crop: int, mask: torch.Tensor | None,
               dtype=torch.float32, convert: bool = True, chunk: int = CHUNK_ELEMENTS, post=None):
    """Apply fn(x', y', mask) -> [n] to [..., C, H, W] pairs, flattened to [N, C, H, W] and cut into cache-sized
    chunks on the CPU (whole on a GPU), run one after the other with one torch thread (robust on a busy machine:
    see _chunks); returns [...] in float64. x', y' are the chunks in `dtype`, Y-converted and
    cropped (or the raw chunks when convert=False). The mask ([..., H, W], broadcast to the leading dims) is cropped
    alike. The values (NaN, [0, 1]) are checked chunk by chunk, while the chunk is in cache (callers validate the
    rest with check_values=False). post: applied to the [...] result on the worker (e.g. PSNR's log): even tiny
    ops can stall for milliseconds on a loaded machine when the caller has several torch threads."""
    lead, chw = x.shape[:-3], x.shape[-3:]
    xf, yf = x.detach().reshape(-1, *chw), y.detach().reshape(-1, *chw)
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
    per_image = (1 if y_channel and convert else chw[0]) * chw[1] * chw[2]  # elements after conversion
    step = n if x.device.type != "cpu" else max(1, chunk // max(1, per_image))
    def one(i):
        a, b = xf[i:i + step], yf[i:i + step]
        _check_values(a, "x")
        _check_values(b, "y")
        if convert:
            a, b = _convert(a, y_channel, crop, dtype), _convert(b, y_channel, crop, dtype)
        return fn(a, b, None if mf is None else mf[i:i + step]).to(torch.float64)

    def run_all():  # the chunks, their concatenation and `post`: every op off the caller's threads (see _chunks)
        out = [one(i) for i in range(0, n, step)]
        res = torch.cat(out).reshape(lead) if out else torch.empty(lead, dtype=torch.float64)
        return res if post is None else post(res)

    with torch.inference_mode():
        res = single_threaded_call(run_all) if x.device.type == "cpu" else run_all()
    return res.clone()  # a normal tensor (not an inference tensor) for the caller


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


def _squared_error(a: torch.Tensor, b: torch.Tensor, y_channel: bool, crop: int) -> torch.Tensor:
    """(a - b)^2 per pixel [n, C', H', W'] of raw chunks: the Y channel of the difference (Y is affine, so the offset
    16 cancels) and the crop taken on the difference, never on full-size converted copies of both images."""
    d = a - b
    if crop:
        d = d[..., crop:-crop, crop:-crop]
    if y_channel:
        r, g, bl = d.unbind(-3)
        d = (r * (Y_WEIGHTS[0] / 255.0) + g * (Y_WEIGHTS[1] / 255.0) + bl * (Y_WEIGHTS[2] / 255.0)).unsqueeze(-3)
    return d * d


def mse(x: torch.Tensor, y: torch.Tensor, *, y_channel: bool = False, crop: int = 0,
        mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per image [...] (returned as float64; on Y/255 when y_channel), optionally mask-weighted.

    Computed in the inputs' precision (at least float32): for 8-bit data in float32 the per-pixel error is exact to
    ~1e-7 relative and torch's pairwise sums keep the mean to ~1e-6 relative, i.e. ~1e-5 dB of PSNR.
    """
    return _mse(x, y, y_channel, crop, mask)


def _mse(x: torch.Tensor, y: torch.Tensor, y_channel: bool, crop: int, mask: torch.Tensor | None, post=None):
    """mse, with `post` applied to the result on the metrics worker (see _per_image)."""
    _validate(x, y, y_channel, crop, 1, check_values=False)  # values: per chunk in _per_image
    dtype = torch.promote_types(torch.promote_types(x.dtype, y.dtype), torch.float32)

    def one(a, b, m):
        return _apply_mask(_squared_error(a.to(dtype), b.to(dtype), y_channel, crop), m)

    return _per_image(one, x, y, y_channel, crop, mask, convert=False, post=post)


def psnr(x: torch.Tensor, y: torch.Tensor, *, y_channel: bool = True, crop: int = 0, data_range: float = 1.0,
         mask: torch.Tensor | None = None) -> torch.Tensor:
    """PSNR = 10 log10(data_range^2 / MSE) in dB, one value per image [...] (float64; +inf for identical images).

    x, y: [..., C, H, W] floats in [0,1]. y_channel: score the BT.601 Y channel (needs C=3), else all channels.
    crop: border removed on each side. mask: optional [..., H, W] weights (a mouth box or a soft mask) restricting
    the MSE to a region. Not differentiable (a metric): use a loss for training.
    """
    return _mse(x, y, y_channel, crop, mask, post=lambda err: 10.0 * torch.log10(data_range**2 / err))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, dtype=torch.float64, device=None):
    """The normalised 1-D Gaussian g (the 2-D window is the outer product g g^T, as MATLAB's fspecial)."""
    r = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(z: torch.Tensor, g: list[float]) -> torch.Tensor:
    """Separable 'valid' filtering of z [..., H, W] with the taps g along H, then along W: k fused multiply-adds of
    shifted views per direction (the W pass on a transposed view, so both passes slide whole rows). On the CPU this
    is memory-bound and cache-friendly: ~3x faster than banded matmuls and >10x faster than a depthwise conv2d."""
    k = len(g)
    h, w = z.shape[-2] - k + 1, z.shape[-1] - k + 1
    a = z[..., 0:h, :] * g[0]
    for j in range(1, k):
        a.add_(z[..., j:j + h, :], alpha=g[j])
    at = a.transpose(-1, -2)
    out = at[..., 0:w, :] * g[0]
    for j in range(1, k):
        out.add_(at[..., j:j + w, :], alpha=g[j])
    return out.transpose(-1, -2)


def _ssim_map32(x: torch.Tensor, y: torch.Tensor, data_range: float, window: int, sigma: float) -> torch.Tensor:
    """The SSIM map in float32 (see ssim_map) of float32 [..., C, H, W] -> [..., C, H-window+1, W-window+1]."""
    m = 0.5 * (x.mean(dim=(-2, -1), keepdim=True) + y.mean(dim=(-2, -1), keepdim=True))
    a, b = x - m, y - m
    # four moments suffice: only the sum of the variances enters eq. 15's denominator
    z = torch.stack([a, b, a * a + b * b, a * b])
    g = gaussian_window(window, sigma).tolist()
    ma, mb, s2, mab = _filter_valid(z, g).unbind(0)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    cov2 = (mab - ma * mb).mul_(2).add_(c2)  # 2 sigma_xy + C2
    var = s2.sub_(ma * ma).sub_(mb * mb).add_(c2)  # sigma_x^2 + sigma_y^2 + C2
    mx, my = ma.add_(m), mb.add_(m)
    num = (mx * my).mul_(2).add_(c1).mul_(cov2)
    den = (mx.square_().add_(my.square_()).add_(c1)).mul_(var)
    return num.div_(den)


def ssim_map(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, window: int = SSIM_WINDOW,
             sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The SSIM map (Wang et al. 2004, SECNet eqs. 12-15) on float [..., C, H, W] -> float64 [..., C, H-10, W-10].

    mu, sigma^2 and sigma_xy are Gaussian-weighted local means (eqs. 13-15, rho = sigma = 1.5, d = 5); positions
    where the window would leave the image are dropped (no padding). Speed without losing accuracy: the filtered
    moments and the SSIM map are computed in float32 on images centred on their common mean (so E[x^2] - E[x]^2
    does not cancel catastrophically), the averages in float64; the largest difference to an all-float64
    computation we measured on photos is ~2e-6 in mean SSIM (the tests pin 1e-4 to scikit-image).
    """
    def run():
        out = _ssim_map32(x.detach().to(torch.float32), y.detach().to(torch.float32), data_range, window, sigma)
        return out.to(torch.float64)

    with torch.inference_mode():
        out = single_threaded_call(run) if x.device.type == "cpu" else run()  # one torch thread: see _chunks
    return out.clone()


def ssim(x: torch.Tensor, y: torch.Tensor, *, y_channel: bool = True, crop: int = 0, data_range: float = 1.0,
         mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean SSIM per image [...] (float64): 11x11 Gaussian window, sigma 1.5, averaged over valid positions and channels.

    Equals skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=...) to float precision. mask: optional [..., H, W]
    weights on the image grid; the SSIM map is averaged with the mask cropped to the valid positions.
    """
    _validate(x, y, y_channel, crop, SSIM_WINDOW, check_values=False)  # values: per chunk in _per_image
    r = SSIM_WINDOW // 2

    def one(a, b, m):
        s = _ssim_map32(a, b, data_range, SSIM_WINDOW, SSIM_SIGMA)
        if m is None:
            return s.mean(dim=(-3, -2, -1), dtype=torch.float64)
        return _apply_mask(s.to(torch.float64), m[..., r:-r, r:-r])

    return _per_image(one, x, y, y_channel, crop, mask, dtype=torch.float32, chunk=SSIM_CHUNK_ELEMENTS)


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
