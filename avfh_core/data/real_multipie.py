"""CMU Multi-PIE pairs for VividGAN (Zhang et al.): (non-frontal image, frontal image of the same subject, session,
recording and illumination) with yaw labels.

Layout (Multi-PIE's official one):
    <root>/data/session<SS>/multiview/<sub>/<rec>/<cam>/<sub>_<SS>_<rec>_<camnum>_<ill>.png
e.g. data/session01/multiview/001/01/05_1/001_01_01_051_00.png: subject 001, session 01, recording 01 (an
expression, table RECORDING_EXPRESSIONS), camera 05_1 (file-name form 051), illumination 00-19 (00: no flash).

Cameras (CAMERA_YAW): the 13 head-height cameras in 15-degree steps, in the order of the list most face
frontalization work uses (11_0 ... 24_0 = -90 ... +90, 05_1 frontal); the sign convention differs between papers
and the paper's tables use |yaw| (+-15 ... +-90), so only the magnitude matters for them. The two elevated cameras
08_1 and 19_1 are not in the yaw grid and are left out (listed in `ignored_cameras`).

Pairs: every image of a camera in `yaws` (default: the paper's +-15 ... +-90) is paired with the frontal (05_1) image
of the same subject, session and recording (hence the same expression), under the same illumination
(`frontal_illumination=None`: Multi-PIE's cameras share the flash, so the pair differs only in pose) or under one
fixed illumination (e.g. "07", canonical light for every truth). A missing frontal partner raises naming the image
and the partner path expected (skip_bad=True: left out, listed in `skipped`).

Subject split: the paper's train and test subjects are disjoint (Tab. VI: 50 test identities of 337); `split_subjects`
puts the highest `test_fraction` of the subject ids (default 50/337, at least one) in "test", or pass `subjects=`.
Crop: Multi-PIE frames are 640x480 and the face's place depends on the camera; the paper's crop is not given. Here
crop=None takes each image's centre square, a box (x0, y0, x1, y1) crops every image alike, and a callable
`crop(image [3, H, W], meta dict) -> box` gives a per-image box (e.g. from landmarks); then resize to `size`.
`gallery()` lists the Tab. VI gallery: per subject its frontal, neutral (recording 01), `gallery_illumination` image.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import torch

from avfh_core.data.real_common import crop_resize, note_bad, require_root, square_box

LAYOUT = ("<root>/data/session<SS>/multiview/<sub>/<rec>/<cam e.g. 05_1>/<sub>_<SS>_<rec>_<camnum e.g. 051>_<ill>.png "
          "(frontal camera 05_1)")
FRONTAL = "05_1"
# Camera -> yaw in degrees for the 13 cameras at head height. The magnitudes agree with the table used by public
# Multi-PIE frontalisation preprocessing code (e.g. 24_0 -> 90, 01_0 -> 75, 20_0 -> 60, 19_0 -> 45, 04_1 -> 30,
# 05_0 -> 15; 14_0 -> -15 ... 11_0 -> -90); which side counts as positive is a convention (ours: 05_0 side +).
CAMERA_YAW = {"11_0": -90, "12_0": -75, "09_0": -60, "08_0": -45, "13_0": -30, "14_0": -15, FRONTAL: 0,
              "05_0": 15, "04_1": 30, "19_0": 45, "20_0": 60, "01_0": 75, "24_0": 90}
ELEVATED_CAMERAS = ("08_1", "19_1")
PAPER_YAWS = (15, 30, 45, 60, 75, 90)  # paired with 0 on both sides
RECORDING_EXPRESSIONS = {(1, 1): "neutral", (1, 2): "smile", (2, 1): "neutral", (2, 2): "surprise", (2, 3): "squint",
                         (3, 1): "neutral", (3, 2): "smile", (3, 3): "disgust", (4, 1): "neutral", (4, 2): "neutral",
                         (4, 3): "scream"}
_NAME = re.compile(r"(\d{3})_(\d{2})_(\d{2})_(\d{3})_(\d{2})\.png")


def parse_multipie_path(path: Path, root: Path) -> dict:
    """Metadata of one image, checking the folder names against the file name; ValueError naming the file."""
    rel = path.relative_to(root)
    parts = rel.parts
    m = _NAME.fullmatch(path.name)
    if (len(parts) != 7 or parts[0] != "data" or not re.fullmatch(r"session\d{2}", parts[1]) or parts[2] != "multiview"
            or m is None):
        raise ValueError(f"{path}: not in the Multi-PIE layout {LAYOUT}")
    sub, ses, rec, camnum, ill = m.groups()
    cam = f"{camnum[:2]}_{camnum[2]}"
    if (parts[1][-2:], parts[3], parts[4], parts[5]) != (ses, sub, rec, cam):
        raise ValueError(f"{path}: file name says subject {sub}, session {ses}, recording {rec}, camera {cam} but the "
                         f"folders say {parts[3]}, {parts[1]}, {parts[4]}, {parts[5]}")
    return {"path": path, "subject": sub, "session": int(ses), "recording": int(rec), "camera": cam,
            "illumination": ill, "expression": RECORDING_EXPRESSIONS.get((int(ses), int(rec)), "unknown")}


def split_subjects(subjects: list[str], test_fraction: float = 50 / 337) -> dict[str, list[str]]:
    """{'train', 'test'}: the highest-numbered round(test_fraction * n) subjects (at least one when n >= 2) test."""
    order = sorted(subjects)
    n_test = max(int(round(test_fraction * len(order))), 1 if len(order) >= 2 else 0)
    return {"train": order[:len(order) - n_test], "test": order[len(order) - n_test:]}


def load_image(path: str | Path) -> torch.Tensor:
    """An image file -> [3, H, W] float in [0, 1] (RGB; grey and RGBA converted). ValueError naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255


class MultiPIEPairs(torch.utils.data.Dataset):
    """Multi-PIE (non-frontal, frontal) pairs; see the module docstring. Each item is a dict: input [3, size, size]
    (non-frontal), frontal [3, size, size] (float in [0, 1]), yaw (degrees), camera, subject, session, recording,
    illumination, frontal_illumination, expression, source, frontal_source."""

    def __init__(self, data_root, split: str = "train", size: int | None = 128, yaws=PAPER_YAWS,
                 frontal_illumination: str | None = None, illuminations: list[str] | None = None,
                 sessions: list[int] | None = None, subjects: list[str] | None = None,
                 test_fraction: float = 50 / 337, crop=None, gallery_illumination: str = "07",
                 skip_bad: bool = False):
        self.root = require_root(data_root, "Multi-PIE (VividGAN)", LAYOUT)
        if split not in ("train", "test", "all"):
            raise ValueError(f"MultiPIEPairs: split must be 'train', 'test' or 'all', got {split!r}")
        known = {abs(v) for v in CAMERA_YAW.values()} - {0}
        bad = sorted(set(abs(int(y)) for y in yaws) - known)
        if bad:
            raise ValueError(f"MultiPIEPairs: yaws {bad} are not Multi-PIE camera yaws; choose from {sorted(known)}")
        self.yaw_set = {abs(int(y)) for y in yaws}
        self.size, self.crop, self.skip_bad = size, crop, skip_bad
        self.frontal_illumination, self.gallery_illumination = frontal_illumination, gallery_illumination
        self.skipped: list[str] = []
        self.ignored: list[Path] = []
        self.ignored_cameras: list[Path] = []
        images = self._index()
        by_key = {(m["subject"], m["session"], m["recording"], m["camera"], m["illumination"]): m for m in images}
        self._frontals = {k: m for k, m in by_key.items() if m["camera"] == FRONTAL}
        all_subjects = sorted({m["subject"] for m in images})
        if subjects is not None:
            chosen = set(subjects)
            missing = sorted(chosen - set(all_subjects))
            if missing:
                raise ValueError(f"MultiPIEPairs: subjects {missing} not found under {self.root}")
        else:
            chosen = set(all_subjects) if split == "all" else set(split_subjects(all_subjects, test_fraction)[split])
        self.subjects = sorted(chosen)
        self.pairs = []
        for m in images:
            if (m["subject"] not in chosen or m["camera"] == FRONTAL
                    or abs(CAMERA_YAW[m["camera"]]) not in self.yaw_set
                    or (illuminations is not None and m["illumination"] not in illuminations)
                    or (sessions is not None and m["session"] not in sessions)):
                continue
            ill = frontal_illumination or m["illumination"]
            partner = self._frontals.get((m["subject"], m["session"], m["recording"], FRONTAL, ill))
            if partner is None:
                s, r = m["subject"], m["recording"]
                expect = (self.root / "data" / f"session{m['session']:02d}" / "multiview" / s / f"{r:02d}" / FRONTAL
                          / f"{s}_{m['session']:02d}_{r:02d}_051_{ill}.png")
                note_bad(self, m["path"], ValueError(f"{m['path']}: missing frontal partner {expect}"))
                continue
            self.pairs.append((m, partner))
        if not self.pairs:
            raise ValueError(f"MultiPIEPairs: no pairs for split {split!r}, yaws {sorted(self.yaw_set)} under "
                             f"{self.root} ({len(images)} images, {len(self.skipped)} skipped; expected {LAYOUT})")

    def _index(self) -> list[dict]:
        images = []
        base = self.root / "data"
        for f in sorted(base.rglob("*")) if base.is_dir() else []:
            if not f.is_file() or f.suffix.lower() not in (".png", ".jpg", ".jpeg"):
                continue
            try:
                m = parse_multipie_path(f, self.root)
            except ValueError:
                self.ignored.append(f)
                continue
            if m["camera"] not in CAMERA_YAW:
                self.ignored_cameras.append(f)
                continue
            images.append(m)
        if self.ignored:
            shown = ", ".join(str(p.relative_to(self.root)) for p in self.ignored[:5])
            warnings.warn(f"MultiPIEPairs: ignoring {len(self.ignored)} image(s) under {self.root} that do not match "
                          f"the layout {LAYOUT}: {shown} (all listed in dataset.ignored)", stacklevel=3)
        return images

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, m: dict) -> torch.Tensor:
        img = load_image(m["path"])
        H, W = img.shape[-2:]
        box = self.crop(img, dict(m)) if callable(self.crop) else self.crop
        if box is None:
            box = square_box((0, 0, W, H), W, H)
        return crop_resize(img, box, self.size, where=str(m["path"]))

    def __getitem__(self, i: int) -> dict:
        m, f = self.pairs[i]
        return {"input": self._load(m), "frontal": self._load(f), "yaw": float(CAMERA_YAW[m["camera"]]),
                "camera": m["camera"], "subject": m["subject"], "session": m["session"], "recording": m["recording"],
                "illumination": m["illumination"], "frontal_illumination": f["illumination"],
                "expression": m["expression"], "source": str(m["path"]), "frontal_source": str(f["path"])}

    def gallery(self) -> dict[str, Path]:
        """Per subject of this split: its first-session frontal, neutral (recording 01), gallery_illumination
        image (Tab. VI's gallery). A subject without one raises naming it."""
        out = {}
        for s in self.subjects:
            cands = sorted((k[1], m["path"]) for k, m in self._frontals.items()
                           if k[0] == s and k[2] == 1 and k[4] == self.gallery_illumination)
            if not cands:
                raise ValueError(f"MultiPIEPairs: subject {s} has no frontal neutral image under illumination "
                                 f"{self.gallery_illumination} (expected .../<rec 01>/05_1/{s}_<SS>_01_051_"
                                 f"{self.gallery_illumination}.png)")
            out[s] = cands[0][1]
        return out


def vividgan_multipie(data_root, split: str = "train", **kw) -> MultiPIEPairs:
    """The notebooks' entry point: `MultiPIEPairs(data_root, split, **kw)`; data_root=None raises NoDataRoot
    ("skipped: no data_root; expected layout ...")."""
    return MultiPIEPairs(data_root, split, **kw)
