"""The per-paper contract: a toy paper written outside avfh_core (a one-layer model, a two-row table) runs through
the shared experiment code and gets its claim scored by the report, with no edit of shared code."""

import importlib.util
import json
import math
import sys
import textwrap

import numpy as np
import pytest
import torch
import yaml

from avfh_core.config import setup
from avfh_core.reproduce.report import build_report
from avfh_core.reproduce.results import Results
from avfh_core.reproduce.tables import load_tables
from avfh_core.train import experiment as E
from avfh_core.train.evaluate import evaluate

TOY_PAPER = '''
"""Toy paper: a linear regressor with or without a bias (Table t1)."""
from dataclasses import dataclass

import torch
import torch.nn as nn

from avfh_core.data.batching import spread_indices, step_batches
from avfh_core.nn.init import build, seeded
from avfh_core.train.experiment import Trained
from avfh_core.train.loop import train_loop

PAPER = "toy"


@dataclass(frozen=True)
class ToyRun:
    bias: bool = True


TABLES = {"t1": lambda cfg: {"base": ToyRun(bias=False), "full": ToyRun(bias=True)}}
TRAINED = []  # (run, seed) of every call to train, for the test


def _items(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 3.0 + 0.1 * torch.randn(n, generator=g)
    return [{"x": x[i], "y": y[i]} for i in range(n)]


def init(run, cfg, *, seed):
    return {"net": build(seed, "net", lambda: nn.Linear(4, 1, bias=run.bias))}


def train(run, cfg, *, seed, progress=False, checkpoint_path=None):
    TRAINED.append((run, seed))
    models = init(run, cfg, seed=seed)
    opt = torch.optim.Adam(models["net"].parameters(), lr=0.1)

    def step_fn(batch, step):
        loss = ((models["net"](batch["x"])[:, 0] - batch["y"]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    with seeded(seed, "train"):
        log = train_loop(step_fn, models, {"net": opt}, step_batches(_items(64, 0), 16, seed, "cpu"), cfg.steps,
                         cfg=cfg, progress=progress)
    return Trained(models, log)


def eval_set(run, cfg):
    data = _items(32, 1)
    return data, spread_indices(data, 32)


def predict(models, batch):
    return models["net"](batch["x"])[:, 0]


def score(pred, batch, cfg):
    return {"mse": (pred - batch["y"]) ** 2}
'''

TOY_TABLES = {
    "paper": "toy", "title": "A toy paper",
    "tables": {"t1": {"caption": "bias ablation", "dataset": "synthetic", "metrics": ["mse"],
                      "rows": {"base": {"label": "no bias", "mse": 9.0}, "full": {"label": "with bias", "mse": 0.01}}}},
    "claims": [{"id": "bias_helps", "text": "a bias lowers the error", "table": "t1", "metric": "mse",
                "better": "lower", "a": "base", "b": "full", "published_effect": -8.99}],
}


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    path = tmp_path / "toy_paper.py"
    path.write_text(textwrap.dedent(TOY_PAPER))
    spec = importlib.util.spec_from_file_location("toy_paper", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "toy_paper", module)
    spec.loader.exec_module(module)
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "toy.yaml").write_text(yaml.safe_dump(TOY_TABLES))
    E.clear_memory()
    yield module
    E.clear_memory()


class FakeBar:
    bars = []

    def __init__(self, total, desc, disable, leave):
        self.total, self.disable, self.postfixes, self.n = total, disable, [], 0
        FakeBar.bars.append(self)

    def set_postfix_str(self, s):
        self.postfixes.append(s)

    def update(self, k):
        self.n += k

    def close(self):
        pass


def test_toy_paper_runs_through_the_contract_and_the_report_scores_its_claim(toy, tmp_path, monkeypatch):
    cfg = setup("smoke", seed=0, device="cpu", steps=60)
    monkeypatch.setattr(E, "tqdm", FakeBar)
    monkeypatch.delenv("CI", raising=False)
    FakeBar.bars.clear()
    rows = toy.TABLES["t1"](cfg)
    table = E.run_rows(toy, rows, cfg, n_seeds=3)
    assert set(table) == {"base", "full"} and len(table["full"]["mse"]) == 3
    assert {"mse", "train_seconds"} <= set(table["base"])
    bar = FakeBar.bars[-1]
    assert bar.total == 6 and bar.n == 6 and not bar.disable
    assert all(p.endswith("training") for p in bar.postfixes)
    means = E.means(table)
    assert means["full"]["mse"] < 0.1 < 1.0 < means["base"]["mse"]

    # the run cache: a second pass (new process memory) trains nothing and says so
    E.clear_memory()
    n_trained = len(toy.TRAINED)
    again = E.run_rows(toy, rows, cfg, n_seeds=3)
    assert again == table and len(toy.TRAINED) == n_trained
    assert all(p.endswith("cached") for p in FakeBar.bars[-1].postfixes)
    assert E.run_path(toy, rows["full"], cfg, 0).parent == tmp_path / "home" / "runs" / "toy"

    # a notebook logs the table; the report (shared code, unchanged) scores the paper's claim from it
    run_dir = tmp_path / "runs" / "r1"
    monkeypatch.setenv("AVFH_RESULTS", str(run_dir / "toy" / "01_toy__preset-smoke_seed-0.json"))
    res = Results("toy/01_toy", cfg)
    res.log("t1", means)
    res.log("t1_seeds", table)
    md, _ = build_report(run_dir, tables_root=tmp_path / "tables")
    audit = json.loads((run_dir / "audit.json").read_text())
    (record,) = next(iter(audit["audits"].values()))
    # smoke preset: inconclusive by construction; the statistics' own verdict is kept in `why`
    assert record["id"] == "bias_helps" and record["verdict"] == "inconclusive" and record["n"] == 3
    assert "by construction" in record["why"] and "'reproduced'" in record["why"]
    assert record["effect"] == pytest.approx(means["full"]["mse"] - means["base"]["mse"])
    assert "bias_helps" in md.read_text()

    # the same record comes out of the audit function a notebook calls on its own sidecar (one claims path)
    from avfh_core.reproduce.audit import audit_claims

    (direct,) = audit_claims(load_tables("toy", tmp_path / "tables"), [res.data])
    assert direct["verdict"] == record["verdict"] and direct["why"] == record["why"]
    assert direct["effect"] == pytest.approx(record["effect"])


def test_cached_run_keys_and_errors(toy, monkeypatch):
    cfg = setup("smoke", seed=0, device="cpu", steps=5)
    run = toy.ToyRun()
    key = E.run_key(toy, run, cfg, 0)
    assert key["paper"] == "toy" and key["run"] == {"bias": True} and key["seed"] == 0
    assert E.run_path(toy, run, cfg, 0) != E.run_path(toy, run, cfg, 1)
    assert E.run_path(toy, run, cfg, 0) != E.run_path(toy, toy.ToyRun(bias=False), cfg, 0)
    assert E.run_path(toy, run, cfg, 0) != E.run_path(toy, run, setup("smoke", seed=0, device="cpu", steps=6), 0)
    assert E.seeds(setup("smoke", seed=4, device="cpu"), 2) == [4, 5]
    with pytest.raises(ValueError, match="n_seeds must be >= 1"):
        E.seeds(cfg, -1)
    with pytest.raises(TypeError, match="a run must be a dataclass instance"):
        E.run_dict({"bias": True})
    with pytest.raises(ValueError, match="no rows"):
        E.run_rows(toy, {}, cfg)
    scores, trained = E.cached_run(toy, run, cfg, 0)
    data, idx = toy.eval_set(run, cfg)
    assert scores["mse"] == pytest.approx(evaluate(toy.predict, toy.score, trained.models, data, idx, cfg)["mse"])


def test_progress_bar_is_quiet_under_ci(toy, monkeypatch):
    monkeypatch.setattr(E, "tqdm", FakeBar)
    monkeypatch.setenv("CI", "true")
    E.run_rows(toy, toy.TABLES["t1"](setup("smoke", device="cpu", steps=2)), setup("smoke", device="cpu", steps=2),
               n_seeds=1)
    assert FakeBar.bars[-1].disable
    monkeypatch.setenv("CI", "false")
    assert not E.quiet()


def test_evaluate_leaves_out_nan_and_needs_indices():
    cfg = setup("smoke", device="cpu")
    data = [{"y": torch.tensor(float(i))} for i in range(4)]

    def score(pred, batch, cfg):
        return {"v": torch.where(batch["y"] == 1, torch.nan, batch["y"])}

    out = evaluate(lambda m, b: b["y"], score, {}, data, [0, 1, 2, 3], cfg, batch_size=3)
    assert out["v"] == pytest.approx((0 + 2 + 3) / 3)
    with pytest.raises(ValueError, match="no indices"):
        evaluate(lambda m, b: b["y"], score, {}, data, [], cfg)


def test_cached_eval_reloads_exactly_and_recomputes_when_its_key_changes(toy):
    """An evaluation of a run (e.g. an SNR sweep) is computed once per (run key, name, params), then loaded bit for
    bit; new params, another seed or another run recompute; bad files and bad input give errors naming what."""
    cfg = setup("smoke", seed=0, device="cpu", steps=3)
    run, calls = toy.ToyRun(), []

    def sweep(scale):
        def fn():
            calls.append(scale)
            return {float(s): {"mse": scale / 3 + s * 0.1, "nan": math.nan} for s in (-10.0, 0.5, 30.0)}
        return fn

    params = {"snrs": [-10.0, 0.5, 30.0], "types": ["babble"], "clips": 4}
    first = E.cached_eval(toy, run, cfg, 0, "sweep", params, sweep(1.0))
    path = E.eval_path(toy, run, cfg, 0, "sweep", params)
    assert path.exists() and path.parent == E.run_path(toy, run, cfg, 0).parent.parent.parent / "evals" / "toy"
    again = E.cached_eval(toy, run, cfg, 0, "sweep", dict(params), sweep(2.0))  # a warm cache: fn is not called
    assert calls == [1.0] and list(again) == [-10.0, 0.5, 30.0]
    assert all(again[s]["mse"] == first[s]["mse"] and math.isnan(again[s]["nan"]) for s in first)  # bit for bit
    assert again[0.5]["mse"] == 1.0 / 3 + 0.05
    assert not any(E.is_cached(toy, run, cfg, s) for s in (0, 1))  # an evaluation does not train the run itself

    E.cached_eval(toy, run, cfg, 0, "sweep", {**params, "clips": 5}, sweep(3.0))  # new params
    E.cached_eval(toy, run, cfg, 1, "sweep", params, sweep(4.0))  # another seed: another run key
    E.cached_eval(toy, toy.ToyRun(bias=False), cfg, 0, "sweep", params, sweep(5.0))  # another run
    E.cached_eval(toy, run, setup("smoke", seed=0, device="cpu", steps=4), 0, "sweep", params, sweep(6.0))  # config
    E.cached_eval(toy, run, cfg, 0, "other", params, sweep(7.0))  # another evaluation of the same run
    assert calls == [1.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert E.cached_eval(toy, run, cfg, 0, "nodisk", params, sweep(8.0), disk_cache=False)[0.5]["mse"] == 8.0 / 3 + 0.05
    assert not E.eval_path(toy, run, cfg, 0, "nodisk", params).exists()

    # a file of another key at this path (copied by hand), a corrupt and an empty file: errors name the file
    other = E.eval_path(toy, run, cfg, 1, "sweep", params)
    path.write_bytes(other.read_bytes())
    with pytest.raises(ValueError, match=f"{path}: holds the evaluation of another key"):
        E.cached_eval(toy, run, cfg, 0, "sweep", params, sweep(9.0))
    path.write_bytes(other.read_bytes()[:200])  # truncated
    with pytest.raises(ValueError, match=f"{path}: not a readable checkpoint"):
        E.cached_eval(toy, run, cfg, 0, "sweep", params, sweep(9.0))
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=f"{path}: empty checkpoint"):
        E.cached_eval(toy, run, cfg, 0, "sweep", params, sweep(9.0))
    assert 9.0 not in calls

    with pytest.raises(ValueError, match="params must be JSON data"):
        E.cached_eval(toy, run, cfg, 0, "sweep", {"net": object()}, sweep(9.0))
    with pytest.raises(ValueError, match="params must be JSON data"):
        E.cached_eval(toy, run, cfg, 0, "sweep", {"snr": math.nan}, sweep(9.0))
    with pytest.raises(ValueError, match="name must be"):
        E.cached_eval(toy, run, cfg, 0, "../escape", params, sweep(9.0))
    with pytest.raises(TypeError, match=r"result\[0\]\['x'\] is a float64"):
        E.cached_eval(toy, run, cfg, 0, "numpy", params, lambda: {0: {"x": np.float64(1.0)}})
    assert not E.eval_path(toy, run, cfg, 0, "numpy", params).exists()  # nothing stored that would not reload


def test_a_runs_key_does_not_depend_on_how_many_seeds_the_notebook_asks_for():
    from avfh_core.config import setup
    from avfh_core.train import vfhgan

    run = vfhgan.VFHGANRun.make()
    one, three = setup("smoke", seed=0, device="cpu", n_seeds=1), setup("smoke", seed=0, device="cpu", n_seeds=3)
    assert E.run_path(vfhgan, run, one, 0) == E.run_path(vfhgan, run, three, 0)
    assert E._memory_key(vfhgan, run, one, 0) == E._memory_key(vfhgan, run, three, 0)
    other = setup("smoke", seed=0, device="cpu", n_seeds=1, steps=3)
    assert E.run_path(vfhgan, run, other, 0) != E.run_path(vfhgan, run, one, 0)


def test_a_runs_key_does_not_depend_on_which_rows_the_notebook_asks_for():
    """talkingface's Proposed is one cached run whether or not the ablation rows are asked for, and the seed counts
    of the ablation notebooks key nothing (config.ROW_KNOBS)."""
    from avfh_core.config import ROW_KNOBS, setup
    from avfh_core.train import talkingface, vfhgan

    assert set(ROW_KNOBS) <= set(setup("smoke", device="cpu").values)
    with_rows = setup("smoke", seed=0, device="cpu", talkingface_ablations=True)
    without = setup("smoke", seed=0, device="cpu", talkingface_ablations=False)
    assert set(talkingface.ablations(without)) == {"proposed"}
    assert talkingface.ablations(with_rows)["proposed"] == talkingface.fig5(without)["proposed"]
    assert E.run_path(talkingface, talkingface.PROPOSED, with_rows, 0) == \
        E.run_path(talkingface, talkingface.PROPOSED, without, 0)
    run = vfhgan.VFHGANRun.make()
    a = setup("smoke", seed=0, device="cpu", vfhgan_ablation_seeds=1, secnet_ablation_seeds=1)
    b = setup("smoke", seed=0, device="cpu", vfhgan_ablation_seeds=4, secnet_ablation_seeds=2)
    assert E.run_path(vfhgan, run, a, 0) == E.run_path(vfhgan, run, b, 0)
