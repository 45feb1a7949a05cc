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


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip() or None
    except Exception:
        return None


def environment_record(device: str | None = None) -> dict[str, Any]:
    """Versions, device, commit: enough to say what produced a number."""
    import torch

    rec: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "device": device,
        "git_commit": git_commit(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import torchaudio

        rec["torchaudio"] = torchaudio.__version__
    except Exception:  # torchaudio optional for the record
        rec["torchaudio"] = None
    if torch.cuda.is_available():
        rec["gpu"] = torch.cuda.get_device_name(0)
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
            "environment": environment_record(str(cfg.device) if cfg is not None else None),
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
