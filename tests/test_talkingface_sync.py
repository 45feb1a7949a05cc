"""The in-project SyncNet-style sync network and its score (distance, confidence, offset)."""

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


def test_windows_and_contrastive_loss():
    crops, audio = torch.rand(2, 5, 4, 4), torch.arange(5 * 320.0).expand(2, -1)
    v, a = S.windows(crops, audio, 1)
    assert v.shape == (2, 5 - S.WINDOW, S.WINDOW, 4, 4) and a.shape == (2, 5 - S.WINDOW, S.WINDOW * 320)
    assert a[0, 0, 0] == 320  # window 0 paired with the audio one frame later
    with pytest.raises(ValueError, match="no 3-frame window"):
        S.windows(crops, audio, 3)
    d = torch.tensor([0.0, 2.0, 0.5])
    loss = S.contrastive_loss(d, torch.tensor([1, 0, 0]))
    assert loss.item() == pytest.approx((0 + 0 + 0.25) / 3)


class _Oracle(S.SyncNet):
    """Distance 0 exactly when the crops' brightness pattern equals the audio's frame energies."""

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
