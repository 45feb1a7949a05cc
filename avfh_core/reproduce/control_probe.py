"""The saved rows of the still-mouth control probe (`benchmarks/vfhgan_audio_control.py --out`), scored.

A probe row is one trained model of the control's (the visual-only row, the speech-fed row, the oracle row) at one
seed, under one set of probe options; long probes run one row per process, so their rows are saved one file per
process and gathered here. The score pairs the rows by seed and applies the audit's own test
(`metrics.stats.one_sided_verdict`, paired, one-sided): the control (the speech-fed row's held-out mouth PSNR over
the visual-only row's) and the audio use of each row that hears something (intact audio over shuffled and over
silenced, on held-out people and on the people it was trained on). The notebook (`vfhgan/06`) and the benchmark
print the same lines from the same committed files.

Evaluation only: outside the training cache keys.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avfh_core.fsutil import atomic_write
from avfh_core.metrics.stats import min_detectable_effect, one_sided_power, one_sided_verdict, t_quantile

RECORD_KIND = "vfhgan_audio_control"
# the options that change what a row trains (the seed is paired over; which rows a process trains and where it
# writes them change nothing a row learns)
PROBE_OPTIONS = ("preset", "setting", "objective", "mouth_weight", "lip_share", "lip_window", "plant_jaw",
                 "mouth_motion", "audio_gain", "early_fusion", "knobs")
REQUIRED = ("seed", "steps", "row", "probe", "mouth_psnr")


def write_records(path: str | Path, records: Sequence[Mapping[str, Any]]) -> None:
    """All of one process's rows so far, atomically (the file is whole or absent, never half written)."""
    with atomic_write(path) as f:
        f.write((json.dumps({"kind": RECORD_KIND, "records": list(records)}, indent=1) + "\n").encode())


def read_records(paths: Sequence[str | Path]) -> list[dict]:
    """The rows of every file, each tagged with its file. A file that is not the probe's output is a ValueError
    naming it and what is wrong."""
    out = []
    for path in paths:
        try:
            saved = json.loads(Path(path).read_text())
            if not isinstance(saved, dict) or saved.get("kind") != RECORD_KIND:
                raise ValueError(f"its kind is not {RECORD_KIND!r}")
            for r in saved["records"]:
                missing = [k for k in REQUIRED if k not in r]
                if missing:
                    raise KeyError(f"a row lacks {missing}")
                if not isinstance(r["mouth_psnr"], (int, float)) or not math.isfinite(r["mouth_psnr"]):
                    raise ValueError(f"row {r['row']} seed {r['seed']}: mouth PSNR {r['mouth_psnr']!r}")
                out.append({**r, "file": str(path)})
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: not the control probe's output ({type(e).__name__}: {e})") from None
    return out


def probe_label(probe: Mapping[str, Any], steps: int) -> str:
    """The options that differ from the probe's defaults, and the step count: 'preset course, ..., 3000 steps'."""
    def shown(k: str, v: Any) -> bool:
        if v in (None, False, {}) or (k in ("mouth_weight", "mouth_motion") and v == 1):
            return False
        return not ((k == "plant_jaw" and v == 0) or (k == "objective" and v == "setting")
                    or (k == "lip_window" and probe.get("lip_share") is None))

    return ", ".join(f"{k} {v}" for k, v in probe.items() if shown(k, v)) + f", {steps} steps"


def score_records(records: Sequence[Mapping[str, Any]], alpha: float = 0.05,
                  seeds: Sequence[int] | None = None) -> list[dict]:
    """Per probe (its options and step count): {"probe": label, "alpha": alpha, "rows": {row: seeds}, "ceiling_db":
    the world's bound on the control at the visual-only rows' mouth PSNR (their mean; None without one), "tests":
    [{name, seeds, a, b, and one_sided_verdict's record of "b beats a" at level alpha}]}: the control (a the
    visual-only rows, b the speech-fed ones, over the seeds that trained both), then each hearing row's audio use (a
    shuffled or silenced, b intact). `seeds`: score only these seeds' rows (a planned look at part of the saved rows);
    None scores them all. A seed that trained the same row twice under one probe is a ValueError naming both files."""
    if seeds is not None:
        wanted = set(seeds)
        records = [r for r in records if r["seed"] in wanted]
    groups: dict[str, dict] = {}
    for r in records:
        key = json.dumps([r["probe"], r["steps"]], sort_keys=True)
        g = groups.setdefault(key, {"label": probe_label(r["probe"], r["steps"]), "rows": {}})
        prev = g["rows"].setdefault(r["row"], {}).get(r["seed"])
        if prev is not None:
            raise ValueError(f"{r['row']} seed {r['seed']} ({g['label']}) is in both {prev.get('file')} and "
                             f"{r.get('file')}")
        g["rows"][r["row"]][r["seed"]] = r
    out = []
    for g in groups.values():
        rows, tests = g["rows"], []
        vis, aud = rows.get("still_visual", {}), rows.get("still_audio", {})
        both = sorted(set(vis) & set(aud))
        if both:
            tests.append(("control: speech row's mouth PSNR over the visual-only row's", both,
                          [vis[s]["mouth_psnr"] for s in both], [aud[s]["mouth_psnr"] for s in both]))
        for row in ("still_audio", "still_oracle"):
            got = rows.get(row, {})
            for people in ("held_out", "training"):
                heard = sorted(s for s, r in got.items() if people in r.get("audio_use", {}))
                if not heard:
                    continue
                use = [got[s]["audio_use"][people] for s in heard]
                for cond in ("shuffled", "silenced"):
                    tests.append((f"{row} uses its audio ({people.replace('_', '-')} people): intact over {cond}",
                                  heard, [u[cond] for u in use], [u["intact"] for u in use]))
        ceil = [vis[s]["ceiling_db"] for s in sorted(vis) if vis[s].get("ceiling_db") is not None]
        out.append({"probe": g["label"], "alpha": alpha, "rows": {k: sorted(v) for k, v in rows.items()},
                    "ceiling_db": sum(ceil) / len(ceil) if ceil else None,
                    "tests": [dict(name=n, seeds=s, a=a, b=b, **one_sided_verdict(a, b, better="higher", alpha=alpha))
                              for n, s, a, b in tests]})
    return out


def score_lines(scored: Sequence[Mapping[str, Any]]) -> list[str]:
    """`score_records`'s result as the lines the benchmark and the notebook print: each test's effect, its one-sided
    bounds, n, its minimum detectable effect, and whether it is detected."""
    lines = []
    for g in scored:
        level = g.get("alpha", 0.05)
        lines.append(f"{g['probe']}: rows trained " + "; ".join(f"{k} seeds {v}" for k, v in g["rows"].items())
                     + ("" if level == 0.05 else f"; one-sided {100 * (1 - level):g} % bounds"))
        if g["ceiling_db"] is not None:
            lines.append(f"  perfect use of the articulation could add at most {g['ceiling_db']:.3f} dB of mouth PSNR "
                         "(the visual-only rows' mean)")
        for t in g["tests"]:
            lines.append(f"  {t['name']:70s} {t['effect']:+.3f} [{t['ci_low']:+.3f}, {t['ci_high']:+.3f}] "
                         f"n={t['n']} MDE {t['mde']:.3f} -> "
                         f"{'detected' if t['verdict'] == 'reproduced' else 'not detected'}")
        if not g["tests"]:
            lines.append("  nothing to score: no seed trained both of the control's rows, and no row that hears")
    return lines


PLAN_EFFECTS_DB = (0.1, 0.15, 0.2, 0.3)


def power_lines(test: Mapping[str, Any], ns: Sequence[int], alpha: float = 0.05,
                effects: Sequence[float] = PLAN_EFFECTS_DB) -> list[str]:
    """Planning the next test from one scored test (a `score_records` test, e.g. the control): taking the spread of
    its per-seed differences as the next test's, the minimum detectable effect (`min_detectable_effect`, 80 %) and
    the chance of detecting each of `effects` (`one_sided_power`) of a paired one-sided level-`alpha` test over each
    n in `ns`. A test of fewer than three seeds has no usable spread: a ValueError."""
    d = np.subtract(test["b"], test["a"], dtype=float)
    if d.size < 3:
        raise ValueError(f"power_lines: {test['name']!r} has {d.size} seeds; its spread needs at least 3")
    sd = float(d.std(ddof=1))
    if not sd > 0:
        raise ValueError(f"power_lines: {test['name']!r} has no spread over its seeds")
    level = f"one-sided {100 * (1 - alpha):g} %"
    lines = [f"planning from the {test['name'].split(':')[0]} test's spread over seeds {test['seeds']} "
             f"(sd of the per-seed differences {sd:.3f} dB), a paired {level} test:"]
    for n in ns:
        chances = ", ".join(f"+{e:g} dB {one_sided_power(e, sd, n, alpha):.2f}" for e in effects)
        lines.append(f"  {n} seeds: MDE {min_detectable_effect(sd / math.sqrt(n), n - 1, alpha):.3f}; "
                     f"chance of detecting {chances}")
    return lines


def two_look_false_positive(n_first: int, n_total: int, alpha_first: float = 0.05, alpha_second: float = 0.025,
                            draws: int = 200_000, seed: int = 0) -> float:
    """The chance that two looks at one null effect call it detected at least once: the first a one-sided paired t
    test at level `alpha_first` over the first `n_first` seeds, the second at `alpha_second` over all `n_total` (the
    first look's seeds among them), each seed's difference an independent normal draw of mean zero. By simulation
    (`draws` worlds from its own seeded generator, so the same arguments give the same number). One look alone is
    alpha_first; the shared seeds make two looks cost less than alpha_first + alpha_second."""
    if not 2 <= n_first <= n_total:
        raise ValueError(f"need 2 <= n_first <= n_total, got n_first={n_first}, n_total={n_total}")
    for name, a in (("alpha_first", alpha_first), ("alpha_second", alpha_second)):
        if not 0 < a < 0.5:
            raise ValueError(f"{name} must be in (0, 0.5), got {a}")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    x = np.random.default_rng(seed).standard_normal((draws, n_total))
    first = lower_bounds(x[:, :n_first], alpha_first) > 0
    return float((first | (lower_bounds(x, alpha_second) > 0)).mean())


def lower_bounds(diffs: np.ndarray, alpha: float) -> np.ndarray:
    """`one_sided_verdict`'s lower bound (paired, level `alpha`) for each row of `diffs` at once: mean - t_{1-alpha,
    n-1} sd / sqrt(n). Vectorised for the many simulated worlds of `two_look_false_positive`; a test holds it to
    `one_sided_verdict` row by row."""
    n = diffs.shape[1]
    return diffs.mean(1) - t_quantile(1 - alpha, n - 1) * diffs.std(1, ddof=1) / math.sqrt(n)
