"""The synthetic world, degradations, audio features, crops and windows (issue 3)."""

import math

import numpy as np
import pytest
import torch

from avfh_core.data import AVSample, SynthConfig, SynthWorld
from avfh_core.data.audio import MEL_STEPS_PER_FRAME, frame_window, log_linear, log_mel
from avfh_core.data.crops import component_crops, mouth_box, mouth_crops
from avfh_core.data.degrade import (
    NOISE_KINDS,
    bicubic_down,
    blur_subsample,
    make_noise,
    misalign,
    mix_noise,
    snr_db,
)
from avfh_core.data.landmarks import landmark_heatmaps, procrustes
from avfh_core.data.windows import WindowDataset


@pytest.fixture(scope="module")
def world():
    return SynthWorld(SynthConfig(image_size=32, num_frames=9, vocab_size=8, seed=0))


@pytest.fixture(scope="module")
def clip(world):
    return world.clip(0, "train")


def test_clip_shapes_and_ranges(clip):
    T, H = 9, 32
    assert isinstance(clip, AVSample)
    clip.validate()
    assert clip.video.shape == (T, 3, H, H) and clip.frontal.shape == (T, 3, H, H)
    assert clip.audio.shape == (T * 640,) and clip.sample_rate == 16000 and clip.fps == 25.0
    assert clip.landmarks.shape == (T, 68, 2) and clip.pose.shape == (T, 3)
    assert 0 <= float(clip.video.min()) and float(clip.video.max()) <= 1
    assert float(clip.audio.abs().max()) <= 1 and float(clip.audio.std()) > 1e-3
    assert clip.attributes["gender"] in ("m", "f") and 18 <= clip.attributes["age"] <= 75
    assert isinstance(clip.speaker, int) and isinstance(clip.text, str)


def test_determinism_and_variety(world, clip):
    again = SynthWorld(SynthConfig(image_size=32, num_frames=9, vocab_size=8, seed=0)).clip(0, "train")
    assert torch.equal(clip.video, again.video) and torch.equal(clip.audio, again.audio)
    assert torch.equal(clip.landmarks, again.landmarks)
    other = world.clip(1, "train")
    assert not torch.equal(clip.video, other.video)
    seed1 = SynthWorld(SynthConfig(image_size=32, num_frames=9, vocab_size=8, seed=1)).clip(0, "train")
    assert not torch.equal(clip.video, seed1.video)


def test_open_set_split(world):
    train = {i.id for i in world.identities("train")}
    test = {i.id for i in world.identities("test")}
    assert train and test and not train & test
    assert {world.clip(i, "test").speaker for i in range(3)} <= test
    with pytest.raises(ValueError, match="split"):
        world.clip(0, "val")


def test_bad_config():
    with pytest.raises(ValueError, match="voice_coupling"):
        SynthConfig(voice_coupling=1.5).validate()
    with pytest.raises(ValueError, match="vocab_size"):
        SynthWorld(SynthConfig(vocab_size=1000))


def test_bicubic_and_blur():
    x = torch.rand(2, 5, 3, 32, 32)
    y = bicubic_down(x, 4)
    assert y.shape == (2, 5, 3, 8, 8) and 0 <= float(y.min()) and float(y.max()) <= 1
    flat = torch.full((3, 32, 32), 0.3)
    assert torch.allclose(bicubic_down(flat, 4), torch.full((3, 8, 8), 0.3), atol=1e-5)
    assert torch.allclose(blur_subsample(flat, 1.5, 4), torch.full((3, 8, 8), 0.3), atol=1e-5)
    assert blur_subsample(x, 1.5, 4).shape == (2, 5, 3, 8, 8)
    with pytest.raises(ValueError, match="scale"):
        bicubic_down(x, 3)
    with pytest.raises(ValueError, match="video"):
        bicubic_down(torch.rand(32, 32), 4)


def test_misalign_shapes():
    v = torch.rand(4, 3, 16, 16)
    y, theta = misalign(v, generator=torch.Generator().manual_seed(0))
    assert y.shape == v.shape and theta.shape == (2, 3)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_at_snr(kind):
    audio = torch.sin(torch.arange(16000) / 16000 * 2 * math.pi * 220)
    n = make_noise(kind, 8000, seed=1)
    assert n.shape == (8000,) and abs(float(n.pow(2).mean()) - 1) < 1e-3
    for snr in (-10.0, 0.0, 30.0):
        noisy = mix_noise(audio, n, snr)
        assert abs(float(snr_db(audio, noisy)) - snr) < 0.05
    with pytest.raises(ValueError, match="silent"):
        mix_noise(torch.zeros(100), n, 0.0)


def test_log_mel_alignment(clip):
    mel = log_mel(clip.audio)
    assert mel.shape == (80, 9 * MEL_STEPS_PER_FRAME)
    assert log_linear(clip.audio).shape == (257, 9 * MEL_STEPS_PER_FRAME)
    # batched input gives the same as one at a time
    both = log_mel(torch.stack([clip.audio, clip.audio * 0.5]))
    assert torch.allclose(both[0], mel, atol=1e-4)
    # an impulse in frame 5 shows up in frame 5's steps
    x = torch.zeros(9 * 640)
    x[5 * 640 + 320] = 1.0
    e = log_mel(x).exp().sum(0)
    assert int(e.argmax()) // MEL_STEPS_PER_FRAME == 5
    w = frame_window(mel, 0, 2)
    assert w.shape == (80, 5 * 16)
    with pytest.raises(ValueError, match="hop"):
        log_mel(torch.zeros(44100), sample_rate=44100)


def test_mouth_crops_differentiable(clip):
    v = clip.video.clone().requires_grad_(True)
    crops = mouth_crops(v, clip.landmarks, size=24)
    assert crops.shape == (9, 1, 24, 24)
    crops.sum().backward()
    assert v.grad is not None and float(v.grad.abs().sum()) > 0
    boxes = mouth_box(clip.landmarks)
    assert boxes.shape == (9, 4)
    mouth = clip.landmarks[:, 48:68]
    assert bool(((mouth[..., 0] >= boxes[:, None, 0]) & (mouth[..., 0] <= boxes[:, None, 2])).all())
    assert set(component_crops(clip.video, clip.landmarks, 16)) == {"left_eye", "right_eye", "nose", "mouth"}
    with pytest.raises(ValueError, match="landmarks"):
        mouth_crops(clip.video, clip.landmarks[:, :20])


def test_heatmaps_and_procrustes(clip):
    hm = landmark_heatmaps(clip.landmarks[:2], 32, sigma=1.0, image_size=32)
    assert hm.shape == (2, 68, 32, 32)
    peak = hm[0, 30].flatten().argmax()
    py, px = divmod(int(peak), 32)
    assert abs(px + 0.5 - float(clip.landmarks[0, 30, 0])) <= 1 and abs(py + 0.5 - float(clip.landmarks[0, 30, 1])) <= 1
    tmpl = clip.landmarks[0]
    ang = 0.3
    Rm = torch.tensor([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    moved = (tmpl @ Rm.T) * 1.7 + torch.tensor([3.0, -2.0])
    aligned, _ = procrustes(moved[None], tmpl)
    assert torch.allclose(aligned[0], tmpl, atol=1e-3)


def test_window_dataset(world):
    clips = [world.clip(i) for i in range(2)]
    ds = WindowDataset(clips, window=2, scale=4)
    assert len(ds) == 2 * (9 - 4)
    it = ds[0]
    assert it["lr"].shape == (5, 3, 8, 8) and it["hr"].shape == (5, 3, 32, 32)
    assert it["mel"].shape == (1, 80, 5 * 16) and it["t"] == 2 and it["mouth_box"].shape == (4,)
    assert it["landmarks"].shape == (5, 68, 2) and 0 <= it["word"] < 8 and it["speaker"] >= 0
    assert it["hr"].dtype == torch.float32 and torch.equal(it["hr"], clips[0].video[0:5])  # stored as uint8, exact
    # the mel window of centre t is the full-clip mel at frames t-2..t+2
    full = log_mel(clips[0].audio)
    assert torch.allclose(ds[1]["mel"][0], full[:, 16 * 1: 16 * 6])
    assert WindowDataset(clips, window=2, scale=4, degrade="blur")[0]["lr"].shape == (5, 3, 8, 8)
    with pytest.raises(ValueError, match="degrade"):
        WindowDataset(clips, degrade="jpeg")
    with pytest.raises(ValueError, match="frames"):
        WindowDataset(clips, window=5)


def test_window_dataset_stacks_a_batch_exactly_as_collate_does(world):
    """`WindowDataset.stacked` (the 8-bit HR stacked as bytes, scaled after the move) gives collate's batch bit for
    bit, key order and dtypes included; so does a copy whose clips hold float frames; `step_batches` uses it."""
    import copy

    from avfh_core.data.batching import collate, step_batches

    ds = WindowDataset([world.clip(i) for i in range(3)], window=2, scale=4)
    idx = [0, 7, 3, 3, 14]

    def same(a, b):
        assert list(a) == list(b)
        for k in a:
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k

    assert ds.clips[0]["hr"].dtype == torch.uint8
    same(ds.stacked(idx), collate([ds[i] for i in idx]))
    edited = copy.copy(ds)  # e.g. a world whose HR was edited (float frames) in one clip
    edited.clips = [dict(ds.clips[0], hr=ds.clips[0]["hr"].float() / 255 * 0.5)] + ds.clips[1:]
    same(edited.stacked(idx), collate([edited[i] for i in idx]))
    assert ds.gathered(idx)["hr"].dtype == torch.uint8 and edited.gathered(idx)["hr"].dtype == torch.float32
    batch = step_batches(ds, 4, seed=3, device="cpu")(5)
    g = torch.Generator().manual_seed(3 * 1_000_003 + 5)
    same(batch, collate([ds[i] for i in torch.randint(len(ds), (4,), generator=g).tolist()]))
    with pytest.raises(ValueError, match="no indices"):
        ds.stacked([])


def test_numpy_free_of_global_state(world):
    np.random.seed(123)  # noqa: NPY002 (global state must not matter)
    a = world.clip(2).audio
    np.random.seed(999)  # noqa: NPY002
    torch.manual_seed(5)
    assert torch.equal(a, world.clip(2).audio)


def test_one_landmark_convention():
    """Heatmaps peak at the landmark with pixel centres at +0.5; an image-size scale maps pixels; Procrustes returns
    the transform it applied; errors name the problem."""
    import pytest

    from avfh_core.data.landmarks import check_landmarks, landmark_heatmaps, procrustes

    lm = torch.tensor([[2.5, 5.5], [8.0, 8.0]])  # pixel (row 5, col 2) centre; a pixel corner
    hm = landmark_heatmaps(lm, (10, 12), sigma=1.0)
    assert hm.shape == (2, 10, 12) and hm[0, 5, 2].item() == 1.0 and hm[0].argmax().item() == 5 * 12 + 2
    assert hm[1, 7, 7].item() == pytest.approx(hm[1, 8, 8].item())  # a corner is equidistant from 4 centres
    half = landmark_heatmaps(lm * 2, (10, 12), image_size=(20, 24))  # the same points in a 2x image
    assert torch.allclose(half, hm)
    src = torch.rand(3, 68, 2) * 30
    ang = torch.tensor(0.4)
    rot = torch.stack([torch.stack([ang.cos(), -ang.sin()]), torch.stack([ang.sin(), ang.cos()])])
    tgt = src @ rot.T * 0.5 + torch.tensor([1.0, 2.0])
    aligned, A = procrustes(src, tgt)
    assert torch.allclose(aligned, tgt, atol=1e-3) and A.shape == (3, 2, 3)
    assert torch.allclose(src @ A[..., :2].transpose(-1, -2) + A[..., None, :, 2], aligned, atol=1e-5)
    with pytest.raises(ValueError, match=r"\[\.\.\., 68, 2\]"):
        check_landmarks(torch.zeros(20, 2))
    with pytest.raises(ValueError, match="NaN"):
        check_landmarks(torch.full((68, 2), float("nan")))
    with pytest.raises(ValueError, match="at least 3 points"):
        procrustes(torch.rand(2, 2), torch.rand(2, 2))
