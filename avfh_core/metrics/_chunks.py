"""Chunked CPU execution shared by the batched metrics (image.py, erqa.py): cache-sized chunks, each single-threaded.

Thread strategy (issue 16). The metrics cut a batch into cache-sized chunks whose ops are too small for torch's
intra-op threads to pay off (memory-bound PSNR/SSIM; ERQA's scipy hysteresis is single-threaded anyway), and on a
busy machine those threads are a hazard: every op ends in an OpenMP barrier, so one thread descheduled by other work
stalls its partner. Measured on the shared 2-core box, 256 frames of 128x128: SSIM took 0.9-3.7 s with 2 intra-op
threads against 0.3-0.4 s with one. So every chunk runs with ONE torch thread, which by construction is never
slower than a single-threaded torch, quiet or loaded.

How: the chunks run on persistent worker threads whose torch thread count is set to 1 once, when they start; the
caller's thread count is never touched. (Switching it to 1 and back per call was measured to cost the caller's next
torch op 3-16 ms on the loaded box: OpenMP re-forms its thread team after a count change.) The caller waits for
the result (a hand-off of ~0.05 ms); exceptions propagate.

The chunks of one call run one after the other on one worker. Parallelism over chunks is opt-in
(`parallel=True`: as many workers as the caller's torch.get_num_threads(), each taking the next chunk when done, no
barrier but the end) and no metric uses it: on the shared 2-core box a pool of 2 measured no faster than one thread
for PSNR/SSIM (memory-bound) and 1.2-1.3x slower for ERQA (its numpy/scipy steps hold the GIL part of the time),
quiet and under load. Concurrent callers (threads) each get their own worker.

Known residual: right after a multi-threaded torch op of the caller, its OpenMP threads spin for ~10 ms; on a
loaded 2-core box they take CPU from the worker (measured: PSNR of 256 128x128 frames 20 -> 30 ms when called
straight after a 2-thread op, no difference after 50 ms idle). Any strategy but running on those threads (with
their barriers) pays it.

Results are bit-identical whatever the caller's thread count: the same ops run single-threaded (tested).
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch


@functools.cache
def _per_thread_counts() -> bool:
    """True when torch.set_num_threads acts on the calling OS thread (the OpenMP backend: it sets that thread's
    OpenMP ICV, plus the default that threads started later take on their first torch call). The native backend
    cannot change the count once parallel work has started (it warns): there the workers keep torch's count."""
    return "backend: OpenMP" in torch.__config__.parallel_info()


_local = threading.local()  # .worker: True on our worker threads
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _init_worker() -> None:
    """A new worker thread: torch's count 1 for this thread only. set_num_threads also records 1 as the default that
    threads started later take on their first torch call, so the process default is put back from a throwaway
    thread (whose own count does not matter): the caller's and every other thread's counts are left alone."""
    _local.worker = True
    if not _per_thread_counts():
        return
    default = torch.get_num_threads()  # a fresh thread: its first torch call takes the process default
    torch.set_num_threads(1)
    if default != 1:
        restore = threading.Thread(target=torch.set_num_threads, args=(default,), name="avfh-metrics-restore")
        restore.start()
        restore.join()


def _workers() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, os.cpu_count() or 1), thread_name_prefix="avfh-metrics",
                                       initializer=_init_worker)
        return _pool


def _forget_pool() -> None:  # a forked child has the executor but not its threads: start afresh there
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def map_chunks(fn, starts, parallel: bool = False) -> list:
    """[fn(s) for s in starts], each call with one torch thread and under torch.inference_mode, on the worker
    threads (see the module docstring): sequentially on one worker, or with `parallel` on as many workers as the
    caller's torch.get_num_threads(). Called from a worker (nested), runs inline. The caller's thread count and
    grad mode are untouched."""
    starts = list(starts)
    if not starts:
        return []
    out: list = [None] * len(starts)
    todo = iter(range(len(starts)))
    take = threading.Lock()
    failed = []

    def drain() -> None:  # run chunks until none is left (each worker takes the next one when done)
        with torch.inference_mode():
            while True:
                with take:
                    k = None if failed else next(todo, None)
                if k is None:
                    return
                try:
                    out[k] = fn(starts[k])
                except BaseException:
                    failed.append(k)  # the other workers stop taking chunks
                    raise

    if getattr(_local, "worker", False):
        drain()
        return out
    workers = min(torch.get_num_threads(), len(starts)) if parallel else 1
    try:
        futures = [_workers().submit(drain) for _ in range(workers)]
    except RuntimeError:  # the interpreter is shutting down (no new threads): run here, with the caller's threads
        drain()
        return out
    try:
        errors = [f.exception() for f in futures]  # waits for all: no chunk runs on after we return
    except BaseException:  # e.g. Ctrl-C while waiting: the workers stop after their current chunk
        failed.append(-1)
        raise
    for e in errors:
        if e is not None:
            raise e
    return out


def single_threaded_call(fn):
    """fn() with one torch thread, on a worker thread (see map_chunks), under torch.inference_mode."""
    return map_chunks(lambda _: fn(), [0], parallel=False)[0]
