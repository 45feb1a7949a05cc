"""Independent cached runs trained side by side, one single-threaded process each.

The course models are small: a step is a few small convolutions, too little work to split across the threads of
one process. Two things follow.

- **Speed.** A run is too small to keep two threads busy, so the cores are better spent on two runs at once,
  one thread each. On a shared machine it matters far more: an OpenMP team of two threads, with another process
  wanting one of its cores, spends most of its time waiting for its partner at every barrier.
  `benchmarks/bench_rows.py` measures the three ways (README, "Benchmarks").
- **The same numbers on every machine.** A float reduction split over k threads sums in a k-dependent order, so
  the same seed trained at 1 and at 2 threads gives weights that differ in the last bits, and the scores follow.
  On the CPU every cached run is therefore trained and scored with exactly one intra-op thread
  (`one_thread`), whether it runs in this process or in a worker: the cores a machine has, the load it is under
  and how many runs share it change the wall time, never a number. (A different CPU instruction set can still
  change the last bits: that is the floating-point arithmetic of the kernels, not the scheduling.)

`prefetch(paper, jobs, cfg)` trains the jobs (run, seed) that are not cached yet, in up to `train_processes()`
worker processes (spawned, so that a Jupyter kernel, CUDA or an OpenMP pool of the parent never leaks into
them), each of which writes its run into the disk cache that `experiment.cached_run` reads. `run_rows` calls it
first, so every table of every paper trains its rows in parallel without the notebooks knowing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from tqdm.auto import tqdm

ENV_PROCESSES = "AVFH_TRAIN_PROCESSES"
POOL_MIN_SECONDS = 3.0  # a run shorter than this trains faster here than in a worker that must first start

# The thread budget this process was started with (the batch runner gives each notebook kernel cores / notebooks
# through OMP_NUM_THREADS, and its run pool the cores no other notebook shares through $AVFH_TRAIN_PROCESSES), read
# before `one_thread` ever lowers torch's count.
_BUDGET = torch.get_num_threads()


def train_processes() -> int:
    """How many runs may train at once: $AVFH_TRAIN_PROCESSES if set (a positive integer), else the thread budget
    this process started with (its OMP_NUM_THREADS, or torch's default of one per core)."""
    raw = os.environ.get(ENV_PROCESSES)
    if raw is None or raw.strip() == "":
        return max(1, _BUDGET)
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"${ENV_PROCESSES}={raw!r} is not valid: expected a positive integer") from None
    if n < 1:
        raise ValueError(f"${ENV_PROCESSES}={raw!r} is not valid: expected a positive integer")
    return n


@contextlib.contextmanager
def one_thread(device: torch.device | str = "cpu") -> Iterator[None]:
    """Inside: torch uses one intra-op thread on this OS thread (on the CPU; a no-op for CUDA runs, whose numbers
    the CPU thread count does not touch). The previous count is restored on exit, also after an error."""
    if torch.device(device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _importable(paper: ModuleType) -> bool:
    """A worker re-imports the paper by name: a module defined in a notebook, a script (__main__) or loaded from a
    file that its name does not lead back to cannot be. Asked of the import system itself (`find_spec`), so a
    package installed in editable mode through an import hook (setuptools' finder, no sys.path entry; a fresh
    `pip install -e .` gives that) counts, as it does for the spawned worker."""
    name = getattr(paper, "__name__", "")
    src = getattr(paper, "__file__", None)
    if not name or name in ("__main__", "__mp_main__") or not src:
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    origin = getattr(spec, "origin", None)
    return bool(origin) and Path(origin).resolve() == Path(src).resolve()


def _train_in_worker(paper_name: str, run: Any, cfg: Any, seed: int, home: str) -> str:
    """One job in a worker: train and score (run, seed) into the disk cache under `home`; returns the cache path."""
    os.environ["AVFH_HOME"] = home
    from avfh_core.config import seed_everything
    from avfh_core.train.experiment import cached_run, run_path

    paper = importlib.import_module(paper_name)
    seed_everything(cfg.seed)  # what setup() did in the parent: global seeds and deterministic kernels
    cached_run(paper, run, cfg, seed, progress=False)
    return str(run_path(paper, run, cfg, seed))


def prefetch(paper: ModuleType, jobs: Iterable[tuple[Any, int]], cfg, processes: int | None = None, *,
             min_seconds: float = POOL_MIN_SECONDS, progress: bool = False) -> int:
    """Train the jobs [(run, seed), ...] that are not cached yet, up to `processes` (default `train_processes()`)
    at a time, each in its own single-threaded worker process; returns how many were trained in workers.

    Jobs are first trained here, one after the other and timed, until one takes at least `min_seconds`: a worker
    costs a few seconds to start (it imports torch), which short runs (a bicubic row, the smoke preset) do not
    repay; the first long run also builds what every run shares (the world's data cache, pretrained loss
    networks), which the workers then load. The rest go to the workers. Nothing
    happens (returns 0) when fewer than two jobs need training, when only one process is allowed, for CUDA runs
    (one device is not shared between processes here), or when the paper module cannot be imported by name;
    `cached_run` then trains them in this process, with the same numbers (`one_thread`). A job that
    fails in a worker raises here with the run, the seed and the worker's error; the jobs not started yet are
    dropped. `progress`: a bar over the finished jobs.
    """
    from avfh_core.config import avfh_home
    from avfh_core.train.experiment import cached_run, is_cached, run_path

    n = train_processes() if processes is None else int(processes)
    if n < 1:
        raise ValueError(f"prefetch: processes must be >= 1, got {processes!r}")
    todo: list[tuple[Any, int]] = []
    for run, seed in jobs:
        if (run, int(seed)) not in todo and not is_cached(paper, run, cfg, int(seed)):
            todo.append((run, int(seed)))
    if len(todo) < 2 or n < 2 or torch.device(cfg.device).type != "cpu" or not _importable(paper):
        return 0
    while todo:  # here, one after the other, until a run proves long enough to be worth a worker's start
        start = time.perf_counter()
        run, seed = todo.pop(0)
        cached_run(paper, run, cfg, seed)
        if time.perf_counter() - start >= min_seconds:
            break
    if len(todo) < 2:
        return 0
    home = str(avfh_home())
    ctx = multiprocessing.get_context("spawn")
    env_before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the spawned workers: one thread from their first import
    workers = min(n, len(todo))
    bar = tqdm(total=len(todo), desc=f"{paper.PAPER}: training in {workers} processes", disable=not progress,
               leave=False)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        futures = {pool.submit(_train_in_worker, paper.__name__, run, cfg, seed, home): (run, seed)
                   for run, seed in todo}
        for fut in as_completed(futures):
            run, seed = futures[fut]
            try:
                written = fut.result()
            except Exception as e:
                raise RuntimeError(f"prefetch: training {paper.PAPER} run {run!r} seed {seed} failed in a "
                                   f"worker process: {type(e).__name__}: {e}") from e
            expected = str(run_path(paper, run, cfg, seed))
            if written != expected:  # a worker importing other code (or another AVFH_HOME) keys its cache apart
                raise RuntimeError(f"prefetch: the worker cached {paper.PAPER} run {run!r} seed {seed} at {written}, "
                                   f"but this process reads {expected}: its code or AVFH_HOME differs from ours")
            bar.update(1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # after an error: the queued jobs are dropped, not run
        bar.close()
        if env_before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env_before
    return len(todo)


__all__ = ["ENV_PROCESSES", "one_thread", "prefetch", "train_processes"]
