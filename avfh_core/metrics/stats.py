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


def _finite(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


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
    """Score a paper's claim "A is better than B" from paired per-clip (or per-seed) scores of A and B, by the
    claims audit's one-sided rule (`one_sided_verdict` with b = A and a = B, so effect = mean(A - B)).

    The claimed direction is the sign of `published_effect` when given (the paper's A - B), else + for
    better="higher" and - for better="lower"; [ci_low, ci_high] are the two one-sided (1 - alpha) bounds.
    - "reproduced": the bound on the claimed side excludes 0 (the effect is there, in the claimed direction);
    - "not reproduced": the other bound lies below half the published effect (below 0 when none is given), so the
      claimed effect is ruled out;
    - "inconclusive": otherwise, and always with fewer than 2 pairs.
    Also returned: the paired two-sided t-test's `t` and `p_value_two_sided` (as SECNet reports them), the one-sided
    `p_value`, the minimum detectable effect `mde` and `why`.
    """
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', got {better!r}")
    x, y = _as_array(a_values, "a_values"), _as_array(b_values, "b_values")
    if x.shape != y.shape:
        raise ValueError(f"a_values and b_values must be paired (same length), got {x.size} and {y.size}")
    test = paired_ttest(x, y)
    v = one_sided_verdict(y.tolist(), x.tolist(), published_effect=published_effect, better=better, alpha=alpha)
    return {**v, "t": test["t"], "p_value_two_sided": test["p_value"]}


def t_quantile(q: float, df: float) -> float:
    """The q-quantile of Student's t with df degrees of freedom."""
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if not df > 0:
        raise ValueError(f"df must be > 0, got {df}")
    return float(_st.t.ppf(q, df))


def min_detectable_effect(se: float | None, df: float | None, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true effect a one-sided level-`alpha` t-test detects with probability `power`, for a mean
    difference with standard error `se` and `df` degrees of freedom: (t_{1-alpha,df} + t_{power,df}) * se
    (paired over n seeds: se = sd of the differences / sqrt(n), df = n - 1). inf when se or df is missing."""
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be in (0, 1), got alpha={alpha}, power={power}")
    if se is None or df is None or df <= 0 or not math.isfinite(se):
        return math.inf
    return (t_quantile(1 - alpha, df) + t_quantile(power, df)) * se


def seeds_needed(sd: float | None, effect: float, alpha: float = 0.05, power: float = 0.8,
                 max_n: int = 100_000) -> int | None:
    """A power calculation from a measured spread: the smallest number of paired seeds n >= 2 whose minimum
    detectable effect, (t_{1-alpha,n-1} + t_{power,n-1}) sd / sqrt(n), is at most `effect` (sd: the standard deviation
    of the per-seed differences). None when it cannot be said (sd missing or not finite, effect <= 0) or when even
    max_n seeds would not do."""
    if sd is None or not math.isfinite(sd) or sd < 0 or not effect > 0:
        return None

    def mde(n: int) -> float:
        return min_detectable_effect(sd / math.sqrt(n), n - 1, alpha, power)

    if mde(2) <= effect:
        return 2
    if mde(max_n) > effect:
        return None
    lo, hi = 2, max_n  # mde(lo) > effect >= mde(hi); the MDE falls with n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if mde(mid) > effect else (lo, mid)
    return hi


def one_sided_power(effect: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """The probability that a paired one-sided level-`alpha` t test over `n` seeds calls a true mean difference
    `effect` (in the claimed direction) detected, when the per-seed differences spread with standard deviation `sd`:
    1 - F(t_{1-alpha,n-1}; n-1, effect sqrt(n) / sd), F the noncentral t's CDF (exact for normal differences; the
    MDE of `min_detectable_effect` is this test's 80 % point in the usual central-t approximation). For planning
    a test from a spread measured before it: how many seeds give it a fair chance."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (a paired t test needs two seeds), got {n!r}")
    if not (math.isfinite(effect) and math.isfinite(sd) and sd > 0):
        raise ValueError(f"effect must be finite and sd finite and > 0, got effect={effect}, sd={sd}")
    df = n - 1
    return float(_st.nct.sf(t_quantile(1 - alpha, df), df, effect * math.sqrt(n) / sd))


def _difference(a: list[float], b: list[float], paired: bool) -> tuple[float, float | None, float | None, int]:
    """(mean of b - a, its standard error, degrees of freedom, n): paired (same seeds, same order) or Welch."""
    if paired:
        d = [y - x for x, y in zip(a, b)]
        n = len(d)
        m = sum(d) / n
        if n < 2:
            return m, None, None, n
        sd = math.sqrt(sum((v - m) ** 2 for v in d) / (n - 1))
        return m, sd / math.sqrt(n), n - 1, n
    m = sum(b) / len(b) - sum(a) / len(a)
    n = min(len(a), len(b))
    if n < 2:
        return m, None, None, n
    va = sum((v - sum(a) / len(a)) ** 2 for v in a) / (len(a) - 1) / len(a)
    vb = sum((v - sum(b) / len(b)) ** 2 for v in b) / (len(b) - 1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return m, 0.0, float(len(a) + len(b) - 2), n
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return m, se, df, n


def one_sided_verdict(a_values: Sequence[float], b_values: Sequence[float], *, published_effect: float | None = None,
                      better: str = "higher", paired: bool = True, alpha: float = 0.05, power: float = 0.8,
                      ) -> dict:
    """Score "b beats a" (the rule: `avfh_core.reproduce.audit`'s module docstring): effect (b - a), the one-sided bounds ci_low/ci_high (in b - a units;
    together a two-sided 1 - 2*alpha interval), the one-sided p-value, mde, refutable, n, paired, verdict."""
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', got {better!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if not len(a_values) or not len(b_values):
        raise ValueError("one_sided_verdict: a_values and b_values must be non-empty")
    if paired and len(a_values) != len(b_values):
        raise ValueError(f"paired values must have the same length, got {len(a_values)} and {len(b_values)}")
    bad = [v for v in (*a_values, *b_values) if not _finite(v)]
    if bad:
        raise ValueError(f"one_sided_verdict: non-finite values {bad}")
    sign = math.copysign(1.0, published_effect) if published_effect else (1.0 if better == "higher" else -1.0)
    effect, se, df, n = _difference([float(v) for v in a_values], [float(v) for v in b_values], paired)
    half = abs(published_effect) / 2 if published_effect else None
    mde = min_detectable_effect(se, df, alpha, power)
    rec: dict = dict(effect=effect, n=n, paired=paired, expected_sign=int(sign), mde=mde, df=df, se=se,
                     refutable=(half is not None and half >= mde))
    if se is None:
        return {**rec, "ci_low": -math.inf, "ci_high": math.inf, "p_value": 1.0, "verdict": "inconclusive",
                "why": "fewer than 2 values per row: inconclusive by construction"}
    if se == 0:
        lo = hi = effect
        p = 0.0 if sign * effect > 0 else 1.0
    else:
        h = t_quantile(1 - alpha, df) * se
        lo, hi = effect - h, effect + h
        p = float(_st.t.sf(sign * effect / se, df))
    lo_dir, hi_dir = (lo, hi) if sign > 0 else (-hi, -lo)  # bounds in the claimed direction
    if lo_dir > 0:
        verdict, why = "reproduced", "the one-sided bound excludes 0 in the claimed direction"
    elif hi_dir < (half if half is not None else 0.0):
        verdict = "not reproduced"
        why = ("the one-sided bound rules out half the published effect" if half is not None
               else "the one-sided bound rules out any effect in the claimed direction")
    else:
        verdict = "inconclusive"
        why = "the interval contains 0 and does not rule out half the published effect"
    return {**rec, "ci_low": lo, "ci_high": hi, "p_value": p, "verdict": verdict, "why": why}
