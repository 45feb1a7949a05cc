"""The lip reader's preprocessing: one road from video to input, shared by pretraining and the lip-reading loss,
and the per-clip normalisation that removes the speaker's appearance."""

import pytest
import torch

from avfh_core.data import synth
from avfh_core.losses.lipreading import LipReadingLoss
from avfh_core.models.lipreader import LipReader, LipReaderConfig
from avfh_core.train import pretrain


def small(normalisation="clip", size=16, **kw):
    torch.manual_seed(0)
    return LipReader(LipReaderConfig.small(width=4, num_classes=3, input_size=size, normalisation=normalisation, **kw))


def test_clip_normalisation_ignores_appearance_and_keeps_motion():
    torch.manual_seed(1)
    motion = torch.rand(2, 1, 7, 16, 16)
    face_a, face_b = torch.rand(1, 1, 1, 16, 16), torch.rand(1, 1, 1, 16, 16)  # two people's static appearance
    a, b = 0.3 * motion + face_a, 0.6 * motion + face_b  # other person, other contrast: the same motion
    model = small().eval()
    torch.testing.assert_close(model.normalise(a), model.normalise(b), atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        torch.testing.assert_close(model(a), model(b), atol=1e-4, rtol=1e-4)
        assert not torch.allclose(model(a[:1]), model(a[1:]))  # another motion reads differently
    x = model.normalise(a)
    assert x.mean(2).abs().max() < 1e-5 and x.flatten(1).std(1).sub(1).abs().max() < 1e-4
    lrw = small("lrw").eval()  # the official normalisation keeps the appearance
    assert not torch.allclose(lrw.normalise(a), lrw.normalise(b), atol=1e-2)
    torch.testing.assert_close(lrw.normalise(a), (a - 0.421) / 0.165)


def test_paper_model_keeps_official_normalisation_and_config_is_checked():
    assert LipReaderConfig.paper().normalisation == "lrw" and LipReaderConfig.small().normalisation == "clip"
    with pytest.raises(ValueError, match="normalisation"):
        LipReaderConfig.small(normalisation="frame")
    with pytest.raises(ValueError, match="crop_scale"):
        LipReaderConfig.small(crop_scale=0.0)


def test_preprocess_crops_and_checks_its_input():
    world = synth.world(None, image_size=32, num_frames=5, vocab_size=3)
    s = world.clip(0, "train")
    model = small(size=12, crop_scale=0.8)
    from avfh_core.data.crops import mouth_crops

    crops = model.preprocess(s.video, s.landmarks)
    assert crops.shape == (1, 1, 5, 12, 12)
    torch.testing.assert_close(crops[0].transpose(0, 1), mouth_crops(s.video, s.landmarks, 12, scale=0.8))
    with pytest.raises(ValueError, match="frames"):
        model.preprocess(s.video[:, :1], s.landmarks)
    with pytest.raises(ValueError, match="landmarks"):
        model.preprocess(s.video, s.landmarks[:3])


def test_loss_and_pretraining_feed_the_lip_reader_the_same_input(tmp_path, monkeypatch):
    """The crops the lip reader is pretrained on and the crops the loss feeds it come from one method."""
    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    world = synth.world(None, image_size=32, num_frames=5, vocab_size=3)
    model = small(size=12, crop_scale=0.8)
    calls = []
    original = LipReader.preprocess

    def spy(self, frames, landmarks):
        calls.append(tuple(frames.shape))
        return original(self, frames, landmarks)

    monkeypatch.setattr(LipReader, "preprocess", spy)
    train_crops, _ = pretrain.mouth_crop_dataset(world, "train", 2, model)
    assert len(calls) == 2 and train_crops.shape == (2, 1, 5, 12, 12)
    s = world.dataset("train", 2)[1]
    loss = LipReadingLoss(model)
    loss_crops = loss.mouth_sequence(s.video[None], s.landmarks[None])
    assert len(calls) == 3
    # identical up to the uint8 storage of the pretraining crops
    assert (loss_crops[0] - train_crops[1].float() / 255).abs().max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ValueError, match="trained on"):
        LipReadingLoss(model, crop_size=16)
