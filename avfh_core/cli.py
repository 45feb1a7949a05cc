"""The `avfh` command: `avfh info`, `avfh reproduce`, `avfh refresh`, `avfh check-sync`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml


def _parse_assignment(text: str) -> tuple[str, Any]:
    """'steps=20' -> ('steps', 20); values are YAML scalars (numbers, true/false, null, strings)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--set: {key!r} is not a valid parameter name")
    return key, yaml.safe_load(value)


def cmd_info(args: argparse.Namespace) -> int:
    import torch

    from avfh_core import __version__
    from avfh_core.config import PRESETS, avfh_home, repo_root, resolve_device
    from avfh_core.reproduce.batch import load_registry
    from avfh_core.reproduce.results import environment_record

    env = environment_record(str(resolve_device("auto")))
    info = {
        "avfh": __version__,
        **env,
        "threads": torch.get_num_threads(),
        "cache (AVFH_HOME)": str(avfh_home()),
        "figures": str(repo_root() / "figures"),
        "presets": {k: {kk: v[kk] for kk in ("hr_size", "steps", "batch_size", "n_seeds")} for k, v in PRESETS.items()},
        "notebooks": sorted(load_registry()),
    }
    if args.json:
        print(json.dumps(info, indent=1, default=str))
    else:
        for key, value in info.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {v}")
            elif isinstance(value, list):
                print(f"{key}: {len(value)}")
                for v in value:
                    print(f"  {v}")
            else:
                print(f"{key}: {value}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from avfh_core.reproduce.batch import (
        default_runs_dir,
        load_registry,
        new_run_id,
        plan,
        run_batch,
        summary_table,
    )
    from avfh_core.reproduce.runner import check_parameters, read_source

    params = dict(args.set or [])
    try:
        registry = load_registry(Path(args.notebooks_root).resolve() if args.notebooks_root else None)
        specs = plan(args.preset, papers=args.paper or (), notebooks=args.notebook or (), parameters=params,
                     registry=registry)
        for spec in specs:  # every parameter checked before anything runs
            check_parameters(read_source(spec.notebook.path), spec.parameters, str(spec.notebook.path))
    except ValueError as e:
        print(f"avfh reproduce: {e}", file=sys.stderr)
        return 2
    run_id = args.run_id or new_run_id(args.preset)
    run_dir = Path(args.runs_dir or default_runs_dir()) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"run {run_id}: {len(specs)} notebook(s), preset {args.preset} -> {run_dir}")
    bar = tqdm(total=len(specs), unit="nb", disable=args.quiet, file=sys.stderr)

    def on_start(spec):
        bar.set_description(spec.notebook.id)

    def on_done(spec, res):
        bar.update(1)
        if not res.ok:
            bar.write(f"FAILED {spec.notebook.id}: {res.error}")

    try:
        results = run_batch(specs, run_dir, cell_timeout=args.cell_timeout, on_start=on_start, on_done=on_done)
    finally:
        bar.close()
    table = summary_table(results)
    (run_dir / "summary.txt").write_text(table + "\n")
    print(table)
    for r in results:
        if not r.ok and r.error_cell:
            print(f"\n--- {r.notebook}: {r.error}\n{r.error_cell.strip()[:1500]}")
    return 1 if any(not r.ok for r in results) else 0


def cmd_refresh(args: argparse.Namespace) -> int:
    from avfh_core.reproduce.runner import refresh_reference

    status = 0
    for nb in args.notebooks:
        try:
            res = refresh_reference(nb, cell_timeout=args.cell_timeout)
            print(f"{nb}: refreshed in {res.seconds:.1f} s")
        except Exception as e:
            print(f"{nb}: {e}", file=sys.stderr)
            status = 1
    return status


def cmd_check_sync(args: argparse.Namespace) -> int:
    from avfh_core.reproduce.runner import out_of_sync

    problems = out_of_sync()
    for p in problems:
        print(p)
    if not problems:
        print("all Jupytext pairs in sync")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    from avfh_core.config import PRESET_NAMES
    from avfh_core.reproduce.runner import DEFAULT_CELL_TIMEOUT

    parser = argparse.ArgumentParser(prog="avfh", description="Audio-visual face hallucination, reproduced.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="versions, device, presets, caches, notebooks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("reproduce", help="execute notebooks headless with papermill into runs/<run-id>/")
    p.add_argument("--preset", default="course", choices=PRESET_NAMES)
    p.add_argument("--paper", action="append", help="paper folder (vfhgan, common, ...); repeatable")
    p.add_argument("--notebook", action="append", help="notebook id, e.g. vfhgan/05_training; repeatable")
    p.add_argument("--set", action="append", type=_parse_assignment, metavar="NAME=VALUE",
                   help="extra notebook parameter; repeatable")
    p.add_argument("--run-id", help="name of the run folder (default: timestamp-preset)")
    p.add_argument("--runs-dir", help="where run folders go (default: <repo>/runs)")
    p.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT, help="seconds per cell (a timeout fails)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--notebooks-root", help="run notebooks from another tree than <repo>/notebooks")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("refresh", help="re-execute notebooks with their defaults and rewrite the paired .ipynb")
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--cell-timeout", type=int, default=3600)
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser("check-sync", help="fail when a Jupytext .py/.ipynb pair differs")
    p.set_defaults(func=cmd_check_sync)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
