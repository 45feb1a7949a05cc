"""reproduce.control_probe: the control probe's saved rows, read, paired by seed and scored with the audit's test."""

import json
import math

import numpy as np
import pytest

from avfh_core.metrics.stats import min_detectable_effect, one_sided_power, one_sided_verdict
from avfh_core.reproduce.control_probe import (
    RECORD_KIND,
    lower_bounds,
    power_lines,
    probe_label,
    read_records,
    score_lines,
    score_records,
    two_look_false_positive,
    write_records,
)

PROBE = dict(preset="course", setting="balanced", objective="setting", mouth_weight=1.0, lip_share=8.0,
             lip_window="generated", plant_jaw=0.0, mouth_motion=1.0, audio_gain=False, early_fusion=False, knobs={})


def row(seed, name, mouth, use=None, probe=PROBE, steps=3000, ceiling=0.9):
    r = dict(seed=seed, steps=steps, row=name, probe=probe, psnr=25.0, mouth_psnr=mouth)
    if name == "still_visual":
        r["ceiling_db"] = ceiling
    if use is not None:
        r["audio_use"] = {"held_out": dict(zip(("intact", "shuffled", "silenced"), use)),
                          "training": dict(zip(("intact", "shuffled", "silenced"), use))}
    return r


RECORDS = [row(0, "still_visual", 29.3), row(0, "still_audio", 29.4, (29.4, 29.2, 29.3)),
           row(1, "still_visual", 29.5), row(1, "still_audio", 29.5, (29.5, 29.3, 29.45)),
           row(2, "still_visual", 29.3), row(2, "still_audio", 29.5, (29.5, 29.4, 29.4))]


def test_write_then_read_round_trips_and_tags_each_row_with_its_file(tmp_path):
    write_records(tmp_path / "a.json", RECORDS[:2])
    write_records(tmp_path / "b.json", RECORDS[2:])
    got = read_records([tmp_path / "a.json", tmp_path / "b.json"])
    assert [{k: v for k, v in r.items() if k != "file"} for r in got] == RECORDS
    assert got[0]["file"].endswith("a.json") and got[-1]["file"].endswith("b.json")
    assert json.loads((tmp_path / "a.json").read_text())["kind"] == RECORD_KIND


def test_the_control_and_audio_use_are_the_audits_paired_test_over_the_seeds():
    (g,) = score_records(RECORDS)
    assert g["rows"] == {"still_visual": [0, 1, 2], "still_audio": [0, 1, 2]}
    assert g["ceiling_db"] == pytest.approx(0.9)
    control, *use = g["tests"]
    expect = one_sided_verdict([29.3, 29.5, 29.3], [29.4, 29.5, 29.5], better="higher")
    assert control["seeds"] == [0, 1, 2] and control["effect"] == pytest.approx(expect["effect"])
    assert control["ci_low"] == pytest.approx(expect["ci_low"]) and control["verdict"] == expect["verdict"]
    assert len(use) == 4  # shuffled and silenced, held-out and training people
    shuffled = one_sided_verdict([29.2, 29.3, 29.4], [29.4, 29.5, 29.5], better="higher")
    assert use[0]["name"].endswith("(held-out people): intact over shuffled")
    assert use[0]["effect"] == pytest.approx(shuffled["effect"]) and use[0]["mde"] == pytest.approx(shuffled["mde"])
    lines = score_lines([g])
    assert lines[0].startswith("preset course, setting balanced, lip_share 8.0, lip_window generated, 3000 steps")
    assert sum("->" in ln for ln in lines) == 5 and "at most 0.900 dB" in lines[1]


def test_only_seeds_with_both_rows_are_paired_and_other_probes_are_scored_apart():
    other = dict(PROBE, lip_share=2.0)
    recs = RECORDS[:5] + [row(0, "still_visual", 29.0, probe=other), row(0, "still_visual", 29.0, steps=1000)]
    scored = score_records(recs)
    assert len(scored) == 3
    assert scored[0]["tests"][0]["seeds"] == [0, 1]  # seed 2 trained no speech-fed row
    assert score_lines(scored[1:])[-1].startswith("  nothing to score")


def test_a_look_at_some_seeds_at_a_stricter_level_is_the_audits_test_on_those():
    (g,) = score_records(RECORDS, alpha=0.025, seeds=[0, 1])
    assert g["rows"] == {"still_visual": [0, 1], "still_audio": [0, 1]} and g["alpha"] == 0.025
    expect = one_sided_verdict([29.3, 29.5], [29.4, 29.5], better="higher", alpha=0.025)
    assert g["tests"][0]["ci_low"] == pytest.approx(expect["ci_low"])
    assert g["tests"][0]["mde"] == pytest.approx(expect["mde"])
    assert score_lines([g])[0].endswith("one-sided 97.5 % bounds")
    assert not score_lines(score_records(RECORDS))[0].endswith("bounds")  # the default level is not announced


def test_the_vectorised_bound_is_one_sided_verdicts_row_by_row():
    import numpy as np

    d = np.random.default_rng(3).normal(0.1, 0.2, size=(4, 5))
    for alpha in (0.05, 0.025):
        got = lower_bounds(d, alpha)
        for row_diffs, low in zip(d, got):
            expect = one_sided_verdict([0.0] * 5, row_diffs.tolist(), better="higher", alpha=alpha)
            assert low == pytest.approx(expect["ci_low"])


def test_two_looks_cost_more_than_one_and_less_than_the_sum_of_their_levels():
    one = two_look_false_positive(3, 3, 0.05, 0.05, draws=100_000)
    assert one == pytest.approx(0.05, abs=0.003)  # the same test twice is one test at its level
    both = two_look_false_positive(3, 5, 0.05, 0.025, draws=100_000)
    assert 0.05 < both < 0.075 - 0.005  # the shared seeds: less than the sum of the levels
    assert two_look_false_positive(3, 5, 0.05, 0.05, draws=100_000) > both  # a laxer second look costs more
    assert two_look_false_positive(3, 5, draws=1000, seed=4) == two_look_false_positive(3, 5, draws=1000, seed=4)
    with pytest.raises(ValueError, match="n_first"):
        two_look_false_positive(1, 5)
    with pytest.raises(ValueError, match="alpha_second"):
        two_look_false_positive(3, 5, alpha_second=0.5)


def test_probe_label_shows_only_what_differs_from_the_defaults():
    assert probe_label(dict(PROBE, lip_share=None, lip_window="centre"), 5) == "preset course, setting balanced, 5 steps"
    assert "mouth_weight 10" in probe_label(dict(PROBE, mouth_weight=10), 5)


def test_bad_files_and_a_row_saved_twice_are_named(tmp_path):
    a = tmp_path / "a.json"
    write_records(a, RECORDS[:1])
    with pytest.raises(ValueError, match="in both .*a.json and .*a.json"):
        score_records(read_records([a, a]))
    for name, text in (("kind.json", json.dumps({"kind": "other", "records": []})), ("broken.json", "{"),
                       ("lacks.json", json.dumps({"kind": RECORD_KIND, "records": [{"seed": 0}]})),
                       ("nan.json", json.dumps({"kind": RECORD_KIND, "records": [dict(RECORDS[0], mouth_psnr=None)]}))):
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=name):
            read_records([tmp_path / name])
    with pytest.raises(ValueError, match="missing.json"):
        read_records([tmp_path / "missing.json"])


def test_power_lines_plan_from_the_controls_per_seed_spread():
    (g,) = score_records(RECORDS)
    control = g["tests"][0]
    sd = float(np.std(np.subtract(control["b"], control["a"]), ddof=1))
    lines = power_lines(control, [3, 5], effects=(0.1, 0.2))
    assert lines[0].startswith("planning from the control test's spread over seeds [0, 1, 2]")
    assert f"{sd:.3f} dB" in lines[0] and "one-sided 95 %" in lines[0]
    assert lines[1] == (f"  3 seeds: MDE {min_detectable_effect(sd / math.sqrt(3), 2):.3f}; chance of detecting "
                        f"+0.1 dB {one_sided_power(0.1, sd, 3):.2f}, +0.2 dB {one_sided_power(0.2, sd, 3):.2f}")
    # the spread over three seeds gives the MDE the score printed for three
    assert f"MDE {control['mde']:.3f}" in lines[1]
    assert "97.5 %" in power_lines(control, [5], alpha=0.025)[0]
    two = score_records(RECORDS[:4])[0]["tests"][0]
    with pytest.raises(ValueError, match="at least 3"):
        power_lines(two, [5])
    flat = dict(control, a=[1.0, 1.0, 1.0], b=[1.1, 1.1, 1.1])
    with pytest.raises(ValueError, match="no spread"):
        power_lines(flat, [5])
