"""benchmarks/vfhgan_audio_control.py runs its rows and probes end to end at the smoke preset."""

import pytest
import torch


def test_audio_control_probe_runs_every_row_with_the_probes(benchmark_module, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    benchmark_module("vfhgan_audio_control").main(["--preset", "smoke", "--steps", "2", "--oracle", "--audio-gain",
                                                   "--objective", "pixel", "--mouth-weight", "10"])
    out = capsys.readouterr().out
    for row in ("still_visual", "still_audio", "still_oracle"):
        assert f"steps {row}" in out
    assert out.count("mouth PSNR with audio intact") == 2  # the two rows that hear something


def test_probe_run_and_the_mouth_weighted_pixel_term(benchmark_module):
    from avfh_core.config import setup
    from avfh_core.train import vfhgan

    mod = benchmark_module("vfhgan_audio_control")
    cfg = setup("smoke", seed=0, device="cpu")
    runs = vfhgan.control_runs(cfg, "balanced")
    audio = mod.probe_run(runs["still_audio"], cfg, audio_gain=True, pixel_only=True)
    assert audio.generator_config(cfg).audio_gain == cfg.hr_size // cfg.scale
    assert audio.loss_weights() == {k: (1.0 if k == "pixel" else 0.0) for k in vfhgan.RELEASED_WEIGHTS}
    assert audio.world == runs["still_audio"].world
    visual = mod.probe_run(runs["still_visual"], cfg, audio_gain=True, pixel_only=False)
    assert visual == runs["still_visual"]  # no audio branch: nothing to gain; the setting's weights kept
    obj = mod._mouth_weighted(vfhgan.VFHGANObjective)(dict(pixel=1.0), mouth_weight=4.0)
    hr = torch.zeros(1, 3, 3, 8, 8)
    sr = torch.zeros(1, 3, 8, 8)
    sr[..., 0, 0] = 1.0  # an error outside the box
    batch = dict(hr=hr, mouth_box=torch.tensor([[4.0, 4.0, 8.0, 8.0]]))
    outside = obj.generator_terms(sr, batch)["pixel"]
    sr2 = torch.zeros(1, 3, 8, 8)
    sr2[..., 5, 5] = 1.0  # the same error inside the box counts 4x
    inside = obj.generator_terms(sr2, batch)["pixel"]
    assert float(inside) == pytest.approx(4 * float(outside))
    assert float(obj.generator_terms(sr2, batch)["total"]) == pytest.approx(float(inside))
