"""Adversarial, mask, face-structure and perceptual losses: values, gradients (finite, non-zero where they must be,
zero where the design detaches) and clear errors."""

import math

import pytest
import torch

from avfh_core.data.landmarks import landmark_heatmaps
from avfh_core.losses import adversarial as adv
from avfh_core.losses.face_structure import heatmap_loss, identity_loss, symmetry_loss
from avfh_core.losses.mouth_mask import MASK_CONSTANT, gaussian_mouth_mask, masked_l1
from avfh_core.losses.noise import noise_resilience_loss
from avfh_core.losses.perceptual import PerceptualLoss
from avfh_core.metrics.attributes import attribute_accuracy, identity_similarity
from avfh_core.models.featurenet import FeatureNet, age_group
from avfh_core.train.pretrain import frames_and_labels, load_feature_net, train_feature_net


def _grad_of(loss_fn, *shapes):
    xs = [torch.randn(*s, requires_grad=True) for s in shapes]
    loss = loss_fn(*xs)
    loss.backward()
    return loss, [x.grad for x in xs]


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "wgan-gp"])
def test_adversarial_values_and_gradients(kind):
    d_loss, g_loss = adv.get(kind)
    loss, (gr, gf) = _grad_of(d_loss, (4, 1, 3, 3), (4, 1, 3, 3))
    assert torch.isfinite(loss) and gr.abs().sum() > 0 and gf.abs().sum() > 0
    loss, (g,) = _grad_of(g_loss, (4, 1, 3, 3))
    assert torch.isfinite(loss) and g.abs().sum() > 0
    # a perfect discriminator: lsgan/vanilla losses near zero on its side
    real, fake = torch.full((2, 1), 50.0), torch.full((2, 1), -50.0)
    if kind == "vanilla":
        assert d_loss(real, fake).item() < 1e-6 and g_loss(fake).item() > 10
    if kind == "lsgan":
        assert d_loss(torch.ones(2, 1), torch.zeros(2, 1)).item() == 0.0
        assert g_loss(torch.zeros(2, 1)).item() == pytest.approx(0.5)
    if kind == "wgan-gp":
        assert d_loss(real, fake).item() == pytest.approx(-100.0)
    with pytest.raises(ValueError, match="unknown adversarial"):
        adv.get("hinge2")


def test_gradient_penalty():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    real, fake = torch.rand(5, 3, 2, 2), torch.rand(5, 3, 2, 2, requires_grad=True)
    gp = adv.gradient_penalty(critic, real, fake)
    w = critic[1].weight
    expected = 10 * (w.norm() - 1) ** 2  # a linear critic: the gradient is the weight everywhere
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)
    gp.backward()
    assert w.grad.abs().sum() > 0 and fake.grad is None  # the penalty trains the critic only
    with pytest.raises(ValueError, match="same shape"):
        adv.gradient_penalty(critic, real, fake[:2])
    with pytest.raises(ValueError, match="NaN"):
        adv.lsgan_g_loss(torch.tensor([math.nan]))


def test_mouth_mask_and_masked_l1():
    lm = torch.zeros(2, 68, 2)
    lm[:, 48:] = torch.tensor([20.5, 30.5])  # the centre of pixel (row 30, col 20)
    m = gaussian_mouth_mask(lm, (40, 40), sigma=4.0)
    assert m.shape == (2, 40, 40)
    assert m[0, 30, 20].item() == pytest.approx(1 + MASK_CONSTANT)
    assert m[0, 0, 0].item() == pytest.approx(MASK_CONSTANT, abs=1e-6)
    pred = torch.rand(2, 3, 40, 40, requires_grad=True)
    target = torch.rand(2, 3, 40, 40)
    loss = masked_l1(pred, target, m)
    loss.backward()
    g = pred.grad.abs().sum(dim=1)
    assert g[0, 30, 20] > 50 * g[0, 0, 0] > 0  # the mouth dominates, the rest is not ignored
    with pytest.raises(ValueError, match="68, 2"):
        gaussian_mouth_mask(torch.zeros(2, 20, 2), (40, 40))
    with pytest.raises(ValueError, match="frame size"):
        masked_l1(pred, target, m[..., :30])


def test_noise_resilience_detaches_the_clean_branch():
    enc = torch.nn.Linear(8, 4)
    clean, noisy = torch.randn(3, 8), torch.randn(3, 8)
    loss = noise_resilience_loss(enc, clean, noisy)
    loss.backward()
    g1 = enc.weight.grad.clone()
    enc.zero_grad()
    (0.5 * ((enc(noisy) - enc(clean).detach()) ** 2).mean() * 2).backward()
    assert torch.allclose(g1, enc.weight.grad) and loss.item() > 0
    assert noise_resilience_loss(enc, clean, clean).item() == 0.0


def test_symmetry_identity_heatmap():
    img = torch.rand(2, 3, 8, 8)
    sym = (img + img.flip(-1)) / 2
    assert symmetry_loss(sym).item() == pytest.approx(0.0, abs=1e-12)
    x = img.clone().requires_grad_(True)
    loss = symmetry_loss(x, reduction="sum")
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert loss.item() == pytest.approx(((img.flip(-1) - img) ** 2).sum().item() / 2, rel=1e-5)
    phi = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 5))
    target = torch.rand(2, 3, 8, 8, requires_grad=True)
    idl = identity_loss(phi, x, target)
    idl.backward()
    assert target.grad is None and idl.item() > 0
    lm = torch.tensor([[[3.5, 4.5], [6.5, 1.5]]])  # the centres of pixels (row 4, col 3) and (row 1, col 6)
    hm = landmark_heatmaps(lm, (8, 8))
    assert hm.shape == (1, 2, 8, 8) and hm[0, 0, 4, 3].item() == 1.0 and hm[0, 1, 1, 6].item() == 1.0
    pred = torch.zeros(1, 2, 8, 8, requires_grad=True)
    hl = heatmap_loss(pred, hm, reduction="sum")
    hl.backward()
    assert hl.item() == pytest.approx((hm**2).sum(dim=(-2, -1)).mean().item())
    assert pred.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="reduction"):
        symmetry_loss(img, reduction="max")


class FakeWorld:
    """A stand-in for SynthWorld: identity k paints its frames with a colour; gender and age follow k."""

    def __init__(self, n_train=4, n_test=2, size=16, frames=4):
        from types import SimpleNamespace as NS

        self._ids = {"train": [NS(id=k) for k in range(n_train)], "test": [NS(id=n_train + k) for k in range(n_test)]}
        self.size, self.frames, self.n = size, frames, n_train + n_test

    def identities(self, split="train"):
        return self._ids[split]

    def clip(self, i, split="train"):
        from types import SimpleNamespace as NS

        people = self._ids[split]
        k = people[i % len(people)].id
        g = torch.Generator().manual_seed(100 * k + i)
        base = torch.tensor([(k % 3) / 2, (k // 3) / 2, (k % 2) * 1.0]).view(1, 3, 1, 1)
        video = (0.8 * base + 0.2 * torch.rand(self.frames, 3, self.size, self.size, generator=g)).clamp(0, 1)
        return NS(video=video, speaker=k, attributes={"gender": "mf"[k % 2], "age": 20.0 + 20 * (k % 3)},
                  source=f"fake:{split}:{i}")


def test_feature_net_shapes_and_perceptual_loss_gradient():
    torch.manual_seed(0)
    net = FeatureNet(n_identities=5, width=4)
    x = torch.rand(2, 3, 32, 32)
    out = net(x)
    assert out["identity"].shape == (2, 5) and out["gender"].shape == (2, 2) and out["age"].shape == (2, 3)
    assert [f.shape[1] for f in net.features(x)] == [4, 8, 16, 32]
    loss_fn = PerceptualLoss(net)
    assert loss_fn.source == "in-project"
    pred = x.clone().requires_grad_(True)
    assert loss_fn(pred, x).item() == 0.0
    pred2 = (x + 0.1 * torch.randn_like(x)).requires_grad_(True)
    target = x.clone().requires_grad_(True)
    loss = loss_fn(pred2, target)
    loss.backward()
    assert loss.item() > 0 and pred2.grad.abs().sum() > 0 and target.grad is None
    assert all(p.grad is None for p in net.parameters())  # the feature net is frozen
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        net(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="unknown FeatureNet layer"):
        net.features(x, ["conv9"])
    assert identity_similarity(net, x, x).allclose(torch.ones(2), atol=1e-5)
    assert [age_group(a) for a in (18, 34.9, 35, 60)] == [0, 0, 1, 2]


def test_feature_net_learns_the_fake_world_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    world = FakeWorld()
    data = frames_and_labels(world, "train", range(8), frames_per_clip=2)
    assert data["x"].shape == (16, 3, 16, 16) and set(data["identity"].tolist()) == {0, 1, 2, 3}
    net = FeatureNet(n_identities=4, width=4)
    curve = train_feature_net(net, data, steps=60, batch_size=16, lr=5e-3)
    assert curve[-1] < curve[0]
    acc = attribute_accuracy(net, data["x"], data)
    assert acc["gender"] > 0.9 and acc["identity"] > 0.5
    net1 = load_feature_net(16, "cpu", steps=5, width=4, n_clips=4, world=world, prefer_vgg=False)
    assert net1.source == "in-project" and net1.info["cached"] is False
    assert 0 <= net1.info["gender_accuracy_heldout"] <= 1
    net2 = load_feature_net(16, "cpu", steps=5, width=4, n_clips=4, world=world, prefer_vgg=False)
    assert net2.info["cached"] is True
    for a, b in zip(net1.parameters(), net2.parameters()):
        assert torch.equal(a, b)


def test_vgg_weights_without_torchvision_fall_back_to_in_project(tmp_path, monkeypatch):
    import importlib.util

    import avfh_core.train.pretrain as P

    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    fake = tmp_path / "vgg19-dcbb9e9d.pth"
    fake.write_bytes(b"not used")
    monkeypatch.setattr(P, "vgg19_weights_in_hub_cache", lambda: fake)
    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed: the VGG19 path would be taken")
    net = load_feature_net(16, "cpu", steps=2, width=4, n_clips=2, world=FakeWorld())
    assert net.source == "in-project"
    assert PerceptualLoss(net).source == "in-project"
