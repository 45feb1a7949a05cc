"""Premises of the synthetic world: geometry, audio-mouth sync, voice identity cues, causal knobs, cache."""

import json
import math
import warnings

import numpy as np
import pytest
import torch

from avfh_core.data import SynthConfig, SynthWorld
from avfh_core.data import face as facemod
from avfh_core.data.stats import (
    correlation,
    estimate_f0,
    nearest_centroid_accuracy,
    sync_stats,
    voice_features,
)


def _world(**kw):
    base = dict(image_size=32, num_frames=29, vocab_size=20, seed=0, render_frontal=False)
    base.update(kw)
    return SynthWorld(SynthConfig(**base))


def _render_plain(idn, pose, jaw=0.0, blink=0.0, size=64):
    """Render one frame of `idn` over a black background (so alpha is visible)."""
    alb, nrm = facemod.identity_texture(idn, 64)
    T = 1
    mouth = {"jaw": torch.full((T,), jaw), "spread": torch.zeros(T), "closed": torch.zeros(T)}
    img, lm = facemod.render(idn, alb, nrm, torch.tensor([pose], dtype=torch.float32),
                             torch.full((T, 2), size / 2.0), size * 0.36, mouth, torch.full((T,), blink),
                             torch.zeros(3, size, size), torch.tensor([0.0, 0.0, 1.0]))
    return img[0], lm[0]


def _at(img, p):
    x, y = int(p[0]), int(p[1])
    return img[:, y, x]


@pytest.fixture(scope="module")
def people():
    return _world().identities("train")


def test_landmarks_land_on_their_features(people):
    idn = people[0]
    img, lm = _render_plain(idn, [0.0, 0.0, 0.0], jaw=0.9)
    # every landmark of a frontal face lies on the head (not on the black background)
    assert all(float(_at(img, p).sum()) > 0.05 for p in lm)
    # eye centres are dark (pupil/iris), the forehead between the brows is skin (brighter)
    for eye in (slice(36, 42), slice(42, 48)):
        c = lm[eye].mean(0)
        assert float(_at(img, c).mean()) < float(_at(img, lm[27] - torch.tensor([0.0, 4.0])).mean())
    # the open mouth between points 62 and 66 is the dark cavity or the tongue, darker than the cheek
    cav = (lm[62] + lm[66]) / 2
    cheek = (lm[3] + lm[31]) / 2
    assert float(_at(img, cav).mean()) < 0.7 * float(_at(img, cheek).mean())
    # the upper lip (between 51 and 62) is lip-coloured: redder than the skin
    lip = _at(img, (lm[51] + lm[62]) / 2)
    assert float(lip[0] - lip[1]) > 0.1


def test_landmarks_follow_the_pose(people):
    idn = people[1]
    for yaw in (-60.0, 40.0):
        img, lm = _render_plain(idn, [yaw, 5.0, 3.0])
        near = slice(42, 48) if yaw > 0 else slice(36, 42)  # the eye that turns towards the camera side
        c = lm[near].mean(0)
        assert float(_at(img, c).sum()) > 0.05  # on the head
        # yaw to the right moves the nose tip right of the midpoint of the jaw ends
        mid = (lm[0] + lm[16]) / 2
        assert float(torch.sign(lm[30, 0] - mid[0])) == math.copysign(1, yaw)


def test_frontal_is_symmetric_and_poses_span_75_degrees():
    w = SynthWorld(SynthConfig(image_size=32, num_frames=5, render_frontal=True, pose_preset="wide"))
    s = w.clip(0)
    flm = s.extras["frontal_landmarks"][0]
    mirror = torch.tensor(list(range(16, -1, -1)))  # jaw 0..16 mirrored
    assert torch.allclose(flm[:17, 0] + flm[mirror, 0], torch.full((17,), 32.0), atol=1e-3)
    yaws = torch.stack([w.clip(i).pose[:, 0] for i in range(40)])
    assert float(yaws.abs().max()) <= 75.0 + 1e-4 and float(yaws.abs().max()) > 45.0


def test_audio_mouth_sync_and_offset_breaks_it():
    def stats(w, n=8):
        r = sync_stats(w, n)
        return r["opening_vs_energy"], r["opening_vs_f1_voiced"]

    sync, f1_sync = stats(_world())
    off, _ = stats(_world(av_offset_frames=6))
    assert sync > 0.45, sync  # mouth opening and speech energy co-move
    assert f1_sync > 0.25, f1_sync  # the F1 read off the mel spectrogram rises with the mouth opening
    assert off < sync - 0.3, (sync, off)


def test_av_offset_shifts_audio_only():
    base, shifted = _world(), _world(av_offset_frames=3)
    a, b = base.clip(1), shifted.clip(1)
    assert torch.equal(a.landmarks, b.landmarks)
    k = 3 * 640
    assert correlation(a.audio[:-k], b.audio[k:]) > 0.95  # audio lags the video by 3 frames


def test_shuffle_audio_keeps_video_changes_audio():
    a, b = _world().clip(2), _world(shuffle_audio=True).clip(2)
    assert torch.equal(a.video, b.video)
    assert abs(correlation(a.audio, b.audio)) < 0.3


def test_voice_carries_gender_only_when_coupled():
    def acc(coupling):
        w = _world(voice_coupling=coupling)

        def feats(split, n):
            xs, ys = [], []
            for i in range(n):
                audio, _ = w.audio(i, split)
                xs.append(voice_features(audio))
                ys.append(w._plan(i, split)["idn"].gender)
            return torch.stack(xs), ys

        return nearest_centroid_accuracy(*feats("train", 40), *feats("test", 30))

    assert acc(1.0) >= 0.8
    assert acc(0.0) <= 0.75


def test_pitch_follows_gender():
    w = _world()
    f0 = {"m": [], "f": []}
    for i in range(16):
        audio, tracks = w.audio(i)
        est = estimate_f0(audio)
        voiced = torch.from_numpy(tracks["voice"]) > 0.8
        est = est[voiced & ~torch.isnan(est)]
        if est.numel():
            f0[w._plan(i, "train")["idn"].gender].append(float(est.median()))
    assert f0["m"] and f0["f"]
    # men's and women's speaking F0 overlap a little, as real voices do (old women, young or old high-pitched men;
    # world v5), but the typical man is far below the typical woman and most voices fall on their side of 160 Hz
    assert np.median(f0["m"]) * 1.4 < np.median(f0["f"]), f0
    right = sum(v < 160 for v in f0["m"]) + sum(v > 160 for v in f0["f"])
    assert right >= 0.8 * (len(f0["m"]) + len(f0["f"])), f0


def test_sentences_and_blinks():
    w = _world(utterance="sentence", num_frames=75)
    s = w.clip(0)
    assert len(s.text.split()) == 6 and len(s.extras["words"]) == 6
    assert all(0 <= a < b <= 3.0 for _, a, b in s.extras["words"])
    blinks = [w.clip(i).extras["blink"] for i in range(4)]
    assert any(float(b.max()) > 0.9 for b in blinks)
    with_blink = next(i for i, b in enumerate(blinks) if float(b.max()) > 0.9)
    c = w.clip(with_blink)
    t = int(c.extras["blink"].argmax())
    lid = c.landmarks[:, 37, 1] - c.landmarks[:, 41, 1]  # upper minus lower lid (negative when open)
    assert float(lid[t]) > float(lid.min()) + 0.5


def test_cache_roundtrip_invalidation_and_corruption(tmp_path):
    w = SynthWorld(SynthConfig(image_size=16, num_frames=3, vocab_size=4, n_train_identities=3,
                               n_test_identities=2))
    ds = w.dataset("train", n_clips=5, root=tmp_path)
    assert len(ds) == 5
    s, ref = ds[3], w.clip(3)
    assert torch.equal(s.video, ref.video) and torch.equal(s.audio, ref.audio)
    assert torch.equal(s.frontal, ref.frontal) and s.text == ref.text and s.extras["phones"] == ref.extras["phones"]
    manifest = json.loads(ds.manifest_path.read_text())
    assert manifest["config"]["image_size"] == 16 and manifest["shards"]
    # a changed configuration never reuses the cache
    w2 = SynthWorld(SynthConfig(image_size=16, num_frames=3, vocab_size=4, n_train_identities=3,
                                n_test_identities=2, voice_coupling=0.5))
    ds2 = w2.dataset("train", n_clips=5, root=tmp_path)
    assert ds2.dir != ds.dir and not torch.equal(ds2[3].audio, s.audio)
    # a corrupted shard is detected by its checksum and regenerated
    shard = next(ds.dir.glob("shard_*.pt"))
    shard.write_bytes(b"garbage")
    fresh = w.dataset("train", n_clips=5, root=tmp_path)
    with pytest.warns(UserWarning, match="checksum"):
        again = fresh[3]
    assert torch.equal(again.video, ref.video)
    with pytest.raises(IndexError):
        fresh[5]
    with pytest.raises(ValueError, match="n_clips"):
        w.dataset("train", n_clips=0, root=tmp_path)


def test_dataset_in_dataloader(tmp_path):
    w = SynthWorld(SynthConfig(image_size=16, num_frames=3, vocab_size=4))
    ds = w.dataset("test", n_clips=3, root=tmp_path)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, shuffle=False)
    texts = [s.text for s in loader]
    assert texts == [w.clip(i, "test").text for i in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(ds[0].audio.numpy()).all()


def test_pose_without_rendering_matches_clip():
    w = _world(num_frames=5)
    assert torch.equal(w.pose(3), w.clip(3).pose)
    with pytest.raises(ValueError, match="clip index"):
        w.clip(-1)


@pytest.mark.slow  # spawns two worker processes
def test_parallel_cache_build_equals_serial(tmp_path):
    cfg = SynthConfig(image_size=16, num_frames=2, vocab_size=4, n_train_identities=3, n_test_identities=2)
    par = SynthWorld(cfg).dataset("train", n_clips=40, root=tmp_path / "a", workers=2)
    ser = SynthWorld(cfg).dataset("train", n_clips=40, root=tmp_path / "b")
    assert json.loads(par.manifest_path.read_text())["shards"] == json.loads(ser.manifest_path.read_text())["shards"]
    assert torch.equal(par[35].video, ser[35].video)


def test_signed_distance_helpers():
    square = torch.tensor([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]])
    pts = torch.tensor([[1.0, 1.0], [3.0, 1.0], [1.0, -0.5]])
    d = facemod.polygon_sd(pts, square)
    assert torch.allclose(d, torch.tensor([-1.0, 1.0, 0.5]))
    line = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    assert torch.allclose(facemod.polyline_distance(torch.tensor([[0.5, 0.3], [2.0, 1.0]]), line),
                          torch.tensor([0.3, 1.0]))
