"""Measurements on clips that check the world's premises (issue 3, "Done means"), used by tests and the data notebook.

- `mouth_opening`: inner-lip gap |p66 - p62| per frame (pixels), from landmarks.
- `formant_proxy`: a per-frame F1 estimate read from the audio alone: the power-weighted centroid of the mel bands
  between 200 and 1100 Hz (where F1 lives), so "the mel spectrogram's formants move with the mouth" is measured
  on the waveform, not on the synthesizer's internal tracks.
- `frame_log_energy`: per-frame log energy of the 200-4000 Hz bands.
- `estimate_f0`: per-frame pitch by autocorrelation (70-400 Hz), NaN where unvoiced.
- `voice_features` + `nearest_centroid_accuracy`: can a simple classifier tell gender (or age group) from the
  voice alone? (the premise of "Learning to Have an Ear", Meishvili et al., Sec. 1).
- `voice_descriptor`, `noise_floor_dbfs`, `ridge_fit_predict`, `voice_premises`: the voice rows of the premise
  table (age, gender and identity from 4 s of voice on held-out people, the room floor of "clean" speech), each
  with its coupling-0 control (world v5, issue 11).
- `sync_stats`: over a world's first clips, how mouth opening co-moves with speech energy and with F1 (voiced
  frames): the audio-visual sync that the lip-reading loss and talking-face generation rely on.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch
import torchaudio

from avfh_core.data.audio import MEL_STEPS_PER_FRAME, N_MELS, log_mel


def mouth_opening(landmarks: torch.Tensor) -> torch.Tensor:
    """Inner-lip gap per frame [T] (pixels): distance between iBUG points 62 (upper) and 66 (lower)."""
    return (landmarks[..., 66, :] - landmarks[..., 62, :]).norm(dim=-1)


@functools.lru_cache(maxsize=4)
def _mel_centres(sample_rate: int = 16000) -> torch.Tensor:
    fb = torchaudio.functional.melscale_fbanks(513, 55.0, 7600.0, N_MELS, sample_rate, norm="slaney",
                                               mel_scale="slaney")
    f = torch.linspace(0, sample_rate / 2, 513)[:, None]
    return (fb * f).sum(0) / fb.sum(0).clamp_min(1e-12)


def _frame_mel_power(audio: torch.Tensor, sample_rate: int, fps: float) -> torch.Tensor:
    m = log_mel(audio, sample_rate, fps).exp()
    T = m.shape[-1] // MEL_STEPS_PER_FRAME
    return m.reshape(*m.shape[:-1], T, MEL_STEPS_PER_FRAME).mean(-1)  # [..., 80, T]


def formant_proxy(audio: torch.Tensor, sample_rate: int = 16000, fps: float = 25.0, lo: float = 200.0,
                  hi: float = 1100.0) -> torch.Tensor:
    """Per-frame F1 estimate (Hz) from the audio: sum_b P_b^2 f_b / sum_b P_b^2 over mel bands b in [lo, hi]."""
    cf = _mel_centres(sample_rate)
    sel = (cf > lo) & (cf < hi)
    p = _frame_mel_power(audio, sample_rate, fps)[..., sel, :] ** 2
    return (p * cf[sel][:, None]).sum(-2) / p.sum(-2).clamp_min(1e-20)


def frame_log_energy(audio: torch.Tensor, sample_rate: int = 16000, fps: float = 25.0) -> torch.Tensor:
    """Per-frame log mean mel power in 200-4000 Hz -> [..., T]."""
    cf = _mel_centres(sample_rate)
    sel = (cf > 200) & (cf < 4000)
    return torch.log(_frame_mel_power(audio, sample_rate, fps)[..., sel, :].mean(-2) + 1e-10)


def _pitch_track(audio: torch.Tensor, sample_rate: int, fps: float, fmin: float, fmax: float):
    """Per-frame (F0 in Hz, normalised autocorrelation peak in [0, 1]) of `estimate_f0`, before thresholding."""
    n = int(round(sample_rate / fps))
    T = audio.shape[-1] // n
    x = torch.nn.functional.pad(audio.float()[None, None], (n // 2, n // 2), mode="constant")[0, 0]
    seg = x.unfold(0, 2 * n, n)[:T]  # [T, 2n]
    seg = (seg - seg.mean(1, keepdim=True)) * torch.hann_window(2 * n, periodic=False)
    spec = torch.fft.rfft(seg, 4 * n)
    r = torch.fft.irfft(spec.abs() ** 2, 4 * n)[:, : 2 * n]
    w = torch.hann_window(2 * n, periodic=False)
    rw = torch.fft.irfft(torch.fft.rfft(w, 4 * n).abs() ** 2, 4 * n)[: 2 * n]  # window bias correction
    r = r / r[:, :1].clamp_min(1e-12) / (rw / rw[0]).clamp_min(1e-3)
    lo, hi = int(sample_rate / fmax), int(sample_rate / fmin) + 1
    peak, k = r[:, lo:hi].max(1)
    return sample_rate / (k + lo).float(), peak


def estimate_f0(audio: torch.Tensor, sample_rate: int = 16000, fps: float = 25.0, fmin: float = 70.0,
                fmax: float = 400.0, threshold: float = 0.5) -> torch.Tensor:
    """Per-frame F0 (Hz) [T]: the peak of the normalised autocorrelation (FFT) of a 2-frame Hann-windowed segment
    centred on each frame, searched over lags sample_rate/fmax..sample_rate/fmin; NaN when the peak < threshold."""
    f0, peak = _pitch_track(audio, sample_rate, fps, fmin, fmax)
    return torch.where(peak >= threshold, f0, torch.full_like(f0, float("nan")))


def voice_features(audio: torch.Tensor, sample_rate: int = 16000, fps: float = 25.0, n_cep: int = 8
                   ) -> torch.Tensor:
    """A clip-level voice descriptor [1 + n_cep]: log median F0 over voiced frames and the mean cepstrum
    (DCT-II of the log-mel, coefficients 1..n_cep: vocal-tract length and timbre) over the loudest half."""
    return _voice_features(audio, _frame_mel_power(audio, sample_rate, fps), sample_rate, fps, n_cep)


def _voice_features(audio, mel_power, sample_rate, fps, n_cep):
    m = torch.log(mel_power + 1e-10)  # [80, T]
    e = m.mean(0)
    keep = e >= e.median()
    k = torch.arange(N_MELS, dtype=torch.float32)
    dct = torch.cos(torch.pi / N_MELS * (k[None, :] + 0.5) * torch.arange(1, n_cep + 1)[:, None])
    cep = (dct @ m[:, keep]).mean(1) / N_MELS
    f0 = estimate_f0(audio, sample_rate, fps)
    f0 = f0[~torch.isnan(f0)]
    lf0 = torch.log(f0.median()) if f0.numel() else torch.tensor(float(np.log(150.0)))
    return torch.cat([lf0.reshape(1).float(), cep])


def nearest_centroid_accuracy(train_x: torch.Tensor, train_y, test_x: torch.Tensor, test_y) -> float:
    """Accuracy of a standardised nearest-centroid classifier (a deliberately simple probe)."""
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    mu, sd = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    a, b = (train_x - mu) / sd, (test_x - mu) / sd
    classes = sorted(set(train_y.tolist()))
    cents = torch.stack([a[torch.from_numpy(train_y == c)].mean(0) for c in classes])
    pred = torch.cdist(b, cents).argmin(1).numpy()
    return float((np.asarray(classes)[pred] == test_y).mean())


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two flattened tensors (NaN-free inputs)."""
    return float(torch.corrcoef(torch.stack([a.flatten().float(), b.flatten().float()]))[0, 1])


def sync_stats(world, n_clips: int, split: str = "train") -> dict[str, float]:
    """Audio-mouth sync of `world` over its first `n_clips` clips of `split`.

    Returns {"opening_vs_energy": r, "opening_vs_f1_voiced": r}: Pearson correlations of the inner-lip gap with the
    per-frame speech energy (all frames) and with the F1 proxy read off the audio (voiced frames only).
    """
    if n_clips < 1:
        raise ValueError(f"n_clips must be >= 1, got {n_clips}")
    gaps, energy, f1p, voiced = [], [], [], []
    for i in range(n_clips):
        clip = world.clip(i, split=split)
        gaps.append(mouth_opening(clip.landmarks))
        energy.append(frame_log_energy(clip.audio, clip.sample_rate, clip.fps))
        f1p.append(formant_proxy(clip.audio, clip.sample_rate, clip.fps))
        voiced.append(clip.extras["voiced"] > 0.5)
    g, e, f, v = (torch.cat(x) for x in (gaps, energy, f1p, voiced))
    return {"opening_vs_energy": correlation(g, e), "opening_vs_f1_voiced": correlation(g[v], f[v])}


# --- premise probes (world v5, issue 11) ------------------------------------------------------------------------
# Each probe measures one paper premise on HELD-OUT people and returns `Premise` records; the same probe on the
# coupling-0 world (the cue switched off) is the control, which must come out at chance.


@dataclasses.dataclass(frozen=True)
class Premise:
    """One row of the premise table: `value` measured on held-out people, `control` the same probe with the cue's
    coupling at 0, `chance` what a probe without information scores, `floor` the value the world must reach (the
    issue's target; tests pin looser floors), `unit` e.g. "accuracy", "pearson r", "LR px"."""

    paper: str
    premise: str
    value: float
    control: float
    chance: float
    floor: float
    unit: str
    detail: str = ""

    @property
    def reached(self) -> bool:
        return self.value >= self.floor

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "reached": self.reached}


# --- voice probes ---
# "Learning to Have an Ear" (Meishvili et al.) needs identity, gender and age in 4 s of voice; talkingface (Eskimez
# et al.) needs "clean" speech that sounds like a recording, with a room floor, not digital silence. All probes
# read audio only (`SynthWorld.audio`, no rendering) and train on the clips of the train people, test on people
# they never heard.


def voice_descriptor(audio: torch.Tensor, sample_rate: int = 16000, fps: float = 25.0) -> torch.Tensor:
    """A clip-level voice descriptor [15] for the voice probes: `voice_features` (log median F0, mean cepstrum
    1..8), (log F0)^2 (men's F0 is U-shaped in age), the median autocorrelation peak of voiced frames (periodicity:
    jitter, shimmer and breath lower it), the median |frame-to-frame change| of log F0 (tremor, jitter), the log
    fraction of frames within 25 dB of the loudest (speech duration: speaking rate), the high-band (4-7.6 kHz)
    minus mid-band (0.3-3 kHz) log power of voiced frames (aspiration noise), and the spread of voiced frames'
    log energy."""
    p = _frame_mel_power(audio, sample_rate, fps)  # [80, T]
    base = _voice_features(audio, p, sample_rate, fps, 8)
    f0, peak = _pitch_track(audio, sample_rate, fps, 70.0, 400.0)
    voiced = peak >= 0.5
    per = peak[voiced].median() if bool(voiced.any()) else peak.median()
    lf = torch.log(f0[voiced])
    dlf = (lf[1:] - lf[:-1]).abs().median() if lf.numel() > 2 else torch.tensor(0.0)
    e = torch.log(p.mean(0) + 1e-10)
    speech = torch.log(((e > e.max() - 25 * np.log(10) / 10).float().mean()).clamp_min(1e-3))
    cf = _mel_centres(sample_rate)
    hi = torch.log(p[cf > 4000].mean(0) + 1e-10) - torch.log(p[(cf > 300) & (cf < 3000)].mean(0) + 1e-10)
    hf = hi[voiced].median() if bool(voiced.any()) else hi.median()
    ev = e[voiced].std() if int(voiced.sum()) > 2 else torch.tensor(0.0)
    extra = torch.stack([base[0] ** 2, per, torch.log(dlf + 1e-3), speech, hf, ev]).float()
    return torch.cat([base, extra])


def noise_floor_dbfs(audio: torch.Tensor, sample_rate: int = 16000, fps: float = 25.0, quantile: float = 0.15
                     ) -> float:
    """The level between words (dB RMS re full scale): the mean power of the quietest `quantile` of the clip's
    video frames (at least 2 frames), in dB. Digital silence gives -120 (the floor of the log)."""
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    n = int(round(sample_rate / fps))
    T = audio.shape[-1] // n
    if T < 2:
        raise ValueError(f"audio of {audio.shape[-1]} samples holds fewer than 2 frames of {n} samples")
    power = audio[: T * n].double().reshape(T, n).pow(2).mean(1).sort().values
    k = max(2, int(round(quantile * T)))
    return float(10 * torch.log10(power[:k].mean().clamp_min(1e-12)))


def ridge_fit_predict(train_x: torch.Tensor, train_y, test_x: torch.Tensor, alpha: float = 0.1) -> np.ndarray:
    """Ridge regression on standardised features (statistics of the training set), closed form; returns the
    predictions for `test_x`. `alpha` is the penalty per training sample."""
    y = torch.as_tensor(np.asarray(train_y, dtype=np.float64))
    mu, sd = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    a, b = ((train_x - mu) / sd).double(), ((test_x - mu) / sd).double()
    w = torch.linalg.solve(a.T @ a + alpha * len(a) * torch.eye(a.shape[1], dtype=torch.float64),
                           a.T @ (y - y.mean()))
    return (b @ w + y.mean()).numpy()


def _voice_set(world, split: str, n: int):
    """Descriptors [n, 15], the people and the noise floors (dBFS) of clips 0..n-1 of `split`."""
    xs, people, floors = [], [], []
    for i in range(n):
        audio, _ = world.audio(i, split)
        xs.append(voice_descriptor(audio))
        floors.append(noise_floor_dbfs(audio))
        people.append(world._plan(i, split)["idn"])
    return torch.stack(xs), people, floors


def _held_out_identity(tr_x, te_x, te_people) -> tuple[float, int]:
    """Nearest centroid among held-out people: each person's first half of clips enrols, the rest is tested;
    standardised with the train people's statistics. Returns (accuracy, number of people)."""
    mu, sd = tr_x.mean(0), tr_x.std(0).clamp_min(1e-6)
    x = (te_x - mu) / sd
    ids = np.array([p.id for p in te_people])
    enrol, probe = [], []
    for pid in sorted(set(ids.tolist())):
        idx = np.flatnonzero(ids == pid)
        if len(idx) >= 2:
            h = len(idx) // 2
            enrol.append((pid, idx[:h]))
            probe.extend((pid, j) for j in idx[h:])
    if len(enrol) < 2:
        raise ValueError("the identity probe needs >= 2 held-out people with >= 2 clips each: raise n_test_clips")
    cents = torch.stack([x[torch.from_numpy(ix)].mean(0) for _, ix in enrol])
    names = np.array([pid for pid, _ in enrol])
    pred = names[torch.cdist(x[[j for _, j in probe]], cents).argmin(1).numpy()]
    return float((pred == np.array([pid for pid, _ in probe])).mean()), len(enrol)


def voice_premises(n_train_clips: int = 100, n_test_clips: int = 80, seconds: float = 4.0, n_train_identities: int = 40,
                   n_test_identities: int = 20, seed: int = 0, **world_overrides) -> list[Premise]:
    """The voice premises, measured on held-out people from `seconds` of audio per clip (Meishvili et al. use 4 s).

    Train clips 0..n_train_clips-1 of the train people fit the probes; test clips 0..n_test_clips-1 of the test
    people (never heard in training) score them. Rows: age (ridge regression on `voice_descriptor`, Pearson r;
    control: voice_age_coupling=0), gender (ridge classifier, accuracy; control: voice_coupling=0), identity
    (nearest centroid over the held-out people, enrolment on half of each person's clips; chance 1/people;
    control: voice_coupling=0), and the "clean" speech floor (`noise_floor_dbfs`, median over the test clips;
    control: room_noise_dbfs=None). `world_overrides` are further `SynthConfig` fields."""
    from avfh_core.data.synth import SynthConfig, SynthWorld

    if n_train_clips < 4 or n_test_clips < 4:
        raise ValueError(f"need >= 4 train and test clips, got n_train_clips={n_train_clips}, "
                         f"n_test_clips={n_test_clips}")
    frames = int(round(seconds * 25))
    base = dict(image_size=16, num_frames=frames, utterance="sentence" if frames >= 75 else "word",
                render_frontal=False, seed=seed, n_train_identities=n_train_identities,
                n_test_identities=n_test_identities)
    base.update(world_overrides)

    floors = {}

    def measure(**kw):
        w = SynthWorld(SynthConfig(**{**base, **kw}))
        tr_x, tr_p, _ = _voice_set(w, "train", n_train_clips)
        te_x, te_p, floors[tuple(kw)] = _voice_set(w, "test", n_test_clips)
        return w, tr_x, tr_p, te_x, te_p

    def age_r(tr_x, tr_p, te_x, te_p):
        pred = ridge_fit_predict(tr_x, [p.age for p in tr_p], te_x)
        return correlation(torch.from_numpy(pred), torch.tensor([p.age for p in te_p], dtype=torch.float64))

    def gender_acc(tr_x, tr_p, te_x, te_p):  # a least-squares linear classifier: ridge on +-1, sign
        pred = ridge_fit_predict(tr_x, [1.0 if p.gender == "f" else -1.0 for p in tr_p], te_x) > 0
        return float(np.mean(pred == np.array([p.gender == "f" for p in te_p])))

    w, *on = measure()
    _, *age0 = measure(voice_age_coupling=0.0)
    _, *vc0 = measure(voice_coupling=0.0)
    id_acc, n_people = _held_out_identity(on[0], on[2], on[3])
    id_ctrl, _ = _held_out_identity(vc0[0], vc0[2], vc0[3])
    knob = w.config.room_noise_dbfs
    floor = float(np.median(floors[()]))
    silent = SynthWorld(SynthConfig(**{**base, "room_noise_dbfs": None}))
    floor0 = float(np.median([noise_floor_dbfs(silent.audio(i, "test")[0]) for i in range(4)]))
    where = (f"{seconds:g} s of voice, {n_train_clips} clips of {n_train_identities} train people -> "
             f"{n_test_clips} clips of {n_test_identities} held-out people")
    return [
        Premise("ear", "age from voice (held-out people)", age_r(*on), age_r(*age0), 0.0, 0.6, "pearson r",
                f"ridge on voice_descriptor; {where}; control voice_age_coupling=0"),
        Premise("ear", "gender from voice (held-out people)", gender_acc(*on), gender_acc(*vc0), 0.5, 0.9, "accuracy",
                f"ridge classifier; {where}; control voice_coupling=0"),
        Premise("ear", "identity from voice (held-out people)", id_acc, id_ctrl, 1.0 / n_people, 3.0 / n_people,
                "accuracy", f"nearest centroid over {n_people} held-out people, half of each one's clips enrol; "
                f"{where}; control voice_coupling=0"),
        Premise("talkingface", "room floor of clean speech", floor, floor0, -120.0,
                (knob if knob is not None else -120.0) - 2.0, "dBFS",
                f"mean power of the quietest 15% of frames, median over {n_test_clips} held-out clips; "
                f"room_noise_dbfs={knob}; control room_noise_dbfs=None"),
    ]


# --- face probes ---


# --- motion, pose and mouth probes ---
