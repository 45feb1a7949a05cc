"""Positive controls for the talking-face paper's two discriminator claims, which the paper states but never tests
("the pair discriminator improves audio-visual sync", "the frame discriminator improves image quality"; claims
pair_d_improves_sync and frame_d_improves_quality of reproduce/tables/talkingface.yaml).

A "not reproduced" of either counts only when the instrument could have seen an effect of that kind. Each control
plants one, on top of the seed-to-seed spread, as the other controls of this paper do: the trained Proposed model of
seed s (row b) against the trained Proposed model of the next seed (cyclically) with a known defect (row a).

- **Image quality** ("ours_quality" vs "blurred_frame", metric LRW ssim_all): every generated frame blurred with
  a Gaussian of `blur_sigma` px (the loss of detail a frame discriminator is meant to prevent). Sign known, size
  not (it depends on the images).
- **Sync** ("synced_mouth" vs "lagged_mouth", metric LRW sync_confidence, the in-project SyncNet-style score on
  clean speech): both rows paste the TRUE mouth box into the generated frames, so both mouths move as the speech
  says; in "synced_mouth" it is in time with the speech, in "lagged_mouth" it is taken `lag` frames later
  (circularly; default half the clip), beyond the +-K offsets the sync score searches
  (`train.talkingface_sync.max_offset`). A sync
  network that works gives the synced mouth the higher confidence. This is the pair discriminator's claim planted
  at full strength: if the sync score cannot tell these two apart, it cannot judge the pair discriminator either.

Evaluation only (the trained runs come from the cache; this module is outside the training cache keys)."""

from __future__ import annotations

import sys

import torch

from avfh_core.metrics.image import box_mask

ROWS = ("ours_quality", "blurred_frame", "synced_mouth", "lagged_mouth")


def blur_frames(video: torch.Tensor, sigma: float) -> torch.Tensor:
    """video [..., 3, H, W] with every frame blurred (Gaussian, sigma px, 7x7 separable, replicate padding):
    `train.talkingface.blur_mouth` with a box that covers the whole frame."""
    from avfh_core.train.talkingface import blur_mouth

    if video.ndim < 5:
        raise ValueError(f"blur_frames: video must be [B, ..., T, 3, H, W], got {tuple(video.shape)}")
    H, W = video.shape[-2:]
    B, T = video.shape[0], video.shape[-4]
    whole = torch.tensor([0.0, 0.0, float(W), float(H)], device=video.device).expand(B, T, 4)
    return blur_mouth(video, whole, sigma)


def paste_mouth(pred: torch.Tensor, video: torch.Tensor, box: torch.Tensor, lag: int = 0) -> torch.Tensor:
    """pred [B, C, T, 3, H, W] (C conditions) with the mouth box [B, T, 4] of frame t replaced by the true video
    [B, T, 3, H, W] of frame (t + lag) mod T at the same place (lag 0: in sync). Frame 0 (the condition image) is
    left as it is."""
    if pred.ndim != 6 or video.ndim != 5 or pred.shape[0] != video.shape[0] or pred.shape[2:] != video.shape[1:]:
        raise ValueError(f"paste_mouth: pred must be [B, C, T, 3, H, W] and video [B, T, 3, H, W] with the same B, "
                         f"T, H, W; got {tuple(pred.shape)} and {tuple(video.shape)}")
    if box.shape != (video.shape[0], video.shape[1], 4):
        raise ValueError(f"paste_mouth: box must be [B, T, 4] = {[video.shape[0], video.shape[1], 4]}, "
                         f"got {tuple(box.shape)}")
    src = video.roll(-int(lag), dims=1)  # src[:, t] = video[:, (t + lag) mod T]
    m = box_mask(video.shape[-2:], box, device=video.device).to(pred.dtype)  # [B, T, H, W]
    m[:, 0] = 0
    m = m[:, None, :, None]  # [B, 1, T, 1, H, W]
    return m * src[:, None].to(pred.dtype) + (1 - m) * pred


def ablation_controls(cfg, n_seeds: int | None = None, blur_sigma: float = 1.0,
                      lag: int | None = None) -> dict[str, dict[str, list[float]]]:
    """Rows of the `controls` table for the two discriminator claims (see the module docstring), {row: {metric:
    [one value per seed]}}; log them with the other controls (`controls_seeds`). lag None: half the clip (T // 2
    frames, circularly the farthest from sync); it must lie beyond the largest offset K the sync score searches, in
    both directions (K < lag < T - K), so that no searched offset can undo it."""
    from avfh_core.train import talkingface as tf
    from avfh_core.train import talkingface_sync as ts
    from avfh_core.train.evaluate import evaluate
    from avfh_core.train.experiment import cached_run
    from avfh_core.train.experiment import seeds as seed_list

    if not blur_sigma > 0:
        raise ValueError(f"ablation_controls: blur_sigma must be > 0, got {blur_sigma}")
    data, idx = tf.eval_set(tf.PROPOSED, cfg)
    T = int(data[idx[0]]["video"].shape[0])
    K = ts.max_offset(T)
    lag = T // 2 if lag is None else int(lag)
    if not K < lag < T - K:
        raise ValueError(f"ablation_controls: lag must lie beyond the searched offsets, K < lag < T - K "
                         f"(K = {K}, T = {T}), got {lag}")
    me = sys.modules[tf.__name__]
    ss = seed_list(cfg, n_seeds)
    runs = [cached_run(me, tf.PROPOSED, cfg, s) for s in ss]

    def blurred(models, batch):
        return blur_frames(tf.predict(models, batch), blur_sigma)

    def pasted(shift):
        def fn(models, batch):
            return paste_mouth(tf.predict(models, batch), batch["video"], batch["box"], shift)
        return fn

    out = {r: {} for r in ROWS}
    for i in range(len(ss)):
        other = runs[(i + 1) % len(ss)][1].models
        out["ours_quality"].setdefault("ssim_all", []).append(runs[i][0]["lrw/ssim_all"])
        out["blurred_frame"].setdefault("ssim_all", []).append(
            evaluate(blurred, tf.score, other, data, idx, cfg)["lrw/ssim_all"])
        for row, shift in (("synced_mouth", 0), ("lagged_mouth", lag)):
            out[row].setdefault("sync_confidence", []).append(
                evaluate(pasted(shift), tf.score, other, data, idx, cfg)["lrw/sync_confidence"])
    return out


__all__ = ["ROWS", "ablation_controls", "blur_frames", "paste_mouth"]
