"""Can a CPU-trained VFH-GAN pass the audio control? The two rows of the erased-mouth control (the mouth box erased
from every LR frame, train and test: only the audio can restore it), trained for longer than the course preset's
ablation runs, with audio use measured at evaluation time (the audio model fed its own audio, another clip's,
and silence).

    .venv/bin/python benchmarks/vfhgan_audio_control.py --steps 300 1000 --setting balanced

Prints, per step count: held-out PSNR and mouth PSNR of the visual-only and the audio model, and the audio model's
mouth PSNR with intact / shuffled / silenced audio. The control passes when the audio model's mouth PSNR clearly
beats the visual-only model's and drops when its audio is shuffled or silenced. One seed, one thread; runs are not
cached (they train for the printed step counts, not the preset's).
"""

from __future__ import annotations

import argparse
import time

import torch


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--setting", choices=("released", "balanced"), default="balanced")
    ap.add_argument("--preset", default="course")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from avfh_core.config import setup
    from avfh_core.train import vfhgan
    from avfh_core.train.evaluate import audio_use, evaluate

    for steps in args.steps:
        cfg = setup(args.preset, seed=args.seed, device="cpu", steps=steps)
        for row, run in vfhgan.control_runs(cfg, args.setting).items():
            start = time.perf_counter()
            trained = vfhgan.train(run, cfg, seed=args.seed)
            data, idx = vfhgan.eval_set(run, cfg)
            s = evaluate(vfhgan.predict, vfhgan.score, trained.models, data, idx, cfg)
            line = (f"{args.setting} {steps:5d} steps {row:13s} PSNR {s['psnr']:.3f}  mouth PSNR {s['mouth_psnr']:.3f}"
                    f"  ({time.perf_counter() - start:.0f} s)")
            if row == "erased_audio":
                au = audio_use(vfhgan.predict, vfhgan.score, trained.models, data, idx, cfg, seed=args.seed)
                line += "  mouth PSNR with audio " + ", ".join(f"{c} {au[c]['mouth_psnr']:.3f}" for c in au)
            print(line, flush=True)


if __name__ == "__main__":
    main()
