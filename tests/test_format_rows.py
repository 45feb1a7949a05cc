"""`Table.format_row` / `PaperTables.format_rows`: our seed means printed beside the paper's numbers."""

import pytest

from avfh_core.reproduce.tables import load_tables
from avfh_core.train import ear


def _old_ear_line(s, t, row, ours):
    # the f-string ear/03-05 printed before the shared formatter: the new lines must read exactly the same
    return (f"{s:6s} {t.label(row):22s} identity {ours['acc_ci']:6.2f} % (paper {t.published(row, 'acc_ci')}), "
            f"gender {ours['acc_cg']:6.2f} % (paper {t.published(row, 'acc_cg')}), age error "
            f"{ours['err_ca']:5.2f} (paper {t.published(row, 'err_ca')}), PSNR {ours['psnr']:5.2f} dB")


def test_ear_table1_lines_read_as_the_notebooks_printed_them():
    paper = load_tables("ear")
    sets = {"closed": {"c_el_only": {"acc_ci": [10.0, 20.0], "acc_cg": [90.0, 80.0], "err_ca": [3.0, 4.0],
                                     "psnr": [20.0, 21.0]}},
            "open": {"h_f_tuned_ea": {"acc_ci": [1.25], "acc_cg": [77.5], "err_ca": [6.5], "psnr": [19.0]}}}
    lines = ear.table1_lines(paper, sets)
    assert lines == [
        _old_ear_line("closed", paper.tables["table1_closed"], "c_el_only",
                      {"acc_ci": 15.0, "acc_cg": 85.0, "err_ca": 3.5, "psnr": 20.5}),
        _old_ear_line("open", paper.tables["table1_open"], "h_f_tuned_ea",
                      {"acc_ci": 1.25, "acc_cg": 77.5, "err_ca": 6.5, "psnr": 19.0})]
    assert "(paper 36.47)" in lines[0] and lines[0].endswith("PSNR 20.50 dB")  # psnr is no column: no paper value


def test_format_row_marks_an_empty_cell_and_names_a_missing_value():
    t = load_tables("ear").tables["table1_closed"]
    t.rows["x"] = {"label": "x"}
    assert t.format_row("x", {"acc_ci": 1.0}, [("id", "acc_ci", ".1f", " %")]) == "id 1.0 % (paper not published)"
    with pytest.raises(KeyError, match="acc_cg"):
        t.format_row("x", {"acc_ci": 1.0}, [("g", "acc_cg", ".1f", "")])
    with pytest.raises(KeyError, match="no table 'nope'"):
        load_tables("ear").format_rows({"nope": {}}, [])
