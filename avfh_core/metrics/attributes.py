"""Face-attribute metrics with a classifier (`avfh_core.models.featurenet.FeatureNet`): is the person still
recognisable after super-resolution? Identity, gender and age-group accuracy (the Ear paper, Meishvili et al.
2020, Table 1) and the cosine similarity of identity embeddings (VividGAN's identity score).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from avfh_core.models.featurenet import FeatureNet


@torch.no_grad()
def classify(net: FeatureNet, x: torch.Tensor, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Class predictions {identity, gender, age} for images x [N, 3, H, W] (run on the net's device)."""
    dev = next(net.parameters()).device
    was = net.training
    net.eval()
    out: dict[str, list[torch.Tensor]] = {"identity": [], "gender": [], "age": []}
    for i in range(0, x.shape[0], batch_size):
        logits = net(x[i:i + batch_size].to(dev))
        for k in out:
            out[k].append(logits[k].argmax(dim=1).cpu())
    net.train(was)
    return {k: torch.cat(v) for k, v in out.items()}



def attribute_accuracy(net: FeatureNet, x: torch.Tensor, labels: dict[str, torch.Tensor]) -> dict[str, float]:
    """Accuracy of the classifier on images x against labels (as from frames_and_labels): gender, age group, and
    identity where the label is known (>= 0). Use it on super-resolved faces to ask "is the person still
    recognisable?" (the Ear and VividGAN papers' identity / attribute scores)."""
    if x.shape[0] != labels["gender"].shape[0]:
        raise ValueError(f"x has {x.shape[0]} images but labels have {labels['gender'].shape[0]}")
    pred = classify(net, x)
    out = {}
    for k in ("identity", "gender", "age"):
        y = labels[k]
        keep = y >= 0
        out[k] = float((pred[k][keep] == y[keep]).float().mean()) if keep.any() else math.nan
    return out



def identity_similarity(net: FeatureNet, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of the identity embeddings of pred and target [B, 3, H, W] -> [B] (1 = same embedding)."""
    with torch.no_grad():
        return F.cosine_similarity(net.embed(pred), net.embed(target), dim=1)


__all__ = ["attribute_accuracy", "classify", "identity_similarity"]
