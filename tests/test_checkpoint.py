import pytest
import torch

from avfh_core.train import checkpoint as ck


def test_atomic_roundtrip_and_weights_only(tmp_path):
    m = torch.nn.Linear(3, 2)
    p = ck.save_checkpoint({"model": m.state_dict(), "step": 7}, tmp_path / "a" / "m.pt")
    state = ck.load_checkpoint(p)
    assert state["step"] == 7
    assert torch.equal(state["model"]["weight"], m.weight.detach())
    assert not list(p.parent.glob(".*tmp*"))


def test_bad_checkpoint_names_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        ck.load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        ck.load_checkpoint(tmp_path / "missing.pt")


def test_load_or_train_caches_by_config(tmp_path, monkeypatch):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    calls = []

    def train(model):
        calls.append(1)
        with torch.no_grad():
            model.weight.fill_(0.5)
        return {"acc": 1.0}

    m1, info1 = ck.load_or_train("toy", {"w": 1}, torch.nn.Linear(2, 2), train)
    m2, info2 = ck.load_or_train("toy", {"w": 1}, torch.nn.Linear(2, 2), train)
    assert calls == [1] and not info1["cached"] and info2["cached"] and info2["acc"] == 1.0
    assert torch.all(m2.weight == 0.5)
    ck.load_or_train("toy", {"w": 2}, torch.nn.Linear(2, 2), train)  # a changed config retrains
    assert calls == [1, 1]


def test_source_fingerprint_follows_the_code(tmp_path, monkeypatch):
    a = ck.source_fingerprint()
    assert a == ck.source_fingerprint() and len(a) == 12
    assert ck.source_fingerprint(("data",)) != ck.source_fingerprint(("train",))
