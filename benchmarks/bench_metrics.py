"""Benchmark: our batched PSNR / SSIM / ERQA (avfh_core.metrics) against the reference packages and the torch peers.

    .venv/bin/python benchmarks/bench_metrics.py [--frames 256] [--size 128] [--repeat 3] [--load 1] [--skip-reference]

Run on demand (not part of the tests). The frames are scikit-image's astronaut (a real photo) cropped and degraded
(blur, noise, bicubic x4) so that edges and errors are realistic, quantised to 8 bits.

1. References, frame by frame: skimage.metrics.peak_signal_noise_ratio and structural_similarity (gaussian_weights,
   sigma 1.5, population covariance: the Wang et al. convention), and erqa.ERQA (1.1.2) on uint8 BGR frames. Values
   must agree (PSNR 1e-3 dB, SSIM 1e-4, ERQA 1e-3). Each side gets its inputs in its native format, prepared
   untimed (the reference: numpy float64 HWC frames, uint8 BGR for erqa; ours: one float32 [N, 3, H, W] tensor), and
   everything a user must do on top is timed -- for the Y-channel rows the reference's BT.601 conversion and crop.

2. Torch peers (test-only, the dev extra): torchmetrics 1.9 (PSNR, SSIM) and pytorch-msssim 1.0 (SSIM), all on the
   same float32 RGB batch, no Y conversion for anyone (ours with y_channel=False), data range 1, and for SSIM the
   Gaussian window 11 with sigma 1.5, K1 = 0.01, K2 = 0.03. pytorch-msssim filters 'valid' and averages the map, as
   we do; torchmetrics pads (reflect) and averages the whole padded map, so it is called with
   return_full_image=True and its map is averaged over the valid positions [5:-5, 5:-5] (timed): only then are
   the values equal. Values must agree with ours to 1e-4 (dB for PSNR): all sides sum in float32 (measured
   ~3e-6 dB, ~2e-5 / ~6e-6 SSIM). Every side is timed at 1 torch thread and at torch's default count (set outside
   the timing, the two alternating), best of --repeat after a warm-up call (calls under 25 ms get up to 20
   rounds); "fastest peer / ours" divides the fastest peer at any thread count by ours at the default count. ERQA
   has no torch peer: its rows compare ours at the default count with ours at 1 thread (the thread strategy must never be slower than single-threaded; see avfh_core/metrics/_chunks.py).
   SPIN_NOTE: after a torch op with 2 threads, its OpenMP thread spins for ~10 ms; on a loaded 2-core box that
   takes CPU from whatever runs next on another thread, our metric worker included (measured: PSNR 20 -> 30 ms
   right after such an op, no difference after 50 ms idle), so the timings start after 0.1 s idle. All of this is
   done twice: as found, then under load (the benchmark starts --load CPU-bound busy-loop python
   processes and always stops them). The 1-minute load average is printed with every figure: on a shared machine
   "as found" is not quiet.

Measured earlier (2-core CPU, quiet, OMP_NUM_THREADS=2; reference -> ours): PSNR RGB 0.012 -> 0.006 s (2.0x), SSIM RGB
0.83 -> 0.13 s (6.3x), PSNR Y 0.021 -> 0.009 s (2.5x), SSIM Y 0.20 -> 0.048 s (4.1x), ERQA 0.74 -> ~0.2-0.35 s
(2-3.5x). The issue's 20x is not reachable on this CPU at equal values: PSNR is memory-bound on both sides (the
reference's numpy pass is ~50 us/frame; reading the two float32 batches alone costs ~3 ms), SSIM is bound by the
88 multiply-adds per pixel of the separable 11-tap filtering of 4 moments (ours runs them in float32 at ~6
G/s per core), and in ERQA OpenCV's SIMD Canny alone costs the reference 0.3 ms per frame pair (its 49-shift
numpy search is the other 2 ms), which a torch re-implementation cannot undercut by 20x.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time

import numpy as np
import torch


def make_frames(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    from skimage import data, filters, transform

    photo = data.astronaut() / 255.0
    rng = np.random.default_rng(seed)
    gts, degs = [], []
    for k in range(n):
        y0, x0 = rng.integers(0, photo.shape[0] - 2 * size), rng.integers(0, photo.shape[1] - 2 * size)
        gt = transform.resize(photo[y0:y0 + 2 * size, x0:x0 + 2 * size], (size, size), anti_aliasing=True)
        kind = k % 3
        if kind == 0:
            deg = filters.gaussian(gt, 1.0 + rng.random(), channel_axis=-1)
        elif kind == 1:
            deg = gt + 0.03 * rng.standard_normal(gt.shape)
        else:
            deg = transform.resize(transform.resize(gt, (size // 4, size // 4), anti_aliasing=True), (size, size), order=3)
        gts.append(gt)
        degs.append(np.clip(deg, 0, 1))
    q = lambda a: torch.from_numpy((np.stack(a) * 255).round() / 255).permute(0, 3, 1, 2).float().contiguous()  # 8-bit
    return q(degs), q(gts)


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Best time of `repeat` calls (calls under 25 ms: up to 20, ~0.5 s in all) and the last result."""
    best, out, k = float("inf"), None, 0
    while k < repeat:
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
        if k == 0:
            repeat = max(repeat, min(20, int(0.5 / best)))
        k += 1
    return best, out


@contextlib.contextmanager
def background_load(processes: int):
    """`processes` CPU-bound busy loops (python subprocesses) for the loaded timings; always stopped on exit."""
    procs = []
    try:
        for _ in range(processes):
            procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        time.sleep(1.0)  # let them get scheduled
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def reference_rows(x: torch.Tensor, y: torch.Tensor, repeat: int) -> list:
    """Ours vs scikit-image (PSNR, SSIM, RGB and Y) and the erqa package, frame by frame."""
    import erqa as erqa_ref
    from skimage import metrics as skm

    from avfh_core.metrics import erqa, psnr, ssim
    from avfh_core.metrics.erqa import to_uint8_bgr

    xn, yn = x.permute(0, 2, 3, 1).double().numpy(), y.permute(0, 2, 3, 1).double().numpy()
    xb, yb = to_uint8_bgr(x).numpy(), to_uint8_bgr(y).numpy()
    rows = []
    t_ref, ref = timed(lambda: np.array([skm.peak_signal_noise_ratio(b, a, data_range=1) for a, b in zip(xn, yn)]),
                       repeat)
    t_our, our = timed(lambda: psnr(x, y, y_channel=False), repeat)
    rows.append(("PSNR (RGB)", t_ref, t_our, float(np.abs(our.numpy() - ref).max()), 1e-3))
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)
    t_ref, ref = timed(lambda: np.array([skm.structural_similarity(b, a, **kw) for a, b in zip(xn, yn)]), repeat)
    t_our, our = timed(lambda: ssim(x, y, y_channel=False), repeat)
    rows.append(("SSIM (RGB)", t_ref, t_our, float(np.abs(our.numpy() - ref).max()), 1e-4))
    def y_np(a):  # one HWC frame -> BT.601 Y/255, the papers' convention, with the x4 border crop (timed)
        return ((16 + 65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255.0)[4:-4, 4:-4]

    kw_y = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)
    t_ref, ref = timed(lambda: np.array([skm.peak_signal_noise_ratio(y_np(b), y_np(a), data_range=1)
                                         for a, b in zip(xn, yn)]), repeat)
    t_our, our = timed(lambda: psnr(x, y, crop=4), repeat)
    rows.append(("PSNR (Y)", t_ref, t_our, float(np.abs(our.numpy() - ref).max()), 1e-3))
    t_ref, ref = timed(lambda: np.array([skm.structural_similarity(y_np(b), y_np(a), **kw_y) for a, b in zip(xn, yn)]),
                       repeat)
    t_our, our = timed(lambda: ssim(x, y, crop=4), repeat)
    rows.append(("SSIM (Y)", t_ref, t_our, float(np.abs(our.numpy() - ref).max()), 1e-4))
    for version in ("1.0", "1.1"):
        metric = erqa_ref.ERQA(version=version)
        t_ref, ref = timed(lambda m=metric: np.array([m(a, b) for a, b in zip(xb, yb)]), repeat)
        t_our, our = timed(lambda v=version: erqa(x, y, v), repeat)
        rows.append((f"ERQA {version}", t_ref, t_our, float(np.abs(our.numpy() - ref).max()), 1e-3))
    return rows


PEER_PSNR_TOL, PEER_SSIM_TOL = 1e-4, 1e-4  # dB, SSIM units: float32 sums on both sides (measured ~1e-5)


def peer_rows(x: torch.Tensor, y: torch.Tensor, repeat: int, threads: int) -> list:
    """Ours vs the torch peers on the whole float32 RGB batch [N, 3, H, W], each at torch's default thread count
    (`threads`) and at 1 thread. Returns (metric, side, threads, seconds, max |diff| to ours at 1 thread, tol, load)."""
    from pytorch_msssim import ssim as pm_ssim
    from torchmetrics.functional.image import peak_signal_noise_ratio as tm_psnr
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    from avfh_core.metrics import erqa, psnr, ssim

    r = 5  # SSIM window radius: torchmetrics pads (reflect) to keep the size; its valid positions are [r:-r]

    def tm_ssim_valid():
        _, full = tm_ssim(x, y, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0, k1=0.01, k2=0.03,
                          return_full_image=True)
        return full[..., r:-r, r:-r].mean(dim=(1, 2, 3))

    sides = {
        "PSNR (RGB)": (PEER_PSNR_TOL, [
            ("ours", lambda: psnr(x, y, y_channel=False)),
            ("torchmetrics", lambda: tm_psnr(x, y, data_range=1.0, reduction="none", dim=(1, 2, 3)))]),
        "SSIM (RGB)": (PEER_SSIM_TOL, [
            ("ours", lambda: ssim(x, y, y_channel=False)),
            ("torchmetrics", tm_ssim_valid),
            ("pytorch-msssim", lambda: pm_ssim(x, y, data_range=1.0, size_average=False, win_size=11, win_sigma=1.5,
                                               K=(0.01, 0.03)))]),
        "ERQA 1.1": (0.0, [("ours", lambda: erqa(x, y, "1.1"))]),  # no torch peer: ours vs ours at 1 thread
    }
    rows, refs = [], {}
    counts = sorted({1, threads})
    settle = torch.zeros(1 << 18)
    old = torch.get_num_threads()
    try:
        for metric, (tol, fns) in sides.items():
            for side, fn in fns:
                best, outs = {n: float("inf") for n in counts}, {}
                rounds, rnd = repeat, 0
                while rnd <= rounds:  # round 0 warms up; the thread counts alternate, so drifting load on a
                    for n in counts:  # shared machine hits both alike
                        torch.set_num_threads(n)
                        settle.add_(1)  # untimed: the first op after a count change pays for OpenMP's new team,
                        time.sleep(0.1)  # and its threads spin ~10 ms after an op (see SPIN_NOTE), idle here
                        t0 = time.perf_counter()
                        outs[n] = fn()
                        if rnd:
                            best[n] = min(best[n], time.perf_counter() - t0)
                        else:  # short calls get more rounds (up to 20, ~0.5 s each): best-of-3 is noise for them
                            rounds = max(rounds, min(20, int(0.5 / (time.perf_counter() - t0))))
                    rnd += 1
                for n in counts:
                    out = outs[n].double()
                    ref = refs.setdefault(metric, out)  # ours at 1 thread comes first
                    rows.append((metric, side, n, best[n], float((out - ref).abs().max()), tol, os.getloadavg()[0]))
    finally:
        torch.set_num_threads(old)
    return sorted(rows, key=lambda r: (list(sides).index(r[0]), r[1] != "ours", r[1], r[2]))


def print_peers(rows: list, label: str) -> None:
    print(f"\n{label}: ours vs the torch peers, whole batch, RGB, best of the repeats; 'x fastest peer' = the fastest"
          " torch peer at any thread count / ours")
    print(f"{'metric':<12}{'side':<16}{'threads':>8}{'s':>9}{'load':>7}{'max |diff|':>12}  equal")
    for metric, side, n, t, diff, tol, load in rows:
        print(f"{metric:<12}{side:<16}{n:>8}{t:>9.3f}{load:>7.2f}{diff:>12.2e}  {diff <= tol}")
    for metric in dict.fromkeys(r[0] for r in rows):
        ours = {n: t for m, side, n, t, *_ in rows if m == metric and side == "ours"}
        peers = [t for m, side, n, t, *_ in rows if m == metric and side != "ours"]
        line = f"  {metric:<12} ours at {max(ours)} / at 1 thread: {ours[max(ours)] / ours[1]:.2f} of the time"
        if peers:
            line += f"; fastest peer / ours (default threads) = {min(peers) / ours[max(ours)]:.1f}x"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=256)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--load", type=int, default=1, help="busy-loop processes for the loaded peer timings (0: none)")
    ap.add_argument("--skip-reference", action="store_true", help="only the torch peers (skip scikit-image/erqa)")
    args = ap.parse_args()

    x, y = make_frames(args.frames, args.size)
    threads = torch.get_num_threads()
    print(f"{args.frames} frames of {args.size}x{args.size} RGB, torch threads: {threads}, {os.cpu_count()} CPUs")

    if not args.skip_reference:
        load0 = f"{os.getloadavg()[0]:.2f}"
        rows = reference_rows(x, y, args.repeat)
        print(f"load average before/after: {load0} / {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
        print("reference: frame by frame (its Y conversion timed); ours: the whole batch at once; best of "
              f"{args.repeat} (up to 20 for calls under 25 ms)")
        print(f"{'metric':<12}{'reference s':>13}{'ours s':>10}{'speed-up':>10}{'max |diff|':>12}  equal")
        for name, tr, to, diff, tol in rows:
            print(f"{name:<12}{tr:>13.3f}{to:>10.3f}{tr / to:>9.1f}x{diff:>12.2e}  {diff <= tol}")

    rows = peer_rows(x, y, args.repeat, threads)
    print_peers(rows, "as found (no load added)")
    equal = all(diff <= tol for *_, diff, tol, _ in rows)
    if args.load:
        with background_load(args.load):
            rows = peer_rows(x, y, args.repeat, threads)
        print_peers(rows, f"under load: {args.load} busy-loop process(es) added")
        equal = equal and all(diff <= tol for *_, diff, tol, _ in rows)
    if not equal:
        raise SystemExit("values differ beyond the stated tolerance (see 'equal' above)")


if __name__ == "__main__":
    main()
