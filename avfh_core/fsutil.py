"""File-system safety helpers shared by avfh_core.data and avfh_core.train (this module imports nothing from avfh_core).

- `atomic_write(path)`: write to a temp file beside `path` (named `.<name>.tmp-<host>-<pid>`), holding an exclusive
  flock on it while writing, fsync, then `os.replace` onto `path`. A kill leaves either the old file or the new one,
  never half a file; on an exception the temp file is removed.
- `clean_stale_temps(path)`: remove the temp files of `path` that a killed writer left behind. A temp file is stale
  only when no process holds its lock (the kernel drops a dead writer's lock, even after SIGKILL) and either it is
  older than this process or its name carries this host and a pid that is no longer alive. A file being written
  concurrently is never touched.
- `file_lock(path)`: an exclusive flock on `<path>.lock` beside the target, so that concurrent builders of the same
  cached file take turns: the second waits, then finds (and loads) what the first wrote. Lock files are left in place
  (removing them would let two processes lock two different inodes).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# Files last modified before this module was imported cannot belong to a writer in this process.
PROCESS_START = time.time()
_HOST = socket.gethostname().replace("-", "_").replace("/", "_") or "host"


def temp_path(path: str | os.PathLike) -> Path:
    """The temp name `atomic_write` uses for `path` in this process: `.<name>.tmp-<host>-<pid>`."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{_HOST}-{os.getpid()}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _writer_of(tmp: Path, target_name: str) -> tuple[str | None, int | None]:
    """(host, pid) encoded in a temp file name; host None for the older `.<name>.tmp-<pid>` / `.tmp<pid>` forms
    (those are removed only when older than this process)."""
    rest = tmp.name[len(f".{target_name}.tmp"):].lstrip("-")
    host, _, pid = rest.rpartition("-")
    try:
        return (host or None), int(pid)
    except ValueError:
        return None, None


def _unlocked(tmp: Path) -> bool:
    """True if no process holds the writer's lock on `tmp` (checked without blocking, released at once)."""
    try:
        fd = os.open(tmp, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    finally:
        os.close(fd)  # closing drops the lock we may have taken
    return True


def clean_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temp files killed writers of `path` left behind (see the module docstring); returns them."""
    path = Path(path)
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    for tmp in path.parent.glob(f".{path.name}.tmp*"):
        try:
            mtime = tmp.stat().st_mtime
        except FileNotFoundError:
            continue
        host, pid = _writer_of(tmp, path.name)
        dead_here = host == _HOST and pid is not None and not _pid_alive(pid)
        if host == _HOST and pid == os.getpid():
            continue  # our own, being written right now
        if (mtime < PROCESS_START or dead_here) and _unlocked(tmp):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def clean_stale_temps_in(directory: str | os.PathLike, pattern: str = "*") -> list[Path]:
    """`clean_stale_temps` for every target in `directory` whose name matches `pattern` and has temp files."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    targets = {tmp.name[1:tmp.name.rindex(".tmp")] for tmp in directory.glob(f".{pattern}.tmp*")}
    return [p for name in sorted(targets) for p in clean_stale_temps(directory / name)]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """`with atomic_write(p) as f: f.write(...)`: the data appears at `p` all at once, or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # tells clean_stale_temps that a live writer owns this file
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)  # while still locked: nobody may take the temp file for stale before this
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def lock_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f"{path.name}.lock")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, *, timeout: float | None = None) -> Iterator[Path]:
    """Hold an exclusive flock on `<path>.lock` (created beside `path`) for the duration of the block.

    Blocks until the lock is free, or raises TimeoutError naming the lock file after `timeout` seconds. The lock
    is released when the block ends or the process dies, so a killed builder never blocks the next one."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{lock}: still locked by another process after {timeout:g} s") from None
                    time.sleep(0.05)
        yield lock
    finally:
        os.close(fd)
