"""VFH-GAN eq. 5, the lip-reading loss: value, frozen lip reader, and the generator's gradient (the detach pitfall)."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from avfh_core.losses.lipreading import LipReadingLoss
from avfh_core.models.lipreader import LipReader, LipReaderConfig

SIZE = 16


@pytest.fixture()
def lipreader():
    torch.manual_seed(0)
    return LipReader(LipReaderConfig.small(width=4, num_classes=5, input_size=SIZE))


class ToyGenerator(nn.Module):
    """x4 upsampler of grayscale mouth sequences [B, 1, K, s/4, s/4] -> [B, 1, K, s, s] (per frame)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, lr):
        b, _, k, h, w = lr.shape
        frames = lr.transpose(1, 2).reshape(b * k, 1, h, w)
        up = F.interpolate(frames, scale_factor=4, mode="bilinear", align_corners=False)
        out = (up + self.conv(up)).clamp(0, 1)
        return out.view(b, k, 1, 4 * h, 4 * w).transpose(1, 2)


def _grad_norm_from_lip_loss(lipreader, detach_sr):
    torch.manual_seed(1)
    hr = torch.rand(2, 1, 5, SIZE, SIZE)
    lr = F.avg_pool3d(hr, (1, 4, 4))
    gen = ToyGenerator()
    loss_fn = LipReadingLoss(lipreader, detach_sr=detach_sr)
    sr = gen(lr)
    loss, per_layer = loss_fn.feature_loss(sr, hr)
    # The lip term added to an unrelated zero term, as it is in a total loss: backward always runs.
    (loss + 0.0 * sr.sum()).backward()
    norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in gen.parameters()))
    return loss.item(), norm.item(), loss.requires_grad


def test_generator_receives_gradient_from_lip_loss_alone(lipreader):
    value, norm, requires_grad = _grad_norm_from_lip_loss(lipreader, detach_sr=False)
    assert value > 0 and requires_grad
    assert norm > 1e-6  # the generator is trained by this loss
    assert all(p.grad is None for p in lipreader.parameters())  # the lip reader itself stays frozen


def test_detach_sr_reproduces_the_released_code_pitfall(lipreader):
    value_detached, norm_detached, requires_grad = _grad_norm_from_lip_loss(lipreader, detach_sr=True)
    value, _, _ = _grad_norm_from_lip_loss(lipreader, detach_sr=False)
    assert value_detached == pytest.approx(value)  # the same number is logged ...
    assert not requires_grad and norm_detached == 0.0  # ... but it trains nothing


def test_zero_for_identical_sequences_and_grows_with_corruption(lipreader):
    loss_fn = LipReadingLoss(lipreader, layers=("frontend", "layer2", "trunk", "tcn", "logits"))
    torch.manual_seed(0)
    hr = torch.rand(2, 1, 5, SIZE, SIZE)
    zero, per_layer = loss_fn.feature_loss(hr, hr)
    assert float(zero) == 0.0 and set(per_layer) == {"frontend", "layer2", "trunk", "tcn", "logits"}
    values = []
    for sigma in (0.02, 0.1, 0.3):
        noisy = (hr + sigma * torch.randn(hr.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
        values.append(float(loss_fn.feature_loss(noisy, hr)[0]))
    assert values[0] < values[1] < values[2]
    total, per_layer = loss_fn.feature_loss(noisy, hr)
    assert torch.isclose(total, torch.stack(list(per_layer.values())).mean())


def test_lip_reader_stays_frozen_in_eval_mode(lipreader):
    loss_fn = LipReadingLoss(lipreader)
    owner = nn.ModuleDict({"gen": ToyGenerator(), "lip": loss_fn})
    owner.train()
    assert owner["gen"].training and not loss_fn.lipreader.training
    assert not any(p.requires_grad for p in loss_fn.lipreader.parameters())
    bn = loss_fn.lipreader.frontend.bn
    before = bn.running_mean.clone()
    loss_fn.feature_loss(torch.rand(1, 1, 3, SIZE, SIZE), torch.rand(1, 1, 3, SIZE, SIZE))
    assert torch.equal(bn.running_mean, before)  # BatchNorm statistics untouched


def test_bad_arguments(lipreader):
    with pytest.raises(ValueError, match="unknown layers"):
        LipReadingLoss(lipreader, layers=("conv9",))
    with pytest.raises(TypeError, match="LipReader"):
        LipReadingLoss(nn.Linear(2, 2))
    loss_fn = LipReadingLoss(lipreader)
    with pytest.raises(ValueError, match="must match"):
        loss_fn.feature_loss(torch.rand(1, 1, 3, SIZE, SIZE), torch.rand(1, 1, 4, SIZE, SIZE))
    with pytest.raises(ValueError, match="same shape"):
        loss_fn(torch.rand(1, 5, 3, 32, 32), torch.rand(1, 5, 3, 32, 31), torch.rand(1, 5, 68, 2))


def test_full_path_from_frames_and_landmarks(lipreader):
    """Frames [B, K, 3, H, W] + landmarks -> mouth crops (data.crops, differentiable) -> eq. 5 -> generator grad."""
    torch.manual_seed(2)
    b, k, h = 2, 5, 32
    hr = torch.rand(b, k, 3, h, h)
    lm = torch.zeros(b, k, 68, 2)
    lm[..., 0] = torch.linspace(4, 28, 68)  # a plausible spread: face width 24 px
    lm[..., 1] = 20.0
    lm[:, :, 48:68, 0] = torch.linspace(12, 20, 20)
    conv = nn.Conv2d(3, 3, 3, padding=1)
    lr = F.avg_pool2d(hr.flatten(0, 1), 4)
    sr = (F.interpolate(lr, scale_factor=4, mode="bilinear") + conv(F.interpolate(lr, scale_factor=4))).view_as(hr)
    loss_fn = LipReadingLoss(lipreader)
    mouth = loss_fn.mouth_sequence(hr, lm)
    assert mouth.shape == (b, 1, k, SIZE, SIZE)
    loss = loss_fn(sr, hr, lm)
    loss.backward()
    assert loss.item() > 0 and conv.weight.grad.abs().sum() > 0
    assert loss_fn(hr, hr, lm).item() == 0.0
    with pytest.raises(ValueError, match="landmarks"):
        loss_fn(sr, hr, lm[:, :3])
