"""Record a notebook's metrics to a JSON sidecar, with an environment record.

Inside `avfh reproduce` the runner sets $AVFH_RESULTS to `<executed notebook>.json`; opened interactively, the
sidecar goes to runs/interactive/<notebook>.json. Tests and the report read numbers from sidecars, never from text.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from avfh_core.config import RunConfig, repo_root

# Runtime packages recorded in every environment record: import name -> distribution name.
RUNTIME_PACKAGES: dict[str, str] = {
    "torch": "torch", "torchaudio": "torchaudio", "numpy": "numpy", "scipy": "scipy", "av": "av",
    "matplotlib": "matplotlib", "seaborn": "seaborn", "skimage": "scikit-image", "ipywidgets": "ipywidgets",
    "ipykernel": "ipykernel", "tqdm": "tqdm", "yaml": "PyYAML", "jupytext": "jupytext", "papermill": "papermill",
    "nbval": "nbval", "nbformat": "nbformat", "nbclient": "nbclient", "jupyterlab": "jupyterlab",
}
# The notebook tooling: a kernel has no use for these, so a sidecar reads their versions without importing them
# (several seconds per notebook); `avfh info` and the batch's manifest import-check them too.
TOOLING_PACKAGES = ("jupytext", "papermill", "nbval", "nbformat", "nbclient", "jupyterlab", "seaborn")


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=10, check=True)
    return out.stdout


def git_commit() -> str | None:
    try:
        return _git("rev-parse", "HEAD").strip() or None
    except Exception:
        return None


def git_state() -> dict[str, Any]:
    """The commit and whether the working tree differs from it (tracked changes or untracked, not ignored, files)."""
    try:
        commit = _git("rev-parse", "HEAD").strip() or None
        changed = [line[3:] for line in _git("status", "--porcelain").splitlines() if line.strip()]
    except Exception as e:  # not a git checkout (an installed wheel), or no git
        detail = getattr(e, "stderr", None) or str(e)
        return {"git_commit": None, "git_dirty": None, "git_error": f"{type(e).__name__}: {detail}".strip()[:300]}
    return {"git_commit": commit, "git_dirty": bool(changed), "git_dirty_files": changed[:20]}


def package_versions(import_check: bool | tuple[str, ...] = True) -> dict[str, Any]:
    """Full version of every runtime package; one that fails to import is recorded with its error, not as None.

    import_check: True imports every package (a failure is recorded as "import failed: <error>"); a tuple imports
    only the packages not in it (those are read from the installed metadata, unless already imported).
    Returns {"packages": {name: version or error}, "not_import_checked": [names]}.
    """
    import importlib
    from importlib import metadata

    skip = () if import_check is True else tuple(import_check or ())
    versions: dict[str, str] = {}
    unchecked: list[str] = []
    for name, dist in RUNTIME_PACKAGES.items():
        try:
            installed = metadata.version(dist)
        except metadata.PackageNotFoundError:
            installed = None
        if name in skip and name not in sys.modules:
            versions[name] = installed or "not installed"
            unchecked.append(name)
            continue
        try:
            module = importlib.import_module(name)
        except BaseException as e:  # noqa: BLE001 - an OSError from a broken binary is the point of the record
            if isinstance(e, KeyboardInterrupt):
                raise
            msg = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            versions[name] = f"import failed: {msg}" + (f" (installed: {installed})" if installed else "")
            continue
        versions[name] = str(getattr(module, "__version__", None) or installed or "unknown")
    return {"packages": versions, "not_import_checked": unchecked}


def environment_record(device: str | None = None, import_check: bool | tuple[str, ...] = True) -> dict[str, Any]:
    """Versions, device, CUDA/cuDNN, threads, commit and dirty tree: enough to say what produced a number."""
    import torch

    pkgs = package_versions(import_check)
    rec: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchaudio": pkgs["packages"].get("torchaudio"),
        "device": device,
        "cuda_available": torch.cuda.is_available(),
        "cuda_build": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "threads": {
            "torch_intra_op": torch.get_num_threads(),
            "torch_inter_op": torch.get_num_interop_threads(),
            **{k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        },
        **git_state(),
        **pkgs,
    }
    if torch.cuda.is_available():
        rec["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        rec["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        rec["gpu"] = rec["gpus"][0]
    return rec


def _jsonable(value: Any) -> Any:
    """Convert tensors/numpy scalars/paths to plain JSON; NaN becomes None (JSON has no NaN)."""
    try:
        import numpy as np
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().tolist()
        elif isinstance(value, np.generic | np.ndarray):
            value = value.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def sidecar_path(notebook: str) -> Path:
    env = os.environ.get("AVFH_RESULTS")
    if env:
        return Path(env)
    return repo_root() / "runs" / "interactive" / f"{notebook.replace('/', '__')}.json"


class Results:
    """Collects a notebook's metrics and writes them (atomically) to its JSON sidecar after every `log`.

    >>> res = Results("vfhgan/05_training", cfg)
    >>> res.log("table1", {"with_audio": {"psnr": 28.1}})
    """

    def __init__(self, notebook: str, cfg: RunConfig | None = None):
        self.notebook = notebook
        self.path = sidecar_path(notebook)
        self.data: dict[str, Any] = {
            "notebook": notebook,
            "config": cfg.as_dict() if cfg is not None else None,
            "environment": environment_record(str(cfg.device) if cfg is not None else None,
                                              import_check=TOOLING_PACKAGES),
            "metrics": {},
        }
        self.write()

    def log(self, key: str, value: Any) -> Any:
        self.data["metrics"][key] = _jsonable(value)
        self.write()
        return value

    def write(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
        return self.path


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: no results sidecar (did the notebook create a Results object?)") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: results sidecar is not valid JSON ({e})") from None
