"""Can a CPU-trained VFH-GAN pass the audio control? The two rows of the still-mouth control (every LR frame, train
and test, rendered with a still mouth while the HR and the speech articulate: only the audio can say how the mouth
moves; `vfhgan.control_runs`), trained for longer than the course preset's ablation runs, with audio use measured at evaluation time (the audio model fed its own audio, another clip's,
and silence). With --oracle, a third row: the audio model whose "audio" is an exact readout of the mouth state
(jaw, spread, closure per frame, laid out as a mel window), i.e. the best audio the world could give it.

    .venv/bin/python benchmarks/vfhgan_audio_control.py --steps 300 1000 --setting balanced --oracle

Probes of why the audio goes unused (each changes the control's rows the same way; none is the paper's training):
--audio-gain gives the audio rows a learned per-position gain on the broadcast audio vector (`VFHGANConfig.
audio_gain`); --objective pixel trains on the pixel MSE alone (no perceptual, frequency, lip or GAN term competing);
--mouth-weight K weights the pixel MSE inside each frame's mouth box K times (the other terms as they are).

Prints the headroom of the held-out clips first (`reproduce.headroom`: what perfect use of the mouth state could
add), then, per step count: held-out PSNR and mouth PSNR of each row, with the largest audio gain the headroom
allows at the visual-only row's mouth PSNR, and the audio rows' mouth PSNR with intact / shuffled / silenced audio.
The control passes when the audio model's mouth PSNR clearly beats the visual-only model's and drops when its
audio is shuffled or silenced. One seed, one thread; runs are not cached (they train for the printed step counts,
not the preset's).
"""

from __future__ import annotations

import argparse
import copy
import time

import torch


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


def probe_run(run, cfg, *, audio_gain: bool, pixel_only: bool):
    """`run` changed by the probes: a per-position audio gain at the LR side (audio rows only), the pixel MSE alone."""
    from avfh_core.train import vfhgan

    gen = dict(run.generator)
    if audio_gain and run.generator_config(cfg).use_audio:
        gen["audio_gain"] = cfg.hr_size // cfg.scale
    weights = ({k: (1.0 if k == "pixel" else 0.0) for k in vfhgan.RELEASED_WEIGHTS} if pixel_only
               else dict(run.weights))
    return vfhgan.VFHGANRun.make(run.model, generator=gen, weights=weights, world=dict(run.world),
                                 perceptual=run.perceptual)


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
    args = ap.parse_args(argv)
    if not args.mouth_weight >= 1:
        ap.error(f"--mouth-weight must be >= 1, got {args.mouth_weight}")
    torch.set_num_threads(1)

    from avfh_core.config import setup
    from avfh_core.data import synth
    from avfh_core.reproduce.headroom import samples_headroom
    from avfh_core.train import vfhgan
    from avfh_core.train.evaluate import audio_use, evaluate

    MouthWeighted = _mouth_weighted(vfhgan.VFHGANObjective)

    cfg0 = setup(args.preset, seed=args.seed, device="cpu")
    test_samples = synth.world(cfg0).dataset("test", n_clips=cfg0.n_eval_clips)
    head = samples_headroom(test_samples)
    print(f"headroom ({head.n_clips} held-out clips): clip-mean mouth {head.appearance_psnr:.2f} dB, with the mouth "
          f"state {head.articulation_psnr:.2f} dB, state explains {head.explained_share:.2f} of the within-clip error",
          flush=True)
    for steps in args.steps:
        cfg = setup(args.preset, seed=args.seed, device="cpu", steps=steps)
        runs = {k: probe_run(r, cfg, audio_gain=args.audio_gain, pixel_only=args.objective == "pixel")
                for k, r in vfhgan.control_runs(cfg, args.setting).items()}
        rows = list(runs) + (["still_oracle"] if args.oracle else [])
        visual_mouth = None
        for row in rows:
            run = runs["still_audio" if row == "still_oracle" else row]
            train = vfhgan.window_data(cfg, "train", dict(run.world))
            data, idx = vfhgan.eval_set(run, cfg)
            if row == "still_oracle":
                train = oracle_audio(train, synth.world(cfg).dataset("train", n_clips=cfg.n_train_clips))
                data = oracle_audio(data, test_samples)
            start = time.perf_counter()
            objective = vfhgan.build_objective(cfg, run.loss_weights(), run.perceptual)
            if args.mouth_weight != 1:
                objective = MouthWeighted(objective.weights, objective.perceptual, objective.frequency, objective.lip,
                                          mouth_weight=args.mouth_weight)
            trained = vfhgan.train(run, cfg, seed=args.seed, data=train, objective=objective)
            s = evaluate(vfhgan.predict, vfhgan.score, trained.models, data, idx, cfg)
            line = (f"{args.setting} {steps:5d} steps {row:13s} PSNR {s['psnr']:.3f}  mouth PSNR {s['mouth_psnr']:.3f}"
                    f"  ({time.perf_counter() - start:.0f} s)")
            if row == "still_visual":
                visual_mouth = s["mouth_psnr"]
                line += f"  (perfect audio could add at most {head.gain_db(visual_mouth):.3f} dB)"
            else:
                au = audio_use(vfhgan.predict, vfhgan.score, trained.models, data, idx, cfg, seed=args.seed)
                line += "  mouth PSNR with audio " + ", ".join(f"{c} {au[c]['mouth_psnr']:.3f}" for c in au)
            print(line, flush=True)


if __name__ == "__main__":
    main()
