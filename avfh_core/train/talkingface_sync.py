"""Training of the in-project SyncNet-style sync network (`models.talkingface_sync`) and the sync score of a
talking-face model, for the claim "the pair discriminator improves audio-visual sync" (ablations table).

Trained on the TRUE videos of the training people (never on a generator's output), by multi-way matching
(`models.talkingface_sync.multiway_loss`): each step draws BATCH windows of WINDOW frames in which someone speaks
(a frame's speech RMS at least SPEECH_FRACTION of the median clip's loudest frame: in a silent window the mouth is
still and every offset fits equally, so there is nothing to learn), each matched against its audio at the offsets
-K ... K. Adam lr 1e-3; steps per preset in STEPS (ours; 3000 steps take about 25 s on 2 CPU cores at the course
preset; the smoke value only exercises the code); cached with `load_or_train`. `sync_report` gives, on held-out
true clips, how often the network finds the true offset (0) and the confidence with their own and another clip's
speech: a useful network finds the offset far more often than a guess among 2K + 1.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from avfh_core.models.talkingface_sync import WINDOW, SyncNet, mouth_crops, multiway_loss, sync_score
from avfh_core.nn.init import build
from avfh_core.train import talkingface as tf
from avfh_core.train.checkpoint import load_or_train

STEPS = {"smoke": 20, "course": 3000, "gpu": 6000, "paper": 6000}
BATCH = 16
SPF = 320
SPEECH_FRACTION = 0.1  # a "speech" frame: RMS >= this fraction of the typical (median) clip's loudest frame


def _clips(data) -> tuple[torch.Tensor, torch.Tensor]:
    video = torch.stack([it["video"] for it in data.items])
    box = torch.stack([it["box"] for it in data.items])
    return mouth_crops(video, box), torch.stack([it["audio"] for it in data.items])


def train_offsets(T: int) -> int:
    """K of the multi-way matching in training: every offset -K ... K must fit beside one same window of T frames
    (T >= WINDOW + 2K), at most 2 (the score's). 0 for clips shorter than WINDOW + 2 frames: those are matched
    against the same window of two other clips instead."""
    return max(0, min(2, (T - WINDOW) // 2))


def speech_windows(audio: torch.Tensor, K: int) -> torch.Tensor:
    """(clip, start) pairs [n, 2] of the training windows: starts K ... T - WINDOW - K (every offset fits) whose
    WINDOW frames hold at least one speech frame (`SPEECH_FRACTION`; the level is the set's, so a clip of room
    tone alone has none); audio [N, 320 T]."""
    N, T = audio.shape[0], audio.shape[1] // SPF
    rms = audio[:, :T * SPF].reshape(N, T, SPF).pow(2).mean(-1).sqrt()
    speech = rms >= SPEECH_FRACTION * torch.quantile(rms.amax(1), 0.5).clamp(min=1e-12)
    has = speech.unfold(1, WINDOW, 1).any(-1)[:, K:T - WINDOW - K + 1]  # [N, starts K ... T - WINDOW - K]
    clip, k = has.nonzero(as_tuple=True)
    return torch.stack([clip, k + K], 1)


def _candidates(audio: torch.Tensor, drawn: list[list[int]], K: int) -> torch.Tensor:
    """The audio each drawn (clip, start) window is matched against, [B, 2K+1, WINDOW * 320], the in-sync one in
    the middle: its own clip's speech shifted by -K ... K frames, or (K = 0) the same window of the previous and
    the next drawn clip on either side."""
    n = WINDOW * SPF

    def shifted(o: int) -> torch.Tensor:
        return torch.stack([audio[c, (s + o) * SPF:(s + o) * SPF + n] for c, s in drawn])

    if K:
        return torch.stack([shifted(o) for o in range(-K, K + 1)], 1)
    own = shifted(0)
    return torch.stack([own.roll(1, 0), own, own.roll(-1, 0)], 1)


def syncnet(cfg) -> tuple[SyncNet, dict]:
    from avfh_core.train import talkingface_landmarker as tl

    steps = STEPS.get(cfg.preset, STEPS["course"])
    config = dict(paper=tf.PAPER, part="syncnet", preset=cfg.preset, steps=steps, batch=BATCH,
                  clips=int(cfg.talkingface_train_clips), world=str(tl._world_key(cfg)))

    def train_fn(model):
        crops, audio = _clips(tf.clip_data(cfg, "train"))
        crops = model.prepare(crops)
        T = crops.shape[1]
        if T < WINDOW:
            raise ValueError(f"syncnet: the training clips have {T} frames, fewer than one window of {WINDOW}")
        K = train_offsets(T)  # 0: clips too short to shift within (tests); match against other clips instead
        where = speech_windows(audio, K)
        if len(where) == 0:
            raise ValueError("syncnet: no training window holds speech (every clip silent?)")
        g = torch.Generator().manual_seed(0)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        losses = []
        with torch.enable_grad():
            for _ in range(steps):
                drawn = where[torch.randint(len(where), (BATCH,), generator=g)].tolist()
                v = torch.stack([crops[c, s:s + WINDOW] for c, s in drawn])
                a = _candidates(audio, drawn, K)
                loss = multiway_loss(model, v, a)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
        return {"steps": steps, "offsets": K, "speech_windows": len(where),
                "final_loss": sum(losses[-50:]) / len(losses[-50:])}

    model = build(0, "syncnet", SyncNet)
    model, info = load_or_train("talkingface_syncnet", config, model, train_fn)
    return model.eval(), info


_NETS: dict[tuple, SyncNet] = {}


def scorer(cfg) -> SyncNet:
    from avfh_core.train import talkingface_landmarker as tl

    key = (cfg.preset, int(cfg.talkingface_train_clips), str(tl._world_key(cfg)))
    if key not in _NETS:
        _NETS[key] = syncnet(cfg)[0]
    return _NETS[key]


def max_offset(T: int) -> int:
    """The offsets -K ... K scored: K = 2 when the clips allow (at least one window at every offset), else less."""
    return max(0, min(2, T - WINDOW))


@torch.no_grad()
def video_sync(net: SyncNet, video: torch.Tensor, box: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
    """Sync scores per clip [B] of videos [B, T, 3, H, W] (mouth boxes [B, T, 4]) with their speech [B, 320 T]."""
    net.to(video.device)
    return sync_score(net, mouth_crops(video, box), audio, max_offset(video.shape[1]))


@torch.no_grad()
def sync_report(net: SyncNet, data) -> dict[str, float]:
    """Mean sync confidence and distance of held-out TRUE clips with their own speech and with another clip's."""
    crops, audio = _clips(data)
    K = max_offset(crops.shape[1])
    own, other = sync_score(net, crops, audio, K), sync_score(net, crops, audio.roll(1, 0), K)
    return {"true_confidence": float(own["sync_confidence"].mean()),
            "true_distance": float(own["sync_distance"].mean()),
            "true_offset_zero": float((own["sync_offset"] == 0).double().mean()),
            "shuffled_confidence": float(other["sync_confidence"].mean()),
            "shuffled_distance": float(other["sync_distance"].mean())}


def scores(pred: torch.Tensor, batch: Mapping[str, torch.Tensor], cfg) -> dict[str, torch.Tensor]:
    return video_sync(scorer(cfg), pred, batch["box"], batch["audio"])


__all__ = ["BATCH", "SPEECH_FRACTION", "STEPS", "max_offset", "scorer", "scores", "speech_windows", "sync_report",
           "syncnet", "train_offsets", "video_sync"]
