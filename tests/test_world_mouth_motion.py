"""The articulation knob of the synthetic world (data.synth mouth_motion): a still mouth with everything else kept,
and no new cache key for the worlds that do not set it."""

import pytest
import torch

from avfh_core.data import synth
from avfh_core.data.cache import config_key
from avfh_core.data.crops import crop_boxes, mouth_box

SMALL = dict(image_size=64, num_frames=12, vocab_size=20, n_train_identities=4, n_test_identities=2)


def test_the_knob_at_its_default_keeps_the_v5_key():
    cfg = synth.SynthConfig(**SMALL)
    d = cfg.as_dict()
    assert "mouth_motion" not in d  # a v5 world's key content is what it was before the knob existed
    assert synth.SynthWorld(cfg).key == config_key(d, synth.GENERATOR_VERSION)
    still = synth.SynthConfig(**SMALL, mouth_motion=0.0)
    assert still.as_dict()["mouth_motion"] == 0.0 and synth.SynthWorld(still).key != synth.SynthWorld(cfg).key


@pytest.mark.parametrize("bad", [-0.1, 4.5, True, "0"])
def test_bad_mouth_motion_is_refused(bad):
    with pytest.raises(ValueError, match="mouth_motion"):
        synth.SynthWorld(synth.SynthConfig(**SMALL, mouth_motion=bad))


def test_a_still_mouth_keeps_the_speech_head_and_light():
    head_still = dict(SMALL, rotation_motion=0.0, translation_motion=0.0)  # so that only the mouth can move
    moving = synth.SynthWorld(synth.SynthConfig(**head_still)).clip(1, "train")
    still = synth.SynthWorld(synth.SynthConfig(**head_still, mouth_motion=0.0)).clip(1, "train")
    assert torch.equal(moving.audio, still.audio) and torch.equal(moving.pose, still.pose)
    for k in ("jaw", "spread", "closed"):
        assert float(moving.extras[k].abs().max()) > 0 and float(still.extras[k].abs().max()) == 0
    # the mouth moves in the moving clip's crops and not in the still one's
    box = mouth_box(still.landmarks)  # the still mouth's box: it does not follow the jaw
    var = [float(crop_boxes(v.video, box.float(), 16).var(0).mean()) for v in (moving, still)]
    assert var[1] < 0.05 * var[0], var
    # away from the mouth and jaw (the upper half of the frame) the two renders are the same pixels
    assert torch.equal(moving.video[:, :, :24], still.video[:, :, :24])


def test_amplified_motion_stays_in_range():
    amp = synth.SynthWorld(synth.SynthConfig(**SMALL, mouth_motion=3.0)).clip(0, "train")
    base = synth.SynthWorld(synth.SynthConfig(**SMALL)).clip(0, "train")
    assert float(amp.extras["jaw"].max()) <= 1.0 and float(amp.extras["spread"].abs().max()) <= 1.0
    assert float(amp.extras["jaw"].max()) > float(base.extras["jaw"].max())
