"""benchmarks/talkingface_audio_use.py runs end to end (a few smoke steps) and prints one monitor line per check."""


import pytest


def test_audio_use_benchmark_monitors_every_n_steps(benchmark_module, capsys):
    benchmark_module("talkingface_audio_use").main(["--preset", "smoke", "--steps", "2", "--every", "1"])
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("step ")]
    assert [int(ln.split()[1]) for ln in lines] == [1, 2]
    assert "out_change" in lines[0] and "phase 2 from step 1" in out and out.rstrip().splitlines()[-1].startswith("final:")


def test_audio_use_benchmark_rejects_bad_steps(benchmark_module):
    with pytest.raises(SystemExit):
        benchmark_module("talkingface_audio_use").main(["--steps", "0"])
