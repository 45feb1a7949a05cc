"""models/talkingface.py: shapes, bad input, the start at the condition frame, seeded builds."""

import pytest
import torch

from avfh_core.models.talkingface import (
    CopyCondition,
    FrameDiscriminator,
    PairDiscriminator,
    SpeechEncoder,
    TalkingFaceConfig,
    TalkingFaceGenerator,
    parameter_count,
)
from avfh_core.nn.init import build

TINY = TalkingFaceConfig.sized(16, 4)


def test_shapes():
    g = TalkingFaceGenerator(TINY)
    cond, audio = torch.rand(2, 3, 16, 16), torch.randn(2, 320 * 3)
    video = g(cond, audio)
    assert video.shape == (2, 3, 3, 16, 16)
    assert FrameDiscriminator(TINY)(video[:, 0], cond).shape == (2,)
    assert PairDiscriminator(TINY)(video, cond, audio).shape == (2, 3)
    assert SpeechEncoder(TINY)(audio).shape == (2, 3, TINY.speech_hidden)
    assert CopyCondition()(cond, audio).shape == (2, 3, 3, 16, 16)


def test_speech_encoder_is_one_vector_per_frame_and_online_with_bounded_lookahead():
    """125 conv steps per second, every 5th kept: one feature per 320 samples; a change at the end of the waveform
    leaves the first frames' features unchanged (unidirectional LSTM, finite context)."""
    enc = SpeechEncoder(TINY).eval()
    a = torch.randn(1, 320 * 12)
    b = a.clone()
    b[:, -320:] += 1.0
    with torch.no_grad():
        fa, fb = enc(a), enc(b)
    assert fa.shape == (1, 12, TINY.speech_hidden)
    # standardisation is per clip, so the whole clip's scale moves slightly: compare with speech_norm off
    enc2 = SpeechEncoder(TalkingFaceConfig.sized(16, 4, speech_norm=False)).eval()
    with torch.no_grad():
        ga, gb = enc2(a), enc2(b)
    assert torch.equal(ga[:, :5], gb[:, :5])
    assert not torch.equal(ga[:, -1], gb[:, -1])
    assert not torch.equal(fa[:, -1], fb[:, -1])


def test_residual_output_starts_exactly_at_the_condition_frame():
    g = TalkingFaceGenerator(TINY)
    cond = torch.rand(3, 3, 16, 16)
    video = g(cond, torch.randn(3, 320 * 4))
    assert torch.equal(video, cond[:, None].expand_as(video))
    assert torch.equal(g.head.weight, torch.zeros_like(g.head.weight))
    tanh = TalkingFaceGenerator(TalkingFaceConfig.sized(16, 4, output="tanh"))
    assert not torch.equal(tanh(cond, torch.randn(3, 320 * 4)), cond[:, None].expand(3, 4, 3, 16, 16))


@pytest.mark.parametrize("changes, match", [
    (dict(image_size=48), "image_size"), (dict(enc_channels=(4, 8, 8)), "enc_channels"),
    (dict(speech_strides=(4, 4, 2, 2, 2)), "speech_strides"), (dict(output="sigmoid"), "output"),
    (dict(convlstm_layer=5), "convlstm_layer"), (dict(context=-1), "context")])
def test_bad_config(changes, match):
    with pytest.raises(ValueError, match=match):
        TalkingFaceConfig(**{**TINY.as_dict(), **changes})


def test_bad_inputs_name_the_tensor():
    g = TalkingFaceGenerator(TINY)
    cond = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="audio has 500 samples"):
        g(cond, torch.randn(2, 500))
    with pytest.raises(ValueError, match="condition must be"):
        g(torch.rand(2, 3, 32, 32), torch.randn(2, 320))
    with pytest.raises(ValueError, match="NaN"):
        g(cond, torch.full((2, 320), float("nan")))
    with pytest.raises(ValueError, match="noise must be"):
        g(cond, torch.randn(2, 320), noise=torch.randn(2, 1, 3))
    with pytest.raises(ValueError, match="do not match"):
        PairDiscriminator(TINY)(torch.rand(2, 3, 3, 16, 16), cond, torch.randn(2, 640))


def test_build_is_deterministic_per_seed():
    a = build(0, "generator", lambda: TalkingFaceGenerator(TINY))
    b = build(0, "generator", lambda: TalkingFaceGenerator(TINY))
    c = build(1, "generator", lambda: TalkingFaceGenerator(TINY))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["fc.weight"], sc["fc.weight"])


def test_paper_sizes_follow_the_paper_layout():
    p = TalkingFaceConfig.paper()
    assert p.image_size == 128 and p.enc_channels == (64, 128, 256, 512, 512) and p.id_dim == 512
    assert p.speech_channels == (64, 128, 256, 512, 16) and (2 * p.context + 1) * p.speech_channels[-1] == 560
    assert p.fd_channels == (64, 64, 128, 256, 512) and p.fd_fc == 2048
    assert parameter_count(FrameDiscriminator(p).fc[0]) == 8 * 8 * 512 * 2048 + 2048  # 32768 -> 2048 (spec 2.5)
