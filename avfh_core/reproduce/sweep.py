"""Sweeps: a grid of notebook parameters (and seeds) that expands into runs, from a YAML file or the command line.

A sweep file:

    notebooks: [vfhgan/06_ablations]    # and/or papers: [vfhgan]; dependencies are added automatically
    preset: smoke
    set: {steps: 20}                      # fixed parameters of every run
    grid: {seed: [0, 1]}                  # the cartesian product of these lists, one run per point

or on the command line `--grid seed=0,1 --grid steps=10,20` (values are YAML scalars). Every notebook of the batch
runs once per grid point; every parameter is checked against each notebook's `parameters` cell before anything runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from avfh_core.reproduce.batch import NotebookInfo, RunSpec, load_registry, select_notebooks
from avfh_core.reproduce.runner import check_parameters, read_source

SWEEP_KEYS = ("notebooks", "papers", "preset", "set", "grid")


@dataclass
class Sweep:
    notebooks: list[str] = field(default_factory=list)
    papers: list[str] = field(default_factory=list)
    preset: str | None = None
    set: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)


def _check_grid(grid: Any, where: str) -> dict[str, list[Any]]:
    if not isinstance(grid, Mapping):
        raise ValueError(f"{where}: grid must be a mapping NAME: [values], got {type(grid).__name__}")
    out = {}
    for name, values in grid.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{where}: grid parameter name {name!r} is not a valid identifier")
        values = list(values) if isinstance(values, list | tuple) else [values]
        if not values:
            raise ValueError(f"{where}: grid parameter {name!r} has no values")
        if len({repr(v) for v in values}) != len(values):
            raise ValueError(f"{where}: grid parameter {name!r} repeats a value: {values}")
        out[name] = values
    return out


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep YAML file (clear errors naming the file and the key)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: sweep file not found")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: a sweep file is a mapping with keys {list(SWEEP_KEYS)}")
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise ValueError(f"{p}: unknown key(s) {unknown}; a sweep file has {list(SWEEP_KEYS)}")
    sweep = Sweep()
    for key in ("notebooks", "papers"):
        value = data.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{p}: {key} must be a list of names, got {value!r}")
        setattr(sweep, key, value)
    if data.get("preset") is not None and not isinstance(data["preset"], str):
        raise ValueError(f"{p}: preset must be a name, got {data['preset']!r}")
    sweep.preset = data.get("preset")
    fixed = data.get("set") or {}
    if not isinstance(fixed, dict):
        raise ValueError(f"{p}: set must be a mapping NAME: value, got {fixed!r}")
    sweep.set = dict(fixed)
    sweep.grid = _check_grid(data.get("grid") or {}, str(p))
    both = sorted(set(sweep.set) & set(sweep.grid))
    if both:
        raise ValueError(f"{p}: {both} appear in both set and grid")
    if "preset" in sweep.set or "preset" in sweep.grid:
        raise ValueError(f"{p}: give the preset with the top-level key `preset`, not in set/grid")
    return sweep


def parse_grid_item(text: str) -> tuple[str, list[Any]]:
    """'seed=0,1' -> ('seed', [0, 1]); each value is a YAML scalar."""
    if "=" not in text:
        raise ValueError(f"--grid expects NAME=V1,V2,..., got {text!r}")
    name, values = text.split("=", 1)
    if not name.isidentifier():
        raise ValueError(f"--grid: {name!r} is not a valid parameter name")
    parsed = [yaml.safe_load(v) for v in values.split(",") if v.strip() != ""]
    if not parsed:
        raise ValueError(f"--grid {name}: no values given")
    return name, parsed


def grid_points(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """The cartesian product in a stable order (names sorted, values in the given order); {} -> [{}]."""
    names = sorted(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def expand(
    preset: str,
    *,
    papers: Iterable[str] = (),
    notebooks: Iterable[str] = (),
    parameters: Mapping[str, Any] | None = None,
    grid: Mapping[str, list[Any]] | None = None,
    registry: Mapping[str, NotebookInfo] | None = None,
    check: bool = True,
) -> list[RunSpec]:
    """One RunSpec per (notebook, grid point), dependencies first; parameters checked before anything runs.

    Runs are ordered grid point by grid point, each in dependency order, so a killed sweep has finished whole
    points. A notebook's run depends on its dependencies' runs with the same parameters.
    """
    from avfh_core.config import PRESETS

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {list(PRESETS)}")
    registry = registry or load_registry()
    grid = _check_grid(dict(grid or {}), "--grid")
    fixed = dict(parameters or {})
    clash = sorted(set(fixed) & set(grid))
    if clash:
        raise ValueError(f"parameter(s) {clash} given both as fixed values (--set) and in the grid")
    if "preset" in grid:
        raise ValueError("the preset is not a grid parameter; run one sweep per preset")
    ids = select_notebooks(registry, papers, notebooks)
    specs: list[RunSpec] = []
    for point in grid_points(grid):
        for nid in ids:
            specs.append(RunSpec(registry[nid], {"preset": preset, **fixed, **point}))
    if check:
        checked: dict[str, Any] = {}
        for spec in specs:
            nb = checked.get(spec.notebook.id) or read_source(spec.notebook.path)
            checked[spec.notebook.id] = nb
            check_parameters(nb, spec.parameters, str(spec.notebook.path))
    return specs


__all__ = ["Sweep", "load_sweep", "parse_grid_item", "grid_points", "expand"]
