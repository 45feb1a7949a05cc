"""Chunked CPU execution shared by the batched metrics (image.py, erqa.py): cache-sized chunks, each single-threaded.

Thread strategy (issue 16). The metrics cut a batch into cache-sized chunks whose ops are too small for torch's
intra-op threads to pay off (memory-bound PSNR/SSIM; ERQA's scipy hysteresis is single-threaded anyway), and on a
busy machine those threads are a hazard: every op ends in an OpenMP barrier, so one thread descheduled by other work
stalls its partner. Measured on the shared 2-core box, 256 frames of 128x128: SSIM took 0.9-3.7 s with 2 intra-op
threads against 0.3-0.4 s with one. So every chunk runs with ONE torch thread (`single_threaded`), which by
construction is never slower than a single-threaded torch, quiet or loaded.

Parallelism, where any, is over chunks: with `parallel=True` (ERQA) and torch.get_num_threads() > 1 the chunks go to
a pool of that many Python threads, each single-threaded, each taking the next chunk when it is done (no barrier
but the end; torch and scipy release the GIL in their kernels). PSNR/SSIM run their chunks sequentially: the pool
measured no faster than one thread on them. Results are bit-identical whatever the strategy and thread count: a
chunk's ops are the same, and torch's CPU reductions do not depend on the thread count for these sizes (tested).
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch


@functools.cache
def _per_thread_counts() -> bool:
    """True when torch.set_num_threads acts on the calling OS thread only (the OpenMP backend: it sets that thread's
    OpenMP ICV, plus the default that threads started later inherit). The native backend cannot change the count
    once parallel work has started (it warns): there we leave torch's threads alone."""
    return "backend: OpenMP" in torch.__config__.parallel_info()


@contextmanager
def single_threaded():
    """Run the body with one torch intra-op thread in the calling thread, restoring its count on exit (also on error).

    Thread-safe: with the OpenMP backend the count is per thread, so concurrent callers in other threads keep theirs,
    and each caller restores its own. (torch also records the last count set as the default of threads that make
    their first torch call later; a thread started while a metric runs may inherit 1 from it, the restore resets it.)
    Nested use is fine (the inner block sees 1 and leaves it)."""
    threads = torch.get_num_threads()
    if threads == 1 or not _per_thread_counts():
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def map_chunks(fn, starts, parallel: bool = True) -> list:
    """[fn(s) for s in starts], each call single-threaded in torch and under torch.inference_mode; with `parallel`
    and torch.get_num_threads() > 1 on a pool of that many single-threaded Python threads, else sequentially. The
    caller's thread count is restored on return."""
    starts = list(starts)
    workers = min(torch.get_num_threads(), len(starts)) if parallel else 1

    def run(s):
        with single_threaded(), torch.inference_mode():  # both thread-local: entered in each worker
            return fn(s)

    with single_threaded():  # pool threads make their first torch call inside: they start with one thread
        if workers <= 1:
            return [run(s) for s in starts]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(run, starts))
