"""Figures and interactive panels."""

from avfh_core.viz.figures import figure_path, figures_dir, save_figure

__all__ = ["figure_path", "figures_dir", "save_figure"]
