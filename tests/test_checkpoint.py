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


def _tree(root, files):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_a_papers_fingerprint_ignores_the_other_papers_own_files(tmp_path):
    _tree(tmp_path, {
        "nn/blocks.py": "X = 1\n",
        "models/baselines.py": "from avfh_core.models.vfhgan import start\n",  # shared code using a paper file
        "models/vfhgan.py": "start = 0\n",
        "train/vfhgan.py": "from avfh_core.models.vfhgan import start\n",
        "models/secnet.py": "import avfh_core.nn.blocks\n",
        "train/secnet.py": "def f():\n    from avfh_core.models import secnet\n",
        "train/talkingface.py": "T = 1\n",
        "data/real_talkingface.py": "R = 1\n",
    })
    def fp(paper):
        return ck.source_fingerprint(roots=(f"avfh_core.train.{paper}",), root=tmp_path)
    before = {p: fp(p) for p in ("vfhgan", "secnet", "talkingface")}
    (tmp_path / "train/secnet.py").write_text("def f():\n    from avfh_core.models import secnet  # changed\n")
    assert fp("secnet") != before["secnet"]
    assert fp("vfhgan") == before["vfhgan"] and fp("talkingface") == before["talkingface"]
    (tmp_path / "models/secnet.py").write_text("import avfh_core.nn.blocks  # changed\n")  # reached inside a function
    assert fp("secnet") != before["secnet"] and fp("vfhgan") == before["vfhgan"]
    (tmp_path / "data/real_talkingface.py").write_text("R = 2\n")  # the paper's own file, imported by nothing
    assert fp("talkingface") != before["talkingface"] and fp("vfhgan") == before["vfhgan"]
    secnet_now = fp("secnet")
    (tmp_path / "models/vfhgan.py").write_text("start = 1\n")  # a paper file that shared code imports: everyone
    assert fp("secnet") != secnet_now and fp("vfhgan") != before["vfhgan"]
    vfh_now = fp("vfhgan")
    (tmp_path / "nn/blocks.py").write_text("X = 2\n")  # a shared file: everyone
    assert fp("vfhgan") != vfh_now
    # without roots: every file counts, as before
    everything = ck.source_fingerprint(root=tmp_path)
    (tmp_path / "train/talkingface.py").write_text("T = 2\n")
    assert ck.source_fingerprint(root=tmp_path) != everything


def test_a_cached_network_is_keyed_on_the_module_that_trains_it(tmp_path, monkeypatch):
    import functools

    from avfh_core.train import talkingface_sync
    monkeypatch.setenv("AVFH_HOME", str(tmp_path))
    mods = ck._defining_modules(functools.partial(talkingface_sync.syncnet), torch.nn.Linear(1, 1))
    assert mods == ("avfh_core.train.talkingface_sync", "torch.nn.modules.linear")
    # a paper's network is keyed on that paper's files; a network trained outside avfh_core on the shared ones only
    assert ck.cached_model_path("n", {}, mods) != ck.cached_model_path("n", {})
    assert ck.cached_model_path("n", {}, ("tests.test_checkpoint",)) == ck.cached_model_path("n", {})
