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

    .venv/bin/python benchmarks/vfhgan_power.py --rescore benchmarks/results/vfhgan_power_released_n18.json

re-audits a saved batch without training: the audio control's ceiling is recomputed with the current
`reproduce.headroom` bound (the batch's stored ceiling and the new one are both printed) and the JSON is rewritten
(or written to --out).
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
    ap.add_argument("--rescore", type=Path, default=None, help="re-audit this saved batch (JSON) without training")
    args = ap.parse_args(argv)
    if args.rescore is not None:
        return rescore(args.rescore, args.out or args.rescore)
    if args.seeds < 2:
        ap.error(f"--seeds must be >= 2 for an interval, got {args.seeds}")

    from avfh_core.config import preset_values, setup
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
    ceilings = audio_ceiling(cfg, means(ctl)["still_visual"]["mouth_psnr"])
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
    out = {"setting": st, "preset": cfg.preset, "seeds": seeds(cfg), "train_seconds": train_s,
           "runs_trained": n_trained, "metrics": metrics, **audit(sidecar, st)}
    if args.out is not None:
        write(out, args.out)
    return out


def audio_ceiling(cfg, still_visual_mouth_psnr: float) -> dict[str, float]:
    """The audio control's ceiling (`reproduce.headroom.world_still_headroom` of the held-out clips, the shared
    map fitted on the training clips) at the still-mouth visual-only row's mouth PSNR; prints both bounds."""
    from avfh_core.data import synth
    from avfh_core.reproduce.headroom import world_still_headroom

    head = world_still_headroom(synth.world(cfg), synth.world(cfg, mouth_motion=0.0), cfg.n_eval_clips,
                                cfg.n_train_clips)
    full, shared = head.gain_db(still_visual_mouth_psnr), head.gain_db(still_visual_mouth_psnr, shared=True)
    print(f"audio control ceiling at the still-mouth visual-only mouth PSNR {still_visual_mouth_psnr:.3f} dB: "
          f"{full:.3f} dB ({shared:.3f} dB through one map of the mouth state for everyone)", flush=True)
    return {"audio_needed_when_mouth_still": full}


def audit(sidecar: dict, setting: str) -> dict:
    """The notebook's audit of a batch's sidecar: {"controls", "claims" (Table 2's left out), "counts"}; prints it."""
    from avfh_core.reproduce.audit import audit_claims, audit_controls, print_audit
    from avfh_core.reproduce.tables import load_tables

    paper = load_tables("vfhgan")
    controls = audit_controls(paper, [sidecar])
    claims = [c for c in audit_claims(paper, [sidecar], controls=controls) if c["verdict"] != "not run"]
    return {"controls": controls, "claims": claims, "counts": print_audit(controls, claims, prefix=f"{setting[:3]} ")}


def write(out: dict, path: Path) -> None:
    """Atomically, as JSON (inf and nan as Infinity / NaN, json.dumps's default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(out, indent=1, default=str) + "\n")
    tmp.replace(path)
    print(f"wrote {path}")


def rescore(path: Path, out_path: Path) -> dict:
    """Re-audit the saved batch at `path` with the current ceiling; the batch's scores are untouched."""
    from avfh_core.config import preset_values, setup

    try:
        saved = json.loads(path.read_text())
        metrics, st, preset = saved["metrics"], saved["setting"], saved["preset"]
        still_mouth = metrics["controls"]["still_visual"]["mouth_psnr"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise SystemExit(f"--rescore {path}: not a power batch written by this script ({type(e).__name__}: {e})") from e
    cfg = setup(preset, seed=0, device="cpu", steps=preset_values(preset)["vfhgan_ablation_steps"],
                n_seeds=len(saved.get("seeds", [])) or None)
    old = metrics.get("control_ceilings", {}).get("audio_needed_when_mouth_still")
    print(f"{path}: stored audio control ceiling {old}")
    metrics = {**metrics, "control_ceilings": audio_ceiling(cfg, still_mouth)}
    out = {**saved, "metrics": metrics, **audit({"config": {"preset": preset, "seed": 0}, "metrics": metrics}, st)}
    write(out, out_path)
    return out


if __name__ == "__main__":
    main()
