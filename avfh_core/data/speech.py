"""A formant (source-filter) speech synthesizer whose articulation also drives the mouth.

The premise of every paper here is that audio and mouth are coupled: VFH-GAN's lip-reading loss (Sharma et al.,
Sec. III-C), the talking-face generator of Eskimez et al. (Sec. 2), and the identity cues in a voice used by
Meishvili et al. ("Learning to Have an Ear", Sec. 3). The synthetic world therefore produces speech from the same
articulatory timeline that moves the lips:

    word -> phonemes -> segments with targets (F1..F3, voicing, frication, jaw opening, lip spread, rounding)
         -> coarticulated tracks (Cohen-Massaro dominance blending, one timeline for audio and video)
         -> audio: harmonic source at F0 through a formant envelope + shaped noise (fricatives, bursts, breath)
         -> video: per-frame jaw opening / lip width / rounding / closure -> mouth landmarks

F1 is tied to jaw opening (an open jaw raises F1, Lindblom & Sundberg 1971), so the mel spectrogram's low formant
and the rendered mouth co-move. Why a synthesizer of our own and not espeak-ng: it is deterministic to the sample on
every platform, needs no native library, runs at thousands of clips per minute, and gives the articulatory tracks
(not just phoneme events) that the mouth needs. The voice depends on gender, age and per-identity parameters
(F0, vocal-tract length, speaking rate, spectral tilt, breathiness, jitter, shimmer, tremor) as real voices do
(`voice_from_attributes`, with the sources), with a `coupling` in [0, 1] that blends them towards a random voice
unrelated to the face. "Clean" speech sits on a room tone (`room_noise`, a level in dBFS), as in a recording.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch

SAMPLE_RATE = 16000
CONTROL_HOP = 40  # samples per control step (400 Hz), = the log-mel hop

# Phoneme table. F1-F3 in Hz for an adult male vocal tract (Peterson & Barney 1952 for vowels); `voice` is the
# amplitude of the harmonic source, `noise` of the frication/burst noise (centre `nc`, width `nb` in Hz), `dur` the
# base duration in ms; visemes: `jaw` opening 0..1 (None: derived from F1), `spread` -1 (rounded) .. 1 (spread),
# `closed` 1 for a full lip closure (bilabials), `lab` 1 for lower lip to upper teeth (labiodentals). `dom` is the
# dominance (how strongly the segment imposes its visual target on its neighbours).
_P = dict
PHONEMES: dict[str, dict] = {
    # silence: mouth at rest (lips lightly together), no source
    "SIL": _P(f=(500, 1500, 2500), voice=0.0, dur=100, jaw=0.03, closed=0.6, dom=0.5),
    # vowels
    "IY": _P(f=(270, 2290, 3010), voice=1.0, dur=110, spread=0.8),
    "IH": _P(f=(390, 1990, 2550), voice=1.0, dur=80, spread=0.5),
    "EH": _P(f=(530, 1840, 2480), voice=1.0, dur=90, spread=0.4),
    "AE": _P(f=(660, 1720, 2410), voice=1.0, dur=120, spread=0.5),
    "AA": _P(f=(730, 1090, 2440), voice=1.0, dur=120, spread=0.1),
    "AO": _P(f=(570, 840, 2410), voice=1.0, dur=120, spread=-0.5),
    "UH": _P(f=(440, 1020, 2240), voice=1.0, dur=80, spread=-0.5),
    "UW": _P(f=(300, 870, 2240), voice=1.0, dur=110, spread=-0.9),
    "AH": _P(f=(640, 1190, 2390), voice=1.0, dur=80, spread=0.0),
    "ER": _P(f=(490, 1350, 1690), voice=1.0, dur=110, spread=-0.3),
    "OW": _P(f=(500, 900, 2350), voice=1.0, dur=120, spread=-0.8),
    # sonorants
    "W": _P(f=(300, 700, 2200), voice=0.8, dur=60, spread=-1.0, dom=2.0),
    "Y": _P(f=(280, 2200, 2900), voice=0.8, dur=60, spread=0.6),
    "R": _P(f=(420, 1300, 1600), voice=0.8, dur=70, spread=-0.6),
    "L": _P(f=(360, 1100, 2600), voice=0.8, dur=70, jaw=0.2, spread=0.1),
    "M": _P(f=(250, 1000, 2200), voice=0.5, dur=80, jaw=0.0, closed=1.0, dom=4.0),
    "N": _P(f=(250, 1600, 2500), voice=0.5, dur=70, jaw=0.12),
    "NG": _P(f=(250, 2000, 2600), voice=0.5, dur=80, jaw=0.15),
    # fricatives
    "F": _P(f=(300, 1100, 2300), voice=0.0, noise=0.35, nc=5000, nb=2500, dur=100, jaw=0.08, lab=1.0, dom=3.0),
    "V": _P(f=(300, 1100, 2300), voice=0.5, noise=0.2, nc=5000, nb=2500, dur=70, jaw=0.08, lab=1.0, dom=3.0),
    "TH": _P(f=(300, 1400, 2500), voice=0.0, noise=0.2, nc=5500, nb=3000, dur=90, jaw=0.12),
    "DH": _P(f=(300, 1400, 2500), voice=0.5, noise=0.12, nc=5500, nb=3000, dur=50, jaw=0.12),
    "S": _P(f=(300, 1700, 2600), voice=0.0, noise=0.6, nc=6300, nb=1200, dur=110, jaw=0.08, spread=0.4),
    "Z": _P(f=(300, 1700, 2600), voice=0.5, noise=0.35, nc=6300, nb=1200, dur=80, jaw=0.08, spread=0.4),
    "SH": _P(f=(300, 1800, 2500), voice=0.0, noise=0.6, nc=3200, nb=1200, dur=110, jaw=0.1, spread=-0.7, dom=2.0),
    "HH": _P(f=None, voice=0.0, noise=0.25, nc=1500, nb=3000, dur=60),
    # plosives: a closure (silent or voice bar) and a release burst
    "P": _P(f=(250, 900, 2200), voice=0.0, dur=70, jaw=0.0, closed=1.0, dom=4.0, burst=(0.5, 1200, 1500)),
    "B": _P(f=(250, 900, 2200), voice=0.2, dur=60, jaw=0.0, closed=1.0, dom=4.0, burst=(0.3, 1200, 1500)),
    "T": _P(f=(300, 1800, 2600), voice=0.0, dur=60, jaw=0.1, burst=(0.5, 4500, 2000)),
    "D": _P(f=(300, 1800, 2600), voice=0.2, dur=50, jaw=0.1, burst=(0.3, 4000, 2000)),
    "K": _P(f=(300, 2000, 2500), voice=0.0, dur=70, jaw=0.15, burst=(0.5, 2500, 1200)),
    "G": _P(f=(300, 2000, 2500), voice=0.2, dur=60, jaw=0.15, burst=(0.3, 2300, 1200)),
    "CH": _P(f=(300, 1800, 2500), voice=0.0, noise=0.5, nc=3200, nb=1500, dur=110, jaw=0.1, spread=-0.7,
             burst=(0.4, 3200, 1500)),
    "JH": _P(f=(300, 1800, 2500), voice=0.3, noise=0.3, nc=3200, nb=1500, dur=90, jaw=0.1, spread=-0.7,
             burst=(0.3, 3200, 1500)),
}
DIPHTHONGS = {"AW": ("AA", "UH"), "AY": ("AA", "IY"), "EY": ("EH", "IY"), "OY": ("AO", "IY")}

# LRW-like vocabulary (words of the LRW 500-word list), with ARPAbet pronunciations. `vocab_size` takes a prefix.
LEXICON: dict[str, str] = {
    "ABOUT": "AH B AW T", "MONEY": "M AH N IY", "FAMILY": "F AE M AH L IY", "WATER": "W AO T ER",
    "PEOPLE": "P IY P AH L", "SOMETHING": "S AH M TH IH NG", "BECAUSE": "B IH K AH Z", "NUMBER": "N AH M B ER",
    "SHOULD": "SH UH D", "ALWAYS": "AO L W EY Z", "HAPPEN": "HH AE P AH N", "MAYBE": "M EY B IY",
    "POWER": "P AW ER", "GROUP": "G R UW P", "LEADER": "L IY D ER", "CHANGE": "CH EY N JH",
    "WOMEN": "W IH M AH N", "YOUNG": "Y AH NG", "THOUGHT": "TH AO T", "PUBLIC": "P AH B L IH K",
    "BEFORE": "B IH F AO R", "ALLOW": "AH L AW", "NEVER": "N EH V ER", "OPEN": "OW P AH N",
    "ABSOLUTELY": "AE B S AH L UW T L IY", "WEATHER": "W EH DH ER", "MEMBERS": "M EH M B ER Z",
    "SCHOOL": "S K UW L", "FOOD": "F UW D", "AGAIN": "AH G EH N",
}
VOCABULARY: tuple[str, ...] = tuple(LEXICON)

# GRID-like sentence grammar (Cooke et al. 2006): command colour preposition letter digit adverb.
GRID_WORDS: dict[str, dict[str, str]] = {
    "command": {"BIN": "B IH N", "LAY": "L EY", "PLACE": "P L EY S", "SET": "S EH T"},
    "colour": {"BLUE": "B L UW", "GREEN": "G R IY N", "RED": "R EH D", "WHITE": "W AY T"},
    "preposition": {"AT": "AE T", "BY": "B AY", "IN": "IH N", "WITH": "W IH TH"},
    "letter": {"A": "EY", "B": "B IY", "F": "EH F", "L": "EH L", "M": "EH M", "O": "OW", "S": "EH S", "U": "Y UW"},
    "digit": {"ONE": "W AH N", "TWO": "T UW", "THREE": "TH R IY", "FOUR": "F AO R", "FIVE": "F AY V",
              "SIX": "S IH K S", "SEVEN": "S EH V AH N", "EIGHT": "EY T", "NINE": "N AY N", "ZERO": "Z IY R OW"},
    "adverb": {"AGAIN": "AH G EH N", "NOW": "N AW", "PLEASE": "P L IY Z", "SOON": "S UW N"},
}


VOICE_UNIFORMS = 10  # per-person uniforms `voice_from_attributes` reads (face.Identity.voice_u draws this many)

# Age curves of the mean speaking F0 (Hz) of adults, piecewise linear between (age, F0) knots.
# Men: F0 falls from the twenties into middle age and rises after ~60 (Hollien & Shipp 1972, J. Speech Hear. Res.
# 15: 155-159: 120 Hz in the 20s, ~107 Hz in the 40s, 132 Hz in the 70s; Titze 1994, "Principles of Voice
# Production", Ch. 8). Women: a slow fall, then a steeper one after menopause (Stoicheff 1981, J. Speech Hear. Res.
# 24: 437-441; Linville 2001, "Vocal Aging", Ch. 8: ~220 Hz young adults, ~180-190 Hz past 70).
F0_AGE_KNOTS = {
    "m": ((18.0, 121.0), (25.0, 118.0), (45.0, 107.0), (58.0, 110.0), (70.0, 126.0), (80.0, 135.0)),
    "f": ((18.0, 222.0), (30.0, 217.0), (48.0, 208.0), (62.0, 188.0), (75.0, 181.0), (80.0, 180.0)),
}


@dataclass(frozen=True)
class Voice:
    """A speaker's voice. f0: mean fundamental (Hz); tract: formant scale (1 = adult male vocal tract; shorter
    tracts -> higher formants); rate: speaking-rate factor (>1 faster); tilt: extra spectral slope exponent;
    breath: aspiration noise level; jitter: relative F0 perturbation per 2.5 ms control step (cycle-to-cycle
    irregularity); intonation: F0 excursion (semitones); shimmer: relative amplitude perturbation per control step;
    tremor: amplitude of the slow (2-7 Hz) relative F0 modulation."""

    f0: float
    tract: float
    rate: float
    tilt: float
    breath: float
    jitter: float
    intonation: float
    shimmer: float = 0.0
    tremor: float = 0.0


def _z(u: float) -> float:
    """A uniform in [0, 1) -> a standard-normal quantile (clipped at +-3), for Gaussian per-person spread."""
    return NormalDist().inv_cdf(min(max(float(u), 0.00135), 0.99865))


def mean_f0(gender: str, age: float) -> float:
    """Population mean speaking F0 (Hz) at `age` (F0_AGE_KNOTS, interpolated; clamped outside 18..80)."""
    ages, f0s = zip(*F0_AGE_KNOTS[gender])
    return float(np.interp(age, ages, f0s))


def voice_from_attributes(gender: str, age: float, u) -> Voice:
    """Voice parameters from gender, age and VOICE_UNIFORMS identity-specific uniforms `u` in [0,1).

    Every parameter is a population curve of (gender, age) times a per-person factor (a Gaussian draw from one
    uniform, so people differ as much at every age as real speakers do); `old` = clip((age - 20) / 55, 0, 1).
    - F0: `mean_f0(gender, age)` (Hollien & Shipp 1972; Stoicheff 1981; Linville 2001) x exp(0.10 z0): a per-person
      spread of ~10 % (speakers of one sex and age differ by ~+-20 Hz, Titze 1994 Ch. 8).
    - Formant scale (tract): women's vocal tracts are ~15-20 % shorter, so formants are ~17 % higher (Fant 1966;
      Fitch & Giedd 1999); spread ~4 % (z1); the tract lengthens slightly with age, lowering the formants by ~5 %
      from 20 to 75 (Linville & Rens 2001; Xue & Hao 2003, J. Speech Lang. Hear. Res. 46: 689-701).
    - Speaking rate: ~20 % slower at 75 than at 20 (Duchin & Mysak 1987; Linville 2001 Ch. 9), spread ~10 % (z2).
    - Spectral tilt: steeper with age (u3).
    - Breathiness (aspiration noise): higher in women (Klatt & Klatt 1990) and with age (Linville 2001), spread
      ~x1.4 (z4).
    - Jitter and shimmer (cycle-to-cycle F0 and amplitude perturbation): young adults ~0.5-1 % jitter and ~3 %
      shimmer, roughly doubled in the elderly (Xue & Deliyski 2001, Educ. Gerontol. 27: 159-168; Ferrand 2002,
      J. Voice 16: 480-487), spread ~x1.35 (z5, z7).
    - Tremor (slow F0 modulation): grows with age (Linville 2001), spread z9. Intonation range: u6.
    u[8] is not read here: it is the per-person unrelated age of the `voice_age_coupling` control (see synth)."""
    if gender not in ("m", "f"):
        raise ValueError(f"gender must be 'm' or 'f', got {gender!r}")
    u = np.asarray(u, dtype=np.float64).reshape(-1)
    if u.size < VOICE_UNIFORMS:
        raise ValueError(f"voice_from_attributes needs {VOICE_UNIFORMS} uniforms, got {u.size}")
    old = float(np.clip((age - 20.0) / 55.0, 0.0, 1.0))
    z = [_z(v) for v in u[:VOICE_UNIFORMS]]
    fem = gender == "f"
    f0 = mean_f0(gender, age) * math.exp(0.10 * z[0])
    tract = (1.17 if fem else 1.0) * math.exp(0.04 * z[1]) * (1.0 - 0.05 * old)
    rate = math.exp(0.10 * z[2]) * (1.0 - 0.20 * old)
    breath = (0.05 if fem else 0.035) * math.exp(0.35 * z[4]) * (1.0 + 1.2 * old)
    jitter = 0.006 * math.exp(0.3 * z[5]) * (1.0 + 1.3 * old)
    shimmer = 0.03 * math.exp(0.3 * z[7]) * (1.0 + 1.0 * old)
    tremor = 0.004 * math.exp(0.3 * z[9]) * (1.0 + 2.0 * old**2)
    return Voice(f0=f0, tract=tract, rate=rate, tilt=0.3 * float(u[3]) + 0.25 * old, breath=breath, jitter=jitter,
                 intonation=1.0 + 2.0 * float(u[6]), shimmer=shimmer, tremor=tremor)


def blend_voices(a: Voice, b: Voice, w: float) -> Voice:
    """w * a + (1 - w) * b, geometric for frequencies/scales (VoiceCoupling knob: w=1 -> a, w=0 -> b)."""
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"voice_coupling must be in [0, 1], got {w}")

    def g(x, y):
        return float(math.exp(w * math.log(x) + (1 - w) * math.log(y)))

    def lin(x, y):
        return float(w * x + (1 - w) * y)

    return Voice(f0=g(a.f0, b.f0), tract=g(a.tract, b.tract), rate=g(a.rate, b.rate), tilt=lin(a.tilt, b.tilt),
                 breath=lin(a.breath, b.breath), jitter=lin(a.jitter, b.jitter),
                 intonation=lin(a.intonation, b.intonation), shimmer=lin(a.shimmer, b.shimmer),
                 tremor=lin(a.tremor, b.tremor))


def phonemes_of(text: str) -> list[list[str]]:
    """Pronunciations (one list of phonemes per word) for a word or a GRID-like sentence; diphthongs expanded."""
    words = text.upper().split()
    if not words:
        raise ValueError("text is empty")
    table = dict(LEXICON)
    for group in GRID_WORDS.values():
        table.update(group)
    out = []
    for w in words:
        if w not in table:
            raise ValueError(f"word {w!r} is not in the synthetic lexicon ({len(table)} words)")
        phs: list[str] = []
        for p in table[w].split():
            phs.extend(DIPHTHONGS.get(p, (p,)))
        out.append(phs)
    return out


@dataclass
class Utterance:
    """Audio plus the articulatory tracks at the control rate (400 Hz) and the phoneme / word timings (seconds)."""

    audio: np.ndarray  # [S] float32
    tracks: dict[str, np.ndarray]  # each [C] at CONTROL_HOP; jaw, spread, closed, lab, f0, f1, f2, f3, voice, noise
    phones: list[tuple[str, float, float]]
    words: list[tuple[str, float, float]]


def _segments(words: list[list[str]], voice: Voice, rng: np.random.Generator, start: float):
    """Phoneme segments with start/end times (seconds), durations scaled by the speaking rate and jittered."""
    segs, wspans = [], []
    t = start
    for w in words:
        w0 = t
        for i, p in enumerate(w):
            d = PHONEMES[p]["dur"] / 1000.0 / voice.rate * float(rng.uniform(0.85, 1.15))
            if i == len(w) - 1 and "f" in PHONEMES[p] and PHONEMES[p].get("voice", 0) >= 1.0:
                d *= 1.3  # word-final lengthening
            segs.append((p, t, t + d))
            t += d
        wspans.append((w0, t))
        t += float(rng.uniform(0.03, 0.08)) / voice.rate  # short pause between words
    return segs, wspans


def articulate(segs, n_ctrl: int, voice: Voice, sharp_audio: float = 0.02, sharp_video: float = 0.03):
    """Cohen-Massaro coarticulation: track(t) = sum_i D_i(t) T_i / sum_i D_i(t), D_i = dom_i exp(-|t - c_i| / tau).

    Audio parameters use a short time constant `sharp_audio` (formant transitions ~20 ms), visual parameters a
    longer one (`sharp_video`; lips anticipate and lag). Dominance dom_i (bilabial closure, rounding) applies to the
    lip parameters; the jaw weighs all segments equally. Returns tracks at the control rate."""
    t = (np.arange(n_ctrl) + 0.5) * CONTROL_HOP / SAMPLE_RATE
    if not segs:
        z = np.zeros(n_ctrl, np.float32)
        return {k: z.copy() for k in ("jaw", "spread", "closed", "lab", "f1", "f2", "f3", "voice", "noise",
                                      "nc", "nb", "speech")}
    cen = np.array([(a + b) / 2 for _, a, b in segs])
    half = np.array([(b - a) / 2 for _, a, b in segs])
    dist = np.maximum(np.abs(t[None, :] - cen[:, None]) - half[:, None], 0.0)  # 0 inside the segment
    inside = ((t[None, :] >= cen[:, None] - half[:, None]) & (t[None, :] < cen[:, None] + half[:, None]))
    dom = np.array([PHONEMES[p].get("dom", 1.0) for p, _, _ in segs])[:, None]
    Da = np.exp(-dist / sharp_audio) + 1e-9
    Dj = np.exp(-dist / sharp_video) + 1e-9  # the jaw follows every segment equally
    Dv = dom * np.exp(-dist / sharp_video) + 1e-9  # lip closure / rounding: some segments dominate

    def blend(D, vals):
        vals = np.asarray(vals, np.float64)[:, None]
        return (D * vals).sum(0) / D.sum(0)

    f = []
    for k in range(len(segs)):
        p = segs[k][0]
        ff = PHONEMES[p]["f"]
        if ff is None:  # HH takes the formants of the next (or previous) segment
            j = k + 1 if k + 1 < len(segs) else max(k - 1, 0)
            ff = PHONEMES[segs[j][0]]["f"] or (500, 1500, 2500)
        f.append(ff)
    f = np.array(f, np.float64)
    jaw_t = []
    for (p, _, _), ff in zip(segs, f):
        j = PHONEMES[p].get("jaw")
        jaw_t.append(float(np.clip((ff[0] - 250.0) / 480.0, 0.0, 1.0)) if j is None else j)
    tracks = {
        "f1": blend(Da, f[:, 0]), "f2": blend(Da, f[:, 1]), "f3": blend(Da, f[:, 2]),
        "jaw": blend(Dj, jaw_t),
        "spread": blend(Dv, [PHONEMES[p].get("spread", 0.0) for p, _, _ in segs]),
        "closed": blend(Dv, [PHONEMES[p].get("closed", 0.0) for p, _, _ in segs]),
        "lab": blend(Dv, [PHONEMES[p].get("lab", 0.0) for p, _, _ in segs]),
    }
    # Source amplitudes follow segment boundaries closely (10 ms ramps), silent outside the utterance.
    Ds = np.exp(-dist / 0.01) * (inside | (dist < 0.03))
    norm = np.maximum(Ds.sum(0), 1e-9)
    speech = np.clip(Ds.max(0) if len(segs) else np.zeros_like(t), 0, 1)
    tracks["voice"] = (Ds * np.array([PHONEMES[p].get("voice", 0.0) for p, _, _ in segs])[:, None]).sum(0) / norm
    tracks["noise"] = (Ds * np.array([PHONEMES[p].get("noise", 0.0) for p, _, _ in segs])[:, None]).sum(0) / norm
    tracks["nc"] = blend(Da, [PHONEMES[p].get("nc", 3000) for p, _, _ in segs])
    tracks["nb"] = blend(Da, [PHONEMES[p].get("nb", 2000) for p, _, _ in segs])
    # Plosive bursts: a 15 ms noise burst at the release (end of the closure).
    for p, _, b in segs:
        burst = PHONEMES[p].get("burst")
        if burst:
            amp, nc, nb = burst
            g = np.exp(-0.5 * ((t - b - 0.006) / 0.006) ** 2) * amp
            w = g / np.maximum(g + tracks["noise"], 1e-9)
            tracks["nc"] = (1 - w) * tracks["nc"] + w * nc
            tracks["nb"] = (1 - w) * tracks["nb"] + w * nb
            tracks["noise"] = tracks["noise"] + g
    tracks["voice"] *= speech
    tracks["noise"] *= speech
    tracks["speech"] = speech
    return {k: v.astype(np.float32) for k, v in tracks.items()}


def _formant_envelope(freqs: torch.Tensor, formants: torch.Tensor, bandwidths: torch.Tensor) -> torch.Tensor:
    """|H(f)| of a cascade of 2-pole resonators, normalised to 1 at DC: prod_i F_i^2 / |F_i^2 - f^2 + j B_i f|.

    freqs [K, C], formants/bandwidths [NF, C] -> [K, C]."""
    f2 = freqs[None] ** 2
    F = formants[:, None]
    B = bandwidths[:, None]
    mag = F**2 / torch.sqrt((F**2 - f2) ** 2 + (B * freqs[None]) ** 2)
    return mag.prod(0)


NOISE_BLOCK = 640  # samples; one video frame at 25 fps


def anchored_noise(seed: int, n_samples: int, anchor: int) -> np.ndarray:
    """White noise [n_samples] in NOISE_BLOCK blocks; block b covers samples [anchor + b B, anchor + (b+1) B) and
    is always made of the same draws (float32 uniforms (b + 2^40) B .. (b + 2^40 + 1) B - 1 of a Philox stream keyed by
    `seed`, Box-Muller), so moving the anchor by whole blocks moves the same noise with it. One generator per call
    (jumped to the first block), not one per block: several times cheaper."""
    b0 = (0 - anchor) // NOISE_BLOCK
    b1 = (n_samples - 1 - anchor) // NOISE_BLOCK
    bits = np.random.Philox(key=int(seed) % 2**128)
    bits.advance((b0 + 2**40) * NOISE_BLOCK // 8)  # a Philox step = 4 x 64 bits = 8 float32 draws; B % 8 == 0
    u = np.random.Generator(bits).random((b1 - b0 + 1) * NOISE_BLOCK, dtype=np.float32).reshape(-1, 2)
    r = np.sqrt(np.float32(-2.0) * np.log1p(-u[:, 0]))
    a = np.float32(2 * np.pi) * u[:, 1]
    x = np.stack([r * np.cos(a), r * np.sin(a)], 1).reshape(-1)
    off = -(anchor + b0 * NOISE_BLOCK)
    return x[off: off + n_samples]


def _room_gain(n_fft: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """|H(f)| of the room tone on an rfft grid of n_fft points, scaled so that white noise of unit variance comes
    out with unit variance: power ~ f^-1.6 above 120 Hz (about -5 dB per octave, the slope of ventilation and
    room-tone spectra and of the NC noise-criterion curves, Beranek 1957 / ANSI S12.2), flat below, a 40 Hz
    high-pass (microphone and room low end) and a gentle roll-off above 6 kHz."""
    f = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    power = (f**2 / (f**2 + 40.0**2)) / (1.0 + (f / 120.0) ** 1.6) / (1.0 + (f / 6000.0) ** 4)
    full = np.concatenate([power, power[1:-1][::-1]]) if n_fft % 2 == 0 else np.concatenate([power, power[1:][::-1]])
    return np.sqrt(power / full.mean())


@functools.lru_cache(maxsize=4)
def _room_fir(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """rfft (2 B points) of the room tone's FIR filter: the zero-phase impulse response of `_room_gain`, made causal
    and cut to B + 1 taps (Hann-tapered), so each output block depends only on its own and the previous input block."""
    B = NOISE_BLOCK
    h = np.fft.irfft(_room_gain(2 * B, sample_rate), 2 * B)
    taps = np.roll(h, B // 2)[: B + 1] * np.hanning(B + 1)
    taps /= np.sqrt((taps**2).sum())  # unit variance out for unit-variance white in
    return np.fft.rfft(taps, 2 * B)


def room_noise(seed: int, n_samples: int, anchor: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Room tone [n_samples] of unit RMS (in expectation) with the `_room_gain` spectrum, anchored like
    `anchored_noise`: `anchored_noise` white noise filtered by a (B + 1)-tap FIR (B = NOISE_BLOCK) block by block
    (overlap-save: output block b = the last B samples of the circular convolution of input blocks b-1 and b), so
    output block b depends only on the white blocks b-1 and b and a buffer that starts whole blocks earlier or later
    holds bit-identical noise at the same positions relative to the anchor."""
    B = NOISE_BLOCK
    b0 = (0 - anchor) // B
    b1 = (n_samples - 1 - anchor) // B
    start = anchor + b0 * B  # position of block b0 in the buffer (<= 0)
    white = anchored_noise(seed, (b1 - b0 + 2) * B, anchor - start + B).astype(np.float64).reshape(-1, B)
    pairs = np.concatenate([white[:-1], white[1:]], 1)  # [blocks, 2B]: (b-1, b)
    y = np.fft.irfft(np.fft.rfft(pairs, axis=1) * _room_fir(sample_rate), 2 * B, axis=1)[:, B:]
    x = y.reshape(-1).astype(np.float32)
    return x[-start: -start + n_samples]


def dbfs_to_rms(dbfs: float) -> float:
    """RMS amplitude of a level in dBFS (RMS re full scale 1.0: 0 dBFS = RMS 1)."""
    return float(10.0 ** (dbfs / 20.0))


def synthesize(text: str, voice: Voice, n_samples: int, rng: np.random.Generator, centre: float | None = None,
               room_noise_dbfs: float | None = None) -> Utterance:
    """Speak `text` with `voice` into an `n_samples` waveform at 16 kHz, the utterance centred at `centre` s.

    Voiced part: sum_k A_k(t) sin(k phi(t)), phi = 2 pi cumsum(F0)/sr, A_k = envelope(k F0) * k^-(1+tilt), with
    F0 perturbed per control step by `voice.jitter` and A_k by `voice.shimmer`; unvoiced part: white noise shaped
    in the STFT domain by a Gaussian band (fricatives, bursts) and by the formant envelope (aspiration). The speech
    is scaled to a random peak in [0.5, 0.8]; then a room tone (`room_noise`) at `room_noise_dbfs` dB RMS re full
    scale is added (None: none, the speech is digitally silent between words). Deterministic for a given `rng`
    state."""
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    words = phonemes_of(text)
    n_ctrl = int(math.ceil(n_samples / CONTROL_HOP))
    dur_est = sum(PHONEMES[p]["dur"] for w in words for p in w) / 1000.0 / voice.rate + 0.05 * (len(words) - 1)
    total = n_samples / SAMPLE_RATE
    if centre is None:
        centre = total / 2
    segs, wspans = _segments(words, voice, rng, start=centre - dur_est / 2)
    # rest segments before and after the utterance so the mouth relaxes to closed in silence
    rest = [("SIL", min(0.0, segs[0][1] - 0.2), segs[0][1])] + segs + [("SIL", segs[-1][2], max(total, segs[-1][2] + 0.2))]
    tr = articulate(rest, n_ctrl, voice)
    sc = voice.tract
    t = (np.arange(n_ctrl) + 0.5) * CONTROL_HOP / SAMPLE_RATE
    # F0: declination over the utterance + a stress bump + slow jitter
    u0, u1 = (segs[0][1], segs[-1][2]) if segs else (0.0, total)
    prog = np.clip((t - u0) / max(u1 - u0, 1e-3), 0, 1)
    semis = voice.intonation * (1.5 * np.exp(-((prog - 0.3) / 0.2) ** 2) - 1.5 * prog)
    # every random draw below has a fixed count, and noise is generated in 640-sample blocks indexed from the
    # utterance centre, so the same utterance in a longer buffer (e.g. padded for an A/V offset) is identical
    wob_f, wob_p = rng.uniform(2.0, 7.0, 3), rng.uniform(0, 2 * math.pi, 3)
    phase0 = float(rng.uniform(0, 2 * math.pi))
    seed_fric, seed_room, seed_perturb = (int(v) for v in rng.integers(2**62, size=3))
    gain = float(rng.uniform(0.5, 0.8))
    c_idx = int(round(centre * SAMPLE_RATE))
    wobble = sum(np.sin(2 * math.pi * f * (t - centre) + p) for f, p in zip(wob_f, wob_p)) * voice.tremor
    # jitter and shimmer: independent Gaussian perturbations per 2.5 ms control step, anchored at the utterance
    # centre's control step (a whole number of control steps per video frame keeps padded buffers identical)
    perturb = anchored_noise(seed_perturb, 2 * n_ctrl, 2 * (c_idx // CONTROL_HOP)).reshape(n_ctrl, 2)
    f0 = voice.f0 * 2 ** (semis / 12) * (1 + wobble) * (1 + voice.jitter * np.clip(perturb[:, 0], -3, 3))
    tr["f0"] = f0.astype(np.float32)
    tr["f1"] *= sc
    tr["f2"] *= sc
    tr["f3"] *= sc
    tr["nc"] *= sc

    # --- voiced source through the formant envelope (harmonic synthesis) ---
    n_harm = int(min(7600.0 / max(f0.min(), 50.0), 100))
    k = torch.arange(1, n_harm + 1, dtype=torch.float32)[:, None]
    f0_c = torch.from_numpy(f0.astype(np.float32))[None]
    fk = k * f0_c  # [K, C]
    formants = torch.stack([torch.from_numpy(tr["f1"]), torch.from_numpy(tr["f2"]), torch.from_numpy(tr["f3"]),
                            torch.full((n_ctrl,), 3500.0 * sc), torch.full((n_ctrl,), 4500.0 * sc)])
    bands = torch.tensor([80.0, 100.0, 150.0, 250.0, 300.0])[:, None] * torch.ones(1, n_ctrl)
    env = _formant_envelope(fk, formants, bands) * k ** (-(1.0 + voice.tilt))
    shim = 1 + voice.shimmer * np.clip(perturb[:, 1], -3, 3)
    env = env * (fk < 7800).float() * torch.from_numpy((tr["voice"] * shim).astype(np.float32))[None]
    amp = torch.nn.functional.interpolate(env[None], size=n_ctrl * CONTROL_HOP, mode="linear",
                                          align_corners=False)[0, :, :n_samples]
    f0_s = torch.nn.functional.interpolate(f0_c[None], size=n_ctrl * CONTROL_HOP, mode="linear",
                                           align_corners=False)[0, 0, :n_samples]
    phi = torch.cumsum(f0_s.double() * (2 * math.pi / SAMPLE_RATE), 0)
    phi = phi - phi[min(max(c_idx, 0), n_samples - 1)] + phase0  # phase anchored at the utterance centre
    # sum_k A_k sin(k phi) by the Chebyshev recurrence sin((k+1) phi) = 2 cos(phi) sin(k phi) - sin((k-1) phi)
    # (8x faster than evaluating K sines per sample; the float32 recurrence error stays below 1e-4 for K <= 100)
    phi = phi.float()
    c2 = 2 * torch.cos(phi)
    s_prev, s_cur, spare = torch.zeros_like(phi), torch.sin(phi), torch.empty_like(phi)
    voiced = amp[0] * s_cur
    for j in range(1, n_harm):  # s_next = c2 s_cur - s_prev, in three rotating buffers (no allocation per harmonic)
        s_next = torch.mul(c2, s_cur, out=spare).sub_(s_prev)
        spare, s_prev, s_cur = s_prev, s_cur, s_next
        voiced.addcmul_(amp[j], s_cur)

    # --- noise source shaped per STFT frame ---
    n_fft, hop = 512, 128
    noise = torch.from_numpy(anchored_noise(seed_fric, n_samples, c_idx))
    win = torch.hann_window(n_fft)
    spec = torch.stft(noise, n_fft, hop, window=win, return_complex=True)  # [F, N]
    nfr = spec.shape[1]
    fr_t = np.clip((np.arange(nfr) * hop) / CONTROL_HOP, 0, n_ctrl - 1).astype(int)
    freqs = torch.linspace(0, SAMPLE_RATE / 2, spec.shape[0])[:, None]
    nc = torch.from_numpy(tr["nc"][fr_t])[None]
    nb = torch.from_numpy(tr["nb"][fr_t])[None]
    fric = torch.exp(-0.5 * ((freqs - nc) / nb) ** 2) * torch.from_numpy(tr["noise"][fr_t])[None]
    asp_env = _formant_envelope(freqs.expand(-1, nfr), formants[:, fr_t], bands[:, fr_t]) * (freqs + 200) ** -0.5
    asp = asp_env / asp_env.amax(0, keepdim=True).clamp_min(1e-6) * 0.3
    # aspiration during voicing and, weaker, through the whole utterance (not in the rest before and after it:
    # the speaker does not breathe audibly into the microphone there; the room tone is what remains)
    in_utt = np.clip(1.0 + np.minimum(t - u0, u1 - t) / 0.02, 0.0, 1.0).astype(np.float32)
    breath = voice.breath * torch.from_numpy(tr["voice"][fr_t] + 0.7 * (tr["speech"] * in_utt)[fr_t])
    mask = fric + asp * breath[None]
    shaped = torch.istft(spec * mask, n_fft, hop, window=win, length=n_samples)

    audio = voiced / max(float(voiced.abs().max()), 1e-6) * 0.5 + shaped * 0.5 / 0.3
    audio = audio / max(float(audio.abs().max()), 1e-6) * gain
    if room_noise_dbfs is not None:
        audio = audio + torch.from_numpy(room_noise(seed_room, n_samples, c_idx)) * dbfs_to_rms(room_noise_dbfs)
    phones = [(p, a, b) for p, a, b in segs]
    wnames = text.upper().split()
    return Utterance(audio=audio.numpy().astype(np.float32), tracks=tr, phones=phones,
                     words=[(w, a, b) for w, (a, b) in zip(wnames, wspans)])


def per_frame(track: np.ndarray, num_frames: int, fps: float = 25.0) -> np.ndarray:
    """Average a control-rate track over each video frame -> [num_frames]."""
    steps = SAMPLE_RATE / fps / CONTROL_HOP
    if abs(steps - round(steps)) > 1e-6:
        raise ValueError(f"fps={fps} does not give an integer number of control steps per frame")
    steps = int(round(steps))
    need = num_frames * steps
    x = np.zeros(need, np.float32)
    n = min(need, len(track))
    x[:n] = track[:n]
    return x.reshape(num_frames, steps).mean(1)
