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
# # The ablation dashboard
#
# Two kinds of panel, both thin views over pure functions of `avfh_core` (`avfh_core.viz.panels`):
#
# * a **live** panel: the weighted Fourier loss of VFH-GAN (section 3.2.2, eqs. 9-10) computed on a real photo as
#   you move `alpha`. The weight matrix $m(u, v) = (|F - F^*| / \max)^\alpha$ decides which frequencies the loss
#   pushes on; at $\alpha = 0$ every frequency weighs 1 and the loss is the pixel MSE (Parseval);
# * **ablation** panels, one per table of the paper named by `paper` (its `avfh_core/reproduce/tables/<paper>.yaml`):
#   pick a row, or tick the components / loss terms that define the rows (`components` in the YAML), and compare
#   with another row: the outputs on the same clip, their spectra and mouth crops when the run saved them, and
#   always the numbers, the paper's beside ours over seeds from the newest `avfh reproduce` run of that paper.
#
# `avfh dashboard` serves this notebook with Voila on 127.0.0.1. Run headless (papermill, CI) the panels take their
# non-interactive path and draw static figures.

# %% tags=["parameters"]
preset: str = "course"  # smoke | course | gpu | paper
seed: int = 0  # >= 0
device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
data_root: str | None = None  # a folder holding the real dataset; None: the synthetic world
run_dir: str | None = None  # a run folder written by `avfh reproduce`; None: the newest
paper: str = "vfhgan"  # a paper with tables in avfh_core/reproduce/tables/<paper>.yaml

# %%
import os

from avfh_core.config import setup
from avfh_core.reproduce.results import Results
from avfh_core.reproduce.tables import load_tables
from avfh_core.viz import load_photo, save_figure
from avfh_core.viz.dashboard import ablation_inputs, find_latest_run
from avfh_core.viz.panels import AblationPanel, FourierWeightPanel, bicubic_reconstruction, fourier_weight_view

cfg = setup(preset, seed=seed, device=device, data_root=data_root)
res = Results("common/03_dashboard", cfg)
interactive = bool(cfg.widgets)
tables = load_tables(paper)  # the paper's tables and claims; a clear error names the file when there is none
run_dir = run_dir or os.environ.get("AVFH_DASHBOARD_RUN_DIR") or find_latest_run(paper)
print(f"preset={cfg.preset} interactive={interactive} paper={paper}: tables {list(tables.tables)}")

# %% [markdown]
# ## Live: the weight matrix of the weighted Fourier loss
# The photo is the face crop of scikit-image's `astronaut` (NASA, public domain). The "generated" image is its
# bicubic reconstruction from x4 (or x2, x8) downsampling, the no-network baseline. The weight goes where the
# spectral error is largest, and `alpha` sharpens it: at $\alpha = 0$ all frequencies weigh 1; as `alpha` grows
# the mean weight collapses and what is left sits on a ring around the low-resolution Nyquist frequency
# ($0.5/\text{scale}$ cycles per pixel), where the anti-aliasing and the interpolation err most. The very highest
# frequencies get almost no weight: a photo has little energy there, so even a blurry reconstruction is not far off.

# %% tags=["nbval-ignore-output"]
fourier = FourierWeightPanel(alpha=1.0, size=96)
state = fourier.show(interactive)
save_figure(fourier.figure(), "common", "dashboard_fourier", show=False)

# %% [markdown]
# The same computation without widgets, for a few values of `alpha` (this cell does not depend on the preset):

# %% tags=["nbval-check-output"]
hr, _ = load_photo(64)
pred = bicubic_reconstruction(hr, 4)
sweep = {}
print(f"{'alpha':>6s} {'loss':>10s} {'mean weight':>12s} {'peak (cyc/px)':>14s} {'share > 0.125':>14s}")
for a in (0.0, 0.5, 1.0, 2.0, 3.0):
    v = fourier_weight_view(hr, pred, alpha=a, cutoff=0.125)
    sweep[a] = {k: v[k] for k in ("loss", "mean_weight", "peak_frequency", "high_share")}
    peak = "flat" if v["peak_frequency"] is None else f"{v['peak_frequency']:.3f}"
    print(f"{a:6.1f} {v['loss']:10.2e} {v['mean_weight']:12.3f} {peak:>14s} {v['high_share']:14.3f}")
assert abs(sweep[0.0]["loss"] - v["mse"]) < 1e-6  # alpha = 0: the pixel MSE (Parseval)
assert sweep[3.0]["mean_weight"] < sweep[1.0]["mean_weight"] < sweep[0.0]["mean_weight"]
_ = res.log("fourier_alpha_sweep", {str(a): v for a, v in sweep.items()})  # (not displayed: full-precision floats differ by CPU)

# %% [markdown]
# ## The paper's tables, from the sweep results
# One panel per table of the paper. For VFH-GAN, Table 1 toggles the audio branch (CMFE-B) and the axial
# attention; Table 2 toggles the loss terms. Each panel opens on the rows of the table's first claim. Our numbers
# come from the sidecars of the newest run under `runs/` that ran the paper's notebooks (`avfh reproduce --paper
# <paper> --sweep ...`); rows no run produced say "not run". Output images appear when the run saved them
# (`avfh_core.viz.panels.save_panel_outputs`).

# %% tags=["nbval-ignore-output"]
import ipywidgets as widgets
from IPython.display import display

panels = {}
for table, t in tables.tables.items():
    claims = [c for c in tables.claims if c.table == table]
    selected, compare = (claims[0].b, claims[0].a) if claims else (list(t.rows)[-1], list(t.rows)[0])
    sidecars, outputs, reference = ablation_inputs(run_dir, paper, table)
    panels[table] = AblationPanel.from_results(tables, table, sidecars, outputs=outputs, reference=reference,
                                               row_components=t.row_components(), selected=selected, compare=compare)
print(f"sweep results from: {run_dir or 'no run found (published numbers only)'}")
if interactive:
    tabs = widgets.Tab(children=[p.widget for p in panels.values()])
    for i, table in enumerate(panels):
        tabs.set_title(i, table)
    display(tabs)
else:
    for p in panels.values():
        p.show(interactive=False)

# %%
n_ours = {t: sum(bool(r.ours) for r in p.rows.values()) for t, p in panels.items()}
res.log("ablation_rows_with_results", n_ours)
res.log("fourier_state", {k: v for k, v in state.items() if isinstance(v, int | float)})
print("rows with our results:", n_ours)
