"""Data: the synthetic audio-visual world, real-dataset loaders, degradations and audio features.

Depends on nothing else in avfh_core.
"""

from avfh_core.data.sample import AVSample

__all__ = ["AVSample"]
