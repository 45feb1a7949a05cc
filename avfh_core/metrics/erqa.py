"""ERQA, the edge-restoration quality metric VFH-GAN reports (Sharma et al. 2022, section 4.1, Tables 1-3),
re-implemented batched in torch and pinned to the reference package (PyPI `erqa` 1.1.2, MSU Video Group).

The reference, for one pair (restored image, ground truth), both uint8 BGR [H, W, 3]:
1. global shift compensation: the shift (a, b) in [-3, 3]^2 of the restored image against the ground truth with
   the smallest MSE over the overlap (ties: the first in row-major order from (-3, -3)); both images are cropped
   to that overlap;
2. edges: OpenCV `Canny(threshold1=100, threshold2=200)` on each 3-channel image (3x3 Sobel with replicated
   border, L1 magnitude |dx| + |dy|, per pixel the channel of largest magnitude, non-maximum suppression along
   the quantised gradient direction, hysteresis with 8-connectivity);
3. matching: a restored edge pixel is a true positive if a ground-truth edge lies within 1 px (the 3x3 window,
   visited in the order 0, -1, +1, with wrap-around `np.roll`). Version 1.1 ("penalize wider edges") lets each
   ground-truth edge pixel be matched once, so a two-pixel-wide restored edge counts one false positive; 1.0 does
   not;
4. F1 of precision and recall (0 when there are no edges).

Input convention here: float RGB [..., 3, H, W] in [0, 1], quantised to uint8 by round(255 x) and reordered to
BGR before step 1, so `erqa(x, y)` equals `ERQA(version)(bgr_uint8(x), bgr_uint8(y))`. Canny is re-implemented
in integer arithmetic (OpenCV's TG22 = 13573 fixed-point direction test), hysteresis uses scipy's labelling.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from avfh_core.metrics._chunks import map_chunks
from avfh_core.metrics.image import check_images

CANNY_LOW, CANNY_HIGH = 100, 200
SHIFT_RANGE = 3
CHUNK_PIXELS = 2**18  # images per chunk = CHUNK_PIXELS // (H * W), at least 1
_TG22 = 13573  # round(tan(22.5 deg) * 2^15), as in OpenCV's canny.cpp


def to_uint8_bgr(x: torch.Tensor) -> torch.Tensor:
    """Float RGB [..., 3, H, W] in [0,1] -> uint8 BGR [..., H, W, 3] (round(255 x)): the reference's input format."""
    return (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).flip(-3).movedim(-3, -1)


def canny(bgr: torch.Tensor, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> torch.Tensor:
    """OpenCV's Canny (aperture 3, L1 gradient) on uint8 images [N, H, W, C] -> bool edges [N, H, W]."""
    return _canny_planar(bgr.movedim(-1, 1), low, high)


def _canny_planar(p: torch.Tensor, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> torch.Tensor:
    """Canny on planar uint8 [N, C, H, W] (channel order as OpenCV sees it) -> bool [N, H, W]. Integer arithmetic
    throughout (int16 Sobel: |d| <= 1020), the channel choice by a strict '>' scan like OpenCV, NMS with its
    fixed-point direction test, hysteresis by scipy's 8-connected labelling (a component survives if it holds a
    strong pixel)."""
    from scipy import ndimage

    n, c, h, w = p.shape
    q = p.to(torch.int16)
    q = torch.cat([q[..., :1], q, q[..., -1:]], dim=-1)  # replicated border
    q = torch.cat([q[..., :1, :], q, q[..., -1:, :]], dim=-2)
    # 3x3 Sobel: dx = [-1 0 1; -2 0 2; -1 0 1], dy its transpose
    cols = q[..., 2:] - q[..., :-2]  # [N, C, H+2, W]
    rows = q[..., 2:, :] - q[..., :-2, :]  # [N, C, H, W+2]
    dx = cols[..., :-2, :] + cols[..., 1:-1, :] * 2 + cols[..., 2:, :]
    dy = rows[..., :-2] + rows[..., 1:-1] * 2 + rows[..., 2:]
    mag = dx.abs() + dy.abs()
    # the first maximal channel, like OpenCV's strict '>' scan; selection by arithmetic, as torch.where is ~10x
    # slower than elementwise arithmetic on the CPU
    m, gx, gy = mag[:, 0], dx[:, 0], dy[:, 0]
    for k in range(1, c):
        better = (mag[:, k] > m).to(torch.int16)
        m = torch.maximum(m, mag[:, k])
        gx, gy = gx + (dx[:, k] - gx) * better, gy + (dy[:, k] - gy) * better
    mp = F.pad(m, (1, 1, 1, 1))  # zeros around the image

    def nb(oy, ox):  # magnitude of the neighbour at (y + oy, x + ox)
        return mp[:, 1 + oy:1 + oy + h, 1 + ox:1 + ox + w]

    ax, ay = gx.abs().to(torch.int32), gy.abs().to(torch.int32) << 15
    tg22x = ax * _TG22
    horiz = ay < tg22x
    vert = ay > tg22x + (ax << 16)
    diag = ~(horiz | vert)
    same_sign = (gx ^ gy) >= 0  # s = +1
    keep_h = (m > nb(0, -1)) & (m >= nb(0, 1))
    keep_v = (m > nb(-1, 0)) & (m >= nb(1, 0))
    keep_d = (same_sign & (m > nb(-1, -1)) & (m > nb(1, 1))) | (~same_sign & (m > nb(-1, 1)) & (m > nb(1, -1)))
    cand = (m > low) & ((horiz & keep_h) | (vert & keep_v) | (diag & keep_d))
    strong = cand & (m > high)
    cand_np, strong_np = cand.numpy(), strong.numpy()
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # 8-connectivity within each image, none across the batch
    labels, n_labels = ndimage.label(cand_np, structure=structure)
    keep = np.zeros(n_labels + 1, dtype=bool)
    keep[labels[strong_np]] = True
    keep[0] = False
    return torch.from_numpy(keep[labels])


def _fft_size(n: int) -> int:
    """The smallest 3-smooth integer >= n (2^a 3^b: measured ~2x faster than 5-smooth lengths in pocketfft)."""
    while True:
        m = n
        for p in (2, 3):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


_FFT32_REL_ERR = 1e-5  # bound on |float32 FFT correlation error| / (||img|| ||gt||); measured ~1e-7, 100x margin


def _shift_mses(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """MSE of every shift in [-r, r]^2 (row-major from (-r, -r)) for planar uint8 [N, 3, H, W] -> [N, 49], and a
    bound on the float error of each value [N] (0 for float64, where the cross term is rounded to the exact integer).

    For shift (i, j) the reference compares img[i:, j:] with gt[:-i, :-j] (signs as in erqa.shift2d). Its sum of
    squared differences is sum img^2 + sum gt^2 - 2 sum img * gt over the overlap: the squares from integral images
    (exact int64), the cross term for all 49 lags from one FFT cross-correlation. The mean divides by the overlap
    size, as np.mean does.
    """
    n, _, h, w = a.shape
    r = SHIFT_RANGE
    fh, fw = _fft_size(h + r), _fft_size(w + r)
    # corr[i, j] = sum_{y,x} img[y + i, x + j] * gt[y, x]  (circular over the padded size: no wrap for |i|,|j| <= r)
    af, bf = a.to(dtype), b.to(dtype)
    spec = (torch.fft.rfft2(af, s=(fh, fw)) * torch.fft.rfft2(bf, s=(fh, fw)).conj()).sum(dim=1)
    corr = torch.fft.irfft2(spec, s=(fh, fw))  # [N, fh, fw]
    ia, ib = _border_block_integral(af), _border_block_integral(bf)
    i, j = torch.arange(-r, r + 1).repeat_interleave(2 * r + 1), torch.arange(-r, r + 1).repeat(2 * r + 1)
    ay0, ay1, ax0, ax1 = i.clamp(min=0), h + i.clamp(max=0), j.clamp(min=0), w + j.clamp(max=0)

    def box(ii, y0, y1, x0, x1):  # sums over the 49 overlaps at once: [N, 49], bounds as block-grid indices
        return ii[:, y1, x1] - ii[:, y0, x1] - ii[:, y1, x0] + ii[:, y0, x0]

    # block-grid index of a bound: 0..r for 0..r, 2r+1-k for h-k (see _border_block_integral)
    e = 2 * r + 1
    squares = (box(ia, i.clamp(min=0), e + i.clamp(max=0), j.clamp(min=0), e + j.clamp(max=0))
               + box(ib, (-i).clamp(min=0), e - i.clamp(min=0), (-j).clamp(min=0), e - j.clamp(min=0)))
    cross = corr[:, i % fh, j % fw].to(torch.float64)
    if dtype == torch.float64:
        cross = cross.round()
    count = ((ay1 - ay0) * (ax1 - ax0) * 3).to(torch.float64)
    mses = (squares.to(torch.float64) - 2 * cross) / count
    if dtype == torch.float64:
        return mses, torch.zeros(n, dtype=torch.float64)
    norms = (ia[:, -1, -1] * ib[:, -1, -1]).sqrt()
    return mses, 2 * _FFT32_REL_ERR * norms / count.min()


def _border_block_integral(z: torch.Tensor) -> torch.Tensor:
    """Sums of squares (over channels) of [N, C, H, W] (integer-valued floats) on the grid cut at 0, 1, .., r and
    H - r, .., H (likewise W), as a 2-D integral table [N, 2r+2, 2r+2] in float64 (exact: integers < 2^53). Every
    shift overlap is a union of these blocks, so 49 box sums need one pass over the image, not an integral image."""
    r = SHIFT_RANGE
    sq = (z * z).sum(dim=1)  # exact in float32: <= 3 * 255^2 per pixel
    h, w = sq.shape[-2:]

    def groups(t, dim, n):  # the r single lines at each end and the middle sum, along dim
        first = t.narrow(dim, 0, r).to(torch.float64)
        mid = t.narrow(dim, r, n - 2 * r).sum(dim=dim, keepdim=True, dtype=torch.float64)
        return torch.cat([first, mid, t.narrow(dim, n - r, r).to(torch.float64)], dim=dim)

    blocks = groups(groups(sq, -1, w), -2, h)  # [N, 2r+1, 2r+1]
    return F.pad(blocks.cumsum(1).cumsum(2), (1, 0, 1, 0))


def _best_shifts(a: torch.Tensor, b: torch.Tensor) -> list[tuple[int, int]]:
    """Reference step 1 for a batch of planar uint8 [N, 3, H, W]: the (rows, cols) shift of minimum MSE per image,
    ties broken like the reference (the first minimum in row-major order from (-3, -3)).

    The MSEs come from a float32 FFT (2-3x faster than float64); an image whose runner-up lies within the float32
    error bound of its minimum (a near tie, e.g. flat or identical images) is redone with the exact float64 path.
    """
    r = SHIFT_RANGE
    mses, err = _shift_mses(a, b, torch.float32)
    best = mses.argmin(dim=1)
    lo = mses.gather(1, best[:, None])
    close = (mses <= lo + 2 * err[:, None]).sum(dim=1) > 1  # another shift might be the true (or tied) minimum
    if close.any():
        idx = close.nonzero()[:, 0]
        best[idx] = _shift_mses(a[idx], b[idx], torch.float64)[0].argmin(dim=1)
    return [(k // (2 * r + 1) - r, k % (2 * r + 1) - r) for k in best.tolist()]


def _shift2d(img, gt, a, b, h, w):
    """erqa.shift2d on planar [N, C, H, W]: img[a:] vs gt[:-a] along rows (a > 0), then along columns with b."""
    def sl(s, n):
        return (slice(s, n), slice(0, n - s)) if s > 0 else (slice(0, n + s), slice(-s, n))
    ri, rg = sl(a, h)
    ci, cg = sl(b, w)
    return img[..., ri, ci], gt[..., rg, cg]


def _match_f1(edge: torch.Tensor, gt_edge: torch.Tensor, penalize_wider_edges: bool) -> torch.Tensor:
    """Reference steps 3-4 on bool edge maps [N, H, W] -> F1 [N] (float64)."""
    tp = torch.zeros_like(edge)
    fn = gt_edge.clone()
    window = (0, -1, 1)
    for i in window:
        for j in window:
            g = torch.roll(fn, shifts=(i, j), dims=(1, 2))
            ad = edge & g & ~tp
            tp |= ad
            if penalize_wider_edges:
                fn &= ~torch.roll(ad, shifts=(-i, -j), dims=(1, 2))
    if not penalize_wider_edges:
        fn = gt_edge & ~tp
    ntp = tp.sum(dim=(1, 2)).to(torch.float64)
    nfp = edge.sum(dim=(1, 2)).to(torch.float64) - ntp
    nfn = fn.sum(dim=(1, 2)).to(torch.float64)
    prec = ntp / (ntp + nfp).clamp(min=1)
    rec = ntp / (ntp + nfn).clamp(min=1)
    f1 = 2 * prec * rec / (prec + rec).clamp(min=1e-300)
    return torch.where(((ntp + nfp) == 0) | ((ntp + nfn) == 0), torch.zeros_like(f1), f1)


def erqa(x: torch.Tensor, y: torch.Tensor, version: str = "1.1", *, global_compensation: bool = True) -> torch.Tensor:
    """ERQA F1 in [0, 1] per image [...] (1 = every ground-truth edge restored, no spurious edge).

    x: restored images, y: ground truth, both float RGB [..., 3, H, W] in [0,1] (quantised to uint8). version:
    "1.0" or "1.1" (1.1 penalises edges wider than the ground truth's). Runs on the CPU (results return there).
    """
    if version not in ("1.0", "1.1"):
        raise ValueError(f"version must be '1.0' or '1.1', got {version!r}")
    check_images(x, y, channels=3)
    if x.shape[-1] <= 2 * SHIFT_RANGE or x.shape[-2] <= 2 * SHIFT_RANGE:
        raise ValueError(f"erqa needs images larger than {2 * SHIFT_RANGE}x{2 * SHIFT_RANGE}, got {tuple(x.shape[-2:])}")
    lead = x.shape[:-3]
    with torch.inference_mode():
        out = _erqa_planar(x.detach().reshape(-1, *x.shape[-3:]), y.detach().reshape(-1, *y.shape[-3:]), version,
                           global_compensation)
    return out.clone().reshape(lead)


def _to_uint8_planar_bgr(x: torch.Tensor) -> torch.Tensor:
    """Float RGB [..., 3, H, W] -> uint8 BGR [N, 3, H, W] on the CPU (the channel order OpenCV sees; no HWC copy)."""
    q = x.detach().cpu().reshape(-1, *x.shape[-3:]).clamp(0, 1).mul(255).round_().to(torch.uint8)
    return q.flip(-3)


def _erqa_planar(x: torch.Tensor, y: torch.Tensor, version: str, global_compensation: bool) -> torch.Tensor:
    """erqa on float RGB [N, 3, H, W], quantised chunk by chunk (cache-sized: ~3x faster than one huge batch).

    The chunks run one after the other, single-threaded, on a metrics worker thread (see _chunks)."""
    n, _, h, w = x.shape
    out = torch.empty(n, dtype=torch.float64)
    step = max(1, CHUNK_PIXELS // (h * w))

    def run(c0):
        ac, bc = _to_uint8_planar_bgr(x[c0:c0 + step]), _to_uint8_planar_bgr(y[c0:c0 + step])
        shifts = _best_shifts(ac, bc) if global_compensation else [(0, 0)] * ac.shape[0]
        for s in sorted(set(shifts)):
            idx = torch.tensor([k for k, t in enumerate(shifts) if t == s])
            ai, bi = (ac, bc) if len(idx) == len(shifts) else (ac[idx], bc[idx])
            ai, bi = _shift2d(ai, bi, s[0], s[1], h, w)
            edges = _canny_planar(torch.cat([ai, bi]))  # both in one call
            e_img, e_gt = edges[:len(idx)], edges[len(idx):]
            out[c0 + idx] = _match_f1(e_img, e_gt, penalize_wider_edges=(version == "1.1"))

    map_chunks(run, range(0, n, step))  # one torch thread, off the caller's thread (see _chunks)
    return out
