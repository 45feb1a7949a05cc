"""Significance tests and the claim verdict rule."""

import math

import numpy as np
import pytest
from scipy import stats

from avfh_core.metrics.stats import bootstrap_ci, claim_verdict, one_sided_verdict, paired_ttest, t_interval
from avfh_core.reproduce import audit


def test_paired_ttest_matches_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(30, 1, 20)
    b = a - 0.3 + rng.normal(0, 0.2, 20)
    ours = paired_ttest(a, b)
    ref = stats.ttest_rel(a, b)
    assert ours["t"] == pytest.approx(ref.statistic) and ours["p_value"] == pytest.approx(ref.pvalue)
    assert ours["n"] == 20 and ours["mean_diff"] == pytest.approx(float(np.mean(a - b)))


def test_intervals():
    rng = np.random.default_rng(2)
    d = rng.normal(1.0, 1.0, 50)
    lo, hi = bootstrap_ci(d, seed=0)
    assert lo < d.mean() < hi and bootstrap_ci(d, seed=0) == (lo, hi)
    tlo, thi = t_interval(d)
    assert abs(tlo - lo) < 0.15 and abs(thi - hi) < 0.15
    assert bootstrap_ci([1.0]) == (-math.inf, math.inf)
    assert bootstrap_ci(d, statistic=np.median)[0] < np.median(d)


def test_verdicts():
    rng = np.random.default_rng(3)
    b = rng.normal(30, 1, 10)
    better = b + 0.5 + rng.normal(0, 0.05, 10)
    assert claim_verdict(better, b)["verdict"] == "reproduced"
    assert claim_verdict(b, better)["verdict"] == "not reproduced"  # significant, wrong sign
    assert claim_verdict(better, b, better="lower")["verdict"] == "not reproduced"
    same = b + rng.normal(0, 0.01, 10)
    assert claim_verdict(same, b, published_effect=0.5)["verdict"] == "not reproduced"  # tight around 0
    assert claim_verdict(same, b)["verdict"] == "inconclusive"  # no published size to rule out
    wide = b + rng.normal(0, 3, 10)
    v = claim_verdict(wide, b, published_effect=0.5)
    assert v["verdict"] == "inconclusive" and v["ci_low"] < 0 < v["ci_high"]
    one = claim_verdict([31.0], [30.0], published_effect=1.0)
    assert one["verdict"] == "inconclusive" and one["n"] == 1
    const = claim_verdict([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert const["verdict"] == "reproduced" and const["ci_low"] == const["ci_high"] == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match="paired"):
        claim_verdict([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="better"):
        claim_verdict([1, 2], [1, 2], better="up")
    with pytest.raises(ValueError, match="NaN"):
        paired_ttest([1, float("nan")], [1, 2])


def test_claim_verdict_is_the_audits_one_sided_rule():
    """The in-notebook verdicts and the claims audit use one rule: claim_verdict(A, B) scores "A beats B" exactly
    as the audit scores b = A against a = B (the old two-sided rule called a one-sided effect at p = 0.03
    "inconclusive")."""
    assert audit.one_sided_verdict is one_sided_verdict
    rng = np.random.default_rng(7)
    b = rng.normal(30, 1, 8)
    for shift in (-0.4, 0.0, 0.15, 0.4):
        a = b + shift + rng.normal(0, 0.3, 8)
        for pub in (None, 0.5, -0.5):
            ours = claim_verdict(a, b, published_effect=pub)
            ref = one_sided_verdict(b.tolist(), a.tolist(), published_effect=pub)
            assert ours["verdict"] == ref["verdict"] and ours["mde"] == pytest.approx(ref["mde"])
            assert ours["effect"] == pytest.approx(float(np.mean(a - b)))
    # one-sided p between 0.025 and 0.05: reproduced now, where the two-sided 95% interval still contained 0
    d = np.array([0.9, -0.4, 1.1, 0.2, 0.8, -0.3, 0.7, 0.1])
    two = paired_ttest(b + d, b)
    one = claim_verdict(b + d, b)
    assert 0.05 < two["p_value"] < 0.1 and one["verdict"] == "reproduced" and one["p_value"] < 0.05
