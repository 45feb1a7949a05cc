"""The heartbeat of `avfh reproduce`: notebook, cell i/n, elapsed; quiet under --quiet and CI; no kernel noise."""

import json
import textwrap

from avfh_core.cli import main
from avfh_core.reproduce import runner
from avfh_core.reproduce.progress import Heartbeat, format_line

SLOW = textwrap.dedent(
    '''\
    # %% tags=["parameters"]
    preset = "course"
    seed = 0

    # %%
    import time
    time.sleep(2.5)

    # %%
    print("done")
    '''
)


def test_heartbeat_writes_at_each_cell_and_every_period(tmp_path):
    now = [1000.0]
    lines = []
    hb = Heartbeat(tmp_path, lines.append, every=30, clock=lambda: now[0])
    rec = {"notebook": "vfhgan/05_training", "cell": 1, "n_cells": 12, "started": 990.0}
    (tmp_path / "r.json").write_text(json.dumps(rec))
    assert hb.tick() == ["[vfhgan/05_training] cell 1/12, 10 s"]
    now[0] += 29
    assert hb.tick() == []
    now[0] += 2
    assert hb.tick() == ["[vfhgan/05_training] cell 1/12, 41 s (still running)"]
    (tmp_path / "r.json").write_text(json.dumps({**rec, "cell": 8}))
    assert hb.tick() == ["[vfhgan/05_training] cell 8/12, 41 s"]
    (tmp_path / "half.json").write_text("{")  # being written: skipped, not an error
    (tmp_path / "r.json").unlink()
    assert hb.tick() == []
    assert lines == ["[vfhgan/05_training] cell 1/12, 10 s", "[vfhgan/05_training] cell 1/12, 41 s (still running)",
                     "[vfhgan/05_training] cell 8/12, 41 s"]
    assert format_line({"notebook": "x", "cell": 2, "n_cells": 3, "started": 0}, 5, still=True).endswith("running)")


def test_execute_notebook_reports_its_cell_and_cleans_up(tmp_path):
    src = tmp_path / "p.py"
    src.write_text(textwrap.dedent(
        '''\
        # %% tags=["parameters"]
        where = ""

        # %%
        x = 1

        # %%
        import json, pathlib
        print("PROGRESS", json.dumps(json.loads(pathlib.Path(where).read_text())))
        '''))
    progress = tmp_path / "progress" / "p.json"
    res = runner.execute_notebook(src, tmp_path / "p.ipynb", {"where": str(progress)}, progress_file=progress,
                                  label="demo/p")
    assert res.ok, res.error
    nb = json.loads((tmp_path / "p.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    rec = json.loads(text.split("PROGRESS ", 1)[1])
    assert rec["notebook"] == "demo/p" and rec["cell"] == 4 and rec["n_cells"] == 4  # injected + 3 code cells
    assert not progress.exists()  # removed when the run ends
    assert res.notebook == "demo/p"


def _run(tmp_path, monkeypatch, capsys, *extra, ci=None):
    root = tmp_path / "nbs"
    (root / "demo").mkdir(parents=True, exist_ok=True)
    (root / "demo/slow.py").write_text(SLOW)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    code = main(["reproduce", "--preset", "smoke", "--notebooks-root", str(root), "--runs-dir", str(tmp_path / "runs"),
                 "--no-report", "--force", "--run-id", "r", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_reproduce_heartbeat_and_no_kernel_warnings(tmp_path, monkeypatch, capsys):
    code, out, err = _run(tmp_path, monkeypatch, capsys, "--heartbeat", "1")
    assert code == 0, out + err
    assert "[demo/slow] cell 3/4" in err and "(still running)" in err
    assert "without encryption" not in out + err and "TCP" not in out + err
    summary = (tmp_path / "runs/r/summary.txt").read_text()
    assert "WARNING" not in summary and "TCP" not in summary
    assert not (tmp_path / "runs/r/.progress").exists()


def test_reproduce_is_quiet_with_quiet_and_under_ci(tmp_path, monkeypatch, capsys):
    code, out, err = _run(tmp_path, monkeypatch, capsys, "--heartbeat", "0.5", "--quiet")
    assert code == 0 and "cell " not in err and "ran: demo/slow" in out
    code, out, err = _run(tmp_path, monkeypatch, capsys, "--heartbeat", "0.5", ci="true")
    assert code == 0 and "cell " not in err and "%|" not in err and "ran: demo/slow" in out
