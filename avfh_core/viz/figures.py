"""Figure helper: every notebook figure goes through `save_figure`, which writes figures/<paper>/<name>.png."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt

from avfh_core.config import repo_root


def figures_dir() -> Path:
    """$AVFH_FIGURES (set by `avfh reproduce` so batch runs do not touch the committed figures) or <repo>/figures."""
    env = os.environ.get("AVFH_FIGURES")
    return Path(env) if env else repo_root() / "figures"


def figure_path(paper: str, name: str) -> Path:
    """Where `save_figure(fig, paper, name)` writes: figures/<paper>/<name>.png (or under $AVFH_FIGURES)."""
    if not name or "/" in name or name.endswith(".png"):
        raise ValueError(f"figure name must be a bare name without extension, got {name!r}")
    return figures_dir() / paper / f"{name}.png"


def save_figure(fig: plt.Figure, paper: str, name: str, show: bool = True, dpi: int = 110) -> None:
    """Save `fig` to figures/<paper>/<name>.png (deterministic metadata) and show it inline.

    Returns None on purpose: a notebook cell ending in `save_figure(...)` must not print a machine-specific path
    into the committed outputs. Use `figure_path` for the file name.
    """
    out = figure_path(paper, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    if show:
        plt.show()
    else:
        plt.close(fig)
