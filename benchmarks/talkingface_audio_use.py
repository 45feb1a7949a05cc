"""Does a longer course run of the talking-face generator start to use its audio? Proposed trained for --steps
(the course preset trains 1500), with the collapse monitor (`train.talkingface.collapse_monitor`: held-out people,
intact vs another clip's speech) every --every steps, phase 2 (the discriminators) from the preset's
talkingface_phase1_frac of the steps on.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/talkingface_audio_use.py --steps 6000

Prints, per monitor step: how much the mouth region moves when the speech is swapped (out_change), the generated
mouth motion against the true one, and the masked L1 against copying the condition frame. One seed, one thread;
the run is not cached (it trains for the given steps, not the preset's). About 100 min for 6000 steps on one
loaded core of a 2-core machine (2026-12-06).
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--every", type=int, default=500, help="collapse monitor every N steps")
    ap.add_argument("--preset", default="course")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.steps < 1 or args.every < 1:
        ap.error("--steps and --every must be >= 1")

    from avfh_core.config import setup
    from avfh_core.train import talkingface as tf

    cfg = setup(args.preset, seed=args.seed, device="cpu", talkingface_steps=args.steps,
                talkingface_monitor_every=args.every)
    phase2 = int(round(cfg.talkingface_phase1_frac * args.steps))
    t0 = time.time()
    trained = tf.train(tf.PROPOSED, cfg, seed=args.seed)
    print(f"{args.preset}, seed {args.seed}: {args.steps} steps in {time.time() - t0:.0f} s (phase 2 from step "
          f"{phase2})")
    for e in trained.log.evals:
        print(f"step {e['step']:6d}  out_change {e['out_change']:.2e}  mouth motion {e['motion_gen']:.2e} (true "
              f"{e['motion_true']:.2e})  masked L1 {e['l1_intact']:.6f} (copy {e['l1_copy']:.6f})  "
              f"{'uses the audio' if e['uses_audio'] else 'ignores the audio'}")
    final = tf.collapse_monitor(trained.models, tf.clip_data(cfg, "test", "lrw"), device="cpu")
    print("final:", final["verdict"])


if __name__ == "__main__":
    main()
