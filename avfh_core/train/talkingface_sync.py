"""Training of the in-project SyncNet-style sync network (`models.talkingface_sync`) and the sync score of a
talking-face model, for the claim "the pair discriminator improves audio-visual sync" (ablations table).

Trained on the TRUE videos of the training people (never on a generator's output): each step takes a random
WINDOW-frame window of each clip; positives are its own speech, negatives the same window's speech shifted by >= 2
frames when the clip is long enough, else another clip's speech (the batch rolled by one). Adam lr 1e-3; steps per
preset in STEPS (ours; the smoke value only exercises the code); cached with `load_or_train`. `sync_report` gives
the confidence on held-out true clips (in sync) and with another clip's speech: a useful network separates them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from avfh_core.models.talkingface_sync import WINDOW, SyncNet, contrastive_loss, mouth_crops, sync_score
from avfh_core.nn.init import build
from avfh_core.train import talkingface as tf
from avfh_core.train.checkpoint import load_or_train

STEPS = {"smoke": 20, "course": 1000, "gpu": 3000, "paper": 3000}
BATCH = 16
SPF = 320


def _clips(data) -> tuple[torch.Tensor, torch.Tensor]:
    video = torch.stack([it["video"] for it in data.items])
    box = torch.stack([it["box"] for it in data.items])
    return mouth_crops(video, box), torch.stack([it["audio"] for it in data.items])


def syncnet(cfg) -> tuple[SyncNet, dict]:
    from avfh_core.train import talkingface_landmarker as tl

    steps = STEPS.get(cfg.preset, STEPS["course"])
    config = dict(paper=tf.PAPER, part="syncnet", preset=cfg.preset, steps=steps, batch=BATCH,
                  clips=int(cfg.talkingface_train_clips), world=str(tl._world_key(cfg)))

    def train_fn(model):
        crops, audio = _clips(tf.clip_data(cfg, "train"))
        N, T = crops.shape[:2]
        g = torch.Generator().manual_seed(0)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        losses = []
        with torch.enable_grad():
            for _ in range(steps):
                i = torch.randint(N, (BATCH,), generator=g)
                s = torch.randint(T - WINDOW + 1, (BATCH,), generator=g)
                v = torch.stack([crops[i[k], s[k]:s[k] + WINDOW] for k in range(BATCH)])
                pos = torch.stack([audio[i[k], s[k] * SPF:(s[k] + WINDOW) * SPF] for k in range(BATCH)])
                neg = []
                for k in range(BATCH):
                    far = [o for o in range(T - WINDOW + 1) if abs(o - int(s[k])) >= 2]
                    if far:
                        o = far[int(torch.randint(len(far), (1,), generator=g))]
                        neg.append(audio[i[k], o * SPF:(o + WINDOW) * SPF])
                    else:
                        neg.append(pos[(k + 1) % BATCH])
                a = torch.cat([pos, torch.stack(neg)])
                y = torch.cat([torch.ones(BATCH), torch.zeros(BATCH)])
                loss = contrastive_loss(model.distance(torch.cat([v, v]), a), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
        return {"steps": steps, "final_loss": sum(losses[-10:]) / len(losses[-10:])}

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


__all__ = ["BATCH", "STEPS", "max_offset", "scorer", "scores", "sync_report", "syncnet", "video_sync"]
