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
# # VFH-GAN 04 · The architecture
#
# Sharma et al. 2022, sec. 3.1, Fig. 1 (generator) and Fig. 4 (the mixnet block of the backbone ablation).
# The generator ("VFHN", zeta in eq. 1) turns the LR frame $f^{lr}_t$, its $2j$ neighbours and the log-mel window
# aligned to frame $t$ into the HR frame $f^{sr}_t$:
#
# $$f^{sr}_t = \zeta\big((f^{lr}_t, \{f^{lr}_i\}_{i=t-j}^{t+j}), a_{m\text{-}s};\ \phi_{w_v,b_v}, \phi_{w_a,b_a}\big) \quad (1)$$
#
# Two branches:
# - **PHFE-B** (progressive hierarchical feature extractor) works on the centre frame: a *multi-kernel module*
#   (1x1, 3x3, 5x5, 7x7 convolutions side by side) and a *channel-attention module* (depthwise convolutions and
#   squeeze-and-excitation).
# - **CMFE-B** (cross-modal feature extractor): a visual branch $\xi$ on the *primary features* of all $2j+1$ frames
#   and an audio branch $\psi$ on the mel window; their outputs are fused and mapped to a latent by $\Psi$ (eq. 2),
#   which goes through **axial self-attention** (eq. 3) and is *added* to the PHFE-B features:
#
# $$f^{lv'} = \Psi\{\xi(f^{lr'}_t) + \psi(a_{m\text{-}s})\} \quad (2) \qquad f_a = \text{axial-atten}(f^{lv'}) \quad (3)$$
#
# The fusion is one of the paper's internal conflicts: eq. 2 prints a **sum**, the text says the two embeddings are
# "concatenated". The authors' released code adds, so two of the three sources say *add*; concatenation followed by
# a 1x1 convolution can represent the sum, so the two readings differ in capacity, not in kind. The module
# docstring of `avfh_core.models.vfhgan` says which one the generator uses.
#
# A x4 sub-pixel upsampler makes the HR frame. Everything here is `avfh_core.models.vfhgan` and `avfh_core.nn`;
# this notebook only looks inside.
#
# Two names in the paper do not match what is built: the "**progressive** hierarchical" feature extractor (after the
# paper's ref. [26]) is, in the text, a stack of multi-kernel and channel-attention modules at one resolution,
# and so is ours (`backbone`: equal-width stages on the LR grid, no multi-scale pyramid); the paper describes no
# progressive stages. And the backbone ablation calls the same branch PHFE-B, "PFH-B" and "PVFH-B", and the
# mixnet alternative "dice-net" in the caption of Fig. 5.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world

# %%
import time

import matplotlib.pyplot as plt
import torch

from avfh_core.config import setup
from avfh_core.models.baselines import SRResNet
from avfh_core.models.vfhgan import PatchDiscriminator, VFHGANConfig, VFHGenerator
from avfh_core.nn import AxialAttention, MixNetBlock, MultiKernelConv, PHFEBlock, count_parameters
from avfh_core.reproduce.results import Results
from avfh_core.train.vfhgan import BACKBONE_ROWS, TABLE1_ROWS, window_data
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("vfhgan/04_architecture", cfg)
print(f"preset={cfg.preset} device={cfg.device} hr={cfg.hr_size} lr={cfg.hr_size // cfg.scale} window j={cfg.window}")

# %% [markdown]
# ## Fig. 1, redrawn
# The paper's Fig. 1 survives only as a caption in the text we have, so here it is as a block diagram with the
# symbols of eqs. 1-3 and the training losses of eq. 11 (`avfh_core.viz.diagrams.vfhgan_block_diagram`). Solid
# parts are the paper's; the dashed blue bicubic skip and the pixel MSE term are ours and the released code's
# (the skip makes the network learn the residual; see notebook 05 for where that makes training start). The
# fusion node is drawn as eq. 2 prints it.

# %% tags=["nbval-check-output"]
from avfh_core.viz.diagrams import FIG1_LABELS, figure_texts, vfhgan_block_diagram

fig = vfhgan_block_diagram(fusion="add", show_ours=True)
drawn = "\n".join(figure_texts(fig))
missing = [label for label in FIG1_LABELS if label not in drawn]
assert not missing, missing
print(f"{len(FIG1_LABELS)} symbols and parts of eqs. 1-3 and 11 drawn, none missing")
save_figure(fig, "vfhgan", "04_fig1_block_diagram")

# %% [markdown]
# ## Shapes through the generator (paper scale: 32x32 -> 128x128, j = 2, 80 mel bins, 16 mel steps per frame)
# We register forward hooks on each named part and push one window through. This cell does not depend on the
# preset: it always builds one fixed configuration at the paper's image sizes. Its width (64) and number of stages
# (4) are our choice, since the paper gives neither; the 5-frame window ($j = 2$) and the 80 mel bins are the
# released code's.

# %% tags=["nbval-check-output"]
paper_cfg = VFHGANConfig(width=64, n_stages=4, scale=4, window=2)
torch.manual_seed(0)
gen = VFHGenerator(paper_cfg).eval()
shapes = {}


def record(name):
    def hook(module, inputs, output):  # a forward hook must return None (a value would replace the output)
        shapes.setdefault(name, tuple(output.shape))

    return hook


for name in ["head", "backbone", "visual_branch", "audio_branch", "fuse", "attention", "upsample", "tail"]:
    getattr(gen, name).register_forward_hook(record(name))
lr = torch.rand(1, paper_cfg.frames, 3, 32, 32)
mel = torch.randn(1, 1, paper_cfg.n_mels, paper_cfg.mel_steps)
with torch.no_grad():
    out = gen(lr, mel)
print(f"input  lr  {tuple(lr.shape)}   (B, 2j+1, 3, h, w)")
print(f"input  mel {tuple(mel.shape)}  (B, 1, mel bins, (2j+1) * 16 steps)")
for name, shape in shapes.items():
    print(f"{name:14s} -> {shape}")
print(f"output     {tuple(out.shape)}")
assert out.shape == (1, 3, 128, 128)

# %% [markdown]
# `head` runs on all five frames at once (the *primary* convolution, shared): its output per frame is what the
# visual branch of CMFE-B stacks. The audio branch gives one vector per window, broadcast over the 32x32 grid
# before the concatenation (our choice: the paper does not say how a 1-D audio code meets a 2-D map).

# %% tags=["nbval-check-output"]
# Every generator starts at its bicubic skip: the output head is zero at initialisation and the sub-pixel
# convolutions are ICNR-initialised (`models.vfhgan.start_at_skip`; SRResNet/SRGAN too), so an untrained generator
# outputs exactly the bicubic image it adds its residual to (no random offset, no pixel-shuffle checkerboard).
# Checked for every row of every table on this preset's held-out windows; the PSNRs go to the sidecar.
from avfh_core.train.vfhgan import TABLES, init_vs_bicubic, pixel_only

init_rows = {f"{t}/{row}": run for t, table in TABLES.items() for row, run in table(cfg).items()}
init_rows["sanity/pixel_only"] = pixel_only(cfg)
init_gaps = {name: init_vs_bicubic(run, cfg, seed=cfg.seed) for name, run in init_rows.items()}
res.log("init_vs_bicubic", init_gaps)
for name, r in init_gaps.items():
    print(f"{name:28s} untrained - bicubic = {abs(r['gap_db']):.6f} dB")
    assert abs(r["gap_db"]) < 1e-6, (name, r)

# %% [markdown]
# ## Parameter counts of every ablation row (paper scale)

# %% tags=["nbval-check-output"]
rows = {**{f"table1/{k}": v for k, v in TABLE1_ROWS.items()}, **{f"backbone/{k}": v for k, v in BACKBONE_ROWS.items()}}
counts = {}
for name, switches in rows.items():
    counts[name] = count_parameters(VFHGenerator(VFHGANConfig(width=64, n_stages=4, scale=4, window=2, **switches)))
counts["srresnet (baseline)"] = count_parameters(SRResNet(width=64, n_blocks=4))
counts["patch discriminator"] = count_parameters(PatchDiscriminator(width=32, n_down=3))
for name, n in counts.items():
    print(f"{name:26s} {n / 1e6:7.3f} M")
parts = {name: count_parameters(getattr(gen, name)) for name in
         ["head", "backbone", "visual_branch", "audio_branch", "fuse", "attention", "body_out", "upsample", "tail"]}
print({k: v for k, v in parts.items()})
assert sum(parts.values()) == count_parameters(gen)
res.log("param_counts_paper_scale", counts)

# %% [markdown]
# The paper reports no parameter count for VFH-GAN, so these numbers are ours only. Note how small the audio
# branch is next to the PHFE-B: the audio's contribution is a handful of feature maps added to the backbone.

# %% [markdown]
# ## The blocks, one by one
# - `MultiKernelConv`: four parallel convolutions (1, 3, 5, 7), concatenated, fused by 1x1.
# - `PHFEBlock`: $x + \text{DepthwiseSE}(\text{MultiKernel}(x))$.
# - `MixNetBlock` (Fig. 4): 1x1 expansion, mixed depthwise kernels $\{3,5\}$ then $\{3,5,7\}$ over channel groups, SE,
#   1x1 projection; the paper uses two per stage. This simplifies Fig. 4: the extracted figure lists six kernel
#   sets (3/5, 3/5/7, 3/5/7, 3, 3/5/7, 3/5) without saying which layer each belongs to, so we keep the first two.
# - `AxialAttention` (eq. 3): attention along each column, then each row. Every position reaches every other in
#   two hops at a cost of $O(HW(H+W))$ instead of $O((HW)^2)$. The check below shows the receptive field after
#   one hop (a column) and after two (the whole map).

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
print("MultiKernelConv kernels:", MultiKernelConv(8, 8).kernels)
print("PHFEBlock params (C=64):", count_parameters(PHFEBlock(64)))
print("MixNetBlock params (C=64):", count_parameters(MixNetBlock(64)))
att = AxialAttention(8, heads=2).eval()


def two_passes(x):  # the two attention hops without the (global) normalisation, to see the receptive field
    h = x + att._attend(x, att.qkv_h, att.out_h, "h")
    return h, h + att._attend(h, att.qkv_w, att.out_w, "w")


x = torch.randn(1, 8, 9, 9)
x2 = x.clone()
x2[..., 4, 4] += 10
with torch.no_grad():
    (h1, y1), (h2, y2) = two_passes(x), two_passes(x2)
one_hop = (h2 - h1).abs().sum(1)[0] > 1e-6
two_hop = (y2 - y1).abs().sum(1)[0] > 1e-6
print("positions changed after the height pass:", int(one_hop.sum()), "of 81 (one column)")
print("positions changed after both passes:  ", int(two_hop.sum()), "of 81")
assert int(one_hop.sum()) == 9 and int(two_hop.sum()) == 81

# %% [markdown]
# ## What each branch sees
# One training window of the synthetic world at this preset's size: the $2j+1$ LR frames (the visual branch and,
# for the centre one, PHFE-B), the log-mel window aligned to frame $t$ (the audio branch) and the HR target.

# %%
data = window_data(cfg, "train")
item = data[len(data) // 3]
k = item["lr"].shape[0]
fig, axes = plt.subplots(2, k + 1, figsize=(2.0 * (k + 1), 4.4))
for i in range(k):
    axes[0, i].imshow(item["lr"][i].permute(1, 2, 0).numpy(), interpolation="nearest")
    axes[0, i].set_title(f"LR t{i - k // 2:+d}" if i != k // 2 else "LR t (PHFE-B)")
    axes[1, i].imshow(item["hr"][i].permute(1, 2, 0).numpy())
    axes[1, i].set_title("HR target" if i == k // 2 else f"HR t{i - k // 2:+d}")
axes[0, k].imshow(item["mel"][0].numpy(), origin="lower", aspect="auto", cmap="magma")
axes[0, k].set_title("log-mel window (audio)")
for s in range(1, k):
    axes[0, k].axvline(s * item["mel"].shape[-1] / k, color="w", lw=0.5)
axes[1, k].axis("off")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("What the generator sees for one frame t")
save_figure(fig, "vfhgan", "04_branch_inputs")
print("lr", tuple(item["lr"].shape), "mel", tuple(item["mel"].shape), "hr", tuple(item["hr"].shape))

# %% [markdown]
# ## This preset's generator, and its speed on this machine

# %% tags=["nbval-ignore-output"]
torch.manual_seed(cfg.seed)
g = VFHGenerator(VFHGANConfig(width=cfg.width, n_stages=cfg.vfhgan_stages, scale=cfg.scale, window=cfg.window))
g = g.to(cfg.device).eval()
batch_lr = item["lr"][None].repeat(cfg.batch_size, 1, 1, 1, 1).to(cfg.device)
batch_mel = item["mel"][None].repeat(cfg.batch_size, 1, 1, 1).to(cfg.device)
with torch.no_grad(), cfg.autocast():
    g(batch_lr, batch_mel)
    t0 = time.perf_counter()
    for _ in range(3):
        g(batch_lr, batch_mel)
ms = (time.perf_counter() - t0) / 3 * 1000
print(f"{count_parameters(g) / 1e6:.3f} M parameters; forward of a batch of {cfg.batch_size}: {ms:.1f} ms on {cfg.device}")
res.log("preset_generator", {"params": count_parameters(g), "forward_ms_per_batch": ms, "batch_size": cfg.batch_size})
