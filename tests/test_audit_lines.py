"""reproduce.audit's printed lines: the one formatter every claims notebook uses."""

import math

import pytest

from avfh_core.reproduce.audit import claim_lines, control_lines, parse_audit_lines, print_audit
from avfh_core.reproduce.tables import load_tables

CONTROL = {"id": "handicap", "verdict": "reproduced", "detected": True, "effect": 0.51234, "ci_low": 0.3,
           "ci_high": math.inf, "n": 3, "mde": 0.09, "planted_effect": 0.5}
CLAIM = {"id": "fusion_helps", "verdict": "not reproduced", "effect": -0.25, "ci_low": -math.inf, "ci_high": 0.1,
         "p_value": 0.97, "n": 3, "mde": 0.2, "published_effect": 1.2, "refutable": True}


def test_control_and_claim_lines_carry_every_field():
    (line,) = control_lines([CONTROL])
    assert line.startswith("control handicap ") and "detected" in line and "NOT" not in line
    assert "ours +0.512 [+0.300, +inf] n=3 MDE 0.090  planted +0.500" in line
    missed = dict(CONTROL, detected=False, verdict="inconclusive", planted_effect=None)
    assert "NOT detected" in control_lines([missed])[0] and control_lines([missed])[0].endswith("planted sign only")
    (line,) = claim_lines([CLAIM], digits=2)
    assert line == ("fusion_helps not reproduced  ours -0.25 [-inf, +0.10] p=0.970 n=3 MDE 0.20   paper +1.20")
    voided = dict(CLAIM, verdict="inconclusive", void="control x not detected", refutable=False)
    line = claim_lines([voided], prefix="balanced ")[0]
    assert line.startswith("balanced fusion_helps") and line.endswith("not refutable at this n)  [control x not detected]")
    direction = dict(CLAIM, published_effect=None, p_value=None, mde=float("nan"), refutable=False)
    assert claim_lines([direction])[0].endswith("p=n/a n=3 MDE n/a   paper none (a direction)")


def test_ids_share_one_column_and_not_run_says_why(capsys):
    long = dict(CLAIM, id="a_much_longer_claim_id")
    lines = claim_lines([CLAIM, long, {"id": "gone", "verdict": "not run", "n": 0, "reason": "untestable here: x"}])
    assert len({ln.index(" ours ") for ln in lines[:2]}) == 1  # aligned
    assert lines[2].split() == ["gone", "not", "run:", "untestable", "here:", "x"]
    counts = print_audit([CONTROL], [CLAIM, long])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("control handicap") and out[-1] == f"verdicts: {counts}"
    assert counts["not reproduced"] == 2 and counts["reproduced"] == 0
    print_audit([CONTROL], [CLAIM], prefix="balanced ")
    assert all(ln.startswith("balanced ") for ln in capsys.readouterr().out.splitlines())


def test_untestable_claims_say_why_in_the_audit(tmp_path):
    import yaml

    from avfh_core.reproduce.audit import audit_claims

    spec = {"paper": "t", "title": "t",
            "tables": {"t1": {"caption": "", "dataset": "d", "metrics": ["m"], "rows": {"a": {}, "b": {}}}},
            "claims": [{"id": "c1", "text": "b beats a", "table": "t1", "metric": "m", "better": "higher", "a": "a",
                        "b": "b", "published_effect": 1.0, "untestable": "no such data in this world"}]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec))
    (rec,) = audit_claims(load_tables("t", tmp_path), [{"metrics": {}}], controls=[])
    assert rec["verdict"] == "not run" and rec["reason"] == "no such data in this world"
    spec["claims"][0]["untestable"] = ""
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ValueError, match="untestable must be a sentence"):
        load_tables("t", tmp_path)


def test_parse_audit_lines_reads_back_what_the_formatters_print():
    missed = dict(CONTROL, id="still_mouth", detected=False, verdict="inconclusive", planted_effect=None,
                  ceiling=0.4, too_small=True)
    direction = dict(CLAIM, id="b.c-d", published_effect=None, p_value=None, mde=float("nan"), refutable=False)
    voided = dict(CLAIM, id="voided", verdict="inconclusive", void="control x not detected", refutable=False)
    text = (["some other output", "control nothing"] + control_lines([CONTROL, missed], prefix="rel ")
            + claim_lines([CLAIM, direction, voided], prefix="rel ")
            + claim_lines([CLAIM, {"id": "gone", "verdict": "not run", "n": 0, "reason": "x"}])
            + claim_lines([dict(CLAIM, effect=-0.3)]))
    got = parse_audit_lines(text)
    claims = {("rel", "claim", k) for k in ("fusion_helps", "b.c-d", "voided")} | {("", "claim", "fusion_helps")}
    assert set(got) == {("rel", "control", "handicap"), ("rel", "control", "still_mouth")} | claims
    (c,) = got[("rel", "control", "handicap")]
    assert c == {"verdict": "detected", "effect": 0.512, "ci_low": 0.3, "ci_high": math.inf, "p_value": None,
                 "n": 3, "mde": 0.09}
    assert got[("rel", "control", "still_mouth")][0]["verdict"] == "NOT detected"
    assert got[("rel", "claim", "fusion_helps")][0] == {"verdict": "not reproduced", "effect": -0.25,
                                                          "ci_low": -math.inf, "ci_high": 0.1, "p_value": 0.97,
                                                          "n": 3, "mde": 0.2}
    assert got[("rel", "claim", "b.c-d")][0]["mde"] is None and got[("rel", "claim", "b.c-d")][0]["p_value"] is None
    assert got[("rel", "claim", "voided")][0]["verdict"] == "inconclusive"
    assert [r["effect"] for r in got[("", "claim", "fusion_helps")]] == [-0.25, -0.3]  # printed twice: both, in order
