"""Speed of the synthetic world (issue 3): frames per second of complete clips (video + frontal + audio).

    .venv/bin/python benchmarks/bench_data.py --size 128 --frames 2048 --threads 2

Prints one line per variant: clips generated, seconds, frames/s. The target is >= 500 frames/s at 128x128 with
audio on the project's 2-core machine (README). Identity textures are warmed up first (they are cached per world,
as in any real run).
"""

from __future__ import annotations

import argparse
import time

import torch

from avfh_core.data import SynthConfig, SynthWorld


def bench(world: SynthWorld, n_frames: int, what: str = "clip") -> tuple[int, float, float]:
    T = world.config.num_frames
    n_clips = max(1, n_frames // T)
    t0 = time.perf_counter()
    for i in range(n_clips):
        if what == "clip":
            world.clip(i, "train")
        else:
            world.audio(i, "train")
    dt = time.perf_counter() - t0
    return n_clips, dt, n_clips * T / dt


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=2048, help="frames to generate per variant")
    ap.add_argument("--num-frames", type=int, default=29, help="frames per clip")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = {}
    for name, kw in (("video+frontal+audio", {}), ("video+audio (no frontal)", {"render_frontal": False})):
        world = SynthWorld(SynthConfig(image_size=args.size, num_frames=args.num_frames, **kw))
        for idn in world.identities("train"):  # warm the per-identity texture cache
            world._texture(idn)
        n, dt, fps = bench(world, args.frames)
        out[name] = fps
        print(f"{name:28s} {args.size}x{args.size}  {n} clips x {args.num_frames} frames in {dt:.2f} s: "
              f"{fps:.0f} frames/s ({args.threads} threads)")
    world = SynthWorld(SynthConfig(image_size=args.size, num_frames=args.num_frames))
    n, dt, fps = bench(world, args.frames, "audio")
    out["audio only"] = fps
    print(f"{'audio only':28s} {n} clips in {dt:.2f} s: {fps:.0f} frames/s")
    return out


if __name__ == "__main__":
    main()
