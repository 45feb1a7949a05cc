"""nbval over notebooks that have already been executed: each notebook runs once in CI.

`make notebooks` executes every notebook under papermill (smoke preset) into `runs/ci-smoke/<paper>/<name>__*.ipynb`.
This pytest plugin pairs each executed notebook with its committed reference `notebooks/<paper>/<name>.ipynb` and
hands the executed outputs to nbval's own cell comparison (its tags, its `--nbval-lax` rule that only cells tagged
`nbval-check-output` are compared, its sanitize file, its failure report), instead of letting nbval start a kernel
and execute the notebook a second time:

    pytest -p avfh_core.reproduce.nbcompare --nbval-executed --nbval-sanitize-with .nbval_sanitize.cfg runs/ci-smoke

A cell that raised during execution fails here too (unless tagged `raises-exception`); a notebook whose code cells
differ from its reference (an unsynced pair) fails on collection.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbval.plugin import IPyNbCell, IPyNbFile, coalesce_streams, find_comment_markers, find_metadata_tags

from avfh_core.reproduce.runner import notebooks_dir


def pytest_addoption(parser):
    parser.getgroup("nbval").addoption(
        "--nbval-executed", action="store_true",
        help="compare already-executed notebooks (runs/<id>/<paper>/<name>__*.ipynb) with their references")
    parser.getgroup("nbval").addoption(
        "--nbval-references", default=None, help="the folder of reference notebooks (default: the repo's notebooks/)")


def pytest_collect_file(file_path, parent):
    if parent.config.option.nbval_executed and file_path.suffix == ".ipynb" and "__" in file_path.stem:
        return ExecutedNotebook.from_parent(parent, path=file_path)
    return None


def reference_for(executed: Path, root: Path | None = None) -> Path:
    """runs/ci-smoke/vfhgan/05_training__preset-smoke.ipynb -> notebooks/vfhgan/05_training.ipynb."""
    return (root or notebooks_dir()) / executed.parent.name / (executed.stem.split("__")[0] + ".ipynb")


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The code cells a reader wrote (papermill's injected-parameters cell is not one of them)."""
    return [c for c in nb.cells if c.cell_type == "code"
            and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


class ExecutedNotebook(IPyNbFile):
    """One executed notebook: its cells are nbval items whose 'test' outputs are the recorded ones."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compare_outputs = False  # lax: only cells tagged nbval-check-output are compared

    def setup(self):  # no kernel: the notebook has run already
        self.setup_sanitize_files()

    def teardown(self):
        pass

    def collect(self):
        executed_path = Path(self.fspath)
        refs = self.config.option.nbval_references
        ref_path = reference_for(executed_path, Path(refs) if refs else None)
        if not ref_path.exists():
            raise pytest.UsageError(f"{executed_path}: no reference notebook at {ref_path}")
        self.nb = nbformat.read(ref_path, as_version=4)
        executed = code_cells(nbformat.read(executed_path, as_version=4))
        reference = code_cells(self.nb)
        if [c.source.strip() for c in executed] != [c.source.strip() for c in reference]:
            raise pytest.UsageError(f"{executed_path}: its code cells differ from {ref_path} (jupytext --sync?)")
        for num, (ref_cell, run_cell) in enumerate(zip(reference, executed, strict=True)):
            options = {"check": self.compare_outputs, "skip": False, "check_exception": False}
            options.update(find_metadata_tags(ref_cell.metadata))
            options.update(dict(find_comment_markers(ref_cell.source)))
            yield ExecutedCell.from_parent(self, name=f"Cell {num}", cell_num=num, cell=ref_cell,
                                           options=options, outputs=run_cell.get("outputs", []))


class ExecutedCell(IPyNbCell):
    """nbval's cell item with the kernel round trip replaced by the outputs papermill recorded."""

    def __init__(self, name, parent, cell_num, cell, options, outputs):
        super().__init__(name, parent, cell_num, cell, options)
        self.recorded_outputs = outputs

    def runtest(self):
        if self.options["skip"]:
            pytest.skip()
        outs = coalesce_streams([nbformat.from_dict(o) for o in self.recorded_outputs])
        self.test_outputs = outs
        errors = [o for o in outs if o.get("output_type") == "error"]
        if errors and not self.options["check_exception"]:
            self.raise_cell_error("Cell execution caused an exception", "\n" + "\n".join(errors[0]["traceback"]))
        unrun = self.cell.execution_count is None
        if self.options["check"] and not unrun and not self.compare_outputs(outs, coalesce_streams(self.cell.outputs)):
            self.raise_cell_error("Cell outputs differ", "\n".join(self.comparison_traceback))
