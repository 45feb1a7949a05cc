"""A procedural noise bank for noisy-speech experiments (Eskimez et al., ICASSP 2020, sec. 4.1), and mixing at a
requested signal-to-noise ratio.

The paper trains with 138 non-stationary noise types of the Sound Ideas corpus at -6 ... 30 dB SNR (3 dB steps) and
tests with five *unseen* types, babble, cafeteria, motorcycle, speech-shaped and factory, at -10 ... 30 dB (1 dB
steps). No corpus can be downloaded here, so both sets are synthesised:

- TEST_TYPES (5): the paper's five test types, each built from its own generator:
  babble (six overlapping syllable-rate talkers: formant-filtered pulse trains with 4 Hz syllable envelopes),
  cafeteria (four talkers, further away, plus clatter: short decaying high-frequency bursts), motorcycle (engine
  firing harmonics at a wandering 25-60 Hz plus exhaust noise), speech-shaped (stationary noise with a long-term
  speech spectrum), factory (mains hum harmonics, periodic impacts and broadband machinery).
- TRAIN_TYPES (138, as many as the paper's): six other generator families x 23 parameter settings: coloured
  noise (spectral slopes), band noise (centre frequencies), amplitude-modulated noise (modulation rates), hums
  (fundamentals), click trains (rates) and chirps (sweep rates). No family is a test generator, so the test types
  are unseen by construction (disjoint generators, not only disjoint seeds).

Every noise is a pure function of (type, n_samples, seed) at `sample_rate` (8 kHz by default, the paper's rate),
normalised to unit RMS. `mix_at_snr` mixes a batch at per-item SNRs (the measured SNR equals the requested one).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch

SAMPLE_RATE = 8000
TEST_TYPES = ("babble", "cafeteria", "motorcycle", "speech_shaped", "factory")
TRAIN_FAMILIES = ("coloured", "band", "am", "hum", "clicks", "chirp")
N_SETTINGS = 23  # per training family: 6 x 23 = 138 training types (the paper's count)
TRAIN_TYPES = tuple(f"{f}_{k:02d}" for f in TRAIN_FAMILIES for k in range(N_SETTINGS))
TRAIN_SNRS_DB = tuple(float(s) for s in range(-6, 31, 3))  # sec. 4.1: -6 ... 30 dB, 3 dB steps
TEST_SNRS_DB = tuple(float(s) for s in range(-10, 31))  # sec. 4.1: -10 ... 30 dB, 1 dB steps


def _rng(kind: str, seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(kind.encode())]))


def _speech_spectrum(f: np.ndarray) -> np.ndarray:
    """A long-term average speech spectrum shape: flat to ~500 Hz, then about -9 dB/octave above (low cut 100 Hz)."""
    return (f / (f + 100.0)) / (1.0 + (f / 500.0) ** 1.5)


def _envelope(rng, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """A smooth random positive envelope with fluctuations near rate_hz (syllables, engine load...)."""
    k = max(2, int(n / sr * rate_hz) + 2)
    pts = np.abs(rng.normal(0.0, 1.0, k)) ** 1.5
    return np.interp(np.linspace(0, k - 1, n), np.arange(k), pts)


def _talker(rng, n: int, sr: int) -> np.ndarray:
    """One synthetic talker: a glottal pulse train (wandering F0) through two wandering formant resonances, gated
    by a 3-5 Hz syllable envelope."""
    f0 = rng.uniform(90, 240) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.2, 1) * np.arange(n) / sr))
    phase = np.cumsum(f0 / sr)
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float) + 0.05 * rng.normal(size=n)
    spec = np.fft.rfft(pulses)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    out = np.zeros(n)
    for lo, hi in ((300, 900), (900, 2500)):
        fc, bw = rng.uniform(lo, hi), rng.uniform(80, 200)
        out += np.fft.irfft(spec / (1 + ((f - fc) / bw) ** 2), n=n)
    return out * _envelope(rng, n, sr, rng.uniform(3, 5))


def _bursts(rng, n: int, sr: int, rate: float, decay_s: float, hp_hz: float) -> np.ndarray:
    """Random impulsive events (Poisson, `rate` per second), each a decaying high-passed noise burst."""
    out = np.zeros(n)
    L = max(8, int(decay_s * sr * 5))
    t = np.arange(L) / sr
    for start in np.flatnonzero(rng.random(n) < rate / sr):
        burst = rng.normal(size=L) * np.exp(-t / decay_s) * rng.uniform(0.3, 1.0)
        m = min(L, n - start)
        out[start:start + m] += burst[:m]
    return _highpass(out, sr, hp_hz)


def _highpass(x: np.ndarray, sr: int, hz: float) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    return np.fft.irfft(spec * (f / np.sqrt(f ** 2 + hz ** 2)), n=len(x))


def _harmonics(rng, n: int, sr: int, f0: np.ndarray, n_harm: int, tilt: float) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(f0) / sr
    out = np.zeros(n)
    for h in range(1, n_harm + 1):
        ok = (h * f0) < sr / 2
        out += ok * np.sin(h * phase + rng.uniform(0, 2 * np.pi)) * h ** (-tilt)
    return out


def _test_noise(kind: str, n: int, rng, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    if kind == "babble":
        return sum(_talker(rng, n, sr) for _ in range(6))
    if kind == "cafeteria":
        talk = sum(_talker(rng, n, sr) for _ in range(4))
        talk = talk / (np.std(talk) + 1e-12)
        clatter = _bursts(rng, n, sr, rate=3.0, decay_s=0.01, hp_hz=1500)
        return talk + 1.5 * clatter / (np.std(clatter) + 1e-12)
    if kind == "motorcycle":
        rpm = 25 + 35 * _envelope(rng, n, sr, 0.5) / 3
        engine = _harmonics(rng, n, sr, np.clip(rpm, 20, 70), 40, 0.7)
        exhaust = np.fft.irfft(np.fft.rfft(rng.normal(size=n)) / (1 + np.fft.rfftfreq(n, 1 / sr) / 300), n=n)
        return engine / (np.std(engine) + 1e-12) + 0.5 * exhaust / (np.std(exhaust) + 1e-12)
    if kind == "speech_shaped":
        white = rng.normal(size=n)
        return np.fft.irfft(np.fft.rfft(white) * _speech_spectrum(np.fft.rfftfreq(n, 1 / sr)), n=n)
    if kind == "factory":
        hum = _harmonics(rng, n, sr, np.full(n, 50.0), 12, 0.5)
        period = rng.uniform(0.3, 0.8)
        impacts = np.zeros(n)
        for start in np.arange(rng.uniform(0, period), n / sr, period):
            k = int(start * sr)
            L = min(int(0.15 * sr), n - k)
            impacts[k:k + L] += rng.normal(size=L) * np.exp(-np.arange(L) / (0.03 * sr))
        machinery = rng.normal(size=n) * (1 + 0.5 * np.sin(2 * np.pi * rng.uniform(5, 15) * t))
        return (hum / (np.std(hum) + 1e-12) + impacts / (np.std(impacts) + 1e-12)
                + 0.7 * machinery / np.std(machinery))
    raise ValueError(f"unknown test noise type {kind!r}; known: {TEST_TYPES}")


def _train_noise(kind: str, n: int, rng, sr: int) -> np.ndarray:
    family, k = kind.rsplit("_", 1)
    u = int(k) / (N_SETTINGS - 1)  # the setting in [0, 1]
    t = np.arange(n) / sr
    white = rng.normal(size=n)
    f = np.fft.rfftfreq(n, 1 / sr)
    if family == "coloured":  # spectral slope -6 ... +3 dB/octave
        slope = -6 + 9 * u
        return np.fft.irfft(np.fft.rfft(white) * np.maximum(f, 20.0) ** (slope / 6.02), n=n)
    if family == "band":  # a one-third-octave-ish band, centre 150 Hz ... 3.5 kHz
        fc = 150 * (3500 / 150) ** u
        return np.fft.irfft(np.fft.rfft(white) * np.exp(-0.5 * (np.log2(np.maximum(f, 1) / fc) / 0.25) ** 2), n=n)
    if family == "am":  # white noise amplitude-modulated at 0.5 ... 30 Hz
        rate = 0.5 * 60 ** u
        return white * (1 + 0.9 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)))
    if family == "hum":  # a harmonic hum, fundamental 60 ... 600 Hz, with a little noise
        f0 = 60 * 10 ** u
        return _harmonics(rng, n, sr, np.full(n, f0), 8, 1.0) + 0.05 * white
    if family == "clicks":  # click trains, 1 ... 60 per second
        rate = 60 ** u
        return _bursts(rng, n, sr, rate=rate, decay_s=0.002, hp_hz=200) + 0.01 * white
    if family == "chirp":  # repeating sweeps 200 -> 3000 Hz, 0.2 ... 4 s long
        dur = 0.2 * 20 ** u
        frac = (t / dur) % 1.0
        inst = 200 + 2800 * frac
        return np.sin(2 * np.pi * np.cumsum(inst) / sr) + 0.05 * white
    raise ValueError(f"unknown training noise type {kind!r}")


def noise(kind: str, n_samples: int, seed: int = 0, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Noise of type `kind` (a TEST_TYPES or TRAIN_TYPES name), [n_samples] float32 with unit RMS, a pure function
    of (kind, n_samples, seed, sample_rate)."""
    if kind not in TEST_TYPES and kind not in TRAIN_TYPES:
        raise ValueError(f"unknown noise type {kind!r}; known: the 5 TEST_TYPES {TEST_TYPES} and the "
                         f"{len(TRAIN_TYPES)} TRAIN_TYPES (e.g. {TRAIN_TYPES[0]!r})")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 16:
        raise ValueError(f"n_samples must be an int >= 16, got {n_samples!r}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 4000:
        raise ValueError(f"sample_rate must be an int >= 4000 Hz, got {sample_rate!r}")
    rng = _rng(kind, seed)
    x = _test_noise(kind, n_samples, rng, sample_rate) if kind in TEST_TYPES else \
        _train_noise(kind, n_samples, rng, sample_rate)
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    rms = math.sqrt(float(np.mean(x ** 2)))
    if not rms > 0:
        raise RuntimeError(f"noise {kind!r} came out silent (n_samples={n_samples}, seed={seed})")
    return torch.from_numpy(x / rms).float()


def bank(kinds, n_samples: int, seed: int = 0, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """[len(kinds), n_samples]: one segment per type (crop from it with `crops`)."""
    kinds = list(kinds)
    if not kinds:
        raise ValueError("bank: no noise types")
    return torch.stack([noise(k, n_samples, seed, sample_rate) for k in kinds])


def crops(bank_: torch.Tensor, types: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """[B, length] segments of `bank_` [K, N]: row types[b] from starts[b] (wrapping around the end)."""
    if bank_.dim() != 2:
        raise ValueError(f"bank must be [K, N], got {tuple(bank_.shape)}")
    idx = (starts[:, None].long() + torch.arange(length, device=bank_.device)[None]) % bank_.shape[1]
    return bank_[types.long()[:, None], idx]


def snr_db(clean: torch.Tensor, noise_: torch.Tensor) -> torch.Tensor:
    """Per item 10 log10(sum clean^2 / sum noise^2) over the last axis."""
    return 10 * torch.log10(clean.double().pow(2).sum(-1) / noise_.double().pow(2).sum(-1))


def mix_at_snr(clean: torch.Tensor, noise_: torch.Tensor, snr: torch.Tensor | float) -> torch.Tensor:
    """clean + g * noise per item [B, S], g chosen so that snr_db(clean, g * noise) equals `snr` (dB, a number or
    [B]). The speech's energy is measured over the whole clip, as the paper's SNR (no active-speech weighting)."""
    if clean.shape != noise_.shape or clean.dim() != 2:
        raise ValueError(f"clean and noise must both be [B, S], got {tuple(clean.shape)} and {tuple(noise_.shape)}")
    snr = torch.as_tensor(snr, dtype=torch.float64, device=clean.device).expand(clean.shape[0])
    if not torch.isfinite(snr).all():
        raise ValueError(f"snr must be finite dB values, got {snr.tolist()}")
    pc, pn = clean.double().pow(2).sum(-1), noise_.double().pow(2).sum(-1)
    if (pc <= 0).any() or (pn <= 0).any():
        raise ValueError("mix_at_snr: a silent clean or noise item has no SNR")
    g = torch.sqrt(pc / (pn * 10 ** (snr / 10)))
    return (clean.double() + g[:, None] * noise_.double()).to(clean.dtype)


def resample(audio: torch.Tensor, orig: int, new: int = SAMPLE_RATE) -> torch.Tensor:
    """Resample [..., S] from `orig` to `new` Hz (torchaudio's band-limited sinc resampler)."""
    import torchaudio.functional as AF

    if orig == new:
        return audio
    return AF.resample(audio, orig, new)


__all__ = ["SAMPLE_RATE", "TEST_SNRS_DB", "TEST_TYPES", "TRAIN_FAMILIES", "TRAIN_SNRS_DB", "TRAIN_TYPES", "bank",
           "crops", "mix_at_snr", "noise", "resample", "snr_db"]
