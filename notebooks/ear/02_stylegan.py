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

# %% [markdown] tags=[]
# # Ear 02 · A face prior with a W+ latent
#
# Meishvili et al. 2020, sec. 3.1. Training one network end to end from the 8x8 face and the voice learns to
# ignore the voice; the paper therefore first builds a **face prior**: a StyleGAN generator $G$ whose $k$ style
# inputs form the latent space into which notebooks 03 and 04 map a face and a voice.
#
# StyleGAN v1 in small: a mapping network sends each code $z_j$ to a style $w_j$ (W+: one per synthesis layer),
# the synthesis network grows a learned 4x4 constant to the HR side, two style-modulated layers per resolution
# with noise inputs. Trained with the non-saturating logistic loss and R1 on the real frames (the GAN stage is
# a cached run: re-running the notebook reloads it).

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world

# %%
import matplotlib.pyplot as plt
import torch

from avfh_core.config import setup
from avfh_core.models.ear import parameter_counts
from avfh_core.reproduce.results import Results
from avfh_core.train import ear
from avfh_core.train.experiment import cached_run
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("ear/02_stylegan", cfg)
c = ear.ear_config(cfg)
print(f"preset={cfg.preset}: G maps k={c.n_styles} style codes of d={c.latent_dim} to a {c.hr_size}x{c.hr_size} "
      f"face; {cfg.ear_gan_steps} GAN steps (batch {cfg.ear_gan_batch})")
for name, n in parameter_counts(c).items():
    print(f"  {name:14s} {n:>10,d} parameters at this preset")

# %% tags=[]
gan_scores, gan = cached_run(ear, ear.EarRun.make("gan"), cfg, cfg.seed)
h = gan.log.history
fig, ax = plt.subplots(1, 2, figsize=(10, 3))
ax[0].plot(h["d_loss"], label="D loss")
ax[0].plot(h["g_loss"], label="G loss")
ax[0].legend()
ax[0].set_xlabel("step")
with torch.no_grad():
    z = torch.randn(8, c.latent_dim, generator=torch.Generator().manual_seed(1)).to(cfg.device)
    samples = (gan.models["generator"](z) / 2 + 0.5).clamp(0, 1).cpu()
ax[1].imshow(torch.cat(list(samples), dim=2).permute(1, 2, 0))
ax[1].axis("off")
ax[1].set_title("samples of G")
save_figure(fig, "ear", "02_gan")
print(f"G trained {gan.log.steps_done} steps; last D loss {h['d_loss'][-1]:.3f}, G loss {h['g_loss'][-1]:.3f}")

# %% [markdown]
# ## Style mixing: what the coarse and the fine layers control
# G takes one code per style layer (W+), so two faces can be mixed: the code of face A in some layers, of face B
# in the others. In StyleGAN the coarse layers (low resolution) set the layout, pose and shape, the fine layers
# the colours and texture. We swap each third of the layers from B into A and split each change into a uniform
# colour shift (its mean over the image, per channel) and the rest (structure). If the layers split the work as
# in StyleGAN, the fine swap's change is the most a change of colour, the coarse swap's the least.

# %%
G = gan.models["generator"]
k = c.n_styles
g = torch.Generator().manual_seed(2)
za, zb = (torch.randn(6, c.latent_dim, generator=g).to(cfg.device) for _ in range(2))
groups = {"coarse": range(0, k // 3), "middle": range(k // 3, 2 * k // 3), "fine": range(2 * k // 3, k)}
with torch.no_grad():
    a = G(za)
    mixes = {}
    for name, layers in groups.items():
        z = za[:, None].repeat(1, k, 1)
        z[:, list(layers)] = zb[:, None]
        mixes[name] = G(z)
colour_share = {}
for name, img in mixes.items():
    change = img - a
    colour = change.mean(dim=(2, 3), keepdim=True)  # the uniform colour shift of each image
    colour_share[name] = float(colour.pow(2).mean() / change.pow(2).mean().clamp(min=1e-12))
    print(f"{name:6s} layers {list(groups[name])}: mean |change| {float(change.abs().mean()):.4f}, "
          f"share of its energy that is a uniform colour shift {colour_share[name]:.4f}")
res.log("style_mixing_colour_share", colour_share)
with torch.no_grad():
    strips = [a, G(zb)] + list(mixes.values())
fig, ax = plt.subplots(figsize=(12, 2 * len(strips)))
ax.imshow((torch.cat([torch.cat(list(x), dim=2) for x in strips], dim=1) / 2 + 0.5).clamp(0, 1).cpu().permute(1, 2, 0))
ax.axis("off")
ax.set_title("A / B / A with B's coarse / middle / fine layers")
save_figure(fig, "ear", "02_style_mixing")

# %% [markdown]
# ## What this shows
# The samples say how much of a face the prior can draw at this preset and schedule; whatever it cannot draw,
# no encoder into its latent space can recover. The mixing says whether its layers split the work as a StyleGAN's
# do, which is what lets eq. 4 regress the voice onto a code whose pose was averaged away. Notebook 03 inverts $G$.
