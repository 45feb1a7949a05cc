"""The real-data path of the talking-face reproduction: LRW and GRID clips (Eskimez et al., sec. 4.1) read by the
project's loaders (`data.real`) and turned into the items the synthetic worlds give (`train.talkingface.ClipSet`):
8 kHz speech, 320 samples per frame, a square face crop at the run's image size, the condition frame, the mouth mask
and box, and, as test items, the same noisy versions (the five unseen noise types, the two SNR bands).

Landmarks, which the mask, the mouth box and NLMD need, come from one of two sources:
- "detector": dlib's 68-point detector on the full frames (the optional `dlib` extra; the paper used dlib), then a
  square crop around the face (`face_crop`): for real faces;
- "estimator": the in-project estimator (`train.talkingface_landmarker`) on frames already at the run's size: it is
  trained on the synthetic world, so it is right only for clips that look like it (the round trip of notebook 03,
  which writes synthetic clips in LRW's and GRID's layouts and reads them back), not for real faces.

Every clip is cut to the shortest clip's length, so that one batch holds them all (LRW clips are 29 frames, GRID's
75). Bad input: no data folder, an unknown dataset or landmark source, a clip with no face, each a ValueError
naming what is wrong; a bad media file is left out with a warning naming it (`skip_bad`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from avfh_core.data import noise_bank as nb
from avfh_core.data.avio import write_av
from avfh_core.data.real import open_dataset
from avfh_core.data.sample import AVSample
from avfh_core.metrics.video import video_psnr
from avfh_core.train import talkingface as tf

LANDMARK_SOURCES = ("detector", "estimator")
SPLITS = {"lrw": "test", "grid": "all"}  # GRID is never trained on (sec. 4.1): every clip is a test clip
FACE_MARGIN = 1.6  # crop side / the larger extent of the 68 landmarks (median over frames): the face and some hair


def face_crop(sample: AVSample, size: int, margin: float = FACE_MARGIN) -> AVSample:
    """A square crop around the face (one box for the whole clip: the median landmark extent and centre over the
    frames, `margin` times the larger extent), resized to `size` x `size`; landmarks moved into the crop. Outside the
    frame the crop is padded with edge pixels."""
    lm = sample.landmarks
    if lm is None:
        raise ValueError(f"face_crop: {sample.source} has no landmarks")
    if size < 8 or margin <= 1.0:
        raise ValueError(f"face_crop: size must be >= 8 and margin > 1, got {size} and {margin}")
    lo, hi = lm.min(1).values, lm.max(1).values  # [T, 2]
    centre = ((lo + hi) / 2).median(0).values
    side = float(margin * (hi - lo).max(1).values.median())
    if not side > 1.0:
        raise ValueError(f"face_crop: {sample.source}: the landmarks span {side / margin:.2f} px; no face was found")
    x0, y0 = (centre - side / 2).round().long().tolist()
    s = int(round(side))
    H, W = sample.video.shape[-2:]
    pad = (max(0, -x0), max(0, x0 + s - W), max(0, -y0), max(0, y0 + s - H))
    video = F.pad(sample.video, pad, mode="replicate") if any(pad) else sample.video
    x, y = x0 + pad[0], y0 + pad[2]
    video = video[..., y:y + s, x:x + s]
    video = F.interpolate(video, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    moved = (lm - torch.tensor([x0, y0], dtype=lm.dtype)) * (size / s)
    return dataclasses.replace(sample, video=video.clamp(0, 1), landmarks=moved)


def _cut(sample: AVSample, frames: int) -> AVSample:
    per_frame = sample.sample_rate / sample.fps
    return dataclasses.replace(sample, video=sample.video[:frames], landmarks=sample.landmarks[:frames],
                               audio=sample.audio[: int(round(frames * per_frame))])


LAYOUT_NAMES = {"lrw": ("LRW", "lrw"), "grid": ("GRID", "grid")}


def dataset_root(data_root: str | os.PathLike | None, dataset: str) -> Path | None:
    """<data_root>/LRW (or lrw) and <data_root>/GRID (or grid): where notebook 03 looks for each dataset; None when
    data_root is None or holds no such folder."""
    if dataset not in LAYOUT_NAMES:
        raise ValueError(f"dataset must be one of {sorted(LAYOUT_NAMES)}, got {dataset!r}")
    if data_root is None:
        return None
    base = Path(data_root).expanduser()
    return next((base / n for n in LAYOUT_NAMES[dataset] if (base / n).is_dir()), None)


def write_layout(root: str | os.PathLike, dataset: str, items) -> Path:
    """ClipSet items (video, 8 kHz audio) written as files in LRW's (<root>/WORD/test/WORD_<n>.mp4, H.264 + AAC) or
    GRID's (<root>/s1/video/<id>.mpg, audio/<id>.wav, align/<id>.align) layout: the round trip that exercises the
    real-data path without the datasets. Returns root."""
    if dataset not in SPLITS:
        raise ValueError(f"write_layout: dataset must be one of {sorted(SPLITS)}, got {dataset!r}")
    root = Path(root)
    for i, it in enumerate(items):
        video, audio = it["video"], it["audio"]
        if dataset == "lrw":
            write_av(root / "WORD" / "test" / f"WORD_{i + 1:05d}.mp4", video, audio, sample_rate=nb.SAMPLE_RATE)
        else:
            spk = root / "s1"
            write_av(spk / "video" / f"clip{i:03d}.mpg", video, None)
            write_av(spk / "audio" / f"clip{i:03d}.wav", None, audio, sample_rate=nb.SAMPLE_RATE)
            (spk / "align").mkdir(parents=True, exist_ok=True)
            end = int(round(len(audio) / nb.SAMPLE_RATE * 25000))
            (spk / "align" / f"clip{i:03d}.align").write_text(f"0 {end} clip\n")
    return root


def round_trip_fidelity(original: tf.ClipSet, read_back: tf.ClipSet) -> dict[str, float]:
    """How much of each clip survived `write_layout` and `real_clips`, averaged over clips: the frames' PSNR (dB)
    against the originals (`metrics.video.video_psnr`: RGB, from the clip's pooled MSE, as `video_scores` scores),
    the speech's correlation with the original speech, and the frame-to-frame motion kept (mean |frame t - frame 0|
    of the read-back clip over the original's; lossy codecs at small sizes drop it)."""
    if len(original) != len(read_back):
        raise ValueError(f"round_trip_fidelity: {len(original)} original clips but {len(read_back)} read back")
    psnr, corr, motion = [], [], []
    for a, b in zip(original.items, read_back.items):
        T = b["video"].shape[0]
        va, vb = a["video"][:T], b["video"]
        psnr.append(float(video_psnr(vb, va)))
        sa, sb = a["audio"][: len(b["audio"])], b["audio"]
        corr.append(float(torch.corrcoef(torch.stack([sa, sb]))[0, 1]) if sa.std() > 0 and sb.std() > 0 else 0.0)
        moved = (va[1:] - va[:1]).abs().mean()
        motion.append(float((vb[1:] - vb[:1]).abs().mean() / moved) if moved > 0 else float("nan"))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return {"video_psnr": mean(psnr), "speech_corr": mean(corr), "motion_ratio": mean(motion)}


def real_clips(cfg, dataset: str, *, root: str | os.PathLike | None = None, max_items: int | None = None,
               landmarks: str = "detector", noisy: bool = True) -> tf.ClipSet:
    """Test clips of LRW ("lrw": its test split) or GRID ("grid": every speaker) from `root` (default
    cfg.data_root), at most `max_items` (default cfg.talkingface_eval_clips), as a `ClipSet` that `snr_sweep` and
    `score` take like the synthetic test clips."""
    if dataset not in SPLITS:
        raise ValueError(f"real_clips: dataset must be one of {sorted(SPLITS)}, got {dataset!r}")
    if landmarks not in LANDMARK_SOURCES:
        raise ValueError(f"real_clips: landmarks must be one of {LANDMARK_SOURCES}, got {landmarks!r}")
    root = cfg.data_root if root is None else root
    if root is None:
        raise ValueError("real_clips: no data folder; set data_root to a folder holding LRW or GRID in their "
                         "official layouts (see avfh_core/data/real.py)")
    n = int(max_items if max_items is not None else cfg.talkingface_eval_clips)
    size = int(cfg.hr_size)
    detect = landmarks == "detector"
    ds = open_dataset(dataset, root, SPLITS[dataset], crop=None, size=None if detect else size,
                      landmarks="detector" if detect else None, max_items=n, skip_bad=True)
    if detect:
        samples = [face_crop(ds[i], size) for i in range(len(ds))]
    else:
        from avfh_core.train import talkingface_landmarker as tl  # (it imports train.talkingface)

        est = tl.scorer(cfg)[0]
        samples = []
        for i in range(len(ds)):
            s = ds[i]
            if tuple(s.video.shape[-2:]) != (size, size):
                raise ValueError(f"real_clips: {s.source} is {tuple(s.video.shape[-2:])} after the loader's resize; "
                                 f"the estimator needs square {size} x {size} frames")
            with torch.no_grad():
                samples.append(dataclasses.replace(s, landmarks=tl.estimate(est, s.video)))
    frames = min(s.video.shape[0] for s in samples)
    return tf.ClipSet([_cut(s, frames) for s in samples], float(cfg.talkingface_mask_sigma), noisy=noisy)


__all__ = ["FACE_MARGIN", "LANDMARK_SOURCES", "LAYOUT_NAMES", "SPLITS", "dataset_root", "face_crop", "real_clips",
           "round_trip_fidelity", "write_layout"]
