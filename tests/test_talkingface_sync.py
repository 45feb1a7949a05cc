"""The in-project SyncNet-style sync network and its score (distance, confidence, offset)."""

import math

import pytest
import torch

from avfh_core.models import talkingface_sync as S
from avfh_core.train import talkingface_sync as ts


def test_mouth_crops_cut_the_box():
    video = torch.zeros(1, 2, 3, 16, 16)
    video[:, :, :, 8:16, 4:12] = 1.0  # a bright mouth box
    box = torch.tensor([4.0, 8.0, 12.0, 16.0]).expand(1, 2, 4)
    crops = S.mouth_crops(video, box, size=8)
    assert crops.shape == (1, 2, 8, 8) and crops.min() > 0.99
    with pytest.raises(ValueError, match="box"):
        S.mouth_crops(video, box[:, :1])


def test_windows():
    crops, audio = torch.rand(2, 5, 4, 4), torch.arange(5 * 320.0).expand(2, -1)
    v, a = S.windows(crops, audio, 1)
    assert v.shape == (2, 5 - S.WINDOW, S.WINDOW, 4, 4) and a.shape == (2, 5 - S.WINDOW, S.WINDOW * 320)
    assert a[0, 0, 0] == 320  # window 0 paired with the audio one frame later
    with pytest.raises(ValueError, match="no 3-frame window"):
        S.windows(crops, audio, 3)


def test_normalise_crops_keeps_motion_only():
    g = torch.Generator().manual_seed(0)
    crops = torch.rand(2, 6, 4, 4, generator=g)
    n = S.normalise_crops(crops)
    assert n.mean(1).abs().max() < 1e-6 and torch.allclose(n.std(dim=(1, 2, 3)), torch.ones(2))
    # whose mouth it is (a fixed offset and contrast per clip) does not matter, only how it moves
    assert torch.allclose(S.normalise_crops(0.3 + 2.0 * crops), n, atol=1e-5)
    still = crops[:, :1].expand(-1, 6, -1, -1) + 1e-8 * torch.rand(2, 6, 4, 4, generator=g)
    assert S.normalise_crops(still).abs().max() < 1e-4  # a mouth that does not move stays (nearly) zero
    with pytest.raises(ValueError, match="whole clips"):
        S.normalise_crops(crops[0])


def test_multiway_loss_prefers_the_middle_offset():
    class _Fixed(S.SyncNet):  # embeddings chosen by hand: video -> e0, audio -> its first sample's one-hot
        def embed_video(self, crops):
            return torch.nn.functional.one_hot(torch.zeros(len(crops), dtype=torch.long), 5).float()

        def embed_audio(self, audio):
            return torch.nn.functional.one_hot(audio[:, 0].long(), 5).float()

    B, n = 2, 5
    crops = torch.zeros(B, S.WINDOW, 4, 4)
    audio = torch.full((B, n, S.WINDOW * 320), 1.0)
    right, wrong = audio.clone(), audio.clone()
    right[:, n // 2, 0] = 0  # the in-sync audio (the middle offset) embeds on the video's direction
    wrong[:, 0, 0] = 0
    lo, hi = S.multiway_loss(_Fixed(), crops, right), S.multiway_loss(_Fixed(), crops, wrong)
    assert lo.item() == pytest.approx(-torch.log_softmax(torch.tensor([0, 0, S.SCALE, 0, 0]), 0)[2].item(), abs=1e-5)
    assert hi.item() > lo.item() + S.SCALE / 2
    with pytest.raises(ValueError, match="odd number of offsets"):
        S.multiway_loss(_Fixed(), crops, audio[:, :4])


def test_speech_windows_skip_silence_and_keep_every_offset_inside():
    T = 12
    audio = 1e-4 * torch.ones(2, T * 320)
    audio[0, 5 * 320:6 * 320] = 1.0  # clip 0 speaks in frame 5 only; clip 1 is silent but for room tone
    assert ts.train_offsets(T) == 2 and ts.train_offsets(S.WINDOW + 1) == 0
    w = ts.speech_windows(audio, 2)
    assert w[:, 0].eq(0).all() and sorted(w[:, 1].tolist()) == [3, 4, 5]  # the windows that hold frame 5
    even = ts.speech_windows(torch.ones(1, T * 320), 2)  # a clip as loud throughout: every window fits
    assert even[:, 1].tolist() == list(range(2, T - S.WINDOW - 2 + 1))


class _Oracle(S.SyncNet):
    """Distance 0 exactly when the crops' brightness pattern equals the audio's frame energies."""

    def prepare(self, crops):
        return crops

    def distance(self, crops, audio):
        v = crops.mean((-1, -2))
        a = audio.reshape(audio.shape[0], S.WINDOW, -1).abs().mean(-1)
        return (v - a).abs().sum(-1)


def test_sync_score_finds_the_offset_and_gives_confidence():
    g = torch.Generator().manual_seed(0)
    level = torch.rand(2, 8, generator=g)
    crops = level[:, :, None, None].expand(2, 8, 4, 4)
    audio = level.repeat_interleave(320, 1)
    s = S.sync_score(_Oracle(), crops, audio, max_offset=2)
    assert torch.equal(s["sync_offset"], torch.zeros(2)) and (s["sync_distance"] < 1e-6).all()
    assert (s["sync_confidence"] > 0).all()
    late = S.sync_score(_Oracle(), crops[:, 1:], audio[:, :-320], max_offset=2)
    assert torch.equal(late["sync_offset"], torch.ones(2))


def test_syncnet_trains_caches_and_reports(tmp_path, monkeypatch):
    from avfh_core.config import setup
    from avfh_core.train import talkingface as tf

    class _Clips:
        def __init__(self, seed):
            g = torch.Generator().manual_seed(seed)
            self.items = [dict(video=torch.rand(6, 3, 16, 16, generator=g), box=torch.tensor([4.0, 8, 12, 14]).expand(6, 4),
                               audio=torch.randn(6 * 320, generator=g)) for _ in range(3)]

    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    monkeypatch.setitem(ts.STEPS, "smoke", 2)
    monkeypatch.setattr(tf, "clip_data", lambda cfg, split, *a, **k: _Clips(0 if split == "train" else 1))
    cfg = setup("smoke", seed=0, device="cpu")
    with torch.no_grad():
        net, info = ts.syncnet(cfg)
    assert info["steps"] == 2 and info["cached"] is False
    assert ts.syncnet(cfg)[1]["cached"] is True
    rep = ts.sync_report(net, _Clips(1))
    assert set(rep) == {"true_confidence", "true_distance", "true_offset_zero", "shuffled_confidence",
                        "shuffled_distance"}
    assert ts.max_offset(9) == 2 and ts.max_offset(4) == 1 and ts.max_offset(3) == 0
    assert info["offsets"] == 1  # 6 frames: offsets -1 ... 1 fit within a clip


def test_syncnet_trains_on_clips_too_short_to_shift(tmp_path, monkeypatch):
    from avfh_core.config import setup
    from avfh_core.train import talkingface as tf

    class _Short:  # 4 frames: no window has room for an offset in both directions (K = 0)
        def __init__(self, seed):
            g = torch.Generator().manual_seed(seed)
            box = torch.tensor([4.0, 8, 12, 14]).expand(4, 4)
            self.items = [dict(video=torch.rand(4, 3, 16, 16, generator=g), box=box,
                               audio=torch.randn(4 * 320, generator=g)) for _ in range(3)]

    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    monkeypatch.setitem(ts.STEPS, "smoke", 2)
    monkeypatch.setattr(tf, "clip_data", lambda cfg, split, *a, **k: _Short(0 if split == "train" else 1))
    net, info = ts.syncnet(setup("smoke", seed=0, device="cpu"))
    assert info["offsets"] == 0 and info["steps"] == 2 and math.isfinite(info["final_loss"])


class _Talking:
    """Clips of a toy world in which the mouth box's brightness follows the loudness of the speech frame by frame
    (random per-frame loudness, speech = loudness x noise): sync is all there is to learn."""

    def __init__(self, seed, n=48, T=12):
        g = torch.Generator().manual_seed(seed)
        level = torch.rand(n, T, generator=g)
        video = 0.5 * torch.ones(n, T, 3, 16, 16)
        video[:, :, :, 8:14, 4:12] = 0.2 + 0.6 * level[:, :, None, None, None]
        audio = level.repeat_interleave(320, 1) * torch.randn(n, T * 320, generator=g)
        box = torch.tensor([4.0, 8, 12, 14]).expand(T, 4)
        self.items = [dict(video=video[i], box=box, audio=audio[i]) for i in range(n)]


def test_syncnet_learns_to_find_the_offset(tmp_path, monkeypatch):
    from avfh_core.config import setup
    from avfh_core.train import talkingface as tf

    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    monkeypatch.setitem(ts.STEPS, "smoke", 300)
    monkeypatch.setattr(tf, "clip_data", lambda cfg, split, *a, **k: _Talking(0 if split == "train" else 1))
    net, info = ts.syncnet(setup("smoke", seed=0, device="cpu"))
    assert info["offsets"] == 2
    rep = ts.sync_report(net, _Talking(1, n=24))
    assert rep["true_offset_zero"] >= 0.8  # a guess among the 5 offsets finds it for 1 in 5
    assert rep["true_distance"] < rep["shuffled_distance"]
