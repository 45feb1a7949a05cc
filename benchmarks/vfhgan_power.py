"""The VFH-GAN claims of Tables 1 and 3 and the positive controls at more seeds, or more steps, than a preset runs,
under one weight setting: a power batch, for when an audit line says a control needs more seeds (`vfhgan/06` prints
"power: ... would need N seeds", a calculation from the 3-seed spread), or a longer batch, for a control that needs
more training than the preset's ablation runs get.

    .venv/bin/python benchmarks/vfhgan_power.py --setting released --seeds 18 --out benchmarks/results/vfhgan_power.json
    .venv/bin/python benchmarks/vfhgan_power.py --setting balanced --seeds 3 --steps 1000 --tables table1 \
        --controls still jaw handicap --out benchmarks/results/vfhgan_table1_1000steps_balanced.json

Trains (or reads from the run cache) the setting's rows of --tables (Table 1 and Table 3 by default) and the rows of
the --controls families (`vfhgan.positive_controls`: still, jaw, handicap, loss) for seeds 0 .. N-1 at --steps (the
preset's ablation steps by default), two single-threaded processes at a time (`train.parallel.prefetch`: the seeds
the notebook already trained are cache hits), then scores them with the same audit as the notebook
(`audit_controls`, `audit_claims`; Table 2 is not run here, so its claims are left out), after the audio test of
each audio control's model (its mouth PSNR with its own audio, another clip's and silence, on held-out people and
on people it was trained on). With Table 1, the world's bound on its audio claim (`reproduce.headroom`
`frame_gain_db`: what knowing the articulation could add to the no-audio row's full-frame PSNR) is logged as that
claim's ceiling. Prints the audit and, with --out, writes the
per-seed scores and the audit records as JSON. The numbers depend on the machine's CPU (float kernels differ between
CPU families), as the notebook's do.

    .venv/bin/python benchmarks/vfhgan_power.py --rescore benchmarks/results/vfhgan_power_released_n18.json

re-audits a saved batch without training: the world's bounds (the still-mouth control's ceiling, the audio claim's)
are recomputed with the current `reproduce.headroom` (the batch's stored ceiling and the new one are both printed)
and the JSON is rewritten (or written to --out).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    from avfh_core.train.vfhgan import CONTROL_FAMILIES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setting", choices=("released", "balanced"), default="released")
    ap.add_argument("--seeds", type=int, default=18, help="seeds per row (>= 2)")
    ap.add_argument("--preset", default="course")
    ap.add_argument("--steps", type=int, default=None, help="training steps per run (default: the preset's "
                                                             "vfhgan_ablation_steps)")
    ap.add_argument("--tables", nargs="+", choices=("table1", "table3"), default=["table1", "table3"])
    ap.add_argument("--controls", nargs="+", choices=CONTROL_FAMILIES, default=["still", "handicap", "loss"],
                    help="positive-control families to run (vfhgan.positive_controls)")
    ap.add_argument("--out", type=Path, default=None, help="write the scores and the audit here (JSON)")
    ap.add_argument("--rescore", type=Path, default=None, help="re-audit this saved batch (JSON) without training")
    args = ap.parse_args(argv)
    if args.rescore is not None:
        return rescore(args.rescore, args.out or args.rescore)
    if args.seeds < 2:
        ap.error(f"--seeds must be >= 2 for an interval, got {args.seeds}")
    if args.steps is not None and args.steps < 1:
        ap.error(f"--steps must be >= 1, got {args.steps}")

    from avfh_core.config import preset_values, setup
    from avfh_core.reproduce.audio_use import audio_use_seeds, use_line
    from avfh_core.train import vfhgan
    from avfh_core.train.experiment import means, run_rows, seeds
    from avfh_core.train.parallel import prefetch

    st, families = args.setting, tuple(dict.fromkeys(args.controls))
    steps = args.steps or preset_values(args.preset)["vfhgan_ablation_steps"]
    cfg = setup(args.preset, seed=0, device="cpu", steps=steps, n_seeds=args.seeds)
    tables = {t: getattr(vfhgan, t)(cfg, st) for t in args.tables}
    rows = [r for t in tables.values() for r in t.values()]
    rows += [*(vfhgan.control_runs(cfg, st).values() if "still" in families else ()),
             *(vfhgan.jaw_control_runs(cfg, st).values() if "jaw" in families else ()),
             *((vfhgan.table3(cfg, st)["ours"],) if "handicap" in families else ()),
             *((vfhgan.pixel_only(cfg),) if "loss" in families else ())]
    rows = list(dict.fromkeys(rows))  # table3's ours is table1's audio_attention: trained once
    start = time.perf_counter()
    n_trained = prefetch(vfhgan, [(r, s) for r in rows for s in seeds(cfg)], cfg)
    train_s = time.perf_counter() - start
    print(f"{st} weights, {args.preset} preset, {steps} steps, seeds 0-{args.seeds - 1}: trained {n_trained} runs "
          f"in {train_s / 60:.1f} min", flush=True)
    metrics: dict = {}
    for name, runs in tables.items():
        metrics[f"{name}_seeds"] = run_rows(vfhgan, runs, cfg, progress=False)
        metrics[name] = means(metrics[f"{name}_seeds"])
    ctl = vfhgan.positive_controls(cfg, st, families=families)
    metrics.update(controls_seeds=ctl, controls=means(ctl))
    metrics.update(world_bounds(cfg, metrics))
    sidecar = {"config": {"preset": cfg.preset, "seed": cfg.seed}, "metrics": metrics}
    # does each audio control's model use its audio? (the notebook's test: its own audio, another clip's, none)
    for row, key in AUDIO_USE.items():
        if row not in ctl:
            continue
        run = {**vfhgan.control_runs(cfg, st), **vfhgan.jaw_control_runs(cfg, st)}[row]
        held_out, trained_on = (audio_use_seeds(vfhgan, run, cfg, seeds(cfg), data=vfhgan.eval_set(run, cfg, split))
                                for split in ("test", "train"))  # and on people it was trained on
        metrics[key], metrics[key.replace("_seeds", "_train_seeds")] = held_out, trained_on
        print(f"{row} model, mouth PSNR with its audio {use_line(held_out)}; on training people "
              f"{use_line(trained_on)}", flush=True)
    out = {"setting": st, "preset": cfg.preset, "steps": steps, "seeds": seeds(cfg), "tables": list(tables),
           "control_families": list(families), "train_seconds": train_s, "runs_trained": n_trained,
           "metrics": metrics, **audit(sidecar, st)}
    if args.out is not None:
        write(out, args.out)
    return out


AUDIO_USE = {"still_audio": "control_audio_use_seeds", "jaw_audio": "jaw_control_audio_use_seeds"}


def world_bounds(cfg, metrics: dict) -> dict[str, dict[str, float]]:
    """What the world allows, from `reproduce.headroom.world_still_headroom` of the held-out clips (the shared map
    fitted on the training clips): the still-mouth control's ceiling at its visual-only row's mouth PSNR
    ({"control_ceilings": ...}, when that control ran) and the audio claim's at Table 1's no-audio PSNR
    ({"claim_ceilings": ...}, when Table 1 ran); prints each."""
    from avfh_core.data import synth
    from avfh_core.reproduce.headroom import world_still_headroom

    still = (metrics.get("controls") or {}).get("still_visual", {}).get("mouth_psnr")
    base = (metrics.get("table1") or {}).get("no_audio", {}).get("psnr")
    if still is None and base is None:
        return {}
    head = world_still_headroom(synth.world(cfg), synth.world(cfg, mouth_motion=0.0), cfg.n_eval_clips,
                                cfg.n_train_clips)
    out: dict[str, dict[str, float]] = {}
    if still is not None:
        full, shared = head.gain_db(still), head.gain_db(still, shared=True)
        print(f"audio control ceiling at the still-mouth visual-only mouth PSNR {still:.3f} dB: {full:.3f} dB "
              f"({shared:.3f} dB through one map of the mouth state for everyone)", flush=True)
        out["control_ceilings"] = {"audio_needed_when_mouth_still": full}
    if base is not None:
        bound = head.frame_gain_db(base)
        print(f"Table 1's audio claim: knowing the articulation could add at most {bound:.3f} dB to the no-audio "
              f"row's full-frame PSNR {base:.3f} dB", flush=True)
        out["claim_ceilings"] = {"audio_improves_psnr": bound}
    return out


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
    """Re-audit the saved batch at `path` with the current bounds of the world; the batch's scores are untouched."""
    from avfh_core.config import preset_values, setup

    try:
        saved = json.loads(path.read_text())
        metrics, st, preset = saved["metrics"], saved["setting"], saved["preset"]
        if not isinstance(metrics, dict) or not any(k in metrics for k in ("controls", "table1", "table3")):
            raise KeyError("metrics holds no table and no control")
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise SystemExit(f"--rescore {path}: not a power batch written by this script ({type(e).__name__}: {e})") from e
    cfg = setup(preset, seed=0, device="cpu", steps=saved.get("steps") or preset_values(preset)["vfhgan_ablation_steps"],
                n_seeds=len(saved.get("seeds", [])) or None)
    old = metrics.get("control_ceilings", {}).get("audio_needed_when_mouth_still")
    print(f"{path}: stored audio control ceiling {old}")
    metrics = {**metrics, **world_bounds(cfg, metrics)}
    out = {**saved, "metrics": metrics, **audit({"config": {"preset": preset, "seed": 0}, "metrics": metrics}, st)}
    write(out, out_path)
    return out


if __name__ == "__main__":
    main()
