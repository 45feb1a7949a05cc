"""Data: the synthetic audio-visual world, real-dataset loaders, degradations and audio features.

Depends on nothing else in avfh_core (except `avfh_core.config.avfh_home` for the cache location).
"""

from avfh_core.data.sample import AVSample
from avfh_core.data.synth import SynthConfig, SynthWorld

__all__ = ["AVSample", "SynthConfig", "SynthWorld"]
