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
# # VividGAN 04 · Training in three stages
#
# Zhang et al. 2021, sec. III-D/E. The objective (the module docstring of `avfh_core.train.vividgan` has the
# equations and every open choice):
#
# $$L_C = L^c_{mse} + L^c_{sym} + \alpha_1 L^c_{id} + \psi_1 L^c_{adv} \ (9) \qquad L_T = L^t_{mse} \ (10)$$
# $$L_F = L^f_{mse} + \alpha_2 L^f_{id} + \gamma_2 L^f_h + \psi_2 L^f_{adv} \ (11) \qquad L_G = L_C + L_T + L_F \ (12)$$
#
# with every auxiliary weight 0.01. Stage (i) trains the coarse network with $L_C$; stage (ii) the touching-up
# subnetwork with $L_T$ on component crops of the (frozen) coarse faces; stage (iii) everything with $L_G$ and both
# discriminators, at the paper's learning rates (1e-3 for the fine-integration network, 1e-4 elsewhere; short
# presets raise the latter). The paper gives no optimiser, batch size or step counts: ours are in the preset.
#
# This notebook trains (and caches) the main run, shows what each term contributes to the gradient, what each
# level makes of held-out faces, and whether the fine level improves on the coarse one at every yaw (the paper's
# VividGAN vs VividGAN-dagger, Tab. I).

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world
vividgan_scale: int | None = None  # >= 2; the LR factor (None: the preset's): at course 4 is 16 -> 64, 8 is 8 -> 64

# %%
import math

import matplotlib.pyplot as plt
import torch

from avfh_core.config import setup
from avfh_core.data.batching import collate
from avfh_core.data.degrade import bicubic_up
from avfh_core.metrics.image import psnr
from avfh_core.models.vividgan import crop_components
from avfh_core.reproduce.results import Results
from avfh_core.train import vividgan as V
from avfh_core.train.experiment import cached_run
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root, vividgan_scale=vividgan_scale)
res = Results("vividgan/04_training", cfg)
print(f"preset={cfg.preset} device={cfg.device} stages (i) {cfg.vividgan_coarse_steps} / (ii) "
      f"{cfg.vividgan_touch_steps} / (iii) {cfg.vividgan_joint_steps} steps, batch {cfg.batch_size}")

# %% [markdown]
# ## The main run: every term and its share of the gradient
# The run logs each term's value and its share of the generator's gradient norm at the first step of every stage
# (and every `vividgan_grad_every` steps). With the paper's weights of 0.01, the auxiliary terms' shares say how
# much they can matter here.

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
    ax.set_xlabel("step")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
fig.tight_layout()
save_figure(fig, "vividgan", "04_curves")

# %% [markdown]
# ## What each level makes (Figs. 6 and 7, redrawn on held-out people)
# From left: the LR input, the coarse face, the component prior (touched-up components on the template), the fine
# face, the truth. Then the components themselves: the coarse face's crop, its touched-up version and the truth's.

# %%
data, idx = V.eval_set(run, cfg)
batch = collate([data[i] for i in idx[:: max(1, len(idx) // 4)][:4]], cfg.device)
gen = trained.models["generator"]
with torch.no_grad():
    out = gen(batch["lr"], truth=batch["hr"])
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
save_figure(fig, "vividgan", "04_samples")

truth_crops = crop_components(batch["hr"], gen.template)
fig, axes = plt.subplots(3, 4, figsize=(6, 4.2))
for k, name in enumerate(("left eye", "right eye", "nose", "mouth")):
    for r, (label, crops) in enumerate((("coarse", out["crops"]), ("touched up", out["components"]),
                                        ("truth", truth_crops))):
        axes[r, k].imshow(crops[k][0].clamp(0, 1).permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
        axes[r, k].set_xticks([])
        axes[r, k].set_yticks([])
        if k == 0:
            axes[r, k].set_ylabel(label, fontsize=8)
    axes[0, k].set_title(name, fontsize=8)
fig.tight_layout()
save_figure(fig, "vividgan", "04_components")

# %% [markdown]
# ## Coarse against fine, per yaw
# The same trained generator's coarse and fine faces on every held-out pair, beside the do-nothing baseline (the
# LR face upsampled): PSNR per |yaw|.

# %%
per = {"bicubic": [], "coarse": [], "fine": []}
yaws = []
for k in range(0, len(idx), 32):
    b = collate([data[i] for i in idx[k:k + 32]], cfg.device)
    with torch.no_grad():
        o = gen(b["lr"], truth=b["hr"])
    hr = b["hr"].cpu()
    per["bicubic"].append(psnr(bicubic_up(b["lr"], cfg.vividgan_scale).clamp(0, 1).cpu(), hr))
    per["coarse"].append(psnr(o["coarse"].cpu(), hr))
    per["fine"].append(psnr(o["fine"].cpu(), hr))
    yaws.append(b["yaw"].abs().cpu())
yaws = torch.cat(yaws)
per = {k: torch.cat(v) for k, v in per.items()}
levels = {}
for y in sorted(set(yaws.tolist())):
    m = (yaws - y).abs() < 0.5
    levels[f"{y:g}"] = {k: float(v[m].mean()) for k, v in per.items()}
levels["all"] = {k: float(v.mean()) for k, v in per.items()}
res.log("coarse_vs_fine_per_yaw", levels)
print(f"{'|yaw|':>6s} " + " ".join(f"{k:>8s}" for k in per) + "   fine - coarse")
for y, row in levels.items():
    print(f"{y:>6s} " + " ".join(f"{row[k]:8.2f}" for k in per) + f"   {row['fine'] - row['coarse']:+.2f}")

# %% [markdown]
# ## What the committed course run shows
# The identity term takes a large share of the gradient in stages (i) and (iii) despite its weight of 0.01. After a
# few hundred steps per stage the faces are blurred mean faces with the head's layout and colours; the fine level
# barely changes the coarse face, and both stay below the do-nothing baseline at every yaw.
