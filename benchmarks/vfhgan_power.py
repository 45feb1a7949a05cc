"""The VFH-GAN claims of Tables 1 and 3 and the positive controls at more seeds than a preset runs, under one weight
setting: a power batch, for when an audit line says a control needs more seeds (`vfhgan/06` prints "power: ...
would need N seeds", a calculation from the 3-seed spread).

    .venv/bin/python benchmarks/vfhgan_power.py --setting released --seeds 18 --out benchmarks/results/vfhgan_power.json

Trains (or reads from the run cache) the setting's Table 1 and Table 3 rows and the controls' rows for seeds 0 .. N-1
at the preset's ablation steps, two single-threaded processes at a time (`train.parallel.prefetch`: the seeds the
notebook already trained are cache hits), then scores them with the same audit as the notebook (`audit_controls`,
`audit_claims`; Table 2 is not run here, so its claims are left out), after the audio test of the audio control's
model (its mouth PSNR with its own audio, another clip's and silence). Prints the audit and, with --out, writes
the per-seed scores and the audit records as JSON. The numbers depend on the machine's CPU (float kernels differ
between CPU families), as the notebook's do.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setting", choices=("released", "balanced"), default="released")
    ap.add_argument("--seeds", type=int, default=18, help="seeds per row (>= 2)")
    ap.add_argument("--preset", default="course")
    ap.add_argument("--out", type=Path, default=None, help="write the scores and the audit here (JSON)")
    args = ap.parse_args(argv)
    if args.seeds < 2:
        ap.error(f"--seeds must be >= 2 for an interval, got {args.seeds}")

    from avfh_core.config import preset_values, setup
    from avfh_core.data import synth
    from avfh_core.reproduce.audit import audit_claims, audit_controls, print_audit
    from avfh_core.reproduce.headroom import samples_headroom
    from avfh_core.reproduce.tables import load_tables
    from avfh_core.train import vfhgan
    from avfh_core.train.evaluate import audio_use
    from avfh_core.train.experiment import cached_run, means, run_rows, seeds
    from avfh_core.train.parallel import prefetch

    st = args.setting
    cfg = setup(args.preset, seed=0, device="cpu", steps=preset_values(args.preset)["vfhgan_ablation_steps"],
                n_seeds=args.seeds)
    t1_runs, t3_runs = vfhgan.table1(cfg, st), vfhgan.table3(cfg, st)
    rows = [*t1_runs.values(), *t3_runs.values(), *vfhgan.control_runs(cfg, st).values(), vfhgan.pixel_only(cfg)]
    start = time.perf_counter()
    n_trained = prefetch(vfhgan, [(r, s) for r in rows for s in seeds(cfg)], cfg)
    train_s = time.perf_counter() - start
    print(f"{st} weights, {args.preset} preset, seeds 0-{args.seeds - 1}: trained {n_trained} runs in "
          f"{train_s / 60:.1f} min", flush=True)
    t1, t3 = run_rows(vfhgan, t1_runs, cfg, progress=False), run_rows(vfhgan, t3_runs, cfg, progress=False)
    ctl = vfhgan.positive_controls(cfg, st)
    head = samples_headroom(synth.world(cfg).dataset("test", n_clips=cfg.n_eval_clips))
    ceilings = {"audio_needed_when_mouth_still": head.gain_db(means(ctl)["still_visual"]["mouth_psnr"])}
    metrics = {"table1_seeds": t1, "table3_seeds": t3, "controls_seeds": ctl, "control_ceilings": ceilings,
               "table1": means(t1), "table3": means(t3), "controls": means(ctl)}
    sidecar = {"config": {"preset": cfg.preset, "seed": cfg.seed}, "metrics": metrics}
    # does the control's audio model use its audio? (the same test as the notebook's: its own, another clip's, none)
    ctl_run = vfhgan.control_runs(cfg, st)["still_audio"]
    data, idx = vfhgan.eval_set(ctl_run, cfg)
    use = [audio_use(vfhgan.predict, vfhgan.score, cached_run(vfhgan, ctl_run, cfg, s)[1].models, data, idx, cfg,
                     seed=s) for s in seeds(cfg)]
    metrics["control_audio_use_seeds"] = {c: {m: [u[c][m] for u in use] for m in use[0][c]} for c in use[0]}
    print("control's audio model, mouth PSNR with its audio " + ", ".join(
        f"{c} {sum(u[c]['mouth_psnr'] for u in use) / len(use):.3f}" for c in use[0]), flush=True)
    paper = load_tables("vfhgan")
    controls = audit_controls(paper, [sidecar])
    claims = [c for c in audit_claims(paper, [sidecar], controls=controls) if c["verdict"] != "not run"]
    counts = print_audit(controls, claims, prefix=f"{st[:3]} ")
    out = {"setting": st, "preset": cfg.preset, "seeds": seeds(cfg), "train_seconds": train_s,
           "runs_trained": n_trained, "metrics": metrics, "controls": controls, "claims": claims, "counts": counts}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text(json.dumps(out, indent=1, default=str) + "\n")  # inf and nan as Infinity / NaN (json.dumps default)
        tmp.replace(args.out)
        print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
