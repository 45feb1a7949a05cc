"""The talking-face real-data path (train/talkingface_real.py): LRW and GRID layouts read back into ClipSet items."""

import dataclasses

import pytest
import torch

from avfh_core.config import setup
from avfh_core.data.sample import AVSample
from avfh_core.train import talkingface as TF
from avfh_core.train import talkingface_landmarker as tl
from avfh_core.train import talkingface_real as TR


@pytest.fixture(scope="module")
def cfg():
    return setup("smoke", seed=0, device="cpu", hr_size=16, clip_frames=6, talkingface_eval_clips=2,
                 talkingface_noise_seconds=0.5)


def _face(H=40, W=60, T=3):
    """A clip whose 68 landmarks fill the box x 20..30, y 10..20, with a bright pixel at landmark 0 = (20, 10)."""
    g = torch.Generator().manual_seed(0)
    lm = torch.stack([20 + 10 * torch.rand(68, generator=g), 10 + 10 * torch.rand(68, generator=g)], -1)
    lm[0], lm[1] = torch.tensor([20.0, 10.0]), torch.tensor([30.0, 20.0])
    video = torch.zeros(T, 3, H, W)
    video[:, :, 10, 20] = 1.0
    return AVSample(video=video, fps=25.0, audio=torch.zeros(T * 640), sample_rate=16000,
                    landmarks=lm.expand(T, 68, 2).clone(), source="test:face")


def test_face_crop_centres_the_face_and_moves_the_landmarks_with_it():
    s = TR.face_crop(_face(), 32)
    assert s.video.shape == (3, 3, 32, 32) and s.landmarks.shape == (3, 68, 2)
    lo, hi = s.landmarks.min(1).values, s.landmarks.max(1).values
    side = 32 / TR.FACE_MARGIN  # the landmark extent takes 1 / margin of the crop, centred
    assert (hi - lo)[0].tolist() == pytest.approx([side, side], abs=0.8)
    assert ((lo + hi) / 2)[0].tolist() == pytest.approx([16.0, 16.0], abs=0.8)
    x, y = s.landmarks[0, 0].round().long().tolist()  # the bright pixel went where landmark 0 went
    near = s.video[0, 0, max(0, y - 1):y + 2, max(0, x - 1):x + 2]
    assert near.max() == s.video[0, 0].max() > 0


def test_face_crop_near_the_border_pads_and_bad_input():
    s = _face()
    s = dataclasses.replace(s, landmarks=s.landmarks - torch.tensor([19.0, 9.0]))  # the face at the corner
    out = TR.face_crop(s, 16)
    assert out.video.shape == (3, 3, 16, 16) and torch.isfinite(out.video).all()
    with pytest.raises(ValueError, match="no landmarks"):
        TR.face_crop(dataclasses.replace(s, landmarks=None), 16)
    with pytest.raises(ValueError, match="no face"):
        TR.face_crop(dataclasses.replace(s, landmarks=torch.zeros(3, 68, 2)), 16)


def test_real_clips_read_both_layouts_back_as_test_items(cfg, tmp_path, monkeypatch):
    clips = TF.clip_data(cfg, "test", "lrw")
    items = clips.items
    assert len(items) == 2
    truth = items[0]["landmarks"]
    monkeypatch.setattr(tl, "scorer", lambda cfg: (None, None))
    monkeypatch.setattr(tl, "estimate", lambda est, video: truth[: len(video)])
    for name, folder in (("lrw", "LRW"), ("grid", "grid")):
        TR.write_layout(tmp_path / folder, name, items)
        root = TR.dataset_root(tmp_path, name)
        assert root == tmp_path / folder
        data = TR.real_clips(cfg, name, root=root, landmarks="estimator")
        assert len(data) == 2
        it = data[0]
        T = it["video"].shape[0]
        assert it["video"].shape == (T, 3, 16, 16) and it["audio"].shape == (320 * T,)
        assert T <= items[0]["video"].shape[0] and it["mask"].shape == (T, 16, 16)
        assert {"audio_lt10", "audio_ge10", "snr_lt10", "noise_type"} <= set(it)
        assert (it["video"] - items[0]["video"][:T]).abs().mean() < 0.1  # lossy codecs: close, not exact
        a, b = it["audio"], items[0]["audio"][: 320 * T]
        assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.9  # the speech came back (a codec, two resamplings)
        kept = TR.round_trip_fidelity(clips, data)
        assert kept["video_psnr"] > 20 and kept["speech_corr"] > 0.9 and kept["motion_ratio"] >= 0
    same = TR.round_trip_fidelity(clips, clips)
    assert same["video_psnr"] == pytest.approx(100.0) and same["speech_corr"] == pytest.approx(1.0)
    assert same["motion_ratio"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="read back"):
        TR.round_trip_fidelity(clips, TF.ClipSet([_face()], 0.12))
    assert TR.dataset_root(None, "lrw") is None and TR.dataset_root(tmp_path / "x", "grid") is None


def test_real_clips_bad_input(cfg, tmp_path):
    with pytest.raises(ValueError, match="no data folder"):
        TR.real_clips(cfg, "lrw")
    with pytest.raises(ValueError, match="dataset must be one of"):
        TR.real_clips(cfg, "voxceleb2", root=tmp_path)
    with pytest.raises(ValueError, match="landmarks must be one of"):
        TR.real_clips(cfg, "lrw", root=tmp_path, landmarks="dlib")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TR.real_clips(cfg, "grid", root=tmp_path / "nowhere", landmarks="estimator")
    with pytest.raises(ValueError, match="has no landmarks"):
        TF.ClipSet([dataclasses.replace(_face(), landmarks=None)], 0.12)
    with pytest.raises(ValueError, match="at least one clip"):
        TF.ClipSet([], 0.12)
    with pytest.raises(ValueError, match="dataset must be one of"):
        TR.write_layout(tmp_path, "lrs2", [])
    with pytest.raises(ValueError, match="dataset must be one of"):
        TR.dataset_root(tmp_path, "lrs2")
