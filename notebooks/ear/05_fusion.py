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
# # Ear 05 · Fusing in latent space (eq. 5)
#
# Meishvili et al. 2020, sec. 3.4 and 4.4. A small fully-connected network $F$ adds a residual to the LR code of
# notebook 04, trained on all of $D$ with $E_a$ fine-tuned and $E_l$, $G$ fixed:
#
# $$z^f = E_l(x^l) + F(E_l(x^l), E_a(a)), \quad \min_{F, E_a} |z^f - z|_1 + \lambda |D \circ G(z^f) - x^l|_1 \quad (5)$$
#
# $F$'s last layer starts at zero (ours), so fusion training starts exactly at the LR-only model. **(f) vs (h)**
# is the paper's key claim: the same $F$ fed zeros instead of the voice. A causal control follows (a world whose
# voices say nothing about the speaker must remove the gain).

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world

# %%
import matplotlib.pyplot as plt
import torch

from avfh_core.config import setup
from avfh_core.reproduce.results import Results
from avfh_core.reproduce.tables import load_tables
from avfh_core.train import ear
from avfh_core.train.evaluate import predict_all
from avfh_core.train.experiment import cached_run, run_rows
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("ear/05_fusion", cfg)
paper = load_tables("ear")
print(f"preset={cfg.preset}: {cfg.n_seeds} seed(s) per row; steps: F {cfg.ear_fusion_steps} (batch {cfg.ear_batch}); "
      f"lambda = {cfg.ear_lambda:g}")

# %% [markdown]
# ## Rows (f) and (h) of Table 1, closed and open set
# Each row is a chain of cached runs (G, then E_h, then E_l and E_a, then F), beside the paper's numbers.

# %%
ROWS = ("f_f_zero_ea", "h_f_tuned_ea")
rows = {k: v for k, v in ear.table1(cfg).items() if k in ROWS}
t1 = run_rows(ear, rows, cfg)
sets = ear.split_sets(t1)
for s in ("closed", "open"):
    res.log(f"table1_{s}_seeds", sets[s])
print("\n".join(ear.table1_lines(paper, sets)))

# %% [markdown]
# What each loss term does to the gradient at step 0 (eq. 5: the code term against the LR-consistency term at
# $\lambda = 40$): the printed weights only mean something together with the reduction (means here).

# %%
for row in ("h_f_tuned_ea",):
    h = cached_run(ear, ear.table1(cfg)[row], cfg, cfg.seed)[1].log.history
    print(f"{row:14s} step-0 shares:", {k.split('/')[1]: round(v[0], 3) for k, v in h.items() if k.startswith("gshare/")})

# %% [markdown]
# ## The faces (Fig. 6 of the paper)
# Rows: the real frame, its 8x8 input, LR only (c), audio only (d), fusion with zeros for the voice (f) and the
# full model (h), on closed-set clips.

# %%
closed_d = ear.ear_data(cfg, "closed")
k = list(range(0, len(closed_d), max(1, len(closed_d) // 8)))[:8]
outs = {}
for row in ("c_el_only", "d_ea_only", "f_f_zero_ea", "h_f_tuned_ea"):
    outs[row], batch = predict_all(ear.predict, cached_run(ear, ear.table1(cfg)[row], cfg, cfg.seed)[1].models,
                                   closed_d, k, cfg.device)
lr_up = torch.nn.functional.interpolate(batch["lr"], size=batch["hr"].shape[-2:], mode="nearest")
strips = [batch["hr"], lr_up] + list(outs.values())
fig, ax = plt.subplots(figsize=(2 * len(k), 2 * len(strips)))
ax.imshow(torch.cat([torch.cat(list(x), dim=2) for x in strips], dim=1).permute(1, 2, 0))
ax.axis("off")
ax.set_title("x^h / x^l / (c) LR only / (d) audio only / (f) F + zero audio / (h) F + tuned E_a")
save_figure(fig, "ear", "05_faces")

# %% [markdown]
# ## The causal control: a voice that says nothing about the speaker
# The same (f) and (h) in a world whose voices are drawn independently of the person (`voice_coupling = 0`: the
# faces are identical, the voices carry no identity, gender or age). If the gain of (h) over (f) comes from what
# the voice says about the person, it must vanish here.

# %%
cz = run_rows(ear, ear.causal(cfg), cfg)
res.log("causal_seeds", cz)
for w in ear.WORLDS:
    for s in ("closed", "open"):
        gain = {m: sum(cz[f"{w}/h_f_tuned_ea"][f"{s}/{m}"]) / cfg.n_seeds - sum(cz[f"{w}/f_f_zero_ea"][f"{s}/{m}"]) / cfg.n_seeds
                for m in ("acc_ci", "acc_cg", "err_ca")}
        print(f"{w:10s} {s:6s} (h) - (f): identity {gain['acc_ci']:+6.2f}  gender {gain['acc_cg']:+6.2f}  "
              f"age error {gain['err_ca']:+6.2f}")

# %% [markdown]
# ## What this shows
# Whether the voice adds to the 8x8 face at this preset ((h) against (c) and against (f), which has the same
# capacity but hears nothing), and whether that gain is the voice's doing (the causal control). These claims
# (`audio_lr_beats_lr_*`, `audio_not_capacity_*`, `fusion_beats_audio_only_*`) are scored with the rest of
# Table 1 in notebook 06.
