"""CPU cost of assembling one training batch of VFH-GAN windows (`data.batching.step_batches`), item by item
(`collate`, each 8-bit HR window converted to float on the CPU) against `WindowDataset.stacked` (the 8-bit HR stacked
as bytes, scaled after the move to the training device), and which part of the latter stays on the CPU when that
device is a GPU.

    .venv/bin/python benchmarks/bench_batches.py --preset gpu --clips 48

Builds the preset's world for `--clips` training clips only (the batch's cost does not depend on how many clips the
world has), one torch thread, and reports CPU milliseconds per batch (`time.process_time`, the best of `--repeat`
passes over the same batches): insensitive to other jobs on the machine. "bytes part" times `WindowDataset.gathered`,
the stacked path without its float conversion: the part left on the CPU of a CUDA run (the conversion then runs on
the GPU). The two paths
are checked to give the same batch, bit for bit, before anything is timed.
"""

from __future__ import annotations

import argparse
import time

import torch


def timed(fn, batches: list[list[int]], repeat: int) -> float:
    """Best of `repeat` passes: CPU milliseconds per batch of fn(indices)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        for idx in batches:
            fn(idx)
        best = min(best, (time.process_time() - t) / len(batches) * 1e3)
    return best


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="gpu")
    ap.add_argument("--clips", type=int, default=48, help="training clips to build (>= 1)")
    ap.add_argument("--batches", type=int, default=10, help="batches per pass (>= 1)")
    ap.add_argument("--repeat", type=int, default=3, help="passes; the best is reported (>= 1)")
    args = ap.parse_args(argv)
    for name in ("clips", "batches", "repeat"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    torch.set_num_threads(1)
    from avfh_core.config import setup
    from avfh_core.data.batching import collate
    from avfh_core.train import vfhgan

    cfg = setup(args.preset, seed=0, device="cpu", n_train_clips=args.clips,
                world_train_people=min(args.clips, setup(args.preset).world_train_people))
    ds = vfhgan.window_data(cfg, "train")
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(len(ds), (cfg.batch_size,), generator=g).tolist() for _ in range(args.batches)]
    a, b = collate([ds[i] for i in batches[0]]), ds.stacked(batches[0])
    if list(a) != list(b) or any(a[k].dtype != b[k].dtype or not torch.equal(a[k], b[k]) for k in a):
        raise SystemExit("bench_batches: WindowDataset.stacked and collate disagree")

    hr = b["hr"]
    out = {"collate_ms": timed(lambda idx: collate([ds[i] for i in idx]), batches, args.repeat),
           "stacked_ms": timed(ds.stacked, batches, args.repeat),
           "bytes_part_ms": timed(ds.gathered, batches, args.repeat),
           "hr_float_mb": hr.numel() * 4 / 2**20, "hr_uint8_mb": hr.numel() / 2**20}
    print(f"preset {args.preset}: batch {cfg.batch_size}, HR window {tuple(hr.shape[1:])}; "
          f"CPU ms per batch (best of {args.repeat} x {args.batches}, one thread):")
    print(f"  item by item (collate)          {out['collate_ms']:7.2f}")
    print(f"  WindowDataset.stacked, on CPU   {out['stacked_ms']:7.2f}")
    print(f"  ... its bytes part (CUDA runs)  {out['bytes_part_ms']:7.2f}")
    print(f"  HR moved per batch: {out['hr_float_mb']:.1f} MB as float32, {out['hr_uint8_mb']:.1f} MB as bytes")
    return out


if __name__ == "__main__":
    main()
