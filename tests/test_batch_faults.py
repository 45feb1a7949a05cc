"""Operational faults of `avfh reproduce` (timeouts, corrupt manifest, unwritable or full run folder) and resume
that never trusts an unfinished run nor loses a finished one. Tiny torch-free notebooks keep this fast."""

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from avfh_core.cli import main
from avfh_core.reproduce import batch
from avfh_core.reproduce.batch import (
    NotebookInfo,
    RunSpec,
    code_fingerprint,
    notebook_completed,
    read_manifest,
    resumable,
    write_manifest,
)
from avfh_core.reproduce.report import load_sidecars

NB = textwrap.dedent(
    '''\
    # %% tags=["parameters"]
    preset = "course"
    seed = 0

    # %%
    import json, os, pathlib, time
    time.sleep(float(os.environ.get("AVFH_TEST_SLEEP_NAME", "0")))
    # a file saved beside the sidecar, as the ablation panels do (`<sidecar stem>.<table>.npz`)
    pathlib.Path(os.environ["AVFH_RESULTS"]).with_suffix(".t1.npz").write_text(os.environ.get("AVFH_TEST_TAG", "first"))
    if os.environ.get("AVFH_TEST_FAIL"):
        raise RuntimeError("failing on purpose")
    side = {"notebook": "demo/NAME", "config": {"preset": preset, "seed": seed},
            "metrics": {"score": seed + 1, "run": os.environ.get("AVFH_TEST_TAG", "first")}}
    with open(os.environ["AVFH_RESULTS"], "w") as f:
        json.dump(side, f)
    '''
)


def make_root(tmp_path: Path, names=("a",)) -> Path:
    root = tmp_path / "nbs"
    (root / "demo").mkdir(parents=True, exist_ok=True)
    for n in names:
        (root / "demo" / f"{n}.py").write_text(NB.replace("NAME", n))
    return root


def cli(root, runs, *extra):
    return main(["reproduce", "--preset", "smoke", "--notebooks-root", str(root), "--runs-dir", str(runs),
                 "--quiet", "--no-report", "--run-id", "r", *extra])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- operational errors: one line, non-zero, folder left as it was ---------------------------------------------


def test_cell_timeout_names_the_cell_the_notebook_and_the_limit(tmp_path, capsys, monkeypatch):
    root = make_root(tmp_path)
    monkeypatch.setenv("AVFH_TEST_SLEEP_a", "20")
    assert cli(root, tmp_path / "runs", "--cell-timeout", "1") == 1
    captured = capsys.readouterr()
    line = next(x for x in captured.out.splitlines() if x.startswith("FAILED"))
    assert f"CellTimeoutError: cell 3/3 of {root / 'demo/a.py'} ran longer than the cell timeout (1 s)" in line
    assert "Traceback" not in captured.out + captured.err
    assert "time.sleep" in (tmp_path / "runs/r/summary.txt").read_text()  # the cell that timed out


def test_unwritable_run_folder_is_one_line_and_nothing_is_created(tmp_path, capsys):
    root = make_root(tmp_path)
    target = Path("/sys/avfh-test-runs")  # sysfs refuses new folders even to root
    if os.access("/sys", os.W_OK) and not os.path.ismount("/sys"):
        pytest.skip("no unwritable folder available here")
    assert cli(root, target) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(target) in err and "cannot write the run folder" in err
    assert not target.exists()


@pytest.mark.parametrize(("code", "text"), [(errno.EROFS, "Read-only file system"), (errno.EACCES, "Permission denied")])
def test_read_only_run_folder_is_left_as_it_was(tmp_path, capsys, monkeypatch, code, text):
    root = make_root(tmp_path)
    runs = tmp_path / "runs"
    (runs / "r").mkdir(parents=True)
    (runs / "r/keep.txt").write_text("untouched")
    before = snapshot(runs)

    def refuse(path, *args, **kwargs):
        raise OSError(code, text, str(path))

    monkeypatch.setattr(batch, "open", refuse, raising=False)  # every write of the batch module fails
    assert cli(root, runs) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{runs / 'r'}: {text} (errno {code}" in err
    assert snapshot(runs) == before


def test_full_disk_fails_loudly_and_cleans_up(tmp_path, capsys, monkeypatch):
    root = make_root(tmp_path, ["a", "b"])
    runs = tmp_path / "runs"
    real = batch.write_manifest
    calls = []

    def full_after_first(run_dir, manifest):
        calls.append(1)
        if len(calls) > 1:  # the batch's first write works, the one after the first notebook does not
            raise OSError(errno.ENOSPC, "No space left on device", str(Path(run_dir) / "manifest.json"))
        return real(run_dir, manifest)

    monkeypatch.setattr(batch, "write_manifest", full_after_first)
    assert cli(root, runs) == 2
    err = capsys.readouterr().err
    assert f"{runs / 'r' / 'manifest.json'}: No space left on device (errno 28, ENOSPC)" in err
    assert "Traceback" not in err and len(calls) == 2  # stopped at the failure, b never started
    assert not list((runs / "r").rglob(".*tmp*"))


def test_write_manifest_removes_its_temp_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    write_manifest(tmp_path, {"runs": {"x": 1}})

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left") as info:
        write_manifest(tmp_path, {"runs": {"y": 2}})
    assert info.value.filename == str(tmp_path / "manifest.json")
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"runs": {"x": 1}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_corrupt_manifest_is_set_aside_and_rebuilt(tmp_path, capsys):
    root = make_root(tmp_path, ["a"])
    runs = tmp_path / "runs"
    assert cli(root, runs) == 0
    manifest = runs / "r/manifest.json"
    manifest.write_text('{"runs": {"demo/a__preset-smoke.ipynb": ')  # a torn write
    capsys.readouterr()
    # readers (the report) get the rebuilt records without touching the folder
    rebuilt = read_manifest(runs / "r")
    rec = rebuilt["runs"]["demo/a__preset-smoke.ipynb"]
    assert rec["ok"] and rec["status"] == "rebuilt" and rec["parameters"] == {"preset": "smoke"}
    assert "corrupt" in rebuilt["rebuilt"] and manifest.read_text().endswith(": ")
    assert [s["metrics"]["score"] for s in load_sidecars(runs / "r")] == [1]
    # the batch sets it aside (never deleted) and writes the rebuilt one
    assert cli(root, runs) == 0
    err = capsys.readouterr().err
    assert f"{manifest}: manifest.json was corrupt" in err and err.count("\n") == 1
    (aside,) = (runs / "r").glob("manifest.json.corrupt-*")
    assert aside.read_text() == '{"runs": {"demo/a__preset-smoke.ipynb": '
    assert json.loads(manifest.read_text())["runs"]["demo/a__preset-smoke.ipynb"]["ok"]


# --- resume never trusts an unfinished run, never loses a finished one ------------------------------------------


def test_failed_rerun_never_replaces_the_finished_result(tmp_path, capsys, monkeypatch):
    root = make_root(tmp_path, ["a"])
    runs = tmp_path / "runs"
    assert cli(root, runs) == 0
    good = {p: (runs / "r/demo" / p).read_bytes()
            for p in ("a__preset-smoke.ipynb", "a__preset-smoke.json", "a__preset-smoke.t1.npz")}
    monkeypatch.setenv("AVFH_TEST_FAIL", "1")
    monkeypatch.setenv("AVFH_TEST_TAG", "failed")
    assert cli(root, runs, "--force") == 1
    assert "FAILED" in capsys.readouterr().out
    for name, data in good.items():  # the earlier result is still there, byte for byte
        assert (runs / "r/demo" / name).read_bytes() == data
    assert (runs / "r/demo/a__preset-smoke.failed.ipynb").exists()  # the failed attempt, kept for inspection
    assert (runs / "r/demo/a__preset-smoke.failed.t1.npz").read_text() == "failed"
    assert not list((runs / "r/demo").glob(".*attempt*"))
    rec = read_manifest(runs / "r")["runs"]["demo/a__preset-smoke.ipynb"]
    assert rec["ok"] and rec["last_attempt"]["status"] == "failed" and "on purpose" in rec["last_attempt"]["error"]
    assert [s["_source"] for s in load_sidecars(runs / "r")] == ["demo/a__preset-smoke.json"]
    from avfh_core.reproduce.report import run_blocks

    text = str(run_blocks(runs / "r"))
    assert "a later attempt failed (a__preset-smoke.failed.ipynb)" in text and "failing on purpose" in text
    monkeypatch.delenv("AVFH_TEST_FAIL")
    before = snapshot(runs)
    assert cli(root, runs, "--dry-run") == 0
    assert "demo/a  preset=smoke  (finished: would resume)" in capsys.readouterr().out
    assert cli(root, runs, "--dry-run", "--force") == 0
    assert "would resume" not in capsys.readouterr().out
    assert snapshot(runs) == before  # a dry run writes nothing
    assert cli(root, runs) == 0
    assert "resumed: demo/a" in capsys.readouterr().out
    # a successful re-run replaces the result and clears the failed attempt
    monkeypatch.setenv("AVFH_TEST_TAG", "second")
    assert cli(root, runs, "--force") == 0
    assert json.loads((runs / "r/demo/a__preset-smoke.json").read_text())["metrics"]["run"] == "second"
    assert (runs / "r/demo/a__preset-smoke.t1.npz").read_text() == "second"
    assert not list((runs / "r/demo").glob("*.failed.*")) and not list((runs / "r/demo").glob(".*attempt*"))
    assert "last_attempt" not in read_manifest(runs / "r")["runs"]["demo/a__preset-smoke.ipynb"]


def test_an_unfinished_notebook_is_never_resumed(tmp_path):
    root = make_root(tmp_path, ["a"])
    run = tmp_path / "run"
    spec = RunSpec(NotebookInfo("demo/a", root / "demo/a.py", "demo"), {"preset": "smoke"})
    out = spec.output_path(run)
    out.parent.mkdir(parents=True)
    cells = [{"cell_type": "code", "source": "x = 1", "metadata": {"papermill": {"status": "completed"}}},
             {"cell_type": "code", "source": "y = 2", "metadata": {"papermill": {"status": "pending"}}}]
    out.write_text(json.dumps({"cells": cells, "metadata": {"papermill": {"exception": None}}}))
    out.with_suffix(".json").write_text(json.dumps({"notebook": "demo/a", "metrics": {}}))
    fp = code_fingerprint(spec.notebook.path)
    manifest = {"runs": {"demo/a__preset-smoke.ipynb": {"ok": True, "parameters": {"preset": "smoke"},
                                                        "fingerprint": fp}}}
    assert not notebook_completed(out) and not resumable(spec, run, manifest, fp)  # killed after cell 1
    cells[1]["metadata"]["papermill"]["status"] = "completed"
    out.write_text(json.dumps({"cells": cells, "metadata": {"papermill": {"exception": None}}}))
    assert notebook_completed(out) and resumable(spec, run, manifest, fp)
    out.write_text("{ half")
    assert not notebook_completed(out)


def test_two_batches_sharing_a_run_id_keep_both_records(tmp_path):
    root = make_root(tmp_path, ["a", "b"])
    runs = tmp_path / "runs"
    repo = Path(__file__).resolve().parents[1]

    def start(nb, sleep):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "AVFH_TEST_SLEEP_a": sleep}
        return subprocess.Popen([sys.executable, "-m", "avfh_core.cli", "reproduce", "--preset", "smoke",
                                 "--notebooks-root", str(root), "--runs-dir", str(runs), "--run-id", "shared",
                                 "--notebook", nb, "--quiet", "--no-report"], cwd=repo, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    slow = start("demo/a", "6")  # reads the (empty) manifest first, finishes last
    fast = start("demo/b", "0")
    for proc in (fast, slow):
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, out
    runs_done = read_manifest(runs / "shared")["runs"]
    assert sorted(runs_done) == ["demo/a__preset-smoke.ipynb", "demo/b__preset-smoke.ipynb"]
    assert all(r["ok"] for r in runs_done.values())


def test_a_killed_forced_rerun_resumes_the_finished_result_with_its_metrics(tmp_path, capsys):
    import signal
    import time

    root = make_root(tmp_path, ["a"])
    runs = tmp_path / "runs"
    assert cli(root, runs) == 0
    good = (runs / "r/demo/a__preset-smoke.json").read_bytes()
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AVFH_TEST_SLEEP_a": "60", "AVFH_TEST_TAG": "killed"}
    proc = subprocess.Popen([sys.executable, "-m", "avfh_core.cli", "reproduce", "--preset", "smoke", "--notebooks-root",
                             str(root), "--runs-dir", str(runs), "--run-id", "r", "--quiet", "--no-report", "--force"],
                            cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 90
        while not (runs / "r/demo/.a__preset-smoke.attempt.ipynb").exists():  # papermill saves it as cells run
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.2)
        time.sleep(1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert (runs / "r/demo/a__preset-smoke.json").read_bytes() == good
    capsys.readouterr()
    assert cli(root, runs) == 0
    out = capsys.readouterr().out
    assert "resumed: demo/a" in out
    assert json.loads((runs / "r/demo/a__preset-smoke.json").read_text())["metrics"] == {"score": 1, "run": "first"}
    assert not list((runs / "r/demo").glob(".*attempt*"))  # the killed attempt is cleaned when the run starts again


def test_bad_timing_options_are_refused_before_anything_runs(tmp_path, capsys):
    root = make_root(tmp_path, ["a"])
    runs = tmp_path / "runs"
    assert cli(root, runs, "--cell-timeout", "0") == 2
    assert "--cell-timeout must be at least 1 second, got 0" in capsys.readouterr().err
    assert cli(root, runs, "--heartbeat", "-1") == 2
    assert "--heartbeat must be a positive number" in capsys.readouterr().err
    assert not runs.exists()


def test_report_into_an_unwritable_folder_is_one_line(tmp_path, capsys, monkeypatch):
    from avfh_core.reproduce import report

    write_manifest(tmp_path, {"runs": {}})

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "report.md"))

    monkeypatch.setattr(report.Path, "write_text", refuse)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"avfh report: {tmp_path / 'report.md'}: Read-only file system (errno 30, EROFS)\n"
