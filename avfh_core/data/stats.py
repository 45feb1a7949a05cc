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
    # every clip centres its utterance, so mouth and energy share a timeline even across clips: remove the
    # per-frame-index mean over clips before correlating, and what is left is co-movement within the clip
    gd, ed = (torch.stack(x) - torch.stack(x).mean(0, keepdim=True) for x in (gaps, energy))
    return {"opening_vs_energy": correlation(g, e), "opening_vs_f1_voiced": correlation(g[v], f[v]),
            "opening_vs_energy_detrended": correlation(gd, ed) if n_clips > 1 else float("nan")}


def sync_premise(world, n_clips: int, floor: float = 0.4) -> Premise:
    """The premise of VFH-GAN's lip-reading loss and of talking-face generation: on held-out people (the world's
    "test" split) the mouth can be read off the audio: the inner-lip gap follows the F1 read from the waveform on
    voiced frames (a wider jaw raises F1). The control is the same world with `shuffle_audio=True` (each clip gets
    another clip's speech), where it must vanish. (The raw gap-energy correlation is NOT a valid probe: every
    utterance is centred in its clip, so mouth and energy share a timeline even after shuffling; the detail field
    gives its detrended version.)"""
    from dataclasses import replace

    from avfh_core.data.synth import SynthWorld

    if n_clips < 2:
        raise ValueError(f"sync_premise needs n_clips >= 2 (the detrending averages over clips), got {n_clips}")
    key = "opening_vs_f1_voiced"
    st = sync_stats(world, n_clips, split="test")
    control = sync_stats(SynthWorld(replace(world.config, shuffle_audio=True)), n_clips, split="test")[key]
    return Premise("vfhgan, talkingface", "mouth opening follows F1 read from the audio", st[key], control, 0.0,
                   floor, "pearson r", f"{n_clips} clips of held-out people, voiced frames; control: shuffled "
                   f"audio; detrended gap-energy r = {st['opening_vs_energy_detrended']:.2f}")


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
# Does the face tell gender and age of people the probe never saw, from the 8x8 image (16x bicubic down of a 128 px
# frame in the paper; 8x down of the world's 64 px frame here) and from the HR frame? (Meishvili et al.: the 8x8 image
# carries gender, ~91-95 %, while age is mostly lost at 8x8 and must come from the voice.) Probes are deliberately
# simple and cheap: ridge regression on fixed features, the ridge strength chosen by cross-validation over people.


def face_frames(world, split: str, n_frames: int) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Still frames of clips 0..n_frames-1 of `split` -> (frames [N, 3, H, W] in [0, 1], 8-bit; labels).

    Frame k shows what `world.clip(k, split)` shows (the same person, head pose, position, light, background and
    shirt, from the clip's own random streams) with the mouth at rest and the eyes open, without synthesising
    speech (5-10x cheaper). labels: "gender" (1 = m), "age" (years), "person" (identity id), arrays of length N."""
    from avfh_core.data import face as facemod

    if n_frames < 1:
        raise ValueError(f"face_frames: n_frames must be >= 1, got {n_frames}")
    H = world.config.image_size
    rest = {k: torch.zeros(1) for k in ("jaw", "spread", "closed")}
    plans = [world._plan(i, split) for i in range(int(n_frames))]
    # rendered person by person, so each texture is made once even beyond the world's texture cache
    order = sorted(range(len(plans)), key=lambda i: plans[i]["idn"].id)
    frames, gender, age, person = [None] * len(plans), [0.0] * len(plans), [0.0] * len(plans), [0] * len(plans)
    for i in order:
        plan = plans[i]
        idn = plan["idn"]
        gen = torch.Generator().manual_seed(int(plan["r_misc"].integers(2**62)))
        mo = world._motion(plan["r_pose"])
        alb, nrm = world._texture(idn)
        bg = facemod.background(gen, H)
        cloth = tuple(float(v) for v in plan["r_misc"].uniform(0.05, 0.8, 3))
        img, _ = facemod.render(idn, alb, nrm, mo["pose"][:1], mo["centre"][:1], mo["scale"], rest,
                                torch.zeros(1), bg, mo["light"], cloth)
        frames[i] = img[0].clamp(0, 1).mul(255).round().div(255)
        gender[i], age[i], person[i] = (1.0 if idn.gender == "m" else 0.0), idn.age, idn.id
    labels = {"gender": np.asarray(gender), "age": np.asarray(age), "person": np.asarray(person)}
    return torch.stack(frames), labels


def face_features(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Fixed features of frames [N, 3, H, W] seen at `size` px (antialiased bicubic down, 8-bit, as the paper's LR
    input): the RGB pixels average-pooled to min(size, 16) px, plus the local detail energy |g - box_k(g)| of the
    grey image at two scales (k = 3, 5) pooled to min(size, 8) px and, over the central face region, to 3x3 (where
    and how much fine texture: wrinkles, spots, stubble). Averaged with the same features of the mirrored frame
    (a face turned left or right looks the same to the probe). -> [N, F]."""
    H = frames.shape[-1]
    if size > H or H % size:
        raise ValueError(f"face_features: size {size} must divide the frame size {H}")
    F = torch.nn.functional
    x = frames
    if size < H:
        x = F.interpolate(frames, size=(size, size), mode="bicubic", align_corners=False,
                          antialias=True).clamp(0, 1).mul(255).round().div(255)
    r0, r1, c0, c1 = size // 4, (13 * size) // 16, size // 4, (3 * size) // 4  # the face's interior

    def feats(v):
        grey = v.mean(1, keepdim=True)
        out = [F.adaptive_avg_pool2d(v, min(size, 16)).flatten(1)]
        for k in (3, 5):
            detail = (grey - F.avg_pool2d(F.pad(grey, (k // 2,) * 4, mode="replicate"), k, 1)).abs()
            out += [F.adaptive_avg_pool2d(detail, min(size, 8)).flatten(1),
                    F.adaptive_avg_pool2d(detail[..., r0:r1, c0:c1], 3).flatten(1)]
        return torch.cat(out, 1)

    return (feats(x) + feats(x.flip(-1))) / 2


def ridge_probe(train_x: torch.Tensor, train_y, train_groups, test_x: torch.Tensor, folds: int = 3) -> np.ndarray:
    """Ridge regression on standardised features, the ridge strength chosen from a grid by `folds`-fold
    cross-validation with whole people (train_groups) held out; returns predictions for test_x (numpy)."""
    X = train_x.double().numpy()
    y = np.asarray(train_y, dtype=np.float64)
    groups = np.asarray(train_groups)
    if len(X) != len(y) or len(y) != len(groups):
        raise ValueError(f"ridge_probe: {len(X)} rows, {len(y)} targets and {len(groups)} groups must be equal")
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Xs, Xt = (X - mu) / sd, (test_x.double().numpy() - mu) / sd
    uniq = np.unique(groups)
    fold_of = {g: k % folds for k, g in enumerate(np.random.default_rng(0).permutation(uniq))}
    fold = np.array([fold_of[g] for g in groups])
    rel = np.logspace(-5, 1, 13)

    def fit(A, b):  # returns, for each ridge strength, (weights, intercept)
        a_mu, b_mu = A.mean(0), b.mean()
        U, S, Vt = np.linalg.svd(A - a_mu, full_matrices=False)
        lam = rel * (S[0] ** 2 if len(S) else 1.0)
        Uy = U.T @ (b - b_mu)
        out = []
        for lm in lam:
            w = Vt.T @ (S / (S**2 + lm) * Uy)
            out.append((w, b_mu - a_mu @ w))
        return out

    err = np.zeros(len(rel))
    if len(uniq) >= folds:
        for k in range(folds):
            tr, va = fold != k, fold == k
            for j, (w, c) in enumerate(fit(Xs[tr], y[tr])):
                err[j] += ((Xs[va] @ w + c - y[va]) ** 2).sum()
    w, c = fit(Xs, y)[int(np.argmin(err))]
    return Xt @ w + c


def face_premises(n_train_identities: int = 200, n_test_identities: int = 100, n_train_frames: int = 600,
                  n_test_frames: int = 300, image_size: int = 64, lr_size: int = 8, seed: int = 0,
                  **world_overrides) -> list:
    """Gender and age of HELD-OUT people from the 8x8 (`lr_size`) image and from the HR (`image_size`) frame, each
    beside its control (the same world with face_gender_coupling = face_age_coupling = 0) -> 4 `Premise` rows.

    Training frames come from train-split clips (train people), test frames from test-split clips (people never
    seen). Gender: ridge classifier on `face_features` (+-1 targets, sign), accuracy; age: ridge regression,
    Pearson r. `world_overrides` are further SynthConfig fields (e.g. max_yaw). Cost: one texture per person and
    one 1-frame render per frame, for two worlds (measured: 28 CPU-s at the defaults, one core)."""
    from avfh_core.data.synth import SynthConfig, SynthWorld

    if image_size % lr_size:
        raise ValueError(f"face_premises: lr_size {lr_size} must divide image_size {image_size}")
    results = {}
    for coupling in (1.0, 0.0):
        cfg = SynthConfig(**{**dict(image_size=image_size, num_frames=1, render_frontal=False, seed=seed,
                                    n_train_identities=n_train_identities, n_test_identities=n_test_identities,
                                    face_gender_coupling=coupling, face_age_coupling=coupling), **world_overrides})
        world = SynthWorld(cfg)
        tr, ltr = face_frames(world, "train", n_train_frames)
        te, lte = face_frames(world, "test", n_test_frames)
        for name, size in (("lr", lr_size), ("hr", image_size)):
            ftr, fte = face_features(tr, size), face_features(te, size)
            g = ridge_probe(ftr, 2 * ltr["gender"] - 1, ltr["person"], fte)
            a = ridge_probe(ftr, ltr["age"], ltr["person"], fte)
            results[(name, "gender", coupling)] = float(((g > 0) == (lte["gender"] > 0.5)).mean())
            results[(name, "age", coupling)] = (float(np.corrcoef(a, lte["age"])[0, 1])
                                                if np.std(a) > 0 and np.std(lte["age"]) > 0 else 0.0)
    detail = (f"{n_train_identities} train people ({n_train_frames} frames) -> {n_test_identities} held-out people "
              f"({n_test_frames} frames), {image_size} px, ridge on pooled pixels + detail energy")
    rows = []
    for name, label in (("lr", f"{lr_size}x{lr_size}"), ("hr", f"HR {image_size} px")):
        rows.append(Premise("ear", f"gender from the {label} face", results[(name, "gender", 1.0)],
                            results[(name, "gender", 0.0)], 0.5, 0.85 if name == "lr" else 0.9, "accuracy",
                            detail))
        rows.append(Premise("ear", f"age from the {label} face", results[(name, "age", 1.0)],
                            results[(name, "age", 0.0)], 0.0, 0.0 if name == "lr" else 0.6, "pearson r",
                            detail + ("; the paper's premise is that age is mostly lost at 8x8 (no floor: it "
                                      "should stay well below the HR row)" if name == "lr" else "")))
    return rows



# --- motion, pose and mouth probes ---
# Cheap: they read head poses and landmarks from `SynthWorld.head_motion` (no rendering, no speech), except the
# neighbour-frame PSNR, which renders a few clips. The control of each is the same probe on the world with the cue
# switched off (dataclasses.replace of its config).

RIGID_POINTS = tuple(range(17, 36)) + (36, 39, 42, 45)  # brows, nose, eye corners: they move only with the head


def _variant(world, **changes):
    return type(world)(dataclasses.replace(world.config, **changes))


def _check_n(n_clips: int, name: str = "n_clips") -> None:
    if isinstance(n_clips, bool) or not isinstance(n_clips, int) or n_clips < 1:
        raise ValueError(f"{name} must be a positive int, got {n_clips!r}")


def interframe_motion_px(world, n_clips: int, split: str = "test", scale: int = 4) -> float:
    """Mean displacement between neighbouring frames of the rigid landmarks (RIGID_POINTS), in LR pixels at
    downscale factor `scale` (HR pixels / scale), over the first `n_clips` clips of `split`."""
    _check_n(n_clips)
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive int (the LR downscale factor), got {scale!r}")
    if world.config.num_frames < 2:
        raise ValueError(f"interframe_motion_px needs clips of >= 2 frames, the world has {world.config.num_frames}")
    d = [world.head_motion(i, split)["landmarks"][:, list(RIGID_POINTS)].diff(dim=0).norm(dim=-1).mean()
         for i in range(n_clips)]
    return float(torch.stack(d).mean()) / scale


def neighbour_psnr(world, n_clips: int, split: str = "test", scale: int = 4) -> float:
    """PSNR (dB) between neighbouring LR frames (HR box-downsampled by `scale`), pooled over the first `n_clips`
    clips: how different the frames a multi-frame SR network fuses are (higher = more alike)."""
    _check_n(n_clips)
    mse = []
    for i in range(n_clips):
        v = world.clip(i, split).video
        lr = torch.nn.functional.avg_pool2d(v, scale) if scale > 1 else v
        mse.append(((lr[1:] - lr[:-1]) ** 2).mean())
    m = float(torch.stack(mse).mean())
    return float("inf") if m == 0 else -10 * float(np.log10(m))


def motion_premises(world, n_clips: int = 16, split: str = "test", scale: int = 4, floor: float = 0.25,
                    n_render: int = 2) -> list[Premise]:
    """SECNet's premise: neighbouring LR frames show the face shifted by a sub-pixel (or larger) amount, so fusing
    frames adds information. Value: `interframe_motion_px` of `world`; control: the same world with
    rotation_motion = translation_motion = 0 (exactly 0 px). The detail adds the neighbour-frame PSNR of
    `n_render` rendered clips of both (0: skip rendering)."""
    still = _variant(world, rotation_motion=0.0, translation_motion=0.0)
    value = interframe_motion_px(world, n_clips, split, scale)
    control = interframe_motion_px(still, n_clips, split, scale)
    detail = f"x{scale}, {n_clips} {split} clips"
    if n_render > 0:
        detail += (f"; neighbour-frame LR PSNR {neighbour_psnr(world, n_render, split, scale):.1f} dB "
                   f"(motion 0: {neighbour_psnr(still, n_render, split, scale):.1f} dB)")
    return [Premise("secnet", "neighbouring LR frames move (multi-frame sub-pixel motion)", value, control, 0.0,
                    floor, "LR px", detail)]


def yaw_fraction(world, n_clips: int, split: str = "test", below: float = 20.0) -> float:
    """Fraction of frames of the first `n_clips` clips of `split` whose |yaw| < `below` degrees."""
    _check_n(n_clips)
    y = torch.cat([world.pose(i, split)[:, 0] for i in range(n_clips)])
    return float((y.abs() < below).float().mean())


def pose_premises(world, n_clips: int = 64, split: str = "test", floor: float = 0.8) -> list[Premise]:
    """VFH-GAN's premise: LRW-like near-frontal heads, so mouth crops show the mouth. Value: fraction of frames
    with |yaw| < 20 degrees; control: the same world with the v4 pose distribution (pose_preset "wide", up to
    +-max_yaw), which the review found turning a third of the clips beyond 30 degrees. No chance level (NaN)."""
    wide = _variant(world, pose_preset="wide")
    f20, c20 = yaw_fraction(world, n_clips, split, 20.0), yaw_fraction(wide, n_clips, split, 20.0)
    f30, c30 = yaw_fraction(world, n_clips, split, 30.0), yaw_fraction(wide, n_clips, split, 30.0)
    detail = (f"pose_preset {world.config.pose_preset!r}; |yaw| < 30 deg: {f30:.2f} (wide: {c30:.2f}); "
              f"{n_clips} {split} clips")
    return [Premise("vfhgan", "near-frontal heads (fraction of frames with |yaw| < 20 deg)", f20, c20,
                    float("nan"), floor, "fraction", detail)]


def mouth_width_px(world, n_clips: int, split: str = "test") -> float:
    """Mean outer mouth width |p54 - p48| (HR pixels) of a neutral mouth over the frames of the first `n_clips`
    clips (head pose and framing included; speech widens or rounds it by up to +-18 %)."""
    _check_n(n_clips)
    w = [(lm[:, 54] - lm[:, 48]).norm(dim=-1).mean() for lm in
         (world.head_motion(i, split)["landmarks"] for i in range(n_clips))]
    return float(torch.stack(w).mean())


def mouth_premises(world, n_clips: int = 16, split: str = "test", scale: int = 4,
                   floor_fraction: float = 0.125) -> list[Premise]:
    """Lip reading's premise: the mouth is large enough in the frame. Value: `mouth_width_px` at the world's
    image size; control: the same world at face_scale 1 (the v4 framing); floor: `floor_fraction` of the image
    side (8 px at 64 px, an [ours] choice). The detail gives the width in LR pixels at x`scale`."""
    H = world.config.image_size
    value = mouth_width_px(world, n_clips, split)
    control = mouth_width_px(_variant(world, face_scale=1.0), n_clips, split)
    detail = (f"{H} px frames, face_scale {world.config.face_scale:g}; {value / scale:.1f} LR px at x{scale}; "
              f"{n_clips} {split} clips")
    return [Premise("vfhgan", "the mouth is large enough for lip reading (mouth width)", value, control, 0.0,
                    floor_fraction * H, "HR px", detail)]


# --- the premise table ---


def premise_table(world, quick: bool = False) -> list[Premise]:
    """Every paper premise the world must carry, each measured on held-out people beside its coupling-0 control
    (issue 11): mouth from audio, age / gender / identity from the voice and the clean-speech floor, gender and age
    from the 8x8 and the HR face, inter-frame LR motion, near-frontal poses, mouth size.

    `world` sets the image size, seed and people of the probes that render; the voice and face probes build their
    own worlds (with their couplings at 0 for the controls) from the same seed and size. `quick` shrinks every
    sample about 4x (the smoke preset: the rows then only show that the probes run, not the premises' values)."""
    c = world.config
    k = 0.25 if quick else 1.0

    def n(x: int, lo: int) -> int:
        return max(lo, int(x * k))

    rows = [sync_premise(world, n(24, 4))]
    rows += voice_premises(n_train_clips=n(200, 24), n_test_clips=n(120, 24), n_train_identities=n(100, 12),
                           n_test_identities=n(50, 8), seed=c.seed)
    rows += face_premises(n_train_identities=n(200, 24), n_test_identities=n(100, 16), n_train_frames=n(600, 96),
                          n_test_frames=n(300, 64), image_size=max(c.image_size, 32), lr_size=8, seed=c.seed)
    rows += motion_premises(world, n_clips=n(16, 4))
    rows += pose_premises(world, n_clips=n(64, 16))
    rows += mouth_premises(world, n_clips=n(16, 4))
    return rows
