"""Checkpoints: written atomically (temp file + fsync + os.replace), loaded with `weights_only=True`.

Also a small content-addressed cache for networks trained in-project (the lip reader, the feature network): a
model is stored under $AVFH_HOME/models/<name>-<hash of its config and of the training sources>.pt, so neither a
changed configuration nor changed code ever reuses a stale file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from avfh_core.config import avfh_home


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write `state` (tensors, numbers, strings, lists, dicts) atomically: a kill never leaves a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (`weights_only=True`); errors name the file and what is wrong."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict):
        raise ValueError(f"{path}: checkpoint must hold a dict, found {type(state).__name__}")
    return state


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
    """
    path = cached_model_path(name, config)
    if path.exists() and not retrain:
        state = load_checkpoint(path)
        model.load_state_dict(state["model"])
        info = dict(json.loads(state.get("info", "{}")))
        info["cached"] = True
        return model, info
    info = dict(train_fn(model))
    save_checkpoint({"model": model.state_dict(), "config": json.dumps(config, sort_keys=True, default=str),
                     "info": json.dumps(info, default=str)}, path)
    info["cached"] = False
    return model, info
