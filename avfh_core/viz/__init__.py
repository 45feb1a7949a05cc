"""Figures and interactive panels."""

from avfh_core.viz.figures import figure_path, figures_dir, save_figure
from avfh_core.viz.photos import load_photo

__all__ = ["figure_path", "figures_dir", "load_photo", "save_figure"]
