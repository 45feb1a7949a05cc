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
# # VividGAN 05 · Ablations: the losses, the component prior and the symmetry knob
#
# Zhang et al. 2021, sec. IV (Fig. 8) and V-D (Tab. III). Each row trains the model of notebook 04 with its stages
# under one change, for several seeds, and scores it on held-out people:
#
# - **Tab. III**: $L_{mse}$ and $L_h$ only, then $+L_{id}$, $+L_{sym}$, $+$Coarse-D, $+$Fine-D (the full model).
#   The paper keeps $L_h$ in every row ("a prerequisite constraint" of the component-aware module). One row more is
#   ours: the full objective with the *balanced* weights of notebook 02, each of the paper's low-weight terms
#   weighted so that its gradient at step 0 is a fixed share of its level's $L_{mse}$ gradient, instead of the
#   paper's 0.01 whose effect depends on each term's scale.
# - **Fig. 8**: no touching-up and no prior (V-TN), the estimated prior (VividGAN), the ground-truth components as
#   the prior (V+GT, an oracle: how much a perfect prior could give).
# - **The symmetry knob** (ours): the coarse network with and without $L_{sym}$, for a truth that is exactly mirror
#   symmetric and for one lit from the side, where the symmetry prior is wrong by construction (notebook 02 showed
#   what the weight does to the optimum). After a short training its sign is not known in advance: a measured knob,
#   not a control. Notebook 07 scores the claims with their positive controls.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world
vividgan_scale: int | None = None  # >= 2; the LR factor (None: the preset's): at course 4 is 16 -> 64, 8 is 8 -> 64

# %%
import matplotlib.pyplot as plt
import numpy as np

from avfh_core.config import setup
from avfh_core.reproduce.results import Results
from avfh_core.reproduce.tables import beside_paper, load_tables
from avfh_core.train import vividgan as V
from avfh_core.train.experiment import means, run_rows
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root, vividgan_scale=vividgan_scale)
res = Results("vividgan/05_ablations", cfg)
paper = load_tables("vividgan")
print(f"preset={cfg.preset} device={cfg.device} seeds {cfg.n_seeds}")
balanced = V.balanced_weights(cfg)
res.log("balanced_weights", balanced)
print("balanced weights: " + ", ".join(f"{k} {v:g}" for k, v in balanced.items()))


def show(table: str, rows: dict) -> None:
    print(f"{table}:")
    for rec in beside_paper(paper, table, means(rows)):
        sd = np.std(rows[rec["row"]]["psnr"]) if len(rows[rec["row"]]["psnr"]) > 1 else float("nan")
        print(f"  {rec['label'][:44]:44s} PSNR paper {rec['paper_psnr'] or float('nan'):7.3f} ours "
              f"{rec['ours_psnr']:7.3f} (sd {sd:.3f})   SSIM paper {rec['paper_ssim'] or float('nan'):.3f} "
              f"ours {rec['ours_ssim']:.3f}")


# %% [markdown]
# ## Tab. III: one loss term more per row

# %%
t3 = run_rows(V, V.table3(cfg), cfg, progress=False)
res.log("table3_celeba", means(t3))
res.log("table3_celeba_seeds", t3)
show("table3_celeba", t3)
steps = [k for k in V.TABLE3_ROWS]
ours_gain = {f"{a}->{b}": means(t3)[b]["psnr"] - means(t3)[a]["psnr"] for a, b in zip(steps, steps[1:])}
paper_gain = {f"{a}->{b}": paper.tables["table3_celeba"].published(b, "psnr")
              - paper.tables["table3_celeba"].published(a, "psnr") for a, b in zip(steps, steps[1:])}
print("gain of each added term (PSNR dB): " + ", ".join(f"{k} paper {paper_gain[k]:+.2f} ours {v:+.2f}"
                                                        for k, v in ours_gain.items()))

# %% [markdown]
# ## Fig. 8: the facial component prior

# %%
f8 = run_rows(V, V.fig8(cfg), cfg, progress=False)
res.log("fig8_multipie", means(f8))
res.log("fig8_multipie_seeds", f8)
show("fig8_multipie", f8)

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [6, 3]})
for ax, (table, rows) in zip(axes, (("table3_celeba", t3), ("fig8_multipie", f8)), strict=True):
    keys = list(rows)
    vals = [rows[k]["psnr"] for k in keys]
    ax.bar(range(len(keys)), [np.mean(v) for v in vals], yerr=[np.std(v) for v in vals], color="tab:blue",
           alpha=0.7, label="ours")
    pub = [paper.tables[table].published(k, "psnr") for k in keys]
    ax2 = ax.twinx()
    ax2.plot(range(len(keys)), [np.nan if p is None else p for p in pub], "o", color="tab:red", label="paper")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(keys, rotation=30, fontsize=7)
    ax.set_ylabel("ours PSNR (dB)")
    ax2.set_ylabel("paper PSNR (dB)", color="tab:red")
    lo = min(np.mean(v) for v in vals)
    ax.set_ylim(lo - 1.0, max(np.mean(v) for v in vals) + 0.5)
    ax.set_title(table, fontsize=9)
fig.tight_layout()
save_figure(fig, "vividgan", "05_ablations")

# %% [markdown]
# ## The symmetry knob
# The coarse network trained alone, with and without $L_{sym}$ (no identity or adversarial terms), on a truth made
# exactly mirror symmetric and on a truth lit from one side.

# %%
sym = run_rows(V, V.symmetry_rows(cfg), cfg, progress=False)
res.log("symmetry_knob", means(sym))
res.log("symmetry_knob_seeds", sym)
m = means(sym)
for world in ("symmetric", "side"):
    on, off = m[f"{world}/sym_on"]["psnr"], m[f"{world}/sym_off"]["psnr"]
    print(f"{world:9s} truth: PSNR with L_sym {on:.3f}, without {off:.3f} (L_sym {'helps' if on > off else 'hurts'} "
          f"by {abs(on - off):.3f} dB in the mean over {cfg.n_seeds} seed(s))")

# %% [markdown]
# ## What the committed course run shows
# At this training length no added term helps: L_id and Coarse-D lower the PSNR, L_sym and Fine-D change it within
# the seed noise, and the balanced weights (which raise the adversarial and heatmap terms) do worse than the
# paper's. The component prior makes no measurable difference, not even the ground-truth one: the fine level has not
# yet learnt to use it. L_sym hurts both truths here, much more the side-lit one.
