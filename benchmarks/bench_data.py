"""Speed of the synthetic world (issue 3): frames per second of complete clips (video + frontal + audio).

    .venv/bin/python benchmarks/bench_data.py --size 128 --frames 2048 --workers 2

Clips are independent, so generation parallelises over processes (`--workers`, one torch thread each), which is
how a dataset cache is filled. Prints, per variant, wall-clock frames/s and the single-core CPU-time rate
(frames per CPU-second of one process), which is less sensitive to other jobs sharing the machine. Target:
>= 1000 frames/s at 128x128 with audio on the project's 2-core machine (issue 11). Identity textures are warmed up
first (they are cached per world, as in any real run); `--people 500` shows that a clip costs about the same with
many people, `--face-scale` the cost of the framing.

`--cpu-time` measures only the CPU time of one process (one torch thread, no worker pool), the best of `--repeat`
runs over the same clips: the figure to compare two versions of the generator on a machine shared with other jobs,
where wall-clock frames/s mean little (run it with OMP_NUM_THREADS=1 on both and take the ratio).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import torch

from avfh_core.data import SynthConfig, SynthWorld


def _work(args):
    cfg_kw, indices, what = args
    torch.set_num_threads(1)
    world = SynthWorld(SynthConfig(**cfg_kw))
    if what == "clip":
        for idn in world.identities("train"):  # warm the per-identity texture cache (as any long run has)
            world._texture(idn)
    world.clip(0) if what == "clip" else world.audio(0)  # warm-up (allocations, lazy imports)
    c0, w0 = time.process_time(), time.perf_counter()
    for i in indices:
        world.clip(i, "train") if what == "clip" else world.audio(i, "train")
    return time.process_time() - c0, time.perf_counter() - w0


def bench(cfg_kw: dict, n_frames: int, workers: int, what: str = "clip") -> dict:
    T = cfg_kw["num_frames"]
    n_clips = max(workers, n_frames // T)
    chunks = [list(range(1 + k, 1 + n_clips, workers)) for k in range(workers)]
    if workers == 1:
        res = [_work((cfg_kw, chunks[0], what))]
    else:  # workers run concurrently; each times its own loop after its warm-up
        with mp.get_context("spawn").Pool(workers) as pool:
            res = pool.map(_work, [(cfg_kw, c, what) for c in chunks])
    cpu = sum(r[0] for r in res)
    wall = max(r[1] for r in res)
    frames = n_clips * T
    return dict(clips=n_clips, frames=frames, wall_s=wall, fps=frames / wall, cpu_fps=frames / cpu)


def cpu_time(cfg_kw: dict, n_frames: int, repeat: int = 3, what: str = "clip") -> dict:
    """CPU time per frame of one process over the same clips, the best of `repeat` runs (other jobs on the machine
    only ever add time, so the minimum is the least disturbed)."""
    if repeat < 1:
        raise ValueError(f"cpu_time: repeat={repeat!r} must be >= 1")
    T = cfg_kw["num_frames"]
    n_clips = max(1, n_frames // T)
    runs = [_work((cfg_kw, list(range(1, 1 + n_clips)), what))[0] for _ in range(repeat)]
    best = min(runs)
    frames = n_clips * T
    return dict(clips=n_clips, frames=frames, cpu_s=best, runs_cpu_s=runs, cpu_ms_per_frame=1e3 * best / frames,
                cpu_fps=frames / best)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=2048, help="frames to generate per variant")
    ap.add_argument("--num-frames", type=int, default=29, help="frames per clip")
    ap.add_argument("--workers", type=int, default=2, help="processes (one torch thread each)")
    ap.add_argument("--people", type=int, default=None,
                    help="train identities (default: SynthConfig's); every one's texture is warmed up first")
    ap.add_argument("--face-scale", type=float, default=None, help="SynthConfig.face_scale (default: its default)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="only the CPU time per frame of one process (no worker pool), the best of --repeat runs")
    ap.add_argument("--repeat", type=int, default=3, help="runs per variant with --cpu-time (the best is kept)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error(f"--repeat must be >= 1, got {args.repeat}")
    out = {}
    variants = (("video+frontal+audio", {}), ("video+audio (no frontal)", {"render_frontal": False}),
                ("audio only", {}))
    for name, kw in variants:
        cfg_kw = dict(image_size=args.size, num_frames=args.num_frames, **kw)
        if args.people is not None:
            cfg_kw["n_train_identities"] = args.people
        if args.face_scale is not None:
            cfg_kw["face_scale"] = args.face_scale
        what = "audio" if name == "audio only" else "clip"
        if args.cpu_time:
            r = out[name] = cpu_time(cfg_kw, args.frames, args.repeat, what)
            print(f"{name:26s} {args.size}x{args.size}: {r['clips']} clips x {args.num_frames} frames, "
                  f"{r['cpu_ms_per_frame']:.3f} CPU-ms per frame = {r['cpu_fps']:.0f} frames per CPU-second "
                  f"(one process, best of {args.repeat})")
            continue
        r = bench(cfg_kw, args.frames, args.workers, what)
        out[name] = r
        print(f"{name:26s} {args.size}x{args.size}: {r['clips']} clips x {args.num_frames} frames, "
              f"{r['wall_s']:.2f} s wall = {r['fps']:.0f} frames/s with {args.workers} worker(s); "
              f"{r['cpu_fps']:.0f} frames per CPU-second of one core")
    return out


if __name__ == "__main__":
    main()
