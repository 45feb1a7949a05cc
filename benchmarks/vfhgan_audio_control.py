"""Can a CPU-trained VFH-GAN pass the audio control? The two rows of the still-mouth control (every LR frame, train
and test, rendered with a still mouth while the HR and the speech articulate: only the audio can say how the mouth
moves; `vfhgan.control_runs`), trained for longer than the course preset's ablation runs, with audio use measured
at evaluation time (the audio model fed its own audio, another clip's, and silence; on held-out people, and on
people it was trained on: unused there too means never learned, rather than not carried over to new people). With
--oracle, a third row: the audio model whose "audio" is an exact readout of the mouth state (jaw, spread, closure
per frame, laid out as a mel window), i.e. the best audio the world could give it.

    .venv/bin/python benchmarks/vfhgan_audio_control.py --steps 300 1000 --setting balanced --oracle

Probes of why the audio goes unused (each changes the control's rows the same way; none is the paper's training):
--audio-gain gives the audio rows a learned per-position gain on the broadcast audio vector (`VFHGANConfig.
audio_gain`); --objective pixel trains on the pixel MSE alone (no perceptual, frequency, lip or GAN term competing);
--mouth-weight K weights the pixel MSE inside each frame's mouth box K times (the other terms as they are);
--early-fusion also adds the audio vector to the centre frame's features before the backbone (`early_audio`), so
the whole backbone can place it, where eq. 2-3 join it after the backbone and leave the placing to the few layers
after it.

--lip-share S turns on the paper's lip-reading loss (eq. 5: an L1 between the lip reader's features of the generated
and the true mouth crops; off in the course preset's ablation and control runs, `vfhgan_ablation_lip`) with its
weight set the way the balanced setting sets every term's (`vfhgan.balanced_weights`): S is its share of the
step-0 gradient norm against the pixel term's 0.5 (the balanced setting's own lip share is 0.1). Eq. 11 leaves the
weight (alpha) open, so this stays inside the paper's objective: the term the paper adds so that the generator
draws the mouth. Balanced setting only. With --lip-window generated the lip reader sees a window whose frames are all
generated (eq. 5 as written, 2j+1 generator passes per item) instead of the true window with the centre frame
replaced (the released code's form, the default). --lip-articulation prints, before any training, how much of each
loss's value at the control's starting point (the bicubic of the still-mouth LR) is the articulation alone: the loss
of a sharp frame whose mouth is in the wrong (still) state over the loss of that bicubic, for eq. 5 on a fully
generated window, eq. 5 in the centre form we train with, and the pixel MSE inside the mouth box
(`articulation_shares`).

--mouth-motion M scales the articulation the HR shows and the oracle reads (the LR mouth stays still, the speech is
unchanged): a larger planted effect of the same kind. --plant-jaw A plants an effect that is the same for every
person on top: each HR frame's mouth box is darkened by A times the frame's jaw opening (the world's own jaw track,
which the speech carries), in every row; with --oracle it separates learning to read the speech from learning to
draw the mouth.

--encoder-probe N1 N2 ... trains the audio branch alone (`models.vfhgan.AudioBranch`, the generator's width, its
optimiser settings and batch) with a linear head to read the centre frame's mouth state from the mel window, and
prints its held-out R^2 after N1, N2, ... steps: how many steps the branch needs to read the speech when it is told
what to read, against the training runs, where it learns only through the super-resolution loss.

Prints the headroom of the held-out clips first (`reproduce.headroom.world_still_headroom`: what perfect use of
the articulation could add, and the part of it one map of the mouth state for everyone explains), then, per step
count: held-out PSNR and mouth PSNR of each row, with the largest audio gain the headroom allows at the visual-only
row's mouth PSNR, and the audio rows' mouth PSNR with intact / shuffled / silenced audio.
The control passes when the audio model's mouth PSNR clearly beats the visual-only model's and drops when its
audio is shuffled or silenced. One seed, one thread; runs are not cached (they train for the printed step counts,
not the preset's; --progress shows each row's bar, with the time it has left, on stderr). --rows trains only the
rows named, so the rows can be split over processes (each row draws from its own seeded generators: a row prints
the same line alone as beside the others). --set NAME=VALUE changes a config knob (`config.setup`: e.g. width=64
vfhgan_stages=6, the gpu preset's generator at the course's 64 px).

--out FILE writes every trained row's numbers (with the seed and the probe's options) to FILE as JSON, rewritten
atomically after each row, so an interrupted run keeps the rows it finished. --score FILE... trains nothing: it
gathers the rows of such files (from several seeds and processes), pairs the rows trained with the same options and
steps by seed, and scores the control with the audit's own test (`metrics.stats.one_sided_verdict`, paired,
one-sided 95 %): the speech-fed row's held-out mouth PSNR over the visual-only row's, and its audio use (intact over
shuffled and over silenced, on held-out and on training people), each with its interval and minimum detectable
effect. --seeds S... scores only those seeds' rows and --alpha A sets the one-sided level, for a planned later look
at more seeds (`reproduce.control_probe.two_look_false_positive` gives what two looks cost together); --power N...
plans the next test from the control's per-seed spread (`reproduce.control_probe.power_lines`): its MDE and its
chance of detecting a few effects over N seeds:

    .venv/bin/python benchmarks/vfhgan_audio_control.py --steps 3000 --seed 1 --rows still_audio --out a1.json
    .venv/bin/python benchmarks/vfhgan_audio_control.py --score a*.json v*.json
    .venv/bin/python benchmarks/vfhgan_audio_control.py --score a*.json v*.json --seeds 0 1 2 3 4 --alpha 0.025
    .venv/bin/python benchmarks/vfhgan_audio_control.py --score a*.json v*.json --power 3 5 8
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time
from pathlib import Path
from unittest import mock

import torch

from avfh_core.cli import _parse_assignment
from avfh_core.reproduce.control_probe import (
    PROBE_OPTIONS,
    power_lines,
    read_records,
    score_lines,
    score_records,
    write_records,
)
from avfh_core.train.vfhgan import LIP_WINDOWS


def oracle_audio(ds, samples):
    """A copy of WindowDataset `ds` whose per-clip mel is replaced by the clip's mouth state (jaw, spread, closed),
    each repeated over a third of the mel bins and over each frame's mel steps: the audio an ideal speech encoder
    would hand the generator."""
    from avfh_core.data.audio import MEL_STEPS_PER_FRAME
    from avfh_core.reproduce.headroom import mouth_states

    out = copy.copy(ds)
    out.clips = []
    for d, st in zip(ds.clips, mouth_states(samples)):
        n_mels = d["mel"].shape[0]
        rows = torch.tensor_split(torch.arange(n_mels), st.shape[1])
        mel = torch.empty_like(d["mel"])
        steps = st.T.repeat_interleave(MEL_STEPS_PER_FRAME, dim=1)[:, :mel.shape[1]]
        for k, r in enumerate(rows):
            mel[r] = steps[k]
        out.clips.append(dict(d, mel=mel))
    return out


def encoder_probe(cfg, steps: list[int], seed: int = 0) -> dict[int, list[float]]:
    """The audio branch trained directly on the mouth state (see the module docstring): {steps: held-out R^2 of
    jaw, spread, closed}. Batch cfg.batch_size, Adam(cfg.lr, betas (0.9, 0.99)) as the generator; its own seeds."""
    from avfh_core.data import synth
    from avfh_core.data.audio import frame_window
    from avfh_core.models.vfhgan import AudioBranch
    from avfh_core.nn.init import build
    from avfh_core.reproduce.headroom import mouth_states
    from avfh_core.train import vfhgan

    def items(split, n):  # each window's mel (as the generator gets it) and its centre frame's state
        ds = vfhgan.window_data(cfg, split)
        states = mouth_states(synth.world(cfg).dataset(split, n_clips=n))
        return (torch.stack([frame_window(ds.clips[c]["mel"], t, ds.window)[None] for c, t in ds.index]),
                torch.stack([states[c][t] for c, t in ds.index]).float())

    mel_tr, st_tr = items("train", cfg.n_train_clips)
    mel_te, st_te = items("test", cfg.n_eval_clips)
    enc = build(seed, "audio_probe", lambda: torch.nn.Sequential(AudioBranch(cfg.width),
                                                                 torch.nn.Linear(cfg.width, st_tr.shape[1])))
    opt = torch.optim.Adam(enc.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(seed)
    out = {}
    for step in range(1, max(steps) + 1):
        idx = torch.randint(0, len(mel_tr), (cfg.batch_size,), generator=g)
        loss = (enc(mel_tr[idx]) - st_tr[idx]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in steps:
            with torch.no_grad():
                err = (enc(mel_te) - st_te).pow(2).mean(0)
            out[step] = [float(v) for v in 1 - err / st_te.var(0, unbiased=False)]
    return out


def articulation_shares(cfg, lip) -> dict[str, float]:
    """How much of a loss's value at the still-mouth control's starting point is the articulation alone, on the
    held-out windows (`vfhgan.eval_indices`): loss(sharp frames of the same clip rendered with a still mouth, HR) /
    loss(bicubic of the still-mouth LR, HR), averaged over windows each. For "eq5 window" (the lip reader sees all
    2j+1 frames replaced, eq. 5 as written), "eq5 centre" (only the centre frame replaced, the form we train with)
    and "mouth-box MSE" (the centre frame's pixel MSE inside its mouth box). `lip`: a `LipReadingLoss`."""
    from avfh_core.data import synth
    from avfh_core.data.degrade import bicubic_up
    from avfh_core.metrics.image import box_mask, mse
    from avfh_core.train import vfhgan

    art = vfhgan.window_data(cfg, "test")
    still_lr = vfhgan.window_data(cfg, "test", {vfhgan.STILL_MOUTH: True})
    still_hr = synth.world(cfg, mouth_motion=0.0).dataset("test", n_clips=cfg.n_eval_clips)
    idx, c = vfhgan.eval_indices(art, cfg), cfg.window
    sums = {k: [0.0, 0.0] for k in ("eq5 window", "eq5 centre", "mouth-box MSE")}
    with torch.no_grad():
        for k in idx:
            item, clip, t = art[k], *art.index[k]
            hr, lm = item["hr"][None], item["landmarks"][None]
            wrong = still_hr[clip].video[t - c:t + c + 1][None].to(hr.dtype)
            start = bicubic_up(still_lr[k]["lr"], cfg.scale).clamp(0, 1)[None]
            mask = box_mask(tuple(hr.shape[-2:]), item["mouth_box"][None])
            for i, x in enumerate((wrong, start)):
                sums["eq5 window"][i] += float(lip(x, hr, lm))
                sums["eq5 centre"][i] += float(lip(vfhgan.replace_centre(hr, x[:, c], c), hr, lm))
                sums["mouth-box MSE"][i] += float(mse(x[:, c], hr[:, c], mask=mask))
    return {k: a / b for k, (a, b) in sums.items()}


def probe_run(run, cfg, *, audio_gain: bool, pixel_only: bool, mouth_motion: float = 1.0, plant_jaw: float = 0.0,
              lip_weight: float | None = None, lip_window: str = "centre"):
    """`run` changed by the probes: a per-position audio gain at the LR side (audio rows only), the pixel MSE alone,
    the HR (and the speech's) articulation scaled by `mouth_motion` (the LR mouth stays still), the HR mouth boxes
    darkened by `plant_jaw` x the jaw opening (`vfhgan.plant_jaw`; the world of `vfhgan.jaw_control_runs`), the
    lip-reading term's weight set to `lip_weight` (None: the run's own), seeing `lip_window` (`vfhgan.LIP_WINDOWS`)."""
    from avfh_core.train import vfhgan

    gen = dict(run.generator)
    if audio_gain and run.generator_config(cfg).use_audio:
        gen["audio_gain"] = cfg.hr_size // cfg.scale
    weights = ({k: (1.0 if k == "pixel" else 0.0) for k in vfhgan.RELEASED_WEIGHTS} if pixel_only
               else dict(run.weights))
    if lip_weight is not None:
        if pixel_only:
            raise ValueError("probe_run: lip_weight and pixel_only exclude each other")
        weights["lip"] = lip_weight
    world = dict(run.world, **({"mouth_motion": mouth_motion} if mouth_motion != 1 else {}),
                 **({vfhgan.PLANT_JAW: plant_jaw} if plant_jaw else {}))
    return vfhgan.VFHGANRun.make(run.model, generator=gen, weights=weights, world=world,
                                 perceptual=run.perceptual, lip_window=lip_window)


def early_audio(models: dict) -> dict:
    """Make the generator in `models` (audio rows only) also add its audio vector psi(a) to the centre frame's
    primary features before the backbone, besides the usual fusion after it (eq. 2): forward hooks on the generator
    (to keep the mel) and its backbone (to add the vector), so the paper's module is unchanged and no random draw
    moves. A probe of whether the late, shallow fusion is why the audio goes unused; not the paper's model."""
    gen = models["generator"]
    if not getattr(gen, "config", None) or not gen.config.use_audio:
        return models
    held = {}

    def keep_mel(module, args, kwargs):
        held["mel"] = args[1] if len(args) > 1 else kwargs["mel"]

    def add_audio(module, args):
        return (args[0] + gen.audio_branch(held["mel"])[:, :, None, None],)

    gen.register_forward_pre_hook(keep_mel, with_kwargs=True)
    gen.backbone.register_forward_pre_hook(add_audio)
    return models


def _mouth_weighted(base):
    """A VFHGANObjective subclass whose pixel MSE weights each frame's mouth box `mouth_weight` times."""

    class MouthWeighted(base):
        def __init__(self, *a, mouth_weight: float = 1.0, **k):
            super().__init__(*a, **k)
            self.mouth_weight = mouth_weight

        def generator_terms(self, sr, batch, discriminator=None, sr_window=None):
            terms = super().generator_terms(sr, batch, discriminator, sr_window)
            if "pixel" in terms:
                from avfh_core.metrics.image import box_mask

                hr = batch["hr"][:, batch["hr"].shape[1] // 2]
                inside = box_mask(tuple(hr.shape[-2:]), batch["mouth_box"], device=hr.device).to(hr.dtype)[:, None]
                wmap = 1 + (self.mouth_weight - 1) * inside
                terms["pixel"] = ((sr - hr) ** 2 * wmap).mean() / wmap.mean()  # same scale as the MSE outside
                terms["total"] = sum(self.weights[k] * v for k, v in terms.items() if k != "total")
            return terms

    return MouthWeighted


ROWS = ("still_visual", "still_audio", "still_oracle")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--setting", choices=("released", "balanced"), default="balanced")
    ap.add_argument("--preset", default="course")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--oracle", action="store_true", help="add the row whose audio is the mouth state itself")
    ap.add_argument("--audio-gain", action="store_true", help="the audio rows get a learned per-position audio gain")
    ap.add_argument("--objective", choices=("setting", "pixel"), default="setting",
                    help="setting: the setting's loss terms (the control's own); pixel: the pixel MSE alone")
    ap.add_argument("--mouth-weight", type=float, default=1.0, help="weight of the mouth box in the pixel MSE (>= 1)")
    ap.add_argument("--plant-jaw", type=float, default=0.0,
                    help="darken each HR mouth box by this times the frame's jaw opening (0: off)")
    ap.add_argument("--encoder-probe", type=int, nargs="*", default=[],
                    help="train the audio branch alone on the mouth state; print its held-out R^2 at these steps")
    ap.add_argument("--early-fusion", action="store_true",
                    help="the audio rows also add the audio vector before the backbone (a probe, not the paper)")
    ap.add_argument("--mouth-motion", type=float, default=1.0,
                    help="scale of the articulation the HR shows and the oracle reads (data.synth mouth_motion)")
    ap.add_argument("--lip-share", type=float, default=None, metavar="S",
                    help="turn on the paper's lip-reading term at this share of the step-0 gradient (the pixel "
                         "term's is 0.5; the balanced setting's lip share is 0.1); balanced setting only")
    ap.add_argument("--lip-window", choices=LIP_WINDOWS, default="centre",
                    help="with --lip-share: what the lip reader sees (generated: eq. 5 as written)")
    ap.add_argument("--lip-articulation", action="store_true",
                    help="print the articulation's part of eq. 5's and the mouth-box MSE's value at the control's "
                         "starting point (`articulation_shares`)")
    ap.add_argument("--rows", nargs="+", choices=ROWS, default=None,
                    help="train only these rows (default: all; still_oracle needs --oracle), e.g. to split the "
                         "rows over processes")
    ap.add_argument("--set", action="append", default=[], type=_parse_assignment, metavar="NAME=VALUE",
                    help="a config knob over the preset's (config.setup), e.g. width=64; repeatable")
    ap.add_argument("--out", type=Path, default=None,
                    help="write every trained row's numbers here (JSON, rewritten after each row)")
    ap.add_argument("--score", type=Path, nargs="+", default=None, metavar="FILE",
                    help="train nothing: score the control over the rows saved in these --out files")
    ap.add_argument("--alpha", type=float, default=0.05,
                    help="with --score: the one-sided level of each test (default 0.05; a planned later look at "
                         "the same hypothesis uses a smaller one)")
    ap.add_argument("--power", type=int, nargs="+", default=None, metavar="N",
                    help="with --score: plan the next test from the control's per-seed spread: its MDE and the "
                         "chance of detecting a few effects over N seeds")
    ap.add_argument("--progress", action="store_true",
                    help="a progress bar per row on stderr (steps done, rate, time left), for rows that run for hours")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="with --score: score only these seeds' rows (default: every saved seed)")
    args = ap.parse_args(argv)
    if args.power is not None and (not args.score or min(args.power) < 2):
        ap.error("--power needs --score and seed counts of at least 2")
    if args.score:
        if not 0 < args.alpha < 0.5:
            ap.error(f"--alpha must be in (0, 0.5), got {args.alpha}")
        try:
            scored = score_records(read_records(args.score), alpha=args.alpha, seeds=args.seeds)
            print("\n".join(score_lines(scored)))
            for g in scored if args.power else ():
                control = [t for t in g["tests"] if t["name"].startswith("control")]
                if control:
                    print("\n".join(power_lines(control[0], args.power, alpha=args.alpha)))
        except ValueError as exc:  # a file that is not the probe's, or a row saved twice: named, nothing trained
            raise SystemExit(f"--score: {exc}") from None
        return
    if any(k in ("steps", "seed") for k, _ in args.set):
        ap.error("--set: give steps and seed as --steps and --seed")
    if args.out is not None and args.out.exists():  # an earlier run's rows are never overwritten
        ap.error(f"--out {args.out}: the file exists (an earlier run's rows?); remove it or name another file")
    from avfh_core.config import KNOB_RULES

    try:  # each value as its knob's type, as `avfh reproduce --set` converts it; an unknown knob is named by setup
        knobs = {k: KNOB_RULES[k].convert(k, v, "--set") if k in KNOB_RULES else v for k, v in args.set}
    except ValueError as exc:
        ap.error(str(exc))
    if args.rows and "still_oracle" in args.rows and not args.oracle:
        ap.error("--rows still_oracle needs --oracle")
    if not args.mouth_weight >= 1:
        ap.error(f"--mouth-weight must be >= 1, got {args.mouth_weight}")
    if not 0 <= args.plant_jaw <= 1:
        ap.error(f"--plant-jaw must be in [0, 1], got {args.plant_jaw}")
    if args.lip_window != "centre" and args.lip_share is None:
        ap.error("--lip-window needs --lip-share (the lip term is off in the control rows otherwise)")
    if args.lip_share is not None:
        if not args.lip_share > 0:
            ap.error(f"--lip-share must be > 0, got {args.lip_share}")
        if args.setting != "balanced" or args.objective != "setting":
            ap.error("--lip-share needs --setting balanced and --objective setting (the weight is set as the "
                     "balanced setting sets its terms')")
    torch.set_num_threads(1)

    from avfh_core.config import setup
    from avfh_core.data import synth
    from avfh_core.reproduce.audio_use import by_condition, use_line
    from avfh_core.reproduce.headroom import MOUTH_STATE, windows_mel_readout, world_still_headroom
    from avfh_core.train import vfhgan
    from avfh_core.train.evaluate import audio_use, evaluate

    MouthWeighted = _mouth_weighted(vfhgan.VFHGANObjective)
    init = vfhgan.init

    try:
        cfg0 = setup(args.preset, seed=args.seed, device="cpu", **knobs)
    except ValueError as exc:  # an unknown knob or a value out of its range, named by setup
        ap.error(f"--set: {exc}")
    if knobs:
        print("knobs over the preset's: " + ", ".join(f"{k}={v}" for k, v in knobs.items()), flush=True)
    motion = {"mouth_motion": args.mouth_motion} if args.mouth_motion != 1 else {}
    world, still = synth.world(cfg0, **motion), synth.world(cfg0, mouth_motion=0.0)
    test_samples = world.dataset("test", n_clips=cfg0.n_eval_clips)
    train_samples = world.dataset("train", n_clips=cfg0.n_train_clips)
    head = world_still_headroom(world, still, cfg0.n_eval_clips, cfg0.n_train_clips)
    print(f"headroom ({head.n_clips} held-out clips): the articulation moves the mouth crops by an MSE of "
          f"{head.articulation_mse:.2e}; one map of the mouth state for everyone explains {head.shared_share:.2f} "
          "of it", flush=True)
    r2 = windows_mel_readout(vfhgan.window_data(cfg0, "train"), train_samples, vfhgan.window_data(cfg0, "test"),
                             test_samples)
    print("the speech carries the mouth state: a linear readout of each frame's mel reaches a held-out R^2 of "
          + ", ".join(f"{k} {v:.2f}" for k, v in zip(MOUTH_STATE, r2)), flush=True)
    if args.encoder_probe:
        for n, r in encoder_probe(cfg0, sorted(set(args.encoder_probe)), args.seed).items():
            print(f"the audio branch trained on the mouth state alone, {n:5d} steps: held-out R^2 "
                  + ", ".join(f"{k} {v:.2f}" for k, v in zip(MOUTH_STATE, r)), flush=True)
    if args.plant_jaw:
        print(f"planted: each HR mouth box darkened by {args.plant_jaw} x the frame's jaw opening (the headroom "
              "bounds printed with the rows are the natural articulation's, not the planted effect's)", flush=True)
    if args.lip_articulation:
        from avfh_core.losses.lipreading import LipReadingLoss
        from avfh_core.train.pretrain import pretrained_lipreader

        shares = articulation_shares(cfg0, LipReadingLoss(pretrained_lipreader(cfg0)[0]))
        print("the articulation alone, as a part of each loss at the control's start (a sharp mouth in the still "
              "state over the still-mouth bicubic): " + ", ".join(f"{k} {v:.3f}" for k, v in shares.items()),
              flush=True)
    lip_weight = None
    if args.lip_share is not None:
        lip_weight = vfhgan.balanced_weights(cfg0, dict(vfhgan.BALANCED_SHARES, lip=args.lip_share))["lip"]
        print(f"the lip-reading term on, at a {args.lip_share} share of the step-0 gradient (pixel "
              f"{vfhgan.BALANCED_SHARES['pixel']}): weight {lip_weight:.2g} (the balanced setting's, at "
              f"{vfhgan.BALANCED_SHARES['lip']}: {vfhgan.balanced_weights(cfg0)['lip']:.2g})", flush=True)
    probe = {k: getattr(args, k) for k in PROBE_OPTIONS if k != "knobs"} | {"knobs": knobs}
    records: list[dict] = []
    for steps in args.steps:
        cfg = setup(args.preset, seed=args.seed, device="cpu", steps=steps, **knobs)
        runs = {k: probe_run(r, cfg, audio_gain=args.audio_gain, pixel_only=args.objective == "pixel",
                             mouth_motion=args.mouth_motion, plant_jaw=args.plant_jaw, lip_weight=lip_weight,
                             lip_window=args.lip_window)
                for k, r in vfhgan.control_runs(cfg, args.setting).items()}
        rows = [r for r in list(runs) + (["still_oracle"] if args.oracle else []) if not args.rows or r in args.rows]
        visual_mouth = None
        for row in rows:
            run = runs["still_audio" if row == "still_oracle" else row]
            train = vfhgan.window_data(cfg, "train", dict(run.world))
            data, idx = vfhgan.eval_set(run, cfg)
            if row == "still_oracle":
                train, data = oracle_audio(train, train_samples), oracle_audio(data, test_samples)
            start = time.perf_counter()
            objective = vfhgan.build_objective(cfg, run.loss_weights(), run.perceptual)
            if args.mouth_weight != 1:
                objective = MouthWeighted(objective.weights, objective.perceptual, objective.frequency, objective.lip,
                                          mouth_weight=args.mouth_weight)
            # vfhgan.train builds its networks through vfhgan.init: the probe wraps it for this run only
            with (mock.patch.object(vfhgan, "init", lambda *a, **k: early_audio(init(*a, **k)))
                  if args.early_fusion else contextlib.nullcontext()):
                trained = vfhgan.train(run, cfg, seed=args.seed, data=train, objective=objective,
                                       progress=args.progress)
            s = evaluate(vfhgan.predict, vfhgan.score, trained.models, data, idx, cfg)
            seconds = time.perf_counter() - start
            rec = dict(seed=args.seed, steps=steps, row=row, probe=probe, weights=run.loss_weights(), psnr=s["psnr"],
                       mouth_psnr=s["mouth_psnr"], seconds=round(seconds, 1))
            line = (f"{args.setting} {steps:5d} steps {row:13s} PSNR {s['psnr']:.3f}  mouth PSNR {s['mouth_psnr']:.3f}"
                    f"  ({seconds:.0f} s)")
            if row == "still_visual":
                visual_mouth = s["mouth_psnr"]
                rec["ceiling_db"] = head.gain_db(visual_mouth)
                line += (f"  (perfect audio could add at most {head.gain_db(visual_mouth):.3f} dB, "
                         f"{head.gain_db(visual_mouth, shared=True):.3f} through one map for everyone)")
            else:
                au = audio_use(vfhgan.predict, vfhgan.score, trained.models, data, idx, cfg, seed=args.seed)
                # the same test on people it was trained on: unused there too means never learned, not "learned
                # on these people and not carried over to new ones"
                seen = audio_use(vfhgan.predict, vfhgan.score, trained.models, train, vfhgan.eval_indices(train, cfg),
                                 cfg, seed=args.seed)
                line += (f"  mouth PSNR with audio {use_line(by_condition([au]))}; on training people "
                         f"{use_line(by_condition([seen]))}")
                rec["audio_use"] = {people: {c: m["mouth_psnr"] for c, m in use.items()}
                                    for people, use in (("held_out", au), ("training", seen))}
            print(line, flush=True)
            if args.out:
                records.append(rec)
                write_records(args.out, records)


if __name__ == "__main__":
    main()
