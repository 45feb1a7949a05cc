"""Checkpoints: written atomically (temp file + fsync + os.replace), loaded with `weights_only=True`, never holding
NaN or inf (both save and load refuse them, naming the tensor).

Also a small content-addressed cache for networks trained in-project (the lip reader, the feature network): a
model is stored under $AVFH_HOME/models/<name>-<hash of its config and of the training sources>.pt, so neither a
changed configuration nor changed code ever reuses a stale file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
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


def source_fingerprint(packages: tuple[str, ...] = ("data", "nn", "models", "losses", "metrics", "train")) -> str:
    """A short hash of the avfh_core sources that produce a trained result (default: everything but reproduce/viz).

    Put it in a cache key so that a code change never reuses results computed by older code.
    """
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cached_model_path(name: str, config: dict[str, Any]) -> Path:
    """$AVFH_HOME/models/<name>-<hash of config and of the training sources>.pt."""
    return avfh_home() / "models" / f"{name}-{config_hash({**config, '_code': source_fingerprint()})}.pt"


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
    path = cached_model_path(name, config)
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
