"""The lip reader of VFH-GAN's reference [21]: shapes, the paper's parameter count, the official checkpoint names."""

from types import SimpleNamespace

import pytest
import torch

from avfh_core.models.lipreader import (
    FEATURE_LAYERS,
    PAPER_NUM_PARAMETERS,
    LipReader,
    LipReaderConfig,
    load_official_checkpoint,
)
from avfh_core.train.pretrain import accuracy, mouth_crop_dataset, pretrained_lipreader, train_lipreader


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return LipReader(LipReaderConfig.paper())


def test_paper_parameter_count_matches_published(paper_model):
    n = paper_model.num_parameters()
    assert abs(n - PAPER_NUM_PARAMETERS) / PAPER_NUM_PARAMETERS < 0.005, n
    assert n == 36_361_396  # exact count of the official module (ReLU/swish; the dead tcn.tcn_output excluded)
    prelu = LipReader(LipReaderConfig.paper(activation="prelu")).num_parameters()
    assert prelu - n == 64 + 2 * 2 * (64 + 128 + 256 + 512) + 4 * 3 * 768  # front end, trunk blocks, TCN levels


def test_paper_shapes_per_stage(paper_model):
    x = torch.rand(1, 1, 5, 88, 88)
    with torch.no_grad():
        f = paper_model.eval().features(x, FEATURE_LAYERS)
    shapes = {k: tuple(v.shape) for k, v in f.items()}
    assert shapes == {
        "frontend": (1, 64, 5, 22, 22),
        "layer1": (1, 5, 64, 22, 22),
        "layer2": (1, 5, 128, 11, 11),
        "layer3": (1, 5, 256, 6, 6),
        "layer4": (1, 5, 512, 3, 3),
        "trunk": (1, 5, 512),
        "tcn": (1, 5, 768),
        "logits": (1, 500),
    }


def test_small_config_and_forward_backward():
    cfg = LipReaderConfig.small(width=8, num_classes=7, input_size=24)
    model = LipReader(cfg)
    assert model.config.trunk_channels == (8, 16, 32, 64) and model.config.tcn_channels == 48
    assert model.num_parameters() < 400_000
    x = torch.rand(3, 1, 9, 24, 24)
    logits = model(x)
    assert logits.shape == (3, 7)
    logits.logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # features stop early and agree with the full pass
    model.eval()
    with torch.no_grad():
        full = model.features(x, FEATURE_LAYERS)
        part = model.features(x, ("frontend",))
    assert list(part) == ["frontend"] and torch.allclose(part["frontend"], full["frontend"])
    assert torch.allclose(full["logits"], model(x), atol=1e-6)


def test_normalisation_is_inside_the_model():
    model = LipReader(LipReaderConfig.small(width=4, num_classes=3, input_size=16)).eval()
    x = torch.full((1, 1, 3, 16, 16), 0.421)  # the LRW mean -> zero input to the first convolution
    with torch.no_grad():
        conv_out = model.frontend.conv((x - model.mean) / model.std)
    assert conv_out.abs().max() < 1e-5


def test_temporal_receptive_field_is_local_then_global():
    """Eval-mode TCN: changing one frame changes the TCN output of its neighbours but not the front end far away.

    With the official per-frame normalisation; the per-clip one ("clip") mixes all frames by design."""
    torch.manual_seed(0)
    model = LipReader(LipReaderConfig.small(width=4, num_classes=3, input_size=16, normalisation="lrw")).eval()
    x = torch.rand(1, 1, 12, 16, 16)
    y = x.clone()
    y[:, :, 0] = torch.rand(16, 16)
    with torch.no_grad():
        fx, fy = model.features(x, ("frontend", "tcn")), model.features(y, ("frontend", "tcn"))
    front_diff = (fx["frontend"] - fy["frontend"]).abs().amax(dim=(0, 1, 3, 4))
    assert front_diff[3:].max() == 0 and front_diff[0] > 0  # Conv3d temporal kernel 5: reaches 2 frames
    assert (fx["tcn"] - fy["tcn"]).abs()[0, -1].max() > 0  # dilated TCN: the last frame sees the first


def test_bad_inputs_raise_clear_errors():
    model = LipReader(LipReaderConfig.small(width=4, num_classes=3, input_size=16))
    with pytest.raises(ValueError, match=r"\[B, 1, T, H, W\]"):
        model(torch.rand(2, 5, 16, 16))
    with pytest.raises(ValueError, match="unknown layer"):
        model.features(torch.rand(1, 1, 3, 16, 16), ("conv9",))
    with pytest.raises(ValueError, match="activation"):
        LipReaderConfig(activation="gelu")
    with pytest.raises(ValueError, match="divisible"):
        LipReaderConfig(tcn_channels=100)


# --- the official checkpoint, written here in the official naming (no download) ---------------------------------


def official_state_dict(num_classes=500, prelu=False, dead_classifier=True):
    """A random state dict with the module names and shapes of mpc001's `Lipreading` (ResNet-18 + MS-TCN)."""
    g = torch.Generator().manual_seed(1)
    sd = {}

    def bn(prefix, c):
        sd[prefix + "weight"] = torch.rand(c, generator=g)
        sd[prefix + "bias"] = torch.randn(c, generator=g)
        sd[prefix + "running_mean"] = torch.randn(c, generator=g)
        sd[prefix + "running_var"] = torch.rand(c, generator=g) + 0.5
        sd[prefix + "num_batches_tracked"] = torch.tensor(1000)

    def w(name, *shape):
        sd[name] = torch.randn(*shape, generator=g) * 0.01

    w("frontend3D.0.weight", 64, 1, 5, 7, 7)
    bn("frontend3D.1.", 64)
    if prelu:
        w("frontend3D.2.weight", 64)
    cin = 64
    for layer, ch in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            p = f"trunk.layer{layer}.{block}."
            w(p + "conv1.weight", ch, cin if block == 0 else ch, 3, 3)
            bn(p + "bn1.", ch)
            w(p + "conv2.weight", ch, ch, 3, 3)
            bn(p + "bn2.", ch)
            if prelu:
                w(p + "relu1.weight", ch)
                w(p + "relu2.weight", ch)
            if block == 0 and layer > 1:
                w(p + "downsample.0.weight", ch, cin, 1, 1)
                bn(p + "downsample.1.", ch)
        cin = ch
    cin = 512
    for level in range(4):
        p = f"tcn.mb_ms_tcn.network.{level}."
        for s, c_in in (("0", cin), ("1", 768)):
            for k_idx, k in enumerate((3, 5, 7)):
                q = f"{p}cbcr{s}_{k_idx}."
                w(q + "conv.weight", 256, c_in, k)
                w(q + "conv.bias", 256)
                bn(q + "batchnorm.", 256)
                if prelu:
                    w(q + "non_lin.weight", 256)
        w(p + "downsample.weight", 768, cin, 1)
        w(p + "downsample.bias", 768)
        if prelu:
            w(p + "relu_final.weight", 768)
        cin = 768
    if dead_classifier:
        w("tcn.tcn_output.weight", num_classes, 768)
        w("tcn.tcn_output.bias", num_classes)
    w("tcn_output.weight", num_classes, 768)
    w("tcn_output.bias", num_classes)
    return sd


def test_load_official_checkpoint_maps_every_name(tmp_path):
    sd = official_state_dict()
    path = tmp_path / "lrw_resnet18_mstcn.pth"
    torch.save({"model_state_dict": sd, "epoch_idx": 80}, path)
    model, report = load_official_checkpoint(path)
    assert report["missing"] == [] and report["unexpected"] == []
    assert report["skipped"] == ["tcn.tcn_output.weight", "tcn.tcn_output.bias"]
    assert report["num_classes"] == 500 and report["activation"] == "swish"
    assert not model.training
    own = model.state_dict()
    assert torch.equal(own["frontend.conv.weight"], sd["frontend3D.0.weight"])
    assert torch.equal(own["trunk.layer3.0.downsample.1.running_var"], sd["trunk.layer3.0.downsample.1.running_var"])
    assert torch.equal(own["tcn.levels.2.conv_b.1.bn.weight"], sd["tcn.mb_ms_tcn.network.2.cbcr1_1.batchnorm.weight"])
    assert torch.equal(own["tcn.levels.3.residual.bias"], sd["tcn.mb_ms_tcn.network.3.downsample.bias"])
    assert torch.equal(own["classifier.weight"], sd["tcn_output.weight"])
    # every official tensor except the dead classifier went somewhere: the counts agree
    assert len(own) == len(sd) - 2


def test_load_official_bare_prelu_state_dict_with_module_prefix(tmp_path):
    sd = {"module." + k: v for k, v in official_state_dict(num_classes=40, prelu=True, dead_classifier=False).items()}
    path = tmp_path / "bare.pt"
    torch.save(sd, path)
    model, report = load_official_checkpoint(path)
    assert report["activation"] == "prelu" and report["num_classes"] == 40 and report["skipped"] == []
    assert torch.equal(model.state_dict()["trunk.layer1.1.act2.weight"], sd["module.trunk.layer1.1.relu2.weight"])
    assert model(torch.rand(1, 1, 4, 88, 88)).shape == (1, 40)


def test_load_official_reports_missing_and_unexpected(tmp_path):
    sd = official_state_dict()
    del sd["tcn.mb_ms_tcn.network.1.downsample.weight"]
    sd["tcn.extra_head.weight"] = torch.zeros(3)
    path = tmp_path / "odd.pth"
    torch.save({"model_state_dict": sd}, path)
    with pytest.raises(ValueError, match=r"odd\.pth.*tcn\.levels\.1\.residual\.weight.*tcn\.extra_head\.weight"):
        load_official_checkpoint(path)
    _, report = load_official_checkpoint(path, strict=False)
    assert report["missing"] == ["tcn.levels.1.residual.weight"]
    assert report["unexpected"] == ["tcn.extra_head.weight"]


def test_load_official_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_official_checkpoint(tmp_path / "nowhere.pth")
    sd = official_state_dict()
    sd["trunk.layer1.0.conv1.weight"] = torch.zeros(64, 64, 5, 5)
    torch.save(sd, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match=r"shape mismatch for trunk\.layer1\.0\.conv1\.weight"):
        load_official_checkpoint(tmp_path / "shape.pth")
    torch.save({"model_state_dict": {"foo": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="tcn_output.weight"):
        load_official_checkpoint(tmp_path / "other.pth")


# --- in-project pretraining (a stand-in world here; the synthetic world is exercised by the notebook) ------------


class FakeWorld:
    """Clips whose 'mouth' opens and closes with a word-specific rhythm; identities differ by background."""

    def __init__(self, vocab_size=3, frames=8, size=32):
        self.config = SimpleNamespace(vocab_size=vocab_size, num_frames=frames, image_size=size, seed=0)
        self.vocab = [f"w{k}" for k in range(vocab_size)]

    def clip(self, i, split="train"):
        from avfh_core.data.sample import AVSample

        g = torch.Generator().manual_seed(i * 2 + (split == "test"))
        t, s = self.config.num_frames, self.config.image_size
        word = i % len(self.vocab)
        video = torch.rand(1, 3, 1, 1, generator=g).expand(t, 3, s, s).clone() * 0.5  # identity: a background colour
        opening = torch.tensor([float((f // (word + 1)) % 2 == 0) for f in range(t)])
        video[:, :, s // 2 - 4 : s // 2 + 4, s // 4 : 3 * s // 4] = opening[:, None, None, None]
        video = (video + 0.05 * torch.randn(video.shape, generator=g)).clamp(0, 1)
        landmarks = torch.full((t, 68, 2), s / 2)
        return AVSample(video, 25.0, torch.zeros(640), 16000, landmarks, text=self.vocab[word], source=f"fake:{split}:{i}")


def fake_crops(video, landmarks, size, gray=True):
    s = video.shape[-1]
    gray_video = video.mean(1, keepdim=True)[:, :, s // 4 : 3 * s // 4, s // 4 : 3 * s // 4]
    return torch.nn.functional.interpolate(gray_video, size=(size, size), mode="bilinear", align_corners=False)


def test_mouth_crop_dataset_and_training_beat_chance():
    world = FakeWorld()
    x, y = mouth_crop_dataset(world, "train", 12, 16, crop_fn=fake_crops)
    assert x.shape == (12, 1, 8, 16, 16) and x.dtype == torch.uint8 and y.tolist() == [0, 1, 2] * 4
    xt, yt = mouth_crop_dataset(world, "test", 9, 16, crop_fn=fake_crops)
    torch.manual_seed(0)
    model = LipReader(LipReaderConfig.small(width=4, num_classes=3, input_size=16))
    info = train_lipreader(model, x, y, steps=40, batch_size=6, lr=3e-3)
    assert len(info["loss_curve"]) == 40 and info["loss_curve"][-1] < info["loss_curve"][0]
    assert accuracy(model, xt, yt) > 1 / 3 + 0.3  # held-out 'identities', well above chance
    with pytest.raises(ValueError, match="n_clips"):
        mouth_crop_dataset(world, "train", 0, 16, crop_fn=fake_crops)


def test_pretrained_lipreader_is_cached_by_config(tmp_path, monkeypatch):
    from avfh_core.config import setup
    from avfh_core.train import pretrain as tl

    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    monkeypatch.setattr(tl.synth, "world", lambda cfg, **kw: FakeWorld(frames=int(cfg.clip_frames)))
    cfg = setup("smoke", device="cpu", vocab_size=3, lipreader_steps=6, lipreader_width=4, mouth_size=16,
                clip_frames=8, n_train_clips=6, n_eval_clips=3)
    m1, info1 = pretrained_lipreader(cfg, crop_fn=fake_crops)
    m2, info2 = pretrained_lipreader(cfg, crop_fn=fake_crops)
    assert not info1["cached"] and info2["cached"]
    assert info2["chance"] == pytest.approx(1 / 3) and 0 <= info2["test_accuracy"] <= 1
    assert {"train_accuracy", "loss_curve", "n_train_clips"} <= set(info2)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert not m2.training and m2.config.num_classes == 3
    _, info3 = pretrained_lipreader(cfg, steps=7, crop_fn=fake_crops)  # a changed schedule retrains
    assert not info3["cached"] and len(info3["loss_curve"]) == 7
