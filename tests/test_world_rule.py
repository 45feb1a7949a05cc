"""One builder of the synthetic world from a configuration (data.synth.world), one seed rule."""

import pytest

from avfh_core.config import setup
from avfh_core.data import synth


def test_world_seed_does_not_follow_the_run_seed():
    w0, w1 = synth.world(setup("smoke", seed=0, device="cpu")), synth.world(setup("smoke", seed=1, device="cpu"))
    assert w0.key == w1.key and w0.config.seed == synth.WORLD_SEED
    assert [i.id for i in w0.identities("test")] == [i.id for i in w1.identities("test")]
    cfg = setup("smoke", device="cpu")
    assert (w0.config.image_size, w0.config.num_frames, w0.config.vocab_size) == (
        cfg.hr_size, cfg.clip_frames, cfg.vocab_size)
    assert synth.world(cfg, seed=3).config.seed == 3  # only when asked
    assert synth.world(cfg, voice_coupling=0.0).config.voice_coupling == 0.0
    with pytest.raises(ValueError, match="unknown SynthConfig field"):
        synth.world(cfg, coupling=0.0)


def test_lip_reader_and_feature_net_worlds_do_not_follow_the_run_seed(monkeypatch):
    """With seed=1 the lip reader was once pretrained on a world of seed 1 while the generator trained on seed 0.

    The feature net learns the generator's people; the lip reader its own LRW-like world (`lipreader_world`:
    near-frontal, other people), the same for every run seed."""
    from avfh_core.train import pretrain as tl
    from avfh_core.train import vfhgan as V

    keys = {}

    def fake_load_or_train(name, config, model, train_fn, retrain=False):
        keys[name] = config["world"]["key"] if isinstance(config["world"], dict) else config["world"]
        return model, {}

    monkeypatch.setattr(tl, "load_or_train", fake_load_or_train)
    cfg = setup("smoke", seed=1, device="cpu")
    tl.pretrained_lipreader(cfg)
    tl.load_feature_net(cfg, prefer_vgg=False)
    V._DATA.clear()
    built = []
    real_world = synth.world
    monkeypatch.setattr(synth, "world", lambda *a, **k: built.append(real_world(*a, **k)) or built[-1])
    V.window_data(cfg, "train")
    V._DATA.clear()
    assert keys["featurenet"] == built[0].key == synth.world(setup("smoke", device="cpu")).key
    assert keys["lipreader"] == tl.lipreader_world(setup("smoke", seed=0, device="cpu")).key != built[0].key
