# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python (avfh)
#     language: python
#     name: avfh
# ---

# %% [markdown]
# # VividGAN 02 · Training in three stages, Tables I and II
#
# Zhang et al. 2021, sec. III-D/E and V. The objective (the module docstring of `avfh_core.train.vividgan` has the
# equations and every open choice):
#
# $$L_C = L^c_{mse} + L^c_{sym} + \alpha_1 L^c_{id} + \psi_1 L^c_{adv} \ (9) \qquad L_T = L^t_{mse} \ (10)$$
# $$L_F = L^f_{mse} + \alpha_2 L^f_{id} + \gamma_2 L^f_h + \psi_2 L^f_{adv} \ (11) \qquad L_G = L_C + L_T + L_F \ (12)$$
#
# with every auxiliary weight 0.01. Stage (i) trains the coarse network with $L_C$; stage (ii) the touching-up
# subnetwork with $L_T$ on component crops of the (frozen) coarse faces; stage (iii) everything with $L_G$ and both
# discriminators, at the paper's learning rates (1e-3 for the fine-integration network, 1e-4 elsewhere; short
# presets raise the latter). The paper gives no optimiser, batch size or step counts.
#
# Tab. I compares the whole test set; Tab. II splits it by yaw. We build six of its rows: the LR face upsampled
# (our do-nothing row, *not* the paper's frontalise-then-bicubic), the two Bicubic cascades (F + Bicubic frontalises
# the posed LR face, then upsamples it; Bicubic + F upsamples, then frontalises at the HR size; our frontaliser F is
# a small STN + residual network trained with the pixel loss alone, not the paper's DR-GAN), VividGAN-dagger (the
# coarse network trained
# alone for the steps of stages (i) and (iii)), a stand-in for TANN, the single-stage joint method (TANN has no
# public code: ours is the coarse network alone, widened to the share of VividGAN's parameters that Tab. IV gives
# TANN, trained with pixel, identity and adversarial losses for the same steps), and VividGAN. The cascades with a
# learned SR method (SRGAN, WaveletSRNet, ...) are not built.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world

# %%
import math

import matplotlib.pyplot as plt
import torch

from avfh_core.config import setup
from avfh_core.data.batching import collate
from avfh_core.reproduce.results import Results
from avfh_core.reproduce.tables import beside_paper, load_tables
from avfh_core.train import vividgan as V
from avfh_core.train.experiment import cached_run, means, run_rows
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("vividgan/02_training", cfg)
paper = load_tables("vividgan")
print(f"preset={cfg.preset} device={cfg.device} stages (i) {cfg.vividgan_coarse_steps} / (ii) "
      f"{cfg.vividgan_touch_steps} / (iii) {cfg.vividgan_joint_steps} steps, batch {cfg.batch_size}, seeds {cfg.n_seeds}")

# %% [markdown]
# ## The main run: every term and its share of the gradient
# A loss weight says little by itself: what a term does to training is its share of the generator's gradient.
# The run logs each term's value and gradient norm at the first step of every stage (and every
# `vividgan_grad_every` steps); with the paper's weights of 0.01 the auxiliary terms' shares show how much they can
# matter here.

# %%
run = V.table1(cfg)["vividgan"]
scores, trained = cached_run(V, run, cfg, cfg.seed)
h = trained.log.history
stage = h["stage"]
shares = {}
for s in (1.0, 2.0, 3.0):
    first = next((i for i, v in enumerate(stage) if v == s), None)
    if first is None:
        continue
    row = {k.split("/", 1)[1]: h[k][first] for k in h if k.startswith("gshare/") and math.isfinite(h[k][first])}
    shares[f"stage{int(s)}"] = row
    print(f"stage {int(s)}: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(row.items(), key=lambda kv: -kv[1])))
res.log("gradient_shares_step0", shares)

fig, axes = plt.subplots(1, 3, figsize=(12, 3))
for ax, s, terms in zip(axes, (1.0, 2.0, 3.0), (("c_mse", "c_sym"), ("t_mse",), ("c_mse", "t_mse", "f_mse")),
                        strict=True):
    idx = [i for i, v in enumerate(stage) if v == s]
    for t in terms:
        if t in h and idx:
            ax.plot([h[t][i] for i in idx], label=t)
    ax.set_title(f"stage {int(s)}")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
fig.tight_layout()
save_figure(fig, "vividgan", "02_curves")

# %% [markdown]
# ## What each level makes (Fig. 7 and Fig. 6, redrawn on held-out people)
# From left: the LR input, the coarse face, the component prior (touched-up components on the template), the fine
# face, the truth.

# %%
data, idx = V.eval_set(run, cfg)
batch = collate([data[i] for i in idx[:: max(1, len(idx) // 4)][:4]], cfg.device)
with torch.no_grad():
    out = trained.models["generator"](batch["lr"], truth=batch["hr"])
cols = [("LR", batch["lr"]), ("coarse", out["coarse"]), ("prior", out["prior"]), ("fine", out["fine"]),
        ("truth", batch["hr"])]
fig, axes = plt.subplots(len(batch["lr"]), len(cols), figsize=(1.7 * len(cols), 1.7 * len(batch["lr"])))
for r in range(len(batch["lr"])):
    for c, (name, img) in enumerate(cols):
        axes[r, c].imshow(img[r].clamp(0, 1).permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
        axes[r, c].axis("off")
        if r == 0:
            axes[r, c].set_title(name, fontsize=8)
fig.tight_layout()
save_figure(fig, "vividgan", "02_samples")

# %% [markdown]
# ## Tab. I and Tab. II beside the paper
# Our numbers are on synthetic faces at the preset's size: compare directions and gaps, not levels.

# %%
t1 = run_rows(V, V.table1(cfg), cfg)
res.log("table1_celeba", means(t1))
res.log("table1_celeba_seeds", t1)
res.log("table2_celeba", means(t1))
res.log("table2_celeba_seeds", t1)
for rec in beside_paper(paper, "table1_celeba", means(t1)):
    print(f"{rec['label'][:40]:40s} PSNR paper {rec['paper_psnr'] or float('nan'):7.3f} ours {rec['ours_psnr']:7.3f}"
          f"   SSIM paper {rec['paper_ssim'] or float('nan'):.3f} ours {rec['ours_ssim']:.3f}")
yaws = [m for m in paper.tables["table2_celeba"].metrics if m in next(iter(t1.values()))]
print("per yaw (PSNR):", ", ".join(yaws))
for rec in beside_paper(paper, "table2_celeba", means(t1), yaws):
    print(f"{rec['label'][:40]:40s} " + "  ".join(
        f"{m[5:]:>3s}: paper {rec['paper_' + m] or float('nan'):6.2f} ours {rec['ours_' + m]:6.2f}" for m in yaws))
