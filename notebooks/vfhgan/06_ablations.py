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
# # VFH-GAN 06 · Ablations, beside the paper's tables
#
# Sharma et al. 2022, sec. 4.2-4.3. Each experiment trains the generator of notebook 04 with the loop of notebook
# 05 under one change, on the synthetic world, for several seeds, and scores it on held-out identities:
#
# - **Table 1**: PHFE-B only ("w/o audio") / + CMFE-B (audio) / + axial attention. We add a row `visual_only`
#   (CMFE-B without its audio branch): the paper's "w/o audio" also drops the neighbouring frames, so only this row
#   isolates what the *audio* adds.
# - **Table 2**: the loss combinations (a) perceptual + adversarial, (b) + weighted frequency, (c) + lip-reading,
#   (d) all. (Pixel MSE is on in every row, as in the released code.)
# - **Backbone** (sec. 4.2): mixnet blocks (Fig. 4) vs PHFE-B. The paper shows only images.
# - **Table 3**: bicubic, a single-frame SRResNet and SRGAN trained on the same data, and ours; plus mouth-region
#   scores, where the lip loss acts.
# - **The causal knob** of the synthetic world: with the voice decoupled from identity or the audio shuffled
#   between clips, the audio branch's advantage should vanish.
# - **Loss-weight sensitivity**: the paper gives no alpha, beta, gamma; we use the released code's and scale them.
#
# Cost: on the CPU presets the lip term (released weight 1e-4, so a tiny part of the loss) doubles the cost of a
# step, so outside Table 2 the ablations train without it (`vfhgan_ablation_lip`; on in the gpu/paper presets), and
# the secondary experiments use `vfhgan_ablation_seeds` seeds. Table 2 rows (c) and (d) always have it.
#
# Every claim of the paper is scored (`claim_verdict`: paired t-test over seeds) as reproduced, not reproduced or
# inconclusive. The numbers are the paper's (LRW/LRS2, 128x128, long training) beside ours (synthetic, small, short
# training on a CPU): compare the *direction and significance* of each effect, not the absolute values.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world
vfhgan_ablation_steps: int | None = None  # >= 1
n_seeds: int | None = None  # >= 1
show_widgets: bool | None = None  # None: the preset's value

# %%
import math
import time

import matplotlib.pyplot as plt

from avfh_core.config import preset_values, setup
from avfh_core.data.batching import spread_indices
from avfh_core.reproduce.audit import audit_claims, audit_controls, verdict_counts
from avfh_core.reproduce.results import Results
from avfh_core.reproduce.tables import beside_paper, load_tables
from avfh_core.train import vfhgan
from avfh_core.train.evaluate import audio_use, predict_all
from avfh_core.train.experiment import cached_run, means, run_rows, seeds
from avfh_core.viz import save_figure

steps = vfhgan_ablation_steps or preset_values(preset)["vfhgan_ablation_steps"]
cfg = setup(preset, seed=seed, device=device, data_root=data_root, steps=steps, n_seeds=n_seeds)
res = Results("vfhgan/06_ablations", cfg)
paper = load_tables("vfhgan")  # the paper's tables and claims (avfh_core/reproduce/tables/vfhgan.yaml)
print(f"preset={cfg.preset} device={cfg.device}: {cfg.steps} steps per run, seeds {seeds(cfg)}, "
      f"{cfg.hr_size // cfg.scale} -> {cfg.hr_size} px, {cfg.vfhgan_eval_windows} held-out windows per score")
base = vfhgan.ablation_weights(cfg)
n2 = cfg.vfhgan_ablation_seeds
print(f"main comparisons (Tables 1, 3): {cfg.n_seeds} seeds; Table 2, backbone, causal knob: {n2} seeds")
print("loss weights outside Table 2:", "released (all terms)" if base is None else f"released with {base}")
t_start = time.perf_counter()
METRICS = ("psnr", "ssim", "erqa")


def show_table(name, ours_means, metrics=METRICS, extra=()):
    """Our means beside the paper's numbers for the rows we ran."""
    rows = beside_paper(paper, name, ours_means, metrics)
    head = f"{'row':34s}" + "".join(f"{'paper ' + m:>12s}{'ours ' + m:>12s}" for m in metrics)
    head += "".join(f"{'ours ' + m:>17s}" for m in extra)
    print(head)
    for r in rows:
        line = f"{r['label'][:34]:34s}"
        for m in metrics:
            p = r[f"paper_{m}"]
            line += f"{p:12.3f}" if p is not None else f"{'-':>12s}"
            line += f"{r[f'ours_{m}']:12.3f}"
        line += "".join(f"{ours_means[r['row']].get(m, math.nan):17.3f}" for m in extra)
        print(line)


# %% [markdown]
# ## Table 1: the audio branch and the attention

# %%
t1 = run_rows(vfhgan, vfhgan.table1(cfg), cfg)
res.log("table1", means(t1))
res.log("table1_seeds", t1)
show_table("table1", means(t1))

# %% [markdown]
# ## Table 2: the loss combinations

# %%
t2 = run_rows(vfhgan, vfhgan.table2(cfg), cfg, n_seeds=n2)
res.log("table2", means(t2))
res.log("table2_seeds", t2)
show_table("table2", means(t2), extra=("mouth_psnr",))

# %% [markdown]
# ## The backbone: mixnet (Fig. 4) vs PHFE-B
# The paper reports this ablation only as images (Fig. 5: the mixnet backbone gives colour/texture problems).

# %%
tb = run_rows(vfhgan, vfhgan.backbone(cfg), cfg, n_seeds=n2)
res.log("backbone", means(tb))
res.log("backbone_seeds", tb)
show_table("backbone", means(tb))

# %% [markdown]
# ## Table 3: against bicubic and a single-frame SRResNet / SRGAN trained on the same data
# Our SRResNet has the same global bicubic skip as our generator (so the comparison is between architectures);
# "srgan" is the same network trained with the adversarial term too. Mouth-region PSNR/SSIM are computed inside the
# mouth box of the centre frame.

# %%
t3 = run_rows(vfhgan, vfhgan.table3(cfg), cfg)
res.log("table3", means(t3))
res.log("table3_seeds", t3)
show_table("table3", means(t3), extra=("mouth_psnr", "mouth_ssim"))

# %% [markdown]
# ## The causal knob: is the audio advantage there for the right reason?
# In each world we train the full model and the same model without its audio branch (CMFE-B keeps the neighbouring
# frames). *intact*: the voice carries the speaker's traits and is in sync with the lips. *no_coupling*: a random
# voice per clip (sync kept). *shuffled*: the audio of another clip (no sync, no identity).

# %%
tc = run_rows(vfhgan, vfhgan.causal(cfg), cfg, n_seeds=n2)
res.log("causal", means(tc))
res.log("causal_seeds", tc)
adv = {}
for world in ("intact", "no_coupling", "shuffled"):
    a, b = tc[f"{world}/audio"], tc[f"{world}/no_audio"]
    adv[world] = {m: [x - y for x, y in zip(a[m], b[m])] for m in ("psnr", "ssim", "mouth_psnr")}
    print(f"{world:12s} audio advantage: " + "  ".join(
        f"{m} {sum(v) / len(v):+.3f}" for m, v in adv[world].items()))
res.log("causal_audio_advantage_seeds", adv)
res.log("causal_audio_advantage", {w: {m: sum(v) / len(v) for m, v in d.items()} for w, d in adv.items()})

# %% [markdown]
# ## Loss-weight sensitivity (one seed)
# The released weights make the lip and frequency terms tiny next to pixel and perceptual (1e-4 each). Here each of
# lip, frequency and adversarial is scaled by 0, 1 and 100 (the others as in the ablations above).

# %%
sens = {}
for term in ("lip", "frequency", "adversarial"):
    sens.update(run_rows(vfhgan, vfhgan.weight_sensitivity(cfg, term, (0.0, 1.0, 100.0)), cfg, n_seeds=1))
sens_means = means(sens)
for name, m in sens_means.items():
    print(f"{name:16s} psnr {m['psnr']:.3f}  ssim {m['ssim']:.3f}  erqa {m['erqa']:.3f}  mouth_psnr {m['mouth_psnr']:.3f}")
res.log("weight_sensitivity", sens_means)

# %% [markdown]
# ## Every claim, scored
# `claim_verdict` compares the per-seed scores of the two rows with a paired t-test; a claim is *reproduced* when
# the 95% interval of the effect excludes zero with the paper's sign, *not reproduced* when it excludes zero with
# the opposite sign (or, with 3+ seeds, rules out half the published effect), otherwise *inconclusive* (always with
# a single seed). Table 3's rows map as: paper SRGAN -> our SRGAN baseline. The claims are scored by the same
# function as the report's (`audit_claims`), from the per-seed tables this notebook has logged.

# %%
# Positive controls (planted effects the audit must detect) and audio use at evaluation time, then every claim.
ctl_rows = vfhgan.positive_controls(cfg)
res.log("controls", means(ctl_rows))
res.log("controls_seeds", ctl_rows)
audio_run = vfhgan.table1(cfg)["audio_attention"]
au_data, au_idx = vfhgan.eval_set(audio_run, cfg)
au = [audio_use(vfhgan.predict, vfhgan.score, cached_run(vfhgan, audio_run, cfg, s)[1].models, au_data, au_idx, cfg,
                seed=s) for s in seeds(cfg)]
res.log("audio_use_seeds", {c: {m: [a[c][m] for a in au] for m in au[0][c]} for c in au[0]})
for c in au[0]:
    print(f"audio {c:9s} PSNR {sum(a[c]['psnr'] for a in au) / len(au):.3f}  "
          f"mouth PSNR {sum(a[c]['mouth_psnr'] for a in au) / len(au):.3f}  (audio_attention, {len(au)} seeds)")

controls = audit_controls(paper, [res.data])
for k in controls:
    planted = "sign only" if k["planted_effect"] is None else f"{k['planted_effect']:+.3f}"
    if k["verdict"] == "not run":
        print(f"control {k['id']:32s} not run")
        continue
    print(f"control {k['id']:32s} {'detected' if k['detected'] else 'NOT detected':12s} ours {k['effect']:+.3f} "
          f"[{k['ci_low']:+.3f}, {k['ci_high']:+.3f}] n={k['n']} MDE {k['mde']:.3f}  planted {planted}")
claims = audit_claims(paper, [res.data], controls=controls)
for c in claims:
    if c["verdict"] == "not run":
        print(f"{c['id']:26s} not run ({c['a']} or {c['b']} not in our table)")
        continue
    flag = "" if c["refutable"] else "  (|paper|/2 < MDE: not refutable at this n)"
    print(f"{c['id']:26s} {c['verdict']:15s} ours {c['effect']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] "
          f"p={c['p_value']:.3f} n={c['n']} MDE {c['mde']:.3f}   paper {c['published_effect']:+.3f}{flag}"
          + (f"  [{c['void']}]" if c.get("void") else ""))
res.log("controls_audit", controls)
res.log("claims", claims)
counts = verdict_counts(claims)
print(counts)
res.log("claim_counts", counts)

# %% [markdown]
# ## The numbers as a figure

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
for ax, (name, table) in zip(axes, (("Table 1", t1), ("Table 2", t2), ("Table 3", t3))):
    rows = list(table)
    for k, row in enumerate(rows):
        vals = table[row]["psnr"]
        ax.scatter([k] * len(vals), vals, color="C0", alpha=0.6)
        ax.scatter([k], [sum(vals) / len(vals)], color="C3", marker="_", s=400)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(rows, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("held-out PSNR Y (dB)")
    ax.set_title(f"{name} (ours; dots = seeds)")
save_figure(fig, "vfhgan", "06_ablation_psnr")

# %% [markdown]
# ## Flip the switches: compare outputs
# Pick two rows of any experiment and a test window: the panel shows both outputs, the ground truth and their
# scores (move a control to draw). The default comparison is drawn once as a figure, so a headless run shows it.

# %%
ALL_RUNS = {f"{short}/{row}": run for short, table in (("t1", "table1"), ("t2", "table2"), ("backbone", "backbone"),
                                                        ("t3", "table3")) for row, run in vfhgan.TABLES[table](cfg).items()}
test_data = vfhgan.window_data(cfg, "test")
probe = spread_indices(test_data, 8)


def compare(row_a: str, row_b: str, window: int = 0):
    """Outputs of two trained rows (first seed) on one held-out window, beside the ground truth."""
    idx = [probe[window % len(probe)]]
    outs = {}
    for row in (row_a, row_b):
        scores, trained = cached_run(vfhgan, ALL_RUNS[row], cfg, cfg.seed)
        sr, batch = predict_all(vfhgan.predict, trained.models, test_data, idx, cfg.device)
        outs[row] = (sr[0], scores)
    hr = batch["hr"][:, cfg.window]
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    for ax, (title, img) in zip(axes, [(f"{row_a}\nPSNR {outs[row_a][1]['psnr']:.2f}", outs[row_a][0]),
                                        (f"{row_b}\nPSNR {outs[row_b][1]['psnr']:.2f}", outs[row_b][0]), ("HR", hr[0])]):
        ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return fig


fig = compare("t1/no_audio", "t1/audio_attention", 0)
save_figure(fig, "vfhgan", "06_compare_default")

# %% tags=["nbval-ignore-output"]
use_widgets = cfg.widgets if show_widgets is None else show_widgets
if use_widgets:
    import ipywidgets as W
    from IPython.display import display

    a = W.Dropdown(options=list(ALL_RUNS), value="t1/no_audio", description="row A")
    b = W.Dropdown(options=list(ALL_RUNS), value="t1/audio_attention", description="row B")
    k = W.IntSlider(min=0, max=len(probe) - 1, value=0, description="window")
    out = W.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            f = compare(a.value, b.value, k.value)
            plt.show(f)

    for w in (a, b, k):
        w.observe(redraw, names="value")
    # drawn on the first change only: headless runners (nbclient) can hang on output captured into a widget
    display(W.VBox([W.HBox([a, b, k]), out]))
else:
    print("widgets off (smoke preset or show_widgets=False): the default comparison is drawn above")

# %%
total = time.perf_counter() - t_start
res.log("seconds_total", total)
print(f"all experiments: {total / 60:.1f} min on {cfg.device}")

# %% [markdown]
# ## What the committed course run found
# The numbers are the printed tables and the claims audit above; every network starts from its own random stream
# (seed, name), so the rows of a table differ only by what the row changes.
# - **Most claims are inconclusive, a few are not reproduced, one (VFH-GAN's SSIM over our SRGAN baseline) is
#   reproduced.** Not reproduced: every trained model is *below* bicubic in PSNR and SSIM, though above it in ERQA;
#   and SRGAN does not beat VFH-GAN in PSNR here.
# - Differences between ablation rows are a fraction of a dB, with a seed-to-seed spread several times larger: the
#   audio branch, the lip-reading term and the weighted frequency term each give far less than the paper's gain,
#   and none can be told from noise at these seeds.
# - The causal knob: the audio branch's small advantage is about the same with the voice decoupled from identity
#   and with shuffled audio, so it is not the audio's content: at this budget the generator does not use the audio.
# - With the released weights the lip and frequency terms are negligible (1e-4); scaling a weight x100 moves PSNR
#   by less than the seed spread in this one-seed check.
# Longer training (the gpu preset), a scale-free perceptual term and zero-initialised residual heads are what these
# effects need next (see notebook 05); the numbers above are what a laptop gets.
