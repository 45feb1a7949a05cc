"""A planted world for the noise-resilience claims: a speech readout that provably uses the audio, trained with
and without noise, tested with noise inside and outside the band that carries the mouth.

Why it exists. The talking-face paper's noise-resilience claims (NR beats Proposed below 10 dB SNR on LRW, at all
SNRs on GRID) compare two generators under noise. If a generator ignores its speech, noise cannot hurt it and
noise-resilient training cannot help it, so "NR does not beat Proposed" would say nothing. Before such a verdict
counts, the audit must show that the same protocol (the < 10 dB band of Fig. 5, the test noise types, the seeds,
the one-sided test) sees a noise-resilience gain where one exists by construction, and does not invent one where
none can exist.

The world. In the synthesizer (data/speech.py) the jaw opening sets the first formant F1, so the mouth lives in the
F1 band of the speech (`F1_BAND_HZ`, computed from the phoneme table and the vocal-tract scale range). The
"model" is a ridge readout from log-mel energies of that band (+-2 video frames of context) to the mouth
landmarks' motion (each clip's mean mouth removed, in inter-ocular units): small enough to fit in seconds, and it
uses the audio by construction (it beats the no-audio floor on clean speech). Two readouts per seed, on the same
bootstrap resample of the training clips:

- "clean": fitted on clean speech (the Proposed model's training);
- "nr": fitted on clean speech and on the same speech mixed with the training noise family at the training SNRs
  (the Proposed-NR recipe: noisy-speech inputs with clean targets, `noise_bank.TRAIN_TYPES`, `TRAIN_SNRS_DB`).

Each is scored on the held-out clips' < 10 dB test noise (each clip's own noise and SNR), with the noise confined
either to the F1 band ("in": noise hides the mouth, so NR must help) or to `OUT_BAND_HZ`, well above it ("out":
the readout never hears that band, so NR cannot help and the gain must vanish). Metric: mean mouth-point error in
inter-ocular units, lower is better.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torchaudio

from avfh_core.data import noise_bank as nb
from avfh_core.data import speech
from avfh_core.data.landmarks import LEFT_EYE, MOUTH, RIGHT_EYE
from avfh_core.data.stats import ridge_fit_predict

TRACT_RANGE = (0.85, 1.30)
"""The vocal-tract formant scale's range over the world's voices (data/speech.voice_from_attributes: 1.17 for women,
x exp(0.04 z), x (1 - 0.05 old)): a 3-sigma span, rounded out."""
OUT_BAND_HZ = (2000.0, 4000.0)
"""The band the "out" noise is confined to: twice the F1 band's top, up to Nyquist at 8 kHz (a gap of an octave,
so the mel filters' skirts do not carry it into the readout's bins)."""
FPS = 25
CONTEXT = 2  # video frames each side
N_MELS = 32
RIDGE = 1e-3  # penalty per training sample (data.stats.ridge_fit_predict); fixed before any test score


def f1_band(tract: tuple[float, float] = TRACT_RANGE) -> tuple[float, float]:
    """(lo, hi) Hz: the lowest and highest F1 target of any voiced phoneme, times the tract range's ends."""
    f1 = [p["f"][0] for p in speech.PHONEMES.values() if p.get("f") and p.get("voice", 0) > 0]
    return math.floor(min(f1) * tract[0]), math.ceil(max(f1) * tract[1])


F1_BAND_HZ = f1_band()


def band_limited(x: torch.Tensor, band: tuple[float, float], sample_rate: int = nb.SAMPLE_RATE) -> torch.Tensor:
    """x [..., n] with every frequency outside band = (lo, hi) Hz removed (an ideal FFT mask)."""
    lo, hi = band
    if not 0 <= lo < hi:
        raise ValueError(f"band_limited: need 0 <= lo < hi, got band={band}")
    n = x.shape[-1]
    spec = torch.fft.rfft(x)
    f = torch.fft.rfftfreq(n, 1 / sample_rate)
    return torch.fft.irfft(spec * ((f >= lo) & (f <= hi)).to(spec.dtype), n)


class BandFeatures:
    """Log-mel energies per video frame (the mean of the 4 hops of 10 ms in each 40 ms frame) of the mel bins whose
    centre lies in `band`, with CONTEXT frames on each side stacked: [N, 320 T] audio -> [N, T, bins (2C+1)]."""

    def __init__(self, band: tuple[float, float] = F1_BAND_HZ, sample_rate: int = nb.SAMPLE_RATE):
        self.hop = sample_rate // (4 * FPS)
        self.per_frame = sample_rate // FPS
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=4 * self.hop, hop_length=self.hop,
                                                        n_mels=N_MELS, f_max=sample_rate / 2, power=2.0)
        fb = self.mel.mel_scale.fb  # [freq bins, mels]
        freqs = torch.linspace(0, sample_rate / 2, fb.shape[0])
        centres = (fb * freqs[:, None]).sum(0) / fb.sum(0).clamp(min=1e-12)
        self.bins = torch.nonzero((centres >= band[0]) & (centres <= band[1])).flatten()
        if len(self.bins) == 0:
            raise ValueError(f"BandFeatures: no mel bin has its centre in {band} Hz")
        self.centres = centres[self.bins]

    def __call__(self, audio: torch.Tensor) -> torch.Tensor:
        T = audio.shape[-1] // self.per_frame
        m = self.mel(audio)[..., self.bins, : 4 * T]
        m = torch.log(m + 1e-8).reshape(*m.shape[:-1], T, 4).mean(-1).transpose(-1, -2)  # [N, T, bins]
        p = torch.nn.functional.pad(m.transpose(1, 2), (CONTEXT, CONTEXT), mode="replicate").transpose(1, 2)
        return torch.cat([p[:, k:k + T] for k in range(2 * CONTEXT + 1)], -1)


def mouth_motion(landmarks: torch.Tensor) -> torch.Tensor:
    """landmarks [N, T, 68, 2] -> [N, T, 40]: the mouth points minus the clip's mean mouth, over the clip's mean
    inter-ocular distance (what speech can say; the clip's mean mouth is the person's, not the speech's)."""
    m = landmarks[:, :, MOUTH]
    iod = (landmarks[:, :, LEFT_EYE].mean(2) - landmarks[:, :, RIGHT_EYE].mean(2)).norm(dim=-1).mean(1)
    return ((m - m.mean(1, keepdim=True)) / iod[:, None, None, None]).flatten(2)


def mouth_error(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean mouth-point distance (inter-ocular units) of predicted and true `mouth_motion` [N, T, 40]."""
    return float((pred - target).unflatten(-1, (-1, 2)).norm(dim=-1).mean())


def readout(X: torch.Tensor, Y: torch.Tensor, tests: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fit the ridge readout on features X [N, T, F] -> targets Y [N, T, D] (every frame a sample) and predict
    every test set {name: [M, T, F]} -> {name: [M, T, D]} (`data.stats.ridge_fit_predict`, penalty RIDGE)."""
    flat = torch.cat([t.flatten(0, 1) for t in tests.values()])
    pred = torch.from_numpy(ridge_fit_predict(X.flatten(0, 1), Y.flatten(0, 1).double().numpy(), flat, RIDGE)).float()
    out, k = {}, 0
    for name, t in tests.items():
        n = t.shape[0] * t.shape[1]
        out[name] = pred[k:k + n].reshape(*t.shape[:2], -1)
        k += n
    return out


def _stack(items: Sequence[Mapping[str, torch.Tensor]], key: str, where: str) -> torch.Tensor:
    missing = [i for i, it in enumerate(items) if key not in it]
    if missing:
        raise ValueError(f"noise_control: {where} clip(s) {missing[:5]} have no {key!r} (test clips need the noisy "
                         f"speech of the < 10 dB band: train.talkingface.clip_data(cfg, 'test', ...))")
    return torch.stack([it[key] for it in items])


def test_noise(items: Sequence[Mapping[str, torch.Tensor]], band: tuple[float, float], key: str = "lt10"
               ) -> torch.Tensor:
    """Each held-out clip's speech with its own test noise (the `audio_<key>` mix minus the clean speech) confined
    to `band` and mixed back at the clip's own SNR (`snr_<key>`): [N, 320 T]."""
    clean, mixed = _stack(items, "audio", "test"), _stack(items, f"audio_{key}", "test")
    snr = _stack(items, f"snr_{key}", "test")
    noise = band_limited(mixed - clean, band)
    return nb.mix_at_snr(clean + 1e-6, noise, snr)


def control_rows(train: Sequence[Mapping[str, torch.Tensor]], test: Sequence[Mapping[str, torch.Tensor]],
                 n_seeds: int = 5, *, noise_seconds: float = 8.0, key: str = "lt10"
                 ) -> tuple[dict[str, dict[str, list[float]]], dict[str, float]]:
    """Rows {row: {"mouth_error": [one value per seed]}} of the planted noise-resilience world (module docstring):
    readout_clean_in / readout_nr_in (noise in the F1 band), readout_clean_out / readout_nr_out (noise in
    OUT_BAND_HZ); and premises {name: value}: the no-audio floor, the clean readout on clean test speech, the band
    and the number of mel bins the readout hears.

    Seed s draws the bootstrap resample of the training clips (shared by both readouts) and the NR readout's noise
    from its own generators; the test set and its noise are fixed."""
    if n_seeds < 1:
        raise ValueError(f"control_rows: n_seeds must be >= 1, got {n_seeds}")
    if len(train) < 2 or len(test) < 1:
        raise ValueError(f"control_rows: need >= 2 training and >= 1 test clips, got {len(train)} and {len(test)}")
    feats = BandFeatures()
    audio, target = _stack(train, "audio", "training"), mouth_motion(_stack(train, "landmarks", "training"))
    t_clean = _stack(test, "audio", "test")
    t_target = mouth_motion(_stack(test, "landmarks", "test"))
    X = feats(audio)
    tests = {"in": feats(test_noise(test, F1_BAND_HZ, key)), "out": feats(test_noise(test, OUT_BAND_HZ, key))}
    X_clean = feats(t_clean)
    rows: dict[str, dict[str, list[float]]] = {f"readout_{m}_{w}": {"mouth_error": []}
                                               for w in tests for m in ("clean", "nr")}
    clean_scores = []
    snrs = torch.tensor(nb.TRAIN_SNRS_DB)
    for s in range(n_seeds):
        g = torch.Generator().manual_seed(s)
        idx = torch.randint(len(train), (len(train),), generator=g)
        bank = nb.bank(nb.TRAIN_TYPES, int(noise_seconds * nb.SAMPLE_RATE), seed=s)
        kinds = torch.randint(len(nb.TRAIN_TYPES), (len(idx),), generator=g)
        seg = nb.crops(bank, kinds, torch.randint(bank.shape[1], (len(idx),), generator=g), audio.shape[1])
        noisy = nb.mix_at_snr(audio[idx] + 1e-6, seg, snrs[torch.randint(len(snrs), (len(idx),), generator=g)])
        for name, fx, fy in (("clean", X[idx], target[idx]),
                             ("nr", torch.cat([X[idx], feats(noisy)]), torch.cat([target[idx], target[idx]]))):
            pred = readout(fx, fy, {**tests, "speech": X_clean})
            for w in tests:
                rows[f"readout_{name}_{w}"]["mouth_error"].append(mouth_error(pred[w], t_target))
            if name == "clean":
                clean_scores.append(mouth_error(pred["speech"], t_target))
    premises = {"floor": mouth_error(torch.zeros_like(t_target), t_target),
                "clean_speech": sum(clean_scores) / len(clean_scores),
                "band_lo_hz": float(F1_BAND_HZ[0]), "band_hi_hz": float(F1_BAND_HZ[1]), "bins": float(len(feats.bins))}
    return rows, premises


__all__ = ["BandFeatures", "CONTEXT", "F1_BAND_HZ", "OUT_BAND_HZ", "RIDGE", "TRACT_RANGE", "band_limited",
           "control_rows", "f1_band", "mouth_error", "mouth_motion", "readout", "test_noise"]
