"""Sweeps, resume (including a killed `avfh reproduce`), failure isolation, process-pool and Dask executors.

Tiny synthetic notebooks in tmp dirs keep this fast; every execution is a real papermill run.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from avfh_core.cli import main
from avfh_core.reproduce.batch import (
    NotebookInfo,
    RunSpec,
    code_fingerprint,
    read_manifest,
    run_batch,
    run_dependencies,
    same_code,
    summary_table,
)
from avfh_core.reproduce.runner import NotebookParameterError
from avfh_core.reproduce.sweep import expand, grid_points, load_sweep, parse_grid_item

NB = textwrap.dedent(
    '''\
    # %% tags=["parameters"]
    preset = "course"
    seed = 0
    value = 1

    # %%
    # a sidecar like avfh_core's Results writes, without importing torch (keeps the kernel start fast)
    import json, os, time
    side = {"notebook": "demo/NAME", "config": {"preset": preset, "seed": seed}, "metrics": {"start": time.time()}}
    def log():
        with open(os.environ["AVFH_RESULTS"], "w") as f:
            json.dump(side, f)
    log()
    if os.environ.get("AVFH_TEST_SLEEP") and "NAME" == "b":
        time.sleep(120)
    side["metrics"].update(score=seed * 10 + value, end=time.time())
    log()
    '''
)
FAIL = textwrap.dedent(
    '''\
    # %% tags=["parameters"]
    preset = "course"
    seed = 0

    # %%
    raise ValueError("broken on purpose")
    '''
)


def make_root(tmp_path: Path, names=("a", "b")) -> Path:
    root = tmp_path / "nbs"
    (root / "demo").mkdir(parents=True)
    for n in names:
        (root / "demo" / f"{n}.py").write_text(NB.replace("NAME", n))
    return root


def info(root: Path, name: str, deps=()) -> NotebookInfo:
    return NotebookInfo(f"demo/{name}", root / "demo" / f"{name}.py", "demo", tuple(deps))


def cli(root, runs, *extra):
    return main(["reproduce", "--preset", "smoke", "--notebooks-root", str(root), "--runs-dir", str(runs),
                 "--quiet", "--no-report", *extra])


def test_grid_parsing_and_points():
    # values stay text here: expand converts them to the type each notebook's parameters cell declares
    assert parse_grid_item("seed=0,1") == ("seed", ["0", "1"])
    assert parse_grid_item("lr=1e-3, 0.5") == ("lr", ["1e-3", "0.5"])
    with pytest.raises(ValueError, match="NAME=V1"):
        parse_grid_item("seed")
    assert grid_points({"seed": [0, 1], "b": ["x"]}) == [{"b": "x", "seed": 0}, {"b": "x", "seed": 1}]
    assert grid_points({}) == [{}]


def test_sweep_file_is_validated(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("notebooks: [demo/a]\npreset: smoke\ngrid: {seed: [0, 1]}\nset: {value: 3}\n")
    s = load_sweep(p)
    assert s.notebooks == ["demo/a"] and s.preset == "smoke" and s.grid == {"seed": [0, 1]} and s.set == {"value": 3}
    p.write_text("grid: {seed: [0, 0]}\n")
    with pytest.raises(ValueError, match="repeats"):
        load_sweep(p)
    p.write_text("gird: {seed: [0]}\n")
    with pytest.raises(ValueError, match="unknown key.*gird"):
        load_sweep(p)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_sweep(tmp_path / "nope.yaml")


def test_expand_checks_every_parameter_before_running(tmp_path):
    root = make_root(tmp_path)
    reg = {"demo/a": info(root, "a"), "demo/b": info(root, "b", ["demo/a"])}
    specs = expand("smoke", notebooks=["demo/b"], grid={"seed": [0, 1]}, registry=reg)
    # the grid goes to the named notebook b; its dependency a runs once, with the preset only
    assert [(s.notebook.id, s.parameters) for s in specs] == [
        ("demo/a", {"preset": "smoke"}), ("demo/b", {"preset": "smoke", "seed": 0}),
        ("demo/b", {"preset": "smoke", "seed": 1})]
    assert run_dependencies(specs) == [[], [0], [0]]
    # naming both: each seed's b waits for the same seed's a
    specs = expand("smoke", notebooks=["demo/a", "demo/b"], grid={"seed": ["0", "1"]}, registry=reg)
    assert [(s.notebook.id, s.parameters["seed"]) for s in specs] == [
        ("demo/a", 0), ("demo/b", 0), ("demo/a", 1), ("demo/b", 1)]
    assert run_dependencies(specs) == [[], [0], [], [2]]
    (root / "demo/b.py").write_text(FAIL)  # declares preset and seed, not value
    with pytest.raises(NotebookParameterError, match=r"demo/b: parameter\(s\) \['value'\]"):
        expand("smoke", notebooks=["demo/b"], grid={"value": [1, 2]}, registry=reg)


def test_sweep_runs_resumes_and_reruns_changed_code(tmp_path, capsys):
    root = make_root(tmp_path, ["a"])
    runs = tmp_path / "runs"
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("notebooks: [demo/a]\ngrid: {seed: [0, 1]}\n")
    assert cli(root, runs, "--sweep", str(sweep), "--run-id", "r", "--set", "value=2") == 0
    for seed in (0, 1):
        side = json.loads((runs / f"r/demo/a__preset-smoke_seed-{seed}_value-2.json").read_text())
        assert side["metrics"]["score"] == seed * 10 + 2
    m = read_manifest(runs / "r")
    assert len(m["runs"]) == 2 and all(r["status"] == "ran" for r in m["runs"].values())
    assert {r["fingerprint"]["notebook_sha256"] for r in m["runs"].values()} != {None}

    capsys.readouterr()
    assert cli(root, runs, "--sweep", str(sweep), "--run-id", "r", "--set", "value=2") == 0
    assert capsys.readouterr().out.count("resumed: demo/a") == 2  # nothing executed again

    # a different parameter is a different run; a changed notebook invalidates its finished runs
    (root / "demo/a.py").write_text(NB.replace("NAME", "a").replace("seed * 10", "seed * 100"))
    assert cli(root, runs, "--grid", "seed=1", "--run-id", "r", "--set", "value=2") == 0
    out = capsys.readouterr().out
    assert "ran: demo/a" in out and "resumed:" not in out
    assert json.loads((runs / "r/demo/a__preset-smoke_seed-1_value-2.json").read_text())["metrics"]["score"] == 102
    assert cli(root, runs, "--grid", "seed=1", "--run-id", "r", "--set", "value=2", "--force") == 0
    assert "ran: demo/a" in capsys.readouterr().out


def test_fingerprint_matches_on_hashes(tmp_path):
    root = make_root(tmp_path, ["a"])
    fp = code_fingerprint(root / "demo/a.py")
    assert same_code(fp, {**fp, "git_commit": "other"})
    assert not same_code(fp, {**fp, "core_sha256": "0"})
    assert not same_code(None, fp)


def test_killed_reproduce_resumes_without_losing_finished_work(tmp_path):
    root = make_root(tmp_path)
    runs = tmp_path / "runs"
    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "avfh_core.cli", "reproduce", "--preset", "smoke", "--notebooks-root", str(root),
           "--runs-dir", str(runs), "--run-id", "k", "--quiet", "--no-report"]
    env = {**os.environ, "AVFH_TEST_SLEEP": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    manifest = runs / "k" / "manifest.json"
    deadline = time.time() + 90
    try:
        while time.time() < deadline:  # wait for notebook a to finish, then for b to be running (sleeping)
            if manifest.exists() and any(r["ok"] for r in json.loads(manifest.read_text())["runs"].values()):
                if (runs / "k/demo/.b__preset-smoke.attempt.json").exists():  # b runs beside its result
                    break
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.3)
        else:
            pytest.fail("notebook a never finished")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: the CLI and its kernel
        proc.wait(10)
    done = json.loads(manifest.read_text())["runs"]
    assert list(done) == ["demo/a__preset-smoke.ipynb"]
    assert not (runs / "k/demo/b__preset-smoke.ipynb").exists()  # the killed attempt never looks like a result
    a_mtime = (runs / "k/demo/a__preset-smoke.ipynb").stat().st_mtime

    env.pop("AVFH_TEST_SLEEP")
    again = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed: demo/a" in again.stdout and "ran: demo/b" in again.stdout
    assert (runs / "k/demo/a__preset-smoke.ipynb").stat().st_mtime == a_mtime
    runs_done = json.loads(manifest.read_text())["runs"]
    assert {r["status"] for r in runs_done.values()} == {"resumed", "ran"}


def test_process_pool_respects_dependencies_and_isolates_failures(tmp_path):
    from avfh_core.reproduce.executors import PoolExecutor

    root = make_root(tmp_path, ["a", "b"])
    (root / "demo/c.py").write_text(FAIL)
    (root / "demo/d.py").write_text(NB.replace("NAME", "d"))
    specs = [RunSpec(info(root, "a"), {"preset": "smoke"}), RunSpec(info(root, "b", ["demo/a"]), {"preset": "smoke"}),
             RunSpec(info(root, "c"), {"preset": "smoke"}), RunSpec(info(root, "d", ["demo/c"]), {"preset": "smoke"})]
    results = run_batch(specs, tmp_path / "run", executor=PoolExecutor(2))
    a, b, c, d = results
    assert a.ok and b.ok and not c.ok and not d.ok
    assert b.metrics["start"] >= a.metrics["end"]  # b waited for its dependency
    assert "broken on purpose" in c.error and "raise ValueError" in c.error_cell
    assert d.status == "blocked" and "demo/c" in d.error
    table = summary_table(results)
    assert "FAILED (blocked)" in table and "2 failed" in table


def test_dask_executor_on_a_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    from avfh_core.reproduce.executors import DaskExecutor

    root = make_root(tmp_path, ["a", "b"])
    specs = expand("smoke", grid={"seed": [3]}, registry={"demo/a": info(root, "a"),
                                                           "demo/b": info(root, "b", ["demo/a"])})
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        results = run_batch(specs, tmp_path / "run", executor=DaskExecutor(cluster.scheduler_address))
    assert [r.ok for r in results] == [True, True]
    assert results[1].metrics["score"] == 31
    assert results[1].metrics["start"] >= results[0].metrics["end"]
    with pytest.raises(ValueError, match="tcp://"):
        DaskExecutor("localhost")


def test_reproduce_cli_rejects_bad_options_before_running(tmp_path, capsys):
    root = make_root(tmp_path, ["a"])
    runs = tmp_path / "runs"
    assert cli(root, runs, "--workers", "0") == 2
    assert "--workers must be a positive integer" in capsys.readouterr().err
    assert cli(root, runs, "--scheduler", "localhost:8786") == 2
    assert "tcp://" in capsys.readouterr().err
    assert cli(root, runs, "--grid", "seed") == 2
    assert "NAME=V1" in capsys.readouterr().err
    assert cli(root, runs, "--grid", "stepz=1,2") == 2
    assert "stepz" in capsys.readouterr().err
    assert not runs.exists()  # nothing ran, no run folder


PROCESSES_NB = textwrap.dedent(
    '''\
    # %% tags=["parameters"]
    preset = "course"

    # %%
    import json, os
    with open(os.environ["AVFH_RESULTS"], "w") as f:
        json.dump({"notebook": "demo/NAME", "config": {"preset": preset},
                   "metrics": {"processes": int(os.environ["AVFH_TRAIN_PROCESSES"])}}, f)
    '''
)


def test_a_notebook_running_alone_trains_its_runs_on_every_core(tmp_path, monkeypatch):
    """The cached-run pool of a notebook (train.parallel.prefetch, one single-threaded process per run) gets the
    cores that the notebooks starting or running beside it do not share: a and b, which start together on 2
    slots, get half each; c, which waits for both and then runs alone (as vfhgan/06 after 05), gets them all.
    A value the user set is left alone."""
    from avfh_core.reproduce.executors import SerialExecutor
    from avfh_core.train.parallel import ENV_PROCESSES

    class TwoSlots(SerialExecutor):
        workers = 2

    root = tmp_path / "nbs"
    (root / "demo").mkdir(parents=True)
    for n in "abc":
        (root / "demo" / f"{n}.py").write_text(PROCESSES_NB.replace("NAME", n))
    specs = [RunSpec(info(root, "a"), {"preset": "smoke"}), RunSpec(info(root, "b"), {"preset": "smoke"}),
             RunSpec(info(root, "c", ["demo/a", "demo/b"]), {"preset": "smoke"})]
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.delenv(ENV_PROCESSES, raising=False)
    results = run_batch(specs, tmp_path / "run", executor=TwoSlots())
    assert [r.metrics["processes"] for r in results] == [2, 2, 4]
    monkeypatch.setenv(ENV_PROCESSES, "3")
    results = run_batch(specs, tmp_path / "run3", executor=TwoSlots())
    assert [r.metrics["processes"] for r in results] == [3, 3, 3]
