"""Checkpoints: written atomically (temp file + fsync + os.replace), loaded with `weights_only=True`, never holding
NaN or inf (both save and load refuse them, naming the tensor).

Also a small content-addressed cache for networks trained in-project (the lip reader, the feature network): a
model is stored under $AVFH_HOME/models/<name>-<hash of its config and of the training sources>.pt, so neither a
changed configuration nor changed code ever reuses a stale file.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from avfh_core.config import avfh_home
from avfh_core.fsutil import atomic_write, clean_stale_temps, file_lock


def nonfinite_tensors(state: Any, prefix: str = "") -> list[tuple[str, int, int]]:
    """[(key path, non-finite count, numel)] for every floating tensor in a nested dict/list that holds NaN or inf."""
    found: list[tuple[str, int, int]] = []
    if isinstance(state, torch.Tensor):
        if (state.is_floating_point() or state.is_complex()) and state.numel():
            bad = int((~torch.isfinite(state.detach())).sum())
            if bad:
                found.append((prefix or "<root>", bad, state.numel()))
    elif isinstance(state, Mapping):
        for k, v in state.items():
            found += nonfinite_tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(state, list | tuple):
        for i, v in enumerate(state):
            found += nonfinite_tensors(v, f"{prefix}[{i}]")
    return found


def _describe(found: list[tuple[str, int, int]]) -> str:
    parts = [f"{name} ({bad} of {n} values)" for name, bad, n in found[:5]]
    more = f" and {len(found) - 5} more tensors" if len(found) > 5 else ""
    return ", ".join(parts) + more


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike, *, allow_nonfinite: bool = False) -> Path:
    """Write `state` (tensors, numbers, strings, lists, dicts) atomically: a kill never leaves a half file.

    Refuses (ValueError naming the tensors) a state whose tensors hold NaN or inf, so that a diverged run can never
    leave a checkpoint or cache entry that a later run would resume from. Stale temp files of killed writers of the
    same path are removed first (avfh_core.fsutil.clean_stale_temps)."""
    path = Path(path)
    if not allow_nonfinite:
        found = nonfinite_tensors(state)
        if found:
            raise ValueError(f"{path}: refusing to write a checkpoint with non-finite values in {_describe(found)}")
    clean_stale_temps(path)
    try:
        with atomic_write(path) as f:
            torch.save(state, f)
    except OSError as e:
        raise OSError(e.errno, f"{path}: cannot write checkpoint ({e.strerror or e})") from e
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
                    allow_nonfinite: bool = False) -> dict[str, Any]:
    """Load a checkpoint safely (`weights_only=True`: a pickle that would run code is refused, never executed);
    errors name the file and what is wrong (missing, empty, truncated or corrupt, not a dict, non-finite weights)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty checkpoint (0 bytes; an interrupted copy?); delete it to start over")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: {_load_error(e)}") from e
    if not isinstance(state, dict):
        raise ValueError(f"{path}: checkpoint must hold a dict, found {type(state).__name__}")
    if not allow_nonfinite:
        found = nonfinite_tensors(state)
        if found:
            raise ValueError(f"{path}: checkpoint holds non-finite values in {_describe(found)} (written by a "
                             "diverged run); delete it to start over")
    return state


def _load_error(e: Exception) -> str:
    """One line on why torch.load(weights_only=True) failed."""
    text = str(e)
    if "Weights only load failed" in text:
        why = next((ln.strip() for ln in text.splitlines() if "unsupported" in ln or "GLOBAL" in ln), "")
        return ("refused: it is not weights-only, it holds Python objects that loading would have to execute "
                f"(a file from an untrusted source?){': ' + why if why else ''}")
    first = text.splitlines()[0] if text else ""
    return f"not a readable checkpoint (truncated or corrupt: {type(e).__name__}: {first})"


def config_hash(config: dict[str, Any]) -> str:
    """A short stable hash of a JSON-able configuration."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


PAPER_MODULES = ("vfhgan", "ear", "secnet", "talkingface", "vividgan")
"""Module-name stems of the papers' own files (models/vfhgan.py, train/talkingface_sync.py, data/real_ear.py, ...)."""

_PACKAGES = ("data", "nn", "models", "losses", "metrics", "train")


def paper_of_file(path: str | os.PathLike) -> str | None:
    """The paper a source file belongs to by its name (`talkingface_sync.py` -> "talkingface"), or None if shared."""
    stem = Path(path).stem.removeprefix("real_")
    return next((p for p in PAPER_MODULES if stem == p or stem.startswith(p + "_")), None)


def _module_file(root: Path, module: str) -> Path | None:
    """avfh_core.train.vfhgan -> <root>/train/vfhgan.py (None outside avfh_core or for a package)."""
    parts = module.split(".")
    if parts[0] != "avfh_core" or len(parts) < 2:
        return None
    path = root.joinpath(*parts[1:]).with_suffix(".py")
    return path if path.is_file() else None


def _imports(root: Path, path: Path) -> set[Path]:
    """The avfh_core source files `path` imports anywhere (module level or inside functions)."""
    st = path.stat()
    return _imports_cached(root, path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=1024)
def _imports_cached(root: Path, path: Path, mtime_ns: int, size: int) -> frozenset[Path]:
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found.update(f for f in (_module_file(root, n) for n in names) if f is not None)
    return frozenset(found)


def source_fingerprint(packages: tuple[str, ...] = _PACKAGES, *, roots: Iterable[str] | None = None,
                       root: Path | None = None) -> str:
    """A short hash of the avfh_core sources that produce a trained result (default: everything but reproduce/viz).

    Put it in a cache key so that a code change never reuses results computed by older code. With `roots` (module
    names, e.g. a paper's training module), the other papers' files (`PAPER_MODULES`) count only where the
    roots or the shared files import them, directly or through other files: a change to one paper's training code then leaves
    the other papers' cached runs valid, while a change to a shared file, or to a paper file that shared code
    imports (models/baselines.py uses models/vfhgan.py), still invalidates everything built on it.
    """
    root = root or Path(__file__).resolve().parent.parent
    files = sorted(f for pkg in packages for f in (root / pkg).rglob("*.py"))
    if roots is not None:
        inside = set(files)
        keep = {f for f in files if paper_of_file(f) is None}
        own = {paper_of_file(f) for f in (_module_file(root, m) for m in roots) if f in inside} - {None}
        todo = list(keep) + [f for f in files if paper_of_file(f) in own]  # all of a root's paper's own files
        while todo:
            f = todo.pop()
            keep.add(f)
            todo += [g for g in _imports(root, f) if g in inside and g not in keep]
        files = sorted(keep)
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cached_model_path(name: str, config: dict[str, Any], roots: Iterable[str] = ()) -> Path:
    """$AVFH_HOME/models/<name>-<hash of config and of the training sources>.pt (`roots`: see source_fingerprint)."""
    code = source_fingerprint(roots=tuple(roots))
    return avfh_home() / "models" / f"{name}-{config_hash({**config, '_code': code})}.pt"


def _defining_modules(*objs: Any) -> tuple[str, ...]:
    """The modules that define these objects: a function's (or a partial's function's), a model's class's."""
    mods = []
    for obj in objs:
        if isinstance(obj, torch.nn.Module):
            mods.append(type(obj).__module__)
        else:
            mods.append(getattr(getattr(obj, "func", obj), "__module__", None) or "")
    return tuple(m for m in mods if m)


def load_or_train(
    name: str,
    config: dict[str, Any],
    model: torch.nn.Module,
    train_fn: Callable[[torch.nn.Module], dict[str, Any]],
    *,
    retrain: bool = False,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Return `model` with cached weights for this exact `config`, training (and caching) it first if needed.

    `train_fn(model)` trains in place and returns a JSON-able info dict (accuracy, steps, ...), stored with the
    weights and returned on later loads. Returns (model, info) where info["cached"] says whether it was loaded.
    Concurrent callers (two notebooks on a cold cache, or the ranks of a torchrun job) take a file lock beside the
    cache file: one trains, on its own process (`train_loop` inside train_fn does not use the process group), the
    others wait and load the result.
    """
    path = cached_model_path(name, config, _defining_modules(train_fn, model))
    if path.exists() and not retrain:
        return _load_cached(path, model)
    with file_lock(path):  # concurrent builders take turns: the second loads what the first wrote
        if path.exists() and not retrain:
            return _load_cached(path, model)
        from avfh_core.train.loop import single_process  # (loop imports this module)

        with single_process():  # under torchrun the other ranks are waiting on the lock, not training along
            info = dict(train_fn(model))
        save_checkpoint({"model": model.state_dict(), "config": json.dumps(config, sort_keys=True, default=str),
                         "info": json.dumps(info, default=str)}, path)
    info["cached"] = False
    return model, info


def _load_cached(path: Path, model: torch.nn.Module) -> tuple[torch.nn.Module, dict[str, Any]]:
    state = load_checkpoint(path)
    model.load_state_dict(state["model"])
    info = dict(json.loads(state.get("info", "{}")))
    info["cached"] = True
    return model, info
