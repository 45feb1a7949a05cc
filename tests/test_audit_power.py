"""The claims audit's statistics: the one-sided verdict rule, the minimum detectable effect, the positive controls
(planted effects of known size) and the evaluation-time audio check, on synthetic sidecars."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import stats as st

from avfh_core.data.degrade import erase_boxes
from avfh_core.reproduce.audit import (
    audit_claims,
    audit_controls,
    min_detectable_effect,
    one_sided_verdict,
    parse_controls,
    t_quantile,
)
from avfh_core.reproduce.tables import load_tables, parse_tables
from avfh_core.train.evaluate import audio_use

TOY = {"paper": "toy", "title": "toy",
       "tables": {"t": {"metrics": ["psnr"], "rows": {"base": {"psnr": 20.0}, "full": {"psnr": 22.0}}}},
       "claims": [{"id": "full_psnr", "text": "full beats base", "table": "t", "metric": "psnr", "better": "higher",
                   "a": "base", "b": "full", "published_effect": 2.0}]}
CONTROL = {"id": "planted", "family": "method beats a baseline", "text": "planted 1 dB", "table": "ctl",
           "metric": "psnr", "better": "higher", "a": "weak", "b": "strong", "planted_effect": 1.0,
           "claims": ["full_psnr"]}


def sidecar(table, rows, seed=0, preset="course"):
    """rows: {row: [per-seed psnr]} -> a sidecar logging `<table>_seeds` (seeds seed, seed + 1, ...)."""
    return {"notebook": "toy/01", "config": {"preset": preset, "seed": seed},
            "metrics": {f"{table}_seeds": {r: {"psnr": list(map(float, v))} for r, v in rows.items()}}}


def planted(rng, n, effect, sd_seed=0.5, sd_pair=0.1):
    """Two rows over n seeds: a shared per-seed level (spread sd_seed) plus a planted b - a of `effect`."""
    level = 20 + rng.normal(0, sd_seed, n)
    return level + rng.normal(0, sd_pair, n), level + effect + rng.normal(0, sd_pair, n)


def test_mde_matches_a_direct_t_quantile_computation():
    for n in (2, 3, 5, 10):
        sd = 0.37
        se, df = sd / math.sqrt(n), n - 1
        direct = (st.t.ppf(0.95, df) + st.t.ppf(0.8, df)) * se
        assert math.isclose(min_detectable_effect(se, df), direct, rel_tol=1e-12)
        assert math.isclose(t_quantile(0.95, df), st.t.ppf(0.95, df))
        # the power at the MDE, computed exactly from the noncentral t, is about the nominal 0.8
        if n >= 3:
            exact_power = st.nct.sf(st.t.ppf(0.95, df), df, direct / se)
            assert 0.75 < exact_power < 0.85, (n, exact_power)
    assert min_detectable_effect(None, None) == math.inf
    assert min_detectable_effect(0.2, 4, alpha=0.01) > min_detectable_effect(0.2, 4, alpha=0.05)
    with pytest.raises(ValueError, match="power"):
        min_detectable_effect(0.2, 4, power=1.5)


def test_verdict_mde_is_the_paired_formula():
    a, b = [20.0, 20.4, 19.8, 20.1], [21.0, 21.1, 21.2, 20.6]
    d = np.array(b) - np.array(a)
    v = one_sided_verdict(a, b, published_effect=2.0)
    se = d.std(ddof=1) / math.sqrt(4)
    assert math.isclose(v["mde"], (st.t.ppf(0.95, 3) + st.t.ppf(0.8, 3)) * se)
    assert math.isclose(v["ci_low"], d.mean() - st.t.ppf(0.95, 3) * se)
    assert math.isclose(v["p_value"], st.ttest_rel(b, a, alternative="greater").pvalue)


def test_planted_effect_of_known_size_is_detected():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        a, b = planted(rng, 5, effect=0.5)
        v = one_sided_verdict(a.tolist(), b.tolist(), published_effect=0.5)
        hits += v["verdict"] == "reproduced"
        assert v["mde"] < 0.5  # the seeds run can see an effect this size at this spread
    assert hits > 0.95 * 200  # power near 1: the planted 0.5 is ~4x the MDE


def test_null_effect_is_not_reproduced_only_when_the_bound_excludes_half_the_published_effect():
    rng = np.random.default_rng(1)
    seen = set()
    for k in range(400):
        sd_pair = (0.05, 0.3, 1.0)[k % 3]
        a, b = planted(rng, 4, effect=0.0, sd_pair=sd_pair)
        v = one_sided_verdict(a.tolist(), b.tolist(), published_effect=1.0)
        seen.add(v["verdict"])
        if v["verdict"] == "not reproduced":
            assert v["ci_high"] < 0.5
        elif v["verdict"] == "inconclusive":
            assert v["ci_high"] >= 0.5 and v["ci_low"] <= 0
        else:
            assert v["ci_low"] > 0
    assert {"not reproduced", "inconclusive"} <= seen
    # a lower-is-better claim (published effect negative): the bounds are read in that direction
    v = one_sided_verdict([0.30, 0.31, 0.29, 0.30], [0.30, 0.30, 0.30, 0.31], published_effect=-0.1, better="lower")
    assert v["verdict"] == "not reproduced" and v["expected_sign"] == -1


def test_refutable_flag_and_small_n():
    v = one_sided_verdict([20.0, 21.5, 19.0], [20.2, 20.0, 21.0], published_effect=0.2)
    assert v["mde"] > 0.1 and v["refutable"] is False  # half the published effect is below what 3 seeds can see
    one = one_sided_verdict([20.0], [25.0], published_effect=1.0)
    assert one["verdict"] == "inconclusive" and "by construction" in one["why"] and one["mde"] == math.inf


def test_unpaired_when_rows_share_no_seed():
    rec = audit_claims(parse_tables(TOY, Path("toy.yaml")),
                       [sidecar("t", {"base": [20.0, 20.1, 19.9]}, seed=0),
                        sidecar("t", {"full": [22.0, 22.2, 21.9]}, seed=10)], controls=[])[0]
    assert rec["paired"] is False and rec["verdict"] == "reproduced" and rec["n"] == 3


def test_controls_are_validated_and_void_an_undetected_family():
    pt = parse_tables(TOY, Path("toy.yaml"))
    with pytest.raises(ValueError, match=r"toy.yaml: control planted: unknown claim id\(s\) \['nope'\]"):
        parse_controls({"controls": [{**CONTROL, "claims": ["nope"]}]}, "toy.yaml", ["full_psnr"])
    with pytest.raises(ValueError, match=r"controls\[0\] \(planted\) is missing \['planted_effect'\]"):
        parse_controls({"controls": [{k: v for k, v in CONTROL.items() if k != "planted_effect"}]}, "toy.yaml",
                       ["full_psnr"])
    null_claim = sidecar("t", {"base": [20.0, 20.3, 19.8, 20.1], "full": [20.05, 20.3, 19.85, 20.1]})
    controls = parse_controls({"controls": [CONTROL]}, "toy.yaml", ["full_psnr"])
    seen = sidecar("ctl", {"weak": [20.0, 20.3, 19.8, 20.1], "strong": [21.0, 21.2, 20.9, 21.1]})
    missed = sidecar("ctl", {"weak": [20.0, 20.3, 19.8, 20.1], "strong": [20.9, 19.6, 21.4, 19.9]})

    ctl = audit_controls(pt, [null_claim, seen], controls=controls)
    assert ctl[0]["detected"] and math.isclose(ctl[0]["effect"], 1.0, abs_tol=0.01)
    rec = audit_claims(pt, [null_claim, seen], controls=ctl)[0]
    assert rec["verdict"] == "not reproduced" and rec["controls"] == ["planted"] and "void" not in rec

    ctl = audit_controls(pt, [null_claim, missed], controls=controls)
    assert not ctl[0]["detected"]
    rec = audit_claims(pt, [null_claim, missed], controls=ctl)[0]
    assert rec["verdict"] == "inconclusive" and rec["void"] == "control planted not detected"

    rec = audit_claims(pt, [null_claim], controls=audit_controls(pt, [null_claim], controls=controls))[0]
    assert rec["verdict"] == "inconclusive" and rec["void"] == "control planted not run"


def test_repository_controls_cover_known_claims():
    pt = load_tables("vfhgan")
    from avfh_core.reproduce.audit import load_controls

    controls = {c["id"]: c for c in load_controls(pt)}
    families = {c["family"] for c in controls.values()}
    assert families == {"audio helps", "method beats a baseline", "a loss term helps"}
    covered = {x for c in controls.values() for x in c["claims"]}
    assert covered == {c.id for c in pt.claims}  # every claim has a control for its family
    import inspect

    from avfh_core.train import vfhgan
    default = inspect.signature(vfhgan.positive_controls).parameters["handicap_db"].default
    assert controls["ours_beats_handicapped"]["planted_effect"] == default
    assert f"darkened by {vfhgan.JAW_PLANT} x" in controls["audio_needed_when_jaw_planted"]["text"]


def test_erase_boxes():
    video = torch.rand(3, 3, 8, 8)
    boxes = torch.tensor([[8.0, 8.0, 16.0, 16.0]] * 3)  # HR pixels; LR = /4 -> [2, 4), widened by 1 -> [1, 5)
    out = erase_boxes(video, boxes, box_scale=4)
    fill = video.mean(dim=(0, 2, 3))
    assert torch.allclose(out[:, :, 1:5, 1:5], fill[None, :, None, None].expand(3, 3, 4, 4))
    mask = torch.ones(8, 8, dtype=torch.bool)
    mask[1:5, 1:5] = False
    assert torch.equal(out[..., mask], video[..., mask]) and not torch.equal(out, video)
    with pytest.raises(ValueError, match=r"boxes must be \[T, 4\] = \[3, 4\]"):
        erase_boxes(video, boxes[:2])
    with pytest.raises(ValueError, match="box_scale must be > 0"):
        erase_boxes(video, boxes, box_scale=0)


def test_audio_use_separates_a_model_that_listens_from_one_that_does_not():
    data = [{"mel": torch.tensor([float(k)]), "target": torch.tensor([float(k)])} for k in range(8)]
    cfg = SimpleNamespace(device="cpu")

    def score(pred, batch, cfg):
        return {"neg_err": -(pred - batch["target"]).abs().reshape(-1)}

    listens = audio_use(lambda m, b: b["mel"], score, {}, data, range(8), cfg)
    assert listens["intact"]["neg_err"] == 0.0
    assert listens["shuffled"]["neg_err"] < 0 and listens["silenced"]["neg_err"] < 0  # no item keeps its audio
    deaf = audio_use(lambda m, b: b["target"] * 1.0, score, {}, data, range(8), cfg)
    assert deaf["intact"] == deaf["shuffled"] == deaf["silenced"]
    with pytest.raises(ValueError, match="at least 2 items"):
        audio_use(lambda m, b: b["mel"], score, {}, data, [0], cfg)
    with pytest.raises(KeyError, match="no 'audio' entry"):
        audio_use(lambda m, b: b["mel"], score, {}, data, range(4), cfg, audio_key="audio")


def test_vfhgan_positive_controls_rows_and_the_known_handicap():
    from avfh_core.config import setup
    from avfh_core.train import vfhgan

    cfg = setup("smoke", seed=0, device="cpu", window=1, steps=2, batch_size=2, width=8, hr_size=32)
    out = vfhgan.positive_controls(cfg, n_seeds=1, handicap_db=0.5)
    assert set(out) == {"still_visual", "still_audio", "ours", "handicapped", "loss_kept", "loss_removed"}
    assert all(len(v) == 1 for row in out.values() for v in row.values())
    drop = out["ours"]["psnr"][0] - out["handicapped"]["psnr"][0]  # one seed: the model pairs with itself
    # 0.5 dB per image by construction (the error scaled by 10^(0.5/20)); measured 0.505 at this size, where the
    # 0.005 dB excess is not explained yet (it persists without the clipping): the bound allows 0.05 either way
    assert 0.3 < drop < 0.55
    with pytest.raises(ValueError, match="handicap_db must be > 0"):
        vfhgan.positive_controls(cfg, handicap_db=0)


def test_vfhgan_audio_control_rows_are_cached_runs_of_the_still_mouth_world_per_setting():
    from avfh_core.config import setup
    from avfh_core.data.crops import crop_boxes
    from avfh_core.train import vfhgan

    cfg = setup("smoke", seed=0, device="cpu", window=1, steps=2, batch_size=2, width=8, hr_size=32)
    rel, bal = vfhgan.control_runs(cfg, "released"), vfhgan.control_runs(cfg, "balanced")
    assert set(rel) == {"still_visual", "still_audio"} and rel["still_audio"] != bal["still_audio"]
    for run in (*rel.values(), *bal.values()):
        assert dict(run.world) == {vfhgan.STILL_MOUTH: True}
    assert dict(bal["still_audio"].generator) == dict(vfhgan.table1(cfg, "balanced")["audio_attention"].generator)
    intact, _ = vfhgan.eval_set(vfhgan.VFHGANRun.make(), cfg)
    still, _ = vfhgan.eval_set(rel["still_audio"], cfg)
    assert len(intact) == len(still)
    for k in range(len(still.clips)):  # targets, audio and boxes untouched; only the LR changes
        a, b = intact.clips[k], still.clips[k]
        assert torch.equal(a["hr"], b["hr"]) and torch.equal(a["mel"], b["mel"]) and torch.equal(a["box"], b["box"])
    a, b = intact.clips[0], still.clips[0]
    assert not torch.equal(a["lr"], b["lr"])
    # the LR differs from the intact LR around the mouth, where the HR articulates, far more than elsewhere
    box = b["box"].float() / cfg.scale
    diff = (a["lr"] - b["lr"]).abs()
    side = max(2, int(round(float((box[:, 2] - box[:, 0]).median()))))
    in_mouth = float(crop_boxes(diff, box, side).mean())
    assert in_mouth > 3 * float(diff.mean())
    # erasing (the first form of the control) is still a world option
    erased, _ = vfhgan.eval_set(vfhgan.VFHGANRun.make(world={vfhgan.ERASE_MOUTH: True}), cfg)
    x0, y0, x1, y1 = (int(v) for v in (erased[0]["mouth_box"] / cfg.scale).round())
    inside = erased[0]["lr"][:, :, y0 + 1:y1 - 1, x0 + 1:x1 - 1]  # the mouth box in LR pixels: one flat colour
    assert float(inside.flatten(2).std(-1).max()) < 1e-6
    bal_rows = vfhgan.positive_controls(cfg, "balanced", n_seeds=1)
    assert set(bal_rows) == {"still_visual", "still_audio", "ours", "handicapped", "loss_kept", "loss_removed"}


def test_seeds_needed_is_the_smallest_n_whose_mde_reaches_the_effect():
    import math

    from avfh_core.metrics.stats import min_detectable_effect, seeds_needed

    sd, effect = 0.8, 0.5
    n = seeds_needed(sd, effect)
    assert min_detectable_effect(sd / math.sqrt(n), n - 1) <= effect < min_detectable_effect(sd / math.sqrt(n - 1), n - 2)
    assert seeds_needed(0.0, 0.1) == 2 and seeds_needed(0.01, 5.0) == 2
    assert seeds_needed(None, 0.5) is None and seeds_needed(math.inf, 0.5) is None
    assert seeds_needed(0.8, 0.0) is None and seeds_needed(0.8, -1.0) is None
    assert seeds_needed(100.0, 1e-3, max_n=50) is None
    assert seeds_needed(sd, effect / 2) > n  # a smaller effect needs more seeds


def test_an_undetected_control_says_how_many_seeds_would_reach_its_planted_effect():
    from avfh_core.reproduce.audit import audit_controls
    from avfh_core.reproduce.tables import load_tables

    paper = load_tables("vfhgan")
    seeds = {"ours": {"psnr": [24.0, 25.2, 23.9]}, "handicapped": {"psnr": [24.4, 23.6, 24.0]}}
    sc = {"config": {"preset": "course", "seed": 0}, "metrics": {"controls_seeds": seeds}}
    rec = next(r for r in audit_controls(paper, [sc]) if r["id"] == "ours_beats_handicapped")
    assert not rec["detected"] and rec["seeds_needed"] > 3
    strong = {"ours": {"psnr": [24.5, 24.6, 24.55]}, "handicapped": {"psnr": [24.0, 24.1, 24.05]}}
    sc["metrics"]["controls_seeds"] = strong
    rec = next(r for r in audit_controls(paper, [sc]) if r["id"] == "ours_beats_handicapped")
    assert rec["detected"] and "seeds_needed" not in rec


def test_vfhgan_jaw_control_plants_a_darkening_the_lr_never_shows():
    from avfh_core.config import setup
    from avfh_core.metrics.image import box_mask
    from avfh_core.train import vfhgan

    cfg = setup("smoke", seed=0, device="cpu", window=1, steps=2, batch_size=2, width=8, hr_size=32)
    runs = vfhgan.jaw_control_runs(cfg, "balanced", amount=0.4)
    assert set(runs) == {"jaw_visual", "jaw_audio"}
    assert dict(runs["jaw_audio"].world) == {vfhgan.STILL_MOUTH: True, vfhgan.PLANT_JAW: 0.4}
    assert dict(runs["jaw_audio"].generator) == dict(vfhgan.control_runs(cfg, "balanced")["still_audio"].generator)
    still, _ = vfhgan.eval_set(vfhgan.control_runs(cfg)["still_audio"], cfg)
    jaw, _ = vfhgan.eval_set(vfhgan.jaw_control_runs(cfg)["jaw_audio"], cfg)
    samples = vfhgan.synth.world(cfg).dataset("test", n_clips=cfg.n_eval_clips)
    opened = 0
    for c, (a, b) in enumerate(zip(still.clips, jaw.clips)):
        assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["mel"], b["mel"]) and torch.equal(a["box"], b["box"])
        hr = a["hr"].float() / 255
        inside = box_mask(tuple(hr.shape[-2:]), a["box"]).float()[:, None]
        expect = (hr - vfhgan.JAW_PLANT * samples[c].extras["jaw"].float()[:, None, None, None] * inside).clamp(0, 1)
        assert torch.allclose(b["hr"], expect, atol=1e-6)
        assert torch.equal(b["hr"] * (1 - inside), hr * (1 - inside))  # nothing outside the mouth box moves
        opened += int(float((hr - b["hr"]).abs().max()) > 0.05)
    assert opened > 0  # some mouths open, so the plant is there to be seen
    with pytest.raises(ValueError, match=r"amount must be in \(0, 1\]"):
        vfhgan.plant_jaw(still, [s.extras["jaw"] for s in samples], 1.5)
    with pytest.raises(ValueError, match="clip 0 needs a jaw track of"):
        vfhgan.plant_jaw(still, [None] * len(still.clips), 0.4)
    with pytest.raises(ValueError, match="jaw tracks for"):
        vfhgan.plant_jaw(still, [], 0.4)
    rows = vfhgan.positive_controls(cfg, "balanced", n_seeds=1, families=("jaw",))
    assert set(rows) == {"jaw_visual", "jaw_audio"}
    with pytest.raises(ValueError, match="families must be a non-empty subset"):
        vfhgan.positive_controls(cfg, families=("nope",))


def test_a_claim_needs_one_control_seen_and_none_missed_that_could_have_been_seen():
    pt = parse_tables(TOY, Path("toy.yaml"))
    second = {**CONTROL, "id": "other", "table": "ctl2"}
    controls = parse_controls({"controls": [CONTROL, second]}, "toy.yaml", ["full_psnr"])
    null_claim = sidecar("t", {"base": [20.0, 20.3, 19.8, 20.1], "full": [20.05, 20.3, 19.85, 20.1]})
    seen = sidecar("ctl", {"weak": [20.0, 20.3, 19.8, 20.1], "strong": [21.0, 21.2, 20.9, 21.1]})
    missed = sidecar("ctl2", {"weak": [20.0, 20.3, 19.8, 20.1], "strong": [20.9, 19.6, 21.4, 19.9]})

    def verdict(*scs, ceilings=None):
        scs = list(scs) + ([{"metrics": {"control_ceilings": ceilings}}] if ceilings else [])
        return audit_claims(pt, scs, controls=audit_controls(pt, scs, controls=controls))[0]

    rec = verdict(null_claim, seen)  # the other control not run: the detected one stands for the family
    assert rec["verdict"] == "not reproduced" and "void" not in rec
    rec = verdict(null_claim, seen, missed)  # missed, and nothing says it could not have been seen
    assert rec["verdict"] == "inconclusive" and rec["void"] == "control other not detected"
    rec = verdict(null_claim, seen, missed, ceilings={"other": 0.01})  # missed but too small to be seen
    assert rec["verdict"] == "not reproduced" and "void" not in rec
    rec = verdict(null_claim, missed, ceilings={"other": 0.01})  # nothing detected: every control is named
    assert rec["verdict"] == "inconclusive" and rec["void"] == "control planted not run; control other too small to be seen"


def test_a_claim_beyond_what_the_world_allows_cannot_be_refuted():
    from avfh_core.reproduce.audit import claim_lines

    pt = parse_tables(TOY, Path("toy.yaml"))
    controls = parse_controls({"controls": [CONTROL]}, "toy.yaml", ["full_psnr"])
    null_claim = sidecar("t", {"base": [20.0, 20.3, 19.8, 20.1], "full": [20.05, 20.3, 19.85, 20.1]})
    seen = sidecar("ctl", {"weak": [20.0, 20.3, 19.8, 20.1], "strong": [21.0, 21.2, 20.9, 21.1]})

    def audit(bound):
        scs = [null_claim, seen, {"metrics": {"claim_ceilings": {"full_psnr": bound}}}]
        return audit_claims(pt, scs, controls=audit_controls(pt, scs, controls=controls))[0]

    low = audit(0.06)  # the paper's +2.0 cannot happen here: half of it is out of the world's reach
    assert low["verdict"] == "inconclusive" and low["ceiling"] == 0.06
    assert low["void"] == "the world allows at most +0.060, below half the paper's effect"
    high = audit(1.5)  # the world could show half the paper's effect: the refutation stands, the bound is printed
    assert high["verdict"] == "not reproduced" and "void" not in high
    assert "(the world allows at most +1.500)" in claim_lines([high])[0]
    assert "the world allows at most +0.060" in claim_lines([low])[0]
    with pytest.raises(ValueError, match=r"claim_ceilings\['full_psnr'\] must be a number"):
        audit("x")


def test_a_saved_batch_file_that_is_not_one_is_named(tmp_path):
    from avfh_core.reproduce.audit import audit_batch_file

    pt = parse_tables(TOY, Path("toy.yaml"))
    with pytest.raises(FileNotFoundError, match=r"gone.json: no such batch file \(write one with"):
        audit_batch_file(pt, tmp_path / "gone.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not a JSON batch file"):
        audit_batch_file(pt, tmp_path / "bad.json")
    (tmp_path / "part.json").write_text('{"metrics": {}, "setting": "balanced"}')
    with pytest.raises(ValueError, match=r"part.json: not a batch file: missing \['preset', 'seeds'\]"):
        audit_batch_file(pt, tmp_path / "part.json")
    sc = sidecar("t", {"base": [20.0, 20.3, 19.8, 20.1], "full": [22.05, 22.3, 21.85, 22.1]})
    (tmp_path / "ok.json").write_text(json.dumps({"metrics": sc["metrics"], "setting": "released", "preset": "course",
                                                  "seeds": [0, 1, 2, 3], "steps": 1000, "counts": "stale"}))
    out = audit_batch_file(pt, tmp_path / "ok.json")
    assert out["steps"] == 1000 and out["counts"]["reproduced"] == 1 and out["claims"][0]["n"] == 4


def test_one_sided_power_is_how_often_the_audit_s_own_test_detects_a_true_effect():
    """Normal per-seed differences of known mean and spread, scored by `one_sided_verdict` (paired, one-sided):
    the share detected (lower bound above zero) matches the noncentral-t power, and the power at the MDE is about
    the MDE's 80 %."""
    from avfh_core.metrics.stats import one_sided_power

    rng = np.random.default_rng(0)
    sd, effect = 0.14, 0.15
    for n, alpha in ((3, 0.05), (5, 0.05), (5, 0.025)):
        hits = 0
        for _ in range(2000):
            d = rng.normal(effect, sd, n)
            v = one_sided_verdict(np.zeros(n).tolist(), d.tolist(), paired=True, alpha=alpha)
            hits += v["ci_low"] > 0
        assert abs(hits / 2000 - one_sided_power(effect, sd, n, alpha)) < 0.035, (n, alpha)
        mde = min_detectable_effect(sd / math.sqrt(n), n - 1, alpha)
        assert 0.75 < one_sided_power(mde, sd, n, alpha) < 0.85
    assert one_sided_power(0.0, sd, 5) == pytest.approx(0.05)  # no effect: detected at the test's level
    assert one_sided_power(0.3, sd, 5) > one_sided_power(0.15, sd, 5) > one_sided_power(0.15, sd, 3)
    for bad in ((0.1, 0.0, 5), (0.1, sd, 1), (math.nan, sd, 5), (0.1, sd, 2.5)):
        with pytest.raises(ValueError):
            one_sided_power(*bad)
    with pytest.raises(ValueError):
        one_sided_power(0.1, sd, 5, alpha=1.0)
