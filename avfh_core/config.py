"""Presets, seeding, device choice: the one call every notebook makes first.

A preset is a named set of knobs stored here as data (not a sed over the notebook). A notebook's `parameters` cell
holds `preset`, `seed`, `device`, `data_root` and explicit knobs whose default is `None`, meaning "take the
preset's value"; it then calls

    cfg = setup(preset, seed=seed, device=device, data_root=data_root, steps=steps, ...)

which validates the names, seeds every generator, switches on deterministic algorithms on the CPU, picks the device
and returns a `RunConfig` (attribute access, `cfg.as_dict()` for the results sidecar).

Presets (see README for measured times):
- smoke:  CI; every notebook <= 60 s on 2 CPU cores. Tiny images, a handful of steps. Proves the code runs.
- course: the default; a student's laptop CPU, minutes per notebook, < 4 GB RAM, the paper's effect visible.
- gpu:    one H100-class GPU, paper resolution (32 -> 128), <= 15 min per training notebook, < 24 GB GPU memory.
- paper:  the paper's schedule (multi-GPU through torchrun).

`world_train_people` / `world_test_people` set the synthetic world's people (`data.synth.world` reads them): train
people (who also appear in the closed-set split) and held-out open-set people (>= 50 from course up, VividGAN's
recognition tables).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

PRESET_NAMES = ("smoke", "course", "gpu", "paper")

# Knobs shared by notebooks. Per-paper knobs carry the paper's prefix (e.g. `vfhgan_steps`).
# Image sizes are the HR side; the LR side is hr_size // scale.
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(
        hr_size=32, scale=4, window=2, n_train_clips=24, n_eval_clips=6, clip_frames=9, vocab_size=8,
        steps=12, batch_size=4, lr=2e-3, width=16, n_seeds=1, num_workers=0, amp=False,
        lipreader_steps=15, lipreader_width=8, mouth_size=24, lipreader_clips=24,
        eval_every=6, checkpoint_every=6, widgets=False, bench_frames=64,
        featnet_steps=30, featnet_width=8,
        vfhgan_stages=1, vfhgan_eval_windows=12, vfhgan_ablation_steps=3,
        vfhgan_ablation_seeds=1, vfhgan_ablation_lip=False,
        vfhgan_lip_demo_steps=8,
        world_train_people=40, world_test_people=12,
        vfhgan_d_lr=2e-3, vfhgan_grad_every=4,
        # secnet
        secnet_frames=4, secnet_batch=2, secnet_steps=3, secnet_lff_steps=1, secnet_max_stride=2,
        secnet_clip_frames=12, secnet_eval_clips=2, secnet_t3=1, secnet_flow_width=4, secnet_max_flow=4.0,
        secnet_lff_width=8, secnet_lff_blocks=1, secnet_erff_width=4, secnet_sfe_width=8, secnet_res_blocks=2,
        secnet_gamma=0.1, secnet_alpha=0.01, secnet_grad_every=0, secnet_ablation_steps=2, secnet_ablation_seeds=1,
        secnet_strong_translation=8.0,
        # talkingface
        talkingface_steps=4, talkingface_phase1_frac=0.5, talkingface_width=4, talkingface_paper_sizes=False,
        talkingface_g_lr=1e-3, talkingface_d_lr=1e-4, talkingface_alpha=1e-3, talkingface_beta=1e-3,
        talkingface_nr_weight=1e-3, talkingface_mask_sigma=0.12, talkingface_train_clips=16,
        talkingface_eval_clips=4, talkingface_grad_every=2, talkingface_monitor_every=0,
        talkingface_noise_seconds=2.0, talkingface_train_frames=4, talkingface_ablations=True,
        talkingface_design_sweeps=True,
        # vividgan
        vividgan_scale=4, vividgan_multipie_grid=False, vividgan_views=4, vividgan_train_scenes=16, vividgan_test_scenes=4,
        vividgan_width=8, vividgan_touch_width=4, vividgan_hg_depth=1, vividgan_coarse_steps=4,
        vividgan_touch_steps=2, vividgan_joint_steps=4, vividgan_lr=2e-3, vividgan_fine_lr=2e-3, vividgan_d_lr=2e-3,
        vividgan_grad_every=4,  # the gradient shares at each stage's step 0 only (every 2 steps cost ~4 s in 04)
        vividgan_sr_steps=4,
        # ear (Meishvili et al. 2020): tiny sizes, 1 s of audio; proves the stage chain runs
        ear_hr_size=32, ear_lr_size=8, ear_audio_seconds=1.0, ear_train_ids=8, ear_open_ids=4, ear_clips=32,
        ear_frames_per_clip=2, ear_eval_clips=12, ear_cls_clips=12, ear_latent_dim=32, ear_mapping_layers=2,
        ear_fmap_base=64, ear_fmap_max=16, ear_eh_filters=4, ear_el_filters=8, ear_ea_filters=2, ear_enc_max=16,
        ear_hidden=64, ear_gan_steps=10, ear_gan_batch=8, ear_gan_lr=0.002, ear_r1_gamma=10.0, ear_eh_pre_steps=5,
        ear_eh_tune_steps=5, ear_el_steps=5, ear_ea_steps=5, ear_fusion_steps=5, ear_batch=8, ear_lr=0.001,
        ear_lambda=40.0, ear_lambda_f=1.0, ear_lambda_t=1.0, ear_anchor_patience=5, ear_judge_steps=30,
        ear_judge_width=8, ear_spec_window=256, ear_spec_stride=248,
        ear_ref_scale=2, ear_baseline_steps=5, ear_baseline_width=8, ear_handicap=0.25,
    ),
    "course": dict(
        hr_size=64, scale=4, window=2, n_train_clips=192, n_eval_clips=24, clip_frames=29, vocab_size=20,
        steps=600, batch_size=8, lr=1e-3, width=32, n_seeds=3, num_workers=0, amp=False,
        # the lip reader at 400 steps was still underfit (train 0.65, held-out 0.48 word accuracy, chance 0.05); at 800
        # steps it reads 0.92 / 0.81 (64 s -> 110 s of CPU, one thread, quiet machine, 2026-12-05)
        lipreader_steps=800, lipreader_width=16, mouth_size=32, lipreader_clips=800,
        eval_every=100, checkpoint_every=100, widgets=True, bench_frames=1024,
        featnet_steps=400, featnet_width=16,
        # issue 12 budget (<= 20 min for the six vfhgan notebooks on 2 cores, >= 3 seeds per row). CPU ms per
        # course step, measured on a loaded machine (2026-12-04, one thread): pixel-only 127, no_audio 203, full
        # model 244, SRGAN 302, lip rows ~2x; a quiet machine ran 05's 600 full steps in 77 s (~130 ms/step wall).
        # The ablations (released: Tables 1-3, backbone, fusion, causal; balanced: Tables 1-3) are ~80 row-seed
        # units at 3 seeds: at 100 steps ~11 s of CPU per step of all rows quiet (~21 s loaded), i.e. ~9 min on
        # 2 processes (train.parallel.prefetch) quiet, ~16 min loaded; 60 steps if the quiet total runs over.
        vfhgan_stages=3, vfhgan_eval_windows=64, vfhgan_ablation_steps=100,
        vfhgan_ablation_seeds=3, vfhgan_ablation_lip=False,
        vfhgan_lip_demo_steps=120,
        world_train_people=100, world_test_people=50,
        vfhgan_d_lr=1e-3, vfhgan_grad_every=50,
        # secnet: 16 -> 64 px, N = 5 (the paper: 8), T3 = 2 (the paper: 6). CPU seconds per training step (one
        # thread, batch 2 x 5 frames, load ~2, 2026-12-04): single-frame 0.10, LFFNet 0.20, ERFFNet 0.31, SECNet
        # 0.47; so 250 SECNet steps ~2 min, one 100-step ablation row ~40 s.
        secnet_frames=5, secnet_batch=2, secnet_steps=250, secnet_lff_steps=100, secnet_max_stride=2,
        secnet_clip_frames=29, secnet_eval_clips=12, secnet_t3=2, secnet_flow_width=16, secnet_max_flow=4.0,
        secnet_lff_width=32, secnet_lff_blocks=4, secnet_erff_width=16, secnet_sfe_width=16, secnet_res_blocks=4,
        secnet_gamma=0.1, secnet_alpha=0.01, secnet_grad_every=50, secnet_ablation_steps=100, secnet_ablation_seeds=3,
        secnet_strong_translation=8.0,
        # talkingface: CPU s per course step measured on the loaded 2-core machine (2026-12-04, load ~5, one thread,
        # batch 8): 29-frame clips Proposed 2.7 (phase 1) / 2.9 (phase 2), Proposed-NR 6.4 / 6.7 (two generator
        # passes); 8-frame windows (talkingface_train_frames) Proposed 1.1, NR 1.6 (phase 2). 1500 steps: one-time
        # cached runs of ~27 min (Proposed) and ~40 min (NR) loaded, one seed. Two single-threaded processes side by
        # side (2026-12-06, run course-tf7/tf8): Proposed 462-515 s, NR 826-873 s, baseline 400 s, and the three
        # ablation rows 585-738 s per seed (nine runs, 56 min of wall time once; then cached).
        talkingface_steps=1500, talkingface_phase1_frac=0.7, talkingface_width=16, talkingface_paper_sizes=False,
        talkingface_g_lr=5e-4, talkingface_d_lr=5e-5, talkingface_alpha=1e-3, talkingface_beta=1e-3,
        talkingface_nr_weight=1e-3, talkingface_mask_sigma=0.12, talkingface_train_clips=400,
        talkingface_eval_clips=24, talkingface_grad_every=250, talkingface_monitor_every=250,
        talkingface_noise_seconds=8.0, talkingface_train_frames=8, talkingface_ablations=True,
        # design sweeps (notebook talkingface/04: mask sigma, the NR loss's parts; ~6 more runs per seed) off at
        # course: while every generator copies its condition frame (notebook 02's monitor) no such row can differ
        talkingface_design_sweeps=False,
        # vividgan: 16 -> 64 (x4; vividgan_scale=8 gives the x8 variant 8 -> 64). Budget (issue 15: notebooks 01-04 at
        # 3 seeds <= 45 min on a quiet 2-core machine) from CPU seconds per step (time.process_time, one thread, batch
        # 8, course sizes, 10 steps per stage, 2026-12-04, load ~2.5): F + Bicubic 0.011, Bicubic + F 0.064,
        # VividGAN-dagger 0.110, TANN stand-in 0.195, the L_sym control rows and L_mse-only 0.035 (320 steps each);
        # three-stage rows (mean over stages (i)/(ii)/(iii)) VividGAN 0.146, l_mse_h 0.073, l_id 0.127, l_sym 0.121,
        # l_coarse_d 0.137, V-TN 0.179 and V+GT 0.184 (stages (i)/(iii)). At 200/60/120 steps the 14 distinct trained
        # rows of a seed (Tab. III's l_full and Fig. 8's VividGAN are Tab. I's VividGAN run: one cached run; Tab. III's
        # l_balanced costs as VividGAN) take ~570 CPU s, so ~29 min for 3 seeds; once per preset: Phi 400 x 0.21 s, the
        # recognition net 400 x 0.26 s, rendering the 3,600 pairs ~30 s: ~33 min of CPU on one thread, under 45 min.
        # (Earlier wall-clock figures, ~25 min per seed, were on a machine loaded ~4.5 on 2 cores.)
        # Tab. I's learned-SR cascades (F + SR, SR + F): the SR network (models.baselines.SRResNet, width 16, 2 blocks,
        # x4) costs 0.082 CPU s per step (same measure, 2026-12-05, load ~3); vividgan_sr_steps=320 SR steps plus
        # the F steps above make ~30 s (F + SR) + ~47 s (SR + F) per seed: ~4 min for 3 seeds (~37 min in all).
        vividgan_scale=4, vividgan_multipie_grid=False, vividgan_views=8, vividgan_train_scenes=400, vividgan_test_scenes=50,
        vividgan_width=16, vividgan_touch_width=8, vividgan_hg_depth=2, vividgan_coarse_steps=200,
        vividgan_touch_steps=60, vividgan_joint_steps=120, vividgan_lr=1e-3, vividgan_fine_lr=1e-3,
        vividgan_d_lr=1e-3, vividgan_grad_every=50, vividgan_sr_steps=320,
        # ear: the paper's 8x8 input, 32x32 output, 4 s of audio as a 129x129 log spectrogram (window 256, stride
        # 496; the paper's 512 / 248 give 257x257 and made E_a 6x slower). CPU ms per step, batch 16, one thread,
        # load ~4 on 2 cores (2026-12-04): G+D 610, eq. 1 340, eq. 2 270, eq. 3 130, eq. 4 280, eq. 5 (tuned E_a)
        # 390; Table 2 baselines 57-156 (400 steps: ~2 min a seed). One seed of Tables 1-3 + controls + causal rows:
        # ~30 min of one loaded core (an estimate from these step times, not a course run).
        ear_hr_size=32, ear_lr_size=8, ear_audio_seconds=4.0, ear_train_ids=40, ear_open_ids=12, ear_clips=1200,
        ear_frames_per_clip=4, ear_eval_clips=200, ear_cls_clips=400, ear_latent_dim=128, ear_mapping_layers=4,
        ear_fmap_base=256, ear_fmap_max=64, ear_eh_filters=16, ear_el_filters=32, ear_ea_filters=8, ear_enc_max=128,
        ear_hidden=512, ear_gan_steps=400, ear_gan_batch=16, ear_gan_lr=0.002, ear_r1_gamma=10.0,
        ear_eh_pre_steps=200, ear_eh_tune_steps=300, ear_el_steps=400, ear_ea_steps=300, ear_fusion_steps=300,
        ear_batch=16, ear_lr=0.001, ear_lambda=40.0, ear_lambda_f=1.0, ear_lambda_t=1.0, ear_anchor_patience=50,
        ear_judge_steps=600, ear_judge_width=16, ear_spec_window=256, ear_spec_stride=496,
        ear_ref_scale=2, ear_baseline_steps=400, ear_baseline_width=32, ear_handicap=0.25,
    ),
    "gpu": dict(
        hr_size=128, scale=4, window=2, n_train_clips=2000, n_eval_clips=100, clip_frames=29, vocab_size=20,
        steps=6000, batch_size=32, lr=5e-4, width=64, n_seeds=5, num_workers=4, amp=True,
        lipreader_steps=3000, lipreader_width=64, mouth_size=88, lipreader_clips=4000,
        eval_every=500, checkpoint_every=500, widgets=True, bench_frames=4096,
        featnet_steps=3000, featnet_width=32,
        vfhgan_stages=6, vfhgan_eval_windows=500, vfhgan_ablation_steps=2000,
        vfhgan_ablation_seeds=5, vfhgan_ablation_lip=True,
        vfhgan_lip_demo_steps=300,
        world_train_people=500, world_test_people=100,
        vfhgan_d_lr=5e-4, vfhgan_grad_every=200,
        # secnet: 32 -> 128 px, the paper's N = 8, T3 = 6 and widths (reconstructed), not yet measured on a GPU
        secnet_frames=8, secnet_batch=8, secnet_steps=4000, secnet_lff_steps=2000, secnet_max_stride=2,
        secnet_clip_frames=48, secnet_eval_clips=48, secnet_t3=6, secnet_flow_width=24, secnet_max_flow=4.0,
        secnet_lff_width=64, secnet_lff_blocks=8, secnet_erff_width=32, secnet_sfe_width=64, secnet_res_blocks=8,
        secnet_gamma=0.1, secnet_alpha=0.01, secnet_grad_every=200, secnet_ablation_steps=1500, secnet_ablation_seeds=5,
        secnet_strong_translation=8.0,
        # talkingface
        talkingface_steps=6000, talkingface_phase1_frac=0.7, talkingface_width=32, talkingface_paper_sizes=True,
        talkingface_g_lr=2e-4, talkingface_d_lr=2e-5, talkingface_alpha=1e-3, talkingface_beta=1e-3,
        talkingface_nr_weight=1e-3, talkingface_mask_sigma=0.12, talkingface_train_clips=4000,
        talkingface_eval_clips=100, talkingface_grad_every=500, talkingface_monitor_every=500,
        talkingface_noise_seconds=30.0, talkingface_train_frames=29, talkingface_ablations=True,
        talkingface_design_sweeps=True,
        # vividgan: the paper's 16 -> 128 (x8)
        vividgan_scale=8, vividgan_multipie_grid=False, vividgan_views=8, vividgan_train_scenes=6000,
        vividgan_test_scenes=600, vividgan_width=64, vividgan_touch_width=32, vividgan_hg_depth=3,
        vividgan_coarse_steps=3000, vividgan_touch_steps=1000, vividgan_joint_steps=6000, vividgan_lr=5e-4,
        vividgan_fine_lr=1e-3, vividgan_d_lr=1e-4, vividgan_grad_every=200, vividgan_sr_steps=9000,
        # ear: 8x8 -> 128x128 (the paper's 16x), d = 256, widths of the spec's gpu plan (not measured on a GPU)
        ear_hr_size=128, ear_lr_size=8, ear_audio_seconds=4.0, ear_train_ids=100, ear_open_ids=25, ear_clips=16000,
        ear_frames_per_clip=4, ear_eval_clips=2000, ear_cls_clips=4000, ear_latent_dim=256, ear_mapping_layers=8,
        ear_fmap_base=4096, ear_fmap_max=256, ear_eh_filters=32, ear_el_filters=64, ear_ea_filters=32,
        ear_enc_max=512, ear_hidden=3072, ear_gan_steps=8000, ear_gan_batch=64, ear_gan_lr=0.0015, ear_r1_gamma=10.0,
        ear_eh_pre_steps=3000, ear_eh_tune_steps=6000, ear_el_steps=8000, ear_ea_steps=6000, ear_fusion_steps=6000,
        ear_batch=64, ear_lr=0.0003, ear_lambda=40.0, ear_lambda_f=1.0, ear_lambda_t=1.0, ear_anchor_patience=300,
        ear_judge_steps=3000, ear_judge_width=32, ear_spec_window=512, ear_spec_stride=248,
        ear_ref_scale=4, ear_baseline_steps=5000, ear_baseline_width=64, ear_handicap=0.25,
    ),
    "paper": dict(
        hr_size=128, scale=4, window=2, n_train_clips=20000, n_eval_clips=500, clip_frames=29, vocab_size=20,
        steps=100000, batch_size=32, lr=1e-4, width=64, n_seeds=3, num_workers=8, amp=True,
        lipreader_steps=30000, lipreader_width=64, mouth_size=88, lipreader_clips=20000,
        eval_every=5000, checkpoint_every=2000, widgets=True, bench_frames=4096,
        featnet_steps=20000, featnet_width=64,
        vfhgan_stages=8, vfhgan_eval_windows=2000, vfhgan_ablation_steps=100000,
        vfhgan_ablation_seeds=3, vfhgan_ablation_lip=True,
        vfhgan_lip_demo_steps=300,
        world_train_people=1000, world_test_people=250,
        vfhgan_d_lr=1e-4, vfhgan_grad_every=1000,
        # secnet: the paper's schedule (sec. III-A: stage 1 2e5 iterations, stage 2 1.5e5, N = 8, batch 4, Adam 1e-4)
        secnet_frames=8, secnet_batch=4, secnet_steps=350000, secnet_lff_steps=200000, secnet_max_stride=2,
        secnet_clip_frames=86, secnet_eval_clips=334, secnet_t3=6, secnet_flow_width=24, secnet_max_flow=4.0,
        secnet_lff_width=64, secnet_lff_blocks=8, secnet_erff_width=32, secnet_sfe_width=64, secnet_res_blocks=8,
        secnet_gamma=0.1, secnet_alpha=0.01, secnet_grad_every=1000, secnet_ablation_steps=150000,
        secnet_ablation_seeds=3, secnet_strong_translation=8.0,
        # talkingface
        talkingface_steps=100000, talkingface_phase1_frac=0.7, talkingface_width=64, talkingface_paper_sizes=True,
        talkingface_g_lr=1e-4, talkingface_d_lr=1e-5, talkingface_alpha=1e-3, talkingface_beta=1e-3,
        talkingface_nr_weight=1e-3, talkingface_mask_sigma=0.12, talkingface_train_clips=20000,
        talkingface_eval_clips=1000, talkingface_grad_every=5000, talkingface_monitor_every=5000,
        talkingface_noise_seconds=60.0, talkingface_train_frames=29, talkingface_ablations=True,
        talkingface_design_sweeps=True,
        # vividgan: the paper's 16 -> 128 (x8), Multi-PIE's yaw grid, its learning rates (1e-4; 1e-3 fine net)
        vividgan_scale=8, vividgan_multipie_grid=True, vividgan_views=12, vividgan_train_scenes=6000,
        vividgan_test_scenes=600, vividgan_width=64, vividgan_touch_width=64, vividgan_hg_depth=3,
        vividgan_coarse_steps=20000, vividgan_touch_steps=5000, vividgan_joint_steps=100000, vividgan_lr=1e-4,
        vividgan_fine_lr=1e-3, vividgan_d_lr=1e-4, vividgan_grad_every=1000,
        vividgan_sr_steps=120000,
        # ear: the released demo's networks (EarConfig.paper()), the schedules of sec. 4.2 (G: 31M images / 32)
        ear_hr_size=128, ear_lr_size=8, ear_audio_seconds=4.0, ear_train_ids=1000, ear_open_ids=250,
        ear_clips=100000, ear_frames_per_clip=8, ear_eval_clips=5000, ear_cls_clips=20000, ear_latent_dim=512,
        ear_mapping_layers=8, ear_fmap_base=8192, ear_fmap_max=512, ear_eh_filters=64, ear_el_filters=128,
        ear_ea_filters=64, ear_enc_max=1024, ear_hidden=6144, ear_gan_steps=970000, ear_gan_batch=32,
        ear_gan_lr=0.0015, ear_r1_gamma=10.0, ear_eh_pre_steps=350000, ear_eh_tune_steps=365000, ear_el_steps=240000,
        ear_ea_steps=200000, ear_fusion_steps=420000, ear_batch=128, ear_lr=0.0001, ear_lambda=40.0,
        ear_lambda_f=1.0, ear_lambda_t=1.0, ear_anchor_patience=1000, ear_judge_steps=20000, ear_judge_width=64,
        ear_spec_window=512, ear_spec_stride=248,
        ear_ref_scale=4, ear_baseline_steps=100000, ear_baseline_width=64, ear_handicap=0.25,
    ),
}

# Knobs that are not preset values but every notebook accepts.
BASE_PARAMETERS = ("preset", "seed", "device", "data_root")


# ---------------------------------------------------------------------------------------------------------------
# Parameter rules: the language of the annotated parameters cells, `steps: int | None = None  # >= 1; prose`.
# The annotation gives the types (int, float, str, bool, None and unions of them); the comment's leading constraint
# (before `;`) is a bound (`>= x`, `> x`, `<= x`, `< x`) or choices (`a | b | c`, where `name:N` means name:<digits>).
# The runner checks `--set`/`--grid`/sweep values with these rules before any kernel starts; `setup` checks the
# values a notebook passes with the same rules (KNOB_RULES), so an edited cell fails naming the parameter.

_TYPE_NAMES = {"int": "int", "float": "float", "str": "str", "bool": "bool", "None": "None", "NoneType": "None"}
_BOUND = re.compile(r"^(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$")
_CHOICE = re.compile(r"^[A-Za-z0-9_.:-]+$")
_INT_TEXT = re.compile(r"^[-+]?\d+$")
_NONE_TEXT = ("none", "null", "~")


@dataclass(frozen=True)
class ParamRule:
    """Types and constraint of one parameter; `convert` (strings from the command line) and `check` (values)."""

    types: tuple[str, ...]  # subset of int, float, str, bool, None in declaration order
    op: str | None = None  # >=, >, <=, <
    bound: float | None = None
    choices: tuple[str, ...] = ()

    @classmethod
    def parse(cls, annotation: str, comment: str = "", where: str = "parameter") -> ParamRule:
        """`ParamRule.parse("int | None", ">= 1; None: the preset's value")`; a clear error for what it cannot read."""
        types: list[str] = []
        for part in annotation.replace("Optional[", "").replace("]", "").split("|"):
            name = part.strip().strip("'\"")
            if name not in _TYPE_NAMES:
                raise ValueError(f"{where}: annotation {annotation!r} is not supported; use int, float, str, bool, "
                                 "None or a union of them (e.g. `int | None`)")
            if _TYPE_NAMES[name] not in types:
                types.append(_TYPE_NAMES[name])
        head = comment.strip().lstrip("#").split(";")[0].strip()
        m = _BOUND.match(head)
        if m:
            if not {"int", "float"} & set(types):
                raise ValueError(f"{where}: a bound `{head}` needs an int or float annotation, got {annotation!r}")
            return cls(tuple(types), m.group(1), float(m.group(2)))
        if head[:1] in ("<", ">"):
            raise ValueError(f"{where}: cannot read the constraint {head!r}; write e.g. `>= 1` before any `;`")
        tokens = [t.strip() for t in head.split("|")]
        if len(tokens) >= 2 and all(_CHOICE.match(t) for t in tokens):
            if "str" not in types:
                raise ValueError(f"{where}: choices `{head}` need a str annotation, got {annotation!r}")
            return cls(tuple(types), choices=tuple(tokens))
        return cls(tuple(types))  # the comment is prose only

    def describe(self) -> str:
        """'an int >= 1, or none', 'one of smoke | course | gpu | paper'."""
        words = {"int": "an int", "float": "a number", "str": "a string", "bool": "true or false"}
        kinds = [words[t] for t in self.types if t != "None"]
        if self.choices:
            text = "one of " + " | ".join(self.choices)
        else:
            text = " or ".join(kinds) if kinds else ""
            if self.op is not None:
                text += f" {self.op} {_fmt_number(self.bound)}"
        if "None" in self.types:
            text = f"{text}, or none" if text else "none"
        return text

    def _error(self, name: str, value: Any, where: str) -> ValueError:
        return ValueError(f"{where}: parameter {name}={value!r} is not valid: expected {self.describe()}")

    def convert(self, name: str, value: Any, where: str = "parameter") -> Any:
        """A command-line string (or a YAML value) as the declared type, then `check`ed."""
        if isinstance(value, str):
            text = value.strip()
            if "None" in self.types and text.lower() in _NONE_TEXT:
                return None
            if "bool" in self.types and text.lower() in ("true", "false"):
                return text.lower() == "true"
            candidate: Any = value
            if "int" in self.types and _INT_TEXT.match(text):
                candidate = int(text)
            elif "float" in self.types:
                try:
                    candidate = float(text)
                except ValueError:
                    candidate = value
            try:
                return self.check(name, candidate, where)
            except ValueError:  # the message shows what the user typed
                raise self._error(name, value, where) from None
        if isinstance(value, int) and not isinstance(value, bool) and "int" not in self.types and "float" in self.types:
            value = float(value)
        return self.check(name, value, where)

    def check(self, name: str, value: Any, where: str = "parameter") -> Any:
        """The value itself when its type and range are right; a ValueError naming `name` and the rule otherwise."""
        if value is None:
            if "None" in self.types:
                return None
            raise self._error(name, value, where)
        if isinstance(value, bool):
            ok = "bool" in self.types
        elif isinstance(value, numbers.Integral):  # numpy integers too
            ok = "int" in self.types or "float" in self.types
        elif isinstance(value, numbers.Real):
            ok = "float" in self.types and math.isfinite(value)
        elif isinstance(value, str):
            ok = "str" in self.types and (not self.choices or any(_choice_matches(c, value) for c in self.choices))
        else:
            ok = False
        if ok and self.op is not None and not isinstance(value, bool | str):
            ok = {">=": value >= self.bound, ">": value > self.bound, "<=": value <= self.bound,
                  "<": value < self.bound}[self.op]
        if not ok:
            raise self._error(name, value, where)
        return value


def _fmt_number(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else str(x)


def _choice_matches(choice: str, value: str) -> bool:
    """'cuda:N' matches 'cuda:0', 'cuda:12'; any other choice matches itself."""
    if choice.endswith(":N"):
        return re.fullmatch(re.escape(choice[:-1]) + r"\d+", value) is not None
    return choice == value


ROW_KNOBS = ("n_seeds", "vfhgan_ablation_seeds", "secnet_ablation_seeds", "talkingface_ablations",
             "talkingface_design_sweeps")
"""The knobs that choose which runs a notebook asks for (how many seeds, which rows), never what one run computes:
a run's cache key leaves them out (`train.experiment.NOT_IN_A_RUN`). A new knob belongs here only if no training
or evaluation code reads it."""


# Bounds of the preset knobs (their types are those of the preset values); the notebooks' parameters cells must
# declare the same rule for a knob they expose (tests/test_params.py checks it).
KNOB_BOUNDS: dict[str, str] = {
    "hr_size": ">= 8", "scale": ">= 1", "window": ">= 0", "n_train_clips": ">= 1", "n_eval_clips": ">= 1",
    "clip_frames": ">= 1", "vocab_size": ">= 2", "steps": ">= 1", "batch_size": ">= 1", "lr": "> 0", "width": ">= 1",
    "n_seeds": ">= 1", "num_workers": ">= 0", "lipreader_steps": ">= 1", "lipreader_clips": ">= 1", "lipreader_width": ">= 1",
    "mouth_size": ">= 8", "eval_every": ">= 1", "checkpoint_every": ">= 1", "bench_frames": ">= 1",
    "featnet_steps": ">= 1", "featnet_width": ">= 1", "vfhgan_stages": ">= 1", "vfhgan_eval_windows": ">= 1",
    "vfhgan_ablation_steps": ">= 1", "vfhgan_ablation_seeds": ">= 1", "vfhgan_lip_demo_steps": ">= 1",
    "world_train_people": ">= 1", "world_test_people": ">= 1",
    "vfhgan_d_lr": "> 0", "vfhgan_grad_every": ">= 0",
    # secnet
    "secnet_frames": ">= 1", "secnet_batch": ">= 1", "secnet_steps": ">= 1", "secnet_lff_steps": ">= 0",
    "secnet_max_stride": ">= 1", "secnet_clip_frames": ">= 11", "secnet_eval_clips": ">= 1", "secnet_t3": ">= 0",
    "secnet_flow_width": ">= 1", "secnet_max_flow": "> 0", "secnet_lff_width": ">= 1", "secnet_lff_blocks": ">= 0",
    "secnet_erff_width": ">= 1", "secnet_sfe_width": ">= 1", "secnet_res_blocks": ">= 0", "secnet_gamma": ">= 0",
    "secnet_alpha": ">= 0", "secnet_grad_every": ">= 0", "secnet_ablation_steps": ">= 1",
    "secnet_ablation_seeds": ">= 1", "secnet_strong_translation": ">= 0",
    # talkingface
    "talkingface_steps": ">= 1", "talkingface_phase1_frac": ">= 0", "talkingface_width": ">= 1",
    "talkingface_g_lr": "> 0", "talkingface_d_lr": "> 0", "talkingface_alpha": ">= 0", "talkingface_beta": ">= 0",
    "talkingface_nr_weight": ">= 0", "talkingface_mask_sigma": "> 0", "talkingface_train_clips": ">= 2",
    "talkingface_eval_clips": ">= 2", "talkingface_grad_every": ">= 0", "talkingface_monitor_every": ">= 0",
    "talkingface_noise_seconds": "> 0", "talkingface_train_frames": ">= 2",
    # vividgan
    "vividgan_scale": ">= 2", "vividgan_views": ">= 1", "vividgan_train_scenes": ">= 1", "vividgan_test_scenes": ">= 1",
    "vividgan_width": ">= 1", "vividgan_touch_width": ">= 1", "vividgan_hg_depth": ">= 1",
    "vividgan_coarse_steps": ">= 1", "vividgan_touch_steps": ">= 0", "vividgan_joint_steps": ">= 0",
    "vividgan_lr": "> 0", "vividgan_fine_lr": "> 0", "vividgan_d_lr": "> 0", "vividgan_grad_every": ">= 0",
    "vividgan_sr_steps": ">= 0",
    # ear
    "ear_hr_size": ">= 16", "ear_lr_size": ">= 4", "ear_audio_seconds": "> 0", "ear_train_ids": ">= 1",
    "ear_open_ids": ">= 1", "ear_clips": ">= 1", "ear_frames_per_clip": ">= 1", "ear_eval_clips": ">= 1",
    "ear_cls_clips": ">= 1", "ear_latent_dim": ">= 1", "ear_mapping_layers": ">= 1", "ear_fmap_base": ">= 1",
    "ear_fmap_max": ">= 1", "ear_eh_filters": ">= 1", "ear_el_filters": ">= 1", "ear_ea_filters": ">= 1",
    "ear_enc_max": ">= 1", "ear_hidden": ">= 1", "ear_gan_steps": ">= 1", "ear_gan_batch": ">= 1",
    "ear_gan_lr": "> 0", "ear_r1_gamma": ">= 0", "ear_eh_pre_steps": ">= 1", "ear_eh_tune_steps": ">= 1",
    "ear_el_steps": ">= 1", "ear_ea_steps": ">= 1", "ear_fusion_steps": ">= 1", "ear_batch": ">= 1", "ear_lr": "> 0",
    "ear_lambda": ">= 0", "ear_lambda_f": ">= 0", "ear_lambda_t": ">= 0", "ear_anchor_patience": ">= 1",
    "ear_judge_steps": ">= 1", "ear_judge_width": ">= 1", "ear_handicap": "> 0",
    "ear_spec_window": ">= 2", "ear_spec_stride": ">= 1", "ear_ref_scale": ">= 2", "ear_baseline_steps": ">= 1",
    "ear_baseline_width": ">= 1",
}


def _knob_rules() -> dict[str, ParamRule]:
    rules = {
        "preset": ParamRule.parse("str", " | ".join(PRESET_NAMES), "preset"),
        "seed": ParamRule.parse("int", ">= 0", "seed"),
        "device": ParamRule.parse("str", "auto | cpu | cuda | cuda:N | mps", "device"),
        "data_root": ParamRule.parse("str | None", "", "data_root"),
    }
    for knob, value in PRESETS["smoke"].items():
        rules[knob] = ParamRule.parse(type(value).__name__, KNOB_BOUNDS.get(knob, ""), knob)
    return rules


# The rule of every name `setup` accepts: the base parameters and every preset knob.
KNOB_RULES: dict[str, ParamRule] = _knob_rules()


def avfh_home() -> Path:
    """Where caches (synthetic shards, pretrained in-project networks) live: $AVFH_HOME or <repo>/data/cache."""
    env = os.environ.get("AVFH_HOME")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "data" / "cache"


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@dataclass
class RunConfig:
    """The resolved settings of one notebook run (preset values, explicit overrides, device)."""

    preset: str
    seed: int
    device: torch.device
    data_root: Path | None
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"RunConfig has no knob {name!r}; known knobs: {sorted(values)}")

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """bf16 autocast on CUDA when the preset asks for AMP; None (full fp32) otherwise."""
        if self.device.type == "cuda" and self.values.get("amp", False):
            return torch.bfloat16
        return None

    def autocast(self):
        """Context manager: bf16 autocast on CUDA with amp, a no-op on the CPU."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def as_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "seed": self.seed,
            "device": str(self.device),
            "data_root": str(self.data_root) if self.data_root else None,
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in self.values.items()},
        }


def preset_values(preset: str) -> dict[str, Any]:
    """A copy of a preset's knobs; a clear error for an unknown name."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {list(PRESETS)}")
    return dict(PRESETS[preset])


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU. An explicit 'cuda' without a GPU is an error, not a silent fallback."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for but torch sees no CUDA GPU; use device='auto' or 'cpu'")
    return dev


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; deterministic kernels (on the CPU always, on CUDA where torch has them)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds the legacy global generator other libraries use
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def setup(
    preset: str = "course",
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    data_root: str | os.PathLike | None = None,
    deterministic: bool = True,
    **overrides: Any,
) -> RunConfig:
    """Resolve a preset plus explicit knobs, seed everything, pick the device.

    `overrides` whose value is None keep the preset's value; an unknown knob is an error naming it.
    """
    values = preset_values(preset)
    unknown = sorted(k for k in overrides if k not in values)
    if unknown:
        raise ValueError(f"unknown knob(s) {unknown} for preset {preset!r}; known knobs: {sorted(values)}")
    # every value checked (type and range, the rules of the parameters cells) before anything uses it
    KNOB_RULES["seed"].check("seed", seed, "setup")
    if isinstance(device, str):
        KNOB_RULES["device"].check("device", device, "setup")
    if data_root is not None and not isinstance(data_root, str | os.PathLike):
        raise ValueError(f"setup: parameter data_root={data_root!r} is not valid: expected a folder path, or none")
    for key, value in overrides.items():
        if value is not None:
            rule = KNOB_RULES[key]
            values[key] = rule.check(key, value, "setup")
            if rule.types == ("float",):
                values[key] = float(values[key])
    seed_everything(seed, deterministic=deterministic)
    dev = resolve_device(device)
    root = Path(data_root).expanduser() if data_root else None
    return RunConfig(preset=preset, seed=seed, device=dev, data_root=root, values=values)
