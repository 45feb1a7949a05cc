"""Frontalisation pairs for VividGAN (Zhang et al., TIP 2021, sec. IV and V-A): a misaligned, non-frontal LR face and
the exact frontal HR face of the same scene (person, expression, background), rendered by the synthetic world.

Pair k of a split is scene k // V seen at yaw yaws[k % V] (`SynthWorld.multiview`: one frame, pitch and roll 0):

    posed HR  = the scene at that yaw, under the scene's own light
    lr        = bicubic_down(misalign(posed HR), scale)     "transformed" (a random similarity warp) and downsampled
    hr        = the frontal face under the canonical light  the ground truth (the same for the V views of a scene)

Yaw grids (data.synth.POSE_PRESETS): "celeba" = CelebA/MMI's +-22, +-40, +-55, +-75; "multipie" = Multi-PIE's
+-15 ... +-90. `views` < the grid's size keeps evenly spread yaws (4 of "celeba": -75, -40, 40, 75).

Two knobs change only the truth (for the symmetry-loss control of train/vividgan.py): `side_light` > 0 multiplies
the frontal truth by a left-to-right ramp 1 - a ... 1 + a (a side light: the truth is no longer mirror symmetric);
`symmetric_truth` replaces the truth by the mean of itself and its mirror image (exactly symmetric).

Each item also has the truth's 68 frontal landmarks, its component centres (left eye, right eye, nose, mouth: the
means of iBUG 36-41, 42-47, 27-35 and the midpoint of the mouth corners 48 and 54, as the authors' released code),
the face box (the landmarks' bounding box, for face-masked scores), the yaw and the person.
"""

from __future__ import annotations

import torch

from avfh_core.data import degrade, synth
from avfh_core.data.landmarks import LEFT_EYE, NOSE, RIGHT_EYE

GRIDS = {"celeba": synth.POSE_PRESETS["vividgan_celeba"]["yaws"],
         "multipie": synth.POSE_PRESETS["vividgan_multipie"]["yaws"]}
MISALIGN = dict(max_rotation=10.0, max_scale=0.08, max_shift=0.05)  # of the HR posed face, before downsampling


def grid_yaws(grid: str, views: int) -> tuple[float, ...]:
    """`views` evenly spread yaws of a grid ("celeba" | "multipie")."""
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {sorted(GRIDS)}, got {grid!r}")
    yaws = GRIDS[grid]
    if not 1 <= views <= len(yaws):
        raise ValueError(f"views must be in [1, {len(yaws)}] for the {grid!r} grid, got {views}")
    idx = sorted({round(k * (len(yaws) - 1) / max(1, views - 1)) for k in range(views)}) if views > 1 else [0]
    return tuple(float(yaws[i]) for i in idx)


def component_centres(landmarks: torch.Tensor) -> torch.Tensor:
    """[..., 68, 2] -> [..., 4, 2]: left eye, right eye, nose, mouth centres (x, y) in pixels."""
    return torch.stack([landmarks[..., LEFT_EYE, :].mean(-2), landmarks[..., RIGHT_EYE, :].mean(-2),
                        landmarks[..., NOSE, :].mean(-2), 0.5 * (landmarks[..., 48, :] + landmarks[..., 54, :])], -2)


def side_ramp(size: int, amplitude: float) -> torch.Tensor:
    """[1, 1, size] gain from 1 - amplitude (left) to 1 + amplitude (right), sampled at the pixel centres."""
    x = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    return (1.0 + amplitude * (2 * x - 1)).view(1, 1, size)


class FrontalPairs(torch.utils.data.Dataset):
    """The first `n_scenes` scenes of `split` x the yaws: items {"lr", "hr", "landmarks", "centres", "face_box",
    "yaw", "person", "scene"}. Built eagerly (about 5 ms per view at 64 px on one core) and kept in memory."""

    def __init__(self, world: synth.SynthWorld, split: str, n_scenes: int, yaws, scale: int, *,
                 side_light: float = 0.0, symmetric_truth: bool = False):
        if n_scenes < 1:
            raise ValueError(f"FrontalPairs: n_scenes must be >= 1, got {n_scenes}")
        if not 0 <= side_light < 1:
            raise ValueError(f"FrontalPairs: side_light must be in [0, 1), got {side_light}")
        H = world.config.image_size
        if scale < 1 or H % scale:
            raise ValueError(f"FrontalPairs: scale={scale} must divide the world's image size {H}")
        self.yaws, self.scale, self.split = tuple(float(y) for y in yaws), scale, split
        self.items: list[dict] = []
        ramp = side_ramp(H, side_light)
        for i in range(n_scenes):
            v = world.multiview(i, split, yaws=self.yaws)
            truth = v.frontal
            if symmetric_truth:
                truth = 0.5 * (truth + truth.flip(-1))
            if side_light:
                truth = (truth * ramp).clamp(0, 1)
            g = torch.Generator().manual_seed(1_000_003 * synth.SPLITS.index(split) + i)
            warped, _ = degrade.misalign(v.images, generator=g, **MISALIGN)
            lr = degrade.bicubic_down(warped, scale)
            lm = v.frontal_landmarks.float()
            box = torch.cat([lm.min(0).values, lm.max(0).values]).clamp(0, H)
            for k, yaw in enumerate(self.yaws):
                self.items.append({"lr": lr[k], "hr": truth, "landmarks": lm, "centres": component_centres(lm),
                                   "face_box": box, "yaw": torch.tensor(yaw), "person": torch.tensor(int(v.speaker)),
                                   "scene": torch.tensor(i)})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> dict:
        return self.items[k]

    def mean_centres(self) -> torch.Tensor:
        """The mean component centres [4, 2] over the pairs (the stitching template of the prior)."""
        return torch.stack([it["centres"] for it in self.items]).mean(0)


__all__ = ["GRIDS", "MISALIGN", "FrontalPairs", "component_centres", "grid_yaws", "side_ramp"]
