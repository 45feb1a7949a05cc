"""The notebook toolchain: runner, parameter checks, failure reporting, sync check, the CLI."""

import json
import shutil
import textwrap
from pathlib import Path

import jupytext
import pytest

from avfh_core.cli import main
from avfh_core.reproduce import runner
from avfh_core.reproduce.batch import load_registry, order_by_dependencies, param_slug

OK_NB = textwrap.dedent(
    '''\
    # %% tags=["parameters"]
    preset = "course"
    seed = 0
    value = 2

    # %%
    from avfh_core.config import setup
    from avfh_core.reproduce.results import Results
    cfg = setup(preset, seed=seed)
    res = Results("t/ok", cfg)
    res.log("double", value * 2)
    print("double", value * 2)
    '''
)

FAIL_NB = textwrap.dedent(
    '''\
    # %% tags=["parameters"]
    preset = "course"

    # %%
    x = 1

    # %%
    raise RuntimeError("deliberate failure in cell 3")
    '''
)


def write(tmp_path: Path, rel: str, text: str) -> Path:
    p = tmp_path / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_declared_parameters_reads_the_parameters_cell(tmp_path):
    nb = runner.read_source(write(tmp_path, "a.py", OK_NB))
    assert runner.declared_parameters(nb) == {"preset": "course", "seed": 0, "value": 2}


def test_undeclared_parameter_and_unknown_preset_are_named(tmp_path):
    src = write(tmp_path, "a.py", OK_NB)
    with pytest.raises(runner.NotebookParameterError, match="stepz"):
        runner.execute_notebook(src, tmp_path / "o.ipynb", {"stepz": 3})
    with pytest.raises(runner.NotebookParameterError, match="'laptop'"):
        runner.execute_notebook(src, tmp_path / "o.ipynb", {"preset": "laptop"})
    assert not (tmp_path / "o.ipynb").exists()


def test_execute_writes_notebook_and_sidecar(tmp_path):
    src = write(tmp_path, "a.py", OK_NB)
    res = runner.execute_notebook(src, tmp_path / "out" / "a.ipynb", {"preset": "smoke", "value": 5})
    assert res.ok, res.error
    assert res.output.exists() and res.sidecar is not None
    side = json.loads(res.sidecar.read_text())
    assert side["metrics"]["double"] == 10
    assert side["config"]["preset"] == "smoke"
    assert side["environment"]["torch"].startswith("2.11")
    env = side["environment"]  # written inside the kernel: full versions, threads, commit and dirty tree
    assert env["packages"]["numpy"] and env["packages"]["papermill"] and isinstance(env["git_dirty"], bool)
    assert env["threads"]["torch_intra_op"] >= 1


def test_failing_notebook_is_reported_with_its_error_cell(tmp_path):
    src = write(tmp_path, "bad.py", FAIL_NB)
    res = runner.execute_notebook(src, tmp_path / "bad.ipynb", {"preset": "smoke"})
    assert not res.ok
    assert "deliberate failure" in res.error
    assert "raise RuntimeError" in res.error_cell


def test_reproduce_cli_reports_failure_and_exits_nonzero(tmp_path, capsys):
    root = tmp_path / "nbs"
    write(root, "demo/ok.py", OK_NB)
    write(root, "demo/zz_bad.py", FAIL_NB)
    code = main(["reproduce", "--preset", "smoke", "--notebooks-root", str(root), "--runs-dir",
                 str(tmp_path / "runs"), "--run-id", "r1", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED" in out and "deliberate failure" in out
    assert (tmp_path / "runs/r1/demo/ok__preset-smoke.ipynb").exists()
    assert (tmp_path / "runs/r1/demo/ok__preset-smoke.json").exists()
    assert (tmp_path / "runs/r1/summary.txt").read_text().count("FAILED") == 1


def test_reproduce_cli_unknown_parameter_is_a_clear_error(tmp_path, capsys):
    code = main(["reproduce", "--preset", "smoke", "--notebook", "common/00_tour", "--set", "stepz=2",
                 "--runs-dir", str(tmp_path), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "stepz" in err and "common/00_tour" in err


def test_sync_check_catches_an_edited_py(tmp_path):
    root = tmp_path / "nbs"
    src = write(root, "demo/a.py", OK_NB)
    jupytext.write(jupytext.read(src), src.with_suffix(".ipynb"))
    assert runner.out_of_sync(root) == []
    src.write_text(OK_NB.replace("value = 2", "value = 3"))
    problems = runner.out_of_sync(root)
    assert len(problems) == 1 and "a.py" in problems[0]
    src.with_suffix(".ipynb").unlink()
    assert "no paired .ipynb" in runner.out_of_sync(root)[0]


def test_repository_notebooks_are_in_sync():
    assert runner.out_of_sync() == []


def test_registry_and_dependency_order():
    reg = load_registry()
    assert "common/00_tour" in reg
    order = order_by_dependencies(list(reg), reg)
    for i, nid in enumerate(order):
        for dep in reg[nid].depends_on:
            assert order.index(dep) < i
    assert param_slug({"seed": 1, "preset": "smoke"}) == "preset-smoke_seed-1"


def test_info_runs(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "presets" in out and "torch" in out


def test_tour_notebook_runs_under_smoke(tmp_path):
    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "notebooks/common/00_tour.py", tmp_path / "00_tour.py")
    res = runner.execute_notebook(tmp_path / "00_tour.py", tmp_path / "tour.ipynb", {"preset": "smoke"})
    assert res.ok, res.error
    assert res.metrics["steps"] == 12


def test_relative_output_puts_the_sidecar_beside_it(tmp_path, monkeypatch):
    write(tmp_path, "nbs/a.py", OK_NB)
    monkeypatch.chdir(tmp_path)
    res = runner.execute_notebook("nbs/a.py", "out/a.ipynb", {"preset": "smoke"})
    assert res.ok, res.error
    assert (tmp_path / "out/a.json").exists()
    assert not (tmp_path / "nbs/out").exists()


def test_refresh_writes_the_reference_and_leaves_nothing_of_the_run_beside_it(tmp_path, monkeypatch):
    """A refreshed reference once left the run's arrays (.<stem>.executing.<name>.npz) in notebooks/."""
    import nbformat

    from avfh_core.reproduce import runner as R

    source = tmp_path / "01_demo.py"
    source.write_text("# %%\nprint(1)\n")

    def fake_execute(src, out, parameters=None, **_):
        out = Path(out)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
        nbformat.write(nb, out)
        out.with_suffix(".json").write_text("{}")
        out.with_name(f"{out.stem}.table1.npz").write_bytes(b"x")
        return R.NotebookResult("demo/01_demo", out, {}, True, 0.1)

    monkeypatch.setattr(R, "execute_notebook", fake_execute)
    R.refresh_reference(source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_demo.ipynb", "01_demo.py"]
    assert nbformat.read(tmp_path / "01_demo.ipynb", as_version=4).metadata["jupytext"]["formats"] == "ipynb,py:percent"
