"""Wall time of training a table's rows: one after the other at T threads, one after the other at one thread, and
side by side in single-threaded worker processes (`train.parallel.prefetch`, what `run_rows` now does).

    .venv/bin/python benchmarks/bench_rows.py --paper vfhgan --table table1 --steps 30 --seeds 2

Each mode starts from an empty run cache (the world's data cache is warmed first, as in any second notebook), so
the three times count training and scoring only. Run it on a quiet machine, and once more beside a busy process
(`--busy`: a CPU-bound loop on one core for the whole measurement) to see what a shared machine does to an OpenMP
team. The scores of the single-threaded modes must be equal bit for bit (the script checks it).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from pathlib import Path
from unittest import mock


def _spin(stop):
    x = 0
    while not stop.is_set():
        x += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--paper", default="vfhgan")
    ap.add_argument("--table", default="table1", help="a key of the paper's TABLES")
    ap.add_argument("--preset", default="course")
    ap.add_argument("--steps", type=int, default=30, help="training steps per run (the preset's is long)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--rows", type=int, default=4, help="at most this many rows of the table")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="T of the multi-threaded mode")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--busy", action="store_true", help="keep one core busy with another process meanwhile")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench_rows_"))
    os.environ["AVFH_HOME"] = str(home)
    import torch

    from avfh_core.config import setup
    from avfh_core.train import experiment as E
    from avfh_core.train import parallel as P

    paper = importlib.import_module(f"avfh_core.train.{args.paper}")
    cfg = setup(args.preset, steps=args.steps)
    rows = dict(list(paper.TABLES[args.table](cfg).items())[: args.rows])
    jobs = [(run, cfg.seed + k) for run in rows.values() for k in range(args.seeds)]
    paper.eval_set(next(iter(rows.values())), cfg)  # warm the world's data cache
    stop = mp.Event()
    busy = mp.Process(target=_spin, args=(stop,), daemon=True) if args.busy else None
    if busy:
        busy.start()
    results: dict[str, tuple[float, list[float]]] = {}
    try:
        for mode in ("threads", "one", "pool"):
            shutil.rmtree(home / "runs", ignore_errors=True)
            E.clear_memory()
            t0 = time.perf_counter()
            if mode == "threads":  # the old behaviour: this process's threads, one run after the other
                torch.set_num_threads(args.threads)
                with mock.patch.object(E, "one_thread", _no_pin):
                    scores = [E.cached_run(paper, r, cfg, s)[0] for r, s in jobs]
            elif mode == "one":
                scores = [E.cached_run(paper, r, cfg, s)[0] for r, s in jobs]
            else:
                P.prefetch(paper, jobs, cfg, processes=args.processes)
                scores = [E.cached_run(paper, r, cfg, s)[0] for r, s in jobs]
            key = next(k for k in scores[0] if k != "train_seconds")
            results[mode] = (time.perf_counter() - t0, [s[key] for s in scores])
    finally:
        stop.set()
        if busy:
            busy.join()
        shutil.rmtree(home, ignore_errors=True)
    print(f"{args.paper} {args.table}: {len(jobs)} runs x {args.steps} steps, preset {args.preset}, "
          f"{os.cpu_count()} cores{', one kept busy' if args.busy else ''}")
    labels = {"threads": f"one after the other, {args.threads} threads", "one": "one after the other, 1 thread",
              "pool": f"side by side, {args.processes} processes x 1 thread"}
    for mode, (secs, _) in results.items():
        print(f"  {labels[mode]:40s} {secs:7.1f} s")
    same = results["one"][1] == results["pool"][1]
    print(f"  1-thread scores equal in both modes: {same}")
    if not same:
        raise SystemExit("the single-threaded modes disagree: a bug in train.parallel")


def _no_pin(device="cpu"):
    return contextlib.nullcontext()


if __name__ == "__main__":
    main()
