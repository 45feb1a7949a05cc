"""The grid of figures/world_v5_faces.png: PYTHONPATH=$PWD python figures/world_v5_faces.py [out.png]"""
import math, sys, torch, numpy as np
from avfh_core.data import SynthConfig, SynthWorld
from avfh_core.data import face as facemod
from avfh_core.data.degrade import bicubic_down
import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
w = SynthWorld(SynthConfig(image_size=64, num_frames=1, render_frontal=False, n_train_identities=120, n_test_identities=10))
ppl = w.identities("train")
groups = {("f", "young"): [], ("m", "young"): [], ("f", "old"): [], ("m", "old"): []}
for p in ppl:
    g = "young" if p.age < 32 else ("old" if p.age > 62 else None)
    if g and len(groups[(p.gender, g)]) < 4:
        groups[(p.gender, g)].append(p)
def render(p, size=64):
    alb, nrm = w._texture(p)
    T = 1
    mouth = {"jaw": torch.zeros(T), "spread": torch.zeros(T), "closed": torch.zeros(T)}
    c = torch.tensor([[size / 2, size / 2 + size * 0.02]])
    img, _ = facemod.render(p, alb, nrm, torch.tensor([[12.0, 0.0, 0.0]]), c, size * 0.36, mouth, torch.zeros(T),
                            torch.full((3, size, size), 0.55), torch.tensor([0.2, -0.35, 1.0]) / 1.08)
    return img[0]
fig, axes = plt.subplots(4, 8, figsize=(16, 8.6))
for r, (k, ps) in enumerate(groups.items()):
    for j, p in enumerate(ps):
        hr = render(p)
        lr = bicubic_down(hr, 8)
        axes[r, 2 * j].imshow(hr.permute(1, 2, 0).numpy()); axes[r, 2 * j + 1].imshow(lr.permute(1, 2, 0).numpy())
        axes[r, 2 * j].set_title(f"{p.gender} {p.age:.0f}y {p.hair_style}", fontsize=8)
        axes[r, 2 * j + 1].set_title("8x8", fontsize=8)
for a in axes.flat: a.axis("off")
fig.suptitle("world v5 faces: rows young f, young m, old f, old m (64 px and its 8x8 bicubic)")
fig.tight_layout(); fig.savefig(sys.argv[1] if len(sys.argv) > 1 else "figures/world_v5_faces.png", dpi=70)
