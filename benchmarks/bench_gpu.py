"""Time notebooks on a GPU machine that has PyTorch but no Jupyter stack: each notebook source (py:percent is plain
Python) runs as a script, cell by cell, with the preset's parameters injected after its `parameters` cell, while
`nvidia-smi` samples GPU utilisation and memory. Writes, per notebook, the sidecar (the same metrics `avfh reproduce`
records), a per-cell timing table and the utilisation samples.

    python benchmarks/bench_gpu.py --out OUTDIR --set preset=gpu notebooks/vfhgan/05_training.py [...]

This is a measuring tool, not a second runner: on a machine with the project's venv use `avfh reproduce --preset
gpu`, which executes the same cells under papermill. IPython's `display` is replaced by `print`, figures go to
--figures (default OUTDIR/figures) (Agg backend), and widgets are off (`show_widgets=False` where a notebook declares it).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

CELL = re.compile(r"^# %%(.*)$", re.MULTILINE)


def cells(source: str) -> list[tuple[str, str]]:
    """[(header, code)] of a py:percent file; markdown cells are dropped, the header keeps the tags."""
    parts = CELL.split(source)
    out = []
    for header, body in zip(parts[1::2], parts[2::2], strict=True):
        if "[markdown]" not in header:
            out.append((header, body))
    return out


def literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


class GpuSampler:
    """nvidia-smi sampling in the background (utilisation %, memory MiB) every `period_ms`; empty without a GPU."""

    def __init__(self, path: Path, period_ms: int = 500):
        self.path, self.proc = path, None
        if shutil.which("nvidia-smi"):
            self.fh = open(path, "w")  # noqa: SIM115 - closed in stop()
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=timestamp,utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                 f"-lms={period_ms}"], stdout=self.fh, stderr=subprocess.DEVNULL)

    def stop(self) -> dict:
        if self.proc is None:
            return {}
        self.proc.terminate()
        self.proc.wait(5)
        self.fh.close()
        rows = [r.split(", ") for r in self.path.read_text().splitlines() if r.count(",") == 2]
        util = [float(r[1]) for r in rows if r[1].strip().isdigit()]
        mem = [float(r[2]) for r in rows if r[2].strip().isdigit()]
        if not util:
            return {}
        return {"samples": len(util), "util_mean_pct": sum(util) / len(util),
                "util_busy_pct": 100.0 * sum(u > 0 for u in util) / len(util), "mem_peak_mib": max(mem)}


def run_notebook(src: Path, params: dict, out: Path, figures: Path) -> dict:
    name = f"{src.parent.name}__{src.stem}"
    os.environ["AVFH_RESULTS"] = str(out / f"{name}.json")
    os.environ["AVFH_FIGURES"] = str(figures)
    code_cells = cells(src.read_text())
    ns: dict = {"__name__": "__main__", "display": print}
    timings = []
    sampler = GpuSampler(out / f"{name}.smi.csv")
    t_all = time.perf_counter()
    cwd = os.getcwd()
    os.chdir(src.parent)  # notebooks read files relative to their folder, as under papermill
    try:
        for i, (header, code) in enumerate(code_cells):
            t0 = time.perf_counter()
            exec(compile(code, f"{src}:cell{i}", "exec"), ns)  # noqa: S102 - the project's own notebook source
            if '"parameters"' in header:
                declared = {k: v for k, v in params.items() if k in ns}
                if "show_widgets" in ns:
                    declared["show_widgets"] = False
                ns.update(declared)
                print(f"[{name}] parameters: {declared}", flush=True)
            dt = time.perf_counter() - t0
            timings.append({"cell": i, "seconds": round(dt, 2), "first_line": code.strip().splitlines()[0][:80]
                            if code.strip() else ""})
            print(f"[{name}] cell {i + 1}/{len(code_cells)} {dt:7.1f} s", flush=True)
    finally:
        os.chdir(cwd)
        gpu = sampler.stop()
    total = time.perf_counter() - t_all
    record = {"notebook": str(src), "parameters": params, "seconds": round(total, 1), "gpu": gpu, "cells": timings}
    (out / f"{name}.timing.json").write_text(json.dumps(record, indent=1))
    print(f"[{name}] total {total:.1f} s, gpu {gpu}", flush=True)
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--figures", type=Path, default=None, help="where figures go (default OUT/figures)")
    args = ap.parse_args(argv)
    params = dict(s.split("=", 1) for s in args.set)
    params = {k: literal(v) for k, v in params.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MPLBACKEND", "Agg")
    summary = []
    for nb in args.notebooks:
        nb = nb.resolve()
        try:
            summary.append(run_notebook(nb, params, args.out.resolve(), (args.figures or args.out / "figures").resolve()))
        except Exception as e:  # report and go on to the next notebook
            print(f"[{nb.stem}] FAILED: {type(e).__name__}: {e}", flush=True)
            summary.append({"notebook": str(nb), "error": f"{type(e).__name__}: {e}"})
        with contextlib.suppress(Exception):
            import torch

            if torch.cuda.is_available():
                summary[-1]["max_memory_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
                torch.cuda.reset_peak_memory_stats()
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0 if all("error" not in s for s in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
