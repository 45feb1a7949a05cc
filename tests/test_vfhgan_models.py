"""VFH-GAN generator/discriminator and the baselines: shapes, switches, gradients, clear errors."""

import pytest
import torch

from avfh_core.models.baselines import Bicubic, SRResNet, bicubic_upsample
from avfh_core.models.vfhgan import PatchDiscriminator, VFHGANConfig, VFHGenerator
from avfh_core.nn import count_parameters
from avfh_core.train.vfhgan import BACKBONE_ROWS, TABLE1_ROWS


def inputs(b=2, j=1, h=8, steps=16):
    torch.manual_seed(0)
    return torch.rand(b, 2 * j + 1, 3, h, h), torch.randn(b, 1, 80, (2 * j + 1) * steps)


def away_from_skip(g):
    """The generator with a non-zero output head (as after training): an untrained one outputs its bicubic skip."""
    torch.nn.init.normal_(g.tail.weight, std=0.1)
    return g


@pytest.mark.parametrize("row", [*TABLE1_ROWS.values(), *BACKBONE_ROWS.values()])
def test_generator_shapes_for_every_ablation_row(row):
    g = VFHGenerator(VFHGANConfig(width=8, n_stages=1, window=1, **row))
    lr, mel = inputs()
    out = g(lr, mel)
    assert out.shape == (2, 3, 32, 32)
    out.mean().backward()
    assert all(p.grad is not None for p in g.parameters())


def test_eval_output_in_unit_range():
    g = VFHGenerator(width=8, n_stages=1, window=1).eval()
    lr, mel = inputs()
    out = g(lr, mel)
    assert 0 <= out.min() and out.max() <= 1


def test_audio_branch_changes_the_output_only_when_used():
    lr, mel = inputs()
    torch.manual_seed(1)
    g = away_from_skip(VFHGenerator(width=8, n_stages=1, window=1)).eval()
    assert not torch.allclose(g(lr, mel), g(lr, mel.flip(-1)))
    torch.testing.assert_close(g(lr, mel), g(lr, 3.0 * mel - 8.0))  # the log-mel is standardised per window
    g0 = away_from_skip(VFHGenerator(width=8, n_stages=1, window=1, use_audio=False, use_attention=False)).eval()
    torch.testing.assert_close(g0(lr, mel), g0(lr, None))


def test_neighbours_influence_the_output():
    lr, mel = inputs()
    g = away_from_skip(VFHGenerator(width=8, n_stages=1, window=1)).eval()
    lr2 = lr.clone()
    lr2[:, 0] = 0.0  # change a neighbour, not the centre frame
    assert not torch.allclose(g(lr, mel), g(lr2, mel))
    g_no = away_from_skip(VFHGenerator(width=8, n_stages=1, window=1, **TABLE1_ROWS["no_audio"])).eval()
    torch.testing.assert_close(g_no(lr, mel), g_no(lr2, mel))


def test_switches_change_parameter_counts():
    counts = {k: count_parameters(VFHGenerator(width=8, n_stages=1, window=1, **r)) for k, r in TABLE1_ROWS.items()}
    assert counts["no_audio"] < counts["audio"] < counts["audio_attention"]


def test_generator_errors_name_the_problem():
    g = VFHGenerator(width=8, n_stages=1, window=2)
    lr, mel = inputs(j=1)
    with pytest.raises(ValueError, match="2j\\+1=5"):
        g(lr, mel)
    g = VFHGenerator(width=8, n_stages=1, window=1)
    with pytest.raises(ValueError, match="mel is required"):
        g(lr, None)
    with pytest.raises(ValueError, match="backbone"):
        VFHGANConfig(backbone="resnet")
    with pytest.raises(ValueError, match="use_attention needs CMFE-B"):
        VFHGANConfig(use_audio=False, use_neighbours=False, use_attention=True)


def test_patch_discriminator_shape():
    d = PatchDiscriminator(width=8, n_down=3)
    assert d(torch.rand(2, 3, 32, 32)).shape == (2, 1, 4, 4)
    with pytest.raises(ValueError, match="\\[B,3,H,W\\]"):
        d(torch.rand(2, 1, 32, 32))


def test_baselines():
    lr, _ = inputs()
    up = bicubic_upsample(lr, 4)
    assert up.shape == (2, 3, 32, 32)
    torch.testing.assert_close(Bicubic(4)(lr), up)
    net = SRResNet(width=8, n_blocks=1).eval()
    assert net(lr).shape == (2, 3, 32, 32)
    # the zero-initialised tail: the untrained output equals bicubic, through the skip
    torch.testing.assert_close(net(lr), up)
    assert not torch.allclose(away_from_skip(net)(lr), up)


def test_audio_gain_starts_as_the_broadcast_network_and_learns_per_position():
    """audio_gain=n: the same initial weights and output as the broadcast generator (the gain starts at 1 and draws
    no random numbers), a [width, n, n] parameter that gets gradient, and clear errors for a wrong LR size."""
    lr, mel = inputs(h=8)
    torch.manual_seed(3)
    plain = away_from_skip(VFHGenerator(width=8, n_stages=1, window=1))
    torch.manual_seed(3)
    gained = away_from_skip(VFHGenerator(width=8, n_stages=1, window=1, audio_gain=8))
    assert gained.audio_gain.shape == (8, 8, 8) and plain.audio_gain is None
    assert count_parameters(gained) == count_parameters(plain) + 8 * 8 * 8
    torch.testing.assert_close(gained(lr, mel), plain(lr, mel))
    gained(lr, mel).mean().backward()
    assert gained.audio_gain.grad is not None and gained.audio_gain.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="LR frames must be 8x8, got \\(16, 16\\)"):
        gained(inputs(h=16)[0], mel)
    with pytest.raises(ValueError, match="audio_gain needs the audio branch"):
        VFHGANConfig(audio_gain=8, use_audio=False)
    with pytest.raises(ValueError, match="audio_gain must be 0"):
        VFHGANConfig(audio_gain=-1)
