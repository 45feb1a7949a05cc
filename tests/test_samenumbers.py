"""The cache-state comparison of CI: identical metrics pass, a changed value or a missing sidecar fails, timings
are ignored."""

import json

from avfh_core.reproduce import samenumbers


def _write(run, name, metrics):
    p = run / "vfhgan" / f"{name}__preset-smoke.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"metrics": metrics, "environment": {"pid": 1}}))


def test_same_metrics_with_other_timings_pass(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, "05_training", {"psnr": 25.4, "train_seconds": 3.0, "table": {"x": {"psnr": [1.0, 2.0]}}})
    _write(b, "05_training", {"psnr": 25.4, "train_seconds": 9.5, "table": {"x": {"psnr": [1.0, 2.0]}}})
    assert samenumbers.differences(a, b) == []
    assert samenumbers.main([str(a), str(b)]) == 0


def test_a_changed_value_is_named(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, "03_lipreading_loss", {"lipreader": {"heldout_acc": 0.25, "train_seconds": 1}})
    _write(b, "03_lipreading_loss", {"lipreader": {"heldout_acc": 0.30, "train_seconds": 1}})
    diffs = samenumbers.differences(a, b)
    assert diffs == ["vfhgan/03_lipreading_loss__preset-smoke: lipreader.heldout_acc: 0.25 != 0.3"]
    assert samenumbers.main([str(a), str(b)]) == 1


def test_missing_sidecar_and_empty_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, "05_training", {"psnr": 1.0})
    _write(a, "06_ablations", {"psnr": 1.0})
    _write(b, "05_training", {"psnr": 1.0})
    assert samenumbers.differences(a, b) == [f"vfhgan/06_ablations__preset-smoke: only in {a}"]
    assert samenumbers.main([str(tmp_path / "empty"), str(b)]) == 2


def test_timing_keys():
    assert samenumbers.is_timing("lipreader.train_seconds")
    assert samenumbers.is_timing("speed_128.cpu_frames_per_s")
    assert samenumbers.is_timing("preset_generator.forward_ms_per_batch")
    assert samenumbers.is_timing("fps.secnet") and samenumbers.is_timing("ms_per_face.vividgan")
    assert samenumbers.is_timing("table2.secnet_fps") and not samenumbers.is_timing("table2.fpsx")
    assert not samenumbers.is_timing("table1.audio.psnr")
