"""The claims audit: every quantitative claim of a paper, its published effect, our effect over seeds, a verdict.

Honest by construction: it only reads numbers that notebooks logged in their sidecars and the paper's numbers
transcribed in `tables/<paper>.yaml`; it never writes a number anywhere but the report.

Where our numbers come from. A notebook that rebuilds a paper's table logs `<table>` = {row: {metric: mean}} and,
for the audit, `<table>_seeds` = {row: {metric: [one value per seed]}}. The per-seed lists of one run are seeds
config.seed, config.seed + 1, ... (or the explicit `<table>_seed_ids` = [ids] when a notebook logs them); across
the runs of a sweep a seed seen twice (same configuration) is counted once. A run that logged only the means
contributes one value per run, seeded by its config.seed. Claim verdicts are
`avfh_core.metrics.stats.claim_verdict` on the paired per-seed values of the claim's rows (b - a, as the paper's
`published_effect`); a claim whose rows or metric no run produced is "not run".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from avfh_core.metrics.stats import claim_verdict
from avfh_core.reproduce.tables import PaperTables

NOT_RUN = "not run"


def _seed_ids(sidecar: Mapping[str, Any], table: str, n: int) -> list[Any]:
    metrics = sidecar.get("metrics", {})
    ids = metrics.get(f"{table}_seed_ids")
    if isinstance(ids, list) and len(ids) == n:
        return ids
    seed = (sidecar.get("config") or {}).get("seed")
    if isinstance(seed, int):
        return [seed + k for k in range(n)]
    return [f"{sidecar.get('_source', id(sidecar))}#{k}" for k in range(n)]


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def collect_table(sidecars: Iterable[Mapping[str, Any]], table: str) -> dict[str, dict[str, dict[Any, float]]]:
    """{row: {metric: {seed_id: value}}} from every sidecar that logged `table` (per-seed lists preferred)."""
    out: dict[str, dict[str, dict[Any, float]]] = {}
    for sc in sidecars:
        metrics = sc.get("metrics", {}) or {}
        per_seed = metrics.get(f"{table}_seeds")
        means = metrics.get(table)
        if isinstance(per_seed, dict) and per_seed:
            for row, by_metric in per_seed.items():
                if not isinstance(by_metric, dict):
                    continue
                for metric, values in by_metric.items():
                    if not isinstance(values, list):
                        continue
                    ids = _seed_ids(sc, table, len(values))
                    cell = out.setdefault(row, {}).setdefault(metric, {})
                    for sid, v in zip(ids, values):
                        if _finite(v):
                            cell.setdefault(sid, float(v))
        elif isinstance(means, dict):
            (sid,) = _seed_ids(sc, table, 1)
            for row, by_metric in means.items():
                if not isinstance(by_metric, dict):
                    continue
                for metric, v in by_metric.items():
                    if _finite(v):
                        out.setdefault(row, {}).setdefault(metric, {}).setdefault(sid, float(v))
    return out


def summarize(values: Mapping[Any, float]) -> dict[str, float | int | None]:
    """mean, sample sd (None for n < 2) and n of one cell's per-seed values."""
    v = list(values.values())
    if not v:
        return {"mean": None, "sd": None, "n": 0}
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None
    return {"mean": m, "sd": sd, "n": len(v)}


def audit_claims(paper: PaperTables, sidecars: list[Mapping[str, Any]], alpha: float = 0.05) -> list[dict[str, Any]]:
    """One record per claim of `paper`: the claim, published effect, ours (effect, CI, p, n) and the verdict."""
    cache: dict[str, dict] = {}
    records = []
    for c in paper.claims:
        rec: dict[str, Any] = {"id": c.id, "text": c.text, "table": c.table, "metric": c.metric, "a": c.a, "b": c.b,
                               "better": c.better, "published_effect": c.published_effect}
        data = cache.setdefault(c.table, collect_table(sidecars, c.table))
        va = data.get(c.a, {}).get(c.metric, {})
        vb = data.get(c.b, {}).get(c.metric, {})
        seeds = [s for s in va if s in vb]  # paired: the same seeds for both rows
        if not seeds:
            records.append({**rec, "verdict": NOT_RUN, "n": 0, "reason": _missing(c, va, vb)})
            continue
        a_vals, b_vals = [va[s] for s in seeds], [vb[s] for s in seeds]
        v = claim_verdict(b_vals, a_vals, better=c.better, published_effect=c.published_effect, alpha=alpha)
        records.append({**rec, **v, "seeds": seeds, "ours_a": summarize(dict(zip(seeds, a_vals)))["mean"],
                        "ours_b": summarize(dict(zip(seeds, b_vals)))["mean"]})
    return records


def _missing(c, va, vb) -> str:
    gone = [r for r, v in ((c.a, va), (c.b, vb)) if not v]
    if gone:
        return f"no run logged {c.table} row(s) {gone} with {c.metric}"
    return "the two rows share no seed"


def verdict_counts(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = {"reproduced": 0, "not reproduced": 0, "inconclusive": 0, NOT_RUN: 0}
    for r in records:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return counts


__all__ = ["collect_table", "summarize", "audit_claims", "verdict_counts", "NOT_RUN"]
