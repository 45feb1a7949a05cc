"""The heartbeat of `avfh reproduce`: which notebook is in which cell, and for how long.

Each execution rewrites a small JSON file at every cell start (`runner.execute_notebook(progress_file=...)`, in
whatever process or Dask worker runs it; the run folder is shared). A `Heartbeat` thread in the CLI reads those
files and prints one line when a notebook enters a new cell and, while a cell runs long, every `every` seconds:

    [vfhgan/05_training] cell 8/12, 41 s
    [vfhgan/05_training] cell 8/12, 71 s (still running)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

PROGRESS_DIR = ".progress"


def quiet_by_environment() -> bool:
    """CI=true (or 1/yes): no progress bar and no heartbeat."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def read_progress(progress_dir: Path) -> dict[str, dict]:
    """The progress records now present, by file name; unreadable or half-written ones are skipped."""
    out: dict[str, dict] = {}
    try:
        files = sorted(Path(progress_dir).glob("*.json"))
    except OSError:
        return out
    for f in files:
        try:
            out[f.name] = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
    return out


def format_line(rec: dict, now: float, still: bool = False) -> str:
    elapsed = now - float(rec.get("started", now))
    text = f"[{rec.get('notebook')}] cell {rec.get('cell')}/{rec.get('n_cells')}, {elapsed:.0f} s"
    return text + (" (still running)" if still else "")


class Heartbeat:
    """Polls `progress_dir` every `poll` s; `write` gets a line at each cell start and every `every` s in a cell."""

    def __init__(self, progress_dir: Path, write: Callable[[str], None], every: float = 30.0, poll: float = 0.5,
                 clock: Callable[[], float] = time.time):
        self.progress_dir = Path(progress_dir)
        self.write = write
        self.every = every
        self.poll = poll
        self.clock = clock
        self._seen: dict[str, tuple[int, float]] = {}  # file -> (cell, when we last wrote about it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[str]:
        """One poll: the lines due now (also written)."""
        now = self.clock()
        lines = []
        records = read_progress(self.progress_dir)
        for name, rec in records.items():
            cell = int(rec.get("cell", 0))
            last = self._seen.get(name)
            if last is None or last[0] != cell:
                lines.append(format_line(rec, now))
                self._seen[name] = (cell, now)
            elif now - last[1] >= self.every:
                lines.append(format_line(rec, now, still=True))
                self._seen[name] = (cell, now)
        for name in list(self._seen):
            if name not in records:
                del self._seen[name]
        for line in lines:
            self.write(line)
        return lines

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the heartbeat must never break the batch
                pass

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._run, name="avfh-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


__all__ = ["Heartbeat", "PROGRESS_DIR", "read_progress", "format_line", "quiet_by_environment"]
