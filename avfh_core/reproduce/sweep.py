"""Sweeps: a grid of notebook parameters (and seeds) that expands into runs, from a YAML file or the command line.

A sweep file:

    notebooks: [vfhgan/06_ablations]    # and/or papers: [vfhgan]; dependencies are added automatically
    preset: smoke
    set: {vfhgan_ablation_steps: 20}      # fixed parameters of every run
    grid: {seed: [0, 1]}                  # the cartesian product of these lists, one run per point

or on the command line `--grid seed=0,1 --grid steps=10,20`. The notebooks the user named (or the notebooks of the
papers named) run once per grid point, each with the names it declares; dependencies that were not named run once
with the preset only. Every value is converted to the type its notebook's annotated `parameters` cell declares and
checked against its range or choices before anything runs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from avfh_core.reproduce.batch import (
    NotebookInfo,
    RunSpec,
    load_registry,
    named_notebooks,
    order_by_dependencies,
)
from avfh_core.reproduce.runner import NotebookParameterError, check_parameters, parameter_specs, read_source

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


def parse_grid_item(text: str) -> tuple[str, list[str]]:
    """'seed=0,1' -> ('seed', ['0', '1']); each value is converted to the parameter's declared type by `expand`."""
    if "=" not in text:
        raise ValueError(f"--grid expects NAME=V1,V2,..., got {text!r}")
    name, values = text.split("=", 1)
    if not name.isidentifier():
        raise ValueError(f"--grid: {name!r} is not a valid parameter name")
    parsed = [v.strip() for v in values.split(",") if v.strip() != ""]
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
) -> list[RunSpec]:
    """One RunSpec per (named notebook, grid point), dependencies first; every value checked before anything runs.

    Explicit parameters (`parameters`, the grid) go to the notebooks the user named (`notebooks`, the notebooks of
    `papers`; all when neither), each to those of them that declare it; a name that none of them declares is an
    error. Dependencies the user did not name run once, with the preset only. Values (strings from the command
    line, YAML values from a sweep file) are converted to each notebook's declared type and checked against its
    range or choices (the annotated parameters cell): a NotebookParameterError names the notebook, parameter, value
    and what is expected. Runs are ordered grid point by grid point, each in dependency order.
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
    if "preset" in grid or "preset" in fixed:
        raise ValueError("give the preset with --preset (or the sweep file's `preset`), not as a parameter")
    named = named_notebooks(registry, papers, notebooks)
    ids = order_by_dependencies(named, registry)
    sources = {nid: read_source(registry[nid].path) for nid in ids}
    declared = {nid: parameter_specs(sources[nid], nid) for nid in ids}
    for name in sorted({*fixed, *grid}):
        if not any(name in declared[nid] for nid in named):
            if len(named) == 1:
                raise NotebookParameterError(
                    f"{named[0]}: parameter(s) [{name!r}] not declared in its parameters cell; "
                    f"it declares {sorted(declared[named[0]])}")
            names = sorted({k for nid in named for k in declared[nid]})
            raise NotebookParameterError(
                f"parameter {name!r} is declared by none of the named notebooks {named}; they declare {names}")
    specs: list[RunSpec] = []
    seen: set[tuple[str, str]] = set()
    for point in grid_points(grid):
        for nid in ids:
            explicit = {**fixed, **point} if nid in named else {}
            wanted = {"preset": preset, **{k: v for k, v in explicit.items() if k in declared[nid]}}
            params = check_parameters(sources[nid], wanted, nid)
            key = (nid, json.dumps(params, sort_keys=True, default=str))
            if key not in seen:  # a notebook that declares none of the grid's names runs once, not once per point
                seen.add(key)
                specs.append(RunSpec(registry[nid], params))
    return specs


__all__ = ["Sweep", "load_sweep", "parse_grid_item", "grid_points", "expand"]
