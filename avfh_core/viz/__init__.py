"""Figures and interactive panels."""

from avfh_core.viz.figures import figures_dir, save_figure

__all__ = ["figures_dir", "save_figure"]
