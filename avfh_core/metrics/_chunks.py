"""Chunked CPU execution shared by the batched metrics (image.py, erqa.py): cache-sized chunks, run concurrently.

The metrics cut a batch into cache-sized chunks. For ERQA each chunk's ops are too small for torch's intra-op
threads to pay off and its hysteresis (scipy) is single-threaded (measured on the 2-core box: 2 intra-op threads
slower than 1); with torch.get_num_threads() > 1 its chunks instead run on a pool of that many Python threads, each
single-threaded (torch releases the GIL in its kernels). For PSNR/SSIM the pool measured slower than intra-op
threads (memory-bound ops), so they run sequentially. Results are identical either way.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch


def map_chunks(fn, starts, parallel: bool = True) -> list:
    """[fn(s) for s in starts], each call under torch.inference_mode; on a thread pool when `parallel` and torch has
    more than one thread (else sequential, with torch's own intra-op threads)."""
    starts = list(starts)

    def run(s):
        with torch.inference_mode():  # thread-local: entered in each worker
            return fn(s)

    workers = min(torch.get_num_threads(), len(starts)) if parallel else 1
    if workers <= 1:
        return [run(s) for s in starts]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread per chunk; restored below
    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(run, starts))
    finally:
        torch.set_num_threads(threads)
