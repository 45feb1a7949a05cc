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
# # SECNet 01 · Talking-face video, optical flow and the networks
#
# Fang, Li, Han, Yu, *Self-Enhanced Convolutional Network for Facial Video Hallucination* (IEEE TIP 2020),
# sec. II and III-A/B. This notebook covers what comes before training:
#
# - **the data** (sec. III-A): N-frame training sequences with the paper's augmentations (random start, temporal
#   stride in [1, 2], reversal, horizontal flip) and the degradation (Gaussian blur sigma 1.5, then 1 pixel of
#   every 4); whole held-out clips for testing;
# - **the premise**: multi-frame SR needs the LR frames to sample the face at different sub-pixel positions. We
#   measure how far the head moves between frames in three worlds: still (no head motion), the default, and
#   strong translation — the two extremes are the positive controls of notebook 03;
# - **optical flow and warping** (sec. II-B, lost in the text extraction and reconstructed: VESPCN-style
#   coarse-to-fine flow between LR frames, bilinear backward warping), and the world's **ground-truth flow**;
# - **recurrent fusion** (sec. II-C): the ConvLSTM by hand, how far back the one-way, cascaded and fused encoders
#   read, and the self-enhancement loop of previous outputs (an untrained SECNet is bicubic; the model is online);
# - **the metrics** (sec. III-B): sequence PSNR from the pooled MSE (eq. 11), SSIM_vh (per-frame SSIM averaged
#   over frames) and SSIM_vt (SSIM of the vertical-temporal slices, which sees flicker);
# - **the networks** (sec. II-C): LFFNet, the ERFF encoder-decoder with its ConvLSTM feature encoders, and their
#   parameter counts beside Table II's.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from avfh_core.config import setup
from avfh_core.data import synth
from avfh_core.data.gtflow import RigidFlow
from avfh_core.metrics.video import ssim_vh, ssim_vt, video_psnr
from avfh_core.models.secnet import PAPER_PARAMS, SECNet, SECNetConfig, param_counts
from avfh_core.nn.convlstm import BidirectionalCLSTM, ConvLSTMCell, OneWayCLSTM
from avfh_core.nn.flow import flow_warp, upsample_flow
from avfh_core.nn.init import build
from avfh_core.reproduce.results import Results
from avfh_core.train import secnet
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("secnet/01_data_flow", cfg)
print(f"preset={cfg.preset}: {cfg.hr_size // cfg.scale} -> {cfg.hr_size} px, training sequences of "
      f"{cfg.secnet_frames} frames, test clips of {cfg.secnet_clip_frames} frames")

# %% [markdown]
# ## Sequences and their augmentations
# Each training item is drawn from a generator seeded by its index, so a batch is a pure function of (seed,
# step) and a resumed run sees the same data. The LR frames are made *after* the flip: the 1-of-4 sampling grid
# is not mirror-symmetric, so flipping the LR frames would not give the LR of the flipped face.

# %%
train = secnet.train_data(cfg)
test = secnet.test_data(cfg)
print(f"{len(train.clips)} training clips ({len(train)} virtual sequences), {len(test)} held-out clips")
items = [train[k] for k in range(4)]
for k, it in enumerate(items):
    print(f"sequence {k}: clip {it['clip']}, stride {it['stride']}, reversed {it['reversed']}, "
          f"flipped {it['flipped']}, lr {tuple(it['lr'].shape)}, hr {tuple(it['hr'].shape)}")
fig, axes = plt.subplots(2, cfg.secnet_frames, figsize=(2 * cfg.secnet_frames, 4.2))
for t in range(cfg.secnet_frames):
    axes[0, t].imshow(items[0]["hr"][t].permute(1, 2, 0))
    axes[1, t].imshow(items[0]["lr"][t].permute(1, 2, 0), interpolation="nearest")
    axes[0, t].set_title(f"HR frame {t}")
    axes[1, t].set_title(f"LR frame {t}")
for ax in axes.flat:
    ax.axis("off")
save_figure(fig, "secnet", "01_sequence")
plt.show()

# %% [markdown]
# ## How much does the head move between LR frames?
# The world gives the head's rigid motion without rendering (`head_motion`): the landmarks of a neutral face
# moving with the head. Their mean displacement between neighbouring frames, in LR pixels, is the sub-pixel
# information multi-frame fusion can use; consecutive-frame LR PSNR says how different the frames look.

# %%
def motion_stats(world, n=4):
    shifts, psnrs = [], []
    for i in range(n):
        lm = world.head_motion(i, "test")["landmarks"][:, 17:48]  # brows, nose, eyes: rigid points
        shifts.append((lm[1:] - lm[:-1]).norm(dim=-1).mean() / cfg.scale)
    lr = test.lr if world is base_world else None
    if lr is not None:
        psnrs = [video_psnr(c[1:], c[:-1]) for c in lr[:n]]
    return float(torch.stack(shifts).mean()), (float(torch.stack(psnrs).mean()) if psnrs else float("nan"))


base_world = synth.world(cfg, num_frames=cfg.secnet_clip_frames)
worlds = {"still": secnet.motion_world(cfg, "still"), "default": {}, "strong": secnet.motion_world(cfg, "strong")}
motion = {}
for name, over in worlds.items():
    w = base_world if not over else synth.world(cfg, num_frames=cfg.secnet_clip_frames, **over)
    shift, p = motion_stats(w)
    motion[name] = {"lr_px_per_frame": shift}
    print(f"{name:8s} mean rigid displacement {shift:.3f} LR px per frame" + ("" if p != p else f"; consecutive LR frames {p:.1f} dB apart"))
res.log("motion", motion)

# %% [markdown]
# ## Backward warping and flow units
# `flow_warp(x, F)` samples x at p + F(p) (bilinear, border padding); a warp by an integer shift copies pixels
# exactly. A flow estimated between LR frames aligns HR frames after bilinear upsampling *and* scaling its
# magnitude by r (one LR pixel is r HR pixels): this is how SECNet aligns its previous outputs (Alg. 4 step 8).

# %%
hr = test[0]["hr"][:2]  # two neighbouring HR frames
shift = torch.zeros(1, 2, cfg.hr_size // cfg.scale, cfg.hr_size // cfg.scale)
shift[:, 0] = 1.0  # one LR pixel to the right
shifted = torch.roll(hr[:1], shifts=-cfg.scale, dims=-1)  # the HR frame moved r pixels
aligned = flow_warp(hr[:1], upsample_flow(shift, cfg.scale))
inner = (slice(None), slice(None), slice(None), slice(0, cfg.hr_size - 2 * cfg.scale))
err = float((aligned[inner] - shifted[inner]).abs().max())
print(f"HR frame warped by an upsampled 1-LR-px flow vs the frame rolled by {cfg.scale} HR px: max error {err:.2e}")
assert err < 1e-5

# %% [markdown]
# ## Ground-truth flow from the renderer
# The world renders a rigid ellipsoid head orthographically, so the true motion of every pixel is known
# (`data.gtflow.RigidFlow`): the head point seen at pixel p of frame t is projected with frame k's pose, and the
# difference is F^{t->k}(p), the flow that backward warping needs. The background and the torso do not move. Two
# things the flow does not carry: head points that turn away from the camera in frame k (marked invalid), and
# changes of appearance on the moving surface (the mouth speaking, blinks, and shading, which follows the
# camera-fixed light). Below, on the LR grid of the degradation: the flow between two neighbouring test frames,
# and how well it warps one frame onto the other compared with no motion compensation (zero flow). Its mean size
# is the end-point error a flow network would make by always answering zero: the bar a learned flow has to beat
# (notebook 02 measures ours against it).

# %%
lr_clip = test[0]["lr"]
rf = RigidFlow(base_world, 0, "test")
src, dst = torch.arange(0, cfg.secnet_clip_frames - 1), torch.arange(1, cfg.secnet_clip_frames)
gt, valid = rf.field(src, dst, cfg.scale)
m = valid.float()


def warp_err(x):
    return float(((x - lr_clip[src]).abs().mean(1) * m).sum() / m.sum())


gtflow = {"mean_abs_flow_lr_px": float((gt.norm(dim=1) * m).sum() / m.sum()), "valid_fraction": float(m.mean()),
          "warp_err_gt": warp_err(flow_warp(lr_clip[dst], gt.float())), "warp_err_zero": warp_err(lr_clip[dst])}
res.log("gtflow", gtflow)
print(f"test clip 0, consecutive frames: mean |F| {gtflow['mean_abs_flow_lr_px']:.3f} LR px over the valid "
      f"{100 * gtflow['valid_fraction']:.1f}% of pixels; mean |error| of frame t+1 warped onto frame t: "
      f"{gtflow['warp_err_gt']:.4f} with the true flow, {gtflow['warp_err_zero']:.4f} with zero flow")
for name, over in worlds.items():
    w = base_world if not over else synth.world(cfg, num_frames=cfg.secnet_clip_frames, **over)
    f, v = RigidFlow(w, 0, "test").field(src, dst, cfg.scale)
    print(f"{name:8s} world, test clip 0: mean |F| {float((f.norm(dim=1) * v).sum() / v.sum()):.3f} LR px per frame")
k = int(gt.norm(dim=1).mean((-1, -2)).argmax())  # the pair with the most motion
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
axes[0].imshow(lr_clip[k].permute(1, 2, 0), interpolation="nearest")
axes[0].set_title(f"LR frame {k}")
yy, xx = torch.meshgrid(torch.arange(gt.shape[-2]), torch.arange(gt.shape[-1]), indexing="ij")
axes[0].quiver(xx, yy, gt[k, 0], gt[k, 1], color="yellow", angles="xy", scale_units="xy", scale=0.25)
axes[1].imshow((flow_warp(lr_clip[dst], gt.float())[k] - lr_clip[k]).abs().mean(0), vmin=0, vmax=0.1)
axes[1].set_title("|warped with true flow - frame|")
axes[2].imshow((lr_clip[k + 1] - lr_clip[k]).abs().mean(0), vmin=0, vmax=0.1)
axes[2].set_title("|next frame - frame| (zero flow)")
for ax in axes:
    ax.axis("off")
fig.suptitle("F^{t->t+1} (arrows x4) and what it explains")
save_figure(fig, "secnet", "01_gtflow")
plt.show()

# %% [markdown]
# ## SSIM_vh and SSIM_vt
# SSIM_vh averages per-frame SSIMs; SSIM_vt slices the video into vertical-temporal images (one per column), so
# frame-to-frame flicker lowers it while leaving each frame's quality alone. Below: the same noise power added
# once as static (the same noise every frame) and once as flicker (fresh noise each frame). Both are averaged over
# valid window positions only (the core's convention; the paper says "all positions", which at small frame sizes
# changes the absolute values, not the comparisons).

# %%
clip = test[0]["hr"]
g = torch.Generator().manual_seed(0)
static = (clip + 0.03 * torch.randn(clip.shape[1:], generator=g)).clamp(0, 1)
flicker = (clip + 0.03 * torch.randn(clip.shape, generator=g)).clamp(0, 1)
for name, v in (("static noise", static), ("flicker", flicker)):
    print(f"{name:13s} PSNR {float(video_psnr(v, clip)):.2f} dB  SSIM_vh {float(ssim_vh(v, clip)):.4f}  "
          f"SSIM_vt {float(ssim_vt(v, clip)):.4f}")

# %% [markdown]
# ## Recurrent fusion: the ConvLSTM and the three feature encoders (sec. II-C3)
# SECNet's ERFF module enhances its third-scale feature E^t with a ConvLSTM (eq. 5, no peepholes): from one
# convolution of [E^t, H^{t-1}] come the input, forget and output gates i, f, o (sigmoids) and a candidate g (tanh);
# C^t = f * C^{t-1} + i * g and H^t = o * tanh(C^t). First the cell by hand against the core's `ConvLSTMCell`.

# %%
g = torch.Generator().manual_seed(cfg.seed)
cell = build(cfg.seed, "clstm_demo", lambda: ConvLSTMCell(4, 4))
x, h0, c0 = (torch.randn(1, 4, 6, 6, generator=g) for _ in range(3))
with torch.no_grad():
    i, f, cand, o = F.conv2d(torch.cat([x, h0], 1), cell.conv.weight, cell.conv.bias, padding=1).chunk(4, 1)
    c1 = torch.sigmoid(f) * c0 + torch.sigmoid(i) * torch.tanh(cand)
    h1 = torch.sigmoid(o) * torch.tanh(c1)
    h_core, c_core = cell(x, (h0, c0))
err = max(float((h1 - h_core).abs().max()), float((c1 - c_core).abs().max()))
print(f"eq. 5 by hand vs ConvLSTMCell: max difference {err:.1e}")
assert err < 1e-6

# %% [markdown]
# The paper compares three ways to run the cell over time (Table IV). **One-way** (Alg. 1) carries its state over
# the whole sequence. **Cascaded** and **fused bidirectional** (Algs. 2-3) re-run, at every frame, a backward pass
# from the current feature back over the T3 past ones and then a forward pass; cascaded feeds the forward pass the
# backward states, fused feeds it the backward states *and* the features. "Bidirectional" stays causal: the
# backward pass starts at the current frame, never in the future. How far back can each one see? The gradient of
# the enhanced feature at the last frame with respect to each past feature answers it: it is exactly zero for a
# feature the encoder never reads.

# %%
T = 10
feats = [torch.randn(1, 4, 6, 6, generator=g, requires_grad=True) for _ in range(T)]
encoders = {"one-way": build(cfg.seed, "oneway_demo", lambda: OneWayCLSTM(4)),
            "cascaded": build(cfg.seed, "cascaded_demo", lambda: BidirectionalCLSTM(4, "cascaded")),
            "fused": build(cfg.seed, "fused_demo", lambda: BidirectionalCLSTM(4, "fused"))}
reach = {}
for name, enc in encoders.items():
    if name == "one-way":
        state = None
        for e in feats:
            h, state = enc(e, state)
    else:
        h = enc(feats[T - 1 - cfg.secnet_t3:])
    grads = torch.autograd.grad(h.sum(), feats, allow_unused=True)
    reach[name] = [0.0 if gr is None else float(gr.norm()) for gr in reversed(grads)]  # index d = frames back
fig, ax = plt.subplots(figsize=(7, 3))
for k, (name, v) in enumerate(reach.items()):
    ax.bar([d + 0.27 * (k - 1) for d in range(T)], [max(x, 1e-12) for x in v], width=0.27, label=name)
ax.set_yscale("log")
ax.set_ylim(1e-6, None)
ax.set_xlabel("frames back from the current one (d)")
ax.set_ylabel("|dH^t / dE^{t-d}|")
ax.legend()
ax.set_title(f"How far back each encoder reads (T3 = {cfg.secnet_t3})")
save_figure(fig, "secnet", "01_encoder_reach")
plt.show()
for name, v in reach.items():
    print(f"{name:9s} reads {sum(x > 0 for x in v) - 1} past features")

# %% [markdown]
# The one-way encoder reads the whole past in principle, but its gradient shrinks with every step back (the forget
# gate multiplies the cell state each time), so in practice its memory fades; the bidirectional encoders read
# exactly T3 past features and nothing older. The price of the bidirectional encoders is time: 2 (T3 + 1) cell steps per frame against the one-way encoder's
# one, which is why SECNet runs slower than LFFNet (see notebook 02's frames per second).
#
# **Self-enhancement** (sec. II-C1/2) feeds the T2 previous *outputs* Y^{t-1}, ..., Y^{t-T2}, warped onto frame t
# by the upsampled flow, back into the ERFF, and the ERFF adds a refinement to LFFNet's initial estimate. Two
# properties follow from the design and are checked below on an untrained course-size SECNet. Its refinement head
# starts at zero, so the untrained SECNet outputs LFFNet's estimate, which itself starts at bicubic. And it is
# online: a change to frame s can reach the outputs of frames s - T1 onwards (through LFFNet's window and then the
# recurrence), never earlier ones. For the second check the zero heads are given small random weights, or nothing
# would change at all.

# %%
net = build(cfg.seed, "secnet_demo", lambda: SECNet(secnet.table2(cfg)["secnet"].net_config(cfg)))
lr_demo = test[0]["lr"][None, :8]
with torch.no_grad():
    out = net(lr_demo)
    bic = F.interpolate(lr_demo[0], scale_factor=cfg.scale, mode="bicubic", align_corners=False)
    print(f"untrained SECNet: |Y - Ỹ| max {float((out['sr'] - out['init']).abs().max()):.1e}, "
          f"|Ỹ - bicubic| max {float((out['init'][0] - bic).abs().max()):.1e}")
    for mod in net.modules():  # wake the zero-initialised heads
        if isinstance(mod, torch.nn.Conv2d) and float(mod.weight.abs().max()) == 0:
            mod.weight.copy_(0.05 * torch.randn(mod.weight.shape, generator=g))
    s_changed = 5
    bumped = lr_demo.clone()
    bumped[:, s_changed] = (bumped[:, s_changed] + 0.1).clamp(0, 1)
    moved = (net(bumped)["sr"] - net(lr_demo)["sr"]).abs().amax((0, 2, 3, 4))
print(f"frame {s_changed} changed (T1 = {net.config.t1}); output change per frame: "
      + " ".join(f"{float(v):.0e}" for v in moved))
first = int((moved > 0).nonzero()[0])
print(f"the first output that moves is frame {first}: the model is online with a look-ahead of {s_changed - first} frames")

# %% [markdown]
# ## The networks and their sizes
# Our course model is small; the `paper` configuration uses the paper's hyper-parameters and widths
# reconstructed from Table II. The flow network is the reconstructed VESPCN-style one, much smaller than what
# Table II's differences of totals suggest for the authors' (sec. II-B is lost), so the paper-size totals differ.

# %% tags=["nbval-check-output"]
paper_cfg = SECNetConfig.paper()
for name, over in (("lffnet", dict(erff=False)), ("erffnet", dict(lff=False)), ("secnet", {})):
    n = param_counts(SECNetConfig.paper(**over))["total"]
    print(f"{name:8s} paper-size reconstruction {n:>10,d} parameters   Table II {PAPER_PARAMS[name]:>10,d}")

# %%
course = {k: param_counts(run.net_config(cfg)) for k, run in secnet.table2(cfg).items() if run.model == "secnet"}
for k, c in course.items():
    print(f"{k:9s} this preset: flow {c['flow']:>8,d}  LFFNet {c['lffnet']:>8,d}  ERFF {c['erff']:>8,d}  "
          f"total {c['total']:>9,d}")
res.log("params", {k: c["total"] for k, c in course.items()})
