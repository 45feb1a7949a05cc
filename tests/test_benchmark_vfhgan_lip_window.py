"""benchmarks/vfhgan_lip_window.py trains both lip-window forms at the smoke preset and compares them paired by seed."""

import json

import pytest


def test_lip_window_benchmark_compares_both_forms_paired_by_seed(benchmark_module, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    out = benchmark_module("vfhgan_lip_window").main(["--preset", "smoke", "--seeds", "2", "--steps", "2",
                                                      "--out", str(tmp_path / "lw.json")])
    assert out["seeds"] == [0, 1] and out["steps"] == 2 and out["n_heldout_windows"] >= 1
    for form in ("centre", "generated"):
        assert all(len(v) == 2 for v in out["per_seed"][form].values())
        assert out["cpu_seconds_per_step"][form] > 0
    s = out["summary"]["eq5_loss_heldout"]
    d = [g - c for g, c in zip(out["per_seed"]["generated"]["eq5_loss_heldout"],
                               out["per_seed"]["centre"]["eq5_loss_heldout"])]
    assert s["diff"] == pytest.approx(sum(d) / 2) and s["ci"][0] <= s["diff"] <= s["ci"][1]
    # the two forms are different runs: their trained generators differ, so their held-out scores do
    assert out["per_seed"]["generated"]["psnr"] != out["per_seed"]["centre"]["psnr"]
    assert json.loads((tmp_path / "lw.json").read_text())["summary"]["psnr"]["diff"] == out["summary"]["psnr"]["diff"]
    assert "CPU s per step" in capsys.readouterr().out


def test_lip_window_benchmark_refuses_bad_arguments(benchmark_module):
    with pytest.raises(SystemExit):
        benchmark_module("vfhgan_lip_window").main(["--seeds", "1"])
    with pytest.raises(SystemExit):
        benchmark_module("vfhgan_lip_window").main(["--steps", "0"])
