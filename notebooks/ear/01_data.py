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
# # Ear 01 · What an 8x8 face and 4 s of voice know; the judges
#
# Meishvili, Jenni, Favaro, *Learning to Have an Ear for Face Super-Resolution* (CVPR 2020), sec. 4.1-4.4.
# The paper super-resolves an 8x8 face 16x with the help of 4 s of the same person's voice. It does not train
# one network end to end (which learns to ignore the voice, sec. 3.1): it first builds a **face prior**, a
# StyleGAN generator $G$ whose $k$ style inputs form a latent space (notebook 02), **inverts** it with an
# encoder $E_h$ (notebook 03), maps each modality into that space (notebook 04) and fuses the two codes
# (notebook 05); notebooks 06 and 07 put Tables 1-3 beside the paper's and score its claims.
#
# This notebook: the networks at the paper's size, the data (a frame, its 8x8 version and 4 s of audio from the
# same clip) and the **judges** (the identity, gender and age classifiers of sec. 4.4, which score every
# generated face of the later notebooks and are never part of a training loss). Everything runs in a synthetic
# audio-visual world (world v5) whose voices carry the speaker's identity, gender and age; the paper used
# VoxCeleb2.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world

# %% tags=[]
import matplotlib.pyplot as plt
import torch

from avfh_core.config import setup
from avfh_core.data.stats import nearest_centroid_accuracy, voice_features
from avfh_core.models.ear import PAPER_PARAMS, EarConfig, log_spectrogram, parameter_counts
from avfh_core.reproduce.results import Results
from avfh_core.reproduce.tables import load_tables
from avfh_core.train import ear
from avfh_core.train.evaluate import evaluate
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("ear/01_data", cfg)
paper = load_tables("ear")
c = ear.ear_config(cfg)
print(f"preset={cfg.preset} device={cfg.device}: {cfg.ear_lr_size}x{cfg.ear_lr_size} -> {c.hr_size}x{c.hr_size} "
      f"(x{c.hr_size // c.lr_size}; the paper: 8 -> 128, x16), k={c.n_styles} style codes of d={c.latent_dim}, "
      f"{cfg.ear_audio_seconds:g} s of audio as a {c.spec_shape[0]}x{c.spec_shape[1]} log spectrogram")
print(f"people: {cfg.ear_train_ids} in training, {cfg.ear_open_ids} open-set; D = {cfg.ear_clips} clips x "
      f"{cfg.ear_frames_per_clip} frames, closed / open test sets {cfg.ear_eval_clips} clips each")

# %% [markdown] tags=[]
# ## The networks at the paper's size
# The authors released an inference demo (TensorFlow) with the encoders and the fusion network; our
# `EarConfig.paper()` rebuilds their layer patterns, and the parameter counts (on torch's meta device, nothing
# allocated) land on the demo's. The audio front end is the demo's: 4 s at 16 kHz, window 512, stride 248, a
# 257 x 257 log power spectrogram scaled to [-1, 1] per example.

# %% tags=["nbval-check-output"]
counts = parameter_counts(EarConfig.paper())
for name, n in counts.items():
    ref = f"{PAPER_PARAMS[name] / 1e6:7.1f}M" if name in PAPER_PARAMS else "      -"
    print(f"{name:14s} ours {n / 1e6:7.1f}M   released demo {ref}")
spec = log_spectrogram(torch.randn(1, 64000), 512, 248)
assert spec.shape == (1, 1, 257, 257) and 1 + (64000 - 512) // 248 == 257
print("4 s at 16 kHz -> spectrogram", tuple(spec.shape[2:]), "in", (round(spec.min().item()), round(spec.max().item())))

# %% [markdown] tags=[]
# ## The data
# One item is a frame of a clip, its 8x8 version (antialiased bicubic, 8-bit, as the demo's `imresize`) and
# the clip's audio: frame and audio come from the same clip but are not synchronised (sec. 4.2). The closed set
# holds unseen clips of the training people, the open set people never seen in training.

# %% tags=[]
train_d, closed_d, open_d = (ear.ear_data(cfg, p) for p in ("train", "closed", "open"))
print(f"D: {len(train_d)} items (D_pre: {len(ear.d_pre(train_d))}), closed: {len(closed_d)}, open: {len(open_d)}")
items = [train_d[i] for i in range(0, len(train_d), max(1, len(train_d) // 6))][:6]
fig, ax = plt.subplots(3, len(items), figsize=(2 * len(items), 6))
for j, it in enumerate(items):
    ax[0, j].imshow(it["hr"].permute(1, 2, 0))
    ax[1, j].imshow(it["lr"].permute(1, 2, 0), interpolation="nearest")
    sp = log_spectrogram(it["audio"][None], c.spec_window, c.spec_stride)[0, 0]
    ax[2, j].imshow(sp.T, origin="lower", aspect="auto", cmap="magma")
    ax[0, j].set_title(f"person {int(it['person'])} {'fm'[int(it['gender'])]} {float(it['age']):.0f}", fontsize=8)
for a in ax.flat:
    a.axis("off")
fig.suptitle("HR frame, its 8x8 input, the clip's log spectrogram (time ->)")
save_figure(fig, "ear", "01_data")

# %% [markdown] tags=[]
# ## What the 8x8 face and the voice know, before any network (spec W1-W3)
# The paper's premise: the voice adds to the 8x8 face, most of all for gender. A deliberately simple probe (a
# standardised nearest-centroid classifier, fitted on D, tested on the unseen clips of the same people) reads the
# person and the gender from the 8x8 pixels, from a clip-level voice descriptor (log F0 and 8 cepstral
# coefficients), and from both. The control: the same probes in the world whose voices are drawn independently of
# the person (`voice_coupling = 0`), where the voice must fall to chance.

# %% tags=[]
def probe_features(d):
    lr = d.t["lr"].float().flatten(1) / 255
    clips, item_clip = torch.unique(d.t["clip"], return_inverse=True)  # a clip's frames share its audio
    first = [int(torch.nonzero(d.t["clip"] == c)[0]) for c in clips]
    voice = torch.stack([voice_features(d.t["audio"][i].float()) for i in first])[item_clip]
    return {"8x8 face": lr, "voice": voice, "both": torch.cat([lr, voice], 1)}


probes = {}
for w, knobs in ear.WORLDS.items():
    tr, te = ear.ear_data(cfg, "train", knobs), ear.ear_data(cfg, "closed", knobs)
    ftr, fte = probe_features(tr), probe_features(te)
    for label in ("person", "gender"):
        for name in ftr:
            probes[f"{w}/{label}/{name}"] = 100 * nearest_centroid_accuracy(ftr[name], tr.t[label].tolist(),
                                                                            fte[name], te.t[label].tolist())
res.log("probes", probes)
chance_person = 100 / cfg.ear_train_ids
for w in ear.WORLDS:
    for label, ch in (("person", chance_person), ("gender", 50.0)):
        print(f"{w:9s} {label:6s} (chance {ch:5.1f} %): " + "  ".join(
            f"{name} {probes[f'{w}/{label}/{name}']:5.1f} %" for name in ("8x8 face", "voice", "both")))

# %% [markdown] tags=[]
# ## The judges (sec. 4.4)
# The paper fine-tunes VGG-Face on its training set for identity and gender and uses DEX for age. Ours is one
# small CNN with three heads, trained on HR frames of **every** person (training and open-set people: open-set
# identity accuracy is only defined if the classifier knows them, spec 2.8-8) from clips disjoint from every
# test clip. Its accuracy on the real HR test frames is the ceiling for every generated face; the paper's
# ceiling numbers are printed beside ours.

# %% tags=[]
gt = {"generator": torch.nn.Identity()}


def gt_predict(models, batch):
    return batch["hr"]


data, idx = ear.eval_set(ear.EarRun.make(), cfg)
gt_scores = evaluate(gt_predict, ear.score, gt, data, idx, cfg)
cls = paper.tables["classifiers"]
for s in ("closed", "open"):
    print(f"{s:6s} set, real HR frames: identity {gt_scores[f'{s}/acc_ci']:6.2f} %  gender "
          f"{gt_scores[f'{s}/acc_cg']:6.2f} %   (paper: C_i {cls.published('c_i', 'acc')} %, "
          f"C_g {cls.published('c_g', 'acc')} %)")
chance = 100 / (cfg.ear_train_ids + cfg.ear_open_ids)
print(f"chance identity accuracy {chance:.2f} %")
res.log("classifiers", {"c_i": {"acc": gt_scores["closed/acc_ci"]}, "c_g": {"acc": gt_scores["closed/acc_cg"]}})
res.log("judges_on_real", gt_scores)

# %% [markdown] tags=[]
# ## What this shows
# The judges set the ceiling every generated face is measured against: the gap between chance and their
# accuracy on real frames is the room the later notebooks have. Notebook 02 trains the face prior $G$.
