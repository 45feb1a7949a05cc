"""Experiments for every paper: cached runs, cached evaluations of runs, table rows x seeds, means.

`paper` below is a paper's training module (`avfh_core.train.vfhgan`, or any module with the same plain names;
see CONTRIBUTING.md, "The per-paper contract"). This file only calls:

    paper.PAPER                       the paper's name (its tables YAML, its cache folder)
    paper.train(run, cfg, *, seed, progress, checkpoint_path=None) -> Trained
    paper.init(run, cfg, *, seed) -> {name: nn.Module}   the untrained networks (to load cached weights into)
    paper.eval_set(run, cfg) -> (dataset, indices)        the held-out items a run is scored on
    paper.predict, paper.score                            handed to `train.evaluate.evaluate`

A run is one table row (a frozen dataclass of the paper) for one seed. Its scores and weights are cached on disk
under a hash of the paper, the run, the seed, every knob of the configuration, the device type, the synthetic
world's version and a fingerprint of the code that trains and scores it (the shared sources and the paper's
module), so a changed configuration or changed code never reuses a stale run, and re-running a notebook does not
retrain what it has.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from avfh_core.config import ROW_KNOBS, avfh_home
from avfh_core.data.synth import GENERATOR_VERSION
from avfh_core.fsutil import file_lock
from avfh_core.train.checkpoint import config_hash, load_checkpoint, save_checkpoint, source_fingerprint
from avfh_core.train.evaluate import evaluate
from avfh_core.train.loop import TrainLog
from avfh_core.train.parallel import one_thread, prefetch

CACHE_VERSION = 2  # bump when what a cached run stores changes


@dataclass
class Trained:
    """What a paper's `train` returns: its networks by name (what `predict` takes) and the training log."""

    models: dict[str, nn.Module]
    log: TrainLog | None = None

    @property
    def seconds(self) -> float:
        return self.log.seconds if self.log else 0.0


def run_dict(run: Any) -> dict[str, Any]:
    """A run dataclass as plain data (tuples of pairs become dicts): what its cache key hashes."""
    if not dataclasses.is_dataclass(run) or isinstance(run, type):
        raise TypeError(f"a run must be a dataclass instance, got {type(run).__name__}")
    d = dataclasses.asdict(run)
    return {k: (dict(v) if isinstance(v, tuple) and all(isinstance(x, tuple) and len(x) == 2 for x in v) else v)
            for k, v in d.items()}


def paper_fingerprint(paper: ModuleType) -> str:
    """The shared training sources, the paper files the paper's module imports (not the other papers': see
    `source_fingerprint`), and the paper's own module (which may live outside avfh_core)."""
    digest = hashlib.sha256(source_fingerprint(roots=(paper.__name__,)).encode())
    src = getattr(paper, "__file__", None)
    if src:
        digest.update(Path(src).read_bytes())
    return digest.hexdigest()[:12]


NOT_IN_A_RUN = ROW_KNOBS
"""Knobs that say which runs a notebook asks for (how many seeds, which rows), not what one run computes
(`config.ROW_KNOBS`): left out of a run's key, so that a notebook asking for one seed reuses the seed-0 run of a
notebook that asked for three, and the Proposed row of talkingface's ablations is the Fig. 5 run whether or not the
ablation rows are asked for."""


def _run_values(cfg) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in cfg.values.items() if k not in NOT_IN_A_RUN))


def run_key(paper: ModuleType, run: Any, cfg, seed: int) -> dict[str, Any]:
    """Everything a run's result depends on."""
    return {"paper": paper.PAPER, "run": run_dict(run), "seed": int(seed),
            "values": dict(_run_values(cfg)), "device": cfg.device.type,
            "version": CACHE_VERSION, "world_version": GENERATOR_VERSION, "code": paper_fingerprint(paper)}


def run_path(paper: ModuleType, run: Any, cfg, seed: int, kind: str = "runs") -> Path:
    """$AVFH_HOME/<kind>/<paper>/<hash of run_key>.pt: the cached run (kind "runs") or a resumable training
    checkpoint (kind "checkpoints") of that run."""
    return avfh_home() / kind / paper.PAPER / f"{config_hash(run_key(paper, run, cfg, seed))}.pt"


_RUNS: dict[tuple, tuple[dict[str, float], Trained]] = {}


def _memory_key(paper, run, cfg, seed) -> tuple:
    return (paper.PAPER, run, int(seed), _run_values(cfg), str(cfg.device))


def is_cached(paper: ModuleType, run: Any, cfg, seed: int) -> bool:
    return _memory_key(paper, run, cfg, seed) in _RUNS or run_path(paper, run, cfg, seed).exists()


def cached_run(paper: ModuleType, run: Any, cfg, seed: int, *, progress: bool = False,
               disk_cache: bool = True) -> tuple[dict[str, float], Trained]:
    """Train (or reuse) and score one run for one seed: (scores, Trained). Cached in-process and on disk."""
    key = _memory_key(paper, run, cfg, seed)
    if key in _RUNS:
        return _RUNS[key]
    path = run_path(paper, run, cfg, seed)
    if disk_cache and path.exists():
        state = load_checkpoint(path, map_location=cfg.device)
        models = {k: m.to(cfg.device) for k, m in paper.init(run, cfg, seed=seed).items()}
        for name, weights in (state.get("models") or {}).items():
            if name not in models:
                raise ValueError(f"{path}: cached network {name!r} is not among the run's networks {sorted(models)}")
            models[name].load_state_dict(weights)
        log = None
        if state.get("history") is not None:
            log = TrainLog(history=state["history"], steps_done=int(state["steps"]), seconds=float(state["seconds"]))
        _RUNS[key] = (dict(state["scores"]), Trained({k: m.eval() for k, m in models.items()}, log))
        return _RUNS[key]
    with one_thread(cfg.device):  # the same numbers whatever the cores and the load (train/parallel.py)
        trained = paper.train(run, cfg, seed=seed, progress=progress)
        data, indices = paper.eval_set(run, cfg)
        scores = evaluate(paper.predict, paper.score, trained.models, data, indices, cfg)
    scores["train_seconds"] = trained.seconds
    _RUNS[key] = (scores, trained)
    if disk_cache:
        weights = {k: m.state_dict() for k, m in trained.models.items() if any(True for _ in m.parameters())}
        save_checkpoint({"scores": scores, "models": weights, "history": trained.log.history if trained.log else None,
                         "steps": trained.log.steps_done if trained.log else 0, "seconds": trained.seconds}, path)
    return _RUNS[key]


EVAL_VERSION = 1  # bump when what a cached evaluation stores changes
_EVAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PLAIN = (str, int, float, bool, type(None))


def eval_key(paper: ModuleType, run: Any, cfg, seed: int, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Everything a cached evaluation of a run depends on: the run's own key (`run_key`: its configuration, seed,
    world and code, so a retrained run never reuses an old evaluation) plus the evaluation's name and parameters."""
    if not isinstance(name, str) or not _EVAL_NAME.fullmatch(name):
        raise ValueError(f"cached_eval: name must be letters, digits, '_', '.' or '-' (a file name), got {name!r}")
    if not isinstance(params, Mapping):
        raise TypeError(f"cached_eval {name!r}: params must be a mapping, got {type(params).__name__}")
    try:  # strict: a parameter without a stable JSON form (an object's repr) would make a new key at every call
        plain = json.loads(json.dumps(dict(params), sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"cached_eval {name!r}: params must be JSON data (str, finite numbers, bool, None, "
                         f"lists, dicts with str keys): {e}") from e
    return {"run": run_key(paper, run, cfg, seed), "eval": name, "params": plain, "eval_version": EVAL_VERSION}


def eval_path(paper: ModuleType, run: Any, cfg, seed: int, name: str, params: Mapping[str, Any]) -> Path:
    """$AVFH_HOME/evals/<paper>/<name>-<hash of eval_key>.pt, beside the cached runs ($AVFH_HOME/runs/<paper>)."""
    return _eval_path(paper, name, eval_key(paper, run, cfg, seed, name, params))


def _eval_path(paper: ModuleType, name: str, key: dict[str, Any]) -> Path:
    return avfh_home() / "evals" / paper.PAPER / f"{name}-{config_hash(key)}.pt"


def _check_result(value: Any, where: str = "result") -> None:
    """A cached evaluation's result must be plain data that `torch.load(weights_only=True)` restores exactly:
    str / int / float / bool / None, tensors, lists, tuples and dicts of them (dict keys str, int, float or bool)."""
    if type(value) in _PLAIN or isinstance(value, torch.Tensor):  # exact types: numpy.float64 subclasses float
        return
    if type(value) is dict:
        for k, v in value.items():
            if type(k) not in _PLAIN[:4]:
                raise TypeError(f"cached_eval: {where} has a dict key {k!r} of type {type(k).__name__}; keys must be "
                                "str, int, float or bool")
            _check_result(v, f"{where}[{k!r}]")
        return
    if type(value) in (list, tuple):
        for i, v in enumerate(value):
            _check_result(v, f"{where}[{i}]")
        return
    raise TypeError(f"cached_eval: {where} is a {type(value).__name__}; a cached result holds only str, int, float, "
                    "bool, None, tensors, lists, tuples and dicts (convert numpy values with float() / tolist())")


def cached_eval(paper: ModuleType, run: Any, cfg, seed: int, name: str, params: Mapping[str, Any],
                fn: Callable[[], Any], *, disk_cache: bool = True) -> Any:
    """The result of `fn()`, an evaluation of the run (paper, run, cfg, seed) with `params`, cached on disk at
    `eval_path` so that a notebook re-run loads it instead of recomputing.

    `params` (JSON data) must name everything the result depends on beyond the run itself: e.g. an SNR sweep's
    SNRs, noise types, clip count and the identity of the networks that score it. The key also holds the run's key,
    so new code or a changed configuration recomputes. `fn` is called only on a miss (it may train or load the run
    through `cached_run`); its result (plain data: see `_check_result`) is stored with `torch.save` and loaded with
    `weights_only=True`, so floats come back bit for bit (a warm notebook prints the same numbers as a cold one).
    The file also stores the full key: a file whose key differs (a copied or colliding file), or a corrupt one,
    raises ValueError naming the file."""
    full = eval_key(paper, run, cfg, seed, name, params)
    path, key = _eval_path(paper, name, full), json.dumps(full, sort_keys=True)
    if disk_cache and path.exists():
        return _load_eval(path, key)
    with file_lock(path) if disk_cache else contextlib.nullcontext():  # two notebooks on a cold cache: one computes
        if disk_cache and path.exists():
            return _load_eval(path, key)
        result = fn()
        _check_result(result)
        if disk_cache:
            save_checkpoint({"key": key, "result": result}, path)
    return result


def _load_eval(path: Path, key: str) -> Any:
    state = load_checkpoint(path)
    if "result" not in state or not isinstance(state.get("key"), str):
        raise ValueError(f"{path}: not a cached evaluation (no 'key' and 'result'); delete it to recompute")
    if state["key"] != key:
        raise ValueError(f"{path}: holds the evaluation of another key (a copied file or a hash collision); "
                         "delete it to recompute")
    return state["result"]


def clear_memory() -> None:
    """Forget the in-process runs (the disk cache stays)."""
    _RUNS.clear()


def seeds(cfg, n_seeds: int | None = None) -> list[int]:
    """The seeds of an experiment: cfg.seed, cfg.seed + 1, ... (n_seeds, default cfg.n_seeds)."""
    n = int(n_seeds or cfg.n_seeds)
    if n < 1:
        raise ValueError(f"n_seeds must be >= 1, got {n}")
    return [cfg.seed + k for k in range(n)]


def quiet() -> bool:
    """True under CI (CI=true): no progress bars in logs."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def run_rows(paper: ModuleType, rows: Mapping[str, Any], cfg, n_seeds: int | None = None,
             progress: bool = True) -> dict[str, dict[str, list[float]]]:
    """{row: {metric: [one value per seed]}} for the runs `rows` ({row: run}), with one progress bar over
    rows x seeds whose postfix says whether the current run is "cached" or "training" (quiet under CI).

    The (row, seed) runs not cached yet are first trained side by side in worker processes
    (`train.parallel.prefetch`, as many as this process's thread budget allows), then read from the cache."""
    if not rows:
        raise ValueError("run_rows: no rows to run")
    ss = seeds(cfg, n_seeds)
    show = progress and not quiet()
    prefetch(paper, [(run, s) for run in rows.values() for s in ss], cfg, progress=show)
    bar = tqdm(total=len(rows) * len(ss), desc=f"{paper.PAPER}: rows x seeds", disable=not show, leave=False)
    out: dict[str, dict[str, list[float]]] = {}
    for name, run in rows.items():
        per = []
        for s in ss:
            bar.set_postfix_str(f"{name} seed {s}: {'cached' if is_cached(paper, run, cfg, s) else 'training'}")
            per.append(cached_run(paper, run, cfg, s)[0])
            bar.update(1)
        out[name] = {m: [p[m] for p in per] for m in per[0]}
    bar.close()
    return out


def means(table: Mapping[str, Mapping[str, list[float]]]) -> dict[str, dict[str, float]]:
    """{row: {metric: mean over seeds}} (NaN and None left out; NaN if no value)."""
    out = {}
    for row, ms in table.items():
        out[row] = {}
        for m, vals in ms.items():
            good = [v for v in vals if v is not None and math.isfinite(v)]
            out[row][m] = sum(good) / len(good) if good else math.nan
    return out


def main(paper: ModuleType, run: Any, argv: list[str] | None = None) -> None:
    """Train and score one run of a paper from the command line, on one process or several (torchrun: data
    parallel), with a resumable checkpoint ($AVFH_HOME/checkpoints/<paper>/...):

        python -m avfh_core.train.<paper> --preset gpu
        torchrun --nproc_per_node 8 -m avfh_core.train.<paper> --preset paper
    """
    import argparse
    import json

    import torch

    from avfh_core.config import setup
    from avfh_core.train.loop import init_distributed, rank

    ap = argparse.ArgumentParser(prog=f"python -m avfh_core.train.{paper.PAPER}", description=main.__doc__)
    ap.add_argument("--preset", default="gpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    distributed = init_distributed()
    device = f"cuda:{torch.cuda.current_device()}" if distributed and torch.cuda.is_available() else args.device
    cfg = setup(args.preset, seed=args.seed, device=device, steps=args.steps)
    ckpt = run_path(paper, run, cfg, cfg.seed, kind="checkpoints")
    trained = paper.train(run, cfg, seed=cfg.seed, checkpoint_path=ckpt, progress=rank() == 0)
    if rank() == 0:
        data, indices = paper.eval_set(run, cfg)
        scores = evaluate(paper.predict, paper.score, trained.models, data, indices, cfg)
        print(json.dumps({"preset": cfg.preset, "steps": trained.log.steps_done if trained.log else 0,
                          "seconds": trained.seconds, "checkpoint": str(ckpt), **scores}, indent=1))


__all__ = ["Trained", "main", "cached_eval", "cached_run", "clear_memory", "eval_key", "eval_path", "is_cached", "means",
           "paper_fingerprint", "quiet", "run_dict", "run_key", "run_path", "run_rows", "seeds"]
