"""benchmarks/bench_frozen_d.py times a VFH-GAN step with D frozen in G's loss and without, and checks the weights."""

import pytest


def test_frozen_d_benchmark_times_both_modes_and_finds_the_same_weights(benchmark_module, tmp_path, monkeypatch,
                                                                         capsys):
    from avfh_core.train import vfhgan
    from avfh_core.train.loop import frozen

    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    out = benchmark_module("bench_frozen_d").main(["--preset", "smoke", "--steps", "2", "--repeats", "1"])
    assert out["same_weights"] is True and out["frozen"] > 0 and out["unfrozen"] > 0
    assert vfhgan.frozen is frozen  # the unfrozen mode's stand-in is gone again
    assert "bit-identical" in capsys.readouterr().out


def test_frozen_d_benchmark_refuses_bad_arguments(benchmark_module):
    with pytest.raises(SystemExit):
        benchmark_module("bench_frozen_d").main(["--steps", "0"])
    with pytest.raises(SystemExit):
        benchmark_module("bench_frozen_d").main(["--preset", "smoke", "--row", "no_such_row"])
