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
# # SECNet 03 · Ablations (Tables IV-VII), positive controls and every claim scored
#
# Fang et al. 2020, sec. III-C4 to III-C6. Each ablation row trains one SECNet variant for
# `secnet_ablation_steps` steps (fewer than the main model of notebook 02) and scores it on the held-out clips:
#
# - **Table IV**, fusion strategies without self-attention: recurrent frame fusion (rff: the two previous outputs,
#   warped, as input) on or off, and the sequential feature encoder (sfe: none, one-way, cascaded or fused
#   bidirectional ConvLSTM), and three alternative temporal fusion modules in place of the ConvLSTM (below).
# - **Table V**, attention in the residual blocks: none, the spatial map, or non-local blocks (the channel-wise row
#   is not built).
# - **Table VI**, how many previous outputs (T2) and past features (T3) to fuse, with the cascaded encoder.
# - **Table VII**, residual blocks at the third scale (16 is beyond the course budget).
#
# At this preset T3 is `secnet_t3` (the paper's model uses 6), so the rows the paper labels "T3 = 6" use
# `secnet_t3` here. Then the **positive controls**: a world with strong sub-pixel head translation, where
# 5-frame fusion must beat one frame (and a still world, where it should not), and a planted handicap of known
# size. Last, the claims audit scores every claim, with the minimum detectable effect at the seeds run.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world
secnet_ablation_steps: int | None = None  # >= 1
secnet_ablation_seeds: int | None = None  # >= 1

# %%
from avfh_core.config import setup
from avfh_core.reproduce.audit import audit_claims, audit_controls, claim_lines, control_lines, verdict_counts
from avfh_core.reproduce.secnet_controls import rise_rows
from avfh_core.reproduce.results import Results
from avfh_core.reproduce.tables import beside_paper, load_tables
from avfh_core.train import secnet
from avfh_core.train.experiment import means, run_rows, seeds

cfg = setup(preset, seed=seed, device=device, data_root=data_root, secnet_ablation_steps=secnet_ablation_steps,
            secnet_ablation_seeds=secnet_ablation_seeds)
res = Results("secnet/03_ablations", cfg)
paper = load_tables("secnet")
n2 = cfg.secnet_ablation_seeds
print(f"preset={cfg.preset}: {cfg.secnet_ablation_steps} steps per ablation row, seeds {seeds(cfg, n2)}; "
      f"T3 = {cfg.secnet_t3}; Table II rows (notebook 02): {cfg.secnet_steps} steps, seeds {seeds(cfg)}")


def show(name, ours, metrics=("psnr", "ssim_vh")):
    print(f"{'row':40s}" + "".join(f"{'paper ' + m:>14s}{'ours ' + m:>13s}" for m in metrics))
    for r in beside_paper(paper, name, ours, metrics):
        print(f"{r['label'][:40]:40s}" + "".join(
            (f"{r[f'paper_{m}']:14.4f}" if r[f"paper_{m}"] is not None else f"{'-':>14s}")
            + (f"{r[f'ours_{m}']:13.4f}" if r[f"ours_{m}"] is not None else f"{'not run':>13s}") for m in metrics))


# %% [markdown]
# ## Table IV: fusion strategies
# Besides rff and the ConvLSTM encoders, the paper tries three other ways to fuse the third-scale features over
# time (all with rff on). The paper only names them, so each module here is our reconstruction
# (`avfh_core.models.secnet`):
#
# - **recurrent unit of BRCN** (`rff_brcn_unit`): the fused bidirectional scheme of the ConvLSTM rows, with each
#   ConvLSTM cell replaced by BRCN's simpler unit: a convolution of the input, one of the previous hidden state
#   and one of the previous input, summed and passed through a ReLU (no gates, no cell memory).
# - **non-local attention, T3 = 2** (`rff_nonlocal_t2`): every position of the current feature map attends to
#   every position of the current and two previous feature maps (embedded-Gaussian non-local operation); the
#   attended values are added back through a convolution that starts at zero. No flow is used: the attention has
#   to find the corresponding positions itself.
# - **flow-guided attention, T3 = 2** (`rff_flowguided_t2`, FGFA-style): the two previous feature maps are warped
#   to the current frame with the model's own optical flow; at every pixel the current and warped features are
#   averaged with weights from a softmax over frames of the cosine similarity of their embeddings to the
#   current one, so badly aligned frames get less weight.

# %%
t4 = run_rows(secnet, secnet.table4(cfg), cfg, n_seeds=n2)
res.log("table4", means(t4))
res.log("table4_seeds", t4)
show("table4", means(t4))

# %% [markdown]
# ## Table V: attention in the residual blocks
# `nonlocal`: instead of the spatial map inside every residual block, a non-local block (each position attends to
# every position of the same feature map, added back through a zero-initialised convolution) after the middle and
# the last residual block of the third scale, where the paper puts it after blocks 4 and 8 of its 8.

# %%
t5 = run_rows(secnet, secnet.table5(cfg), cfg, n_seeds=n2)
res.log("table5", means(t5))
res.log("table5_seeds", t5)
show("table5", means(t5))

# %% [markdown]
# ## Table VI: previous outputs (T2) and past features (T3)
# The paper scores this table on its validation persons; we use the same held-out clips as the other tables.

# %%
t6 = run_rows(secnet, secnet.table6(cfg), cfg, n_seeds=n2)
res.log("table6", means(t6))
res.log("table6_seeds", t6)
show("table6", means(t6), ("psnr", "ssim_vh", "ssim_vt"))

# %% [markdown]
# ## Table VII: residual blocks at the third scale

# %%
t7 = run_rows(secnet, secnet.table7(cfg), cfg, n_seeds=n2)
res.log("table7", means(t7))
res.log("table7_seeds", t7)
show("table7", means(t7), ("psnr", "ssim_vh", "ssim_vt"))

# %% [markdown]
# ## Table II, its RAVDESS stand-in and Fig. 11 rows (from notebook 02's cached runs)
# Table II now has the FRVSR baseline, so the claims "SECNet beats FRVSR" (PSNR, SSIM_vh, SSIM_vt) and "SECNet's
# rising period is longer than FRVSR's" (Fig. 11, `rise_frames`) are scored; the cross-dataset claims use the same
# runs scored zero-shot in the shifted world (`secnet.cross_table`).

# %%
t2 = run_rows(secnet, secnet.table2(cfg), cfg)
res.log("table2_voxceleb_seeds", t2)
f11 = secnet.fig11_table(cfg)
res.log("fig11_seeds", f11)
res.log("table2_ravdess_seeds", secnet.cross_table(cfg))
for r in secnet.FIG11_ROWS:
    print(f"{r:7s} PSNR {means(t2)[r]['psnr']:.3f} dB, rising period {means(f11)[r]['rise_frames']:.1f} frames")

# %% [markdown]
# ## Positive controls
# With strong sub-pixel head translation, LFFNet's five aligned frames must beat the same body on one frame; in
# the still world (no head motion) there is nothing to fuse, so there the gap should vanish (printed as the
# negative check). The planted handicap is a trained SECNet with its error amplified by a known factor. The planted
# rise (Fig. 11's claim) is a trained SECNet whose error is amplified at the first frame and fades to its own over
# the first third of the clip: its gain curve climbs, so its rising period must come out longer. A claim family
# whose control is not detected cannot be called "not reproduced": its verdicts become inconclusive. Beside the
# fusion control we print notebook 02's oracle row, the same LFFNet given the world's true flow: if it does not beat
# one frame either, the control fails for want of what the fusion can learn at this budget, not for want of flow.

# %%
ctl = {**secnet.positive_controls(cfg, n_seeds=n2), **rise_rows(cfg)}
res.log("controls", means(ctl))
res.log("controls_seeds", ctl)
for w in secnet.MOTION_WORLDS:
    a, b = means(ctl)[f"{w}/srrescnn"]["psnr"], means(ctl)[f"{w}/lffnet"]["psnr"]
    print(f"{w:7s} world: single frame {a:.3f} dB, 5 frames {b:.3f} dB, gain {b - a:+.3f} dB")
strong_oracle = {k: v for k, v in secnet.oracle(cfg).items() if k.startswith("strong/")}  # notebook 02's runs
so = means(run_rows(secnet, strong_oracle, cfg, n_seeds=n2, progress=False))
print(f"strong  world with the true flow (notebook 02's oracle row): 5 frames {so['strong/lffnet_oracle']['psnr']:.3f} "
      f"dB, gain {so['strong/lffnet_oracle']['psnr'] - so['strong/srrescnn']['psnr']:+.3f} dB over one frame")
print(f"rising period: SECNet {means(ctl)['rise_secnet']['rise_frames']:.1f} frames, the planted rise "
      f"{means(ctl)['rise_planted']['rise_frames']:.1f} frames (means over seeds)")
controls = audit_controls(paper, [res.data])
print("\n".join(control_lines(controls)))
res.log("controls_audit", controls)

# %% [markdown]
# ## Every claim, scored
# One-sided rule: *reproduced* when the one-sided 95% lower bound of the effect is above 0 in the paper's
# direction; *not reproduced* only when the upper bound rules out half the published effect; otherwise
# *inconclusive*. Beside each verdict: the minimum detectable effect (MDE) at the seeds run. Claims that need
# what this slice does not build (SPMC, a GAN-trained network, 16 residual blocks) are "not run", with the reason
# from the tables file.

# %%
claims = audit_claims(paper, [res.data], controls=controls)
print("\n".join(claim_lines(claims)))
res.log("claims", claims)
counts = verdict_counts(claims)
res.log("claim_counts", counts)
print("verdicts:", counts)
