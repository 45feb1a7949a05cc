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
# # VividGAN 03 · The architecture: a coarse network, finishing touches, and an integration network
#
# Zhang et al. 2021, sec. III-A/B, Figs. 3-5, Tab. IV. Vivid-FHnet has three parts, trained in three stages
# (notebook 04):
#
# - **Coarse-level FH network** (VividGAN-dagger): an encoder at the LR size and one *FT module* per x2 upsampling:
#   a spatial transformer network (STN) that lines up the features, a residual block and a deconvolution. It has no
#   bicubic skip: input and target are not pixel aligned (the input is posed and misaligned).
# - **Touching-up subnetwork**: a U-Net shared by the four components (left eye, right eye, nose, mouth; a one-hot
#   code says which), residual on its crop of the coarse face. Its outputs are pasted onto an empty canvas at fixed
#   template positions and fused by an element-wise max: the *facial component appearance prior*.
# - **Fine-integration network**: an encoder on the coarse face and the prior (6 channels) down to the LR grid, the
#   *facial component-aware module* (a stacked hourglass that estimates 68 landmark heatmaps, and the integration
#   block of eqs. 1-2, an attention from every feature position to the heatmaps), FT modules back up, and a residual
#   head on the coarse face that starts at zero: untrained, the fine network returns the coarse face exactly.
# - **Coarse-D and Fine-D**: PatchGAN discriminators (the paper gives no architecture).
#
# Tab. IV gives "parameter numbers (KB)" whose unit is unclear and milliseconds per face on unstated hardware: the
# comparable numbers are ratios (the coarse network's share of the whole).

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world
vividgan_scale: int | None = None  # >= 2; the LR factor (None: the preset's): at course 4 is 16 -> 64, 8 is 8 -> 64

# %%
import time

import matplotlib.pyplot as plt
import torch

from avfh_core.config import setup
from avfh_core.models.vividgan import (
    PAPER_PARAMETERS,
    FTModule,
    VividGANConfig,
    VividGANGenerator,
    parameter_counts,
)
from avfh_core.nn.stn import SpatialTransformer
from avfh_core.reproduce.results import Results
from avfh_core.train import vividgan as V
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root, vividgan_scale=vividgan_scale)
res = Results("vividgan/03_architecture", cfg)
print(f"preset={cfg.preset} device={cfg.device} {cfg.hr_size // cfg.vividgan_scale} -> {cfg.hr_size}")

# %% [markdown]
# ## The building blocks start as identities
# The STN's last layer starts at the identity transform, so an untrained STN returns its input; an FT module
# doubles the feature map; the fine level's residual head starts at zero. A network built this way starts from a
# sensible face and learns only the corrections.

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
feat = torch.randn(2, 8, 16, 16)
stn = SpatialTransformer(8)
warped, theta = stn(feat)
print("untrained STN returns its input:", torch.allclose(warped, feat, atol=1e-5))
print("FT module doubles H and W:", tuple(FTModule(8)(feat)[0].shape) == (2, 8, 32, 32))
small = VividGANGenerator(VividGANConfig(hr_size=32, scale=4, width=8, touch_width=4, hg_depth=1)).eval()
with torch.no_grad():
    out = small(torch.rand(2, 3, 8, 8))
print("untrained fine face equals the coarse face:", torch.equal(out["fine"], out["coarse"]))
print("outputs:", ", ".join(f"{k} {tuple(v.shape)}" for k, v in out.items() if torch.is_tensor(v)))

# %% [markdown]
# ## The STN at work
# A few steps of an STN alone on a batch of misaligned copies of one truth, asked to match the aligned truth: the
# transform it learns moves the content back. (In VividGAN the STNs act on features, inside each FT module, and
# learn from the end-to-end losses.)

# %%
hr = torch.stack([it["hr"] for it in V.pairs(cfg, "train").items[:4]])
shift = torch.tensor([[1.0, 0.0, 0.15], [0.0, 1.0, -0.1]]).expand(len(hr), 2, 3)
moved = torch.nn.functional.grid_sample(
    hr, torch.nn.functional.affine_grid(shift, list(hr.shape), align_corners=False), padding_mode="border",
    align_corners=False)
torch.manual_seed(seed)
stn = SpatialTransformer(3)
opt = torch.optim.Adam(stn.parameters(), lr=3e-3)
losses = []
for _ in range(60):
    loss = torch.nn.functional.mse_loss(stn(moved)[0], hr)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
with torch.no_grad():
    back, theta = stn(moved)
res.log("stn_demo", {"mse_first": losses[0], "mse_last": losses[-1], "theta_mean": theta.mean(0).tolist()})
print(f"STN alone: mse {losses[0]:.4f} -> {losses[-1]:.4f}; mean theta "
      + str([[round(v, 3) for v in r] for r in theta.mean(0).tolist()]) + " (undoing the shift takes a translation of -0.15, +0.1)")
fig, axes = plt.subplots(1, 3, figsize=(5.4, 1.9))
for ax, (name, img) in zip(axes, (("misaligned", moved), ("STN output", back), ("truth", hr)), strict=True):
    ax.imshow(img[0].clamp(0, 1).permute(1, 2, 0).numpy())
    ax.set_title(name, fontsize=8)
    ax.axis("off")
fig.tight_layout()
save_figure(fig, "vividgan", "03_stn")

# %% [markdown]
# ## Parameters at the paper's scale and at this preset
# At the paper's scale (16 -> 128, our widths of `VividGANConfig.paper()`) and at this preset, per part; the paper's
# Tab. IV numbers for comparison.

# %% tags=["nbval-check-output"]
paper_gen = VividGANGenerator(VividGANConfig.paper()).eval()
big = parameter_counts(paper_gen)
ratio_paper = PAPER_PARAMETERS["vividgan_coarse"] / PAPER_PARAMETERS["vividgan"]
print("paper scale (ours): " + ", ".join(f"{k} {v:,d}" for k, v in big.items()))
print(f"coarse / whole: paper Tab. IV {ratio_paper:.2f}, ours at paper scale {big['coarse'] / big['total']:.2f}")

# %%
gen = VividGANGenerator(V.VividGANRun.make().generator_config(cfg)).eval()
ours = parameter_counts(gen)
print("this preset: " + ", ".join(f"{k} {v:,d}" for k, v in ours.items())
      + f"; coarse / whole {ours['coarse'] / ours['total']:.2f}")
_ = res.log("parameters", {"preset": ours, "paper_scale": big, "paper_tab4": PAPER_PARAMETERS})

# %% [markdown]
# ## Milliseconds per face
# The inference time of VividGAN-dagger (the coarse network alone) and of VividGAN on this machine, one face at a
# time, beside Tab. IV's (hardware not stated: compare the ratio).

# %%
x = torch.stack([it["lr"] for it in V.pairs(cfg, "test").items[:1]])
timings = {}
with torch.no_grad():
    for name, fn in (("vividgan_coarse", lambda: gen.coarse(x)), ("vividgan", lambda: gen(x))):
        fn()
        t0 = time.perf_counter()
        for _ in range(10):
            fn()
        timings[name] = 1000 * (time.perf_counter() - t0) / 10
for k, ms in timings.items():
    print(f"{k:16s} {ms:7.2f} ms per face on {cfg.device} (paper Tab. IV: "
          f"{ {'vividgan_coarse': 13.12, 'vividgan': 19.25}[k]} ms)")
print(f"coarse / whole time: paper {13.12 / 19.25:.2f}, ours {timings['vividgan_coarse'] / timings['vividgan']:.2f}")
_ = res.log("ms_per_face", timings)

# %% [markdown]
# ## What the committed course run shows
# The blocks start as identities, and a lone STN learns to undo a known shift within a few dozen steps. Our coarse
# network is a smaller share of the whole than in Tab. IV, and on this CPU it is a smaller share of the time too:
# the fine level (hourglass and attention) dominates.
