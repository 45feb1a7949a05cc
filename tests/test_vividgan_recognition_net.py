"""The identification scorer of VividGAN's Tab. VI (models/face_recognition.py, train/vividgan.recognition_net):
an ArcFace-margin residual net, different from the FeatureNet of L_id, trained on all the world's people."""

import pytest
import torch

from avfh_core.config import setup
from avfh_core.models.face_recognition import RecognitionNet
from avfh_core.models.featurenet import FeatureNet
from avfh_core.train import experiment as E
from avfh_core.train import vividgan as V


def test_arcface_logits_margin_and_errors():
    torch.manual_seed(0)
    net = RecognitionNet(5, 32, width=4, stages=3, dim=8).eval()
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    e = net.embed(x)
    assert e.shape == (4, 8) and torch.allclose(e.norm(dim=1), torch.ones(4), atol=1e-5)
    plain, margin = net.logits(x), net.logits(x, y)
    rows = torch.arange(4)
    # the margin lowers the true class's logit only: s cos(theta + m) < s cos(theta)
    assert (margin[rows, y] < plain[rows, y]).all()
    off = torch.ones_like(plain, dtype=torch.bool)
    off[rows, y] = False
    assert torch.allclose(margin[off], plain[off])
    assert float(plain.detach().abs().max()) <= net.scale + 1e-4  # s cos: bounded by the scale
    with pytest.raises(ValueError, match="divisible by 2\\^stages"):
        RecognitionNet(5, 36, stages=3)
    with pytest.raises(ValueError, match="n_identities must be >= 2"):
        RecognitionNet(1, 32)
    with pytest.raises(ValueError, match="expects images"):
        net.embed(torch.rand(2, 1, 32, 32))


def test_recognition_net_is_not_phi_and_learns_all_people(tmp_path, monkeypatch):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    E.clear_memory()
    cfg = setup("smoke", device="cpu", featnet_steps=12, n_train_clips=8, vividgan_test_scenes=2)
    data = V.recognition_data(cfg)
    w = V.pair_world(cfg)
    n_train = len(w.identities("train"))
    assert data["identity"].min() >= 0 and (data["identity"] >= n_train).any()  # held-out people are in
    net = V.recognition_net(cfg)
    assert isinstance(net, RecognitionNet) and not isinstance(net, FeatureNet)
    with torch.no_grad():
        pred = net.logits(data["x"]).argmax(1)
    acc = (pred == data["identity"]).float().mean().item()
    assert acc > 3 / (n_train + len(w.identities("test")))  # well above chance after a few steps
    again = V.recognition_net(cfg)  # cached: the same weights
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True))
