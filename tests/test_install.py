"""The install is the tested set: exact torch/torchaudio pins, a lock that covers every requirement and matches the
venv, and every runtime dependency importable (a package that installs but does not load is named)."""

import importlib.metadata as md
import re
import tomllib
from pathlib import Path

import pytest

from avfh_core import deps

ROOT = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


def test_torch_pair_is_pinned_exactly():
    reqs = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.11.0" in reqs and "torchaudio==2.11.0" in reqs
    lock = _lock()
    assert lock["torch"] == "2.11.0" and lock["torchaudio"] == "2.11.0"


def test_lock_covers_every_requirement_and_matches_this_venv():
    lock = _lock()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in project["dependencies"]]
    for extra in ("dev", "cluster", "dashboard"):
        names += [re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in project["optional-dependencies"][extra]]
    missing = [n for n in names if n not in lock]
    assert not missing, f"requirements-lock.txt lacks {missing}: run `make lock`"
    drift = {n: (v, md.version(n)) for n, v in lock.items() if n not in ("pip",) and _installed(n) not in (None, v)}
    assert not drift, f"this venv differs from requirements-lock.txt (name: (lock, installed)): {drift}"


def _installed(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def test_every_runtime_dependency_imports():
    status = deps.import_status()
    assert {"torch", "torchaudio", "scikit-image", "papermill", "nbval"} <= set(status)
    assert "espeakng-loader" not in status  # nothing imports it; it is not a dependency
    bad = {d: s["error"] for d, s in status.items() if s["error"]}
    assert not bad


def test_a_package_that_does_not_load_is_named(monkeypatch, capsys):
    real = deps.importlib.import_module

    def fake(name):
        if name == "torchaudio":
            raise OSError("libtorchaudio.so: undefined symbol: torch_exception_get_what_without_backtrace")
        return real(name)

    monkeypatch.setattr(deps.importlib, "import_module", fake)
    assert deps.main() == 1
    err = capsys.readouterr().err
    assert "torchaudio==2.11.0" in err and "undefined symbol" in err


@pytest.mark.parametrize("dist,module", [("pyyaml", "yaml"), ("scikit-image", "skimage"), ("torch", "torch")])
def test_import_names(dist, module):
    assert deps.import_name(dist) == module


def test_jupyterlab_opens_py_notebooks_as_notebooks():
    """`make install` writes a venv-local default-viewer setting; JupyterLab's own settings lookup must see it."""
    from jupyter_server.services.config import ConfigManager

    overrides = ConfigManager(config_dir_name="labconfig").get("default_setting_overrides")
    viewers = overrides.get("@jupyterlab/docmanager-extension:plugin", {}).get("defaultViewers", {})
    assert viewers.get("python") == "Jupytext Notebook"
