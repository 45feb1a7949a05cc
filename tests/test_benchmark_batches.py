"""benchmarks/bench_batches.py times both batch paths at the smoke preset and refuses bad counts."""

import pytest


def test_bench_batches_times_both_paths(benchmark_module, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    mod = benchmark_module("bench_batches")
    out = mod.main(["--preset", "smoke", "--clips", "2", "--batches", "2", "--repeat", "1"])
    assert set(out) == {"collate_ms", "stacked_ms", "bytes_part_ms", "hr_float_mb", "hr_uint8_mb"}
    assert all(v >= 0 for v in out.values()) and out["hr_float_mb"] == pytest.approx(4 * out["hr_uint8_mb"])
    assert "WindowDataset.stacked, on CPU" in capsys.readouterr().out
    for bad in (["--clips", "0"], ["--batches", "0"], ["--repeat", "0"]):
        with pytest.raises(SystemExit):
            mod.main(["--preset", "smoke", *bad])
