"""reproduce/noise_control.py: the planted noise-resilience world of the talking-face audit."""
import math

import pytest
import torch

from avfh_core.data import noise_bank as nb
from avfh_core.data import speech
from avfh_core.reproduce import noise_control as nc

SR = nb.SAMPLE_RATE
T = 20  # video frames per clip (320 samples each)


def tone(hz: float, n: int) -> torch.Tensor:
    return torch.sin(2 * math.pi * hz * torch.arange(n) / SR)


def clip(i: int, noisy: bool) -> dict[str, torch.Tensor]:
    """A toy clip in which a 600 Hz tone's per-frame loudness opens the mouth (the audio alone sets it)."""
    g = torch.Generator().manual_seed(i)
    amp = torch.rand(T, generator=g)
    audio = (tone(600.0, 320 * T).view(T, 320) * (0.05 + amp[:, None])).flatten()
    lm = torch.zeros(T, 68, 2)
    lm[:, 36:42] = torch.tensor([0.0, 0.0])  # right eye at x = 0
    lm[:, 42:48] = torch.tensor([10.0, 0.0])  # left eye at x = 10: inter-ocular distance 10
    lm[:, 48:68, 1] = 20.0 + 3.0 * amp[:, None] * torch.linspace(-1, 1, 20)  # the mouth opens with amp
    item = {"audio": audio, "landmarks": lm}
    if noisy:
        snr = float(torch.randint(-10, 10, (1,), generator=g))
        item["audio_lt10"] = nb.mix_at_snr(audio[None], nb.noise("babble", len(audio), seed=i)[None], snr)[0]
        item["snr_lt10"] = torch.tensor(snr)
    return item


def test_f1_band_comes_from_the_phoneme_table():
    f1 = [p["f"][0] for p in speech.PHONEMES.values() if p.get("f") and p.get("voice", 0) > 0]
    lo, hi = nc.F1_BAND_HZ
    assert lo <= min(f1) * nc.TRACT_RANGE[0] and hi >= max(f1) * nc.TRACT_RANGE[1]
    assert 150 < lo < hi < 1200
    assert nc.OUT_BAND_HZ[0] >= 2 * hi  # an octave's gap: the readout's mel bins never reach the "out" noise


def test_band_limited_keeps_only_the_band():
    x = tone(500.0, 8000) + tone(3000.0, 8000)
    kept = nc.band_limited(x, nc.F1_BAND_HZ)
    torch.testing.assert_close(kept, tone(500.0, 8000), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="lo < hi"):
        nc.band_limited(x, (900.0, 200.0))


def test_features_hear_the_band_and_not_above_it():
    feats = nc.BandFeatures()
    assert ((feats.centres >= nc.F1_BAND_HZ[0]) & (feats.centres <= nc.F1_BAND_HZ[1])).all()
    audio = torch.stack([clip(i, False)["audio"] for i in range(3)])
    X = feats(audio)
    assert X.shape == (3, T, len(feats.bins) * (2 * nc.CONTEXT + 1))
    noise = torch.randn(3, audio.shape[1], generator=torch.Generator().manual_seed(0))
    above = feats(nb.mix_at_snr(audio, nc.band_limited(noise, nc.OUT_BAND_HZ), 0.0))
    inside = feats(nb.mix_at_snr(audio, nc.band_limited(noise, nc.F1_BAND_HZ), 0.0))
    assert (above - X).abs().mean() < 0.05 * (inside - X).abs().mean()


def test_readout_recovers_a_linear_map_for_every_test_set():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(50, 10, 6, generator=g)
    W = torch.randn(6, 2, generator=g)
    tests = {"a": torch.randn(3, 10, 6, generator=g), "b": torch.randn(4, 10, 6, generator=g)}
    pred = nc.readout(X, X @ W, tests)
    assert set(pred) == {"a", "b"}
    for k, t in tests.items():
        torch.testing.assert_close(pred[k], t @ W, atol=0.05, rtol=0)


def test_mouth_motion_is_per_clip_and_in_inter_ocular_units():
    lm = torch.stack([clip(i, False)["landmarks"] for i in range(2)])
    m = nc.mouth_motion(lm)
    assert m.shape == (2, T, 40)
    torch.testing.assert_close(m.mean(1), torch.zeros(2, 40), atol=1e-6, rtol=0)
    shifted = lm.clone()
    shifted[1] += 7.0  # the person's position and mean mouth are not speech
    torch.testing.assert_close(nc.mouth_motion(shifted), m)


def test_the_planted_world_shows_its_gain_in_band_and_none_above():
    train = [clip(i, False) for i in range(24)]
    test = [clip(100 + i, True) for i in range(8)]
    rows, prem = nc.control_rows(train, test, n_seeds=3, noise_seconds=2.0)
    assert prem["clean_speech"] < 0.5 * prem["floor"]  # the readout uses the audio: the world plants an effect
    err = {k: torch.tensor(v["mouth_error"]) for k, v in rows.items()}
    assert all(len(v) == 3 for v in err.values())
    assert (err["readout_nr_in"] < err["readout_clean_in"]).all()  # noise hides the mouth: NR helps
    in_gain = (err["readout_clean_in"] - err["readout_nr_in"]).mean()
    out_gain = (err["readout_clean_out"] - err["readout_nr_out"]).mean()
    assert out_gain < 0.1 * in_gain  # noise the readout never hears: no gain
    torch.testing.assert_close(err["readout_clean_out"].mean(), torch.tensor(prem["clean_speech"]), atol=0.1 *
                               prem["clean_speech"], rtol=0)
    again, _ = nc.control_rows(train, test, n_seeds=3, noise_seconds=2.0)
    assert again == rows  # each seed's resample and noise come from its own generators


def test_bad_input_is_named():
    train = [clip(i, False) for i in range(4)]
    with pytest.raises(ValueError, match="audio_lt10"):
        nc.control_rows(train, [clip(9, False)], n_seeds=1)
    with pytest.raises(ValueError, match="n_seeds"):
        nc.control_rows(train, [clip(9, True)], n_seeds=0)
    with pytest.raises(ValueError, match=">= 2 training"):
        nc.control_rows(train[:1], [clip(9, True)], n_seeds=1)
