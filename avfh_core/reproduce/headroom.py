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
information can buy.

The regression above over-reads the articulation. A clip's mouth tracks are smooth, and so are its head motion and
light: over 29 frames the state fits some of the nuisance motion by chance (the fitted "jaw maps" of many clips
are a brightening or darkening of the whole crop), and splitting the frames of a clip does not remove that. The
synthetic world can answer the question exactly instead: render the same clips with a still mouth (`data.synth`
mouth_motion=0; head, light and speech unchanged) and measure the difference on the mouth crops
(`still_mouth_headroom`, the bound the audio control uses):

    articulation_mse  E[(articulating - still)^2]: all that a model which sees the still mouth can gain from
                      knowing the articulation (an upper bound: it also counts the mean opening, which a model
                      could learn without audio);
    shared_share      the share of it that one map of the mouth state, the same for every person (quadratic in
                      jaw, spread and closure, fitted on other people's clips), removes beyond their mean
                      difference. The rest is how *this* person's mouth looks when it opens: a model must infer
                      it from the person's appearance, a much harder function to learn;
    frame_mse         the same difference over the whole frame, for claims scored on the whole frame.

(`Headroom` and `articulation_headroom` stay as the worked example of the confound: the notebooks use the render
difference.) And does the audio carry the state at all? `mel_state_readout` fits a linear readout from each frame's
mel columns to its state on some clips and scores it on others (held-out R^2).

Pure measurement (no training, no random numbers); the training cache keys ignore this file.
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
        return _gain_db(self.delta_mse, model_psnr)

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


@dataclass(frozen=True)
class StillMouthHeadroom:
    """What the articulation is worth to a model that sees each mouth still, measured by rendering the same clips
    with and without it (see the module docstring)."""

    n_clips: int
    n_frames: int
    articulation_mse: float  # E (articulating - still)^2 on the mouth crops (Y)
    shared_share: float  # share of it removed by one state -> mouth map shared by all people (nan: not fitted)
    frame_mse: float = math.nan  # E (articulating - still)^2 over the whole frame (Y): the articulation's full-frame worth

    @property
    def delta_mse(self) -> float:
        return self.articulation_mse

    @property
    def shared_mse(self) -> float:
        return self.shared_share * self.articulation_mse

    def gain_db(self, model_psnr: float, shared: bool = False) -> float:
        """The largest mouth-PSNR gain (dB) that perfect use of the articulation (shared=True: of its part that
        one map for all people explains) could give a model now at `model_psnr`; see `Headroom.gain_db`."""
        return _gain_db(self.shared_mse if shared else self.articulation_mse, model_psnr)

    def frame_gain_db(self, model_psnr: float) -> float:
        """The same bound for the whole frame: the largest PSNR gain that perfect knowledge of the articulation
        could give a model now at full-frame PSNR `model_psnr` (the articulation only: what else a voice may tell
        about a face, e.g. its owner's age or gender, is not in this bound)."""
        return _gain_db(self.frame_mse, model_psnr)

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "shared_mse": self.shared_mse}


def _gain_db(delta_mse: float, model_psnr: float) -> float:
    if not math.isfinite(model_psnr):
        raise ValueError(f"gain_db: model_psnr must be finite, got {model_psnr}")
    if not delta_mse >= 0:  # nan (not measured) or negative
        return math.nan
    m = 10 ** (-model_psnr / 10)
    return math.inf if m <= delta_mse else 10 * math.log10(m / (m - delta_mse))


def _crop_differences(videos, still_videos, boxes, side: int | None, what: str) -> list[torch.Tensor]:
    """Per clip [T, P]: Y mouth crops of the articulating minus the still video, at `side` px (None: the box's own
    median size, as the scorer)."""
    if not (len(videos) == len(still_videos) == len(boxes)) or not videos:
        raise ValueError(f"still_mouth_headroom: {what} needs as many videos, still videos and boxes (>= 1), got "
                         f"{len(videos)}, {len(still_videos)}, {len(boxes)}")
    out = []
    for c, (v, sv, b) in enumerate(zip(videos, still_videos, boxes)):
        if v.ndim != 4 or v.shape[1] != 3 or tuple(sv.shape) != tuple(v.shape) or tuple(b.shape) != (v.shape[0], 4):
            raise ValueError(f"still_mouth_headroom: {what} clip {c}: video {tuple(v.shape)}, still video "
                             f"{tuple(sv.shape)} and boxes {tuple(b.shape)} must be [T,3,H,W], the same, and [T,4]")
        s = side or max(1, int(round(float((b[:, 2] - b[:, 0]).median()))))
        out.append(_y_crops(v, b, s) - _y_crops(sv, b, s))
    return out


def _y_crops(video: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """[T, 3, H, W] (uint8 allowed) -> [T, side*side] Y crops of the boxes, float64."""
    x = video.float() / 255 if video.dtype == torch.uint8 else video.float()
    return rgb_to_y(crop_boxes(x, boxes.float(), side).clamp(0, 1)).reshape(x.shape[0], -1).double()


def _y_frames(video: torch.Tensor) -> torch.Tensor:
    """[T, 3, H, W] (uint8 allowed) -> [T, 1, H, W] Y, float64."""
    return rgb_to_y(video.double() / 255 if video.dtype == torch.uint8 else video.double())


def _state_features(state: torch.Tensor) -> torch.Tensor:
    """[T, k] -> [T, 1 + k + k(k+1)/2]: a constant, the state, and its products (a quadratic map)."""
    s = state.double()
    i, j = torch.triu_indices(s.shape[1], s.shape[1])
    return torch.cat([torch.ones(s.shape[0], 1, dtype=s.dtype), s, s[:, i] * s[:, j]], 1)


def still_mouth_headroom(videos: Sequence[torch.Tensor], still_videos: Sequence[torch.Tensor],
                         boxes: Sequence[torch.Tensor], states: Sequence[torch.Tensor] | None = None,
                         fit: tuple[Sequence, Sequence, Sequence, Sequence] | None = None,
                         side: int = 16) -> StillMouthHeadroom:
    """The articulation's worth on clips rendered twice: videos[c] and still_videos[c] [T, 3, H, W] (uint8
    allowed) the same clip with its own and with a still mouth, boxes[c] [T, 4] the scorer's mouth boxes,
    states[c] [T, k] the mouth state per frame. With `fit` = (videos, still_videos, boxes, states) of other
    people, a quadratic map state -> crop difference (crops resampled to `side` px) is fitted there and scored here
    (`shared_share`); without it shared_share is nan."""
    diffs = _crop_differences(videos, still_videos, boxes, None, "the scored set")
    n = sum(d.shape[0] for d in diffs)
    art = sum(float(d.pow(2).mean(1).sum()) for d in diffs) / n
    frame = sum(float((_y_frames(v) - _y_frames(sv)).pow(2).mean((1, 2, 3)).sum())
                for v, sv in zip(videos, still_videos)) / n
    shared = math.nan
    if fit is not None:
        if states is None or len(states) != len(videos):
            raise ValueError(f"still_mouth_headroom: a shared map needs one state per scored clip, got "
                             f"{None if states is None else len(states)} for {len(videos)} clips")
        f_videos, f_still, f_boxes, f_states = fit
        if len(f_states) != len(f_videos):
            raise ValueError(f"still_mouth_headroom: the fitting set has {len(f_videos)} clips and "
                             f"{len(f_states)} states")
        for c, (st, d) in enumerate(zip([*f_states, *states], [*f_videos, *videos])):
            if st.ndim != 2 or st.shape[0] != d.shape[0]:
                raise ValueError(f"still_mouth_headroom: state {c} is {tuple(st.shape)}, must be [T, k] with "
                                 f"T={d.shape[0]} frames")
        d_fit = torch.cat(_crop_differences(f_videos, f_still, f_boxes, side, "the fitting set"))
        x_fit = torch.cat([_state_features(s) for s in f_states])
        w = torch.linalg.lstsq(x_fit, d_fit).solution
        d = torch.cat(_crop_differences(videos, still_videos, boxes, side, "the scored set"))
        x = torch.cat([_state_features(s) for s in states])
        total = float(d.pow(2).sum())
        explained = float((d - d_fit.mean(0)).pow(2).sum()) - float((d - x @ w).pow(2).sum())
        shared = max(0.0, explained) / total if total > 0 else math.nan
    return StillMouthHeadroom(len(videos), n, art, shared, frame)


def samples_still_headroom(samples: Sequence, still_samples: Sequence, fit_samples: Sequence | None = None,
                           fit_still: Sequence | None = None) -> StillMouthHeadroom:
    """`still_mouth_headroom` of synthetic-world clips (AVSamples) and the same clips rendered with a still mouth,
    on the articulating clips' mouth boxes (`data.crops.mouth_box`); fit_samples / fit_still (other people) fit
    the shared map."""
    def unpack(ss, still, what):
        if len(ss) != len(still):
            raise ValueError(f"samples_still_headroom: {what}: {len(ss)} clips but {len(still)} still-mouth clips")
        for i, s in enumerate(ss):
            if s.landmarks is None:
                raise ValueError(f"samples_still_headroom: {what} sample {i} ({getattr(s, 'source', '?')}) has no "
                                 "landmarks (needed for the mouth box)")
        return [s.video for s in ss], [s.video for s in still], [mouth_box(s.landmarks) for s in ss], mouth_states(ss)

    videos, still, boxes, states = unpack(samples, still_samples, "scored set")
    fit = None
    if fit_samples is not None:
        if fit_still is None:
            raise ValueError("samples_still_headroom: fit_samples needs fit_still (the same clips, mouth still)")
        fit = unpack(fit_samples, fit_still, "fitting set")
    return still_mouth_headroom(videos, still, boxes, states, fit=fit)


def mel_state_readout(train_mels: Sequence[torch.Tensor], train_states: Sequence[torch.Tensor],
                      test_mels: Sequence[torch.Tensor], test_states: Sequence[torch.Tensor],
                      steps_per_frame: int = 16, ridge: float = 10.0) -> list[float]:
    """Does the speech carry the mouth state, for a model that reads it linearly? A ridge regression from each
    frame's own mel columns (the mean and the standard deviation of every mel bin over the frame's
    `steps_per_frame` steps) to that frame's state, fitted on the training clips, scored on the test clips:
    the held-out R^2 of each state column. mels[c] [n_mels, >= T * steps_per_frame], states[c] [T, k]."""
    def frames(mels, states, what):
        if len(mels) != len(states) or not mels:
            raise ValueError(f"mel_state_readout: {what} needs as many mels as states (>= 1), got {len(mels)} and "
                             f"{len(states)}")
        xs, ys = [], []
        for c, (m, st) in enumerate(zip(mels, states)):
            T = st.shape[0]
            if m.ndim != 2 or st.ndim != 2 or m.shape[1] < T * steps_per_frame:
                raise ValueError(f"mel_state_readout: {what} clip {c}: mel {tuple(m.shape)} must be [n_mels, >= "
                                 f"{T * steps_per_frame}] for its {T}-frame state {tuple(st.shape)}")
            cols = m[:, :T * steps_per_frame].double().reshape(m.shape[0], T, steps_per_frame)
            xs.append(torch.cat([cols.mean(2), cols.std(2)], 0).T)
            ys.append(st.double())
        return torch.cat(xs), torch.cat(ys)

    x_tr, y_tr = frames(train_mels, train_states, "the training set")
    x_te, y_te = frames(test_mels, test_states, "the test set")
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-8

    def design(x):
        return torch.cat([(x - mu) / sd, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)

    a = design(x_tr)
    reg = ridge * torch.eye(a.shape[1], dtype=a.dtype)
    reg[-1, -1] = 0  # the intercept is not shrunk
    w = torch.linalg.solve(a.T @ a + reg, a.T @ y_tr)
    resid = (y_te - design(x_te) @ w).pow(2).mean(0)
    var = y_te.var(0, unbiased=False)
    return [float(1 - r / v) if v > 0 else math.nan for r, v in zip(resid, var)]


def world_still_headroom(world, still_world, n_test: int, n_train: int) -> StillMouthHeadroom:
    """`samples_still_headroom` of a synthetic world: its first `n_test` test clips against the same clips of
    `still_world` (the world with mouth_motion=0), the shared map fitted on the first `n_train` training clips."""
    return samples_still_headroom(world.dataset("test", n_clips=n_test), still_world.dataset("test", n_clips=n_test),
                                  fit_samples=world.dataset("train", n_clips=n_train),
                                  fit_still=still_world.dataset("train", n_clips=n_train))


def windows_mel_readout(train_windows, train_samples: Sequence, test_windows, test_samples: Sequence) -> list[float]:
    """`mel_state_readout` of window datasets (`data.windows.WindowDataset`: each clip's "mel") and the AVSamples
    they were built from (the mouth-state tracks), clip for clip."""
    return mel_state_readout([c["mel"] for c in train_windows.clips], mouth_states(train_samples),
                             [c["mel"] for c in test_windows.clips], mouth_states(test_samples))


__all__ = ["Headroom", "MOUTH_STATE", "StillMouthHeadroom", "mel_state_readout", "windows_mel_readout",
           "world_still_headroom", "articulation_headroom", "mouth_states",
           "samples_headroom", "samples_still_headroom", "still_mouth_headroom"]
