"""The lip loss of VFH-GAN trained as the released code does (the true window with only its centre frame generated)
against eq. 5 as the paper writes it (every frame of the lip reader's window generated from its own LR window and
audio, `VFHGANRun(lip_window="generated")`): same model, weights, steps and seeds; only the lip term's window differs.

    .venv/bin/python benchmarks/vfhgan_lip_window.py --seeds 3 --steps 300 --out benchmarks/results/vfhgan_lip_window.json

For each seed and form: PSNR / SSIM / mouth PSNR on held-out people (the notebook's eval set), eq. 5's loss and the
released form's loss on held-out windows whose frames are all generated (`vfhgan.lip_window_study`, the same
windows for every model), and the CPU seconds per training step (one thread). The difference generated - centre is
paired by seed (a seed builds the same initial networks for both); its mean and 95 % t-interval are printed. The
weight of the lip term is the setting's (balanced: set by its step-0 gradient share in the centre form, so both forms
train at the same weight). Runs train two single-threaded processes at a time (`train.parallel.prefetch`) and are
cached like every run. The numbers depend on the machine's CPU family.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

FORMS = ("centre", "generated")
METRICS = ("psnr", "ssim", "mouth_psnr", "eq5_loss_heldout", "released_form_loss_heldout")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setting", choices=("released", "balanced"), default="balanced")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per form (>= 2)")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the preset's ablation steps)")
    ap.add_argument("--preset", default="course")
    ap.add_argument("--out", type=Path, default=None, help="write the per-seed scores and the summary here (JSON)")
    args = ap.parse_args(argv)
    if args.seeds < 2:
        ap.error(f"--seeds must be >= 2 for an interval, got {args.seeds}")
    if args.steps is not None and args.steps < 1:
        ap.error(f"--steps must be >= 1, got {args.steps}")

    import torch

    from avfh_core.config import preset_values, setup
    from avfh_core.metrics.stats import t_interval
    from avfh_core.train import vfhgan
    from avfh_core.train.experiment import cached_run, seeds
    from avfh_core.train.parallel import one_thread, prefetch

    steps = args.steps or preset_values(args.preset)["vfhgan_ablation_steps"]
    cfg = setup(args.preset, seed=0, device="cpu", steps=steps, n_seeds=args.seeds)
    base = vfhgan._make(cfg, args.setting)  # every term on, the lip term at the setting's weight
    if not base.loss_weights().get("lip", 0):
        raise SystemExit(f"the {args.setting} setting has no lip term at this preset: nothing to compare")
    runs = {f: dataclasses.replace(base, lip_window=f) for f in FORMS}
    start = time.perf_counter()
    n_trained = prefetch(vfhgan, [(r, s) for r in runs.values() for s in seeds(cfg)], cfg)
    train_s = time.perf_counter() - start
    print(f"{args.setting} weights {base.loss_weights()}, {args.preset} preset, {steps} steps, seeds "
          f"0-{args.seeds - 1}: trained {n_trained} runs in {train_s / 60:.1f} min", flush=True)

    test, _ = vfhgan.eval_set(base, cfg)
    windows = vfhgan.windows_with_context(test, cfg.vfhgan_eval_windows)
    if not windows:
        raise SystemExit(f"the held-out clips of the {args.preset} preset are too short for generated windows")
    lip = vfhgan.build_objective(cfg, dict(lip=1.0, pixel=0.0, perceptual=0.0, frequency=0.0,
                                           adversarial=0.0)).lip
    per: dict[str, dict[str, list[float]]] = {f: {m: [] for m in METRICS} for f in FORMS}
    for f, run in runs.items():
        for s in seeds(cfg):
            scores, trained = cached_run(vfhgan, run, cfg, s)
            study = vfhgan.lip_window_study(trained.models["generator"], lip, test, windows)
            row = dict(scores, eq5_loss_heldout=study["loss_generated_window"],
                       released_form_loss_heldout=study["loss_trained"])
            for m in METRICS:
                per[f][m].append(float(row[m]))

    # CPU seconds per step, one thread, from a few fresh steps of each form (the cached runs carry no timing)
    step_s = {}
    with one_thread():
        for f, run in runs.items():
            vfhgan.train(run, cfg, seed=0, steps=2)  # warm-up: data, loss networks
            t = time.perf_counter()
            vfhgan.train(run, cfg, seed=0, steps=10)
            step_s[f] = (time.perf_counter() - t) / 10

    summary = {}
    print(f"{len(windows)} held-out windows with generated neighbours; generated - centre, paired by seed:")
    for m in METRICS:
        d = [g - c for g, c in zip(per["generated"][m], per["centre"][m])]
        lo, hi = t_interval(d)
        summary[m] = dict(centre=sum(per["centre"][m]) / len(d), generated=sum(per["generated"][m]) / len(d),
                          diff=sum(d) / len(d), ci=[lo, hi])
        s = summary[m]
        print(f"  {m:28s} centre {s['centre']:.4f}  generated {s['generated']:.4f}  diff {s['diff']:+.4f} "
              f"[{lo:+.4f}, {hi:+.4f}]")
    print(f"  CPU s per step (one thread): centre {step_s['centre']:.3f}, generated {step_s['generated']:.3f} "
          f"({step_s['generated'] / step_s['centre']:.1f}x)")
    out = {"setting": args.setting, "preset": cfg.preset, "steps": steps, "seeds": seeds(cfg),
           "weights": base.loss_weights(), "n_heldout_windows": len(windows), "train_seconds": train_s,
           "runs_trained": n_trained, "per_seed": per, "summary": summary, "cpu_seconds_per_step": step_s,
           "torch": torch.__version__}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text(json.dumps(out, indent=1, default=str) + "\n")
        tmp.replace(args.out)
        print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
