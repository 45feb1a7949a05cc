import pytest
import torch

from avfh_core import config


def test_presets_share_the_same_knobs():
    keys = {name: set(values) for name, values in config.PRESETS.items()}
    assert set(config.PRESET_NAMES) == set(config.PRESETS)
    first = keys["smoke"]
    for name, k in keys.items():
        assert k == first, f"preset {name} differs: {sorted(k ^ first)}"


def test_setup_resolves_overrides_and_none_means_preset():
    cfg = config.setup("smoke", seed=3, steps=None, batch_size=7)
    assert cfg.steps == config.PRESETS["smoke"]["steps"]
    assert cfg.batch_size == 7
    assert cfg.seed == 3 and cfg.device.type in ("cpu", "cuda")
    d = cfg.as_dict()
    assert d["preset"] == "smoke" and d["batch_size"] == 7


def test_unknown_preset_and_knob_are_named():
    with pytest.raises(ValueError, match="'laptop'"):
        config.setup("laptop")
    with pytest.raises(ValueError, match="stepz"):
        config.setup("smoke", stepz=1)
    with pytest.raises(AttributeError, match="nope"):
        _ = config.setup("smoke").nope


def test_seeding_is_deterministic():
    config.setup("smoke", seed=11)
    a = torch.randn(4)
    config.setup("smoke", seed=11)
    assert torch.equal(a, torch.randn(4))
    assert torch.are_deterministic_algorithms_enabled()


def test_device_and_autocast_on_cpu():
    cfg = config.setup("smoke", device="cpu")
    assert cfg.amp_dtype is None
    with cfg.autocast():
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            config.resolve_device("cuda")


def test_avfh_home_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    assert config.avfh_home() == tmp_path
