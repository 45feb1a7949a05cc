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
# # VividGAN 03 · Identification: is the hallucinated face still the same person? (Tab. VI)
#
# Zhang et al. 2021, sec. V-E, Tabs. V-VI. The gallery holds one frontal image per held-out person, with natural
# illumination and a neutral expression; the probes are the test faces (the LR face, or what a method made of it);
# a pretrained SphereFace embeds both and the cosine similarity ranks the gallery. The paper reports the rank-1 and
# rank-5 rates. (It also trains a CycleGAN between gallery and hallucinated faces to narrow the domain gap; we do
# not.)
#
# Here the gallery is `SynthWorld.gallery` (frontal, mouth closed, canonical light, plain background) for every
# held-out person, and the embedding is an in-project recogniser that is not Phi, the network of the identity loss:
# a residual network with an ArcFace (additive angular margin) head, trained on identity alone over all the world's
# people (the held-out ones included, as a face recogniser knows the people it is asked about), on scenes that no
# test pair uses. Phi is a plain VGG-style network with softmax heads trained on the train people, so the score is
# not the training target. Rows: the LR face upsampled, the two Bicubic cascades, VividGAN-dagger, the TANN
# stand-in of notebook 02, VividGAN, and the frontal truth (the ceiling of this recogniser).

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world

# %%
from avfh_core.config import setup
from avfh_core.reproduce.results import Results
from avfh_core.reproduce.tables import beside_paper, load_tables
from avfh_core.train import vividgan as V
from avfh_core.train.experiment import means

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("vividgan/03_recognition", cfg)
paper = load_tables("vividgan")
net = V.recognition_net(cfg)
g_emb, g_ids = V.gallery(cfg, net)
print(f"preset={cfg.preset} device={cfg.device} gallery: {len(g_ids)} held-out people; chance rank-1 "
      f"{100 / len(g_ids):.1f} %, rank-5 {min(100.0, 500 / len(g_ids)):.1f} %")

# %%
rec = V.recognition(cfg)
rows = {k: v for k, v in rec.items() if k != "truth_shuffled"}
res.log("table6_multipie_x8", means(rows))
res.log("table6_multipie_x8_seeds", rows)
res.log("recognition_control", means({k: rec[k] for k in ("truth", "truth_shuffled")}))
for r in beside_paper(paper, "table6_multipie_x8", means(rows)):
    print(f"{r['label'][:40]:40s} rank-1 paper {r['paper_rank1'] or float('nan'):6.2f} ours {r['ours_rank1']:6.2f}"
          f"   rank-5 paper {r['paper_rank5'] or float('nan'):6.2f} ours {r['ours_rank5']:6.2f}")
m = means(rec)["truth_shuffled"]
print(f"{'truth, labels moved (chance)':40s} rank-1 {m['rank1']:6.2f}   rank-5 {m['rank5']:6.2f}")
