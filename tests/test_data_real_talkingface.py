"""The talking-face paper's LRW / GRID path: 8 kHz speech, 3-point aligned crops, condition frame, splits; fixtures
in the official layouts (written with PyAV as in test_data_real.py)."""

import math

import pytest
import torch

from avfh_core.data.avio import MediaError, write_av
from avfh_core.data.real_common import NoDataRoot, resample_audio
from avfh_core.data.real_talkingface import (
    TEMPLATE3,
    TalkingFaceReal,
    align_faces,
    frontal_offset,
    talkingface_grid,
    talkingface_lrw,
    three_points,
)

T, S = 6, 64


# the three points are similar to TEMPLATE3 (nose 0.18 / 0.32 of the eye distance below the eyes)
def _landmarks(n, eyes=((20.0, 24.0), (40.0, 24.0)), nose=(30.0, 35.25), tip_dx=0.0):
    lm = torch.full((n, 68, 2), 30.0)
    lm[:, 36:42] = torch.tensor(eyes[0])
    lm[:, 42:48] = torch.tensor(eyes[1])
    lm[:, 27:36] = torch.tensor(nose)
    lm[:, 30, 0] += tip_dx
    return lm


def _video(n=T):
    v = torch.zeros(n, 3, S, S)
    v[:, :, 23:25, 19:21] = 1.0  # a white dot on the left eye (20, 24)
    v[:, 1] += torch.linspace(0, 0.5, n)[:, None, None]  # frames differ
    return v.clamp(0, 1)


def _tone(f, n, rate=16000):
    return 0.5 * torch.sin(2 * math.pi * f * torch.arange(n) / rate)


def test_no_data_root_is_a_clear_skip():
    with pytest.raises(NoDataRoot, match=r"skipped: no data_root; expected layout for LRW .*<WORD>_<nnnnn>.mp4"):
        talkingface_lrw(None)
    with pytest.raises(NoDataRoot, match=r"skipped: no data_root; expected layout for GRID .*video/<id>.mpg"):
        talkingface_grid(None)


def test_align_faces_maps_eyes_and_nose_to_the_template():
    v, lm = _video(), _landmarks(T)
    lm[2] = float("nan")  # a frame without a detected face takes its neighbour's transform
    out, alm = align_faces(v, lm, 32)
    assert out.shape == (T, 3, 32, 32)
    ok = torch.tensor([t != 2 for t in range(T)])
    assert torch.allclose(three_points(alm[ok]), torch.tensor(TEMPLATE3) * 32, atol=1e-3)
    for t in range(T):
        bright = out[t].min(0).values  # white only where all channels are high: the dot
        y, x = divmod(int(bright.argmax()), 32)
        assert abs(x + 0.5 - TEMPLATE3[0][0] * 32) <= 1.5 and abs(y + 0.5 - TEMPLATE3[0][1] * 32) <= 1.5
    with pytest.raises(MediaError, match="clip.mp4: no face found in any of its 6 frames"):
        align_faces(v, torch.full((T, 68, 2), float("nan")), 32, where="clip.mp4")
    assert frontal_offset(_landmarks(T)) == 0.0 and frontal_offset(_landmarks(T, tip_dx=6.0)) == pytest.approx(0.3)


def test_resample_to_8k_keeps_speech_band_and_removes_aliases():
    n = 16000
    low = resample_audio(_tone(440, n), 16000, 8000)
    assert low.shape == (8000,)
    ref = _tone(440, 8000, 8000)
    assert torch.corrcoef(torch.stack([low[200:-200], ref[200:-200]]))[0, 1] > 0.999
    high = resample_audio(_tone(6000, n), 16000, 8000)  # above the new Nyquist (4 kHz): filtered, not folded
    assert high[200:-200].pow(2).mean().sqrt() < 0.01


@pytest.fixture(scope="module")
def lrw(tmp_path_factory):
    root = tmp_path_factory.mktemp("lrw")
    for w in ("ABOUT", "MONEY"):
        for k in (1, 2):
            write_av(root / w / "test" / f"{w}_{k:05d}.mp4", _video(), _tone(300 * k, T * 640))
    return root


def test_lrw_item(lrw):
    ds = talkingface_lrw(lrw, "test", size=32, landmarks=lambda v: _landmarks(v.shape[0]))
    assert len(ds) == 4
    it = ds[1]
    assert it["video"].shape == (T, 3, 32, 32) and it["audio"].shape == (T * 320,) and it["sample_rate"] == 8000
    assert torch.equal(it["condition"], it["video"][0]) and it["condition_index"] == 0
    assert it["text"] == "ABOUT" and it["frontal_offset"] == 0.0
    assert torch.allclose(three_points(it["landmarks"]), torch.tensor(TEMPLATE3) * 32, atol=1e-3)
    ref = _tone(600, T * 320, 8000)  # ABOUT_00002 holds a 600 Hz tone (AAC-coded)
    assert torch.corrcoef(torch.stack([it["audio"][400:-400], ref[400:-400]]))[0, 1] > 0.95
    rnd = TalkingFaceReal(lrw, "lrw", "test", size=16, condition_frame="random", seed=3)  # no landmarks: box
    conds = {rnd[i]["condition_index"] for i in range(4)}
    assert rnd[0]["landmarks"] is None and rnd[0]["video"].shape == (T, 3, 16, 16)
    assert all(torch.equal(rnd[i]["condition"], rnd[i]["video"][rnd[i]["condition_index"]]) for i in range(4))
    assert conds <= set(range(T)) and rnd[2]["condition_index"] == rnd[2]["condition_index"]
    sub = talkingface_lrw(lrw, "test", size=16, n_clips=2, seed=1)
    assert len(sub) == 2 and [it["video"] for it in sub.items] == [
        it["video"] for it in talkingface_lrw(lrw, "test", size=16, n_clips=2, seed=1).items]


def test_near_frontal_filter_and_bad_input(tmp_path):
    for k in (1, 2):
        v = _video()
        v[:, 2] = 0.5 * (k == 2)  # clip 2 has a blue background: the landmark callable below turns its head
        write_av(tmp_path / "ABOUT" / "val" / f"ABOUT_{k:05d}.mp4", v, _tone(300, T * 640))

    def lms(video):
        return _landmarks(video.shape[0], tip_dx=8.0 if float(video[:, 2].mean()) > 0.3 else 0.0)

    ds = talkingface_lrw(tmp_path, "val", size=16, landmarks=lms, max_frontal_offset=0.25)
    assert len(ds) == 1 and ds[0]["source"].endswith("ABOUT_00001.mp4")
    assert len(ds.not_frontal) == 1 and ds.not_frontal[0].endswith("ABOUT_00002.mp4")
    nan = talkingface_lrw(tmp_path, "val", size=16, landmarks=lambda v: torch.full((v.shape[0], 68, 2), float("nan")))
    with pytest.raises(MediaError, match="ABOUT_00001.mp4: no face found"):
        nan[0]
    with pytest.raises(ValueError, match="align='landmarks' needs landmarks"):
        talkingface_lrw(tmp_path, "val", align="landmarks")
    with pytest.raises(ValueError, match="condition_frame 9 is beyond its 6 frames"):
        talkingface_lrw(tmp_path, "val", size=16, condition_frame=9)[0]
    write_av(tmp_path / "ABOUT" / "val" / "ABOUT_00003.mp4", _video(), _tone(300, 3 * T * 640))
    with pytest.raises(MediaError, match="ABOUT_00003.mp4: audio lasts"):
        talkingface_lrw(tmp_path, "val", size=16)[2]
    with pytest.warns(UserWarning, match="skipping bad file"):
        ok = talkingface_lrw(tmp_path, "val", size=16, skip_bad=True)
    assert len(ok) == 2 and ok.skipped[0].endswith("ABOUT_00003.mp4")


def test_grid_evaluation_subset(tmp_path):
    for spk in ("s1", "s2"):
        for name in ("bbaf2n", "bbaf3s", "lgaz8p"):
            write_av(tmp_path / spk / "video" / f"{name}.mpg", _video(), None)
            write_av(tmp_path / spk / "audio" / f"{name}.wav", None, _tone(200, T * 1000, 25000), sample_rate=25000)
    ds = talkingface_grid(tmp_path, n_clips=4, size=16, seed=0)
    assert len(ds) == 4 and {it["speaker"] for it in ds.items} <= {"s1", "s2"}
    it = ds[0]
    assert it["audio"].shape == (T * 320,) and it["sample_rate"] == 8000 and it["dataset"] == "grid"
    assert len(talkingface_grid(tmp_path, n_clips=1000, size=16)) == 6  # fewer clips than asked: all of them
    assert {x["speaker"] for x in talkingface_grid(tmp_path, speakers=["s2"], size=16).items} == {"s2"}
