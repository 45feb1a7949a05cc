"""benchmarks/talkingface_audio_use.py runs end to end (a few smoke steps) and prints one monitor line per check."""

import importlib.util
from pathlib import Path

import pytest


def _module():
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "talkingface_audio_use.py"
    spec = importlib.util.spec_from_file_location("talkingface_audio_use", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_audio_use_benchmark_monitors_every_n_steps(capsys):
    _module().main(["--preset", "smoke", "--steps", "2", "--every", "1"])
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("step ")]
    assert [int(ln.split()[1]) for ln in lines] == [1, 2]
    assert "out_change" in lines[0] and "phase 2 from step 1" in out and out.rstrip().splitlines()[-1].startswith("final:")


def test_audio_use_benchmark_rejects_bad_steps():
    with pytest.raises(SystemExit):
        _module().main(["--steps", "0"])
