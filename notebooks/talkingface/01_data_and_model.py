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
# # Talking faces from noisy speech 01 · Data, noise and the model
#
# Eskimez, Maddox, Xu, Duan, "End-to-end generation of talking faces from noisy speech" (ICASSP 2020). From one
# still image of a face (the *condition image*) and a raw speech waveform, possibly noisy, the generator produces a
# talking-face video at 25 fps: no MFCCs, no landmark stage, no post-processing (sec. 1, 3).
#
# This notebook follows sec. 3.1 and 4.1: 8 kHz speech, the noise the paper trains and tests with, near-frontal
# aligned crops with a condition frame and the mouth mask of sec. 3.2, then the networks. **The paper publishes no
# table and no number**: its results are curves (Fig. 5), so the later notebooks score directions, not sizes.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world

# %%
import matplotlib.pyplot as plt
import torch

from avfh_core.config import setup
from avfh_core.data import noise_bank as nb
from avfh_core.models.talkingface import (FrameDiscriminator, PairDiscriminator, SpeechEncoder, TalkingFaceConfig,
                                          TalkingFaceGenerator, parameter_count)
from avfh_core.reproduce.results import Results
from avfh_core.train import talkingface as tf
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("talkingface/01_data_and_model", cfg)
if data_root:
    print("data_root is set: this notebook shows the synthetic world; notebook 03 reads the LRW/ and GRID/ folders "
          "under it and scores the trained models there (train/talkingface_real.py)")
print(f"preset={cfg.preset} device={cfg.device} image {cfg.hr_size} px, {cfg.clip_frames} frames per clip")

# %% [markdown]
# ## Speech at 8 kHz, and the noise
# The paper feeds the raw waveform at 8 kHz: 320 samples per video frame. Training mixes each utterance with one of
# 138 noise types at -6 ... 30 dB SNR in 3 dB steps; the test uses five types never seen in training (babble,
# cafeteria, motorcycle, speech-shaped, factory) at -10 ... 30 dB in 1 dB steps. No noise corpus can be downloaded
# here, so both sets are procedural (`data.noise_bank`): the five test types from their own generators, the 138
# training types from six *other* generator families. Unseen means unseen generators, not only unseen seeds.

# %% tags=["nbval-check-output"]
print(f"test types ({len(nb.TEST_TYPES)}): {', '.join(nb.TEST_TYPES)}")
print(f"training types: {len(nb.TRAIN_TYPES)} from the families {', '.join(nb.TRAIN_FAMILIES)}")
print(f"training SNRs {nb.TRAIN_SNRS_DB[0]:g} ... {nb.TRAIN_SNRS_DB[-1]:g} dB ({len(nb.TRAIN_SNRS_DB)} levels); "
      f"test SNRs {nb.TEST_SNRS_DB[0]:g} ... {nb.TEST_SNRS_DB[-1]:g} dB ({len(nb.TEST_SNRS_DB)} levels)")

# %%
train_clips, test_lrw = tf.clip_data(cfg, "train"), tf.clip_data(cfg, "test", "lrw")
item = test_lrw[0]
clean = item["audio"][None]
snrs = torch.tensor([-10.0, 0.0, 10.0, 30.0])
noise = nb.noise("babble", clean.shape[1], seed=1)[None].expand(len(snrs), -1)
mixed = nb.mix_at_snr(clean.expand(len(snrs), -1), noise, snrs)
measured = nb.snr_db(clean.expand(len(snrs), -1), mixed - clean)
for want, got in zip(snrs.tolist(), measured.tolist()):
    print(f"requested {want:+5.1f} dB  measured {got:+8.4f} dB")
res.log("snr_check_max_error_db", float((measured - snrs.double()).abs().max()))

fig, axes = plt.subplots(2, 3, figsize=(11, 4.5))
for ax, kind in zip(axes.flat, ("clean", *nb.TEST_TYPES)):
    x = clean[0] if kind == "clean" else nb.noise(kind, 2 * nb.SAMPLE_RATE, seed=0)
    ax.specgram(x.numpy(), NFFT=256, Fs=nb.SAMPLE_RATE, noverlap=192, cmap="magma")
    ax.set_title(kind if kind != "clean" else "a clean test clip (8 kHz)")
    ax.set_xlabel("s")
    ax.set_ylabel("Hz")
fig.tight_layout()
save_figure(fig, "talkingface", "01_noise_types", dpi=60)

# %% [markdown]
# ## Aligned crops, the condition frame and the mouth mask
# The paper similarity-aligns LRW faces on eyes and nose. The synthetic world's "frontal" pose preset with no head
# motion stands in for that alignment. The condition image is the clip's first frame (the authors' follow-up code;
# the paper does not say which frame). The mask of sec. 3.2 is a 2-D Gaussian at the mean of the mouth landmarks
# plus 0.01; its size is not published, so here sigma is a fixed fraction of the face width (`talkingface_mask_sigma`).

# %%
print(f"{len(train_clips)} training clips (training people), {len(test_lrw)} test clips (held-out people) per "
      "dataset; 'LRW' = the word world, 'GRID' = the sentence world (never trained on)")
print(f"mask sigma = {cfg.talkingface_mask_sigma} of the face width")
T = item["video"].shape[0]
fig, axes = plt.subplots(3, min(T, 6), figsize=(1.8 * min(T, 6), 5.4))
for k in range(min(T, 6)):
    t = round(k * (T - 1) / max(1, min(T, 6) - 1))
    axes[0, k].imshow(item["video"][t].permute(1, 2, 0).clamp(0, 1))
    axes[0, k].set_title(f"frame {t}" + (" = condition" if t == 0 else ""), fontsize=8)
    axes[1, k].imshow(item["mask"][t], cmap="gray")
    axes[2, k].imshow((item["mask"][t, :, :, None] * item["video"][t].permute(1, 2, 0)).clamp(0, 1))
for ax in axes.flat:
    ax.axis("off")
axes[1, 0].set_title("mask", fontsize=8, loc="left")
fig.tight_layout()
save_figure(fig, "talkingface", "01_crops_and_mask")
motion = float((item["video"][1:] - item["video"][0]).abs().mean())
res.log("clip0_mean_abs_change_from_condition", motion)
print(f"how far the frames move from the condition frame (clip 0, mean |difference|): {motion:.4f}")

# %% [markdown]
# ## How the paper scores the lips: NLMD against the mouth-centroid LMD (sec. 4.3)
# The paper's baseline [8] scores lips with the LMD of Chen et al. [7]: the mouth landmarks of each frame minus their
# mean point, compared with the truth's (`metrics.landmarks.mouth_centroid_lmd`, as [8]'s released evaluation code
# computes it: the sum over the 20 mouth points, in pixels). The paper argues that matching mean points "is prone to
# errors caused by facial movements such as rotation and scaling", and aligns both shapes to a template face by
# Procrustes analysis instead (NLMD: translation, rotation and scale removed). The argument can be measured without
# any model. Move the true landmarks of the held-out clips as a whole head (`move_head`: the mouth stays exactly
# right) and compare with the opposite error, a head that is right with a mouth frozen at the condition frame
# (`frozen_mouth`: what a generator that copies its condition frame produces).
#
# The size of the rotation error follows in one line. After centring, a similarity transform with scale s and
# rotation R moves each mouth point m by |s R m - m|; for a rotation alone that is 2 sin(theta/2) |m|, for a scaling
# alone |s - 1| |m|. So a correctly shaped mouth on a head turned by theta costs the LMD 2 sin(theta/2) S, with S the
# sum of the mouth points' distances from their centre. The head turn that costs as much as a frozen mouth is the
# *break-even* below. NLMD is zero for every such move (to rounding): it sees only the mouth's shape.

# %%
from avfh_core.metrics.landmarks import head_motion_contrast

angles, scales = (0, 1, 2, 3, 5, 7.5, 10, 15), (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2)
contrast = {}
for d in tf.DATASETS:
    lm = torch.stack([it["landmarks"] for it in tf.clip_data(cfg, "test", d).items])
    contrast[d] = head_motion_contrast(lm, angles_deg=angles, scales=scales)
    c, be = contrast[d], contrast[d]["break_even"]
    worst_nlmd = max(r["nlmd_mouth"] for r in [c["shifted"], *c["rotated"].values(), *c["scaled"].values()])
    print(f"{d} ({lm.shape[0]} held-out clips): frozen mouth  NLMD-mouth {c['frozen']['nlmd_mouth']:.4f}  "
          f"LMD {c['frozen']['lmd']:.2f} px")
    print(f"  correct mouth, head moved: largest NLMD-mouth {worst_nlmd:.1e}; LMD of a shift "
          f"{c['shifted']['lmd']:.1e}, of a {angles[-1]:g} degree turn {c['rotated'][float(angles[-1])]['lmd']:.2f} px")
    print(f"  break-even: a head turned by {be['angle_deg']:.1f} degrees, or {100 * be['scale_change']:.1f} % nearer "
          "or further, costs the LMD as much as the frozen mouth")
res.log("nlmd_vs_lmd", {d: {"frozen": c["frozen"], "shifted": c["shifted"], "break_even": c["break_even"],
                            "rotated": {str(k): v for k, v in c["rotated"].items()},
                            "scaled": {str(k): v for k, v in c["scaled"].items()}} for d, c in contrast.items()})

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
for d, style in zip(tf.DATASETS, ("-", "--")):
    c = contrast[d]
    for metric, colour in (("lmd", "tab:red"), ("nlmd_mouth", "tab:blue")):
        for ax, key, xs in ((axes[0], "rotated", angles), (axes[1], "scaled", scales)):
            ys = [c[key][float(x)][metric] / c["frozen"][metric] for x in xs]
            ax.plot(xs, ys, style, color=colour, marker="o", ms=3,
                    label=f"{'LMD (mouth centroid)' if metric == 'lmd' else 'NLMD-mouth'}, {d}")
for ax, xlabel in zip(axes, ("head rotation (degrees)", "head scale")):
    ax.axhline(1.0, color="gray", lw=0.8, ls=":", label="as far off as a frozen mouth")
    ax.set_xlabel(xlabel)
axes[0].set_ylabel("score of a correct mouth\n/ score of a frozen mouth")
axes[0].legend(fontsize=7)
axes[0].set_title("the head turned, the mouth right", fontsize=9)
axes[1].set_title("the head scaled, the mouth right", fontsize=9)
fig.tight_layout()
save_figure(fig, "talkingface", "01_nlmd_vs_lmd")

# %% [markdown]
# ## The networks (sec. 3.1)
# The generator has a speech encoder (five 1-D convolutions on the raw waveform to 125 vectors/s, then +-136 ms of
# context concatenated, every fifth step kept: one 560-d vector per video frame, an FC and two LSTMs), an image
# encoder (3x3 convolutions with nearest-neighbour halving, the down-sampled image fed to every layer), a noise
# encoder (N(0, I) per frame through an LSTM), and a decoder (FC to 4x4, nearest up-sampling, U-Net skips, one
# ConvLSTM layer). The frame discriminator scores a frame with the condition image; the pair discriminator scores
# the mouth-masked video with the condition image and the speech (its own speech encoder), per frame.
# The paper gives no parameter counts; the sizes it leaves open are taken from the authors' follow-up code.

# %% tags=["nbval-check-output"]
paper_cfg = TalkingFaceConfig.paper()
print("paper layout (128 px):", {k: paper_cfg.as_dict()[k] for k in ("speech_channels", "enc_channels",
                                                                     "dec_channels", "fd_channels", "fd_fc")})
print(f"context: {2 * paper_cfg.context + 1} steps x {paper_cfg.speech_channels[-1]} channels = "
      f"{(2 * paper_cfg.context + 1) * paper_cfg.speech_channels[-1]}-d per frame (the paper's 560)")

# %%
ours = tf.PROPOSED.generator_config(cfg)
counts = {}
for name, c in (("ours", ours), ("paper layout", paper_cfg)):
    counts[name] = {k: parameter_count(m(c)) for k, m in (("generator", TalkingFaceGenerator),
                                                          ("frame D", FrameDiscriminator), ("pair D", PairDiscriminator))}
    print(f"{name:12s} ({c.image_size} px): " + ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in counts[name].items())
          + "   (paper: no counts published)")
res.log("parameter_counts", counts)

# %% [markdown]
# ### Online generation: how far ahead does the speech encoder look?
# The paper states a 136 ms internal delay (the context layer). The convolutions add their own receptive field, so
# we measure it: change the waveform after a point and see which output frames change.

# %%
enc = SpeechEncoder(TalkingFaceConfig.sized(16, 4, speech_norm=False)).eval()
x = torch.randn(1, 320 * 20)
y = x.clone()
cut = 320 * 12
y[:, cut:] += torch.randn(1, y.shape[1] - cut)
with torch.no_grad():
    changed = (enc(x) - enc(y)).abs().amax(-1)[0] > 0
first = int(changed.nonzero()[0])
lookahead_ms = (cut - first * 320) / 8.0
res.log("lookahead_ms", lookahead_ms)
print(f"a change at {cut / 8:.0f} ms first changes frame {first} (which starts at {first * 40} ms): the encoder "
      f"looks {lookahead_ms:.0f} ms ahead (paper: 136 ms from the context, plus the convolutions' reach)")

# %% [markdown]
# ### Where training starts
# With `output="residual"` (ours; the paper's decoder ends in an image, the follow-up code's in tanh) the frame is
# the condition image plus a zero-initialised head, so the untrained generator copies the condition frame exactly:
# training starts at the floor every trained model must beat.

# %%
models = tf.init(tf.PROPOSED, cfg, seed=seed)
b = {k: v[None] for k, v in item.items()}
with torch.no_grad():
    start = tf.generate(models, b["condition"], b["audio"])
gap = float((start - b["condition"][:, None]).abs().max())
res.log("init_max_abs_difference_from_condition", gap)
print(f"untrained generator vs the condition frame: max |difference| = {gap:.2e}")

# %% [markdown]
# ## Results
# - The noise bank gives the five unseen test types and a 138-type training family from other generators; mixing
#   hits the requested SNR.
# - The crops are frontal and still; the mouth moves little between frames, so copying the condition frame is a
#   strong floor in PSNR and SSIM: the mouth metrics and the collapse monitor (notebook 02) are where audio use shows.
# - The speech encoder's measured look-ahead exceeds the paper's 136 ms by the convolutions' reach.
# - Sec. 4.3's argument holds as stated: a correct mouth on a slightly turned or scaled head costs the mouth-centroid
#   LMD as much as a frozen mouth, while NLMD scores it zero. The flip side: NLMD cannot see a head that should have
#   moved and did not. Our crops are frontal and still, so the two metrics differ here only through the mouth.

# %%
print(f"SNR: largest |measured - requested| = {res.data['metrics']['snr_check_max_error_db']:.2e} dB")
print(f"look-ahead {lookahead_ms:.0f} ms; untrained generator = condition frame up to {gap:.1e}")
for d, c in res.data["metrics"]["nlmd_vs_lmd"].items():
    print(f"{d}: the LMD's break-even head turn {c['break_even']['angle_deg']:.1f} degrees, scale change "
          f"{100 * c['break_even']['scale_change']:.1f} %")
