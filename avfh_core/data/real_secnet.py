"""VoxCeleb1 face tracks for SECNet (Fang et al., facial video hallucination): (LR sequence, HR sequence) items.

Layout read here (VoxCeleb1's per-utterance layout, <id>/<YouTube video>/<nnnnn>, with the face-track video clip):
    <root>/<id>/<video>/<nnnnn>.mp4     the face-track clip of one utterance (any frame size, resampled to 25 fps)
    <root>/<id>/<video>/<nnnnn>.txt     optional: VoxCeleb1's track file (header lines, then 'FRAME X Y W H' rows,
                                        one per frame; pixels, or fractions of the frame when every value is <= 1)
The paper (Sec. III-A): VoxCeleb "provid[es] sequences of tracked faces in the form of bounding boxes ... For each
sequence, we compute a box enclosing the faces from all frames and use it to crop face images from the original
video. All face images are resized to 280x280. Only the central 256x256 region is used in validating and testing."
So with crop="track_box" (default) the box enclosing all rows of the .txt (made square about its centre, clipped to
the frame: the paper does not say how a non-square box was resized; squaring keeps the aspect ratio) crops every
frame of the clip, which is resized to `resize` (280) and cut to `crop_size` (256): a random crop for "train", the
centre for "val" and "test". crop=None: the clip is already a face crop (e.g. a pre-cropped track): the frame's
centre square is used. The LR sequence is the paper's degradation of the HR crop: Gaussian blur sigma 1.5, then 1 of
every 4 pixels (`degrade.blur_subsample`).

Items: "train" gives N = seq_len consecutive frames from a random start with a temporal stride l uniform in
[1, max_stride] (the paper: N = 8, l in [1, 2] for faces), randomly reversed and horizontally flipped (augment=True);
"val"/"test" give the whole clip (seq_len=None) or its first seq_len frames. A clip with fewer frames than seq_len
raises MediaError naming the file (skip_bad=True: left out when the dataset is built, listed in `skipped`).

Person split: the paper's 922 train / 4 val / 80 test persons are not an official VoxCeleb1 split; `split_persons`
draws person-disjoint sets with the paper's proportions (seeded; at least one person per split when there are three
or more), or pass `persons=[...]` explicitly.
"""

from __future__ import annotations

import random
import re
import warnings
from pathlib import Path

import torch

from avfh_core.data.avio import MediaError, probe, read_video
from avfh_core.data.degrade import blur_subsample
from avfh_core.data.real import MEDIA_SUFFIXES
from avfh_core.data.real_common import crop_resize, note_bad, require_root, square_box

LAYOUT = "<root>/<id>/<video>/<nnnnn>.mp4 (+ optional <nnnnn>.txt VoxCeleb1 track file: 'FRAME X Y W H' rows)"
PAPER_PERSONS = {"train": 922, "val": 4, "test": 80}
SPLITS = ("train", "val", "test", "all")


def split_persons(persons: list[str], seed: int = 0, val_fraction: float = PAPER_PERSONS["val"] / 1006,
                  test_fraction: float = PAPER_PERSONS["test"] / 1006) -> dict[str, list[str]]:
    """Person-disjoint {'train', 'val', 'test'} lists with the paper's proportions (4 and 80 of 1006 persons);
    val and test get at least one person each when there are at least three persons."""
    order = sorted(persons)
    random.Random(seed).shuffle(order)
    n = len(order)
    n_val = max(int(round(val_fraction * n)), 1 if n >= 3 else 0)
    n_test = max(int(round(test_fraction * n)), 1 if n >= 3 else 0)
    return {"val": sorted(order[:n_val]), "test": sorted(order[n_val:n_val + n_test]),
            "train": sorted(order[n_val + n_test:])}


def read_track_box(path: str | Path, width: int, height: int) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1) in pixels enclosing every row of a VoxCeleb track file, clipped to a width x height
    frame. Rows after the 'FRAME X Y W H' header; values all <= 1 are read as fractions of the frame."""
    path = Path(path)
    lines = path.read_text().splitlines()
    start = next((k for k, ln in enumerate(lines) if ln.split()[:1] == ["FRAME"]), None)
    if start is None:
        raise ValueError(f"{path}: not a VoxCeleb track file: no 'FRAME X Y W H' header line")
    rows = []
    for k, ln in enumerate(lines[start + 1:], start + 2):
        if not ln.strip():
            continue
        parts = ln.split()
        try:
            vals = [float(v) for v in parts[1:5]]
        except ValueError:
            vals = []
        if len(parts) < 5 or len(vals) != 4 or vals[2] <= 0 or vals[3] <= 0:
            raise ValueError(f"{path}:{k}: expected 'FRAME X Y W H' with W, H > 0, got {ln.strip()!r}")
        rows.append(vals)
    if not rows:
        raise ValueError(f"{path}: track file has no box rows after its 'FRAME X Y W H' header")
    t = torch.tensor(rows, dtype=torch.float64)
    if float(t.max()) <= 1.0:
        t = t * torch.tensor([width, height, width, height], dtype=torch.float64)
    x0, y0 = float(t[:, 0].min()), float(t[:, 1].min())
    x1, y1 = float((t[:, 0] + t[:, 2]).max()), float((t[:, 1] + t[:, 3]).max())
    x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise ValueError(f"{path}: the track's enclosing box lies outside the {width}x{height} frame")
    return x0, y0, x1, y1


class VoxCeleb1Tracks(torch.utils.data.Dataset):
    """(LR, HR) face-track sequences; see the module docstring. Each item is a dict: lr [N, 3, crop/scale,
    crop/scale], hr [N, 3, crop, crop] (float in [0, 1]), person, source, start, stride, reversed, flipped, box
    (the square crop box in the clip's pixels, or None)."""

    def __init__(self, data_root, split: str = "train", seq_len: int | None = 8, max_stride: int = 2,
                 resize: int = 280, crop_size: int = 256, scale: int = 4, sigma: float = 1.5, crop="track_box",
                 augment: bool | None = None, persons: list[str] | None = None, seed: int = 0,
                 skip_bad: bool = False, max_items: int | None = None):
        self.root = require_root(data_root, "VoxCeleb1 face tracks (SECNet)", LAYOUT)
        if split not in SPLITS:
            raise ValueError(f"VoxCeleb1Tracks: split must be one of {SPLITS}, got {split!r}")
        if seq_len is None and split == "train":
            raise ValueError("VoxCeleb1Tracks: split 'train' needs seq_len (the paper's N = 8)")
        if seq_len is not None and (not isinstance(seq_len, int) or seq_len < 1):
            raise ValueError(f"VoxCeleb1Tracks: seq_len must be a positive int or None, got {seq_len!r}")
        if not (isinstance(max_stride, int) and max_stride >= 1):
            raise ValueError(f"VoxCeleb1Tracks: max_stride must be a positive int, got {max_stride!r}")
        if not (crop_size <= resize and crop_size % scale == 0):
            raise ValueError(f"VoxCeleb1Tracks: crop_size {crop_size} must be <= resize {resize} and divisible by "
                             f"scale {scale}")
        if not (crop in ("track_box", None) or (isinstance(crop, (tuple, list)) and len(crop) == 4)):
            raise ValueError(f"VoxCeleb1Tracks: crop must be 'track_box', None or an (x0, y0, x1, y1) box, got {crop!r}")
        self.split, self.seq_len, self.max_stride, self.seed = split, seq_len, max_stride, seed
        self.resize, self.crop_size, self.scale, self.sigma, self.crop = resize, crop_size, scale, sigma, crop
        self.augment = (split == "train") if augment is None else augment
        self.skip_bad, self.epoch = skip_bad, 0
        self.skipped: list[str] = []
        self.ignored: list[Path] = []
        clips = self._index()
        all_persons = sorted({c["person"] for c in clips})
        if persons is not None:
            missing = sorted(set(persons) - set(all_persons))
            if missing:
                raise ValueError(f"VoxCeleb1Tracks: persons {missing} not found under {self.root}")
            chosen = set(persons)
        elif split == "all":
            chosen = set(all_persons)
        else:
            chosen = set(split_persons(all_persons, seed)[split])
        self.persons = sorted(chosen)
        self.items = []
        for c in clips:
            if c["person"] not in chosen:
                continue
            if max_items is not None and len(self.items) >= max_items:
                break
            if self._usable(c):
                self.items.append(c)
        if not self.items:
            raise ValueError(f"VoxCeleb1Tracks: no usable clip for split {split!r} under {self.root} "
                             f"({len(all_persons)} persons found, {len(self.skipped)} clips skipped; expected {LAYOUT})")

    def _index(self) -> list[dict]:
        items = []
        for f in sorted(self.root.rglob("*")):
            if f.suffix.lower() not in MEDIA_SUFFIXES or not f.is_file():
                continue
            rel = f.relative_to(self.root)
            if (f.suffix != ".mp4" or len(rel.parts) != 3 or not re.fullmatch(r"id\d+", rel.parts[0])
                    or not re.fullmatch(r"\d+", f.stem)):
                self.ignored.append(f)
                continue
            items.append({"video": f, "txt": f.with_suffix(".txt"), "person": rel.parts[0], "youtube": rel.parts[1]})
        if self.ignored:
            shown = ", ".join(str(p.relative_to(self.root)) for p in self.ignored[:5])
            warnings.warn(f"VoxCeleb1Tracks: ignoring {len(self.ignored)} media file(s) under {self.root} that do not "
                          f"match the layout {LAYOUT}: {shown} (all listed in dataset.ignored)", stacklevel=3)
        return items

    def _need_frames(self) -> int:
        return 1 if self.seq_len is None else self.seq_len

    def _usable(self, c: dict) -> bool:
        """Header checks at build time: readable, has video, enough frames, a readable track file whose box meets
        the frame when crop='track_box'."""
        try:
            if self.crop == "track_box" and not c["txt"].exists():
                raise FileNotFoundError(f"{c['video']}: no track file {c['txt'].name} beside it (crop='track_box' "
                                        "needs it; pass crop=None for clips that are already face crops)")
            info = probe(c["video"])["video"]
            if info is None:
                raise MediaError(f"{c['video']}: has no video stream")
            if info["frames"] and info["frames"] < self._need_frames():
                raise MediaError(f"{c['video']}: too short: {info['frames']} frames, fewer than seq_len = "
                                 f"{self._need_frames()}")
            if self.crop == "track_box":
                read_track_box(c["txt"], info["width"], info["height"])  # a malformed track file fails here
        except (MediaError, FileNotFoundError, ValueError) as e:
            note_bad(self, c["video"], e)
            return False
        return True

    def set_epoch(self, epoch: int) -> None:
        """Draw new random starts, strides, crops and flips (train) for a new epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def box_for(self, c: dict, width: int, height: int) -> tuple[int, int, int, int]:
        if self.crop == "track_box":
            return square_box(read_track_box(c["txt"], width, height), width, height)
        if self.crop is None:
            return square_box((0, 0, width, height), width, height)
        return tuple(int(v) for v in self.crop)

    def __getitem__(self, i: int) -> dict:
        c = self.items[i]
        rng = random.Random(f"{self.seed}:{self.split}:{self.epoch}:{i}")
        video, _ = read_video(c["video"], fps=25.0)
        T, _, H, W = video.shape
        need = self._need_frames()
        if T < need:
            raise MediaError(f"{c['video']}: too short: {T} frames decoded, fewer than seq_len = {need}")
        stride, start = 1, 0
        if self.seq_len is None:
            idx = list(range(T))
        elif self.split == "train":
            stride = rng.randint(1, max(1, min(self.max_stride, (T - 1) // max(self.seq_len - 1, 1))))
            span = (self.seq_len - 1) * stride + 1
            start = rng.randrange(T - span + 1)
            idx = list(range(start, start + span, stride))
        else:
            idx = list(range(self.seq_len))
        box = self.box_for(c, W, H)
        hr = crop_resize(video[idx], box, self.resize, where=str(c["video"]))
        if self.split == "train":
            oy, ox = rng.randrange(self.resize - self.crop_size + 1), rng.randrange(self.resize - self.crop_size + 1)
        else:
            oy = ox = (self.resize - self.crop_size) // 2
        hr = hr[..., oy:oy + self.crop_size, ox:ox + self.crop_size].contiguous()
        rev = flip = False
        if self.augment:
            rev, flip = rng.random() < 0.5, rng.random() < 0.5
            if rev:
                hr = hr.flip(0)
            if flip:
                hr = hr.flip(-1)
        lr = blur_subsample(hr, sigma=self.sigma, factor=self.scale)
        return {"lr": lr, "hr": hr, "person": c["person"], "source": str(c["video"]), "start": start,
                "stride": stride, "reversed": rev, "flipped": flip, "box": box}


def secnet_voxceleb1(data_root, split: str = "train", **kw) -> VoxCeleb1Tracks:
    """The notebooks' entry point: `VoxCeleb1Tracks(data_root, split, **kw)`; data_root=None raises NoDataRoot
    ("skipped: no data_root; expected layout ...")."""
    return VoxCeleb1Tracks(data_root, split, **kw)
