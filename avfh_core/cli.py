"""The `avfh` command: `avfh info`, `reproduce`, `report`, `dashboard`, `refresh`, `check-sync`."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path


def _parse_assignment(text: str) -> tuple[str, str]:
    """'steps=20' -> ('steps', '20'); the value is converted to the type the notebook declares before anything runs."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--set: {key!r} is not a valid parameter name")
    return key, value


def cmd_info(args: argparse.Namespace) -> int:
    from avfh_core import __version__
    from avfh_core.config import PRESETS, avfh_home, repo_root, resolve_device
    from avfh_core.reproduce.batch import load_registry
    from avfh_core.reproduce.results import environment_record

    env = environment_record(str(resolve_device("auto")), import_check=True)  # every package imported
    info = {
        "avfh": __version__,
        **env,
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


def format_plan(specs: list, run_dir: Path, preset: str, where: str, force: bool = False) -> str:
    """What a batch would run, in order: notebook, parameters, what it waits for, where its output goes, and which
    runs of an existing run folder would be resumed (read only: nothing is written)."""
    from avfh_core.reproduce.batch import (
        code_fingerprint,
        core_fingerprint,
        read_manifest,
        resumable,
        run_dependencies,
    )

    deps = run_dependencies(specs)
    manifest = read_manifest(run_dir) if run_dir.is_dir() and not force else {"runs": {}}
    core = core_fingerprint() if manifest["runs"] else None
    lines = [f"dry run (nothing executed): {len(specs)} notebook run(s), preset {preset}, {where} -> {run_dir}"]
    width = max((len(s.notebook.id) for s in specs), default=0)
    for i, spec in enumerate(specs):
        params = " ".join(f"{k}={v}" for k, v in spec.parameters.items())
        after = f"  after {', '.join(str(j + 1) for j in deps[i])}" if deps[i] else ""
        if core and resumable(spec, run_dir, manifest, code_fingerprint(spec.notebook.path, core)):
            after += "  (finished: would resume)"
        lines.append(f"{i + 1:3d}. {spec.notebook.id.ljust(width)}  {params}{after}")
        lines.append(f"     -> {spec.output_path(run_dir).relative_to(run_dir.parent)}")
    return "\n".join(lines)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from avfh_core.reproduce.batch import (
        MANIFEST,
        check_writable,
        default_runs_dir,
        describe_oserror,
        load_registry,
        new_run_id,
        read_manifest,
        run_batch,
        summary_table,
    )
    from avfh_core.reproduce.executors import check_executor_options, make_executor
    from avfh_core.reproduce.progress import PROGRESS_DIR, Heartbeat, quiet_by_environment
    from avfh_core.reproduce.sweep import Sweep, expand, load_sweep, parse_grid_item

    try:
        sweep = load_sweep(args.sweep) if args.sweep else Sweep()
        preset = args.preset or sweep.preset or "course"
        params = {**sweep.set, **dict(args.set or [])}
        grid = dict(sweep.grid)
        for item in args.grid or []:
            name, values = parse_grid_item(item)
            grid[name] = values
        for name in list(grid):
            if name in dict(args.set or []):  # a --set on the command line pins a swept parameter
                del grid[name]
        registry = load_registry(Path(args.notebooks_root).resolve() if args.notebooks_root else None)
        # every parameter of every run checked against its notebook's parameters cell before anything runs
        specs = expand(preset, papers=[*(args.paper or []), *sweep.papers],
                       notebooks=[*(args.notebook or []), *sweep.notebooks], parameters=params, grid=grid,
                       registry=registry)
        check_executor_options(args.workers, args.scheduler)
        if not args.heartbeat > 0:
            raise ValueError(f"--heartbeat must be a positive number of seconds, got {args.heartbeat}")
        if args.cell_timeout < 1:
            raise ValueError(f"--cell-timeout must be at least 1 second, got {args.cell_timeout}")
        executor = None if args.dry_run else make_executor(args.workers, args.scheduler)
    except (ValueError, FileNotFoundError, OSError, ImportError) as e:
        print(f"avfh reproduce: {e}", file=sys.stderr)
        return 2
    run_id = args.run_id or new_run_id(preset)
    run_dir = Path(args.runs_dir or default_runs_dir()) / run_id
    where = f"scheduler {args.scheduler}" if args.scheduler else f"{args.workers} worker(s)"
    if args.dry_run:
        print(format_plan(specs, run_dir, preset, where, force=args.force))
        return 0
    existed = run_dir.exists()
    try:
        check_writable(run_dir)
        manifest = read_manifest(run_dir, repair=True)  # a corrupt one is set aside and rebuilt, never lost
        if manifest.get("rebuilt"):
            print(f"avfh reproduce: warning: {run_dir / MANIFEST}: {manifest['rebuilt']} "
                  f"({len(manifest['runs'])} record(s))", file=sys.stderr)
    except OSError as e:
        if not existed:  # leave things as they were
            with contextlib.suppress(OSError):
                run_dir.rmdir()
        print(f"avfh reproduce: cannot write the run folder: {describe_oserror(e)}", file=sys.stderr)
        if executor is not None:
            executor.shutdown()
        return 2
    print(f"run {run_id}: {len(specs)} notebook run(s), preset {preset}, {where} -> {run_dir}", flush=True)
    quiet = args.quiet or quiet_by_environment()
    bar = tqdm(total=len(specs), unit="nb", disable=quiet, file=sys.stderr)

    def on_start(spec):
        bar.set_description(spec.notebook.id)

    def on_done(spec, res):
        bar.update(1)
        if not res.ok:
            bar.write(f"FAILED {spec.notebook.id} [{spec.slug}]: {res.error}")
        elif quiet:
            print(f"{getattr(res, 'status', 'ran')}: {spec.notebook.id} [{spec.slug}] {res.seconds:.1f} s", flush=True)

    heartbeat = (contextlib.nullcontext() if quiet else
                 Heartbeat(run_dir / PROGRESS_DIR, lambda line: bar.write(line, file=sys.stderr),
                           every=args.heartbeat))
    try:
        with heartbeat:
            results = run_batch(specs, run_dir, cell_timeout=args.cell_timeout, on_start=on_start, on_done=on_done,
                                force=args.force, executor=executor)
        table = summary_table(results)
        errors = [f"--- {r.notebook} [{r.output.stem}]: {r.error}\n{r.error_cell.strip()[:1500]}"
                  for r in results if not r.ok and r.error_cell]
        (run_dir / "summary.txt").write_text(table + "\n" + "".join(f"\n{e}\n" for e in errors))
    except OSError as e:  # the run folder itself failed (full disk, lost permissions): one line, non-zero
        print(f"avfh reproduce: run folder {run_dir}: {describe_oserror(e)}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print(table)
    for e in errors:
        print("\n" + e)
    if not args.no_report:
        try:
            from avfh_core.reproduce.report import build_report

            md, html = build_report(run_dir)
            print(f"report: {md}\n        {html}")
        except Exception as e:  # the report must never hide the batch's own outcome
            print(f"avfh reproduce: the report failed: {type(e).__name__}: {e}", file=sys.stderr)
    return 1 if any(not r.ok for r in results) else 0


def cmd_report(args: argparse.Namespace) -> int:
    from avfh_core.reproduce.report import build_report

    try:
        md, html = build_report(Path(args.run_dir), out_dir=Path(args.out) if args.out else None, alpha=args.alpha)
    except (FileNotFoundError, ValueError) as e:
        print(f"avfh report: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. a read-only run folder: one line naming the path and the cause
        from avfh_core.reproduce.batch import describe_oserror

        print(f"avfh report: {describe_oserror(e)}", file=sys.stderr)
        return 2
    print(f"{md}\n{html}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from avfh_core.viz.dashboard import serve

    try:
        return serve(port=args.port, run_dir=args.run_dir, open_browser=args.open)
    except (FileNotFoundError, ImportError, ValueError) as e:
        print(f"avfh dashboard: {e}", file=sys.stderr)
        return 2


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
    p.add_argument("--preset", default=None, choices=PRESET_NAMES, help="default: the sweep file's, else course")
    p.add_argument("--paper", action="append", help="paper folder (vfhgan, common, ...); repeatable")
    p.add_argument("--notebook", action="append", help="notebook id, e.g. vfhgan/05_training; repeatable")
    p.add_argument("--set", action="append", type=_parse_assignment, metavar="NAME=VALUE",
                   help="extra notebook parameter; repeatable")
    p.add_argument("--run-id", help="name of the run folder (default: timestamp-preset)")
    p.add_argument("--runs-dir", help="where run folders go (default: <repo>/runs)")
    p.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT, help="seconds per cell (a timeout fails)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no heartbeat (also when CI=true)")
    p.add_argument("--heartbeat", type=float, default=30.0, metavar="SECONDS",
                   help="while a cell runs, say so every SECONDS (and at each cell start)")
    p.add_argument("--notebooks-root", help="run notebooks from another tree than <repo>/notebooks")
    p.add_argument("--sweep", metavar="FILE", help="YAML sweep: notebooks/papers, preset, set, grid (see sweep.py)")
    p.add_argument("--grid", action="append", metavar="NAME=V1,V2",
                   help="sweep a parameter over values (cartesian product with other --grid); repeatable")
    p.add_argument("--force", action="store_true", help="rerun runs that already finished with the same code")
    p.add_argument("--workers", type=int, default=1, help="notebooks in parallel on this machine (process pool)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask distributed scheduler, e.g. tcp://host:8786")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--dry-run", action="store_true",
                   help="resolve and check every run, print the plan, execute nothing (no run folder is written)")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("report", help="Markdown + HTML report with the claims audit of a run folder")
    p.add_argument("run_dir", help="runs/<run-id>")
    p.add_argument("--out", help="where report.md/report.html go (default: the run folder)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the claims audit")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("dashboard", help="serve the ablation panels (notebooks/common/03_dashboard) with Voila")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--run-dir", help="run folder whose sweep results the panels show (default: the newest)")
    p.add_argument("--open", action="store_true", help="open a browser tab")
    p.set_defaults(func=cmd_dashboard)

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
