"""benchmarks/vfhgan_power.py runs end to end at the smoke preset and scores what the notebook's audit scores."""

import json

import pytest


def test_power_batch_scores_tables_1_and_3_and_the_controls(benchmark_module, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    out = benchmark_module("vfhgan_power").main(["--preset", "smoke", "--seeds", "2", "--setting", "balanced",
                                                 "--out", str(tmp_path / "power.json")])
    assert out["seeds"] == [0, 1]
    assert {c["id"] for c in out["controls"]} == {"audio_needed_when_mouth_still", "ours_beats_handicapped",
                                                   "removing_the_only_term_matters"}
    assert all(c["n"] == 2 for c in out["controls"])
    ids = {c["id"] for c in out["claims"]}
    assert "ours_beats_bicubic_psnr" in ids and "attention_improves_psnr" in ids
    assert not any(i.startswith(("freq_", "lip_", "all_losses")) for i in ids)  # Table 2 is not run here
    assert all(c["verdict"] == "inconclusive" for c in out["claims"])  # the smoke preset never concludes
    saved = json.loads((tmp_path / "power.json").read_text())
    assert saved["metrics"]["table3_seeds"]["ours"]["psnr"] == out["metrics"]["table3_seeds"]["ours"]["psnr"]
    assert "bal control ours_beats_handicapped" in capsys.readouterr().out


def test_power_batch_needs_two_seeds(benchmark_module):
    with pytest.raises(SystemExit):
        benchmark_module("vfhgan_power").main(["--seeds", "1"])
