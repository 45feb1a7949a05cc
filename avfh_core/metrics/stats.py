"""Significance over clips or seeds, and the claim verdicts of the claims audit.

SECNet (Fang et al., section III-C, Tables II-IV) reports the t-statistic F_t and p-value F_p of a t-test between
each method and its own; we do the same (paired over clips or seeds) and add confidence intervals, so that each
claim of a paper ("A beats B") gets a verdict with its numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats as _st

VERDICTS = ("reproduced", "not reproduced", "inconclusive")


def _as_array(values, name: str) -> np.ndarray:
    try:
        a = np.asarray([float(v) for v in np.asarray(values, dtype=object).reshape(-1)], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a sequence of numbers ({e})") from None
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values: {a.tolist()}")
    return a


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> dict:
    """Paired t-test of a against b (same clips or seeds, same order): {t, p_value, df, n, mean_diff}.

    Two-sided. With n < 2 or zero variance of the differences, t and p follow the limits (p = 1 for no difference,
    p = 0 for a constant non-zero difference) rather than NaN.
    """
    x, y = _as_array(a, "a"), _as_array(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must be paired (same length), got {x.size} and {y.size}")
    d = x - y
    n = d.size
    mean = float(d.mean())
    if n < 2:
        return dict(t=math.nan, p_value=1.0, df=0, n=n, mean_diff=mean)
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return dict(t=math.copysign(math.inf, mean) if mean else 0.0, p_value=0.0 if mean else 1.0,
                    df=n - 1, n=n, mean_diff=mean)
    t = mean / (sd / math.sqrt(n))
    p = float(2 * _st.t.sf(abs(t), df=n - 1))
    return dict(t=float(t), p_value=p, df=n - 1, n=n, mean_diff=mean)


def t_interval(diffs: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of paired differences (matches the t-test: excludes 0 iff p < 1-conf)."""
    d = _as_array(diffs, "diffs")
    if d.size < 2:
        return (-math.inf, math.inf)
    m, se = float(d.mean()), float(d.std(ddof=1)) / math.sqrt(d.size)
    h = float(_st.t.ppf(0.5 + confidence / 2, df=d.size - 1)) * se
    return (m - h, m + h)


def bootstrap_ci(values: Sequence[float], *, statistic: Callable[[np.ndarray], float] = np.mean,
                 confidence: float = 0.95, n_boot: int = 10000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of `statistic` over `values` (e.g. per-clip differences).

    Deterministic for a given seed. With one value the interval is (-inf, inf): one clip says nothing.
    """
    v = _as_array(values, "values")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if v.size < 2:
        return (-math.inf, math.inf)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    boots = np.apply_along_axis(statistic, 1, v[idx]) if statistic is not np.mean else v[idx].mean(axis=1)
    lo, hi = np.quantile(boots, [(1 - confidence) / 2, (1 + confidence) / 2])
    return (float(lo), float(hi))


def claim_verdict(a_values: Sequence[float], b_values: Sequence[float], better: str = "higher",
                  published_effect: float | None = None, alpha: float = 0.05) -> dict:
    """Score a paper's claim "A is better than B" from paired per-clip (or per-seed) scores of A and B.

    effect = mean(a - b) in the metric's units; [ci_low, ci_high] its two-sided (1 - alpha) Student-t interval;
    p_value the paired t-test's. The expected sign is the sign of `published_effect` when given (the paper's
    A - B), else + for better="higher" and - for better="lower". The rule:
    - n = 1 (or fewer pairs than 2): "inconclusive", always;
    - "reproduced": the interval excludes 0 (p < alpha) and the effect has the expected sign;
    - "not reproduced": the interval excludes 0 with the opposite sign; or n >= 3, a published effect is given
      and the interval lies inside +-|published_effect|/2 (an effect half the published size is ruled out);
    - "inconclusive": otherwise (the interval contains 0 and is too wide to rule the published effect out).
    """
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', got {better!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    x, y = _as_array(a_values, "a_values"), _as_array(b_values, "b_values")
    if x.shape != y.shape:
        raise ValueError(f"a_values and b_values must be paired (same length), got {x.size} and {y.size}")
    test = paired_ttest(x, y)
    n, effect = test["n"], test["mean_diff"]
    lo, hi = t_interval(x - y, 1 - alpha) if n >= 2 else (-math.inf, math.inf)
    if n >= 2 and np.all(x - y == effect):  # zero variance: the interval collapses to the point
        lo = hi = effect
    if published_effect is not None and published_effect != 0:
        sign = math.copysign(1.0, published_effect)
    else:
        sign = 1.0 if better == "higher" else -1.0
    excludes_zero = n >= 2 and (lo > 0 or hi < 0)
    if n < 2:
        verdict = "inconclusive"
    elif excludes_zero and math.copysign(1.0, effect) == sign:
        verdict = "reproduced"
    elif excludes_zero:
        verdict = "not reproduced"
    elif n >= 3 and published_effect is not None and max(abs(lo), abs(hi)) < abs(published_effect) / 2:
        verdict = "not reproduced"
    else:
        verdict = "inconclusive"
    return dict(effect=effect, ci_low=lo, ci_high=hi, p_value=test["p_value"], t=test["t"], n=n,
                expected_sign=int(sign), verdict=verdict)
