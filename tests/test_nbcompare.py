"""nbval over executed notebooks (avfh_core.reproduce.nbcompare): each notebook runs once in CI, and nbval's
comparison still catches a changed output, an exception and an unsynced pair."""

import subprocess
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

SANITIZE = "[timings]\nregex: \\d+(\\.\\d+)?\\s*s\\b\nreplace: <TIME>\n"


def _cell(src, text, tags=(), count=1):
    cell = new_code_cell(src, execution_count=count, metadata={"tags": list(tags)})
    cell.outputs = [new_output("stream", name="stdout", text=text)]
    return cell


def _run(tmp_path, ref_cells, run_cells):
    refs = tmp_path / "notebooks" / "toy"
    refs.mkdir(parents=True)
    nbformat.write(new_notebook(cells=ref_cells), refs / "01_nb.ipynb")
    run = tmp_path / "runs" / "toy"
    run.mkdir(parents=True)
    injected = new_code_cell("preset = 'smoke'", metadata={"tags": ["injected-parameters"]})
    nbformat.write(new_notebook(cells=[injected, *run_cells]), run / "01_nb__preset-smoke.ipynb")
    (tmp_path / "sanitize.cfg").write_text(SANITIZE)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "avfh_core.reproduce.nbcompare", "-p", "no:cacheprovider",
         "--nbval-executed", "--nbval-references", str(tmp_path / "notebooks"),
         "--nbval-sanitize-with", str(tmp_path / "sanitize.cfg"), str(tmp_path / "runs"), "-q",
         "--rootdir", str(tmp_path), "-c", "/dev/null"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_same_checked_output_passes_and_timings_are_sanitised(tmp_path):
    ref = [_cell("print(1)", "ratio 0.5 in 3.2 s\n", ["nbval-check-output"]), _cell("print(2)", "course\n")]
    run = [_cell("print(1)", "ratio 0.5 in 0.4 s\n"), _cell("print(2)", "smoke: anything\n")]
    code, out = _run(tmp_path, ref, run)
    assert code == 0, out
    assert "2 passed" in out


def test_changed_checked_output_fails(tmp_path):
    ref = [_cell("print(1)", "ratio 0.5\n", ["nbval-check-output"])]
    run = [_cell("print(1)", "ratio 0.6\n")]
    code, out = _run(tmp_path, ref, run)
    assert code == 1
    assert "Cell outputs differ" in out and "0.6" in out


def test_an_exception_in_any_cell_fails(tmp_path):
    ref = [_cell("boom()", "")]
    run = [new_code_cell("boom()", execution_count=1, metadata={"tags": []})]
    run[0].outputs = [new_output("error", ename="NameError", evalue="boom", traceback=["NameError: boom"])]
    code, out = _run(tmp_path, ref, run)
    assert code == 1
    assert "caused an exception" in out and "NameError" in out


def test_unsynced_pair_is_an_error(tmp_path):
    code, out = _run(tmp_path, [_cell("print(1)", "1\n")], [_cell("print(99)", "1\n")])
    assert code != 0
    assert "code cells differ" in out


def test_missing_reference_is_named(tmp_path):
    run = tmp_path / "runs" / "toy"
    run.mkdir(parents=True)
    nbformat.write(new_notebook(cells=[_cell("print(1)", "1\n")]), run / "09_gone__preset-smoke.ipynb")
    (tmp_path / "notebooks").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "avfh_core.reproduce.nbcompare", "-p", "no:cacheprovider",
         "--nbval-executed", "--nbval-references", str(tmp_path / "notebooks"), str(tmp_path / "runs"), "-q",
         "--rootdir", str(tmp_path), "-c", "/dev/null"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "09_gone.ipynb" in proc.stdout + proc.stderr
