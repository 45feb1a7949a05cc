"""One training path for the CPU and the GPU (VFH-GAN and the baselines; later papers reuse it).

    log = train_loop(step_fn, modules, optimizers, batch_fn, steps, cfg=cfg, checkpoint_path=path)

- `batch_fn(step)` returns the batch of a step as a pure function of the step (seeded from it), so a resumed run
  sees exactly the batches the uninterrupted run would have seen.
- `step_fn(batch, step)` does the forward/backward/optimizer work and returns a dict of floats (the loss terms).
  It runs under `cfg.autocast()` (bf16 on CUDA with amp, a no-op on the CPU).
- Every `checkpoint_every` steps the modules, optimizers, the step counter, the loss history and the RNG states are
  written atomically (avfh_core.train.checkpoint); with `resume=True` a later call picks up from the last
  checkpoint, so "N steps straight" and "N/2 steps, kill, resume" end with identical weights (tests/test_train_loop).
- On CUDA the modules are moved to channels_last memory format; a tqdm bar shows progress.
- Several processes (`torchrun --nproc_per_node N ...`, the paper preset): `init_distributed()` joins the process
  group; train_loop then broadcasts rank 0's weights, averages every gradient over the ranks as soon as it is
  accumulated (so any step_fn works unchanged: data parallelism), and only rank 0 writes checkpoints and shows
  progress. Each rank must draw its own batches (`rank()` in the batch seed).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from avfh_core.train.checkpoint import load_checkpoint, save_checkpoint


@dataclass
class TrainLog:
    """What a training run returns: per-step loss terms, periodic eval results, timing."""

    history: dict[str, list[float]] = field(default_factory=dict)
    evals: list[dict[str, Any]] = field(default_factory=list)
    steps_done: int = 0
    resumed_from: int = 0
    seconds: float = 0.0

    def record(self, values: Mapping[str, float]) -> None:
        n = len(next(iter(self.history.values()))) if self.history else 0
        for k, v in values.items():
            self.history.setdefault(k, [math.nan] * n).append(float(v))
        for k in self.history:
            if k not in values:
                self.history[k].append(math.nan)

    def smoothed(self, key: str, window: int = 10) -> list[float]:
        """Running mean of a loss term over `window` steps (for plotting curves)."""
        if key not in self.history:
            raise KeyError(f"no loss term {key!r}; known: {sorted(self.history)}")
        vals, out, acc = self.history[key], [], []
        for v in vals:
            acc.append(v)
            acc = acc[-window:]
            good = [a for a in acc if math.isfinite(a)]
            out.append(sum(good) / len(good) if good else math.nan)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"history": self.history, "evals": self.evals, "steps_done": self.steps_done,
                "resumed_from": self.resumed_from, "seconds": self.seconds}


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def init_distributed() -> bool:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl on CUDA, gloo on the CPU); True if distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return True


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _data_parallel(modules: Mapping[str, torch.nn.Module]) -> list:
    """Broadcast rank 0's weights; average each gradient over the ranks once it is accumulated."""
    handles = []
    n = world_size()
    for m in modules.values():
        for t in list(m.parameters()) + list(m.buffers()):
            dist.broadcast(t.data, src=0)
        for p in m.parameters():
            if p.requires_grad:
                def hook(param):
                    dist.all_reduce(param.grad)
                    param.grad.div_(n)

                handles.append(p.register_post_accumulate_grad_hook(hook))
    return handles


def prepare_modules(modules: Mapping[str, torch.nn.Module], device: torch.device) -> None:
    """Move modules to `device`; channels_last on CUDA (faster convolutions with bf16 tensor cores)."""
    for m in modules.values():
        m.to(device)
        if device.type == "cuda":
            m.to(memory_format=torch.channels_last)


def train_loop(
    step_fn: Callable[[Any, int], Mapping[str, float]],
    modules: Mapping[str, torch.nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    batch_fn: Callable[[int], Any],
    steps: int,
    *,
    cfg=None,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    resume: bool = True,
    eval_fn: Callable[[int], Mapping[str, Any]] | None = None,
    eval_every: int = 0,
    progress: bool = True,
    desc: str = "train",
    stop_after: int | None = None,
) -> TrainLog:
    """Run `steps` optimisation steps (see the module docstring). `stop_after` ends the run early after that many
    steps in total (used by the tests to simulate a kill right after a checkpoint)."""
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if checkpoint_every < 0 or eval_every < 0:
        raise ValueError(f"checkpoint_every and eval_every must be >= 0, got {checkpoint_every}, {eval_every}")
    if checkpoint_every and checkpoint_path is None:
        raise ValueError("checkpoint_every > 0 needs a checkpoint_path")
    device = cfg.device if cfg is not None else next(next(iter(modules.values())).parameters()).device
    prepare_modules(modules, device)
    log, start = TrainLog(), 0
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if path is not None and resume and path.exists():
        state = load_checkpoint(path, map_location=device)
        for name, m in modules.items():
            m.load_state_dict(state["modules"][name])
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        start = int(state["step"])
        log.history = {k: list(v) for k, v in state["history"].items()}
        log.evals = list(state.get("evals", []))
        _set_rng_state(state["rng"])
        log.resumed_from = start

    def checkpoint(step: int) -> None:
        save_checkpoint({
            "modules": {k: m.state_dict() for k, m in modules.items()},
            "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
            "step": step, "history": log.history, "evals": log.evals, "rng": _rng_state(),
        }, path)

    distributed = world_size() > 1
    hooks = _data_parallel(modules) if distributed else []
    if distributed and rank() != 0:
        path, progress = None, False  # rank 0 alone writes checkpoints and shows progress
    autocast = cfg.autocast if cfg is not None else (lambda: torch.autocast("cpu", enabled=False))
    t0 = time.perf_counter()
    end = steps if stop_after is None else min(steps, stop_after)
    for m in modules.values():
        m.train()
    bar = tqdm(range(start, end), desc=desc, disable=not progress, initial=start, total=steps, leave=False)
    for step in bar:
        batch = batch_fn(step)
        with autocast():
            values = step_fn(batch, step)
        log.record(values)
        if progress and values:
            bar.set_postfix({k: f"{v:.3g}" for k, v in list(values.items())[:3]})
        done = step + 1
        if eval_fn is not None and eval_every and (done % eval_every == 0 or done == steps):
            for m in modules.values():
                m.eval()
            with torch.no_grad():
                log.evals.append({"step": done, **dict(eval_fn(done))})
            for m in modules.values():
                m.train()
        if path is not None and checkpoint_every and (done % checkpoint_every == 0 or done == steps):
            checkpoint(done)
    bar.close()
    for h in hooks:
        h.remove()
    for m in modules.values():
        m.eval()
    log.steps_done = max(start, end)
    log.seconds = time.perf_counter() - t0
    return log
