"""How large can a planted effect be? An upper bound read from the world itself, so that a positive control whose
largest possible effect is below the minimum detectable effect is reported as too small to be seen at this
scale, instead of as an instrument that failed.

The case in point is VFH-GAN's audio control. Its first form erased the mouth box from every LR frame, so that "only
the audio can restore it". But speech can only tell how the mouth moves (its articulation: jaw opening, lip spread,
closure), not what this person's mouth looks like, and erasing removes both; this bound showed that the erased
control could not have been seen, and the control now renders its LR frames with a still mouth instead (appearance
kept, articulation removed). Split each clip's mouth crops (Y channel, the scorer's mouth boxes) into

    appearance    the clip's mean mouth crop: what no audio can tell;
    articulation  what a per-clip linear function of the mouth state adds to it (fitted in-sample on the clip's own
                  frames: an optimistic bound, a model must learn this across people);
    the rest      head motion, light, and whatever the state does not explain linearly.

A model that knew each clip's appearance exactly would score `appearance_psnr` on the mouth; one that also knew
the articulation, `articulation_psnr`. The mean-squared error that knowing the state can remove is
dMSE = MSE_appearance - MSE_articulation. A model whose mouth error is MSE_m (far above both at small scale) and
that used the audio perfectly would lower it to about MSE_m - dMSE (errors that the state does not explain are
assumed to stay as they are), so the largest audio effect on its mouth PSNR is

    gain_db(psnr_m) = 10 log10(MSE_m / (MSE_m - dMSE)),   MSE_m = 10^(-psnr_m / 10).

An effect sits on top of the model's other errors: the worse the model, the smaller the dB gain that the same
information can buy. Pure measurement (no training, no random numbers); the training cache keys ignore this file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from avfh_core.data.crops import crop_boxes, mouth_box
from avfh_core.metrics.image import rgb_to_y

MOUTH_STATE = ("jaw", "spread", "closed")  # the synthetic world's articulation tracks (AVSample.extras), per frame


@dataclass(frozen=True)
class Headroom:
    """What knowing the mouth state is worth on the mouth crops of a set of clips (see the module docstring)."""

    n_clips: int
    n_frames: int
    appearance_mse: float  # error of the clip's mean crop
    articulation_mse: float  # error of the clip's mean crop plus its in-sample linear fit on the state
    explained_share: float  # share of the within-clip error that the state explains: 1 - articulation / appearance

    @property
    def appearance_psnr(self) -> float:
        return _psnr(self.appearance_mse)

    @property
    def articulation_psnr(self) -> float:
        return _psnr(self.articulation_mse)

    @property
    def delta_mse(self) -> float:
        return self.appearance_mse - self.articulation_mse

    def gain_db(self, model_psnr: float) -> float:
        """The largest mouth-PSNR gain (dB) that perfect use of the state could give a model now at `model_psnr`
        on the same crops; inf when the model's error is already below what the state explains (the additive
        picture then no longer holds)."""
        if not math.isfinite(model_psnr):
            raise ValueError(f"gain_db: model_psnr must be finite, got {model_psnr}")
        m = 10 ** (-model_psnr / 10)
        return math.inf if m <= self.delta_mse else 10 * math.log10(m / (m - self.delta_mse))

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "appearance_psnr": self.appearance_psnr, "articulation_psnr": self.articulation_psnr}


def _psnr(mse: float) -> float:
    return math.inf if mse <= 0 else -10 * math.log10(mse)


def mouth_states(samples: Sequence, keys: Sequence[str] = MOUTH_STATE) -> list[torch.Tensor]:
    """[T, len(keys)] articulation tracks of each AVSample (from `extras`); a clear error names the sample that
    lacks one (real data has no such tracks: the bound is for the synthetic world)."""
    out = []
    for i, s in enumerate(samples):
        missing = [k for k in keys if k not in (s.extras or {})]
        if missing:
            raise KeyError(f"mouth_states: sample {i} ({getattr(s, 'source', '?')}) has no {missing} in extras "
                           f"(keys: {sorted(s.extras or {})}); only the synthetic world records the mouth state")
        out.append(torch.stack([torch.as_tensor(s.extras[k]).float() for k in keys], 1))
    return out


def articulation_headroom(videos: Sequence[torch.Tensor], boxes: Sequence[torch.Tensor],
                          states: Sequence[torch.Tensor]) -> Headroom:
    """The decomposition of the module docstring over clips: videos[c] [T, 3, H, W] in [0, 1] (uint8 allowed),
    boxes[c] [T, 4] the mouth box per frame (pixels of the video; fixed size per clip, as `data.crops.mouth_box`),
    states[c] [T, k] the mouth state per frame. Crops are resampled at the box's own size (Y channel)."""
    if not (len(videos) == len(boxes) == len(states)) or not videos:
        raise ValueError(f"articulation_headroom: need as many videos, boxes and states (>= 1), got "
                         f"{len(videos)}, {len(boxes)}, {len(states)}")
    sq_app, sq_art, n = 0.0, 0.0, 0
    for c, (v, b, s) in enumerate(zip(videos, boxes, states)):
        v = v.float() / 255 if v.dtype == torch.uint8 else v.float()
        T = v.shape[0]
        if v.ndim != 4 or v.shape[1] != 3 or tuple(b.shape) != (T, 4) or s.ndim != 2 or s.shape[0] != T:
            raise ValueError(f"articulation_headroom: clip {c}: video {tuple(v.shape)}, boxes {tuple(b.shape)} and "
                             f"state {tuple(s.shape)} must be [T,3,H,W], [T,4], [T,k] with one T")
        if T < s.shape[1] + 2:
            raise ValueError(f"articulation_headroom: clip {c} has {T} frames, too few to fit {s.shape[1]} state "
                             "values and a mean")
        side = max(1, int(round(float((b[:, 2] - b[:, 0]).median()))))
        y = rgb_to_y(crop_boxes(v, b.float(), side).clamp(0, 1)).reshape(T, -1).double()
        centred = y - y.mean(0)
        x = torch.cat([s.double() - s.double().mean(0), torch.ones(T, 1, dtype=torch.float64)], 1)
        fit = x @ torch.linalg.lstsq(x, centred).solution
        sq_app += float(centred.pow(2).mean(1).sum())
        sq_art += float((centred - fit).pow(2).mean(1).sum())
        n += T
    app, art = sq_app / n, sq_art / n
    return Headroom(len(videos), n, app, art, 1 - art / app if app > 0 else math.nan)


def samples_headroom(samples: Sequence) -> Headroom:
    """`articulation_headroom` of the synthetic world's clips (AVSamples with landmarks and the mouth-state
    tracks), on the mouth boxes that `data.windows.WindowDataset` scores (`data.crops.mouth_box`)."""
    for i, s in enumerate(samples):
        if s.landmarks is None:
            raise ValueError(f"samples_headroom: sample {i} ({getattr(s, 'source', '?')}) has no landmarks "
                             "(needed for the mouth box)")
    return articulation_headroom([s.video for s in samples], [mouth_box(s.landmarks) for s in samples],
                                 mouth_states(samples))


__all__ = ["Headroom", "MOUTH_STATE", "articulation_headroom", "mouth_states", "samples_headroom"]
