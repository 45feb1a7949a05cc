"""The one notebook runner: py:percent source -> parameters injected -> papermill execution -> executed .ipynb.

Papermill cannot read py:percent, so we go through `jupytext.read` and `papermill.execute_notebook` with an
in-memory notebook. The CLI (`avfh reproduce`), the tests and the reference refresh all use this module.
"""

from __future__ import annotations

import ast
import copy
import os
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import yaml

from avfh_core.config import PRESETS, ParamRule, repo_root

KERNEL_NAME = "avfh"
DEFAULT_CELL_TIMEOUT = 3600  # seconds; a timeout is a failure (vfhgan/06 trains all its rows in one cell: ~25 min at course on 2 cores)


class NotebookParameterError(ValueError):
    """A parameter was passed that the notebook's `parameters` cell does not declare (or a bad preset)."""


@dataclass
class NotebookResult:
    """What happened when one notebook ran."""

    notebook: str  # e.g. "vfhgan/05_training"
    output: Path
    parameters: dict[str, Any]
    ok: bool
    seconds: float
    error: str | None = None  # short: exception name and message
    error_cell: str | None = None  # the source of the cell that failed
    sidecar: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def notebook_id(path: Path) -> str:
    """notebooks/vfhgan/05_training.py -> 'vfhgan/05_training'."""
    path = Path(path).resolve()
    try:
        rel = path.relative_to(notebooks_dir().resolve())
    except ValueError:
        return path.stem
    return str(rel.with_suffix(""))


def read_source(path: str | os.PathLike) -> nbformat.NotebookNode:
    """Read a py:percent (or .ipynb) notebook; clear error for a missing or unreadable file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: notebook source not found")
    try:
        nb = jupytext.read(p)
    except Exception as e:
        raise ValueError(f"{p}: jupytext could not read this notebook ({type(e).__name__}: {e})") from e
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python (avfh)", "language": "python"}
    return nb


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


@dataclass(frozen=True)
class DeclaredParameter:
    """One assignment of a `parameters` cell: `steps: int | None = None  # >= 1; None: the preset's value`."""

    name: str
    default: Any
    rule: ParamRule | None  # None when the assignment has no annotation (then any YAML scalar is accepted)
    comment: str = ""


def parameter_specs(nb: nbformat.NotebookNode, where: str = "notebook") -> dict[str, DeclaredParameter]:
    """The parameters cell read as rules: annotation -> types, the comment's leading constraint -> range/choices."""
    cell = parameters_cell(nb)
    if cell is None:
        return {}
    lines = cell.source.splitlines()
    try:
        body = ast.parse(cell.source).body
    except SyntaxError as e:
        raise NotebookParameterError(f"{where}: the parameters cell is not valid Python ({e})") from None
    specs: dict[str, DeclaredParameter] = {}
    for node in body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            try:
                default = ast.literal_eval(node.value) if node.value is not None else None
            except ValueError:
                default = ast.unparse(node.value)
            tail = lines[node.end_lineno - 1][node.end_col_offset:].strip()
            comment = tail[1:].strip() if tail.startswith("#") else ""
            rule = None
            if isinstance(node, ast.AnnAssign):
                try:
                    rule = ParamRule.parse(ast.unparse(node.annotation), comment, f"{where}: parameter {target.id}")
                except ValueError as e:
                    raise NotebookParameterError(str(e)) from None
            specs[target.id] = DeclaredParameter(target.id, default, rule, comment)
    return specs


def declared_parameters(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """Names assigned in the `parameters` cell, with their default values where they are literals."""
    return {name: spec.default for name, spec in parameter_specs(nb).items()}


def convert_parameter(spec: DeclaredParameter, value: Any, where: str) -> Any:
    """One value as its declared type and within its declared range (a NotebookParameterError naming it if not).

    Strings (from `--set`, `--grid`) are converted to the annotation's type: an int accepts "200", not "2.5";
    a bool accepts true/false; None accepts none/null. A parameter without annotation takes a YAML scalar.
    """
    if spec.rule is None:
        return yaml.safe_load(value) if isinstance(value, str) else value
    try:
        return spec.rule.convert(spec.name, value, where)
    except ValueError as e:
        raise NotebookParameterError(str(e)) from None


def check_parameters(nb: nbformat.NotebookNode, parameters: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Fail early, naming the parameter, when a notebook does not declare it, or its value has the wrong type or
    range (from the annotated parameters cell), or the preset is unknown. Returns the converted values."""
    declared = parameter_specs(nb, where)
    if parameters and not declared:
        raise NotebookParameterError(f"{where}: has no cell tagged 'parameters', cannot inject {sorted(parameters)}")
    unknown = sorted(k for k in parameters if k not in declared)
    if unknown:
        raise NotebookParameterError(
            f"{where}: parameter(s) {unknown} not declared in its parameters cell; it declares {sorted(declared)}"
        )
    converted = {k: convert_parameter(declared[k], v, where) for k, v in parameters.items()}
    preset = converted.get("preset")
    if preset is not None and preset not in PRESETS:
        raise NotebookParameterError(f"{where}: unknown preset {preset!r}; choose one of {list(PRESETS)}")
    return converted


def _error_from_notebook(nb: nbformat.NotebookNode) -> tuple[str | None, str | None]:
    """Find the first cell with an error output: (ename: evalue, cell source)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename')}: {out.get('evalue')}", cell.source
    return None, None


def execute_notebook(
    source: str | os.PathLike,
    output: str | os.PathLike,
    parameters: Mapping[str, Any] | None = None,
    *,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    progress: bool = False,
    env: Mapping[str, str] | None = None,
    progress_file: str | os.PathLike | None = None,
    label: str | None = None,
) -> NotebookResult:
    """Execute one notebook headless with papermill; never raises for a failure inside the notebook.

    The executed notebook goes to `output`; its results sidecar to `output` with suffix .json (through
    $AVFH_RESULTS, which the notebook's `Results` object reads). Parameter errors raise before anything runs.
    `progress_file`: rewritten at each cell start with the notebook, cell i/n and start times (the heartbeat of
    `avfh reproduce` reads it, also from pool or Dask workers); removed when the run ends. `label`: the notebook's
    name in it (default: its id under notebooks/).
    """
    import papermill as pm

    source = Path(source).resolve()
    output = Path(output).resolve()  # the kernel runs in the notebook's folder: relative paths would move
    parameters = dict(parameters or {})
    nb = read_source(source)
    parameters = check_parameters(nb, parameters, str(source))
    output.parent.mkdir(parents=True, exist_ok=True)
    sidecar = output.with_suffix(".json")
    if sidecar.exists():
        sidecar.unlink()
    saved = {k: os.environ.get(k) for k in ("AVFH_RESULTS", *(env or {}))}
    os.environ["AVFH_RESULTS"] = str(sidecar)
    os.environ.update(env or {})
    start = time.perf_counter()
    error = error_cell = None
    tracker = CellTracker(label or notebook_id(source), nb, bool(parameters),
                          Path(progress_file) if progress_file is not None else None)
    try:
        pm.execute_notebook(
            nb,
            str(output),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            cwd=str(source.parent.resolve()),
            progress_bar=progress,
            execution_timeout=cell_timeout,
            log_output=False,
            # the kernel's own log (e.g. "running over TCP without encryption") is not the run's output
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            on_cell_start=tracker.on_cell_start,
        )
        ok = True
    except Exception as e:  # papermill raises PapermillExecutionError; timeouts raise other kinds
        ok = False
        error = f"{type(e).__name__}: {e}".splitlines()[0][:500]
        if output.exists():
            try:
                nb_err, error_cell = _error_from_notebook(nbformat.read(output, as_version=4))
            except Exception:  # a half-written output notebook: the tracker still knows the cell
                nb_err = None
            error = nb_err or error
        if type(e).__name__ == "CellTimeoutError":
            error = (f"CellTimeoutError: cell {tracker.cell}/{tracker.n_cells} of {source} ran longer than the cell "
                     f"timeout ({cell_timeout} s)")
        if error_cell is None:
            error_cell = tracker.source or traceback.format_exc(limit=3)
    finally:
        if progress_file is not None:
            Path(progress_file).unlink(missing_ok=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - start
    metrics: dict[str, Any] = {}
    if sidecar.exists():
        import json

        try:
            metrics = json.loads(sidecar.read_text()).get("metrics", {})
        except Exception:
            metrics = {}
    return NotebookResult(
        notebook=label or notebook_id(source),
        output=output,
        parameters=parameters,
        ok=ok,
        seconds=seconds,
        error=error,
        error_cell=error_cell,
        sidecar=sidecar if sidecar.exists() else None,
        metrics=metrics,
    )


class CellTracker:
    """An nbclient `on_cell_start` hook: knows the running cell (i of n code cells, its source) and, given a path,
    rewrites {notebook, cell, n_cells, started, cell_started} there atomically for the heartbeat."""

    def __init__(self, nid: str, nb: nbformat.NotebookNode, injected: bool, path: Path | None = None):
        self.nid = nid
        self.path = path
        self.n_cells = sum(c.cell_type == "code" and bool(c.source.strip()) for c in nb.cells) + int(injected)
        self.cell = 0
        self.source: str | None = None
        self.started = time.time()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def on_cell_start(self, cell: nbformat.NotebookNode, cell_index: int, **_: Any) -> None:
        if cell.cell_type != "code" or not cell.source.strip():
            return
        self.cell += 1
        self.source = cell.source
        if self.path is None:
            return
        import json

        state = {"notebook": self.nid, "cell": self.cell, "n_cells": self.n_cells, "started": self.started,
                 "cell_started": time.time(), "pid": os.getpid()}
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self.path)
        except OSError:  # progress is a courtesy: never fail a run for it
            pass


def strip_execution_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop papermill's per-cell timings and the run's own metadata so committed references stay quiet in diffs."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            tags = cell.metadata.get("tags", [])
            if "injected-parameters" in tags:
                raise ValueError("reference notebooks are executed without injected parameters")
    return nb


def refresh_reference(source: str | os.PathLike, *, cell_timeout: int = DEFAULT_CELL_TIMEOUT) -> NotebookResult:
    """Execute a notebook with its own defaults (the course preset) and write the paired .ipynb with its outputs.

    This is how the committed reference outputs are made (`make refresh`). The .py source is left untouched.
    """
    source = Path(source)
    target = source.with_suffix(".ipynb")
    tmp = target.with_name(f".{target.stem}.executing.ipynb")
    result = execute_notebook(source, tmp, parameters=None, cell_timeout=cell_timeout, progress=True)
    if not result.ok:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"{source}: failed while refreshing its reference outputs: {result.error}")
    nb = strip_execution_metadata(nbformat.read(tmp, as_version=4))
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nbformat.write(nb, tmp)
    os.replace(tmp, target)
    for leftover in tmp.parent.glob(f"{tmp.stem}.*"):  # the run's sidecar and arrays (.json, .<name>.npz)
        leftover.unlink(missing_ok=True)
    return result


def discover_notebooks(root: Path | None = None) -> list[Path]:
    """All notebook sources (py:percent) under notebooks/, in a stable order."""
    root = root or notebooks_dir()
    return sorted(p for p in root.rglob("*.py") if ".ipynb_checkpoints" not in p.parts and not p.name.startswith("_"))


def out_of_sync(root: Path | None = None) -> list[str]:
    """Jupytext pairs whose cell sources differ (or whose .ipynb is missing)."""
    problems = []
    for src in discover_notebooks(root):
        nb_path = src.with_suffix(".ipynb")
        if not nb_path.exists():
            problems.append(f"{src}: no paired .ipynb (run `jupytext --sync {src}`)")
            continue
        a = [(c.cell_type, c.source.strip()) for c in jupytext.read(src).cells]
        b = [(c.cell_type, c.source.strip()) for c in jupytext.read(nb_path).cells]
        if a != b:
            problems.append(f"{src}: cells differ from {nb_path.name} (run `jupytext --sync {src}`)")
    return problems
