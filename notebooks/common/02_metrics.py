# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
# ---

# %% [markdown]
# # Common 02 · The metrics: what each one measures, and where it misleads
#
# Every paper in this project is judged by a handful of numbers: PSNR and SSIM (VFH-GAN, SECNet, Ear, VividGAN,
# Eskimez et al.), ERQA (VFH-GAN), SECNet's video metrics SSIM_vh and SSIM_vt, the landmark distance NLMD (Eskimez
# et al.), identity/attribute accuracy (Ear, VividGAN), and t-tests (SECNet). They live in `avfh_core.metrics`,
# batched in torch and pinned by the test suite to scikit-image, the `erqa` package and OpenCV.
#
# The papers themselves argue that PSNR disagrees with appearance (VFH-GAN: "pixel-wise losses ... blurry";
# VividGAN Fig. 6). This notebook makes that concrete: we degrade a real photo and a synthetic face in different ways
# and read what each metric says.
#
# | metric | conventions here | higher is |
# |---|---|---|
# | PSNR | $10\log_{10}(1/\mathrm{MSE})$ on the BT.601 Y channel ($Y = 16 + 65.481R + 128.553G + 24.966B$), border of `scale` px cropped | better |
# | SSIM | Wang et al.: 11x11 Gaussian window, $\sigma = 1.5$, $K_1=0.01$, $K_2=0.03$, valid positions only | better |
# | ERQA | edges (OpenCV Canny 100/200) of the result vs the ground truth after a global shift search in $[-3,3]^2$, matched within 1 px, F1; v1.1 penalises wide edges | better |
# | SSIM_vt | SSIM of the vertical-temporal slices of a video (SECNet eqs. 12-15) | better |
# | NLMD | landmark distance after Procrustes alignment to a template, in units of face size | worse |

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from avfh_core.config import setup
from avfh_core.data import SynthConfig, SynthWorld
from avfh_core.data.crops import mouth_box
from avfh_core.data.degrade import bicubic_down, bicubic_up, gaussian_kernel
from avfh_core.metrics import erqa, nlmd, psnr, region_scores, ssim, ssim_vh, ssim_vt, video_psnr
from avfh_core.metrics.stats import claim_verdict, paired_ttest
from avfh_core.reproduce.results import Results
from avfh_core.viz import load_photo, save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("common/02_metrics", cfg)
SIZE = 128  # the examples use 128x128 images whatever the preset (cheap, and the paper resolution)
print(f"preset={cfg.preset}")

# %% [markdown]
# ## The images and the degradations
# A real photo (scikit-image's astronaut; a synthetic face if scikit-image is absent) and a synthetic face from the
# project's world. Each degradation is chosen to fool one metric or another:
#
# - **blur** (Gaussian, $\sigma = 1.5$): what an MSE-trained network produces;
# - **noise at blur's PSNR**: Gaussian noise scaled to give *exactly the same MSE* as the blur -- equal PSNR,
#   very different appearance (the classic example of Wang and Bovik);
# - **ringing**: an ideal low-pass (frequencies above 1/4 of Nyquist cut), whose Gibbs oscillations line every edge;
# - **shift 1 px**: the whole image moved by one pixel -- it looks identical;
# - **bicubic x4**: down and up again, the papers' baseline;
# - **mouth blur** (face only): only the mouth region is blurred -- what the lip-reading loss is meant to prevent.

# %%
def blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    k = gaussian_kernel(sigma)
    r = k.numel() // 2
    x = F.pad(img.reshape(-1, 1, *img.shape[-2:]), (r, r, r, r), mode="replicate")
    x = F.conv2d(F.conv2d(x, k.view(1, 1, -1, 1)), k.view(1, 1, 1, -1))
    return x.reshape(img.shape).clamp(0, 1)


def low_pass(img: torch.Tensor, keep: float = 0.25) -> torch.Tensor:
    f = torch.fft.fft2(img)
    fy = torch.fft.fftfreq(img.shape[-2]).abs().view(-1, 1)
    fx = torch.fft.fftfreq(img.shape[-1]).abs().view(1, -1)
    mask = ((fy <= 0.5 * keep) & (fx <= 0.5 * keep)).to(f.dtype)
    return torch.fft.ifft2(f * mask).real.clamp(0, 1)


def shift(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    p = F.pad(img[None], (1, 1, 1, 1), mode="replicate")[0]
    return p[:, 1 - dy:1 - dy + img.shape[-2], 1 - dx:1 - dx + img.shape[-1]]


photo, photo_name = load_photo(SIZE)
face_world = SynthWorld(SynthConfig(image_size=SIZE, num_frames=max(11, cfg.clip_frames), vocab_size=cfg.vocab_size, seed=0))
# the most frontal of the first 8 held-out clips (the world spans yaw +-75 degrees), so the mouth is visible
clips = [face_world.clip(i, "test") for i in range(8)]
clip = min(clips, key=lambda c: float(c.pose[c.pose.shape[0] // 2, 0].abs()))
t_mid = clip.video.shape[0] // 2
face = clip.video[t_mid]
box = mouth_box(clip.landmarks)[t_mid]
x0, y0, x1, y1 = [int(round(float(v))) for v in box]


def degradations(img: torch.Tensor, with_mouth: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    b = blur(img, 1.5)
    noise = torch.randn(img.shape, generator=g)
    out = {"blur": b, "noise at blur's PSNR": None, "ringing": low_pass(img), "shift 1 px": shift(img, 1, 1),
           "bicubic x4": bicubic_up(bicubic_down(img[None], 4), 4)[0]}
    # scale the noise so that the result has the blur's PSNR-Y (bisection on the scale)
    target = float(psnr(b, img, crop=4))
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(psnr((img + mid * noise).clamp(0, 1), img, crop=4)) > target else (lo, mid)
    out["noise at blur's PSNR"] = (img + lo * noise).clamp(0, 1)
    if with_mouth:
        m = img.clone()
        m[:, y0:y1, x0:x1] = blur(img, 2.5)[:, y0:y1, x0:x1]
        out["mouth blur"] = m
    return out


cases = {photo_name: (photo, degradations(photo, False)), "synthetic face": (face, degradations(face, True))}

# %% [markdown]
# ## The numbers
# PSNR and SSIM on Y with a 4-pixel border crop (the x4 convention), ERQA 1.1, and for the face the same scores
# inside the mouth box.

# %%
rows = {}
for name, (gt, degs) in cases.items():
    names = list(degs)
    batch = torch.stack([degs[k] for k in names])
    ref = gt.expand_as(batch)
    p, s = psnr(batch, ref, crop=4), ssim(batch, ref, crop=4)
    e10, e11 = erqa(batch, ref, "1.0"), erqa(batch, ref, "1.1")
    for k, deg in enumerate(names):
        row = {"psnr_y": float(p[k]), "ssim_y": float(s[k]), "erqa_1.0": float(e10[k]), "erqa_1.1": float(e11[k])}
        if name == "synthetic face":
            r = region_scores(batch[k], gt, (x0, y0, x1, y1))
            row["mouth_psnr_y"], row["mouth_ssim_y"] = float(r["psnr"]), float(r["ssim"])
        rows[f"{name} / {deg}"] = row
res.log("degradations", rows)
print(f"{'image / degradation':40s} {'PSNR-Y':>7} {'SSIM-Y':>7} {'ERQA1.0':>8} {'ERQA1.1':>8} {'mouth PSNR':>11} {'mouth SSIM':>11}")
for key, r in rows.items():
    mouth = f"{r['mouth_psnr_y']:>11.2f} {r['mouth_ssim_y']:>11.3f}" if "mouth_psnr_y" in r else ""
    print(f"{key:40s} {r['psnr_y']:>7.2f} {r['ssim_y']:>7.3f} {r['erqa_1.0']:>8.3f} {r['erqa_1.1']:>8.3f} {mouth}")

# %%
fig, axes = plt.subplots(2, 7, figsize=(19, 6.2))
for row_i, (name, (gt, degs)) in enumerate(cases.items()):
    panels = [("ground truth", gt)] + list(degs.items())
    for col in range(7):
        ax = axes[row_i, col]
        ax.axis("off")
        if col >= len(panels):
            continue
        title, img = panels[col]
        ax.imshow(img.permute(1, 2, 0).numpy())
        r = rows.get(f"{name} / {title}")
        label = title if r is None else f"{title}\nPSNR {r['psnr_y']:.1f} SSIM {r['ssim_y']:.2f} ERQA {r['erqa_1.1']:.2f}"
        ax.set_title(label, fontsize=8)
        if name == "synthetic face":
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=0.8))
fig.suptitle("Same ground truth, different degradations: what each metric sees (yellow: the mouth box)")
save_figure(fig, "common", "metrics_degradations")

# %% [markdown]
# **Reading the table** (what the metrics are built to do; check each statement against the numbers above):
# - *Blur and noise at equal PSNR*: PSNR cannot tell them apart by construction. SSIM and ERQA can: SSIM's structure
#   term sees the noise grain, ERQA counts the spurious edges the noise creates (false positives) and the edges the
#   blur removes (false negatives) -- so the two need not rank them the same way.
# - *Shift by one pixel*: the image is unchanged to the eye, yet PSNR and SSIM fall further than for blur. ERQA
#   searches a global shift of up to 3 px first, so it stays at 1.
# - *Ringing*: a PSNR close to the blur's, but oscillations along every edge, which SSIM and ERQA score differently.
# - *Mouth blur*: the whole-face PSNR and SSIM barely move because the mouth is a few percent of the pixels; the
#   scores inside the mouth box show the damage. This is why VFH-GAN's lip loss should be judged on mouth-region
#   scores.

# %% [markdown]
# ## Video: SSIM_vh and SSIM_vt (SECNet eqs. 11-15)
# SSIM_vh averages the SSIM of each frame; SSIM_vt slices the video along the horizontal axis and scores the
# vertical-temporal images, so it also sees how the frames relate in time. Two degradations of the same clip with
# the same noise level: (a) one fixed noise pattern in every frame (static), (b) fresh noise in every frame
# (flicker). Frame by frame they are equally bad; over time, only (b) flickers.

# %%
video = clip.video
g = torch.Generator().manual_seed(seed)
static = (video + 0.03 * torch.randn(video.shape[1:], generator=g)).clamp(0, 1)
flicker = (video + 0.03 * torch.randn(video.shape, generator=g)).clamp(0, 1)
perm = torch.randperm(video.shape[0], generator=g)
video_rows = {}
for name, v in {"static noise": static, "flicker (noise per frame)": flicker}.items():
    video_rows[name] = {"video_psnr": float(video_psnr(v, video)), "ssim_vh": float(ssim_vh(v, video)),
                        "ssim_vt": float(ssim_vt(v, video))}
res.log("video_metrics", video_rows)
for name, r in video_rows.items():
    print(f"{name:28s} PSNR {r['video_psnr']:.2f}  SSIM_vh {r['ssim_vh']:.3f}  SSIM_vt {r['ssim_vt']:.3f}")

# %% [markdown]
# ## NLMD (Eskimez et al. section 4.3)
# The landmark distance after aligning both landmark sets to a template by Procrustes analysis (translation, rotation,
# scale): a head that is only placed or scaled differently scores 0, a mouth that moves differently does not.

# %%
gt_lm = clip.landmarks.double()
th = math.radians(8)
rot = torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]], dtype=torch.float64)
moved = 1.1 * (gt_lm - 64) @ rot.T + 64 + torch.tensor([3.0, -2.0], dtype=torch.float64)
wrong_mouth = gt_lm.clone()
wrong_mouth[:, 48:] = gt_lm[perm][:, 48:] - gt_lm[perm][:, 48:].mean(1, keepdim=True) + gt_lm[:, 48:].mean(1, keepdim=True)
lm_rows = {}
for name, lm in {"same face, rotated/scaled/moved": moved, "mouth of other frames": wrong_mouth}.items():
    raw = float((lm - gt_lm).norm(dim=-1).mean())
    lm_rows[name] = {"raw_l2_px": raw, "nlmd": float(nlmd(lm, gt_lm)), "nlmd_mouth": float(nlmd(lm, gt_lm, mouth_only=True))}
res.log("nlmd", lm_rows)
for name, r in lm_rows.items():
    print(f"{name:32s} raw L2 {r['raw_l2_px']:.2f} px   NLMD {r['nlmd']:.4f}   NLMD mouth {r['nlmd_mouth']:.4f}")

# %% [markdown]
# ## Identity, gender and age: the in-project feature network
# The Ear and VividGAN papers ask whether a super-resolved face still shows the same person, gender and age. No
# pretrained face network can be downloaded here, so `avfh_core.losses.perceptual.load_feature_net` uses VGG19
# ImageNet weights only if they already sit in the local torch hub cache, and otherwise trains a small classifier on
# the synthetic world (identity of the training people, gender, age group) and caches it. The same network gives the
# perceptual loss. We score it on ground-truth frames and on their bicubic x4 reconstructions.

# %%
from avfh_core.metrics.attributes import attribute_accuracy
from avfh_core.train.pretrain import frames_and_labels, load_feature_net

feat = load_feature_net(cfg)
print("feature network:", feat.source)
res.log("feature_net_source", feat.source)
if feat.source == "in-project":
    info = {k: v for k, v in feat.info.items() if k != "cached"}
    res.log("feature_net_info", info)
    fw = SynthWorld(SynthConfig(image_size=cfg.hr_size, num_frames=cfg.clip_frames, vocab_size=cfg.vocab_size, seed=0))
    n_fit = cfg.n_train_clips
    val = frames_and_labels(fw, "train", range(n_fit, n_fit + max(8, n_fit // 4)))  # unseen clips, known people
    test = frames_and_labels(fw, "test", range(max(8, n_fit // 4)))  # held-out people
    feat_cpu = feat.cpu()
    acc = {}
    for split_name, d in (("unseen clips of training people", val), ("held-out people", test)):
        lo = bicubic_up(bicubic_down(d["x"], cfg.scale), cfg.scale)
        acc[split_name] = {"hr": attribute_accuracy(feat_cpu, d["x"], d), "bicubic": attribute_accuracy(feat_cpu, lo, d)}
    res.log("attribute_accuracy", acc)
    chance = info["chance"]
    print(f"chance: identity {chance['identity']:.3f}, gender {chance['gender']:.2f}, age group {chance['age']:.2f}")
    for split_name, a in acc.items():
        for kind, v in a.items():
            ident = "" if math.isnan(v["identity"]) else f"identity {v['identity']:.3f}  "
            print(f"{split_name:32s} {kind:8s} {ident}gender {v['gender']:.3f}  age {v['age']:.3f}")

# %% [markdown]
# ## Significance: one number is not a result
# SECNet reports a t-statistic and p-value next to each mean. `claim_verdict` scores a claim "A is better than B"
# from paired per-clip (or per-seed) scores by the same one-sided rule as the claims audit: *reproduced* if the
# one-sided 95% bound of the mean difference excludes 0 in the claimed direction, *not reproduced* if the other
# bound rules out half the published effect (any effect in the claimed direction when no size is published),
# *inconclusive* otherwise, and always with n = 1. Beside it, the smallest effect this many samples could have
# detected (`mde`). Example claim: "bicubic x4 beats a Gaussian blur of sigma 1.5" on the PSNR of the frames of our
# clip (whichever way it comes out), then the same claim from a single frame. (Frames of one clip are not
# independent samples;
# the experiment notebooks pair over clips or seeds.)

# %%
frames_gt = clip.video
bic = bicubic_up(bicubic_down(frames_gt, 4), 4)
blr = blur(frames_gt, 1.5)
p_bic, p_blr = psnr(bic, frames_gt, crop=4), psnr(blr, frames_gt, crop=4)
many = claim_verdict(p_bic.tolist(), p_blr.tolist(), better="higher")
one = claim_verdict(p_bic[:1].tolist(), p_blr[:1].tolist(), better="higher")
t = paired_ttest(p_bic.tolist(), p_blr.tolist())
res.log("significance_example", {"all_frames": many, "one_frame": one, "ttest": t})
print(f"{many['n']} frames: effect {many['effect']:+.2f} dB [{many['ci_low']:+.2f}, {many['ci_high']:+.2f}], "
      f"t={t['t']:.1f}, one-sided p={many['p_value']:.2g}, mde {many['mde']:.2f} dB -> {many['verdict']}")
print(f"1 frame : effect {one['effect']:+.2f} dB -> {one['verdict']}")
