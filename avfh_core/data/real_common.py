"""Shared pieces of the papers' real-data paths (`real_ear`, `real_secnet`, `real_multipie`, `real_talkingface`).

- `NoDataRoot`: what every notebook-facing entry point raises when `data_root` is None. Its message starts with
  "skipped: no data_root; expected layout ..." so a notebook can print it and go on with the synthetic world:

      try:
          ds = ear_voxceleb2(cfg.data_root)
      except NoDataRoot as e:
          print(e)

- `require_root`: the check every entry point starts with (None -> NoDataRoot, a missing folder -> FileNotFoundError).
- `resample_audio`: torchaudio's band-limited sinc resampling (e.g. 16 kHz -> 8 kHz for the talking-face paper).
- `square_box`, `crop_resize`: a box made square about its centre and clipped to the frame; crop + antialiased
  bicubic resize.
- `note_bad`: the one place that turns a bad item into an error, or, with `skip_bad=True`, into a warning and an entry
  of the dataset's `skipped` list (as `data.real` does).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F


class NoDataRoot(ValueError):
    """data_root is None: the real-data path is skipped; the message names the expected layout."""


def require_root(data_root, name: str, layout: str) -> Path:
    """The dataset's top folder as a Path. None -> NoDataRoot("skipped: no data_root; expected layout ...");
    a path that is not a folder -> FileNotFoundError naming it and the layout."""
    if data_root is None:
        raise NoDataRoot(f"skipped: no data_root; expected layout for {name}: {layout}")
    if not isinstance(data_root, (str, os.PathLike)):
        raise TypeError(f"{name}: data_root must be a folder path or None, got {type(data_root).__name__}")
    p = Path(data_root).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"{name}: data_root {p} is not a folder; expected layout: {layout}")
    return p


def resample_audio(audio: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited resampling with `torchaudio.functional.resample` (windowed sinc, Hann window, 6 zero crossings,
    rolloff 0.99: the anti-aliasing low-pass sits at 0.99 x the lower Nyquist frequency). Clipped to [-1, 1]."""
    import torchaudio.functional as AF

    for what, r in (("orig_rate", orig_rate), ("new_rate", new_rate)):
        if not isinstance(r, int) or r <= 0:
            raise ValueError(f"resample_audio: {what} must be a positive int (Hz), got {r!r}")
    if not isinstance(audio, torch.Tensor) or not audio.is_floating_point():
        raise ValueError(f"resample_audio: audio must be a float waveform tensor [..., S], got {type(audio).__name__}")
    if orig_rate == new_rate:
        return audio
    return AF.resample(audio, orig_rate, new_rate).clamp(-1, 1)


def square_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) -> the square of side max(w, h) about the box centre, shifted (then, if still too large,
    shrunk) to lie inside a width x height frame; integer pixels."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = min(max(x1 - x0, y1 - y0), width, height)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    nx0 = min(max(cx - side / 2, 0.0), width - side)
    ny0 = min(max(cy - side / 2, 0.0), height - side)
    s = int(round(side))
    ix0, iy0 = int(round(nx0)), int(round(ny0))
    ix0, iy0 = min(ix0, width - s), min(iy0, height - s)
    return ix0, iy0, ix0 + s, iy0 + s


def crop_resize(video: torch.Tensor, box, size: int | None, where: str = "video") -> torch.Tensor:
    """video [..., 3, H, W] cropped to box (x0, y0, x1, y1) (None: whole frame), then resized to size x size
    (bicubic, antialiased, clamped to [0, 1]; None: no resize). A box outside the frame raises naming `where`."""
    if box is not None:
        x0, y0, x1, y1 = (int(v) for v in box)
        H, W = video.shape[-2:]
        if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
            raise ValueError(f"{where}: crop box {tuple(box)} is empty or outside the {W}x{H} frame")
        video = video[..., y0:y1, x0:x1]
    if size is not None and tuple(video.shape[-2:]) != (size, size):
        lead = video.shape[:-3]
        x = video.reshape(-1, *video.shape[-3:])
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
        video = x.reshape(*lead, *x.shape[-3:])
    return video


def note_bad(dataset, what: str, error: Exception | str) -> None:
    """Raise `error` (a str becomes a ValueError), or with dataset.skip_bad warn and append `what` to
    dataset.skipped."""
    if not getattr(dataset, "skip_bad", False):
        raise error if isinstance(error, Exception) else ValueError(error)
    dataset.skipped.append(str(what))
    warnings.warn(f"{type(dataset).__name__}: skipping {what}: {error}; {len(dataset.skipped)} skipped so far "
                  "(all listed in dataset.skipped)", stacklevel=3)
