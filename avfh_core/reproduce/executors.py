"""Where the notebooks of a batch execute: in this process, in a local process pool, or on a Dask cluster.

All three expose the same two calls, `submit(fn, *args)` -> future and `wait(futures)` -> (done, not_done),
so `batch.run_batch` schedules runs the same way everywhere: a run is submitted once every run it depends on
has finished, and results come back to the one process that writes the manifest.

- `SerialExecutor`: runs each notebook at submission, in this process (the default, `--workers 1`).
- `PoolExecutor(workers)`: a `concurrent.futures.ProcessPoolExecutor` (spawned processes), `--workers N`.
- `DaskExecutor(address)`: a `distributed.Client` on an existing scheduler, `--scheduler tcp://host:port`.
  Every worker must see the repository (and the run folder) at the same path: a shared file system.

Combining with torchrun: a notebook that trains on several GPUs launches `torchrun` itself (one notebook, one
node, all its GPUs); the executors place *notebooks*. On a GPU cluster, give each Dask worker one node (or one
GPU with `CUDA_VISIBLE_DEVICES`) and `--nthreads 1`, so that one notebook owns the GPUs it runs torchrun on.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable, Iterable
from typing import Any

# execute_notebook passes the sidecar path to the kernel through os.environ; threads of one process would race
# on it, so runs inside one process are serialised (Dask thread workers: use processes or nthreads=1).
_ENV_LOCK = threading.Lock()


def execute_locked(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with _ENV_LOCK:
        return fn(*args, **kwargs)


class SerialExecutor:
    """Run at submission, in this process; the futures come back already done."""

    workers = 1

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(execute_locked(fn, *args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            if isinstance(e, KeyboardInterrupt | SystemExit):
                raise
            fut.set_exception(e)
        return fut

    def wait(self, futures: Iterable[Any]) -> tuple[set, set]:
        futures = set(futures)
        return futures, set()

    def shutdown(self) -> None:
        pass


class PoolExecutor:
    """N spawned worker processes on this machine."""

    def __init__(self, workers: int):
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"--workers must be a positive integer, got {workers!r}")
        import multiprocessing as mp

        self.workers = workers
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> cf.Future:
        return self._pool.submit(execute_locked, fn, *args, **kwargs)

    def wait(self, futures: Iterable[Any]) -> tuple[set, set]:
        done, not_done = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
        return set(done), set(not_done)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Submit notebooks to an existing Dask distributed scheduler (e.g. `dask scheduler` + `dask worker`)."""

    def __init__(self, address: str, timeout: float = 30):
        try:
            from distributed import Client
        except ImportError as e:
            raise ImportError("--scheduler needs Dask distributed: pip install 'avfh[cluster]'") from e
        if not isinstance(address, str) or "://" not in address:
            raise ValueError(f"--scheduler must be an address like tcp://host:8786, got {address!r}")
        try:
            self._client = Client(address, timeout=timeout)
        except OSError as e:
            raise OSError(f"--scheduler {address}: cannot connect ({e})") from e
        self.workers = max(1, sum(w.get("nthreads", 1) for w in self._client.scheduler_info()["workers"].values()))

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._client.submit(execute_locked, fn, *args, pure=False, **kwargs)

    def wait(self, futures: Iterable[Any]) -> tuple[set, set]:
        from distributed import wait

        done, not_done = wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done), set(not_done)

    def shutdown(self) -> None:
        self._client.close()


def check_executor_options(workers: int = 1, scheduler: str | None = None) -> None:
    """The checks `make_executor` makes before it starts or contacts anything (used alone by --dry-run)."""
    if scheduler:
        if not isinstance(scheduler, str) or "://" not in scheduler:
            raise ValueError(f"--scheduler must be an address like tcp://host:8786, got {scheduler!r}")
    elif not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"--workers must be a positive integer, got {workers!r}")


def make_executor(workers: int = 1, scheduler: str | None = None):
    """--scheduler wins over --workers; one worker is the in-process SerialExecutor."""
    check_executor_options(workers, scheduler)
    if scheduler:
        return DaskExecutor(scheduler)
    return SerialExecutor() if workers == 1 else PoolExecutor(workers)


__all__ = ["SerialExecutor", "PoolExecutor", "DaskExecutor", "make_executor", "check_executor_options"]
