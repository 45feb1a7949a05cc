"""benchmarks/compare_verdicts.py: the verdicts two executions of a claims notebook printed, side by side."""

import math

import nbformat
import pytest

from avfh_core.reproduce.audit import claim_lines, control_lines

CONTROL = {"id": "handicap", "verdict": "reproduced", "detected": True, "effect": 0.5, "ci_low": 0.3,
           "ci_high": 0.7, "n": 3, "mde": 0.09, "planted_effect": 0.5}
CLAIM = {"id": "fusion_helps", "verdict": "not reproduced", "effect": -0.25, "ci_low": -math.inf, "ci_high": 0.1,
         "p_value": 0.97, "n": 3, "mde": 0.2, "published_effect": 1.2, "refutable": True}


def _notebook(path, *blocks):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a claims notebook")]
    for lines in blocks:
        cell = nbformat.v4.new_code_cell("print_audit(...)")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="\n".join(lines) + "\n")]
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return str(path)


def test_compare_marks_the_verdicts_that_differ_and_counts_the_rest(benchmark_module, tmp_path, capsys):
    mod = benchmark_module("compare_verdicts")
    a = _notebook(tmp_path / "a.ipynb", control_lines([CONTROL], prefix="bal "), claim_lines([CLAIM], prefix="bal "))
    flipped = dict(CLAIM, verdict="inconclusive", ci_high=0.9)
    b = _notebook(tmp_path / "b.ipynb", control_lines([CONTROL], prefix="bal ") + claim_lines([flipped],
                                                                                              prefix="bal "))
    assert mod.main([a, b]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "1/2 verdicts identical"
    (row,) = [ln for ln in out if "fusion_helps" in ln]
    assert row.endswith("<== differs") and "not reproduced" in row and "inconclusive" in row
    assert "[-inf, +0.100]" in row and "[-inf, +0.900]" in row


def test_an_audit_line_in_one_notebook_only_is_named_and_fails(benchmark_module, tmp_path, capsys):
    mod = benchmark_module("compare_verdicts")
    a = _notebook(tmp_path / "a.ipynb", claim_lines([CLAIM]) + claim_lines([dict(CLAIM, id="extra")]))
    b = _notebook(tmp_path / "b.ipynb", claim_lines([CLAIM]))
    assert mod.main([a, b]) == 1
    out = capsys.readouterr().out
    assert "1/1 verdicts identical" in out and "not compared: claim extra (only in the first)" in out


def test_bad_inputs_name_the_file(benchmark_module, tmp_path):
    mod = benchmark_module("compare_verdicts")
    good = _notebook(tmp_path / "a.ipynb", claim_lines([CLAIM]))
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(SystemExit, match="broken.ipynb: cannot read it as a notebook"):
        mod.main([good, str(broken)])
    with pytest.raises(SystemExit, match="missing.ipynb: cannot read it"):
        mod.main([good, str(tmp_path / "missing.ipynb")])
    silent = _notebook(tmp_path / "silent.ipynb", ["no audit here"])
    with pytest.raises(SystemExit, match="silent.ipynb: no audit lines"):
        mod.main([good, silent])
