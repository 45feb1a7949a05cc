"""A planted rise for SECNet's Fig. 11 claim "SECNet's rising period is longer than FRVSR's" (claim
secnet_rises_longer of reproduce/tables/secnet.yaml).

The claim is scored on `train.secnet.rise_frames` of the clip-averaged gain over bicubic (`fig11_table`). Before a
"not reproduced" of it counts, the audit must see a rise where one exists by construction: the trained SECNet of
the next seed (cyclically) with its error amplified at the first frame and the amplification fading linearly to
none at frame `frames` (`delayed`), so that its gain curve climbs for that many frames, against the trained SECNet
of seed s, scored the same way (rows "rise_planted" and "rise_secnet", metric rise_frames). Evaluation only: the
trained runs come from the cache (this module is outside the training cache keys)."""

from __future__ import annotations

import sys

import torch

ROWS = ("rise_secnet", "rise_planted")


def delayed(sr: torch.Tensor, hr: torch.Tensor, frames: int, extra_db: float) -> torch.Tensor:
    """sr, hr [B, T, 3, H, W] -> hr + a_t (sr - hr), clamped to [0, 1], with a_t = 1 + (k - 1) max(0, 1 - t / frames)
    and k = 10^(extra_db / 20): at frame 0 the error is k times larger (a PSNR drop of extra_db before clipping),
    and it fades to the model's own from frame `frames` on."""
    if sr.shape != hr.shape or sr.ndim != 5:
        raise ValueError(f"delayed: sr and hr must both be [B, T, 3, H, W], got {tuple(sr.shape)} and {tuple(hr.shape)}")
    if not (isinstance(frames, int) and frames >= 1):
        raise ValueError(f"delayed: frames must be an int >= 1, got {frames!r}")
    if not extra_db > 0:
        raise ValueError(f"delayed: extra_db must be > 0, got {extra_db}")
    k = 10 ** (extra_db / 20)
    t = torch.arange(sr.shape[1], dtype=sr.dtype, device=sr.device)
    a = 1 + (k - 1) * (1 - t / frames).clamp(min=0)
    return (hr + a.view(1, -1, 1, 1, 1) * (sr - hr)).clamp(0, 1)


def rise_rows(cfg, n_seeds: int | None = None, frames: int | None = None,
              extra_db: float = 3.0) -> dict[str, dict[str, list[float]]]:
    """{"rise_secnet": {"rise_frames": [...]}, "rise_planted": {"rise_frames": [...]}}, one value per seed (log
    them with the other controls). frames None: a third of the test clip, the longest rise `rise_frames` can time
    before the plateau (the last third) begins."""
    from avfh_core.train import secnet
    from avfh_core.train.experiment import cached_run
    from avfh_core.train.experiment import seeds as seed_list

    me = sys.modules[secnet.__name__]
    run = secnet.table2(cfg)["secnet"]
    data, idx = secnet.eval_set(run, cfg)
    T = int(data[idx[0]]["hr"].shape[0])
    frames = max(1, T // 3) if frames is None else int(frames)
    ss = seed_list(cfg, n_seeds)
    trained = [cached_run(me, run, cfg, s)[1].models for s in ss]

    def planted(models, batch):
        return delayed(secnet.predict(models, batch), batch["hr"], frames, extra_db)

    out = {r: {"rise_frames": []} for r in ROWS}
    for i in range(len(ss)):
        curve = secnet.gain_curve(trained[i], data, idx, cfg)
        out["rise_secnet"]["rise_frames"].append(float(secnet.rise_frames(curve)))
        planted_curve = secnet.gain_curve(trained[(i + 1) % len(ss)], data, idx, cfg, planted)
        out["rise_planted"]["rise_frames"].append(float(secnet.rise_frames(planted_curve)))
    return out


__all__ = ["ROWS", "delayed", "rise_rows"]
