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
- A non-finite loss term or a non-finite weight after a step stops the run with `TrainingDiverged` naming the step,
  the term or the tensor; nothing non-finite is ever checkpointed (save_checkpoint refuses it too), so the last
  checkpoint stays a good place to resume from (with a lower learning rate). An exception raised inside `step_fn`
  gets a note naming the step.
- `gradient_shares(terms, weights, params)` measures how much of the gradient each weighted loss term contributes
  (the norm of d(w_k L_k)/d params, and that norm over the sum of all terms' norms); a step_fn returns its values
  as `gnorm/<term>` and `gshare/<term>` on the steps it measures (the other steps record NaN), so the shares land in
  the loss history next to the loss values.
- Several processes (`torchrun --nproc-per-node N -m avfh_core.train.vfhgan ...`): `init_distributed()` joins the
  process group (gloo on the CPU, NCCL on GPUs); train_loop then wraps each trainable module in
  `torch.nn.parallel.DistributedDataParallel` (which broadcasts rank 0's weights and averages the gradients in
  buckets during backward) and, while `step_fn` runs, routes calls of the module to its DDP wrapper, so a step_fn
  written for one process works unchanged, as long as it calls the modules it passed (a call to a submodule would
  bypass DDP: the ranks' weights are compared after the first step and at each checkpoint, and a mismatch stops the
  run). Only rank 0 writes checkpoints (with every rank's RNG state, for a bit-identical resume) and shows progress.
  Each rank must draw its own batches (`rank()` in the batch seed).
- `with frozen(discriminator): loss = g_loss(discriminator(fake))`: the generator's step through a discriminator
  sends its gradient through the discriminator into `fake` without computing the discriminator's own weight
  gradients, which its next step would throw away (it zeroes them before its backward). The weights, and so every
  number, are bit-identical; the time saved is small (a few per cent of a VFH-GAN course step:
  benchmarks/bench_frozen_d.py).
"""

from __future__ import annotations

import contextlib
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

from avfh_core.fsutil import clean_stale_temps
from avfh_core.train.checkpoint import load_checkpoint, nonfinite_tensors, save_checkpoint


class TrainingDiverged(FloatingPointError):
    """A loss term or a weight became NaN or inf: the message names the step and the term or tensor."""


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


def gradient_shares(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float],
                    params: Any) -> dict[str, float]:
    """{"gnorm/<k>": ||d(w_k L_k)/d params||, "gshare/<k>": that norm / the sum of every term's norm} for each term
    k of `terms` with a non-zero weight (keys missing from `weights` and "total" are skipped). `params` is an
    iterable of tensors (a module's parameters, or an output tensor: the gradient at the generator's output). The
    graph is retained, so the caller can still backward its total. Norms of different terms do not add (the
    gradients are vectors), so the shares are a readable ratio, not a decomposition of the total's norm."""
    params = [p for p in ([params] if isinstance(params, torch.Tensor) else params) if p.requires_grad]
    if not params:
        raise ValueError("gradient_shares: no tensor that requires grad among params")
    norms: dict[str, float] = {}
    for k, v in terms.items():
        if k == "total" or not weights.get(k, 0):
            continue
        if not v.requires_grad:
            raise ValueError(f"gradient_shares: loss term {k!r} does not depend on anything that requires grad")
        grads = torch.autograd.grad(float(weights[k]) * v, params, retain_graph=True, allow_unused=True)
        norms[k] = math.sqrt(sum(float(g.detach().double().pow(2).sum()) for g in grads if g is not None))
    if not norms:
        raise ValueError(f"gradient_shares: no weighted term among {sorted(terms)} (weights {dict(weights)})")
    total = sum(norms.values())
    out = {f"gnorm/{k}": n for k, n in norms.items()}
    out.update({f"gshare/{k}": (n / total if total > 0 else math.nan) for k, n in norms.items()})
    return out


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


_SINGLE_PROCESS = 0  # > 0 inside single_process(): train_loop ignores the process group


@contextlib.contextmanager
def single_process():
    """Within this block train_loop trains on this process alone, even under torchrun: rank() is 0 and
    world_size() is 1. load_or_train builds a cached network this way, since one process builds it while the
    others wait on its file lock (collectives there would wait forever)."""
    global _SINGLE_PROCESS
    _SINGLE_PROCESS += 1
    try:
        yield
    finally:
        _SINGLE_PROCESS -= 1


def rank() -> int:
    return dist.get_rank() if not _SINGLE_PROCESS and dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if not _SINGLE_PROCESS and dist.is_available() and dist.is_initialized() else 1


@contextlib.contextmanager
def frozen(*modules: torch.nn.Module):
    """While inside, the modules' parameters do not require a gradient (each flag is restored on exit, also on an
    exception), so a graph built inside sends gradients *through* the modules into their inputs but never into their
    weights. For a generator's loss through a discriminator: the discriminator's weight gradients from that loss are
    discarded anyway (its optimiser zeroes them before its own backward), so skipping them changes no weight, only
    the time. Under torchrun a module called through its DistributedDataParallel wrapper (see train_loop) is
    called inside the wrapper's `no_sync()`, so the wrapper does not wait for gradients that never come."""
    flags = [(p, p.requires_grad) for m in modules for p in m.parameters()]
    with contextlib.ExitStack() as stack:
        for m in modules:
            ddp = getattr(vars(m).get("forward"), "__self__", None)  # the wrapper a _DDPRoute installed
            if isinstance(ddp, torch.nn.parallel.DistributedDataParallel):
                stack.enter_context(ddp.no_sync())
        try:
            for p, _ in flags:
                p.requires_grad_(False)
            yield
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)


class _DDPRoute:
    """Makes `module(...)` run through its DistributedDataParallel wrapper while installed (see train_loop)."""

    def __init__(self, module: torch.nn.Module, device: torch.device, ddp_kwargs: Mapping[str, Any]):
        self.module = module
        self.forward = module.forward  # the module's own forward, called by the proxy inside DDP
        self._own = {"forward"} if "forward" in vars(module) else set()
        proxy = _Proxy(module, self.forward)
        ids = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else None
        self.ddp = torch.nn.parallel.DistributedDataParallel(proxy, device_ids=ids, **ddp_kwargs)

    def __enter__(self):
        # an instance attribute shadows the class's forward (nn.Module.__call__ looks it up); object.__setattr__
        # keeps nn.Module from registering the DDP wrapper as a submodule
        object.__setattr__(self.module, "forward", self.ddp.__call__)
        return self

    def __exit__(self, *exc):
        if "forward" in self._own:
            object.__setattr__(self.module, "forward", self.forward)
        else:
            object.__delattr__(self.module, "forward")
        return False


class _Proxy(torch.nn.Module):
    """What DDP wraps: the module's parameters, and its original forward (no hooks run twice, no recursion)."""

    def __init__(self, module: torch.nn.Module, forward: Callable):
        super().__init__()
        self.inner = module
        self._fwd = forward

    def forward(self, *args, **kwargs):
        return self._fwd(*args, **kwargs)


def _data_parallel(modules: Mapping[str, torch.nn.Module], device: torch.device,
                   ddp_kwargs: Mapping[str, Any]) -> list[_DDPRoute]:
    """DDP wrappers for the modules with trainable parameters; the others get rank 0's state broadcast."""
    routes = []
    for m in modules.values():
        if any(p.requires_grad for p in m.parameters()):
            routes.append(_DDPRoute(m, device, ddp_kwargs))  # DDP's constructor broadcasts rank 0's parameters and buffers
        else:
            for t in list(m.parameters()) + list(m.buffers()):
                dist.broadcast(t.data, src=0)
    return routes


def _check_ranks_agree(modules: Mapping[str, torch.nn.Module], step: int, device: torch.device) -> None:
    """Raise on every rank if the ranks hold different weights (a step_fn that bypassed the DDP wrappers)."""
    names = list(modules)
    fp = torch.stack([sum((p.detach().double().sum() for p in modules[n].parameters()),
                          torch.zeros((), dtype=torch.float64, device=device)) for n in names])
    hi, lo = fp.clone(), fp.clone()
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    bad = [n for n, a, b in zip(names, hi.tolist(), lo.tolist()) if a != b]
    if bad:
        raise RuntimeError(
            f"after step {step} the ranks hold different weights in {bad}: gradients were not averaged. step_fn "
            "must call the modules given to train_loop (calling a submodule, e.g. net[0](x), bypasses "
            "DistributedDataParallel)")


def _nonfinite_weights(modules: Mapping[str, torch.nn.Module]) -> list[tuple[str, int, int]]:
    """[(name, count, numel)] of the modules' non-finite weights. Fast path (every step): one norm per tensor, one
    sync (a NaN or inf makes its norm non-finite; a huge finite tensor may too, so a hit is confirmed exactly)."""
    tensors = [t.detach() for m in modules.values() for t in list(m.parameters()) + list(m.buffers())
               if t.is_floating_point() and t.numel()]
    if not tensors:
        return []
    norms = torch._foreach_norm(tensors) if hasattr(torch, "_foreach_norm") else [t.norm() for t in tensors]
    if bool(torch.stack([n.float().to(tensors[0].device) for n in norms]).sum().isfinite()):
        return []
    return nonfinite_tensors({k: m.state_dict() for k, m in modules.items()})


def _describe(found: list[tuple[str, int, int]]) -> str:
    more = f" and {len(found) - 5} more tensors" if len(found) > 5 else ""
    return ", ".join(f"{name} ({n} of {total} values)" for name, n, total in found[:5]) + more


def _diverged(where: str, found: list[tuple[str, int, int]], values: Mapping[str, float]) -> TrainingDiverged:
    bad = _describe(found)
    terms = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
    return TrainingDiverged(f"{where}: the update made weights non-finite in {bad} although the loss terms were "
                            f"finite ({terms}): the run diverged; lower the learning rate")


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
    ddp_kwargs: Mapping[str, Any] | None = None,
) -> TrainLog:
    """Run `steps` optimisation steps (see the module docstring). `stop_after` ends the run early after that many
    steps in total (used by the tests to simulate a kill right after a checkpoint). `ddp_kwargs` go to every
    DistributedDataParallel wrapper under torchrun, e.g. {"find_unused_parameters": True} for a model some of whose
    parameters get no gradient in a step."""
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
    distributed, me = world_size() > 1, rank()
    if path is not None and me == 0:
        clean_stale_temps(path)  # temp files of checkpoint writes that were killed
    if path is not None and resume and path.exists():
        state = load_checkpoint(path, map_location=device)
        for name, m in modules.items():
            m.load_state_dict(state["modules"][name])
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        start = int(state["step"])
        log.history = {k: list(v) for k, v in state["history"].items()}
        log.evals = list(state.get("evals", []))
        rngs = state.get("rng_ranks") or []
        _set_rng_state(rngs[me] if me < len(rngs) else state["rng"])
        log.resumed_from = start

    def checkpoint(step: int) -> None:
        rngs = [_rng_state()]
        if distributed:  # every rank's RNG state, so that each rank resumes exactly where it was
            rngs = [None] * world_size()
            dist.all_gather_object(rngs, _rng_state())
        if me == 0:
            save_checkpoint({
                "modules": {k: m.state_dict() for k, m in modules.items()},
                "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                "step": step, "history": log.history, "evals": log.evals, "rng": rngs[0], "rng_ranks": rngs,
            }, path)
        if distributed:
            dist.barrier()  # no rank runs ahead of a checkpoint that is not on disk yet

    if distributed:  # every rank must have resumed from the same step (a checkpoint folder all ranks can see)
        steps_seen = torch.tensor([start, -start], dtype=torch.int64, device=device)
        dist.all_reduce(steps_seen, op=dist.ReduceOp.MAX)
        if steps_seen[0].item() != -steps_seen[1].item():
            raise RuntimeError(f"rank {me} resumed from step {start} but another rank from a different step: "
                               f"{path} must be one file that every rank sees (a shared folder)")

    routes = _data_parallel(modules, device, dict(ddp_kwargs or {})) if distributed else []
    if distributed and me != 0:
        progress = False  # rank 0 alone writes checkpoints and shows progress
    autocast = cfg.autocast if cfg is not None else (lambda: torch.autocast("cpu", enabled=False))
    t0 = time.perf_counter()
    end = steps if stop_after is None else min(steps, stop_after)
    for m in modules.values():
        m.train()
    bar = tqdm(range(start, end), desc=desc, disable=not progress, initial=start, total=steps, leave=False)
    for step in bar:
        batch = batch_fn(step)
        done = step + 1
        where = f"{desc}: step {done} of {steps}"
        try:
            with contextlib.ExitStack() as stack:
                for r in routes:
                    stack.enter_context(r)
                with autocast():
                    values = step_fn(batch, step)
        except Exception as e:
            found = _nonfinite_weights(modules)
            if found:  # e.g. a loss that rejects NaN inputs: the cause is the divergence, say so
                raise TrainingDiverged(
                    f"{where}: step_fn raised {type(e).__name__}: {e}; the weights are non-finite in "
                    f"{_describe(found)}: the run diverged; lower the learning rate") from e
            e.add_note(f"(raised by step_fn in {where})")
            raise
        values = dict(values)
        bad = {k: v for k, v in values.items() if not math.isfinite(float(v)) and not k.startswith("gshare/")}
        if bad:
            raise TrainingDiverged(
                f"{where}: non-finite loss term{'s' if len(bad) > 1 else ''} "
                + ", ".join(f"{k!r}={v}" for k, v in bad.items())
                + " (the run diverged: lower the learning rate; no checkpoint was written for this step"
                + (f", the last one at {path} is intact" if path is not None and path.exists() else "") + ")")
        found = _nonfinite_weights(modules)
        if found:
            raise _diverged(where, found, values)
        log.record(values)
        if distributed and done == start + 1:
            _check_ranks_agree(modules, done, device)
        if progress and values:
            bar.set_postfix({k: f"{v:.3g}" for k, v in list(values.items())[:3]})
        if eval_fn is not None and eval_every and (done % eval_every == 0 or done == steps):
            for m in modules.values():
                m.eval()
            with torch.no_grad():
                log.evals.append({"step": done, **dict(eval_fn(done))})
            for m in modules.values():
                m.train()
        if path is not None and checkpoint_every and (done % checkpoint_every == 0 or done == steps):
            if distributed:
                _check_ranks_agree(modules, done, device)
            checkpoint(done)
    bar.close()
    del routes  # drops the DDP wrappers (and their gradient hooks)
    for m in modules.values():
        m.eval()
    log.steps_done = max(start, end)
    log.seconds = time.perf_counter() - t0
    return log
