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
# # VividGAN 01 · Frontalisation pairs and the architecture
#
# Zhang et al., "Face Hallucination with Finishing Touches" (TIP 2021), sec. III-A/B and IV. The task is
# *face hallucination* in the paper's sense: from a tiny, unaligned, non-frontal LR face, make the **frontal** HR
# face of the same person with the same expression. The paper trains on Multi-PIE (real non-frontal/frontal pairs)
# and on CelebA/MMI faces rotated with a 3-D model to yaws of 22, 40, 55 and 75 degrees, then "transformed"
# (misaligned) and downsampled to 16x16.
#
# Here the synthetic world renders each scene at every yaw of the CelebA grid together with its exact frontal
# truth (`avfh_core.data.frontal_pairs`): the same person, mouth, eyelids and background, under the canonical
# frontal light. The LR input is the posed face warped by a random similarity transform and downsampled.
# The course preset works at 16 -> 64 (x4); the paper's 16 -> 128 (x8) is `VividGANConfig.paper()` and the gpu
# preset.

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
from avfh_core.data.degrade import bicubic_up
from avfh_core.data.frontal_pairs import side_ramp
from avfh_core.metrics.image import psnr
from avfh_core.models.vividgan import (
    PAPER_PARAMETERS,
    VividGANConfig,
    VividGANGenerator,
    corners,
    crop_sizes,
    parameter_counts,
)
from avfh_core.reproduce.results import Results
from avfh_core.train import vividgan as V
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("vividgan/01_pairs_and_architecture", cfg)
train_pairs, test_pairs = V.pairs(cfg, "train"), V.pairs(cfg, "test")
print(f"preset={cfg.preset} device={cfg.device} {cfg.hr_size // cfg.vividgan_scale} -> {cfg.hr_size} "
      f"(x{cfg.vividgan_scale}); yaws {train_pairs.yaws}; pairs: {len(train_pairs)} train, {len(test_pairs)} test "
      "(test = held-out people)")

# %% [markdown]
# ## One scene at every yaw
# Top: the LR inputs (nearest-neighbour enlarged so their pixels show). Bottom: the frontal truth, the same for
# every view, with the four component windows of the touching-up subnetwork (left eye, right eye, nose, mouth;
# the authors' released code's window sizes, scaled) around the truth's landmark centres.

# %%
V_ = len(train_pairs.yaws)
fig, axes = plt.subplots(2, V_, figsize=(1.6 * V_, 3.4))
for k in range(V_):
    item = train_pairs[k]
    axes[0, k].imshow(item["lr"].permute(1, 2, 0).numpy(), interpolation="nearest")
    axes[0, k].set_title(f"yaw {item['yaw']:+.0f}", fontsize=8)
    axes[1, k].imshow(item["hr"].permute(1, 2, 0).numpy())
    if k == 0:
        sizes = crop_sizes(cfg.hr_size)
        for (x0, y0), (h, w) in zip(corners(item["centres"], cfg.hr_size).tolist(), sizes.values(), strict=True):
            axes[1, k].add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), w, h, fill=False, color="yellow", lw=1))
for ax in axes.flat:
    ax.axis("off")
fig.tight_layout()
save_figure(fig, "vividgan", "01_pairs")

# %% [markdown]
# ## Premises: what doing nothing scores, per yaw, and how symmetric the truth is
# The do-nothing baseline upsamples the posed LR face and compares it with the frontal truth; it should lose PSNR
# as the yaw grows (the paper's Tab. II cascades lose 2-5 dB from 22 to 75 degrees). The symmetry loss (eq. 3)
# assumes a mirror-symmetric frontal face: the mirror PSNR of the truth says how far that holds, and the side-lit
# truth of the symmetry control (`side_light`) breaks it on purpose.

# %%
lr = torch.stack([it["lr"] for it in test_pairs.items])
hr = torch.stack([it["hr"] for it in test_pairs.items])
yaw = torch.stack([it["yaw"] for it in test_pairs.items]).abs()
p_bic = psnr(bicubic_up(lr, cfg.vividgan_scale), hr)
premises = {f"bicubic_psnr_{y:g}": float(p_bic[(yaw - y).abs() < 0.5].mean()) for y in sorted(set(yaw.tolist()))}
premises["truth_mirror_psnr"] = float(psnr(hr.flip(-1), hr).mean())
side = (hr * side_ramp(cfg.hr_size, V.SIDE_WORLD["side_light"])).clamp(0, 1)
premises["side_lit_truth_mirror_psnr"] = float(psnr(side.flip(-1), side).mean())
res.log("premises", premises)
for k, v in premises.items():
    print(f"{k:28s} {v:6.2f} dB")

# %% [markdown]
# ## The networks (sec. III, Figs. 3-5)
# - **Coarse-level FH network** (VividGAN-dagger): an encoder at the LR size and one *FT module* per x2 (an STN
#   that lines up the features, a residual block, a deconvolution). No bicubic skip: input and target are not
#   pixel aligned.
# - **Touching-up subnetwork**: a U-Net shared by the four components (a one-hot code says which), residual on its
#   crop. Its outputs are pasted onto an empty template at fixed positions and fused by an element-wise max: the
#   *facial component appearance prior*.
# - **Fine-integration network**: an encoder on the coarse face and the prior (6 channels) down to the LR grid, the
#   *facial component-aware module* (a stacked hourglass estimating 68 landmark heatmaps, and the integration block
#   of eqs. 1-2, a cross attention from the features to the heatmaps), FT modules back up, and a residual head on
#   the coarse face that starts at zero: untrained, the fine network returns the coarse face exactly.
# - **Coarse-D and Fine-D**: PatchGANs (the paper gives no architecture).
#
# Tab. IV gives "parameter numbers (KB)" whose unit is unclear; the ratio of the coarse network to the whole is the
# comparable number.

# %%
gen = VividGANGenerator(V.VividGANRun.make().generator_config(cfg)).eval()
paper_gen = VividGANGenerator(VividGANConfig.paper()).eval()
ours, big = parameter_counts(gen), parameter_counts(paper_gen)
print(f"{'part':10s} {'this preset':>12s} {'paper scale (ours)':>20s}")
for k in ours:
    print(f"{k:10s} {ours[k]:12,d} {big[k]:20,d}")
ratio_paper = PAPER_PARAMETERS["vividgan_coarse"] / PAPER_PARAMETERS["vividgan"]
print(f"coarse / whole: paper Tab. IV {ratio_paper:.2f}, ours at paper scale {big['coarse'] / big['total']:.2f}, "
      f"at this preset {ours['coarse'] / ours['total']:.2f}")
res.log("parameters", {"preset": ours, "paper_scale": big, "paper_tab4": PAPER_PARAMETERS})

x = torch.stack([it["lr"] for it in test_pairs.items[:1]])
with torch.no_grad():
    out = gen(x)
    assert torch.equal(out["fine"], out["coarse"])  # the fine level starts at the coarse face
    timings = {}
    for name, fn in (("vividgan_coarse", lambda: gen.coarse(x)), ("vividgan", lambda: gen(x))):
        fn()
        t0 = time.perf_counter()
        n = 10
        for _ in range(n):
            fn()
        timings[name] = 1000 * (time.perf_counter() - t0) / n
print("untrained fine output equals the coarse face: True")
for k, ms in timings.items():
    print(f"{k:16s} {ms:7.2f} ms per face on {cfg.device} (paper Tab. IV: "
          f"{ {'vividgan_coarse': 13.12, 'vividgan': 19.25}[k]} ms, hardware not stated)")
_ = res.log("ms_per_face", timings)
