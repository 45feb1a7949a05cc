"""Plan and run a batch of notebook executions: the engine behind `avfh reproduce`.

A batch is a list of `RunSpec` (notebook + parameters), ordered so that a notebook's declared dependencies
(`notebooks.yaml`) run before it. Each run is one papermill execution into
`runs/<run-id>/<paper>/<notebook>__<params>.ipynb` with its JSON sidecar beside it.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from avfh_core.config import PRESETS, repo_root
from avfh_core.reproduce.runner import (
    DEFAULT_CELL_TIMEOUT,
    NotebookResult,
    discover_notebooks,
    execute_notebook,
    notebook_id,
    notebooks_dir,
)

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
    return order_by_dependencies(chosen, registry)


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
    """One RunSpec per selected notebook, with `preset` plus the extra parameters."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {list(PRESETS)}")
    registry = registry or load_registry()
    params = {"preset": preset, **dict(parameters or {})}
    return [RunSpec(registry[nid], dict(params)) for nid in select_notebooks(registry, papers, notebooks)]


def run_batch(
    specs: list[RunSpec],
    run_dir: Path,
    *,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    on_start: Callable[[RunSpec], None] | None = None,
    on_done: Callable[[RunSpec, NotebookResult], None] | None = None,
) -> list[NotebookResult]:
    """Run specs in order; a failure does not stop the batch, but notebooks depending on it are skipped."""
    results: list[NotebookResult] = []
    failed: set[str] = set()
    for spec in specs:
        out = spec.output_path(run_dir)
        blocked = [d for d in spec.notebook.depends_on if d in failed]
        if on_start:
            on_start(spec)
        if blocked:
            res = NotebookResult(spec.notebook.id, out, spec.parameters, ok=False, seconds=0.0,
                                 error=f"skipped: depends on failed {blocked}")
        else:
            res = execute_notebook(spec.notebook.path, out, spec.parameters, cell_timeout=cell_timeout,
                                   env={"AVFH_FIGURES": str(run_dir / "figures")})
        if not res.ok:
            failed.add(spec.notebook.id)
        results.append(res)
        if on_done:
            on_done(spec, res)
    return results


def summary_table(results: list[NotebookResult]) -> str:
    """A plain-text table: notebook, parameters, status, seconds, error."""
    rows = [("notebook", "parameters", "status", "seconds", "error")]
    for r in results:
        rows.append((r.notebook, param_slug(r.parameters), "ok" if r.ok else "FAILED", f"{r.seconds:.1f}",
                     (r.error or "")[:80]))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(r.seconds for r in results)
    n_failed = sum(not r.ok for r in results)
    lines.append(f"{len(results)} notebooks, {n_failed} failed, {total:.1f} s")
    return "\n".join(lines)


def default_runs_dir() -> Path:
    return repo_root() / "runs"


__all__ = [
    "NotebookInfo", "RunSpec", "load_registry", "plan", "run_batch", "summary_table", "new_run_id",
    "select_notebooks", "order_by_dependencies", "param_slug", "notebooks_dir", "default_runs_dir",
]
