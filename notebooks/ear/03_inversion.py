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
# # Ear 03 · Inverting $G$ (eqs. 1-2)
#
# Meishvili et al. 2020, sec. 3.2. The prior $G$ of notebook 02 is inverted by an encoder $E_h$ from the HR
# face to the $k$ codes: first with $G$ fixed (eq. 1, Table 1 row (a)), then fine-tuning $G$ with it under an
# anchor to its initial weights (eq. 2, row (b)). The codes $E_h(x^h)$ are the targets the encoders of
# notebook 04 regress onto.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world

# %%
import matplotlib.pyplot as plt
import torch

from avfh_core.config import setup
from avfh_core.reproduce.audit import one_sided_verdict
from avfh_core.reproduce.results import Results
from avfh_core.reproduce.tables import load_tables
from avfh_core.train import ear
from avfh_core.train.evaluate import predict_all
from avfh_core.train.experiment import cached_run, run_rows
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("ear/03_inversion", cfg)
paper = load_tables("ear")
closed_d = ear.ear_data(cfg, "closed")
print(f"preset={cfg.preset}: {cfg.n_seeds} seed(s) per row; E_h steps: {cfg.ear_eh_pre_steps} with G fixed, "
      f"{cfg.ear_eh_tune_steps} with G tuned")

# %% [markdown] tags=[]
# ## Inverting $G$: eq. 1 (G fixed) and eq. 2 (G fine-tuned with an anchor)
# $$L_{pre} = |G(E_h(x^h)) - x^h|_1 + \lambda_f\, l_{feat}(G(E_h(x^h)), x^h) \quad (1)$$
# $$\min_{E_h, G}\; L_{pre} + \lambda_t\, |G_{init} - G|_2^2 \quad (2)$$
# $\lambda_f = 1$, $\lambda_t = 1$ halved whenever the loss stops improving (our plateau rule: the paper says
# "as soon as the overall loss is minimized (locally)"). $l_{feat}$ uses a fixed random CNN's features (the
# paper's VGG features are not available here), never the judges. Rows (a) and (b) of Table 1 are these two
# inversions scored by the judges. Each loss term's share of the gradient at step 0 is printed: it says what
# the weights mean at this reduction (means, not the printed sums).

# %% tags=[]
rows = {k: v for k, v in ear.table1(cfg).items() if k in ("a_eh_fixed_g", "b_eh_tuned_g")}
inv = run_rows(ear, rows, cfg)
sets = ear.split_sets(inv)
for s in ("closed", "open"):
    res.log(f"table1_{s}_seeds", sets[s])
print("\n".join(ear.table1_lines(paper, sets)))
tuned = cached_run(ear, rows["b_eh_tuned_g"], cfg, cfg.seed)[1]
th = tuned.log.history
print("step-0 gradient shares, eq. 2:", {k.split('/')[1]: round(v[0], 3) for k, v in th.items() if k.startswith("gshare/")})
fig, ax = plt.subplots(1, 2, figsize=(10, 3))
ax[0].plot(th["lambda_t"])
ax[0].set_title("lambda_t during eq. 2")
ax[0].set_xlabel("step")
fixed = cached_run(ear, rows["a_eh_fixed_g"], cfg, cfg.seed)[1]
k = list(range(0, len(closed_d), max(1, len(closed_d) // 6)))[:6]
pa, batch = predict_all(ear.predict, fixed.models, closed_d, k, cfg.device)
pb, _ = predict_all(ear.predict, tuned.models, closed_d, k, cfg.device)
grid = torch.cat([torch.cat(list(x), dim=2) for x in (batch["hr"], pa, pb)], dim=1)
ax[1].imshow(grid.permute(1, 2, 0))
ax[1].axis("off")
ax[1].set_title("x^h / G fixed (a) / G tuned (b)")
save_figure(fig, "ear", "03_inversion")

# %% [markdown]
# ## Two claims the paper makes without numbers (spec Q3, Q2)
# **Fig. 4: fine-tuning $G$ improves the reconstructions.** The paper shows pictures; we score PSNR and SSIM of
# (b) against (a) on the held-out frames, one-sided and paired over seeds (a direction: there is no published
# size).
#
# **Fig. 5: the flip-averaged code is a neutral, frontal face.** Eq. 4 regresses the voice onto
# $\bar z = \tfrac12(E_h(x^h) + E_h(\text{flip}(x^h)))$ because a voice cannot know the head's pose. If $\bar z$
# removes the pose, $G(\bar z)$ is closer to mirror-symmetric than $G(E_h(x^h))$. Our measure needs no pose
# regressor: the mean absolute difference between an image and its mirror image (0 for a perfectly symmetric
# face; the true frames carry their own pose and lighting asymmetry, printed as a reference).

# %%
for s in ("closed", "open"):
    for metric in ("psnr", "ssim"):
        v = one_sided_verdict(sets[s]["a_eh_fixed_g"][metric], sets[s]["b_eh_tuned_g"][metric], better="higher")
        res.log(f"q3_{s}_{metric}", v)
        print(f"Q3 {s:6s} {metric}: (b) - (a) = {v['effect']:+.4f} [{v['ci_low']:+.4f}, {v['ci_high']:+.4f}] "
              f"(n={v['n']}): {v['verdict']}")


def mirror_gap(img: torch.Tensor) -> torch.Tensor:
    """Per image: mean |img - mirror(img)| (0 = left-right symmetric)."""
    return (img - img.flip(-1)).abs().mean(dim=(1, 2, 3))


e_h, G = tuned.models["e_h"], tuned.models["generator"]
hr = torch.stack([closed_d[i]["hr"] for i in range(len(closed_d))]).to(cfg.device)
with torch.no_grad():
    z, z_bar = ear.target_codes(e_h, hr), ear.target_codes(e_h, hr, flip_average=True)  # eq. 4's target
    gaps = {"x^h (truth)": mirror_gap(hr), "G(E_h(x^h))": mirror_gap((G(z) / 2 + 0.5).clamp(0, 1)),
            "G(z_bar)": mirror_gap((G(z_bar) / 2 + 0.5).clamp(0, 1))}
q2 = one_sided_verdict(gaps["G(E_h(x^h))"].tolist(), gaps["G(z_bar)"].tolist(), better="lower")
res.log("q2_mirror_gap", {**{k: float(v.mean()) for k, v in gaps.items()}, "verdict": q2})
print(f"mirror gap (mean |image - mirror image|, closed-set frames, model of seed {cfg.seed}): "
      + ", ".join(f"{k} {float(v.mean()):.4f}" for k, v in gaps.items()))
print(f"Q2: G(z_bar) - G(E_h(x^h)) = {q2['effect']:+.4f} [{q2['ci_low']:+.4f}, {q2['ci_high']:+.4f}], paired over "
      f"{q2['n']} frames: {q2['verdict']} (the flip-averaged face is "
      + ("more symmetric)" if q2["verdict"] == "reproduced" else "not measurably more symmetric)"))

# %% [markdown]
# ## What this shows
# Rows (a) and (b) say how much of a person survives the trip through the prior's latent space, with $G$
# fixed and fine-tuned; the scores of every later row are bounded by (b). The claims on (a) vs (b)
# (`finetune_g_*`) are scored with the rest of Table 1 in notebook 06. Notebook 04 maps the 8x8 face and the
# voice into this space.
