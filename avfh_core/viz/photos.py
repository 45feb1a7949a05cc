"""The one real photo of the notebooks and the dashboard: the face of scikit-image's `astronaut` (Eileen Collins,
NASA, public domain), so every figure that says "a real photo" shows the same picture."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from avfh_core.data.synth import SynthConfig, SynthWorld

ASTRONAUT_FACE = (slice(20, 276), slice(120, 376))  # rows, columns of the 512 x 512 image: the face, 256 x 256


def load_photo(size: int = 128) -> tuple[torch.Tensor, str]:
    """(image [3, size, size] in [0, 1], what it is): the astronaut's face crop, bicubic (antialiased) to `size`;
    a synthetic face (held-out person 0 of the world with seed 1) when scikit-image is not installed."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 16:
        raise ValueError(f"load_photo: size must be an int >= 16, got {size!r}")
    try:
        from skimage import data as skdata
    except ImportError:
        world = SynthWorld(SynthConfig(image_size=size, num_frames=1, seed=1))
        return world.clip(0, "test").video[0], "synthetic face (scikit-image not installed)"
    rows, cols = ASTRONAUT_FACE
    img = torch.from_numpy(skdata.astronaut()[rows, cols].copy()).permute(2, 0, 1).float() / 255
    img = F.interpolate(img[None], size=(size, size), mode="bicubic", antialias=True, align_corners=False)[0]
    return img.clamp(0, 1), "astronaut (scikit-image)"


__all__ = ["ASTRONAUT_FACE", "load_photo"]
