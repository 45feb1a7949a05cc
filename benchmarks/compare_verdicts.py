"""Do two executions of a claims notebook reach the same verdicts? Reads the audit lines two executed notebooks
printed (`reproduce.audit.parse_audit_lines`: every control and claim line, keyed by its prefix, e.g. the weight
setting) and prints each side by side, the verdicts that differ marked, and the count of identical ones.

The use: a committed reference against a re-execution on another machine. Trained numbers are not bit-identical
across CPU families (another kernel order changes the last bits, which training amplifies), so a re-execution on
another CPU is a replicate of the whole course run with a new draw of that noise, at the same seeds: a verdict that
flips is one the seeds run do not pin down.

    .venv/bin/python benchmarks/compare_verdicts.py notebooks/vfhgan/06_ablations.ipynb \\
        runs/course-vfh5/vfhgan/06_ablations__preset-course.ipynb

Exits 1 when a line is in one notebook and not the other (a different audit, not a replicate), else 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def printed_lines(path: str | Path) -> list[str]:
    """The text every code cell of the notebook at `path` printed (stream and text/plain outputs)."""
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except (OSError, ValueError) as exc:  # nbformat's read errors are ValueErrors (JSON or schema)
        raise SystemExit(f"{path}: cannot read it as a notebook ({exc})") from None
    lines: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            lines += (text if isinstance(text, str) else "".join(text)).splitlines()
    return lines


def compare(a: dict, b: dict) -> tuple[list[str], int, int, list[str]]:
    """(one line per audit line found in both, identical verdicts, lines compared, keys found in only one)."""
    rows, same, n = [], 0, 0
    only = [_name(k) + f" (only in {'the first' if k in a else 'the second'})" for k in sorted(set(a) ^ set(b))]
    for key in (k for k in a if k in b):
        if len(a[key]) != len(b[key]):
            only.append(_name(key) + f" (printed {len(a[key])} times against {len(b[key])})")
        for x, y in zip(a[key], b[key]):
            n += 1
            same += x["verdict"] == y["verdict"]
            rows.append(f"{key[0]:>15s} {key[1]:7s} {key[2]:32s} {_side(x)} | {_side(y)}"
                        + ("" if x["verdict"] == y["verdict"] else "  <== differs"))
    return rows, same, n, only


def _name(key: tuple[str, str, str]) -> str:
    return " ".join(part for part in key if part)


def _side(r: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:+.3f}"

    mde = "n/a" if r["mde"] is None else f"{r['mde']:.3f}"
    return f"{r['verdict']:14s} {f(r['effect']):>7s} [{f(r['ci_low'])}, {f(r['ci_high'])}] MDE {mde:>6s}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first", help="an executed notebook (.ipynb), e.g. the committed reference")
    ap.add_argument("second", help="another execution of the same notebook")
    args = ap.parse_args(argv)

    from avfh_core.reproduce.audit import parse_audit_lines

    a, b = (parse_audit_lines(printed_lines(p)) for p in (args.first, args.second))
    if not a or not b:
        raise SystemExit(f"{args.first if not a else args.second}: no audit lines in its outputs (not executed, or "
                         "not a claims notebook)")
    rows, same, n, only = compare(a, b)
    print(f"{'prefix':>15s} {'kind':7s} {'id':32s} {'first':45s} | second")
    print("\n".join(rows))
    print(f"{same}/{n} verdicts identical")
    for line in only:
        print("not compared:", line)
    return 1 if only else 0


if __name__ == "__main__":
    sys.exit(main())
