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
# # VividGAN 02 · The losses and the auxiliary networks
#
# Zhang et al. 2021, sec. III-C/D. Besides the pixel loss, VividGAN's objective has four priors about faces:
#
# - **symmetry** (eq. 3): $L_{sym} = \lVert \mathrm{flip}(\hat h) - \hat h \rVert_F^2$ on the coarse face, a frontal
#   face being nearly mirror symmetric;
# - **identity** (eq. 5): $L_{id} = \lVert \Phi(\hat h) - \Phi(h) \rVert^2$, $\Phi$ a pretrained network's pooled
#   features (the paper: ResNet-50's average pool; here the in-project FeatureNet trained on the world's train people);
# - **landmark heatmaps** (eq. 6): $L_h = \frac1P \sum_k \lVert H_k(f) - H_k(h) \rVert^2$, the component-aware
#   module's 68 heatmaps against Gaussians at the truth's landmarks;
# - **adversarial** (eqs. 7-8): a Coarse-D on the coarse face and a Fine-D on the fine face.
#
# The paper weights the identity, heatmap and adversarial terms 0.01 and the symmetry term 1. This notebook checks
# every term against a hand-written version, works out what the symmetry weight does to the optimum of eq. 9,
# measures what each weight means here (the size of each term's gradient at initialisation), and trains (and
# caches) the two auxiliary networks: $\Phi$ and the evaluation recogniser of Tab. VI.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world
vividgan_scale: int | None = None  # >= 2; the LR factor (None: the preset's): at course 4 is 16 -> 64, 8 is 8 -> 64

# %%
import torch
import torch.nn.functional as F

from avfh_core.config import setup
from avfh_core.data.landmarks import landmark_heatmaps
from avfh_core.losses.adversarial import vanilla_d_loss, vanilla_g_loss
from avfh_core.losses.face_structure import heatmap_loss, identity_loss, symmetry_loss
from avfh_core.metrics.recognition import identification_ranks, rank_k
from avfh_core.reproduce.results import Results
from avfh_core.train import vividgan as V
from avfh_core.train.pretrain import load_feature_net

cfg = setup(preset, seed=seed, device=device, data_root=data_root, vividgan_scale=vividgan_scale)
res = Results("vividgan/02_losses_and_priors", cfg)
test_pairs = V.pairs(cfg, "test")
hr = torch.stack([it["hr"] for it in test_pairs.items[:8]])
landmarks = torch.stack([it["landmarks"] for it in test_pairs.items[:8]])
print(f"preset={cfg.preset} device={cfg.device} {len(hr)} frontal truths of held-out people, {cfg.hr_size} px")

# %% [markdown]
# ## Each term by hand
# The library's terms against their equations written out (means over elements, as in training; the paper's
# Frobenius norms are sums: the same up to a constant factor per term). The heatmap targets are Gaussians of sigma
# one cell at the truth's landmarks on the grid where the hourglass runs (the LR grid), each peaking at the cell
# whose centre is nearest its landmark (either of two, on a tie).

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
pred = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1)
checks = {}
checks["eq. 3 L_sym by hand"] = torch.allclose(symmetry_loss(pred), ((pred.flip(-1) - pred) ** 2).mean())
checks["eq. 3 is 0 on a mirror-symmetric face"] = float(symmetry_loss((hr + hr.flip(-1)) / 2)) == 0.0
embed = torch.nn.Sequential(torch.nn.AvgPool2d(4), torch.nn.Flatten())  # any pooled embedding: Phi comes below
checks["eq. 5 L_id by hand"] = torch.allclose(identity_loss(embed, pred, hr), ((embed(pred) - embed(hr)) ** 2).mean())
grid = cfg.hr_size // cfg.vividgan_scale
target = landmark_heatmaps(landmarks, grid, sigma=1.0, image_size=cfg.hr_size)
peak = target.flatten(-2).argmax(-1)
centre = torch.stack([peak % grid, peak // grid], -1).float() + 0.5  # the peak cell's centre (x, y)
pos = (landmarks * grid / cfg.hr_size).clamp(0.5, grid - 0.5)  # the landmark on the grid (nearest cell if outside)
checks["eq. 6 heatmaps peak at the landmark's cell"] = bool(((centre - pos).abs() <= 0.5 + 1e-5).all())
noisy = target + 0.05 * torch.randn_like(target)
checks["eq. 6 L_h by hand"] = torch.allclose(heatmap_loss(noisy, target), ((noisy - target) ** 2).mean())
real, fake = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
by_hand = -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())
checks["eq. 7 L_D by hand"] = torch.allclose(vanilla_d_loss(real, fake), by_hand, atol=1e-5)
checks["eq. 8 L_adv by hand"] = torch.allclose(vanilla_g_loss(fake), -torch.log(torch.sigmoid(fake)).mean(), atol=1e-5)
for k, v in checks.items():
    print(f"{k:44s} {v}")
_ = res.log("loss_checks", checks)

# %% [markdown]
# ## What the symmetry weight does to the optimum of eq. 9
# Split the truth into its mirror-symmetric and antisymmetric parts, $h = h_s + h_a$. With weight 1 on both
# $L_{mse}$ and $L_{sym}$ (the paper's eq. 9, both as means over the same pixels), the coarse face that minimises
# the two alone keeps $h_s$ and only a fifth of $h_a$: on a mirror pair of pixels the antisymmetric part $d$ pays
# $(d - d_h)^2$ in $L_{mse}$ and $(2d)^2$ in $L_{sym}$, so $d^* = d_h / 5$. A truth that is not symmetric (a side
# light, a wink, a lopsided smile) loses four fifths of what makes it so, unless the other terms pull it back. Below,
# the gradient of $L_{mse} + L_{sym}$ at $h_s + h_a / 5$ (zero: the optimum) and at the truth itself.

# %% tags=["nbval-check-output"]
h_s, h_a = (hr + hr.flip(-1)) / 2, (hr - hr.flip(-1)) / 2


def grad_norm(c):
    c = c.clone().requires_grad_(True)
    (F.mse_loss(c, hr) + symmetry_loss(c)).backward()
    return float(c.grad.norm())


print("gradient of eq. 9's two pixel terms at h_s + h_a / 5 vanishes:", grad_norm(h_s + h_a / 5) < 1e-6)
print("and at the truth h it does not:", grad_norm(hr) > 1e-4)

# %%
opt = h_s + h_a / 5
shrink = {"truth_mirror_psnr_db": float(-10 * torch.log10(((hr.flip(-1) - hr) ** 2).mean())),
          "psnr_of_the_eq9_optimum_db": float(-10 * torch.log10(((opt - hr) ** 2).mean()))}
res.log("symmetry_shrink", shrink)
print(f"truth vs its mirror image {shrink['truth_mirror_psnr_db']:.2f} dB; the pixel+symmetry optimum against the "
      f"truth {shrink['psnr_of_the_eq9_optimum_db']:.2f} dB (the ceiling of a coarse face under eq. 9's two terms)")

# %% [markdown]
# ## What a weight of 0.01 means here
# A weight says little by itself: what a term does to training is the size of its gradient. Below, each term's
# gradient norm with respect to the untrained generator (weight 1, mean over a few training batches), the paper's
# weight times that norm as a share of its level's $L_{mse}$ gradient, and the *balanced* weights of our extra
# Tab. III row (notebook 05): each low-weight term weighted so that its step-0 share is a fixed tenth (chosen before
# any test score).

# %%
g = V.step0_gradient_norms(cfg)
balanced = V.balanced_weights(cfg)
print(f"{'term':7s} {'grad norm':>10s} {'paper w':>8s} {'paper share':>12s} {'balanced w':>11s}")
shares = {}
for k in V.PAPER_WEIGHTS:
    if k not in g:
        continue
    ref = "c_mse" if k.startswith("c_") else "f_mse"
    shares[k] = V.PAPER_WEIGHTS[k] * g[k] / g[ref] if k.startswith(("c_", "f_")) else float("nan")
    print(f"{k:7s} {g[k]:10.3g} {V.PAPER_WEIGHTS[k]:8g} {shares[k]:12.3g} {balanced[k]:11g}")
res.log("step0_gradient_norms", g)
res.log("paper_weight_shares", shares)
_ = res.log("balanced_weights", balanced)

# %% [markdown]
# ## The auxiliary networks
# Two networks are trained once (and cached) before any VividGAN run:
#
# - $\Phi$ of $L_{id}$: the in-project FeatureNet (a VGG-style network with softmax identity heads, trained on the
#   world's *train* people);
# - the evaluation recogniser of Tab. VI (notebook 07), deliberately a different network: a residual backbone with
#   an ArcFace head trained on all the world's people, on scenes no test pair uses, so the identification score is
#   not the quantity $L_{id}$ optimises.
#
# The paper's third auxiliary network, the landmark detector, is part of the generator here (the stacked hourglass
# of the component-aware module, trained through $L_h$ with the rest; notebook 03). Below, how well each embedding
# identifies the held-out people's frontal truths against the gallery of notebook 01, beside chance: the ceiling
# of Tab. VI.

# %%
phi = load_feature_net(cfg, prefer_vgg=False).to(cfg.device).eval()
net = V.recognition_net(cfg)
all_hr = torch.stack([it["hr"] for it in test_pairs.items]).to(cfg.device)
ids = [int(it["person"]) for it in test_pairs.items]
quality = {}
for name, model in (("phi", phi), ("recogniser", net)):
    g_emb, g_ids = V.gallery(cfg, model)
    with torch.no_grad():
        emb = torch.cat([model.embed(all_hr[k:k + 64]).cpu() for k in range(0, len(all_hr), 64)])
    ranks = identification_ranks(emb, ids, g_emb, g_ids)
    quality[name] = {"rank1": 100 * rank_k(ranks, 1), "rank5": 100 * rank_k(ranks, 5),
                     "chance_rank1": 100 / len(g_ids)}
    print(f"{name:10s} rank-1 {quality[name]['rank1']:6.2f} %  rank-5 {quality[name]['rank5']:6.2f} %  "
          f"(chance rank-1 {quality[name]['chance_rank1']:.1f} %)")
_ = res.log("auxiliary_nets", quality)

# %% [markdown]
# ## What the committed course run shows
# Every term matches its equation. With the paper's weights the identity term is not small here: its gradient at
# initialisation is of the order of the pixel loss's, while the symmetry, heatmap and adversarial terms are a small
# fraction of it; the balanced weights therefore shrink L_id and raise the others. Both embeddings identify the
# held-out frontal truths far above chance, the recogniser better than Phi.
