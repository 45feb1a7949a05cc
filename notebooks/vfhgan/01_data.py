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
# # VFH-GAN 01 · The data: frames, windows, aligned mel, mouth crops
#
# Sharma et al. 2022 (sec. 4.1) train on LRW: 29-frame clips of single words at 25 fps, faces cropped with OpenFace
# landmarks, resized to 128x128 (HR) and downsampled to 32x32 (LR). For frame $t$ the generator sees the LR frames
# $t-j \dots t+j$ and the speech around $t$ as a log-mel spectrogram (eq. 1); the lip-reading loss (eq. 5) sees
# grayscale mouth crops of the same window. The authors' released code uses 5-frame windows ($j = 2$), 16 kHz audio
# and 80-bin log-mel (n_fft 1024, window 800, 55-7600 Hz).
#
# **The paper's data protocol, as its text states it** (sec. 4.1, 4.3):
# - **Training**: LRW (500 words, more than 1000 speakers), but only videos of **80 of the 500 words**, randomly
#   selected, split into training, validation and test. Which 80 words, how many videos and how the split was made
#   (by video or by speaker) are not given, so the split cannot be rebuilt.
# - **Testing**: LRW's test part, plus GRID and LRS2 used for testing only. For Table 3 the paper "randomly selected
#   **15 videos**" from each dataset and averaged PSNR, SSIM and ERQA over them. Tables 1 and 2 give no count.
#   Fifteen videos, with no spread reported, is a small sample for differences of a few tenths of a dB.
# - **Metrics**: PSNR and SSIM on the Y channel of YCbCr, and ERQA (edge restoration quality).
#
# Our synthetic world keeps the parts that matter for the method (a word per clip, speakers held out at test time,
# audio that moves the lips) and says how many identities each split has; notebook 06 shows Table 3's three
# datasets beside our one.
#
# LRW cannot be downloaded here, so every notebook trains on the project's **synthetic audio-visual world**, in
# which the phonemes of the spoken word move the lips and the voice carries the speaker's gender and age. This
# notebook shows one clip, how it becomes training windows, and how LRW would be read instead.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from avfh_core.config import setup
from avfh_core.data import SynthConfig, SynthWorld, synth
from avfh_core.data.audio import MEL_STEPS_PER_FRAME, log_mel
from avfh_core.data.crops import mouth_crops
from avfh_core.data.degrade import bicubic_down
from avfh_core.data.windows import WindowDataset
from avfh_core.reproduce.results import Results
from avfh_core.viz import save_figure

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("vfhgan/01_data", cfg)
world = synth.world(cfg)  # the run's world (avfh_core.data.synth.world: seed 0 whatever the run seed)
print(f"preset={cfg.preset}: {cfg.hr_size}x{cfg.hr_size} HR, x{cfg.scale} -> {cfg.hr_size // cfg.scale}x"
      f"{cfg.hr_size // cfg.scale} LR, {cfg.clip_frames} frames per clip, {cfg.vocab_size} words")

# %% [markdown]
# ## One clip
# An `AVSample`: video [T,3,H,W] in [0,1] at 25 fps, a 16 kHz waveform, 68 landmarks per frame (iBUG order), the
# head pose, the word, the speaker and their attributes.

# %%
clip = world.clip(0, split="train")
print(f"video {tuple(clip.video.shape)} @ {clip.fps} fps, audio {tuple(clip.audio.shape)} @ {clip.sample_rate} Hz "
      f"({clip.duration:.2f} s), landmarks {tuple(clip.landmarks.shape)}")
print(f"word {clip.text!r}, speaker {clip.speaker}, attributes {clip.attributes}")
show = np.linspace(0, clip.num_frames - 1, 6).round().astype(int)
fig, axes = plt.subplots(2, 6, figsize=(13, 4.6), gridspec_kw={"height_ratios": [3, 1]})
for k, f in enumerate(show):
    axes[0, k].imshow(clip.video[f].permute(1, 2, 0).numpy())
    lm = clip.landmarks[f]
    axes[0, k].scatter(lm[:, 0], lm[:, 1], s=2, c="c")
    axes[0, k].scatter(lm[48:68, 0], lm[48:68, 1], s=2, c="r")
    axes[0, k].set_title(f"frame {f}")
    axes[0, k].axis("off")
gs = axes[1, 0].get_gridspec()
for ax in axes[1]:
    ax.remove()
wave = fig.add_subplot(gs[1, :])
tt = np.arange(clip.audio.numel()) / clip.sample_rate
wave.plot(tt, clip.audio.numpy(), lw=0.3)
for f in show:
    wave.axvline(f / clip.fps, color="r", lw=0.6)
wave.set_xlabel("time (s)")
wave.set_yticks([])
fig.suptitle(f"a synthetic clip: the word {clip.text!r} (mouth landmarks in red)")
save_figure(fig, "vfhgan", "01_clip")

# %% [markdown]
# ## Identities and the held-out split
# Scores in notebooks 05-06 are computed on *test identities* that never appear in training.

# %%
train_ids, test_ids = world.identities("train"), world.identities("test")
overlap = {i.id for i in train_ids} & {i.id for i in test_ids}
print(f"{len(train_ids)} training identities, {len(test_ids)} test identities, overlap: {len(overlap)}")
res.log("identities", {"train": len(train_ids), "test": len(test_ids), "overlap": len(overlap)})

# %% [markdown]
# ## LR frames: the degradation
# The paper resizes the 128x128 crop to 32x32; we use antialiased bicubic x4 (`bicubic_down`).

# %%
lr_video = bicubic_down(clip.video, cfg.scale)
f = clip.num_frames // 2
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, (title, img) in zip(axes, [("HR", clip.video[f]), (f"LR (x{cfg.scale} down)", lr_video[f]),
                                   ("LR, bicubic back up", torch.nn.functional.interpolate(
                                       lr_video[f:f + 1], scale_factor=cfg.scale, mode="bicubic")[0].clamp(0, 1))]):
    ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_title(f"{title} {tuple(img.shape[-2:])}")
    ax.axis("off")
save_figure(fig, "vfhgan", "01_degradation")

# %% [markdown]
# ## The log-mel spectrogram, aligned to the frames
# 16 kHz audio, 25 fps video: 640 samples per frame. We choose the hop so that a whole number of mel steps covers
# each video frame (`avfh_core.data.audio.frame_hop`), which makes the window of frame $t$ a fixed slice of the
# spectrogram. The released code's numbers do not fit together as they are reported: a hop of 200 samples gives
# 3.2 steps per 25-fps frame, not the 16 steps per frame it also reports; at that hop, 16 steps span the whole
# 5-frame window (0.2 s). The cell prints both layouts: the same 0.2 s of speech either way, at a different time
# resolution.

# %% tags=["nbval-check-output"]
from avfh_core.data.audio import frame_hop

SR, FPS = 16000, 25
hop = frame_hop(SR, FPS)
print(f"ours: hop {hop} samples -> {MEL_STEPS_PER_FRAME} mel steps per video frame, "
      f"{(2 * 2 + 1) * MEL_STEPS_PER_FRAME} steps per 5-frame window ({(2 * 2 + 1) / FPS:.1f} s)")
print(f"released code's hop 200 -> {SR / FPS / 200:.1f} steps per frame; 16 steps of hop 200 = {16 * 200 / SR:.1f} s "
      f"= {16 * 200 / SR * FPS:.0f} frames")
assert MEL_STEPS_PER_FRAME == 16 and hop * MEL_STEPS_PER_FRAME * FPS == SR

# %%
mel = log_mel(clip.audio, sample_rate=clip.sample_rate, fps=clip.fps)
print(f"log-mel {tuple(mel.shape)} for {clip.num_frames} frames -> {mel.shape[1] / clip.num_frames:.1f} steps/frame")
mouth_open = (clip.landmarks[:, 66, 1] - clip.landmarks[:, 62, 1]).numpy()  # inner lips, iBUG 62 (top) / 66 (bottom)
energy = mel.reshape(mel.shape[0], clip.num_frames, -1).exp().mean(dim=(0, 2)).log().numpy()
fig, axes = plt.subplots(2, 1, figsize=(10, 4.8), sharex=True)
axes[0].imshow(mel.numpy(), origin="lower", aspect="auto", cmap="magma",
               extent=[0, clip.num_frames, 0, mel.shape[0]])
axes[0].set_ylabel("mel bin")
axes[1].plot(np.arange(clip.num_frames) + 0.5, mouth_open / max(1e-6, mouth_open.max()), "o-", label="mouth opening")
axes[1].plot(np.arange(clip.num_frames) + 0.5, (energy - energy.min()) / max(1e-6, np.ptp(energy)), "s-",
             label="mel energy")
axes[1].set_xlabel("video frame")
axes[1].legend()
save_figure(fig, "vfhgan", "01_mel_alignment")

# %% [markdown]
# ## Does the audio carry the mouth? (and the causal knob)
# Per frame, correlate the mouth opening (landmarks) with the audio energy, over many clips. With the audio of
# another clip (`shuffle_audio=True`) or shifted by a few frames (`av_offset_frames`) the link should weaken: this
# is the knob notebook 06 turns to test whether the audio branch helps for the right reason.


# %%
def mouth_audio_corr(w: SynthWorld, n: int) -> float:
    xs, ys = [], []
    for i in range(n):
        s = w.clip(i, split="train")
        m = log_mel(s.audio, sample_rate=s.sample_rate, fps=s.fps)
        xs.append((s.landmarks[:, 66, 1] - s.landmarks[:, 62, 1]).numpy())
        ys.append(m.reshape(m.shape[0], s.num_frames, -1).exp().mean(dim=(0, 2)).log().numpy())
    return float(np.corrcoef(np.concatenate(xs), np.concatenate(ys))[0, 1])


n_corr = 6 if cfg.preset == "smoke" else 24
base = dict(image_size=cfg.hr_size, num_frames=cfg.clip_frames, vocab_size=cfg.vocab_size, seed=0)
corrs = {
    "intact": mouth_audio_corr(world, n_corr),
    "av_offset_5": mouth_audio_corr(SynthWorld(SynthConfig(**base, av_offset_frames=5)), n_corr),
    "shuffled": mouth_audio_corr(SynthWorld(SynthConfig(**base, shuffle_audio=True)), n_corr),
}
for k, v in corrs.items():
    print(f"corr(mouth opening, audio energy) {k:12s} {v:+.3f}")
res.log("mouth_audio_corr", corrs)

# %% [markdown]
# Read the numbers above with care: compare the shuffled and the shifted rows with the intact one. Shuffling
# keeps much of the correlation: every clip is one word centred in the clip, so in *every* clip the mouth is closed
# and the audio quiet at both ends and both are active in the middle. What shuffling removes is the frame-level
# detail (which phoneme when) and the voice-identity link; a 5-frame shift breaks the envelope itself. So a model
# can profit from shuffled audio a little, through the clip-level envelope alone. (This is a quick look with a
# simple energy measure; `avfh_core.data.stats` and notebook common/01 measure the audio-mouth link of the world
# with their own band and offsets, so their numbers differ from these.)

# %% [markdown]
# ## Training windows
# `WindowDataset` cuts each clip into windows of $2j+1$ frames around every frame $t$: the LR frames, the HR frames,
# the mel slice centred on $t$, the mouth box of the centre frame (HR pixels), the landmarks, the word and speaker.

# %%
windows = WindowDataset([clip], window=cfg.window, scale=cfg.scale)
item = windows[len(windows) // 2]
for k, v in item.items():
    print(f"{k:10s} {tuple(v.shape) if isinstance(v, torch.Tensor) else v}")
assert item["mel"].shape[-1] == (2 * cfg.window + 1) * MEL_STEPS_PER_FRAME
res.log("window_shapes", {k: list(v.shape) for k, v in item.items() if isinstance(v, torch.Tensor)})

# %% [markdown]
# ## Mouth crops for the lip-reading loss
# Grayscale crops around the mouth landmarks (`mouth_crops`), made by bilinear resampling so that a loss on them
# sends its gradient back into the frames (notebook 03).

# %%
crops = mouth_crops(item["hr"], item["landmarks"], size=cfg.mouth_size, gray=True)
x0, y0, x1, y1 = [float(v) for v in item["mouth_box"]]
fig, axes = plt.subplots(1, crops.shape[0] + 1, figsize=(2.2 * (crops.shape[0] + 1), 2.4))
axes[0].imshow(item["hr"][cfg.window].permute(1, 2, 0).numpy())
axes[0].add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="r"))
axes[0].set_title("centre frame + mouth box")
for k in range(crops.shape[0]):
    axes[k + 1].imshow(crops[k, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[k + 1].set_title(f"crop t{k - cfg.window:+d}")
for ax in axes:
    ax.axis("off")
save_figure(fig, "vfhgan", "01_mouth_crops")
print("mouth crops", tuple(crops.shape))

# %% [markdown]
# ## How LRW would be read
# LRW (Chung & Zisserman 2016) ships `lipread_mp4/<WORD>/<train|val|test>/<WORD>_<NNNNN>.mp4`: 29 frames of
# 256x256 at 25 fps with the word centred, and a `.txt` with its duration. `avfh_core.data.real.LRW` reads that
# layout with PyAV (the padded AAC audio is trimmed to the video), resamples the audio to 16 kHz and yields the same
# `AVSample` as the synthetic world, so `WindowDataset` and every model work unchanged. The paper crops a square
# around the face with OpenFace landmarks and resizes it to 128x128 (`crop=(x0, y0, x1, y1), size=128`; with the
# optional dlib extra, `landmarks="detector"` fills in the 68 points).
#
# With `data_root` pointing at your LRW folder the cell below reads it. Without it, the cell writes the synthetic
# clip above as an H.264/AAC mp4 in LRW's layout to a temporary folder and reads it back through the same loader:
# the real-data path, exercised end to end.

# %%
import tempfile
from pathlib import Path

from avfh_core.data.avio import write_av
from avfh_core.data.real import LRW

if data_root is None:
    lrw_root = Path(tempfile.mkdtemp(prefix="lrw_demo_"))
    word = clip.text.upper()
    write_av(lrw_root / word / "test" / f"{word}_00001.mp4", clip.video, clip.audio)
    print("data_root is None: wrote one synthetic clip in LRW's layout")
else:
    lrw_root = Path(data_root).expanduser()
lrw = LRW(lrw_root, "test", crop=None, size=clip.video.shape[-1])
real = lrw[0]
print(f"{len(lrw)} clip(s) in {len(lrw.vocabulary)} word folder(s); first: {real.text!r}, "
      f"video {tuple(real.video.shape)} at {real.fps:.0f} fps, audio {tuple(real.audio.shape)} at {real.sample_rate} Hz")
if data_root is None:  # H.264 is lossy: the round trip is close, not exact
    print(f"mean |decoded - original| = {(real.video - clip.video).abs().mean():.3f}")
