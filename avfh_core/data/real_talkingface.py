"""LRW and GRID for the talking-face paper (Eskimez et al., noise-resilient end-to-end talking faces): the paper's
input through the existing loaders (`data.real.LRW`, `data.real.GRID`, their official layouts):

- speech at 8 kHz (320 samples per 25 fps frame): the loaders' 16 kHz audio resampled with torchaudio
  (`real_common.resample_audio`, windowed-sinc low-pass at 0.99 x 4 kHz);
- face crops at `size` (the paper: 128): with landmarks (the loaders' optional dlib detector, landmarks="detector",
  or any callable video [T, 3, H, W] -> [T, 68, 2]), every frame is registered by a similarity transform of three
  points, the mean of the left-eye, right-eye and nose landmarks, to a template (the paper, Sec. 4.1); the template
  (TEMPLATE3, fractions of the crop: eyes at (0.34, 0.40) and (0.66, 0.40), nose centroid at (0.50, 0.58), a face
  about 0.7 of the crop wide) is our choice, the paper's is not published. Frames where the detector found no face
  take the transform of the nearest frame that has one; a clip with no face at all raises naming the file. Without
  landmarks (align="box") every frame is cropped to `box` (default: the frame's centre square) and resized;
- near-frontal: `max_frontal_offset` keeps only clips whose median |nose-tip x - eye-midpoint x| / eye distance
  (a yaw proxy: 0 frontal, about 0.3 at 30 degrees) is at most that value; the check decodes every clip once when
  the dataset is built (left-out clips are listed in `not_frontal`). LRW is mostly near-frontal already;
- a condition frame per clip (the identity image): frame `condition_frame` of the aligned clip (default 0: LRW's
  word is centred in its 1.16 s clip, so frame 0 is usually before it), or "random" (seeded per item).

Splits, as the paper uses them (Sec. 4.1): LRW's official train / val / test ("we followed the same splits as
[18]"), evaluation on 1000 random test clips; GRID only for evaluation (never trained on): 1000 random clips over all
speakers. `n_clips` with `seed` draws such a random subset (sorted, reproducible); GRID's `speakers` still selects
speakers.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from avfh_core.data.avio import MediaError
from avfh_core.data.landmarks import LEFT_EYE, NOSE, RIGHT_EYE, procrustes
from avfh_core.data.real import GRID, LRW
from avfh_core.data.real_common import crop_resize, note_bad, require_root, resample_audio, square_box

LAYOUTS = {"lrw": "<root>/<WORD>/<train|val|test>/<WORD>_<nnnnn>.mp4 (+ .txt)",
           "grid": "<root>/<spk>/video/<id>.mpg, <root>/<spk>/audio/<id>.wav, <root>/<spk>/align/<id>.align"}
TEMPLATE3 = ((0.34, 0.40), (0.66, 0.40), (0.50, 0.58))
SAMPLE_RATE = 8000
NOSE_TIP = 30


def three_points(landmarks: torch.Tensor) -> torch.Tensor:
    """[..., 68, 2] -> [..., 3, 2]: the mean of the left-eye (36-41), right-eye (42-47) and nose (27-35) points."""
    return torch.stack([landmarks[..., LEFT_EYE, :].mean(-2), landmarks[..., RIGHT_EYE, :].mean(-2),
                        landmarks[..., NOSE, :].mean(-2)], -2)


def frontal_offset(landmarks: torch.Tensor) -> float:
    """Median over frames of |nose-tip x - eye-midpoint x| / eye distance (a yaw proxy; frames without a face are
    ignored)."""
    p = three_points(landmarks)
    mid = (p[..., 0, :] + p[..., 1, :]) / 2
    dist = (p[..., 1, :] - p[..., 0, :]).norm(dim=-1).clamp_min(1e-6)
    off = ((landmarks[..., NOSE_TIP, 0] - mid[..., 0]).abs() / dist).reshape(-1)
    off = off[torch.isfinite(off)]
    return float(off.median()) if off.numel() else float("nan")


def align_faces(video: torch.Tensor, landmarks: torch.Tensor, size: int, template=TEMPLATE3, where: str = "video"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Register each frame of video [T, 3, H, W] by the similarity transform taking its three points (eyes, nose) of
    `landmarks` [T, 68, 2] (pixels, NaN where no face was found) to `template` x size. Returns (aligned video
    [T, 3, size, size], aligned landmarks [T, 68, 2]; NaN rows stay NaN). Frames without a face use the transform of
    the nearest frame with one; MediaError naming `where` when no frame has a face."""
    T, _, H, W = video.shape
    if tuple(landmarks.shape) != (T, 68, 2):
        raise ValueError(f"{where}: landmarks must be [T, 68, 2] = [{T}, 68, 2], got {tuple(landmarks.shape)}")
    pts = three_points(landmarks.float())
    ok = torch.isfinite(pts).all(-1).all(-1)
    if not bool(ok.any()):
        raise MediaError(f"{where}: no face found in any of its {T} frames (the landmarks are all NaN)")
    good = torch.nonzero(ok)[:, 0]
    nearest = good[(torch.arange(T)[:, None] - good[None]).abs().argmin(1)]
    tmpl = torch.tensor(template, dtype=torch.float32) * size
    _, A = procrustes(pts[nearest], tmpl.expand(T, 3, 2))  # [T, 2, 3]: dst = L src + t
    L, t = A[:, :, :2], A[:, :, 2]
    Linv = torch.linalg.inv(L)
    D = torch.diag(torch.tensor([2.0 / W, 2.0 / H]))
    half = size / 2
    theta = torch.cat([D @ Linv * half, (D @ (Linv @ (half - t)[..., None]))[..., 0][..., None] - 1], -1)
    grid = F.affine_grid(theta, (T, 3, size, size), align_corners=False)
    out = F.grid_sample(video, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp(0, 1)
    lm = landmarks.float() @ L.transpose(-1, -2) + t[:, None, :]
    return out, lm


class TalkingFaceReal(torch.utils.data.Dataset):
    """LRW or GRID clips as the talking-face paper's input; see the module docstring. Each item is a dict: video
    [T, 3, size, size] float in [0, 1]; audio [T * 320] at 8 kHz; sample_rate; condition [3, size, size];
    condition_index; landmarks (aligned, [T, 68, 2]) or None; frontal_offset (or None without landmarks); text;
    speaker; source; dataset."""

    def __init__(self, data_root, dataset: str = "lrw", split: str | None = None, size: int = 128,
                 sample_rate: int = SAMPLE_RATE, landmarks=None, align: str | None = None, box=None,
                 condition_frame: int | str = 0, max_frontal_offset: float | None = None, n_clips: int | None = None,
                 seed: int = 0, skip_bad: bool = False, **loader_kw):
        key = str(dataset).lower()
        if key not in LAYOUTS:
            raise ValueError(f"TalkingFaceReal: dataset must be 'lrw' or 'grid', got {dataset!r}")
        self.root = require_root(data_root, f"{key.upper()} (talking faces)", LAYOUTS[key])
        align = align or ("landmarks" if landmarks is not None else "box")
        if align not in ("landmarks", "box"):
            raise ValueError(f"TalkingFaceReal: align must be 'landmarks' or 'box', got {align!r}")
        if align == "landmarks" and landmarks is None:
            raise ValueError("TalkingFaceReal: align='landmarks' needs landmarks='detector' or a callable "
                             "video -> [T, 68, 2]")
        if max_frontal_offset is not None and align != "landmarks":
            raise ValueError("TalkingFaceReal: max_frontal_offset needs landmarks (the yaw proxy is read from them)")
        if not (condition_frame == "random" or (isinstance(condition_frame, int) and condition_frame >= 0)):
            raise ValueError(f"TalkingFaceReal: condition_frame must be a frame index >= 0 or 'random', "
                             f"got {condition_frame!r}")
        if n_clips is not None and (not isinstance(n_clips, int) or n_clips < 1):
            raise ValueError(f"TalkingFaceReal: n_clips must be a positive int or None, got {n_clips!r}")
        self.dataset, self.size, self.sample_rate, self.align, self.box = key, size, sample_rate, align, box
        self.condition_frame, self.seed, self.skip_bad = condition_frame, seed, skip_bad
        self.landmarks_fn = landmarks if callable(landmarks) else None
        detector = "detector" if landmarks == "detector" else None
        if landmarks is not None and detector is None and self.landmarks_fn is None:
            raise ValueError(f"TalkingFaceReal: landmarks must be None, 'detector' or a callable, got {landmarks!r}")
        kw = dict(crop=None, landmarks=detector, skip_bad=skip_bad, **loader_kw)
        if key == "lrw":
            self.source = LRW(self.root, split or "train", **kw)
        else:
            self.source = GRID(self.root, split or "all", **kw)
        self.skipped = list(self.source.skipped)
        items = list(self.source.items)
        if n_clips is not None and n_clips < len(items):
            keep = sorted(random.Random(seed).sample(range(len(items)), n_clips))
            items = [items[k] for k in keep]
        self.not_frontal: list[str] = []
        self.max_frontal_offset = max_frontal_offset
        if max_frontal_offset is not None:
            kept = []
            for it in items:
                try:
                    off = self._load(it)[2]
                except (MediaError, FileNotFoundError) as e:
                    note_bad(self, it["video"], e)
                    continue
                if off <= max_frontal_offset:
                    kept.append(it)
                else:
                    self.not_frontal.append(str(it["video"]))
            items = kept
        self.items = items
        if not self.items:
            raise ValueError(f"TalkingFaceReal: no clips left for {key} split {split!r} under {self.root} "
                             f"({len(self.not_frontal)} not near-frontal, {len(self.skipped)} skipped)")

    def _load(self, item: dict):
        s = self.source.load(item)
        where = s.source
        lm = s.landmarks
        if self.landmarks_fn is not None:
            lm = self.landmarks_fn(s.video)
            if not isinstance(lm, torch.Tensor):
                raise TypeError(f"{where}: the landmarks callable returned {type(lm).__name__}, not a tensor")
        if self.align == "landmarks":
            video, lm = align_faces(s.video, lm, self.size, where=where)
            off = frontal_offset(lm)
        else:
            H, W = s.video.shape[-2:]
            box = self.box if self.box is not None else square_box((0, 0, W, H), W, H)
            video, lm, off = crop_resize(s.video, box, self.size, where=where), None, None
        audio = resample_audio(s.audio, s.sample_rate, self.sample_rate)
        need = int(round(s.num_frames / s.fps * self.sample_rate))
        audio = F.pad(audio, (0, max(0, need - audio.shape[0])))[:need]
        return s, video, off, lm, audio

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        s, video, off, lm, audio = self._load(self.items[i])
        T = video.shape[0]
        if self.condition_frame == "random":
            c = random.Random(f"{self.seed}:{i}").randrange(T)
        else:
            c = self.condition_frame
            if c >= T:
                raise ValueError(f"{s.source}: condition_frame {c} is beyond its {T} frames")
        return {"video": video, "audio": audio, "sample_rate": self.sample_rate, "condition": video[c],
                "condition_index": c, "landmarks": lm, "frontal_offset": off, "text": s.text, "speaker": s.speaker,
                "source": s.source, "dataset": self.dataset}


def talkingface_lrw(data_root, split: str = "train", **kw) -> TalkingFaceReal:
    """The notebooks' LRW entry point (official splits); data_root=None raises NoDataRoot ("skipped: ...")."""
    return TalkingFaceReal(data_root, "lrw", split, **kw)


def talkingface_grid(data_root, n_clips: int | None = 1000, **kw) -> TalkingFaceReal:
    """The notebooks' GRID entry point: the paper's evaluation set, `n_clips` random clips over all speakers
    (None: all); data_root=None raises NoDataRoot ("skipped: ...")."""
    return TalkingFaceReal(data_root, "grid", None, n_clips=n_clips, **kw)
