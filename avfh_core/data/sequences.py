"""Video sequences for frame-recurrent SR (SECNet, Fang et al., sec. III-A "training details"): N-frame HR/LR
sequences with the paper's augmentations for training, and whole clips (every frame) for testing.

LR frames are made from the (augmented) HR frames with SECNet's degradation, `degrade.blur_subsample`: Gaussian
blur sigma 1.5, then 1 pixel of every 4 (x4). Augmentations of a training sequence (sec. III-A, in this order):
a random start, a temporal stride l uniform in [1, max_stride] (the paper: [1, 2] for faces), random temporal
reversal, random horizontal flip. The flip is applied to the HR frames before degrading (the subsampling grid
is not flip-symmetric, so flipping the LR frames would not give the LR of the flipped HR). The paper's random
256 crop of 280 px frames has no counterpart here (the synthetic frames are already face crops).

Item k of a training set is a pure function of (seed, k) (its own generator), so `batching.step_batches` gives
the same batch for the same (seed, step) on resume.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from avfh_core.data.degrade import blur_subsample
from avfh_core.data.sample import AVSample


def _hr_uint8(samples: Sequence[AVSample], min_frames: int, what: str) -> tuple[list[torch.Tensor], list[int]]:
    if len(samples) == 0:
        raise ValueError(f"{what}: samples is empty: no clips")
    clips, speakers = [], []
    for c in range(len(samples)):
        s = samples[c]
        if not isinstance(s, AVSample):
            raise ValueError(f"{what}: samples[{c}] is a {type(s).__name__}, not an AVSample")
        if s.num_frames < min_frames:
            raise ValueError(f"{what}: samples[{c}] ({s.source}) has {s.num_frames} frames, fewer than {min_frames}")
        v = s.video
        q = (v * 255).round()
        clips.append(q.to(torch.uint8) if torch.equal(q / 255, v) else v)
        speakers.append(s.speaker if isinstance(s.speaker, int) else -1)
    return clips, speakers


def _float(v: torch.Tensor) -> torch.Tensor:
    return v.float() / 255 if v.dtype == torch.uint8 else v


class SequenceDataset(torch.utils.data.Dataset):
    """Training sequences. Items: dict(lr=[N,3,h,w], hr=[N,3,H,W], clip=int, speaker=int, frames=[N] (the clip's
    frame indices, in the item's order), stride=int, reversed=bool, flipped=bool). `repeats` virtual items per clip (len = clips x repeats), each with its own
    random augmentation drawn from a generator seeded by (seed, k)."""

    def __init__(self, samples: Sequence[AVSample], n_frames: int = 8, scale: int = 4, sigma: float = 1.5,
                 max_stride: int = 2, augment: bool = True, repeats: int = 1000, seed: int = 0):
        if not isinstance(n_frames, int) or n_frames < 1:
            raise ValueError(f"SequenceDataset: n_frames must be an int >= 1, got {n_frames!r}")
        if not isinstance(max_stride, int) or max_stride < 1:
            raise ValueError(f"SequenceDataset: max_stride must be an int >= 1, got {max_stride!r}")
        if repeats < 1:
            raise ValueError(f"SequenceDataset: repeats must be >= 1, got {repeats!r}")
        self.clips, self.speakers = _hr_uint8(samples, n_frames, "SequenceDataset")
        self.n_frames, self.scale, self.sigma = n_frames, scale, sigma
        self.max_stride, self.augment, self.repeats, self.seed = max_stride, augment, repeats, seed

    def __len__(self) -> int:
        return len(self.clips) * self.repeats

    def __getitem__(self, k: int) -> dict:
        if not 0 <= k < len(self):
            raise IndexError(f"SequenceDataset: index {k} out of range [0, {len(self)})")
        c = k % len(self.clips)
        hr = self.clips[c]
        T, N = hr.shape[0], self.n_frames
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + k)
        stride, rev, flip, start = 1, False, False, 0
        if self.augment:
            stride = int(torch.randint(1, self.max_stride + 1, (1,), generator=g))
            stride = max(1, min(stride, (T - 1) // max(N - 1, 1) if N > 1 else stride))  # fits the clip
            start = int(torch.randint(0, T - (N - 1) * stride, (1,), generator=g))
            rev = bool(torch.rand((), generator=g) < 0.5)
            flip = bool(torch.rand((), generator=g) < 0.5)
        idx = torch.arange(start, start + (N - 1) * stride + 1, stride)
        if rev:
            idx = idx.flip(0)
        seq = _float(hr[idx])
        if flip:
            seq = seq.flip(-1)
        return dict(lr=blur_subsample(seq, self.sigma, self.scale), hr=seq, clip=c, speaker=self.speakers[c],
                    frames=idx, stride=stride, reversed=rev, flipped=flip)


class ClipDataset(torch.utils.data.Dataset):
    """Whole test clips, every frame, no augmentation. Items: dict(lr=[T,3,h,w], hr=[T,3,H,W], clip, speaker,
    frames=[T] (0..T-1))."""

    def __init__(self, samples: Sequence[AVSample], scale: int = 4, sigma: float = 1.5):
        self.clips, self.speakers = _hr_uint8(samples, 1, "ClipDataset")
        self.scale, self.sigma = scale, sigma
        self.lr = [blur_subsample(_float(v), sigma, scale) for v in self.clips]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, k: int) -> dict:
        return dict(lr=self.lr[k], hr=_float(self.clips[k]), clip=k, speaker=self.speakers[k],
                    frames=torch.arange(self.clips[k].shape[0]))


__all__ = ["ClipDataset", "SequenceDataset"]
