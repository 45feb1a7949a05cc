"""Same seed, same numbers, whatever the cache state: compare the sidecar metrics of two runs of the same notebooks.

`make test` executes every smoke notebook once with an empty cache (`$AVFH_HOME` fresh: the synthetic shards, the
lip reader, the feature net and the ablation runs are all built inside the run) and once more with those caches
warm, then

    python -m avfh_core.reproduce.samenumbers runs/ci-smoke runs/ci-smoke-warm

fails, naming the notebook and the metric, when any logged value differs. Timings (keys naming seconds, milliseconds,
frames or items per second, thread counts) are excluded: they are the only values a cache may change.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from avfh_core.reproduce.results import read_sidecar

TIMING = re.compile(r"(seconds|_per_s$|per_second|_ms_|_ms$|^ms_per_|(^|_)fps($|_)|elapsed|^threads$|wall_|_time$|^time_)")


def flatten(d: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(d, dict):
        for k, v in d.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, d


def is_timing(key: str) -> bool:
    return any(TIMING.search(part) for part in key.split("."))


def sidecars(run_dir: Path) -> dict[str, Path]:
    """{paper/notebook__params: sidecar} of a run folder (manifest and failed attempts left out)."""
    return {f"{p.parent.name}/{p.stem}": p for p in sorted(Path(run_dir).glob("*/*.json"))
            if ".failed" not in p.name}


def differences(run_a: str | Path, run_b: str | Path) -> list[str]:
    """One line per metric that differs between the two runs (timings excluded), or per sidecar present in one only."""
    a, b = sidecars(Path(run_a)), sidecars(Path(run_b))
    if not a:
        raise FileNotFoundError(f"{run_a}: no sidecars (<paper>/<notebook>__<params>.json) in this run folder")
    out = [f"{name}: only in {run_a if name in a else run_b}" for name in sorted(set(a) ^ set(b))]
    for name in sorted(set(a) & set(b)):
        ma = dict(flatten(read_sidecar(a[name]).get("metrics", {})))
        mb = dict(flatten(read_sidecar(b[name]).get("metrics", {})))
        for key in sorted(set(ma) | set(mb)):
            if is_timing(key):
                continue
            if ma.get(key, "<missing>") != mb.get(key, "<missing>"):
                out.append(f"{name}: {key}: {ma.get(key, '<missing>')!r} != {mb.get(key, '<missing>')!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    args = ap.parse_args(argv)
    try:
        diffs = differences(args.run_a, args.run_b)
    except (FileNotFoundError, ValueError) as e:
        print(f"avfh: {e}", file=sys.stderr)
        return 2
    for line in diffs[:50]:
        print(line)
    if diffs:
        print(f"{len(diffs)} values differ between {args.run_a} and {args.run_b}", file=sys.stderr)
        return 1
    print(f"same numbers in {len(sidecars(args.run_a))} sidecars of {args.run_a} and {args.run_b} (timings excluded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
