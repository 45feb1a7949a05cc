"""VoxCeleb2 for "Learning to Have an Ear for Face Super-Resolution" (Meishvili et al., CVPR 2020): the paper's
training item, one face frame + 4 s of 16 kHz speech drawn independently from the same video.

Layout (VoxCeleb2's official one, indexed by `data.real.VoxCeleb2`):
    <root>/<dev|test>/mp4/<id>/<video>/<nnnnn>.mp4        224x224 face-track clips, 25 fps (one per utterance)
    <root>/<dev|test>/aac/<id>/<video>/<nnnnn>.m4a        their audio (optional: else the mp4's audio is read)
    <root>/vox2_meta.csv                                  optional: "VoxCeleb2 ID, VGGFace2 ID, Gender, Set"
Here "video" is the YouTube video (<video>/ folder) and a clip one utterance of it, as in the paper's counts
(104K videos, 545K audio tracks, Sec. 4.1).

What the paper fixes (Sec. 4.1, 4.2) and what is chosen here:
- Frame: one frame of a clip, 128x128 (paper). The paper does not say how the 224x224 face track is cropped; here the
  whole track frame (`crop=None`, the tracks are face-centred already) is resized to `frame_size` (bicubic,
  antialiased); any (x0, y0, x1, y1) box can be passed instead.
- Audio: 4 s at 16 kHz = 64000 samples (the released test WAVs are exactly that), "sampled independently (not
  synchronized) from the same short video": the frame's clip and the audio's clip are drawn independently (uniformly)
  among the clips of the same video; the frame is uniform in its clip, the segment offset uniform in its clip.
- Clips shorter than 4 s (rule `short_audio`): "exclude" (default) - such a clip never gives the audio segment (it
  may still give the frame); a video with no clip of at least 4 s is an error naming the video and its clips'
  durations (with skip_bad=True: left out, listed in `skipped`). "pad" - short clips are used, zero-padded at the
  end to 4 s. (VoxCeleb's segments are at least 3 s long, so short clips exist.) Clip durations are read from the
  file headers (`avio.probe`) when the dataset is built: one header read per clip.
- Splits: VoxCeleb2's dev and test speakers are disjoint. "train" and "closed_test" share the dev speakers (the
  closed set: test videos unseen, speakers seen): per speaker, a fraction `closed_test_fraction` of its videos,
  chosen by a seeded hash of the video id, goes to "closed_test" (a speaker with a single video keeps it in
  "train"). "pretrain" is D_pre: per speaker, the first half (same hash order, at least one) of its train videos
  (same speakers, fewer videos). "open_test" is VoxCeleb2's test split (unseen identities).
- Speakers with fewer than `min_videos_per_speaker` videos are left out before the split (listed in
  `dropped_speakers`): the paper keeps ~4K of 6K speakers, each with >= 500 frames, "filtering out speakers with very
  few videos and audio tracks" (its exact threshold is not given).
- Labels: `label` indexes `dataset.speakers` (sorted dev speakers for train/pretrain/closed_test, so a classifier's
  classes agree across the closed-set splits; sorted test speakers for open_test). `gender` from vox2_meta.csv or
  None.

Items are deterministic: item i of a dataset built with `seed` is the same on every call and in every worker.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import torch

from avfh_core.data.avio import MediaError, probe, read_audio, read_video
from avfh_core.data.real import VoxCeleb2
from avfh_core.data.real_common import crop_resize, note_bad, require_root

LAYOUT = ("<root>/<dev|test>/mp4/<id>/<video>/<nnnnn>.mp4 (+ optional <root>/<dev|test>/aac/<id>/<video>/<nnnnn>.m4a, "
          "optional <root>/vox2_meta.csv)")
SAMPLE_RATE = 16000
SPLITS = ("train", "pretrain", "closed_test", "open_test")
SHORT_RULES = ("exclude", "pad")
PAD_TOLERANCE = 160  # samples (10 ms): a decoded clip this much shorter than its header says is padded, not refused


def _hash(seed: int, key: str) -> str:
    return hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()


def read_vox2_meta(path: Path) -> dict[str, str]:
    """vox2_meta.csv -> {speaker id: 'm' | 'f'}. Rows 'id00012 ,n000012 ,m ,dev ' (the official file pads fields
    with spaces); a row whose gender is not m/f raises naming the file and line."""
    out = {}
    for k, line in enumerate(path.read_text().splitlines(), 1):
        parts = [p.strip() for p in line.split(",")]
        if not line.strip() or not parts[0].startswith("id"):
            continue  # the header and blank lines
        if len(parts) < 3 or parts[2] not in ("m", "f"):
            raise ValueError(f"{path}:{k}: expected 'id, vggface2 id, m|f, set', got {line!r}")
        out[parts[0]] = parts[2]
    return out


def split_videos(videos_by_speaker: dict[str, list[str]], closed_test_fraction: float, seed: int
                 ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per speaker: (train videos, closed-test videos), chosen by a seeded hash of the video id; the closed-test
    share is round(fraction * n), at most n - 1 (each speaker keeps at least one training video)."""
    train, test = {}, {}
    for spk, vids in videos_by_speaker.items():
        order = sorted(vids, key=lambda v: _hash(seed, f"{spk}/{v}"))
        k = min(int(round(closed_test_fraction * len(order))), len(order) - 1)
        test[spk], train[spk] = sorted(order[:k]), sorted(order[k:])
    return train, test


class EarVoxCeleb2(torch.utils.data.Dataset):
    """(face frame, 4 s speech segment) pairs from the same VoxCeleb2 video; see the module docstring.

    Each item is a dict: frame [3, frame_size, frame_size] float in [0, 1]; audio [audio_seconds * 16000] float in
    [-1, 1]; sample_rate; speaker (e.g. 'id00012'); label (index in `self.speakers`); gender ('m', 'f' or None);
    video (YouTube id); frame_source, frame_index, audio_source, audio_offset (samples); audio_padded (samples of
    zero padding, > 0 only with short_audio='pad')."""

    def __init__(self, data_root, split: str = "train", frame_size: int = 128, audio_seconds: float = 4.0,
                 crop=None, closed_test_fraction: float = 0.2, items_per_video: int = 1, short_audio: str = "exclude",
                 min_videos_per_speaker: int = 1, seed: int = 0, skip_bad: bool = False,
                 max_videos: int | None = None):
        self.root = require_root(data_root, "VoxCeleb2 (ear)", LAYOUT)
        if split not in SPLITS:
            raise ValueError(f"EarVoxCeleb2: split must be one of {SPLITS}, got {split!r}")
        if short_audio not in SHORT_RULES:
            raise ValueError(f"EarVoxCeleb2: short_audio must be one of {SHORT_RULES}, got {short_audio!r}")
        if not 0.0 <= closed_test_fraction < 1.0:
            raise ValueError(f"EarVoxCeleb2: closed_test_fraction must be in [0, 1), got {closed_test_fraction!r}")
        if not (isinstance(items_per_video, int) and items_per_video >= 1):
            raise ValueError(f"EarVoxCeleb2: items_per_video must be a positive int, got {items_per_video!r}")
        if not audio_seconds > 0:
            raise ValueError(f"EarVoxCeleb2: audio_seconds must be positive, got {audio_seconds!r}")
        if max_videos is not None and (not isinstance(max_videos, int) or max_videos < 1):
            raise ValueError(f"EarVoxCeleb2: max_videos must be a positive int or None, got {max_videos!r}")
        self.split, self.frame_size, self.crop, self.seed = split, frame_size, crop, seed
        self.n_audio = int(round(audio_seconds * SAMPLE_RATE))
        self.items_per_video, self.short_audio, self.skip_bad = items_per_video, short_audio, skip_bad
        self.skipped: list[str] = []
        meta = self.root / "vox2_meta.csv"
        self.genders = read_vox2_meta(meta) if meta.exists() else {}

        source = VoxCeleb2(self.root, "test" if split == "open_test" else "dev", crop=None)  # the layout check
        self.ignored = source.ignored
        clips: dict[tuple[str, str], list[dict]] = {}
        for it in source.items:
            clips.setdefault((it["speaker"], it["youtube"]), []).append(it)
        by_spk: dict[str, list[str]] = {}
        for spk, vid in clips:
            by_spk.setdefault(spk, []).append(vid)
        if not (isinstance(min_videos_per_speaker, int) and min_videos_per_speaker >= 1):
            raise ValueError(f"EarVoxCeleb2: min_videos_per_speaker must be a positive int, got {min_videos_per_speaker!r}")
        self.dropped_speakers = sorted(s for s, v in by_spk.items() if len(v) < min_videos_per_speaker)
        by_spk = {s: v for s, v in by_spk.items() if len(v) >= min_videos_per_speaker}
        self.speakers = sorted(by_spk)
        self.speaker_to_label = {s: k for k, s in enumerate(self.speakers)}
        if split != "open_test":
            train, test = split_videos(by_spk, closed_test_fraction, seed)
            if split == "pretrain":
                train = {s: sorted(sorted(v, key=lambda x: _hash(seed + 1, x))[: max(1, len(v) // 2)])
                         for s, v in train.items()}
            chosen = test if split == "closed_test" else train
        else:
            chosen = by_spk
        keys = [(s, v) for s in self.speakers for v in chosen.get(s, [])]
        if max_videos is not None:
            keys = keys[:max_videos]
        self.videos = []
        for key in keys:
            entry = self._video_entry(key, clips[key])
            if entry is not None:
                self.videos.append(entry)
        if not self.videos:
            raise ValueError(f"EarVoxCeleb2: no usable video for split {split!r} under {self.root} "
                             f"({len(keys)} candidate videos, {len(self.skipped)} skipped; expected {LAYOUT})")

    def _video_entry(self, key: tuple[str, str], clips: list[dict]) -> dict | None:
        spk, vid = key
        durations = []
        for it in clips:
            try:
                info = probe(it["audio"])["audio"]
                if info is None:
                    raise MediaError(f"{it['audio']}: has no audio stream")
                if not info["duration"]:
                    raise MediaError(f"{it['audio']}: audio duration unknown (no duration in the header)")
            except (MediaError, FileNotFoundError) as e:
                note_bad(self, f"video {spk}/{vid}", e)
                return None
            durations.append(float(info["duration"]))
        need = self.n_audio / SAMPLE_RATE
        eligible = [k for k, d in enumerate(durations) if d >= need or self.short_audio == "pad"]
        if not eligible:
            shown = ", ".join(f"{Path(it['audio']).name} {d:.2f} s" for it, d in zip(clips, durations))
            note_bad(self, f"video {spk}/{vid}", MediaError(
                f"{self.root}/{self.split}: video {spk}/{vid} has no clip of at least {need:g} s ({shown}); "
                "short_audio='exclude' uses only clips that long for the audio segment (short_audio='pad' zero-pads)"))
            return None
        return {"speaker": spk, "video": vid, "clips": clips, "durations": durations, "audio_clips": eligible}

    def __len__(self) -> int:
        return len(self.videos) * self.items_per_video

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(f"EarVoxCeleb2: index {i} out of range for {len(self)} items")
        v = self.videos[i // self.items_per_video]
        rng = random.Random(f"{self.seed}:{self.split}:{i}")
        fclip = v["clips"][rng.randrange(len(v["clips"]))]
        aclip = v["clips"][v["audio_clips"][rng.randrange(len(v["audio_clips"]))]]
        video, _ = read_video(fclip["video"])
        t = rng.randrange(video.shape[0])
        frame = crop_resize(video[t], self.crop, self.frame_size, where=str(fclip["video"]))
        audio, sr = read_audio(aclip["audio"], sample_rate=SAMPLE_RATE)
        pad = 0
        if audio.shape[0] < self.n_audio:
            short = self.n_audio - audio.shape[0]
            if self.short_audio != "pad" and short > PAD_TOLERANCE:
                raise MediaError(f"{aclip['audio']}: decoded audio lasts {audio.shape[0] / sr:.3f} s, shorter than the "
                                 f"{self.n_audio / sr:g} s segment (its header said long enough: a truncated file?)")
            pad = short
            audio = torch.nn.functional.pad(audio, (0, short))
        off = rng.randrange(audio.shape[0] - self.n_audio + 1)
        return {"frame": frame, "audio": audio[off: off + self.n_audio], "sample_rate": sr, "speaker": v["speaker"],
                "label": self.speaker_to_label[v["speaker"]], "gender": self.genders.get(v["speaker"]),
                "video": v["video"], "frame_source": str(fclip["video"]), "frame_index": t,
                "audio_source": str(aclip["audio"]), "audio_offset": off, "audio_padded": pad}


def ear_voxceleb2(data_root, split: str = "train", **kw) -> EarVoxCeleb2:
    """The notebooks' entry point: `EarVoxCeleb2(data_root, split, **kw)`; data_root=None raises NoDataRoot
    ("skipped: no data_root; expected layout ...")."""
    return EarVoxCeleb2(data_root, split, **kw)
