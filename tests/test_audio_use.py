"""reproduce.audio_use: audio use gathered seed by seed, in the shape sidecars and saved batches keep."""

from __future__ import annotations

import types
from types import SimpleNamespace

import pytest
import torch

from avfh_core.reproduce.audio_use import audio_use_seeds, by_condition, condition_means, use_line


def test_by_condition_transposes_seeds_into_lists():
    per_seed = [{"intact": {"psnr": 1.0, "mouth_psnr": 2.0}, "shuffled": {"psnr": 0.5, "mouth_psnr": 1.5}},
                {"intact": {"psnr": 3.0, "mouth_psnr": 4.0}, "shuffled": {"psnr": 2.5, "mouth_psnr": 3.5}}]
    out = by_condition(per_seed)
    assert out == {"intact": {"psnr": [1.0, 3.0], "mouth_psnr": [2.0, 4.0]},
                   "shuffled": {"psnr": [0.5, 2.5], "mouth_psnr": [1.5, 3.5]}}
    assert condition_means(out, "psnr") == {"intact": 2.0, "shuffled": 1.5}
    assert use_line(out) == "intact 3.000, shuffled 2.500"
    assert use_line(out, "psnr") == "intact 2.000, shuffled 1.500"


def test_by_condition_refuses_seeds_that_disagree():
    with pytest.raises(ValueError, match="no seeds"):
        by_condition([])
    with pytest.raises(ValueError, match="seed 1 reports"):
        by_condition([{"intact": {"psnr": 1.0}}, {"intact": {"ssim": 1.0}}])
    with pytest.raises(ValueError, match="seed 2 reports"):
        by_condition([{"intact": {"psnr": 1.0}}] * 2 + [{"intact": {"psnr": 1.0}, "silenced": {"psnr": 0.0}}])


def test_condition_means_names_what_is_missing():
    with pytest.raises(KeyError, match="'intact' has no 'ssim'"):
        condition_means({"intact": {"psnr": [1.0]}}, "ssim")
    with pytest.raises(ValueError, match="no seeds for 'psnr'"):
        condition_means({"intact": {"psnr": []}}, "psnr")


def test_audio_use_seeds_asks_each_seeds_model_with_its_own_shuffle(monkeypatch):
    """A fake paper whose model of seed s outputs s x its audio: seed 0 ignores the audio (all conditions equal),
    seed 1 reads it (only intact scores 0 error). Each seed's trained model comes from the run cache."""
    from avfh_core.train import experiment

    data = [{"mel": torch.tensor([float(k + 1)]), "target": torch.tensor([float(k + 1)])} for k in range(6)]
    paper = types.ModuleType("fake_paper")
    paper.PAPER = "fake"
    paper.eval_set = lambda run, cfg: (data, list(range(6)))
    paper.predict = lambda models, batch: (models["gain"].g * batch["mel"]
                                           + (1 - models["gain"].g) * batch["target"])
    paper.score = lambda pred, batch, cfg: {"neg_err": -(pred - batch["target"]).abs().reshape(-1)}
    asked = []

    def fake_cached_run(p, run, cfg, seed):
        asked.append((p.PAPER, run, seed))
        gain = torch.nn.Module()
        gain.g = float(seed)
        return {}, SimpleNamespace(models={"gain": gain})

    monkeypatch.setattr(experiment, "cached_run", fake_cached_run)
    use = audio_use_seeds(paper, "row", SimpleNamespace(device="cpu"), [0, 1])
    assert asked == [("fake", "row", 0), ("fake", "row", 1)]
    assert set(use) == {"intact", "shuffled", "silenced"}
    assert use["intact"]["neg_err"] == [0.0, 0.0]
    assert use["shuffled"]["neg_err"][0] == 0.0 and use["shuffled"]["neg_err"][1] < 0  # only seed 1 listens
    assert use["silenced"]["neg_err"][0] == 0.0 and use["silenced"]["neg_err"][1] < 0
    other = [{"mel": torch.tensor([float(k + 1)]), "target": torch.tensor([2.0 * (k + 1)])} for k in range(4)]
    seen = audio_use_seeds(paper, "row", SimpleNamespace(device="cpu"), [1], data=(other, [0, 1, 2]))
    assert asked[-1] == ("fake", "row", 1)
    assert seen["intact"]["neg_err"] == [-2.0]  # scored on the given items (target 2 x audio), not the eval set
    with pytest.raises(ValueError, match="no seeds for fake run 'row'"):
        audio_use_seeds(paper, "row", SimpleNamespace(device="cpu"), [])
