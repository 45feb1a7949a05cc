"""World v5, the voice half (issue 11): voices that age and tell gender, the coupling-0 controls, the room floor of
"clean" speech, and the voice premise probes of data/stats.py."""

import numpy as np
import pytest
import torch

from avfh_core.data import SynthConfig, SynthWorld
from avfh_core.data import speech as sp
from avfh_core.data.stats import _pitch_track, noise_floor_dbfs, voice_descriptor, voice_premises

MID = np.full(sp.VOICE_UNIFORMS, 0.5)  # the median person


def _world(**kw):
    base = dict(image_size=16, num_frames=29, render_frontal=False, seed=0)
    base.update(kw)
    return SynthWorld(SynthConfig(**base))


def test_voice_ages_as_real_voices_do():
    m = {a: sp.voice_from_attributes("m", a, MID) for a in (20, 45, 75)}
    f = {a: sp.voice_from_attributes("f", a, MID) for a in (20, 45, 75)}
    # men: F0 falls into middle age and rises after ~60; women: F0 falls, most after menopause
    assert m[45].f0 < m[20].f0 - 8 and m[75].f0 > m[45].f0 + 12
    assert f[20].f0 > f[45].f0 > f[75].f0 + 15
    assert f[20].f0 > 1.6 * m[20].f0
    # women's shorter tracts: higher formants; tracts lengthen a little with age
    assert f[20].tract > 1.1 * m[20].tract and m[75].tract < m[20].tract
    # slower, more irregular, breathier with age
    for v in (m, f):
        assert v[75].rate < 0.85 * v[20].rate
        for field in ("jitter", "shimmer", "breath", "tremor", "tilt"):
            assert getattr(v[75], field) > getattr(v[20], field), field


def test_voice_people_differ_with_gaussian_spread():
    rng = np.random.default_rng(0)
    f0 = np.array([sp.voice_from_attributes("m", 30.0, rng.random(sp.VOICE_UNIFORMS)).f0 for _ in range(400)])
    spread = np.std(np.log(f0))
    assert 0.07 < spread < 0.13  # ~10 % per-person F0 spread at one age
    with pytest.raises(ValueError, match="uniforms"):
        sp.voice_from_attributes("m", 30.0, np.full(7, 0.5))


@pytest.mark.parametrize("field,value", [("voice_age_coupling", -0.1), ("voice_age_coupling", 1.5),
                                         ("voice_age_coupling", "1"), ("room_noise_dbfs", 0.0),
                                         ("room_noise_dbfs", -150.0), ("room_noise_dbfs", "quiet")])
def test_bad_voice_knobs_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        SynthConfig(**{field: value}).validate()


def test_voice_age_coupling_zero_keeps_person_voice_but_not_age():
    w1, w0 = _world(), _world(voice_age_coupling=0.0)
    plans = [(w0._plan(i, "train"), w1._plan(i, "train")) for i in range(40)]
    by_person = {}
    for p0, p1 in plans:
        assert p0["idn"] == p1["idn"]  # same people, same clips
        by_person.setdefault(p0["idn"].id, []).append(p0["voice"])
    # a person keeps one voice across clips (identity stays in the voice), but its age parameters change
    assert any(len(v) > 1 for v in by_person.values())
    assert all(v[0] == v[-1] for v in by_person.values())
    assert sum(p0["voice"] != p1["voice"] for p0, p1 in plans) > 30


def test_anchored_noise_moves_with_its_anchor():
    for shift in (1, 2, 5):
        a = sp.anchored_noise(9, 3000, 1000)
        b = sp.anchored_noise(9, 3000 + shift * 640, 1000 + shift * 640)
        assert np.array_equal(a, b[shift * 640:])
    x = sp.anchored_noise(2, 64000, 123).astype(np.float64)
    assert abs(x.mean()) < 0.02 and abs(x.std() - 1) < 0.02 and abs(np.corrcoef(x[1:], x[:-1])[0, 1]) < 0.02


def test_room_noise_is_anchored_coloured_and_unit_rms():
    a = sp.room_noise(3, 6400, 3200)
    b = sp.room_noise(3, 6400 + 3 * 640, 3200 + 2 * 640)  # a longer buffer starting two blocks earlier
    assert np.array_equal(a, b[1280: 1280 + 6400])
    x = sp.room_noise(1, 16000 * 20, 0).astype(np.float64)
    assert abs(x.std() - 1.0) < 0.05
    psd = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / 16000)
    low, high = psd[(f > 100) & (f < 300)].mean(), psd[(f > 2000) & (f < 4000)].mean()
    assert 10 * np.log10(low / high) > 12  # room tone falls with frequency (~5 dB/octave), not white


@pytest.mark.parametrize("level", [-50.0, -40.0])
def test_room_floor_between_words_matches_the_knob(level):
    for utterance, frames in (("word", 29), ("sentence", 100)):
        w = _world(room_noise_dbfs=level, utterance=utterance, num_frames=frames)
        for i in range(3):
            audio, tracks = w.audio(i, "test")
            # frames where neither the voice nor any noise source of the speech is active, +-1 frame
            quiet = (tracks["voice"] + tracks["noise"]) < 1e-4
            quiet = quiet & np.roll(quiet, 1) & np.roll(quiet, -1)
            assert quiet.sum() >= 3
            fr = audio.double().reshape(frames, 640)[torch.from_numpy(quiet)]
            measured = 10 * np.log10(float(fr.pow(2).mean()))
            assert abs(measured - level) < 2.0, (utterance, i, measured)
            assert abs(noise_floor_dbfs(audio) - level) < 2.0
    silent, _ = _world(room_noise_dbfs=None).audio(0)
    assert noise_floor_dbfs(silent) < -90  # the old "clean": digital silence between words


def test_jitter_and_shimmer_reach_the_waveform():
    v = sp.voice_from_attributes("m", 30.0, MID)
    steady = sp.Voice(**{**v.__dict__, "jitter": 0.0, "shimmer": 0.0, "tremor": 0.0, "breath": 0.0})
    rough = sp.Voice(**{**v.__dict__, "jitter": 0.03, "shimmer": 0.15, "tremor": 0.0, "breath": 0.0})

    def periodicity(voice):
        u = sp.synthesize("MONEY AGAIN", voice, 32000, np.random.default_rng(1))
        _, peak = _pitch_track(torch.from_numpy(u.audio), 16000, 25.0, 70.0, 400.0)
        voiced = torch.from_numpy(sp.per_frame(u.tracks["voice"], 50)) > 0.8
        return float(peak[voiced].median())

    assert periodicity(rough) < periodicity(steady) - 0.03


def test_voice_audio_is_deterministic():
    a, _ = _world(utterance="sentence", num_frames=100).audio(5, "test")
    b, _ = _world(utterance="sentence", num_frames=100).audio(5, "test")
    assert torch.equal(a, b)
    assert torch.equal(voice_descriptor(a), voice_descriptor(b))
    with pytest.raises(ValueError, match="quantile"):
        noise_floor_dbfs(a, quantile=0.0)


@pytest.mark.slow
def test_voice_premises_reached_and_controls_at_chance():
    rows = {p.premise.split(" from")[0].split(" of")[0]: p for p in voice_premises(
        n_train_clips=90, n_test_clips=60, n_train_identities=60, n_test_identities=30)}
    age, gender, ident, floor = rows["age"], rows["gender"], rows["identity"], rows["room floor"]
    # 30 held-out people: r has a standard error near 0.15, so the floor sits well below the course value
    assert age.value > 0.35 and abs(age.control) < 0.35 and age.value - age.control > 0.3, (age.value, age.control)
    assert gender.value >= 0.85 and gender.control <= 0.75, (gender.value, gender.control)
    assert ident.value > 3 * ident.chance and ident.control < 2.5 * ident.chance, (ident.value, ident.control)
    assert abs(floor.value + 50.0) < 2.0 and floor.control < -90
