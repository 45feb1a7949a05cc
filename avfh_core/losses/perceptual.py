"""Perceptual (feature) losses over a pluggable feature network, and the identity / gender / age metrics.

VFH-GAN (Sharma et al. 2022, eq. 11) uses a "pre-trained vgg network based perceptual loss" L_vgg (its ref. [19],
Johnson et al.); VividGAN's identity loss (its eq. 5) and the Ear paper (Meishvili et al. 2020, section 5) judge
identity and attributes with pretrained face networks. No pretrained weights can be downloaded here, so:
- if torchvision is installed AND the ImageNet VGG19 weights are already in the local torch hub cache, the feature
  network is VGG19's convolutional part (relu2_2, relu3_4, relu4_4, relu5_4) -- `.source == "vgg19-imagenet"`;
- otherwise a small VGG-like CNN (`FeatureNet`) is trained in-project on the synthetic world to classify identity
  (the training identities), gender and age group, and cached by configuration -- `.source == "in-project"`.
The perceptual loss is the mean over the chosen layers of the MSE between feature maps (target detached). The same
in-project classifier gives `attribute_accuracy` (gender and age group on held-out identities; identity on
unseen clips of the training identities) and `identity_similarity` (cosine of its embeddings).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

CACHE_NAME = "featurenet"
AGE_BINS = (35.0, 55.0)  # age groups: [18, 35), [35, 55), [55, 75] (the synthetic world samples ages in 18-75)
GENDERS = ("m", "f")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet VGG19 weights file name
VGG19_LAYERS = {"relu2_2": 8, "relu3_4": 17, "relu4_4": 26, "relu5_4": 35}


def age_group(age: float) -> int:
    """0: under 35, 1: 35-55, 2: 55 and over."""
    return sum(float(age) >= b for b in AGE_BINS)


class FeatureNet(nn.Module):
    """A small VGG-style CNN (4 stages of two 3x3 conv + BatchNorm + ReLU, average-pool downsampling) with three heads on the
    globally pooled 8w-channel embedding: identity (n_identities), gender (2), age group (3).

    Input [B, 3, H, W] in [0, 1] (any H, W >= 16); `features(x)` returns the stage outputs for a perceptual loss.
    """

    layer_names = ("stage1", "stage2", "stage3", "stage4")

    def __init__(self, n_identities: int = 40, width: int = 16):
        super().__init__()
        if n_identities < 1 or width < 1:
            raise ValueError(f"n_identities and width must be positive, got {n_identities}, {width}")
        self.n_identities, self.width = n_identities, width
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        self.stages = nn.ModuleList()
        for k in range(4):
            self.stages.append(nn.Sequential(
                *([nn.AvgPool2d(2)] if k else []),
                nn.Conv2d(chans[k], chans[k + 1], 3, padding=1, bias=False), nn.BatchNorm2d(chans[k + 1]), nn.ReLU(),
                nn.Conv2d(chans[k + 1], chans[k + 1], 3, padding=1, bias=False), nn.BatchNorm2d(chans[k + 1]),
                nn.ReLU(),
            ))
        self.identity_head = nn.Linear(8 * width, n_identities)
        self.gender_head = nn.Linear(8 * width, 2)
        self.age_head = nn.Linear(8 * width, len(AGE_BINS) + 1)
        self.source = "in-project"

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"FeatureNet input must be [B, 3, H, W], got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < 16:
            raise ValueError(f"FeatureNet input must be at least 16x16, got {tuple(x.shape[-2:])}")

    def features(self, x: torch.Tensor, layers: Sequence[str] | None = None) -> list[torch.Tensor]:
        """The outputs of the requested stages (default: all four), for x in [0, 1]."""
        self._check(x)
        layers = tuple(layers or self.layer_names)
        unknown = [n for n in layers if n not in self.layer_names]
        if unknown:
            raise ValueError(f"unknown FeatureNet layer(s) {unknown}; choose from {self.layer_names}")
        h = (x - 0.5) / 0.25
        out = []
        for name, stage in zip(self.layer_names, self.stages):
            h = stage(h)
            if name in layers:
                out.append(h)
            if len(out) == len(layers):
                break
        return out

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The globally average-pooled last-stage features [B, 8w] (the identity embedding, VividGAN's Phi)."""
        return self.features(x, ("stage4",))[0].mean(dim=(-2, -1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        e = self.embed(x)
        return {"identity": self.identity_head(e), "gender": self.gender_head(e), "age": self.age_head(e)}


class VGG19Features(nn.Module):
    """torchvision VGG19's convolutional layers with ImageNet weights (only from the local torch hub cache)."""

    layer_names = tuple(VGG19_LAYERS)

    def __init__(self, weights_path: str | Path):
        super().__init__()
        import torchvision  # noqa: F401  (raises ImportError when absent; the caller falls back)

        vgg = torchvision.models.vgg19()
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        vgg.load_state_dict(state)
        self.body = vgg.features[: max(VGG19_LAYERS.values()) + 1]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.source = "vgg19-imagenet"

    def features(self, x: torch.Tensor, layers: Sequence[str] | None = None) -> list[torch.Tensor]:
        layers = tuple(layers or self.layer_names)
        want = {VGG19_LAYERS[n] for n in layers}
        h, out = (x - self.mean) / self.std, []
        for k, mod in enumerate(self.body):
            h = mod(h)
            if k in want:
                out.append(h)
            if len(out) == len(want):
                break
        return out


def vgg19_weights_in_hub_cache() -> Path | None:
    """The path of torchvision's VGG19 ImageNet weights if they are already in the torch hub cache, else None."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    return path if path.exists() else None


class PerceptualLoss(nn.Module):
    """L_vgg of VFH-GAN eq. 11: mean over layers of MSE(phi_l(pred), phi_l(target)), phi frozen, target detached.

    feature_net: anything with `.features(x, layers)` (FeatureNet or VGG19Features); `.source` says which.
    """

    def __init__(self, feature_net: nn.Module, layers: Sequence[str] | None = None):
        super().__init__()
        if not hasattr(feature_net, "features"):
            raise TypeError(f"feature_net must have a .features(x, layers) method, got {type(feature_net).__name__}")
        self.net = feature_net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.layers = tuple(layers) if layers else None
        self.source = getattr(feature_net, "source", "unknown")

    def train(self, mode: bool = True):  # the feature network stays in eval mode
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
        fp = self.net.features(pred, self.layers)
        with torch.no_grad():
            ft = self.net.features(target, self.layers)
        return sum(F.mse_loss(a.float(), b.float()) for a, b in zip(fp, ft)) / len(fp)


# ----------------------------------------------------------------------------------------------------------------
# Training the in-project feature network on the synthetic world, and the attribute metrics


def frames_and_labels(world, split: str, clip_indices: Sequence[int], frames_per_clip: int = 4,
                      identity_index: dict[int, int] | None = None) -> dict[str, torch.Tensor]:
    """Frames (evenly spaced within each clip) with labels: {"x": [N,3,H,W], "identity", "gender", "age"}.

    identity labels index the world's training identities (-1 for a person outside `identity_index`).
    """
    if identity_index is None:
        identity_index = {idn.id: k for k, idn in enumerate(world.identities("train"))}
    xs, ids, gs, ages = [], [], [], []
    for i in clip_indices:
        s = world.clip(int(i), split=split)
        t = s.video.shape[0]
        sel = torch.linspace(0, t - 1, min(frames_per_clip, t)).round().long()
        xs.append(s.video[sel].float())
        n = len(sel)
        ids += [identity_index.get(int(s.speaker), -1)] * n
        gender = s.attributes.get("gender")
        if gender not in GENDERS:
            raise ValueError(f"{s.source}: attribute gender must be one of {GENDERS}, got {gender!r}")
        gs += [GENDERS.index(gender)] * n
        ages += [age_group(s.attributes["age"])] * n
    return {"x": torch.cat(xs), "identity": torch.tensor(ids), "gender": torch.tensor(gs), "age": torch.tensor(ages)}


@torch.no_grad()
def predict(net: FeatureNet, x: torch.Tensor, batch_size: int = 64) -> dict[str, torch.Tensor]:
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
    pred = predict(net, x)
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


def train_feature_net(net: FeatureNet, data: dict[str, torch.Tensor], *, steps: int, batch_size: int = 32,
                      lr: float = 2e-3, seed: int = 0, device: torch.device | str = "cpu", autocast=None,
                      augment: bool = True) -> list[float]:
    """Adam on the sum of the three cross-entropies (identity ignored where unknown). Returns the loss curve.

    augment: random horizontal flips and +-2 px shifts (cheap, keeps attributes)."""
    g = torch.Generator().manual_seed(seed)
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    n = data["x"].shape[0]
    curve = []
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=g)
        x = data["x"][idx]
        if augment:
            flip = torch.rand(x.shape[0], generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            dy, dx = torch.randint(-2, 3, (2,), generator=g).tolist()
            x = torch.roll(x, (dy, dx), (-2, -1))
        x = x.to(device)
        with autocast() if autocast else torch.autocast("cpu", enabled=False):
            out = net(x)
            loss = (F.cross_entropy(out["identity"].float(), data["identity"][idx].to(device), ignore_index=-1)
                    + F.cross_entropy(out["gender"].float(), data["gender"][idx].to(device))
                    + F.cross_entropy(out["age"].float(), data["age"][idx].to(device)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        curve.append(float(loss.detach()))
    net.eval()
    return curve


def load_feature_net(cfg_or_image_size, device: torch.device | str | None = None, *, steps: int | None = None,
                     width: int | None = None, n_clips: int | None = None, prefer_vgg: bool = True,
                     retrain: bool = False, world=None, seed: int = 0) -> nn.Module:
    """The feature network for perceptual losses: VGG19 (ImageNet) if torchvision and its weights are already in
    the local torch hub cache (and prefer_vgg), else the in-project FeatureNet, trained once and cached.

    cfg_or_image_size: a RunConfig (uses hr_size, device, featnet_steps, featnet_width, n_train_clips) or an int
    image size. Returns the network in eval mode with `.source` ("vgg19-imagenet" / "in-project") and, for the
    in-project net, `.info` (training accuracies, whether it came from the cache).
    """
    from avfh_core.nn.init import build, seeded
    from avfh_core.train.checkpoint import load_or_train

    cfg = None if isinstance(cfg_or_image_size, int) else cfg_or_image_size
    image_size = int(cfg_or_image_size if cfg is None else cfg.hr_size)
    if device is None:
        device = cfg.device if cfg is not None else "cpu"
    if prefer_vgg and (path := vgg19_weights_in_hub_cache()) is not None:
        try:
            net = VGG19Features(path).to(device).eval()
            net.info = {"weights": str(path)}
            return net
        except ImportError:  # weights present but torchvision is not installed
            pass
    values = getattr(cfg, "values", {}) if cfg is not None else {}
    steps = int(steps if steps is not None else values.get("featnet_steps", 300))
    width = int(width if width is not None else values.get("featnet_width", 16))
    n_clips = int(n_clips if n_clips is not None else values.get("n_train_clips", 96))
    if world is None:
        from avfh_core.data.synth import world as synth_world

        world = synth_world(cfg, image_size=image_size)  # the generator's world, whatever the seed
    n_ids = len(world.identities("train"))
    config = {"net": "FeatureNet", "width": width, "n_identities": n_ids, "image_size": image_size,
              "steps": steps, "n_clips": n_clips, "seed": seed,
              # the world's key hashes its configuration *and* its generator version: a new renderer retrains
              "world": getattr(world, "key", None) or (world.config.as_dict() if hasattr(getattr(world, "config", None),
                                                                                        "as_dict") else repr(world))}
    net = build(seed, "featurenet", lambda: FeatureNet(n_identities=n_ids, width=width))

    def train_fn(model: FeatureNet) -> dict[str, Any]:
        with seeded(seed, "featurenet/train"):
            return _train(model)

    def _train(model: FeatureNet) -> dict[str, Any]:
        train = frames_and_labels(world, "train", range(n_clips))
        # unseen clips of the training identities (identity) and held-out people (gender, age)
        val = frames_and_labels(world, "train", range(n_clips, n_clips + max(8, n_clips // 4)))
        test = frames_and_labels(world, "test", range(max(8, n_clips // 4)))
        curve = train_feature_net(model, train, steps=steps, seed=seed, device=device,
                                  autocast=cfg.autocast if cfg is not None else None)
        model.cpu()
        acc_val, acc_test = attribute_accuracy(model, val["x"], val), attribute_accuracy(model, test["x"], test)
        return {"identity_accuracy_unseen_clips": acc_val["identity"], "gender_accuracy_heldout": acc_test["gender"],
                "age_accuracy_heldout": acc_test["age"], "train_accuracy": attribute_accuracy(model, train["x"], train),
                "final_loss": sum(curve[-10:]) / max(1, len(curve[-10:])), "steps": steps,
                "chance": {"identity": 1 / n_ids, "gender": 0.5, "age": 1 / (len(AGE_BINS) + 1)}}

    net, info = load_or_train(CACHE_NAME, config, net, train_fn, retrain=retrain)
    net = net.to(device).eval()
    net.info = info
    return net
