"""The claims audit: every quantitative claim of a paper, its published effect, our effect over seeds, a verdict,
the smallest effect our seeds could have detected, and the positive controls that show the instrument works.

Honest by construction: it only reads numbers that notebooks logged in their sidecars and the paper's numbers
transcribed in `tables/<paper>.yaml`; it never writes a number anywhere but the report.

Where our numbers come from. A notebook that rebuilds a paper's table logs `<table>` = {row: {metric: mean}} and,
for the audit, `<table>_seeds` = {row: {metric: [one value per seed]}}. The per-seed lists of one run are seeds
config.seed, config.seed + 1, ... (or the explicit `<table>_seed_ids` = [ids] when a notebook logs them); across
the runs of a sweep a seed seen twice (same configuration) is counted once. A run that logged only the means
contributes one value per run, seeded by its config.seed. A claim whose rows or metric no run produced is "not run".

The verdict (`one_sided_verdict`), for a claim "b beats a by d_pub" (d_pub = the paper's b - a; its sign is the
claimed direction, else `better`): with D = the mean difference b - a over seeds, turned so that positive is the
claimed direction, and [L, U] its two one-sided (1 - alpha) Student-t bounds (paired over the seeds both rows share;
Welch's unpaired interval when they share fewer than 2 seeds),
- "reproduced" when L > 0 (the effect is there, in the claimed direction);
- "not reproduced" only when U < |d_pub| / 2 (half the published effect is ruled out; an interval that reaches far
  in the wrong direction is evidence against the claim, not a reason to withhold the verdict);
- "inconclusive" otherwise, and always with fewer than 2 values per row or on the smoke preset (by construction).
Beside it, the minimum detectable effect `mde` = (t_{1-alpha,df} + t_{power,df}) * se: the effect a one-sided
level-alpha test detects with probability `power` at the observed seed spread. When |d_pub| / 2 < mde the claim
could not have been refuted at this many seeds (`refutable` False).

Positive controls (the YAML's `controls:` section): planted effects scored by the same rule, each covering a family
of claims (`claims: [ids]`). A control is "detected" when its verdict is "reproduced". A claim can be "not
reproduced" only when the instrument was shown to see its family's effects in the same runs: at least one of its
controls detected, and none of them missed. A control that was run, could have been seen (its ceiling, where one is
logged, is not below its MDE) and was not detected shows the instrument blind to that family, whatever the others
show; a control that was not run, or whose ceiling is below its MDE ("too small to be seen"), says nothing about
the instrument either way. Otherwise the verdict becomes "inconclusive", with `void` saying why.

A claim can also be out of reach of the world it is tested in: a notebook that can bound the largest effect the
world allows on a claim's metric logs it as `claim_ceilings` = {claim id: bound} (e.g. what perfect knowledge of the
mouth's articulation could add to a full frame's PSNR). A "not reproduced" whose ceiling is below half the
published effect is void too: the world, not the method, rules the effect out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from avfh_core.metrics.stats import (  # noqa: F401
    _difference,
    _finite,
    min_detectable_effect,
    one_sided_verdict,
    seeds_needed,
    t_quantile,
)
from avfh_core.reproduce.tables import PaperTables

NOT_RUN = "not run"
NO_MAGNITUDE = ("no published magnitude: scored by direction and significance only (refuted only by a "
                "significant effect in the opposite direction)")


def _seed_ids(sidecar: Mapping[str, Any], table: str, n: int) -> list[Any]:
    metrics = sidecar.get("metrics", {})
    ids = metrics.get(f"{table}_seed_ids")
    if isinstance(ids, list) and len(ids) == n:
        return ids
    seed = (sidecar.get("config") or {}).get("seed")
    if isinstance(seed, int):
        return [seed + k for k in range(n)]
    return [f"{sidecar.get('_source', id(sidecar))}#{k}" for k in range(n)]


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


CONTROL_KEYS = ("id", "family", "text", "table", "metric", "better", "a", "b", "planted_effect", "claims")


def parse_controls(data: Any, where: Any, claim_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The `controls:` section of a tables file, validated (errors name the file and the control)."""
    known = set(claim_ids)
    items = (data or {}).get("controls") if isinstance(data, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValueError(f"{where}: controls must be a list of mappings with keys {list(CONTROL_KEYS)}")
    out, seen = [], set()
    for i, c in enumerate(items):
        if not isinstance(c, dict):
            raise ValueError(f"{where}: controls[{i}] must be a mapping with keys {list(CONTROL_KEYS)}")
        missing = [k for k in CONTROL_KEYS if k not in c]
        if missing:
            raise ValueError(f"{where}: controls[{i}] ({c.get('id', '?')}) is missing {missing}")
        cid = str(c["id"])
        if cid in seen:
            raise ValueError(f"{where}: controls: duplicate id {cid!r}")
        seen.add(cid)
        if c["better"] not in ("higher", "lower"):
            raise ValueError(f"{where}: control {cid}: better must be 'higher' or 'lower', got {c['better']!r}")
        pe = c["planted_effect"]
        if pe is not None and not _finite(pe):
            raise ValueError(f"{where}: control {cid}: planted_effect must be a number or null, got {pe!r}")
        if not isinstance(c["claims"], list) or not c["claims"]:
            raise ValueError(f"{where}: control {cid}: claims must be a non-empty list of claim ids")
        unknown = [x for x in c["claims"] if x not in known]
        if unknown:
            raise ValueError(f"{where}: control {cid}: unknown claim id(s) {unknown}; claims are {sorted(known)}")
        out.append({k: c[k] for k in CONTROL_KEYS})
    return out


def load_controls(paper: PaperTables) -> list[dict[str, Any]]:
    """The positive controls declared in the paper's tables file (none when it has no `controls:` section)."""
    if paper.source is None or not Path(paper.source).is_file():
        return []
    data = yaml.safe_load(Path(paper.source).read_text())
    return parse_controls(data, paper.source, [c.id for c in paper.claims])


def presets_of(sidecars: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str((sc.get("config") or {}).get("preset")) for sc in sidecars if (sc.get("config") or {}).get("preset")}


def _score(spec: Mapping[str, Any], data: Mapping, alpha: float, power: float, effect_key: str) -> dict[str, Any]:
    va = data.get(spec["a"], {}).get(spec["metric"], {})
    vb = data.get(spec["b"], {}).get(spec["metric"], {})
    if not va or not vb:
        gone = [r for r, v in ((spec["a"], va), (spec["b"], vb)) if not v]
        return {"verdict": NOT_RUN, "n": 0, "reason": f"no run logged {spec['table']} row(s) {gone} with {spec['metric']}"}
    seeds = [s for s in va if s in vb]  # paired: the same seeds for both rows
    paired = len(seeds) >= 2 or (len(seeds) == 1 and (len(va) < 2 or len(vb) < 2))
    if paired:
        a_vals, b_vals = [va[s] for s in seeds], [vb[s] for s in seeds]
    else:
        a_vals, b_vals, seeds = list(va.values()), list(vb.values()), sorted(set(va) | set(vb), key=str)
    v = one_sided_verdict(a_vals, b_vals, published_effect=spec[effect_key], better=spec["better"], paired=paired,
                          alpha=alpha, power=power)
    return {**v, "seeds": seeds, "ours_a": sum(a_vals) / len(a_vals), "ours_b": sum(b_vals) / len(b_vals)}


def audit_controls(paper: PaperTables, sidecars: list[Mapping[str, Any]], alpha: float = 0.05,
                   power: float = 0.8, controls: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One record per positive control: the planted effect, ours, the verdict and `detected`.

    A notebook that can bound a control's largest possible effect from the world (e.g. `reproduce.headroom`: what
    perfect use of the audio could add to the mouth) logs it as `control_ceilings` = {control id: bound}; the
    record then carries `ceiling`, and `too_small` when the control was not detected and its bound is below the
    MDE: at this scale and seed count it could not have been seen, whatever the instrument.

    A control that was not detected also carries `seeds_needed`, where it can be said: the paired seeds whose MDE
    at the measured spread reaches the planted effect (or, with only a sign planted, the ceiling). It is a power
    calculation from this run's spread, not a promise: more seeds detect the control only if the effect is there."""
    controls = load_controls(paper) if controls is None else controls
    ceilings = control_ceilings(sidecars)
    cache: dict[str, dict] = {}
    out = []
    for c in controls:
        data = cache.setdefault(c["table"], collect_table(sidecars, c["table"]))
        rec = {**c, **_score(c, data, alpha, power, "planted_effect")}
        rec["detected"] = rec["verdict"] == "reproduced"
        if c["id"] in ceilings:
            rec["ceiling"] = ceilings[c["id"]]
            mde = rec.get("mde")
            rec["too_small"] = bool(not rec["detected"] and mde is not None and _finite(mde)
                                    and rec["ceiling"] < mde)
        target = c.get("planted_effect") if c.get("planted_effect") is not None else rec.get("ceiling")
        se = rec.get("se")
        if (not rec["detected"] and rec.get("paired") and target is not None and _finite(target) and se is not None
                and _finite(se)):
            rec["seeds_needed"] = seeds_needed(se * math.sqrt(rec["n"]), abs(float(target)), alpha, power)
        out.append(rec)
    return out


def control_ceilings(sidecars: Iterable[Mapping[str, Any]], key: str = "control_ceilings") -> dict[str, float]:
    """{control id: the largest effect it could show} from the sidecars' `control_ceilings` (the smallest bound
    wins where several runs logged one); non-numbers are an error that names the control. With key=
    "claim_ceilings": the same for claims ({claim id: the largest effect the world allows})."""
    out: dict[str, float] = {}
    for sc in sidecars:
        logged = (sc.get("metrics") or {}).get(key) or {}
        if not isinstance(logged, Mapping):
            raise ValueError(f"{key} must be a mapping {{id: bound}}, got {type(logged).__name__}")
        for cid, v in logged.items():
            if not isinstance(v, int | float) or isinstance(v, bool) or math.isnan(v):
                raise ValueError(f"{key}[{cid!r}] must be a number, got {v!r}")
            out[cid] = min(float(v), out.get(cid, math.inf))
    return out


def _blocking(mine: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The controls of one claim that void its "not reproduced" (see the module docstring): every missed control
    that could have been seen; when none of them was detected, all of them."""
    missed = [k for k in mine if not k["detected"] and k["verdict"] != NOT_RUN and not k.get("too_small")]
    if missed or any(k["detected"] for k in mine):
        return missed
    return list(mine)


def audit_claims(paper: PaperTables, sidecars: list[Mapping[str, Any]], alpha: float = 0.05, power: float = 0.8,
                 controls: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One record per claim of `paper`: the claim, published effect, ours (effect, one-sided bounds, p, n, mde) and
    the verdict. `controls`: the records of `audit_controls` (default: scored here from the same sidecars); a
    "not reproduced" whose control was not detected is made "inconclusive" with `void` saying why."""
    controls = audit_controls(paper, sidecars, alpha, power) if controls is None else controls
    world_bounds = control_ceilings(sidecars, "claim_ceilings")
    smoke = "smoke" in presets_of(sidecars)
    cache: dict[str, dict] = {}
    records = []
    for c in paper.claims:
        rec: dict[str, Any] = {"id": c.id, "text": c.text, "table": c.table, "metric": c.metric, "a": c.a, "b": c.b,
                               "better": c.better, "published_effect": c.published_effect}
        data = cache.setdefault(c.table, collect_table(sidecars, c.table))
        rec.update(_score(rec, data, alpha, power, "published_effect"))
        if c.published_effect is None:  # a directional claim (e.g. read off a figure): nothing to compare a size to
            rec["magnitude"] = NO_MAGNITUDE
        mine = [k for k in controls if c.id in k["claims"]]
        if mine:
            rec["controls"] = [k["id"] for k in mine]
        if rec["verdict"] == NOT_RUN:
            if c.untestable:
                rec["reason"] = c.untestable
            records.append(rec)
            continue
        if smoke:
            rec["why"] = f"smoke preset (n={rec['n']}): inconclusive by construction; the statistics above would say " \
                         f"{rec['verdict']!r}"
            rec["verdict"] = "inconclusive"
        voids = [f"control {k['id']} " + ("not run" if k["verdict"] == NOT_RUN else "too small to be seen"
                                          if k.get("too_small") else "not detected") for k in _blocking(mine)]
        if c.id in world_bounds:
            rec["ceiling"] = world_bounds[c.id]
            if c.published_effect is not None and rec["ceiling"] < abs(c.published_effect) / 2:
                voids.append(f"the world allows at most {rec['ceiling']:+.3f}, below half the paper's effect")
        if rec["verdict"] == "not reproduced" and voids:
            rec["void"] = "; ".join(voids)
            rec["verdict"] = "inconclusive"
            rec["why"] = f"'not reproduced' is void: {rec['void']}"
        records.append(rec)
    return records


def audit_batch_file(paper: PaperTables, path: str | Path, alpha: float = 0.05, power: float = 0.8) -> dict[str, Any]:
    """Re-audit a saved batch (the JSON `benchmarks/vfhgan_power.py --out` writes: its per-seed `metrics`, with the
    world's bounds it logged, and `setting`, `preset`, `steps`, `seeds`) with the current claims, controls and rule:
    {"controls", "claims" (those the batch ran), "counts", and the batch's own fields}. The stored verdicts are not
    read, so a batch never shows a rule older than the audit's. Errors name the file and what is wrong."""
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such batch file (write one with benchmarks/vfhgan_power.py --out)")
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a JSON batch file ({type(e).__name__}: {e})") from None
    missing = [k for k in ("metrics", "setting", "preset", "seeds") if not isinstance(saved, dict) or k not in saved]
    if missing or not isinstance(saved["metrics"], dict):
        raise ValueError(f"{path}: not a batch file: missing {missing or ['metrics (a mapping)']}")
    seeds = saved["seeds"]
    sidecar = {"config": {"preset": saved["preset"], "seed": seeds[0] if seeds else 0}, "metrics": saved["metrics"],
               "_source": str(path)}
    controls = audit_controls(paper, [sidecar], alpha, power)
    claims = [c for c in audit_claims(paper, [sidecar], alpha, power, controls=controls) if c["verdict"] != NOT_RUN]
    return {**{k: v for k, v in saved.items() if k not in ("controls", "claims", "counts")},
            "controls": controls, "claims": claims, "counts": verdict_counts(claims)}


def verdict_counts(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = {"reproduced": 0, "not reproduced": 0, "inconclusive": 0, NOT_RUN: 0}
    for r in records:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return counts


def _num(x: Any, spec: str) -> str:
    """A number for an audit line: 'n/a' for a missing one (None, NaN), 'inf' for an unbounded MDE."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return format(x, spec)


def _width(records: Sequence[Mapping[str, Any]]) -> int:
    return max([len(str(r["id"])) for r in records] + [8])


def control_lines(controls: Sequence[Mapping[str, Any]], digits: int = 3, prefix: str = "") -> list[str]:
    """One line per record of `audit_controls`: detected or not, ours with its one-sided interval, n, the MDE and
    the planted effect ("sign only" where the YAML plants no size)."""
    w, d = _width(controls), digits
    lines = []
    for k in controls:
        if k["verdict"] == NOT_RUN:
            lines.append(f"{prefix}control {k['id']:{w}s} not run ({k.get('reason', '')})")
            continue
        planted = "sign only" if k.get("planted_effect") is None else f"{k['planted_effect']:+.{d}f}"
        if "ceiling" in k:
            planted += f", at most {_num(k['ceiling'], f'+.{d}f')}" + (
                " (< MDE: too small to be seen at this scale and n)" if k.get("too_small") else "")
        lines.append(f"{prefix}control {k['id']:{w}s} {'detected' if k['detected'] else 'NOT detected':12s} ours "
                     f"{_num(k['effect'], f'+.{d}f')} [{_num(k['ci_low'], f'+.{d}f')}, {_num(k['ci_high'], f'+.{d}f')}] "
                     f"n={k['n']} MDE {_num(k['mde'], f'.{d}f')}  planted {planted}")
    return lines


def claim_lines(claims: Sequence[Mapping[str, Any]], digits: int = 3, prefix: str = "") -> list[str]:
    """One line per record of `audit_claims`: verdict, ours with its one-sided interval, p, n, the MDE, the paper's
    effect ("none" for a directional claim), whether half the paper's effect was refutable at this n, the world's
    bound on the effect where one was logged, and why a "not reproduced" was voided; a claim not run says why (untestable here, or no run logged its rows)."""
    w, d = _width(claims), digits
    lines = []
    for c in claims:
        if c["verdict"] == NOT_RUN:
            lines.append(f"{prefix}{c['id']:{w}s} not run: {c.get('reason', '')}")
            continue
        paper = "none (a direction)" if c.get("published_effect") is None else f"{c['published_effect']:+.{d}f}"
        flag = "" if c.get("refutable", True) or c.get("published_effect") is None else \
            "  (|paper|/2 < MDE: not refutable at this n)"
        void = f"  [{c['void']}]" if c.get("void") else ""
        if "ceiling" in c and "the world allows" not in void:
            flag += f"  (the world allows at most {_num(c['ceiling'], f'+.{d}f')})"
        lines.append(f"{prefix}{c['id']:{w}s} {c['verdict']:15s} ours {_num(c['effect'], f'+.{d}f')} "
                     f"[{_num(c['ci_low'], f'+.{d}f')}, {_num(c['ci_high'], f'+.{d}f')}] p={_num(c.get('p_value'), '.3f')} "
                     f"n={c['n']} MDE {_num(c['mde'], f'.{d}f')}   paper {paper}{flag}{void}")
    return lines


_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|inf|n/a)"
AUDIT_LINE = re.compile(
    rf"^(?P<prefix>.*?)(?P<control>control )?(?P<id>[\w.-]+)\s+"
    rf"(?P<verdict>not reproduced|reproduced|inconclusive|NOT detected|detected)\s+"
    rf"ours (?P<effect>{_NUMBER}) \[(?P<ci_low>{_NUMBER}), (?P<ci_high>{_NUMBER})\]"
    rf"(?: p=(?P<p_value>{_NUMBER}))? n=(?P<n>\d+) MDE (?P<mde>{_NUMBER})")


def _parsed(x: str | None) -> float | None:
    return None if x is None or x == "n/a" else float(x)


def parse_audit_lines(lines: Iterable[str]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """The inverse of `control_lines` and `claim_lines`, for audits only printed (a notebook's stored outputs, where
    no sidecar was kept): {(prefix, "control" or "claim", id): [one record per line, in order]} with the verdict
    ("detected" / "NOT detected" for a control), effect, ci_low, ci_high, p_value (claims), n and mde, as printed
    (so to the printed digits). The prefix is stripped ("rel", "" for none); lines of "not run" and any other text
    are skipped. A notebook that prints the same audit twice gives two records under one key."""
    out: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for line in lines:
        m = AUDIT_LINE.match(line)
        if not m:
            continue
        kind = "control" if m["control"] else "claim"
        if (kind == "control") != m["verdict"].endswith("detected"):
            continue  # a claim id followed by a control's word, or the reverse: not an audit line
        rec = {k: _parsed(m[k]) for k in ("effect", "ci_low", "ci_high", "p_value", "mde")}
        rec.update(verdict=m["verdict"], n=int(m["n"]))
        out.setdefault((m["prefix"].strip(), kind, m["id"]), []).append(rec)
    return out


def print_audit(controls: Sequence[Mapping[str, Any]], claims: Sequence[Mapping[str, Any]], digits: int = 3,
                prefix: str = "") -> dict[str, int]:
    """What every claims notebook prints: the control lines, the claim lines and the verdict counts (returned);
    `prefix` starts every line (e.g. the weight setting)."""
    for line in control_lines(controls, digits, prefix) + claim_lines(claims, digits, prefix):
        print(line)
    counts = verdict_counts(claims)
    print(f"{prefix}verdicts:", counts)
    return counts


__all__ = ["collect_table", "summarize", "audit_claims", "audit_controls", "load_controls", "parse_controls",
           "min_detectable_effect", "one_sided_verdict", "t_quantile", "verdict_counts", "NOT_RUN", "NO_MAGNITUDE",
           "claim_lines", "control_lines", "control_ceilings", "print_audit", "audit_batch_file",
           "parse_audit_lines"]
