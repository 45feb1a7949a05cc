"""benchmarks/vfhgan_power.py runs end to end at the smoke preset and scores what the notebook's audit scores."""

import json

import pytest


def test_power_batch_scores_tables_1_and_3_and_the_controls(benchmark_module, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    out = benchmark_module("vfhgan_power").main(["--preset", "smoke", "--seeds", "2", "--setting", "balanced",
                                                 "--out", str(tmp_path / "power.json")])
    assert out["seeds"] == [0, 1]
    ran = [c for c in out["controls"] if c["verdict"] != "not run"]
    assert {c["id"] for c in ran} == {"audio_needed_when_mouth_still", "ours_beats_handicapped",
                                      "removing_the_only_term_matters"}
    assert all(c["n"] == 2 for c in ran)
    ids = {c["id"] for c in out["claims"]}
    assert "ours_beats_bicubic_psnr" in ids and "attention_improves_psnr" in ids
    assert not any(i.startswith(("freq_", "lip_", "all_losses")) for i in ids)  # Table 2 is not run here
    assert all(c["verdict"] == "inconclusive" for c in out["claims"])  # the smoke preset never concludes
    saved = json.loads((tmp_path / "power.json").read_text())
    assert saved["metrics"]["table3_seeds"]["ours"]["psnr"] == out["metrics"]["table3_seeds"]["ours"]["psnr"]
    assert "bal control ours_beats_handicapped" in capsys.readouterr().out

    # re-auditing the saved batch trains nothing, keeps its scores and recomputes the ceiling the same way
    saved["metrics"]["control_ceilings"]["audio_needed_when_mouth_still"] = 99.0
    (tmp_path / "old.json").write_text(json.dumps(saved))
    again = benchmark_module("vfhgan_power").main(["--rescore", str(tmp_path / "old.json"), "--out",
                                                   str(tmp_path / "new.json")])
    assert again["metrics"]["control_ceilings"] == out["metrics"]["control_ceilings"]
    assert again["metrics"]["table3_seeds"] == saved["metrics"]["table3_seeds"]
    assert again["controls"] == json.loads(json.dumps(out["controls"]))
    printed = capsys.readouterr().out
    assert "stored audio control ceiling 99.0" in printed and "one map of the mouth state" in printed
    assert json.loads((tmp_path / "old.json").read_text())["metrics"]["control_ceilings"][
        "audio_needed_when_mouth_still"] == 99.0  # --out given: the input is untouched


def test_a_longer_batch_of_table_1_with_the_planted_audio_control(benchmark_module, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    out = benchmark_module("vfhgan_power").main(["--preset", "smoke", "--seeds", "2", "--steps", "3", "--tables",
                                                 "table1", "--controls", "jaw", "handicap", "--out",
                                                 str(tmp_path / "long.json")])
    assert out["steps"] == 3 and out["tables"] == ["table1"] and out["control_families"] == ["jaw", "handicap"]
    assert set(out["metrics"]["controls_seeds"]) == {"jaw_visual", "jaw_audio", "ours", "handicapped"}
    assert "table3" not in out["metrics"]
    by_id = {c["id"]: c for c in out["controls"]}
    assert by_id["audio_needed_when_jaw_planted"]["n"] == 2
    assert by_id["audio_needed_when_mouth_still"]["verdict"] == "not run"
    bound = out["metrics"]["claim_ceilings"]["audio_improves_psnr"]
    assert 0 < bound < 1  # the articulation is a small part of the frame
    claims = {c["id"]: c for c in out["claims"]}
    assert claims["audio_improves_psnr"]["ceiling"] == bound and "ours_beats_bicubic_psnr" not in claims
    assert set(out["metrics"]["jaw_control_audio_use_seeds"]) == {"intact", "shuffled", "silenced"}
    seen = out["metrics"]["jaw_control_audio_use_train_seeds"]  # the same test on people it was trained on
    assert set(seen) == {"intact", "shuffled", "silenced"} and len(seen["intact"]["mouth_psnr"]) == 2
    printed = capsys.readouterr().out
    assert "3 steps" in printed and "jaw_audio model, mouth PSNR with its audio" in printed
    assert "; on training people intact" in printed
    # what vfhgan/06 shows of a saved batch: re-audited from its scores with the current rule, the same records
    from avfh_core.reproduce.audit import audit_batch_file
    from avfh_core.reproduce.tables import load_tables

    again = audit_batch_file(load_tables("vfhgan"), tmp_path / "long.json")
    assert again["steps"] == 3 and again["counts"] == out["counts"]
    assert again["controls"] == json.loads(json.dumps(out["controls"]))
    assert [c["id"] for c in again["claims"]] == [c["id"] for c in out["claims"]]


def test_rescore_names_a_file_that_is_not_a_batch(benchmark_module, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"setting": "released"}')
    with pytest.raises(SystemExit, match="bad.json: not a power batch"):
        benchmark_module("vfhgan_power").main(["--rescore", str(bad)])


def test_power_batch_needs_two_seeds(benchmark_module):
    with pytest.raises(SystemExit):
        benchmark_module("vfhgan_power").main(["--seeds", "1"])
