"""The environment record of `avfh info`, every sidecar and the batch manifest."""

import json
import subprocess

import pytest

from avfh_core.cli import main
from avfh_core.reproduce import results


def test_a_package_that_fails_to_import_is_recorded_with_its_error(tmp_path, monkeypatch):
    (tmp_path / "avfh_broken_pkg.py").write_text('raise OSError("libfoo.so: undefined symbol bar")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(results, "RUNTIME_PACKAGES", {"avfh_broken_pkg": "avfh-broken-pkg", "numpy": "numpy",
                                                      "avfh_absent_pkg": "avfh-absent-pkg"})
    rec = results.package_versions(import_check=True)["packages"]
    assert rec["avfh_broken_pkg"] == "import failed: OSError: libfoo.so: undefined symbol bar"
    assert rec["avfh_absent_pkg"].startswith("import failed: ModuleNotFoundError")
    import numpy

    assert rec["numpy"] == numpy.__version__
    assert None not in rec.values()


def test_tooling_packages_are_read_from_metadata_without_importing(monkeypatch):
    from importlib import metadata

    monkeypatch.setattr(results, "RUNTIME_PACKAGES", {"avfh_never_imported": "pyyaml"})
    out = results.package_versions(import_check=("avfh_never_imported",))
    assert out["packages"]["avfh_never_imported"] == metadata.version("pyyaml")
    assert out["not_import_checked"] == ["avfh_never_imported"]


def test_environment_record_has_versions_threads_cuda_and_git():
    import torch

    rec = results.environment_record("cpu", import_check=results.TOOLING_PACKAGES)
    assert set(rec["packages"]) == set(results.RUNTIME_PACKAGES)
    assert all(isinstance(v, str) and v for v in rec["packages"].values())
    assert rec["packages"]["torch"] == torch.__version__ == rec["torch"]
    assert rec["threads"]["torch_intra_op"] == torch.get_num_threads()
    assert rec["threads"]["torch_inter_op"] == torch.get_num_interop_threads()
    assert rec["cuda_build"] == torch.version.cuda and rec["cuda_available"] == torch.cuda.is_available()
    if torch.cuda.is_available():
        assert rec["cudnn"] == torch.backends.cudnn.version() and rec["gpus"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=results.repo_root(), capture_output=True, text=True)
    assert rec["git_commit"] == head.stdout.strip()
    assert isinstance(rec["git_dirty"], bool)
    json.dumps(rec)  # a sidecar must be able to hold it


def test_git_state_says_whether_the_tree_is_dirty(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("commit", "-qm", "one")
    monkeypatch.setattr(results, "repo_root", lambda: tmp_path)
    clean = results.git_state()
    assert clean["git_dirty"] is False and len(clean["git_commit"]) == 40
    (tmp_path / "a.txt").write_text("2")
    dirty = results.git_state()
    assert dirty["git_dirty"] is True and dirty["git_dirty_files"] == ["a.txt"]
    monkeypatch.setattr(results, "repo_root", lambda: tmp_path / "nowhere")
    broken = results.git_state()
    assert broken["git_commit"] is None and broken["git_dirty"] is None and broken["git_error"]


def test_info_json_records_everything(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in ("packages", "threads", "git_commit", "git_dirty", "cuda_build", "device"):
        assert key in info, key
    assert info["not_import_checked"] == []  # `avfh info` imports every package
    assert set(info["packages"]) == set(results.RUNTIME_PACKAGES)


def test_sidecar_records_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AVFH_RESULTS", str(tmp_path / "side.json"))
    res = results.Results("t/x", None)
    env = json.loads(res.path.read_text())["environment"]
    assert set(env["packages"]) == set(results.RUNTIME_PACKAGES) and "git_dirty" in env and "threads" in env


def test_report_shows_packages_and_dirty_tree():
    from avfh_core.reproduce.report import environment_blocks

    env = {"torch": "2.11.0", "git_dirty": True, "threads": {"torch_intra_op": 2, "OMP_NUM_THREADS": None},
           "packages": {"numpy": "2.4.6", "torchaudio": "import failed: OSError: x"}}
    ((_, _, rows),) = environment_blocks([{"environment": env}])
    table = dict(rows)
    assert table["numpy"] == "2.4.6" and table["git_dirty"] == "True" and table["threads"] == "torch_intra_op=2"


@pytest.mark.parametrize("name", ["torch", "numpy", "jupytext", "papermill", "nbval", "ipywidgets", "matplotlib",
                                  "seaborn", "skimage", "scipy", "av", "torchaudio"])
def test_the_named_runtime_packages_are_recorded(name):
    assert name in results.RUNTIME_PACKAGES
