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
# # A tour of avfh
#
# **avfh** reproduces five papers on *audio-visual face hallucination*: making a sharp face video from a tiny,
# blurry one, with help from what the person says. Each paper has a folder of notebooks that walks through it:
# the data, the derivations, the architecture, training, ablations, and the paper's numbers beside ours.
#
# | folder | paper | idea in one line |
# |---|---|---|
# | `notebooks/vfhgan` | Sharma et al. 2022, **VFH-GAN** (the main paper) | video face SR x4 with an audio branch, a lip-reading loss and a weighted Fourier loss |
# | `notebooks/ear` (planned) | Meishvili et al., CVPR 2020, *Learning to Have an Ear for Face SR* | 8x8 -> 128x128 faces: the voice tells gender and age |
# | `notebooks/secnet` (planned) | Fang et al., **SECNet** | facial video hallucination with recurrent frame fusion |
# | `notebooks/talkingface` (planned) | Eskimez et al., ICASSP 2020 | talking faces generated from noisy speech |
# | `notebooks/vividgan` (planned) | Zhang et al., **VividGAN** | joint super-resolution and frontalization |
# | `notebooks/common` | — | this tour, the synthetic audio-visual world, the metrics |
#
# The real datasets (LRW, LRS2, GRID, VoxCeleb2, RAVDESS, Multi-PIE, CelebA) cannot be downloaded here, so the
# notebooks train on an **embedded synthetic audio-visual world** in which the papers' mechanisms really operate
# (voices carry gender and age, phonemes drive the mouth), and keep real loaders for users who have the data.
#
# Everything a notebook computes lives in the small tested library `avfh_core`; the notebooks teach and call it.

# %% [markdown]
# ## Parameters and presets
# Every notebook starts with a cell tagged `parameters`. Papermill (and `avfh reproduce`) replaces these values;
# `None` means "use the preset's value".

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world
steps: int | None = None  # >= 1; None: the preset's value

# %%
import torch

from avfh_core.config import PRESETS, setup
from avfh_core.reproduce.results import Results

cfg = setup(preset, seed=seed, device=device, data_root=data_root, steps=steps)
res = Results("common/00_tour", cfg)
print(f"preset={cfg.preset} device={cfg.device} steps={cfg.steps} hr_size={cfg.hr_size}")

# %% [markdown]
# A preset is plain data in `avfh_core.config.PRESETS`, one named set of knobs:
#
# * `smoke`: what CI runs, every notebook in at most a minute on 2 CPU cores. It proves the code runs and nothing more.
# * `course`: the default. Sized for a student's laptop CPU: minutes per notebook, under 4 GB of RAM, and big
#   enough that the paper's effect has a chance to show.
# * `gpu`: one H100-class GPU at the paper's resolution (32 -> 128).
# * `paper`: the paper's own schedule (several GPUs through `torchrun`).

# %% tags=["nbval-check-output"]
keys = ["hr_size", "scale", "window", "steps", "batch_size", "n_train_clips", "n_seeds"]
print(f"{'preset':8s}" + "".join(f"{k:>14s}" for k in keys))
for name, values in PRESETS.items():
    print(f"{name:8s}" + "".join(f"{values[k]!s:>14s}" for k in keys))

# %% [markdown]
# A wrong knob is an error that names it, never a silently ignored typo:

# %% tags=["nbval-check-output"]
try:
    setup("smoke", stepz=3)
except ValueError as e:
    print(str(e).split(";")[0])
try:
    setup("laptop")
except ValueError as e:
    print(e)

# %% [markdown]
# ## Determinism
# `setup` seeds python, numpy and torch and turns on deterministic algorithms, so a notebook prints the same
# numbers on every run with the same preset and seed. That is what lets `nbval` compare outputs in CI.

# %% tags=["nbval-check-output"]
setup("smoke", seed=123)
a = torch.rand(3)
setup("smoke", seed=123)
b = torch.rand(3)
assert torch.equal(a, b)
print("same seed, same numbers:", [round(x, 4) for x in a.tolist()])

# %% [markdown]
# ## Running notebooks headless
# The notebooks are stored twice: a `.py` file in Jupytext's percent format (the source of truth, easy to diff and
# review) and a paired `.ipynb` holding the reference outputs that you see on GitHub. Papermill cannot read the
# percent format, so one runner in `avfh_core.reproduce.runner` reads the source with `jupytext`, injects the
# parameters and executes it with papermill. The command line and the tests both use it:
#
# ```bash
# avfh reproduce --preset smoke                      # every notebook, in dependency order
# avfh reproduce --paper vfhgan --preset course      # one paper
# avfh reproduce --notebook common/00_tour --set seed=1
# ```
#
# Each run writes `runs/<run-id>/<paper>/<notebook>__<params>.ipynb` and a JSON sidecar of its metrics beside it.
# Parameters are checked against the notebook's `parameters` cell before anything runs:

# %% tags=["nbval-check-output"]
from avfh_core.reproduce.runner import declared_parameters, read_source

tour = read_source("00_tour.py")
print(sorted(declared_parameters(tour)))

# %% [markdown]
# ## Metrics go to a sidecar, figures to `figures/`
# A notebook records every number that a test or the report needs with `res.log(...)`; the report never parses
# printed text. Figures go through `save_figure`, which writes `figures/<paper>/<name>.png`.

# %%
import matplotlib.pyplot as plt

from avfh_core.viz import save_figure

fig, ax = plt.subplots(figsize=(5, 2.2))
for name, values in PRESETS.items():
    ax.bar(name, values["hr_size"], color="tab:blue")
ax.set_ylabel("HR image side (px)")
ax.set_title("Image size per preset")
save_figure(fig, "common", "tour_presets")

res.log("presets", {k: v["hr_size"] for k, v in PRESETS.items()})
res.log("steps", cfg.steps)
print("sidecar:", res.path.name)

# %% [markdown]
# ## Where to go next
# * `common/01_audiovisual_world`: how the synthetic world is built and why it is rich enough for these papers.
# * `common/02_metrics`: PSNR, SSIM, ERQA, NLMD, and where each one misleads.
# * `vfhgan/01_data` ... `vfhgan/06_ablations`: the main paper, end to end.
