"""Time of a VFH-GAN training step with the discriminator frozen in the generator's loss (`train.loop.frozen`, what
training does) against the same step computing D's weight gradients too (what it did before 2026-12-07), and proof
that the weights come out the same bit for bit.

    .venv/bin/python benchmarks/bench_frozen_d.py --preset course --steps 30

One thread, one process; the two modes alternate (`--repeats` times each) so that a drift of the machine's speed
falls on both. Every repeat trains the same row from the same seed, so each mode's weights must equal the other's.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import statistics
import time
from unittest import mock


def weights_digest(models) -> str:
    h = hashlib.sha256()
    for name in sorted(models):
        for key, t in sorted(models[name].state_dict().items()):
            h.update(f"{name}.{key}".encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="course")
    ap.add_argument("--setting", choices=("released", "balanced"), default="balanced")
    ap.add_argument("--row", default="audio_attention", help="a Table 1 row (every one has a discriminator)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        ap.error(f"--steps and --repeats must be >= 1, got {args.steps} and {args.repeats}")

    import torch

    from avfh_core.config import setup
    from avfh_core.train import vfhgan

    torch.set_num_threads(1)
    cfg = setup(args.preset, device="cpu")
    rows = vfhgan.table1(cfg, args.setting)
    if args.row not in rows:
        ap.error(f"--row must be one of {sorted(rows)}, got {args.row!r}")
    run = rows[args.row]
    vfhgan.train(run, cfg, seed=0, steps=1)  # data, feature net and lip reader cached before any timing
    seconds: dict[str, list[float]] = {"frozen": [], "unfrozen": []}
    digests: dict[str, set[str]] = {"frozen": set(), "unfrozen": set()}
    for _ in range(args.repeats):
        for mode in ("frozen", "unfrozen"):
            # the unfrozen mode: vfhgan.train's `frozen(D)` made a no-op for this run only
            with (contextlib.nullcontext() if mode == "frozen"
                  else mock.patch.object(vfhgan, "frozen", lambda *m: contextlib.nullcontext())):
                start = time.perf_counter()
                trained = vfhgan.train(run, cfg, seed=0, steps=args.steps)
                seconds[mode].append((time.perf_counter() - start) / args.steps)
            digests[mode].add(weights_digest(trained.models))
    same = len(digests["frozen"] | digests["unfrozen"]) == 1
    out = {mode: statistics.median(s) for mode, s in seconds.items()}
    print(f"{args.preset} {args.setting} {args.row}, {args.steps} steps x {args.repeats}, one thread: "
          f"{out['unfrozen']:.3f} s per step computing D's weight gradients, {out['frozen']:.3f} s with D frozen "
          f"({1 - out['frozen'] / out['unfrozen']:.0%} less); weights {'bit-identical' if same else 'DIFFER'}")
    if not same:
        raise SystemExit("the two modes trained different weights")
    return {**out, "same_weights": same}


if __name__ == "__main__":
    main()
