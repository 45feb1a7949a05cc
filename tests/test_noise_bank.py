"""data/noise_bank.py: the procedural noise types, mixing at a requested SNR, resampling to 8 kHz."""

import pytest
import torch

from avfh_core.data import noise_bank as nb


def test_type_sets_are_the_papers_and_disjoint():
    assert nb.TEST_TYPES == ("babble", "cafeteria", "motorcycle", "speech_shaped", "factory")
    assert len(nb.TRAIN_TYPES) == 138 and len(set(nb.TRAIN_TYPES)) == 138
    assert not set(nb.TEST_TYPES) & set(nb.TRAIN_TYPES)
    assert not {t.rsplit("_", 1)[0] for t in nb.TRAIN_TYPES} & set(nb.TEST_TYPES)  # other generators, not seeds
    assert nb.TRAIN_SNRS_DB[0] == -6 and nb.TRAIN_SNRS_DB[-1] == 30 and len(nb.TRAIN_SNRS_DB) == 13
    assert nb.TEST_SNRS_DB[0] == -10 and nb.TEST_SNRS_DB[-1] == 30 and len(nb.TEST_SNRS_DB) == 41


@pytest.mark.parametrize("kind", [*nb.TEST_TYPES, "coloured_00", "band_22", "am_05", "hum_10", "clicks_22", "chirp_03"])
def test_noise_is_unit_rms_finite_and_deterministic(kind):
    a, b, c = nb.noise(kind, 4000, seed=1), nb.noise(kind, 4000, seed=1), nb.noise(kind, 4000, seed=2)
    assert a.shape == (4000,) and torch.isfinite(a).all()
    assert float(a.pow(2).mean()) == pytest.approx(1.0, rel=1e-4)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_babble_fluctuates_and_speech_shaped_does_not():
    """Babble carries syllable-rate envelopes, speech-shaped noise is stationary: frame energies vary more."""
    def spread(x):
        e = x[: len(x) // 320 * 320].reshape(-1, 320).pow(2).mean(1).log()
        return float(e.std())

    assert spread(nb.noise("babble", 16000)) > spread(nb.noise("speech_shaped", 16000))


def test_mixing_gives_the_requested_snr():
    g = torch.Generator().manual_seed(0)
    clean = torch.randn(5, 3200, generator=g) * torch.tensor([0.01, 0.1, 1, 0.3, 0.05])[:, None]
    noise = nb.crops(nb.bank(nb.TEST_TYPES, 8000), torch.arange(5), torch.tensor([0, 100, 7000, 50, 3]), 3200)
    snr = torch.tensor([-10.0, -3.0, 0.0, 12.5, 30.0])
    mixed = nb.mix_at_snr(clean, noise, snr)
    assert torch.allclose(nb.snr_db(clean, mixed - clean), snr.double(), atol=1e-3)
    assert torch.allclose(nb.snr_db(clean, nb.mix_at_snr(clean, noise, 5.0) - clean), torch.full((5,), 5.0).double(),
                          atol=1e-3)


def test_crops_wrap_and_pick_the_type():
    b = torch.arange(20.0).reshape(2, 10)
    out = nb.crops(b, torch.tensor([1, 0]), torch.tensor([8, 0]), 4)
    assert out.tolist() == [[18, 19, 10, 11], [0, 1, 2, 3]]


def test_bad_input():
    with pytest.raises(ValueError, match="unknown noise type 'rain'"):
        nb.noise("rain", 100)
    with pytest.raises(ValueError, match="n_samples"):
        nb.noise("babble", 3)
    with pytest.raises(ValueError, match="must both be"):
        nb.mix_at_snr(torch.randn(2, 10), torch.randn(2, 11), 0.0)
    with pytest.raises(ValueError, match="silent"):
        nb.mix_at_snr(torch.zeros(1, 10), torch.randn(1, 10), 0.0)
    with pytest.raises(ValueError, match="finite"):
        nb.mix_at_snr(torch.randn(1, 10), torch.randn(1, 10), float("nan"))


def test_resample_halves_16k_to_8k():
    x = torch.sin(2 * torch.pi * 440 * torch.arange(16000) / 16000)[None]
    y = nb.resample(x, 16000)
    assert y.shape == (1, 8000)
    ref = torch.sin(2 * torch.pi * 440 * torch.arange(8000) / 8000)
    assert float((y[0, 200:-200] - ref[200:-200]).abs().max()) < 0.02
