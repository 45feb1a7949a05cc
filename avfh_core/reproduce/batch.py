"""Plan and run a batch of notebook executions: the engine behind `avfh reproduce`.

A batch is a list of `RunSpec` (notebook + parameters), ordered so that a notebook's declared dependencies
(`notebooks.yaml`) run before it. Each run is one papermill execution into
`runs/<run-id>/<paper>/<notebook>__<params>.ipynb` with its JSON sidecar beside it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from avfh_core.config import repo_root
from avfh_core.reproduce.progress import PROGRESS_DIR
from avfh_core.reproduce.runner import (
    DEFAULT_CELL_TIMEOUT,
    NotebookResult,
    discover_notebooks,
    execute_notebook,
    notebook_id,
    notebooks_dir,
)
from avfh_core.train.parallel import ENV_PROCESSES

REGISTRY_FILE = Path(__file__).with_name("notebooks.yaml")


@dataclass(frozen=True)
class NotebookInfo:
    id: str  # "vfhgan/05_training"
    path: Path
    paper: str
    depends_on: tuple[str, ...] = ()


@dataclass
class RunSpec:
    notebook: NotebookInfo
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return param_slug(self.parameters)

    def output_path(self, run_dir: Path) -> Path:
        name = self.notebook.id.split("/")[-1]
        return run_dir / self.notebook.paper / f"{name}__{self.slug}.ipynb"


def param_slug(parameters: Mapping[str, Any]) -> str:
    """{'preset': 'smoke', 'seed': 1} -> 'preset-smoke_seed-1' (file-name safe, stable order)."""
    if not parameters:
        return "defaults"
    parts = [f"{k}-{v}" for k, v in sorted(parameters.items())]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "", "_".join(parts))[:150]


def load_registry(root: Path | None = None) -> dict[str, NotebookInfo]:
    """Every notebook under notebooks/, with its paper and dependencies from notebooks.yaml."""
    declared = yaml.safe_load(REGISTRY_FILE.read_text()) or {}
    infos: dict[str, NotebookInfo] = {}
    for path in discover_notebooks(root):
        nid = notebook_id(path) if root is None else str(path.relative_to(root).with_suffix(""))
        meta = declared.get(nid, {}) or {}
        paper = meta.get("paper") or nid.split("/")[0]
        infos[nid] = NotebookInfo(nid, path, paper, tuple(meta.get("depends_on", []) or []))
    for nid, info in infos.items():
        missing = [d for d in info.depends_on if d not in infos]
        if missing:
            raise ValueError(f"{REGISTRY_FILE}: {nid} depends on unknown notebook(s) {missing}")
    return infos


def order_by_dependencies(selected: Iterable[str], registry: Mapping[str, NotebookInfo]) -> list[str]:
    """Topological order of `selected` plus everything it depends on (ties: by id). Cycles are an error."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(nid: str, chain: tuple[str, ...]) -> None:
        if state.get(nid) == "done":
            return
        if state.get(nid) == "visiting":
            raise ValueError(f"dependency cycle in {REGISTRY_FILE.name}: {' -> '.join((*chain, nid))}")
        state[nid] = "visiting"
        for dep in sorted(registry[nid].depends_on):
            visit(dep, (*chain, nid))
        state[nid] = "done"
        order.append(nid)

    for nid in sorted(selected):
        visit(nid, ())
    return order


def select_notebooks(
    registry: Mapping[str, NotebookInfo], papers: Iterable[str] = (), notebooks: Iterable[str] = ()
) -> list[str]:
    """Notebook ids for the requested papers and/or notebooks (all when neither is given), with dependencies."""
    return order_by_dependencies(named_notebooks(registry, papers, notebooks), registry)


def named_notebooks(
    registry: Mapping[str, NotebookInfo], papers: Iterable[str] = (), notebooks: Iterable[str] = ()
) -> list[str]:
    """The notebooks the user named (through --notebook or --paper; all when neither), without dependencies."""
    papers, notebooks = list(papers), list(notebooks)
    known_papers = sorted({i.paper for i in registry.values()})
    for p in papers:
        if p not in known_papers:
            raise ValueError(f"unknown paper {p!r}; notebooks exist for {known_papers}")
    chosen: set[str] = set()
    for n in notebooks:
        n = n.removesuffix(".py").removesuffix(".ipynb").removeprefix("notebooks/")
        if n not in registry:
            raise ValueError(f"unknown notebook {n!r}; known: {sorted(registry)}")
        chosen.add(n)
    chosen |= {nid for nid, i in registry.items() if i.paper in papers}
    if not papers and not notebooks:
        chosen = set(registry)
    return sorted(chosen)


def new_run_id(preset: str) -> str:
    return f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{preset}"


def plan(
    preset: str,
    *,
    papers: Iterable[str] = (),
    notebooks: Iterable[str] = (),
    parameters: Mapping[str, Any] | None = None,
    registry: Mapping[str, NotebookInfo] | None = None,
) -> list[RunSpec]:
    """One RunSpec per selected notebook: `preset` for all, the extra parameters for the named ones (see `expand`)."""
    from avfh_core.reproduce.sweep import expand

    return expand(preset, papers=papers, notebooks=notebooks, parameters=parameters, registry=registry)


def _sha256_files(paths: Iterable[Path], root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda q: str(q.relative_to(root))):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def core_fingerprint() -> str:
    """Hash of the avfh_core sources (.py and the .yaml data): any edit to the library changes it."""
    core = Path(__file__).resolve().parents[1]
    files = [p for p in core.rglob("*") if p.suffix in (".py", ".yaml") and "__pycache__" not in p.parts]
    return _sha256_files(files, core)


def code_fingerprint(notebook: Path, core: str | None = None) -> dict[str, str | None]:
    """What a finished run is valid for: the notebook source's hash and the core's hash (git commit recorded)."""
    from avfh_core.reproduce.results import git_commit

    notebook = Path(notebook)
    return {
        "notebook_sha256": hashlib.sha256(notebook.read_bytes()).hexdigest()[:16],
        "core_sha256": core or core_fingerprint(),
        "git_commit": git_commit(),
    }


def same_code(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Fingerprints match on the hashes (a new commit that changes no source does not invalidate a run)."""
    if not a or not b:
        return False
    return all(a.get(k) == b.get(k) and a.get(k) is not None for k in ("notebook_sha256", "core_sha256"))


MANIFEST = "manifest.json"
_LOCK = ".manifest.lock"


def read_manifest(run_dir: Path, *, repair: bool = False) -> dict[str, Any]:
    """The run folder's manifest ({"runs": {relative output: record}}); empty when the folder is new.

    A manifest that is not valid JSON is rebuilt from the executed notebooks and sidecars in the folder
    (`rebuild_manifest`); with `repair` the corrupt file is also set aside (`manifest.json.corrupt-<time>`, never
    deleted) and the rebuilt one written in its place.
    """
    p = Path(run_dir) / MANIFEST
    if not p.exists():
        return {"runs": {}}
    try:
        data = json.loads(p.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("runs", {}), dict):
            raise ValueError("not a mapping with a `runs` mapping")
    except (ValueError, UnicodeDecodeError) as e:
        rebuilt = rebuild_manifest(run_dir)
        rebuilt["rebuilt"] = f"{MANIFEST} was corrupt ({str(e)[:200]}); records rebuilt from the files in the folder"
        if repair:
            stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S")
            aside = p.with_name(f"{MANIFEST}.corrupt-{stamp}")
            os.replace(p, aside)
            rebuilt["rebuilt"] += f"; the corrupt file is {aside.name}"
            write_manifest(run_dir, rebuilt)
        return rebuilt
    data.setdefault("runs", {})
    return data


def notebook_completed(path: Path) -> bool:
    """True when an executed notebook ran to its end: papermill recorded no exception and no cell still pending,
    running or failed (a killed or failed run leaves such cells)."""
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    if (nb.get("metadata", {}).get("papermill") or {}).get("exception"):
        return False
    for cell in nb.get("cells", []):
        status = (cell.get("metadata", {}).get("papermill") or {}).get("status")
        if cell.get("cell_type") == "code" and status in ("pending", "running", "failed"):
            return False
    return True


def rebuild_manifest(run_dir: Path) -> dict[str, Any]:
    """Records rebuilt from `<paper>/<notebook>__<params>.ipynb` + sidecar pairs (papermill keeps the parameters in
    the notebook). They carry no code fingerprint, so resume re-runs them; the report can still read them."""
    run_dir = Path(run_dir)
    runs: dict[str, Any] = {}
    for nb_path in sorted(run_dir.glob("*/*.ipynb")):
        if nb_path.name.startswith(".") or nb_path.name.endswith(".failed.ipynb"):
            continue
        sidecar = nb_path.with_suffix(".json")
        try:
            meta = json.loads(nb_path.read_text()).get("metadata", {}).get("papermill") or {}
            side = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            meta, side = {}, None
        ok = side is not None and notebook_completed(nb_path)
        paper = nb_path.parent.name
        runs[str(nb_path.relative_to(run_dir))] = {
            "notebook": (side or {}).get("notebook") or f"{paper}/{nb_path.stem.split('__')[0]}",
            "paper": paper,
            "parameters": meta.get("parameters") or {},
            "fingerprint": None,
            "status": "rebuilt",
            "ok": ok,
            "seconds": float(meta.get("duration") or 0.0),
            "error": None if ok else "rebuilt from the folder: the notebook did not complete or has no sidecar",
            "error_cell": None,
            "output": nb_path.name,
            "sidecar": sidecar.name if side is not None else None,
            "finished": _dt.datetime.fromtimestamp(nb_path.stat().st_mtime, _dt.UTC).isoformat(timespec="seconds"),
        }
    return {"runs": runs}


def write_manifest(run_dir: Path, manifest: Mapping[str, Any]) -> Path:
    """Atomic write (temp file + fsync + rename): a kill leaves the previous manifest or the new one, never half.
    A failed write (e.g. a full disk) removes its temp file and raises."""
    p = Path(run_dir) / MANIFEST
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{MANIFEST}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(json.dumps(manifest, indent=1, sort_keys=True, default=str))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror or str(e), str(p)) from e  # name the manifest, not the temp file
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def check_writable(run_dir: Path) -> None:
    """Create (if needed) and probe the run folder before anything runs: an OSError names the folder and cause."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    probe = run_dir / f".write-probe-{os.getpid()}"
    try:
        with open(probe, "w") as f:
            f.write("avfh")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), str(run_dir)) from e
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def describe_oserror(e: OSError) -> str:
    """'<path>: No space left on device (errno 28, ENOSPC)': one line for the user."""
    import errno as _errno

    name = _errno.errorcode.get(e.errno or 0)
    cause = f"{e.strerror} (errno {e.errno}, {name})" if e.strerror and name else (e.strerror or str(e))
    return f"{e.filename}: {cause}" if e.filename else cause


@contextlib.contextmanager
def _manifest_lock(run_dir: Path):
    """An exclusive lock on the run folder's manifest (two batches may share one run id)."""
    import fcntl

    with open(Path(run_dir) / _LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def update_manifest(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read the manifest from disk, apply `change`, write it back, all under the lock: records written meanwhile by
    another batch on the same run folder are kept."""
    with _manifest_lock(run_dir):
        manifest = read_manifest(run_dir, repair=True)
        change(manifest)
        manifest["updated"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        write_manifest(run_dir, manifest)
        return manifest


@dataclass
class BatchResult(NotebookResult):
    """A NotebookResult with how it came about: ran, resumed (skipped, still valid), failed, blocked."""

    status: str = "ran"


def _record(spec: RunSpec, res: NotebookResult, fingerprint: Mapping[str, Any], status: str) -> dict[str, Any]:
    return {
        "notebook": spec.notebook.id,
        "paper": spec.notebook.paper,
        "parameters": spec.parameters,
        "fingerprint": dict(fingerprint),
        "status": status,
        "ok": res.ok,
        "seconds": round(res.seconds, 3),
        "error": res.error,
        "error_cell": res.error_cell,
        "output": res.output.name,
        "sidecar": res.sidecar.name if res.sidecar else None,
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def attempt_path(out: Path) -> Path:
    """Where a run executes before it succeeds (hidden, beside the previous result, which it replaces on success)."""
    return out.with_name(f".{out.stem}.attempt{out.suffix}")


def failed_path(out: Path) -> Path:
    """Where a failed attempt's notebook (and sidecar) are kept for inspection; the audit never reads them."""
    return out.with_name(f"{out.stem}.failed{out.suffix}")


def _attempt_files(out: Path) -> list[Path]:
    """The attempt's notebook, sidecar and whatever the notebook saved beside its sidecar (`<stem>.<x>.npz`)."""
    return sorted(out.parent.glob(f".{out.stem}.attempt.*"))


def _settle(out: Path, res: NotebookResult) -> NotebookResult:
    """Move a finished attempt's files into place (success) or aside to `<stem>.failed.*` (failure); the result's
    paths follow. A failed attempt never replaces the previous result."""
    prefix = f".{out.stem}.attempt."
    target = f"{out.stem}." if res.ok else f"{out.stem}.failed."
    for stale in sorted(out.parent.glob(f"{out.stem}.failed.*")):  # an older failed attempt: superseded
        stale.unlink(missing_ok=True)
    if res.ok:
        out.with_suffix(".json").unlink(missing_ok=True)  # the previous sidecar goes, even if this run wrote none
    for f in _attempt_files(out):
        os.replace(f, f.with_name(target + f.name[len(prefix):]))
    if res.ok:
        res.output, res.sidecar = out, (out.with_suffix(".json") if out.with_suffix(".json").exists() else None)
    else:
        res.output, res.sidecar = failed_path(out), None  # a failed run's numbers are never a result
    return res


def resumable(spec: RunSpec, run_dir: Path, manifest: Mapping[str, Any], fingerprint: Mapping[str, Any]) -> bool:
    """True when this run finished OK before with the same parameters and code, and its files are still there and
    complete (the executed notebook ran to its end)."""
    out = spec.output_path(run_dir)
    rec = manifest.get("runs", {}).get(str(out.relative_to(run_dir)))
    return bool(
        rec and rec.get("ok") and rec.get("parameters") == _json_roundtrip(spec.parameters)
        and same_code(rec.get("fingerprint"), fingerprint) and out.exists() and out.with_suffix(".json").exists()
        and notebook_completed(out)
    )


def _json_roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def run_dependencies(specs: list[RunSpec]) -> list[list[int]]:
    """For each run, the runs it waits for: the runs of its notebook's dependencies that agree with it on every
    parameter both have (a dependency run with the preset only serves every run), else all of them."""
    deps: list[list[int]] = []
    for spec in specs:
        mine: list[int] = []
        for dep in spec.notebook.depends_on:
            runs = [j for j, s in enumerate(specs) if s.notebook.id == dep]
            same = [j for j in runs if all(spec.parameters[k] == v for k, v in specs[j].parameters.items()
                                           if k in spec.parameters)]
            mine += same or runs
        deps.append(sorted(set(mine)))
    return deps


def _execute_spec(path: str, output: str, parameters: dict, cell_timeout: int, env: dict,
                  progress_file: str | None = None, label: str | None = None) -> NotebookResult:
    """The unit of work an executor runs (module level, so process pools and Dask can pickle it)."""
    import logging

    # papermill/nbclient log what the run's result already says (e.g. "Timeout waiting for execute reply")
    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    return execute_notebook(path, output, parameters, cell_timeout=cell_timeout, env=env, progress_file=progress_file,
                            label=label)


def progress_file(spec: RunSpec, run_dir: Path) -> Path:
    """Where a run's heartbeat record goes while it executes (see `avfh_core.reproduce.progress`)."""
    rel = spec.output_path(run_dir).relative_to(run_dir).with_suffix(".json")
    return run_dir / PROGRESS_DIR / "__".join(rel.parts)


def run_batch(
    specs: list[RunSpec],
    run_dir: Path,
    *,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    on_start: Callable[[RunSpec], None] | None = None,
    on_done: Callable[[RunSpec, NotebookResult], None] | None = None,
    force: bool = False,
    executor: Any = None,
) -> list[BatchResult]:
    """Run specs, respecting run-level dependencies; results in the order of `specs`.

    - a failure does not stop the batch; runs depending on it are skipped ("blocked");
    - resume: a run that finished OK with the same parameters and code fingerprint (manifest + executed notebook,
      complete, + sidecar present) is not executed again unless `force`; the manifest is updated atomically, under
      a lock, after every run, so a killed batch restarted with the same run folder loses nothing that had
      finished, and two batches sharing a run folder keep each other's records;
    - a run executes into a hidden attempt file beside the previous result and replaces it only when it succeeds;
      a failed attempt is kept as `<name>.failed.ipynb` and never replaces (nor is read as) a finished result;
    - `executor` (see `avfh_core.reproduce.executors`): default in-process; a pool or Dask runs independent
      notebooks in parallel.
    """
    from avfh_core.reproduce.executors import SerialExecutor

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    executor = executor or SerialExecutor()
    from avfh_core.reproduce.results import TOOLING_PACKAGES, environment_record

    env_record = environment_record(None, import_check=TOOLING_PACKAGES)  # the batch's own process

    def begin(m: dict[str, Any]) -> None:
        m.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
        m["run_id"] = run_dir.name
        m["environment"] = env_record

    manifest = update_manifest(run_dir, begin)  # a corrupt manifest is set aside and rebuilt here
    shutil.rmtree(run_dir / PROGRESS_DIR, ignore_errors=True)  # left by a killed batch: nothing runs now
    core = core_fingerprint()
    prints = [code_fingerprint(s.notebook.path, core) for s in specs]
    deps = run_dependencies(specs)
    results: list[BatchResult | None] = [None] * len(specs)
    running: dict[Any, int] = {}
    submitted: set[int] = set()
    capacity = max(1, getattr(executor, "workers", 1))  # in flight at once: a killed batch loses at most these
    cores = os.cpu_count() or 1
    threads = max(1, cores // capacity)

    def train_processes() -> int:
        # the cached runs a notebook trains (train.parallel.prefetch) run one single-threaded process each, so
        # their number changes the wall time, never a number: give them the cores that this notebook and the
        # others running or ready to start now do not share (a batch's last notebook, vfhgan/06 after 05, gets
        # them all), while the kernel's own thread budget stays the fixed share `threads` (its in-notebook numbers
        # depend on it)
        ready = sum(1 for j in range(len(specs)) if j not in submitted and results[j] is None
                    and all(results[k] is not None for k in deps[j]))
        return max(1, cores // min(capacity, len(running) + 1 + ready))

    def finish(i: int, res: NotebookResult, status: str) -> None:
        spec = specs[i]
        if status in ("ran", "failed"):
            res = _settle(spec.output_path(run_dir), res)
        out = BatchResult(**{f.name: getattr(res, f.name) for f in fields(NotebookResult)}, status=status)
        results[i] = out
        rel = str(spec.output_path(run_dir).relative_to(run_dir))
        rec = _record(spec, out, prints[i], status)

        def change(m: dict[str, Any]) -> None:
            old = m["runs"].get(rel)
            if status == "resumed" and old:
                old["status"] = "resumed"
            elif not out.ok and old and old.get("ok"):  # a finished result is never replaced by a failed attempt
                old["last_attempt"] = {k: rec[k] for k in ("status", "error", "error_cell", "output", "finished")}
            else:
                m["runs"][rel] = rec

        update_manifest(run_dir, change)
        if on_done:
            on_done(spec, out)

    try:
        while any(r is None for r in results):
            progressed = False
            for i, spec in enumerate(specs):
                if len(running) >= capacity:
                    break
                if i in submitted or results[i] is not None:
                    continue
                if any(results[j] is None for j in deps[i]):
                    continue
                submitted.add(i)
                progressed = True
                out = spec.output_path(run_dir)
                if on_start:
                    on_start(spec)
                failed_deps = sorted({specs[j].notebook.id for j in deps[i] if not results[j].ok})
                if failed_deps:
                    finish(i, NotebookResult(spec.notebook.id, out, spec.parameters, ok=False, seconds=0.0,
                                             error=f"skipped: depends on failed {failed_deps}"), "blocked")
                elif not force and resumable(spec, run_dir, manifest, prints[i]):
                    for stale in _attempt_files(out):  # a killed re-run's leftovers: the finished result stands
                        stale.unlink(missing_ok=True)
                    rec = manifest["runs"][str(out.relative_to(run_dir))]
                    sidecar = out.with_suffix(".json")
                    try:
                        metrics = json.loads(sidecar.read_text()).get("metrics", {})
                    except (OSError, json.JSONDecodeError):
                        metrics = {}
                    finish(i, NotebookResult(spec.notebook.id, out, spec.parameters, ok=True,
                                             seconds=float(rec.get("seconds", 0.0)), sidecar=sidecar,
                                             metrics=metrics), "resumed")
                else:
                    env = {"AVFH_FIGURES": str(run_dir / "figures" / spec.slug)}
                    if "OMP_NUM_THREADS" not in os.environ:
                        env["OMP_NUM_THREADS"] = str(threads)
                    if ENV_PROCESSES not in os.environ:
                        env[ENV_PROCESSES] = str(train_processes())
                    attempt = attempt_path(out)
                    for stale in _attempt_files(out):  # left by a killed attempt of this run
                        stale.unlink(missing_ok=True)
                    fut = executor.submit(_execute_spec, str(spec.notebook.path), str(attempt), dict(spec.parameters),
                                          cell_timeout, env, str(progress_file(spec, run_dir)), spec.notebook.id)
                    running[fut] = i
            if not running:
                if not progressed:  # cannot happen with an acyclic plan; guard against a silent spin
                    raise RuntimeError("batch scheduler is stuck: a dependency never finished")
                continue
            done, _ = executor.wait(list(running))
            for fut in done:
                i = running.pop(fut)
                try:
                    res = fut.result()
                    status = "ran" if res.ok else "failed"
                except Exception as e:  # the worker itself died (not a notebook error, which never raises)
                    res = NotebookResult(specs[i].notebook.id, specs[i].output_path(run_dir), specs[i].parameters,
                                         ok=False, seconds=0.0, error=f"executor: {type(e).__name__}: {e}"[:500])
                    status = "failed"
                finish(i, res, status)
    finally:
        executor.shutdown()
        shutil.rmtree(run_dir / PROGRESS_DIR, ignore_errors=True)
    return [r for r in results if r is not None]


def summary_table(results: list[NotebookResult]) -> str:
    """A plain-text table: notebook, parameters, status, seconds, error."""
    rows = [("notebook", "parameters", "status", "seconds", "error")]
    for r in results:
        status = getattr(r, "status", "ran")
        label = "FAILED" if not r.ok else ("ok (resumed)" if status == "resumed" else "ok")
        if status == "blocked":
            label = "FAILED (blocked)"
        rows.append((r.notebook, param_slug(r.parameters), label, f"{r.seconds:.1f}", (r.error or "")[:80]))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(r.seconds for r in results)
    n_failed = sum(not r.ok for r in results)
    n_resumed = sum(getattr(r, "status", "") == "resumed" for r in results)
    lines.append(f"{len(results)} notebooks, {n_failed} failed, {n_resumed} resumed, {total:.1f} s")
    return "\n".join(lines)


def default_runs_dir() -> Path:
    return repo_root() / "runs"


__all__ = [
    "NotebookInfo", "RunSpec", "load_registry", "plan", "run_batch", "summary_table", "new_run_id",
    "select_notebooks", "named_notebooks", "order_by_dependencies", "param_slug", "notebooks_dir", "default_runs_dir",
    "BatchResult", "code_fingerprint", "core_fingerprint", "read_manifest", "write_manifest", "resumable",
    "run_dependencies", "same_code", "progress_file", "update_manifest", "rebuild_manifest", "notebook_completed",
    "attempt_path", "failed_path", "check_writable", "describe_oserror",
]
