"""Sliding windows of 2j+1 frames with the audio window of the centre frame (VFH-GAN, Sharma et al., Sec. III-A).

Each item is one centre frame t of one clip: the LR and HR frames t-j..t+j, the log-mel steps of those frames
(centred on t), the HR mouth box of frame t, the landmarks, the word and speaker ids. Only centres with a full
window inside the clip are used (t in [j, T-1-j]); nothing is padded.

Bad input is refused when the dataset is built, naming the clip (samples[c] and its source): a sample that breaks the
`AVSample` contract (e.g. NaN frames, frames outside [0, 1], NaN audio or audio outside [-1, 1]; the log-mel of
finite audio is finite, so no window carries NaN features), audio whose log-mel cannot be computed (e.g. 29.97 fps:
resample the video to 25 fps), too few frames, no landmarks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from avfh_core.data.audio import MEL_STEPS_PER_FRAME, frame_window, log_mel
from avfh_core.data.crops import mouth_box
from avfh_core.data.degrade import bicubic_down, blur_subsample
from avfh_core.data.sample import AVSample

DEGRADATIONS = ("bicubic", "blur")


class WindowDataset(torch.utils.data.Dataset):
    """Items: dict(lr=[2j+1,3,h,w], hr=[2j+1,3,H,W], mel=[1,80,(2j+1)*16], t=int, mouth_box=[4],
    landmarks=[2j+1,68,2], word=int, speaker=int, clip=int).

    samples: a sequence (list or Dataset) of AVSample; window: j; scale: HR/LR factor;
    degrade: "bicubic" (VFH-GAN) or "blur" (SECNet's Gaussian sigma 1.5 + subsampling)."""

    def __init__(self, samples: Sequence[AVSample], window: int = 2, scale: int = 4, degrade: str = "bicubic"):
        if degrade not in DEGRADATIONS:
            raise ValueError(f"degrade must be one of {DEGRADATIONS}, got {degrade!r}")
        if not isinstance(window, int) or window < 0:
            raise ValueError(f"window must be a non-negative int, got {window!r}")
        if len(samples) == 0:
            raise ValueError("samples is empty: no clips to window")
        self.window, self.scale, self.degrade = window, scale, degrade
        self.clips = []
        self.index: list[tuple[int, int]] = []
        for c in range(len(samples)):
            s = samples[c]
            if not isinstance(s, AVSample):
                raise ValueError(f"samples[{c}] is a {type(s).__name__}, not an AVSample")
            try:
                s.validate()
            except ValueError as e:
                raise ValueError(f"samples[{c}]: {e}") from None
            T = s.num_frames
            if T < 2 * window + 1:
                raise ValueError(f"samples[{c}] ({s.source}) has {T} frames, fewer than a window of {2 * window + 1}")
            if s.landmarks is None:
                raise ValueError(f"samples[{c}] ({s.source}) has no landmarks (needed for the mouth box)")
            hr = s.video
            lr = bicubic_down(hr, scale) if degrade == "bicubic" else blur_subsample(hr, 1.5, scale)
            try:
                mel = log_mel(s.audio, s.sample_rate, s.fps)
            except ValueError as e:
                raise ValueError(f"samples[{c}] ({s.source}): log-mel of its audio failed: {e}") from None
            word = s.extras.get("word_index", -1)
            speaker = s.speaker if isinstance(s.speaker, int) else -1
            q = (hr * 255).round()
            if torch.equal(q / 255, hr):  # 8-bit video (synthetic or decoded): store 4x smaller, exactly
                hr = q.to(torch.uint8)
            self.clips.append(dict(hr=hr, lr=lr, mel=mel, lm=s.landmarks.float(), box=mouth_box(s.landmarks),
                                   word=int(word if word is not None else -1), speaker=int(speaker)))
            self.index.extend((c, t) for t in range(window, T - window))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> dict:
        c, t = self.index[k]
        d = self.clips[c]
        j = self.window
        sl = slice(t - j, t + j + 1)
        hr = d["hr"][sl]
        hr = hr.float() / 255 if hr.dtype == torch.uint8 else hr
        return dict(lr=d["lr"][sl], hr=hr, mel=frame_window(d["mel"], t, j, MEL_STEPS_PER_FRAME)[None],
                    t=t, mouth_box=d["box"][t], landmarks=d["lm"][sl], word=d["word"], speaker=d["speaker"], clip=c)

    def gathered(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """The items `indices` stacked on the CPU, keys in item order, with the HR windows as stored: bytes when
        every selected clip holds 8-bit frames (scale them with `.float().div_(255)`), else floats as the items
        give them. The CPU part of `stacked`."""
        if len(indices) == 0:
            raise ValueError("gathered: no indices")
        j = self.window
        where = [(self.clips[c], c, t) for c, t in (self.index[k] for k in indices)]
        hr = [d["hr"][t - j:t + j + 1] for d, _, t in where]
        if not all(h.dtype == torch.uint8 for h in hr):  # some clips replaced by float frames (an edited world)
            hr = [h.float() / 255 if h.dtype == torch.uint8 else h for h in hr]
        return dict(lr=torch.stack([d["lr"][t - j:t + j + 1] for d, _, t in where]), hr=torch.stack(hr),
                    mel=torch.stack([frame_window(d["mel"], t, j, MEL_STEPS_PER_FRAME)[None] for d, _, t in where]),
                    t=torch.as_tensor([t for *_, t in where]), mouth_box=torch.stack([d["box"][t] for d, _, t in where]),
                    landmarks=torch.stack([d["lm"][t - j:t + j + 1] for d, _, t in where]),
                    word=torch.as_tensor([d["word"] for d, *_ in where]),
                    speaker=torch.as_tensor([d["speaker"] for d, *_ in where]),
                    clip=torch.as_tensor([c for _, c, _ in where]))

    def stacked(self, indices: Sequence[int], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """The items `indices` as one batch on `device`: bit for bit what `data.batching.collate([self[k] for k in
        indices], device)` gives, but the 8-bit HR windows are stacked as bytes (`gathered`), moved, and only then
        scaled to [0, 1] (on the device, in place): a quarter of the copying and of the host-to-GPU transfer, and no
        per-item float conversion on the CPU (at 128 px and batch 32 that conversion was most of a batch's CPU
        time)."""
        out = {k: v.to(device) for k, v in self.gathered(indices).items()}
        if out["hr"].dtype == torch.uint8:
            out["hr"] = out["hr"].float().div_(255)
        return out


def has_neighbour_windows(data: WindowDataset, k: int) -> bool:
    """Whether every frame of item k's window has a full window of its own in the clip (j more frames either side:
    centre t in [2j, T-1-2j])."""
    c, t = data.index[k]
    j = data.window
    return t - 2 * j >= 0 and t + 2 * j < len(data.clips[c]["hr"])


def neighbour_windows(data: WindowDataset, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(lr_windows [2j+1, 2j+1, 3, h, w], mel_windows [2j+1, 1, 80, (2j+1)*16]) of item k: row i holds the LR window
    and the log-mel window of frame t-j+i (check `has_neighbour_windows` first)."""
    c, t = data.index[k]
    d, j = data.clips[c], data.window
    frames = range(t - j, t + j + 1)
    return (torch.stack([d["lr"][s - j:s + j + 1] for s in frames]),
            torch.stack([frame_window(d["mel"], s, j, MEL_STEPS_PER_FRAME)[None] for s in frames]))


class NeighbourWindows(torch.utils.data.Dataset):
    """The windows of `data` (a WindowDataset) whose 2j+1 frames each have a full window of their own: every item
    is `data`'s item for centre t, plus each frame's own inputs, so that all 2j+1 frames of the window can be
    generated (VFH-GAN eq. 5 as written: the lip reader sees a window of generated frames):

        lr_windows  [2j+1, 2j+1, 3, h, w]   row i: the LR window centred on frame t-j+i
        mel_windows [2j+1, 1, 80, (2j+1)*16] row i: the log-mel window of frame t-j+i

    Only centres with j more frames either side inside the clip are used (t in [2j, T-1-2j]); nothing is padded.
    Built on `data`'s clips (no copy); an error says so when no clip is long enough (4j+1 frames)."""

    def __init__(self, data: WindowDataset):
        if not isinstance(data, WindowDataset):
            raise ValueError(f"NeighbourWindows wraps a WindowDataset, got {type(data).__name__}")
        self.data, self.window = data, data.window
        self.index = [k for k in range(len(data)) if has_neighbour_windows(data, k)]
        if not self.index:
            longest = max(len(d["hr"]) for d in data.clips)
            raise ValueError(f"NeighbourWindows: no clip has the {4 * data.window + 1} frames a window of generated "
                             f"windows needs (j={data.window}; the longest clip has {longest})")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> dict:
        m = self.index[k]
        item = self.data[m]
        item["lr_windows"], item["mel_windows"] = neighbour_windows(self.data, m)
        return item
