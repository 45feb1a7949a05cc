"""train.parallel: cached runs trained side by side in single-threaded worker processes give exactly the numbers
of the same runs trained one after the other in this process; thread counts never change a number."""

import sys
import textwrap
from pathlib import Path

import pytest
import torch

from avfh_core.config import setup
from avfh_core.train import experiment as E
from avfh_core.train import parallel as P

PAPER = '''
from dataclasses import dataclass

import torch
import torch.nn as nn

from avfh_core.data.batching import spread_indices, step_batches
from avfh_core.nn.init import build, seeded
from avfh_core.train.experiment import Trained
from avfh_core.train.loop import train_loop

PAPER = "partoy"
THREADS = []  # torch's intra-op thread count seen by every call to train (in this process)


@dataclass(frozen=True)
class Run:
    width: int = 32
    fail: bool = False


def _items(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, generator=g)
    y = torch.tanh(x @ torch.randn(16, generator=g)) + 0.1 * torch.randn(n, generator=g)
    return [{"x": x[i], "y": y[i]} for i in range(n)]


def init(run, cfg, *, seed):
    return {"net": build(seed, "net", lambda: nn.Sequential(nn.Linear(16, run.width), nn.Tanh(),
                                                            nn.Linear(run.width, 1)))}


def train(run, cfg, *, seed, progress=False, checkpoint_path=None):
    THREADS.append(torch.get_num_threads())
    if run.fail:
        raise ValueError("planted failure")
    models = init(run, cfg, seed=seed)
    opt = torch.optim.Adam(models["net"].parameters(), lr=1e-2)

    def step_fn(batch, step):
        loss = ((models["net"](batch["x"])[:, 0] - batch["y"]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    with seeded(seed, "train"):
        log = train_loop(step_fn, models, {"net": opt}, step_batches(_items(256, 0), 64, seed, "cpu"), cfg.steps,
                         cfg=cfg, progress=progress)
    return Trained(models, log)


def eval_set(run, cfg):
    data = _items(64, 1)
    return data, spread_indices(data, 64)


def predict(models, batch):
    return models["net"](batch["x"])[:, 0]


def score(pred, batch, cfg):
    return {"mse": (pred - batch["y"]) ** 2}
'''


@pytest.fixture
def partoy(tmp_path, monkeypatch):
    """The paper as an importable module (its folder on sys.path, which spawned workers inherit)."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "partoy_paper.py").write_text(textwrap.dedent(PAPER))
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    sys.modules.pop("partoy_paper", None)
    import partoy_paper

    E.clear_memory()
    yield partoy_paper
    E.clear_memory()
    sys.modules.pop("partoy_paper", None)


def _weights(trained):
    return {k: v.clone() for k, v in trained.models["net"].state_dict().items()}


def test_rows_trained_in_workers_equal_rows_trained_here(partoy, tmp_path, monkeypatch):
    cfg = setup("smoke", seed=0, device="cpu", steps=20)
    jobs = [(partoy.Run(width=w), s) for w in (8, 32) for s in (0, 1)]

    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "serial"))
    torch.set_num_threads(2)  # the serial path still trains with one thread
    here = {(r, s): E.cached_run(partoy, r, cfg, s) for r, s in jobs}
    assert partoy.THREADS == [1, 1, 1, 1] and torch.get_num_threads() == 2

    E.clear_memory()
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "workers"))
    # the first job is trained (and timed) here, the other three in two workers; duplicates are trained once
    assert P.prefetch(partoy, jobs + jobs[:1], cfg, processes=2, min_seconds=0) == 3
    assert partoy.THREADS == [1, 1, 1, 1, 1]
    assert all(E.run_path(partoy, r, cfg, s).exists() for r, s in jobs)
    for r, s in jobs:
        scores, trained = E.cached_run(partoy, r, cfg, s)
        assert scores["mse"] == here[(r, s)][0]["mse"]  # bit for bit
        w0, w1 = _weights(here[(r, s)][1]), _weights(trained)
        assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert P.prefetch(partoy, jobs, cfg, processes=2, min_seconds=0) == 0  # all cached now
    E.clear_memory()
    more = [(partoy.Run(width=w), 0) for w in (4, 5, 6)]
    # a toy run is shorter than a worker's start: all are trained here
    assert P.prefetch(partoy, more, cfg, processes=2) == 0
    assert partoy.THREADS == [1] * 8 and all(E.is_cached(partoy, r, cfg, s) for r, s in more)


def test_prefetch_reports_the_failing_run_and_seed(partoy, tmp_path, monkeypatch):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    cfg = setup("smoke", seed=0, device="cpu", steps=2)
    with pytest.raises(RuntimeError, match=r"partoy run .*fail=True.* seed 3 failed in a worker.*planted failure"):
        P.prefetch(partoy, [(partoy.Run(), 3), (partoy.Run(width=4), 3), (partoy.Run(fail=True), 3)], cfg,
                   processes=2, min_seconds=0)


def test_prefetch_refuses_a_worker_that_caches_where_this_process_does_not_read(partoy, tmp_path, monkeypatch):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    cfg = setup("smoke", seed=0, device="cpu", steps=2)
    real = E.run_path
    # this process keys its cache on other code than the (freshly spawned) workers do
    monkeypatch.setattr(E, "run_path", lambda *a, **k: real(*a, **k).with_name("other-" + real(*a, **k).name))
    with pytest.raises(RuntimeError, match=r"worker cached partoy run .* but this process reads .*other-"):
        P.prefetch(partoy, [(partoy.Run(width=w), 0) for w in (4, 5, 6)], cfg, processes=2, min_seconds=0)


def test_prefetch_leaves_work_to_this_process_when_it_cannot_help(partoy, tmp_path, monkeypatch):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    cfg = setup("smoke", seed=0, device="cpu", steps=2)
    two = [(partoy.Run(), 0), (partoy.Run(), 1)]
    assert P.prefetch(partoy, two[:1], cfg, processes=2) == 0  # one job: no pool
    assert P.prefetch(partoy, two, cfg, processes=1) == 0
    monkeypatch.setitem(sys.modules, "__main__", partoy)
    assert not P._importable(type(sys)("__main__"))  # a notebook's own module cannot be re-imported
    with pytest.raises(ValueError, match="processes must be >= 1"):
        P.prefetch(partoy, two, cfg, processes=0)
    assert not any(E.run_path(partoy, r, cfg, s).exists() for r, s in two)


def test_train_processes_and_one_thread(monkeypatch):
    monkeypatch.setenv(P.ENV_PROCESSES, "3")
    assert P.train_processes() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(P.ENV_PROCESSES, bad)
        with pytest.raises(ValueError, match=f"AVFH_TRAIN_PROCESSES={bad!r} is not valid"):
            P.train_processes()
    monkeypatch.delenv(P.ENV_PROCESSES)
    assert P.train_processes() >= 1
    before = torch.get_num_threads()
    with pytest.raises(KeyError), P.one_thread("cpu"):
        assert torch.get_num_threads() == 1
        raise KeyError("restored after an error")
    assert torch.get_num_threads() == before
    with P.one_thread("meta"):  # not the CPU: untouched
        assert torch.get_num_threads() == before


def test_a_paper_reached_through_an_import_hook_is_importable(tmp_path, monkeypatch):
    """A fresh `pip install -e .` may install avfh_core through setuptools' import hook, with no sys.path entry
    holding the package: prefetch once took such a paper for unimportable and trained every run in the notebook's
    own process (a fresh clone's course run, serially)."""
    import importlib.abc
    import importlib.util

    src = tmp_path / "hooked_paper_mod.py"
    src.write_text("PAPER = 'hooked'\n")

    class Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            return importlib.util.spec_from_file_location(name, src) if name == "hooked_paper_mod" else None

    monkeypatch.setattr(sys, "meta_path", [Hook(), *sys.meta_path])
    assert not any((Path(p or ".") / src.name).exists() for p in sys.path)  # only the hook knows it
    mod = importlib.import_module("hooked_paper_mod")
    monkeypatch.setitem(sys.modules, "hooked_paper_mod", mod)
    assert P._importable(mod)
    stray = type(sys)("hooked_paper_mod")  # the same name, another file: a worker would import something else
    stray.__file__ = str(tmp_path / "elsewhere.py")
    assert not P._importable(stray)
