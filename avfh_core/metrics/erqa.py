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
    from scipy import ndimage

    n, h, w, c = bgr.shape
    p = F.pad(bgr.movedim(-1, 1).to(torch.float32), (1, 1, 1, 1), mode="replicate").to(torch.int32)
    # 3x3 Sobel on the replicated border, in integers: dx = [-1 0 1; -2 0 2; -1 0 1], dy its transpose
    cols = p[..., 2:] - p[..., :-2]  # [N, C, H+2, W]
    rows = p[..., 2:, :] - p[..., :-2, :]  # [N, C, H, W+2]
    dx = cols[..., :-2, :] + 2 * cols[..., 1:-1, :] + cols[..., 2:, :]  # int32 suffices: |d| <= 1020, |d| << 16 < 2^31
    dy = rows[..., :-2] + 2 * rows[..., 1:-1] + rows[..., 2:]
    mag = dx.abs() + dy.abs()
    idx = mag.argmax(dim=1, keepdim=True)  # first maximal channel, like OpenCV's strict '>' scan
    m = mag.gather(1, idx)[:, 0]
    dx, dy = dx.gather(1, idx)[:, 0], dy.gather(1, idx)[:, 0]
    mp = F.pad(m, (1, 1, 1, 1))  # zeros around the image

    def nb(oy, ox):  # magnitude of the neighbour at (y + oy, x + ox)
        return mp[:, 1 + oy:1 + oy + h, 1 + ox:1 + ox + w]

    ax, ay = dx.abs(), dy.abs() << 15
    tg22x = ax * _TG22
    tg67x = tg22x + (ax << 16)
    horiz = ay < tg22x
    vert = (~horiz) & (ay > tg67x)
    diag = ~(horiz | vert)
    same_sign = (dx ^ dy) >= 0  # s = +1
    keep_h = (m > nb(0, -1)) & (m >= nb(0, 1))
    keep_v = (m > nb(-1, 0)) & (m >= nb(1, 0))
    keep_d = torch.where(same_sign, (m > nb(-1, -1)) & (m > nb(1, 1)), (m > nb(-1, 1)) & (m > nb(1, -1)))
    cand = (m > low) & ((horiz & keep_h) | (vert & keep_v) | (diag & keep_d))
    strong = cand & (m > high)
    cand_np, strong_np = cand.numpy(), strong.numpy()
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # 8-connectivity within each image, none across the batch
    labels, n_labels = ndimage.label(cand_np, structure=structure)
    keep = np.zeros(n_labels + 1, dtype=bool)  # a component survives if it holds a strong pixel
    keep[labels[strong_np]] = True
    keep[0] = False
    return torch.from_numpy(keep[labels])


def _fft_size(n: int) -> int:
    """The smallest 2,3,5-smooth integer >= n (fast FFT lengths)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def _best_shifts(a: torch.Tensor, b: torch.Tensor) -> list[tuple[int, int]]:
    """Reference step 1 for a batch of uint8 [N, H, W, 3]: the (rows, cols) shift of minimum MSE per image.

    For shift (i, j) the reference compares img[i:, j:] with gt[:-i, :-j] (signs as in erqa.shift2d). Its sum of
    squared differences is sum img^2 + sum gt^2 - 2 sum img * gt over the overlap: the squares from integral images
    (exact int64), the cross term for all 49 lags from one FFT cross-correlation (float64, rounded to the exact
    integer). The mean divides by the overlap size, as np.mean does, so ties break exactly as in the reference.
    """
    n, h, w, _ = a.shape
    r = SHIFT_RANGE
    af, bf = a.movedim(-1, 1).to(torch.float64), b.movedim(-1, 1).to(torch.float64)  # [N, 3, H, W]
    fh, fw = _fft_size(h + r), _fft_size(w + r)
    # corr[i, j] = sum_{y,x} img[y + i, x + j] * gt[y, x]  (circular over the padded size: no wrap for |i|,|j| <= r)
    spec = (torch.fft.rfft2(af, s=(fh, fw)) * torch.fft.rfft2(bf, s=(fh, fw)).conj()).sum(dim=1)
    corr = torch.fft.irfft2(spec, s=(fh, fw)).round().to(torch.int64)  # [N, fh, fw]

    def integral(z):  # 2-D inclusive prefix sums with a zero row/col in front: [N, H+1, W+1]
        return F.pad(z.cumsum(1).cumsum(2), (1, 0, 1, 0))

    ia = integral((a.to(torch.int64) ** 2).sum(dim=-1))
    ib = integral((b.to(torch.int64) ** 2).sum(dim=-1))

    def box(ii, y0, y1, x0, x1):
        return ii[:, y1, x1] - ii[:, y0, x1] - ii[:, y1, x0] + ii[:, y0, x0]

    shifts, errs = [], []
    for i in range(-r, r + 1):
        for j in range(-r, r + 1):
            ay0, ay1 = (i, h) if i > 0 else (0, h + i)
            ax0, ax1 = (j, w) if j > 0 else (0, w + j)
            by0, by1, bx0, bx1 = ay0 - i, ay1 - i, ax0 - j, ax1 - j
            ssd = box(ia, ay0, ay1, ax0, ax1) + box(ib, by0, by1, bx0, bx1) - 2 * corr[:, i % fh, j % fw]
            errs.append(ssd.to(torch.float64) / float((ay1 - ay0) * (ax1 - ax0) * 3))
            shifts.append((i, j))
    best = torch.stack(errs, dim=1).argmin(dim=1)  # first minimum = the reference's dict order
    return [shifts[k] for k in best.tolist()]


def _shift2d(img, gt, a, b, h, w):
    """erqa.shift2d on [N, H, W, ...]: img[a:] vs gt[:-a] along rows (a > 0), then the same along columns with b."""
    def sl(s, n):
        return (slice(s, n), slice(0, n - s)) if s > 0 else (slice(0, n + s), slice(-s, n))
    ri, rg = sl(a, h)
    ci, cg = sl(b, w)
    return img[:, ri, ci], gt[:, rg, cg]


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
    a = to_uint8_bgr(x.cpu()).reshape(-1, *x.shape[-2:], 3)
    b = to_uint8_bgr(y.cpu()).reshape(-1, *y.shape[-2:], 3)
    n, h, w = a.shape[:3]
    out = torch.empty(n, dtype=torch.float64)
    step = max(1, CHUNK_PIXELS // (h * w))  # cache-sized chunks: much faster on the CPU than one huge batch
    for c0 in range(0, n, step):
        ac, bc = a[c0:c0 + step], b[c0:c0 + step]
        shifts = _best_shifts(ac, bc) if global_compensation else [(0, 0)] * ac.shape[0]
        for s in sorted(set(shifts)):
            idx = torch.tensor([k for k, t in enumerate(shifts) if t == s])
            ai, bi = _shift2d(ac[idx], bc[idx], s[0], s[1], h, w)
            e_img, e_gt = canny(ai.contiguous()), canny(bi.contiguous())
            out[c0 + idx] = _match_f1(e_img, e_gt, penalize_wider_edges=(version == "1.1"))
    return out.reshape(lead)
