"""Loaders for the papers' real datasets, in their official directory layouts, yielding `AVSample`s.

| dataset   | papers                          | layout read here                                                     |
|-----------|---------------------------------|----------------------------------------------------------------------|
| LRW       | VFH-GAN (Sharma et al. Sec. IV) | <root>/<WORD>/<train|val|test>/<WORD>_<nnnnn>.mp4 + .txt             |
| LRS2      | VFH-GAN, talking faces          | <root>/main/<id>/<nnnnn>.mp4 + .txt; optional <root>/<split>.txt     |
| GRID      | Eskimez et al. (talking faces)  | <root>/<spk>/video/*.mpg, <root>/<spk>/audio/*.wav, <root>/<spk>/align/*.align |
| VoxCeleb2 | Meishvili et al. ("an Ear")     | <root>/<dev|test>/mp4/<id>/<video>/<nnnnn>.mp4 (+ aac/.../<nnnnn>.m4a) |
| RAVDESS   | (emotion / identity probes)     | <root>/Actor_<nn>/<MM-VV-EE-II-SS-RR-AA>.mp4                         |

Video and audio are decoded with PyAV (`avfh_core.data.avio`), audio resampled to 16 kHz mono and fitted to the
video length (a mismatch beyond 0.12 s is an error naming the file), video resampled to 25 fps where it is not
(RAVDESS is 29.97 fps). Crops: each loader has the dataset's customary fixed box (`crop="fixed"`), the full frame
(`crop=None`), or any (x0, y0, x1, y1) box; `size` resizes the crop. `landmarks="detector"` runs the optional
dlib 68-point detector (extra: `dlib-bin`, `face-recognition-models`) to fill `AVSample.landmarks`.

Bad input: a missing root raises FileNotFoundError; an empty split raises ValueError naming the pattern searched;
a bad file raises `MediaError` naming it when it is loaded. With `skip_bad=True` every file is decoded once when the
dataset is built (the cost of one pass over the data; `max_items` then counts good clips) and the bad ones are left
out, each named in a warning and listed in `dataset.skipped`: the dataset holds only good files, so no index
returns another index's clip. Media files beside the indexed ones that do not match the layout (e.g. `about_1.mp4`
or an `.avi` in an LRW split directory) are left out with one warning listing a few of them and the expected
layout; all are in `dataset.ignored`.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from avfh_core.data.avio import MediaError, fit_audio_to_video, read_audio, read_video
from avfh_core.data.sample import AVSample

TARGET_RATE = 16000
TARGET_FPS = 25.0
MEDIA_SUFFIXES = frozenset({".mp4", ".mpg", ".mpeg", ".m4a", ".wav", ".avi", ".mov", ".mkv", ".webm", ".flac",
                            ".aac", ".mp3"})


def _root(root: str | os.PathLike, name: str) -> Path:
    if root is None:
        raise ValueError(f"{name}: data_root is None; point it at the dataset's top directory")
    p = Path(root).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"{name}: dataset directory {p} does not exist")
    return p


def _crop_resize(video: torch.Tensor, crop, size: int | None) -> torch.Tensor:
    if crop is not None:
        x0, y0, x1, y1 = (int(v) for v in crop)
        H, W = video.shape[-2:]
        if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
            raise ValueError(f"crop box {crop} is outside the {W}x{H} frame")
        video = video[..., y0:y1, x0:x1]
    if size is not None and tuple(video.shape[-2:]) != (size, size):
        video = F.interpolate(video, size=(size, size), mode="bicubic", align_corners=False,
                              antialias=True).clamp(0, 1)
    return video


def detect_landmarks(video: torch.Tensor) -> torch.Tensor:
    """68 iBUG landmarks per frame [T, 68, 2] with dlib (optional extra); NaN where no face is found."""
    try:
        import dlib
        import face_recognition_models
    except ImportError as e:
        raise ImportError("landmarks='detector' needs the optional extra: pip install dlib-bin "
                          "face-recognition-models") from e
    det = dlib.get_frontal_face_detector()
    pred = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    out = torch.full((video.shape[0], 68, 2), float("nan"))
    frames = (video.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for t, img in enumerate(frames):
        faces = det(img, 1)
        if faces:
            shape = pred(img, max(faces, key=lambda r: r.area()))
            out[t] = torch.tensor([[shape.part(k).x, shape.part(k).y] for k in range(68)], dtype=torch.float32)
    return out


class RealAVDataset(torch.utils.data.Dataset):
    """Base class: a list of items (dicts with at least 'video'), loaded lazily into AVSamples."""

    name = "real"
    fixed_crop: tuple[int, int, int, int] | None = None
    native_rate: int | None = None

    def __init__(self, root, split: str, crop="fixed", size: int | None = None, landmarks: str | None = None,
                 resample: bool = True, skip_bad: bool = False, max_items: int | None = None):
        self.root = _root(root, self.name)
        self.split = split
        self.crop = self.fixed_crop if crop == "fixed" else crop
        self.size, self.resample, self.skip_bad = size, resample, skip_bad
        if landmarks not in (None, "detector"):
            raise ValueError(f"landmarks must be None or 'detector', got {landmarks!r}")
        if max_items is not None and (not isinstance(max_items, int) or max_items < 1):
            raise ValueError(f"max_items must be a positive int or None, got {max_items!r}")
        self.landmarks = landmarks
        self.ignored: list[Path] = []  # media files beside the indexed ones that do not match the layout
        self.skipped: list[str] = []  # files that failed to load (skip_bad=True)
        items = self._index()
        self._warn_ignored()
        if skip_bad:
            items = self._good_items(items, max_items)
        elif max_items is not None:
            items = items[:max_items]
        self.items = items
        if not self.items:
            if self.skipped:
                raise MediaError(f"{self.name}: all {len(self.skipped)} files found for split {split!r} under "
                                 f"{self.root} failed to load (first: {self.skipped[0]})")
            raise ValueError(f"{self.name}: no clips found for split {split!r} under {self.root} "
                             f"(expected {self.pattern()})")

    def _note_strays(self, directory: Path, taken) -> None:
        """Record media files directly in `directory` that the layout did not take (not in `taken`, a set or list)."""
        if directory.is_dir():
            taken = taken if isinstance(taken, (set, frozenset)) else set(taken)
            self.ignored.extend(f for f in sorted(directory.iterdir())
                                if f.suffix.lower() in MEDIA_SUFFIXES and f not in taken and f.is_file())

    def _warn_ignored(self) -> None:
        if self.ignored:
            shown = ", ".join(str(f.relative_to(self.root)) for f in self.ignored[:5])
            more = f" and {len(self.ignored) - 5} more" if len(self.ignored) > 5 else ""
            warnings.warn(f"{self.name}: ignoring {len(self.ignored)} media file(s) under {self.root} that do not "
                          f"match the layout {self.pattern()}: {shown}{more} (all listed in dataset.ignored)",
                          stacklevel=3)

    def _good_items(self, items: list[dict], max_items: int | None) -> list[dict]:
        """skip_bad=True: decode each file once, keep the good ones (up to max_items), warn naming each bad one."""
        good = []
        for item in items:
            if max_items is not None and len(good) >= max_items:
                break
            try:
                self._decode(item)
            except (MediaError, FileNotFoundError) as e:
                self.skipped.append(str(item["video"]))
                warnings.warn(f"{self.name}: skipping bad file: {e}; {len(self.skipped)} skipped so far",
                              stacklevel=3)
                continue
            good.append(item)
        return good

    # subclasses implement these
    def pattern(self) -> str:
        raise NotImplementedError

    def _index(self) -> list[dict]:
        raise NotImplementedError

    def _meta(self, item: dict) -> dict:
        return {}

    def __len__(self) -> int:
        return len(self.items)

    def _decode(self, item: dict) -> tuple[torch.Tensor, float, torch.Tensor, int, Path]:
        video, fps = read_video(item["video"], fps=TARGET_FPS)
        apath = item.get("audio", item["video"])
        expect = None if self.resample else TARGET_RATE
        audio, sr = read_audio(apath, sample_rate=TARGET_RATE if self.resample else None, expect_rate=expect)
        audio = fit_audio_to_video(audio, sr, video.shape[0], fps, apath)
        return video, fps, audio, sr, apath

    def load(self, item: dict) -> AVSample:
        video, fps, audio, sr, _ = self._decode(item)
        video = _crop_resize(video, self.crop, self.size)
        meta = self._meta(item)
        lm = detect_landmarks(video) if self.landmarks == "detector" else None
        return AVSample(video=video, fps=fps, audio=audio, sample_rate=sr, landmarks=lm, text=meta.get("text"),
                        speaker=meta.get("speaker"), attributes=meta.get("attributes", {}),
                        source=str(item["video"]), extras=meta.get("extras", {})).validate()

    def __getitem__(self, i: int) -> AVSample:
        """The clip of items[i]. A file that fails here raises MediaError naming it, also with skip_bad=True (its
        files were checked when the dataset was built: a failure now means the file changed since)."""
        return self.load(self.items[i])


class LRW(RealAVDataset):
    """Lip Reading in the Wild (Chung & Zisserman 2016): 500 words, 29-frame 256x256 clips at 25 fps.

    The fixed crop is the 96x96 mouth box of the early LRW lip readers (rows 115:211, columns 79:175);
    pass crop=None (full frame) or a face box for super-resolution."""

    name = "LRW"
    fixed_crop = (79, 115, 175, 211)

    def __init__(self, root, split: str = "train", words: list[str] | None = None, **kw):
        if split not in ("train", "val", "test"):
            raise ValueError(f"LRW split must be train, val or test, got {split!r}")
        self.words_filter = words
        super().__init__(root, split, **kw)

    def pattern(self):
        return f"{self.root}/<WORD>/{self.split}/<WORD>_<nnnnn>.mp4"

    def _index(self):
        words = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        if self.words_filter is not None:
            missing = set(self.words_filter) - set(words)
            if missing:
                raise ValueError(f"LRW: words {sorted(missing)} not found under {self.root}")
            words = sorted(self.words_filter)
        self.vocabulary = words
        items = []
        self._note_strays(self.root, ())
        for wi, w in enumerate(words):
            files = sorted((self.root / w / self.split).glob(f"{w}_*.mp4"))
            self._note_strays(self.root / w, ())
            self._note_strays(self.root / w / self.split, files)
            for f in files:
                items.append({"video": f, "word": w, "word_index": wi, "txt": f.with_suffix(".txt")})
        return items

    def _meta(self, item):
        extras = {"word_index": item["word_index"]}
        if item["txt"].exists():
            m = re.search(r"Duration:\s*([\d.]+)", item["txt"].read_text())
            if m:
                extras["word_duration"] = float(m.group(1))
        return {"text": item["word"], "extras": extras}


class LRS2(RealAVDataset):
    """LRS2-BBC (Afouras et al. 2018): sentences, 160x160 at 25 fps. Text from the .txt 'Text:' line, word
    timings from its table (WORD START END ASDSCORE). Fixed crop: none (the clips are face tracks)."""

    name = "LRS2"

    def __init__(self, root, split: str = "main", **kw):
        super().__init__(root, split, **kw)

    def pattern(self):
        return f"{self.root}/main/<id>/<nnnnn>.mp4 (+ optional {self.root}/{self.split}.txt list)"

    def _index(self):
        main = self.root / "main"
        lst = self.root / f"{self.split}.txt"
        if lst.exists():
            names = [ln.split()[0] for ln in lst.read_text().splitlines() if ln.strip()]
            files = [main / f"{n}.mp4" for n in names]
        elif self.split == "main":
            files = sorted(main.glob("*/*.mp4"))
            self._note_strays(main, ())
            taken = set(files)
            for d in sorted(p for p in main.iterdir() if p.is_dir()) if main.is_dir() else []:
                self._note_strays(d, taken)
        else:
            return []
        return [{"video": f, "txt": f.with_suffix(".txt"), "speaker": f.parent.name} for f in files]

    def _meta(self, item):
        text, words = None, []
        if item["txt"].exists():
            lines = item["txt"].read_text().splitlines()
            for ln in lines:
                if ln.startswith("Text:"):
                    text = ln[5:].strip()
            for ln in lines:
                parts = ln.split()
                if len(parts) >= 3 and re.fullmatch(r"[\d.]+", parts[1] or "") and re.fullmatch(r"[\d.]+", parts[2]):
                    words.append((parts[0], float(parts[1]), float(parts[2])))
        return {"text": text, "speaker": item["speaker"], "extras": {"words": words}}


class GRID(RealAVDataset):
    """GRID (Cooke et al. 2006): 34 speakers x 1000 six-word commands, 3 s at 25 fps, 25 kHz audio.

    Alignments are in units of 1/25000 s ('start end word'); 'sil' and 'sp' are dropped from the text. A
    speaker-wise split: `speakers` selects which speakers (e.g. ['s1', 's2'])."""

    name = "GRID"
    fixed_crop = None

    def __init__(self, root, split: str = "all", speakers: list[str] | None = None, **kw):
        self.speakers = speakers
        super().__init__(root, split, **kw)

    def pattern(self):
        return f"{self.root}/<spk>/video/<id>.mpg with <spk>/audio/<id>.wav and <spk>/align/<id>.align"

    def _index(self):
        spks = sorted(p.name for p in self.root.iterdir() if p.is_dir() and re.fullmatch(r"s\d+", p.name))
        if self.speakers is not None:
            spks = [s for s in spks if s in set(self.speakers)]
        items = []
        for s in spks:
            videos = sorted((self.root / s / "video").glob("*.mpg"))
            self._note_strays(self.root / s / "video", videos)
            stems = {f.stem for f in videos}
            wavs = sorted((self.root / s / "audio").glob("*.wav"))
            self._note_strays(self.root / s / "audio", wavs)
            self.ignored.extend(f for f in wavs if f.stem not in stems)  # audio without its video
            for f in videos:
                items.append({"video": f, "audio": self.root / s / "audio" / f"{f.stem}.wav",
                              "align": self.root / s / "align" / f"{f.stem}.align", "speaker": s})
        return items

    def _meta(self, item):
        words = []
        if item["align"].exists():
            for ln in item["align"].read_text().splitlines():
                parts = ln.split()
                if len(parts) == 3 and parts[2] not in ("sil", "sp"):
                    words.append((parts[2], int(parts[0]) / 25000.0, int(parts[1]) / 25000.0))
        return {"text": " ".join(w for w, _, _ in words) or None, "speaker": item["speaker"],
                "extras": {"words": words}}


class VoxCeleb2(RealAVDataset):
    """VoxCeleb2 (Chung et al. 2018): 6k+ identities, 224x224 face tracks at 25 fps; audio from the matching
    aac/<id>/<video>/<nnnnn>.m4a when present, else from the mp4. split: 'dev' or 'test'."""

    name = "VoxCeleb2"

    def __init__(self, root, split: str = "dev", **kw):
        super().__init__(root, split, **kw)

    def pattern(self):
        return f"{self.root}/{self.split}/mp4/<id>/<video>/<nnnnn>.mp4"

    def _index(self):
        base = self.root / self.split / "mp4"
        items = []
        for f in sorted(base.rglob("*")) if base.is_dir() else []:
            if f.suffix.lower() not in MEDIA_SUFFIXES:
                continue
            rel = f.relative_to(base)
            if f.suffix != ".mp4" or len(rel.parts) != 3 or not rel.parts[0].startswith("id"):
                self.ignored.append(f)
                continue
            m4a = self.root / self.split / "aac" / rel.with_suffix(".m4a")
            items.append({"video": f, "audio": m4a if m4a.exists() else f, "speaker": rel.parts[0],
                          "youtube": rel.parts[1]})
        return items

    def _meta(self, item):
        return {"speaker": item["speaker"], "extras": {"youtube_id": item["youtube"]}}


RAVDESS_EMOTIONS = {1: "neutral", 2: "calm", 3: "happy", 4: "sad", 5: "angry", 6: "fearful", 7: "disgust",
                    8: "surprised"}
RAVDESS_STATEMENTS = {1: "KIDS ARE TALKING BY THE DOOR", 2: "DOGS ARE SITTING BY THE DOOR"}


def parse_ravdess_name(name: str) -> dict:
    """'03-01-06-01-02-01-12' -> modality, vocal channel, emotion, intensity, statement, repetition, actor, gender
    (odd actors male, even female)."""
    parts = Path(name).stem.split("-")
    if len(parts) != 7 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{name}: not a RAVDESS file name (7 two-digit fields MM-VV-EE-II-SS-RR-AA)")
    mo, vc, em, it, st, rep, actor = (int(p) for p in parts)
    return dict(modality={1: "audio-video", 2: "video-only", 3: "audio-only"}.get(mo, str(mo)),
                vocal_channel={1: "speech", 2: "song"}.get(vc, str(vc)), emotion=RAVDESS_EMOTIONS.get(em, str(em)),
                intensity={1: "normal", 2: "strong"}.get(it, str(it)), statement=st, repetition=rep, actor=actor,
                gender="m" if actor % 2 else "f")


class RAVDESS(RealAVDataset):
    """RAVDESS (Livingstone & Russo 2018): 24 actors, 29.97 fps 1280x720 video (resampled here to 25 fps),
    48 kHz audio. Only full audio-video files (modality 01) are loaded; `vocal_channel` picks speech or song."""

    name = "RAVDESS"

    def __init__(self, root, split: str = "all", vocal_channel: str = "speech", **kw):
        self.vocal_channel = vocal_channel
        super().__init__(root, split, **kw)

    def pattern(self):
        return f"{self.root}/Actor_<nn>/01-<VV>-<EE>-<II>-<SS>-<RR>-<AA>.mp4"

    def _index(self):
        items = []
        for f in sorted(self.root.glob("Actor_*/*")):
            if f.suffix.lower() not in MEDIA_SUFFIXES:
                continue
            try:
                meta = parse_ravdess_name(f.name)
            except ValueError:
                self.ignored.append(f)
                continue
            if f.suffix == ".mp4" and meta["modality"] == "audio-video" and meta["vocal_channel"] == self.vocal_channel:
                items.append({"video": f, "meta": meta})
        return items

    def _meta(self, item):
        m = item["meta"]
        return {"text": RAVDESS_STATEMENTS.get(m["statement"]), "speaker": f"Actor_{m['actor']:02d}",
                "attributes": {"gender": m["gender"], "emotion": m["emotion"], "intensity": m["intensity"]},
                "extras": dict(m)}


LOADERS = {"lrw": LRW, "lrs2": LRS2, "grid": GRID, "voxceleb2": VoxCeleb2, "ravdess": RAVDESS}


def open_dataset(name: str, root, split: str | None = None, **kw) -> RealAVDataset:
    """`open_dataset("lrw", data_root, "train", crop=None, size=128)` -> the loader for that dataset."""
    key = name.lower()
    if key not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(LOADERS)}")
    return LOADERS[key](root, split, **kw) if split is not None else LOADERS[key](root, **kw)
