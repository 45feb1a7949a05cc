"""Interactive panels (ipywidgets) over pure functions of the core, each with a non-interactive default path.

- `FourierWeightPanel` (live): VFH-GAN section 3.2.2, eqs. 9-10. The weighted Fourier loss's weight matrix
  m(u, v) = (|F - F*| / max)^alpha between a real photo and its bicubic x`scale` reconstruction, recomputed as
  alpha (and log_matrix, scale) move, with the loss value and how much of the weight sits at high frequencies.
- `AblationPanel` (generic, one per paper table): pick a table row (or toggle the components / loss terms that
  define the rows) and see, beside a comparison row and the ground truth, the outputs on the same clips, their
  spectra and mouth crops, and the numbers: the paper's and ours over seeds from the sweep results (sidecars).

Every panel computes through `*_view` functions (pure: arrays in, arrays and numbers out) that tests call
directly. `panel.widget` is the ipywidgets UI; `panel.figure()` is the same view as a static matplotlib figure (the
path papermill and CI take); `panel.show(interactive)` picks one.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from avfh_core.losses.frequency import FocalFrequencyLoss
from avfh_core.viz.photos import load_photo

# ----------------------------------------------------------------------------------------------- pure functions


def bicubic_reconstruction(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic down by `scale` then back up: the output of the no-network baseline on the same image."""
    if hr.ndim != 3 or hr.shape[0] != 3:
        raise ValueError(f"hr must be [3, H, W], got {tuple(hr.shape)}")
    if scale not in (2, 4, 8) or hr.shape[-1] % scale or hr.shape[-2] % scale:
        raise ValueError(f"scale must be 2, 4 or 8 and divide the image size {tuple(hr.shape[-2:])}, got {scale}")
    lr = F.interpolate(hr[None], scale_factor=1 / scale, mode="bicubic", align_corners=False, antialias=True)
    return F.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=False)[0].clamp(0, 1)


def log_spectrum(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """log(1 + |F|) of the luminance, zero frequency centred: [H, W]."""
    t = torch.as_tensor(np.asarray(img), dtype=torch.float64)
    if t.ndim == 3:
        t = t.mean(0) if t.shape[0] in (1, 3) else t.mean(-1)
    return torch.log1p(torch.fft.fftshift(torch.fft.fft2(t, norm="ortho")).abs()).numpy()


def high_frequency_share(weight: np.ndarray, cutoff: float = 0.125) -> float:
    """Fraction of the total weight at radial frequency above `cutoff` cycles/pixel (centred [H, W] map).

    With cutoff = 0.5 / scale this is the weight on frequencies the low-resolution input cannot hold at all."""
    h, w = weight.shape
    fy = np.fft.fftshift(np.fft.fftfreq(h))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(w))[None, :]
    r = np.sqrt(fx**2 + fy**2)
    total = float(weight.sum())
    return float(weight[r > cutoff].sum() / total) if total > 0 else 0.0


def radial_profile(weight: np.ndarray, n_bands: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """Mean of a centred [H, W] map in rings of radial frequency: (band centres in cycles/pixel, means)."""
    h, w = weight.shape
    fy = np.fft.fftshift(np.fft.fftfreq(h))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(w))[None, :]
    r = np.sqrt(fx**2 + fy**2)
    edges = np.linspace(0, r.max() + 1e-9, n_bands + 1)
    band = np.clip(np.digitize(r, edges) - 1, 0, n_bands - 1)
    sums = np.bincount(band.ravel(), weights=weight.ravel(), minlength=n_bands)
    counts = np.bincount(band.ravel(), minlength=n_bands)
    return (edges[:-1] + edges[1:]) / 2, sums / np.maximum(counts, 1)


def fourier_weight_view(hr: torch.Tensor, pred: torch.Tensor, alpha: float = 1.0,
                        log_matrix: bool = False, cutoff: float = 0.125) -> dict[str, Any]:
    """VFH-GAN eqs. 9-10 on one image pair: the weight matrix m(u, v) (channel mean, centred), the weighted loss,
    the pixel MSE (= the loss at alpha = 0, Parseval), the mean weight, and the share of the weight above `cutoff`
    cycles/pixel (0.125: the Nyquist frequency of a x4 low-resolution input)."""
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    loss = FocalFrequencyLoss(alpha=alpha, log_matrix=log_matrix)
    p, t = pred[None].float(), hr[None].float()
    pf, tf = loss.spectrum(p), loss.spectrum(t)
    weight = loss.weight_matrix(pf, tf)[0, 0].mean(0)  # [H, W]
    centred = torch.fft.fftshift(weight).numpy()
    centres, profile = radial_profile(centred)
    return {
        "alpha": float(alpha),
        "log_matrix": bool(log_matrix),
        "weight": centred,
        "loss": float(loss(p, t)),
        "mse": float(F.mse_loss(p, t)),
        "mean_weight": float(weight.mean()),
        "high_share": high_frequency_share(centred, cutoff),
        "peak_frequency": float(centres[np.argmax(profile)]) if np.ptp(profile) > 1e-6 else None,  # None: flat
        "cutoff": float(cutoff),
    }


def mouth_crop(img: np.ndarray | torch.Tensor, box: Sequence[float]) -> np.ndarray:
    """Crop [3, H, W] (or [H, W, 3]) to a fractional box (top, bottom, left, right) in [0, 1]: [h, w, 3]."""
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.ndim != 3:
        raise ValueError(f"image must be [3, H, W] or [H, W, 3], got shape {a.shape}")
    top, bottom, left, right = box
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise ValueError(f"box must be fractions (top, bottom, left, right) with top<bottom, left<right, got {box}")
    h, w = a.shape[:2]
    return a[int(top * h):max(int(top * h) + 1, int(round(bottom * h))),
             int(left * w):max(int(left * w) + 1, int(round(right * w)))]


def _hwc(img: Any) -> np.ndarray:
    a = np.asarray(img.detach().cpu() if isinstance(img, torch.Tensor) else img, dtype=np.float32)
    if a.ndim == 4:  # a clip [T, 3, H, W]: its middle frame
        a = a[a.shape[0] // 2]
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    return np.clip(a, 0, 1)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _widgets():
    try:
        import ipywidgets
    except ImportError as e:  # pragma: no cover - ipywidgets is a core dependency
        raise ImportError("panels need ipywidgets (pip install ipywidgets)") from e
    return ipywidgets


class _Panel:
    """What every panel shares: `show(interactive)` displays the widget, or draws the static figure (the path
    papermill and CI take) and returns the panel's state."""

    widget: Any
    state: dict[str, Any]

    def figure(self):  # pragma: no cover - every panel defines it
        raise NotImplementedError

    def show(self, interactive: bool = True):
        from IPython.display import display

        if interactive:
            display(self.widget)
        else:
            import matplotlib.pyplot as plt

            self.figure()
            plt.show()
        return self.state


# -------------------------------------------------------------------------------------------- the live panel


class FourierWeightPanel(_Panel):
    """Live: the weighted Fourier loss's weight matrix (VFH-GAN eq. 9) on a real photo as alpha moves.

    >>> panel = FourierWeightPanel(alpha=1.0)
    >>> panel.alpha.value = 2.0          # the view and the numbers update
    >>> panel.state["high_share"]
    """

    def __init__(self, image: torch.Tensor | None = None, *, alpha: float = 1.0, scale: int = 4,
                 log_matrix: bool = False, size: int = 96):
        self.hr = load_photo(size)[0] if image is None else torch.as_tensor(image, dtype=torch.float32)
        if self.hr.ndim != 3 or self.hr.shape[0] != 3:
            raise ValueError(f"image must be [3, H, W], got {tuple(self.hr.shape)}")
        w = _widgets()
        self.alpha = w.FloatSlider(value=alpha, min=0.0, max=3.0, step=0.1, description="alpha",
                                   continuous_update=False, readout_format=".1f")
        self.log_matrix = w.Checkbox(value=log_matrix, description="log(1 + w)")
        self.scale = w.Dropdown(options=[2, 4, 8], value=scale, description="scale x")
        self.image = w.Image(format="png")
        self.readout = w.HTML()
        self.readout.add_class("avfh-readout")
        for control in (self.alpha, self.log_matrix, self.scale):
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.alpha, self.log_matrix, self.scale]), self.image, self.readout])
        self.state: dict[str, Any] = {}
        self.update()

    def compute(self) -> dict[str, Any]:
        pred = bicubic_reconstruction(self.hr, int(self.scale.value))
        view = fourier_weight_view(self.hr, pred, float(self.alpha.value), bool(self.log_matrix.value),
                                   cutoff=0.5 / int(self.scale.value))
        view["pred"] = pred
        view["scale"] = int(self.scale.value)
        return view

    def figure(self, view: Mapping[str, Any] | None = None):
        import matplotlib.pyplot as plt

        v = view or self.compute()
        fig, axes = plt.subplots(1, 4, figsize=(11, 2.9))
        axes[0].imshow(_hwc(self.hr))
        axes[0].set_title("photo (HR)")
        axes[1].imshow(_hwc(v["pred"]))
        axes[1].set_title(f"bicubic x{v['scale']}")
        axes[2].imshow(log_spectrum(self.hr) - log_spectrum(v["pred"]), cmap="magma")
        axes[2].set_title("log|F| lost (centred)")
        im = axes[3].imshow(v["weight"], cmap="viridis", vmin=0, vmax=1)
        axes[3].set_title(f"weight m(u,v), alpha={v['alpha']:.1f}")
        fig.colorbar(im, ax=axes[3], fraction=0.046)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        return fig

    def update(self) -> dict[str, Any]:
        view = self.compute()
        self.image.value = _png(self.figure(view))
        self.state = {k: view[k] for k in ("alpha", "log_matrix", "scale", "loss", "mse", "mean_weight", "high_share",
                                           "peak_frequency")}
        s = self.state
        self.readout.value = (f"<span class='avfh-value'>alpha={s['alpha']:.1f} · loss={s['loss']:.3e} · "
                              f"pixel MSE={s['mse']:.3e} · mean weight={s['mean_weight']:.3f} · "
                              f"weight peak at {_fmt(s['peak_frequency'])} cycles/px · share above the LR Nyquist="
                              f"{s['high_share']:.3f}</span>")
        return self.state


# --------------------------------------------------------------------------------------- the ablation panel


@dataclass
class AblationRow:
    """One row of a paper table: its label, published numbers, our per-seed values, output image, components."""

    label: str
    published: dict[str, float] = field(default_factory=dict)
    ours: dict[str, list[float]] = field(default_factory=dict)
    output: Any = None  # [3, H, W] (or a clip [T, 3, H, W]) on the panel's clip, or None
    components: frozenset[str] = frozenset()


def ablation_view(rows: Mapping[str, AblationRow], selected: str, compare: str, metrics: Sequence[str],
                  reference: Any = None, mouth_box: Sequence[float] = (0.62, 0.9, 0.28, 0.72)) -> dict[str, Any]:
    """The numbers and images the AblationPanel shows for `selected` vs `compare` (pure)."""
    for name, key in (("selected", selected), ("compare", compare)):
        if key not in rows:
            raise KeyError(f"{name} row {key!r} is not a row of this table; rows: {list(rows)}")
    table = []
    for m in metrics:
        line = {"metric": m}
        for side, key in (("selected", selected), ("compare", compare)):
            vals = rows[key].ours.get(m, [])
            mean = float(np.mean(vals)) if vals else None
            sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
            line[side] = {"paper": rows[key].published.get(m), "ours": mean, "sd": sd, "n": len(vals)}
        a, b = line["compare"]["ours"], line["selected"]["ours"]
        pa, pb = line["compare"]["paper"], line["selected"]["paper"]
        line["ours_delta"] = None if a is None or b is None else b - a
        line["paper_delta"] = None if pa is None or pb is None else pb - pa
        table.append(line)
    images = {}
    for side, key in (("selected", selected), ("compare", compare)):
        if rows[key].output is not None:
            images[side] = _hwc(rows[key].output)
    if reference is not None:
        images["reference"] = _hwc(reference)
    spectra = {k: log_spectrum(v.transpose(2, 0, 1)) for k, v in images.items()}
    mouths = {k: mouth_crop(v, mouth_box) for k, v in images.items()}
    return {"selected": selected, "compare": compare, "table": table, "images": images, "spectra": spectra,
            "mouths": mouths}


def _fmt(v: float | None, digits: int = 3) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


class AblationPanel:
    """Generic ablation panel for one paper table: pick a row (or toggle components), compare with another.

    rows: {row_key: AblationRow}. With `components` (names of the switchable parts, e.g. ["audio", "attention"]) a
    checkbox per component selects the row whose `components` set matches the ticked boxes.
    """

    def __init__(self, rows: Mapping[str, AblationRow], metrics: Sequence[str], *, reference: Any = None,
                 components: Sequence[str] = (), mouth_box: Sequence[float] = (0.62, 0.9, 0.28, 0.72),
                 title: str = "", selected: str | None = None, compare: str | None = None):
        if not rows:
            raise ValueError("rows is empty: an ablation panel needs at least one table row")
        self.rows, self.metrics, self.reference = dict(rows), list(metrics), reference
        self.mouth_box, self.title = tuple(mouth_box), title
        keys = list(self.rows)
        w = _widgets()
        options = [(r.label, k) for k, r in self.rows.items()]
        self.row = w.Dropdown(options=options, value=selected or keys[-1], description="row")
        self.compare = w.Dropdown(options=options, value=compare or keys[0], description="compare with")
        self.toggles = {c: w.Checkbox(value=c in self.rows[self.row.value].components, description=c)
                        for c in components}
        self.image = w.Image(format="png")
        self.numbers = w.HTML()
        self.numbers.add_class("avfh-readout")
        self.message = w.HTML()
        self._syncing = False
        self.row.observe(self._on_row, names="value")
        self.compare.observe(lambda _c: self.update(), names="value")
        for box in self.toggles.values():
            box.observe(self._on_toggle, names="value")
        controls = [w.HBox([self.row, self.compare])]
        if self.toggles:
            controls.append(w.HBox(list(self.toggles.values())))
        self.widget = w.VBox([*controls, self.message, self.numbers, self.image])
        self.state: dict[str, Any] = {}
        self.update()

    @classmethod
    def from_results(cls, paper, table: str, sidecars: Sequence[Mapping[str, Any]] = (),
                     outputs: Mapping[str, Any] | None = None,
                     row_components: Mapping[str, Sequence[str]] | None = None, **kwargs) -> AblationPanel:
        """Rows of `paper.tables[table]` (a `tables.PaperTables`) with our per-seed values from sidecars.

        row_components: {row: [component, ...]} (e.g. the loss terms each row of a loss ablation uses) gives the
        panel one checkbox per component."""
        from avfh_core.reproduce.audit import collect_table

        if table not in paper.tables:
            raise KeyError(f"{paper.paper} has no table {table!r}; tables: {list(paper.tables)}")
        t = paper.tables[table]
        ours = collect_table(sidecars, table)
        outputs = dict(outputs or {})
        rows = {}
        for key in [*t.rows, *sorted(set(ours) - set(t.rows))]:
            rows[key] = AblationRow(
                label=t.label(key) if key in t.rows else f"{key} (ours only)",
                published={m: t.published(key, m) for m in t.metrics if t.published(key, m) is not None},
                ours={m: list(v.values()) for m, v in ours.get(key, {}).items()},
                output=outputs.get(key), components=frozenset((row_components or {}).get(key, ())))
        kwargs.setdefault("title", f"{paper.paper} {table}: {t.caption}")
        if row_components:
            kwargs.setdefault("components", sorted({c for cs in row_components.values() for c in cs}))
        return cls(rows, t.metrics, **kwargs)

    def _on_row(self, _change) -> None:
        if not self._syncing:
            self._syncing = True
            for c, box in self.toggles.items():
                box.value = c in self.rows[self.row.value].components
            self._syncing = False
        self.update()

    def _on_toggle(self, _change) -> None:
        if self._syncing:
            return
        ticked = frozenset(c for c, box in self.toggles.items() if box.value)
        match = [k for k, r in self.rows.items() if r.components == ticked]
        if match:
            self._syncing = True
            self.row.value = match[0]
            self._syncing = False
            self.message.value = ""
        else:
            self.message.value = f"<i>no row of this table has exactly {sorted(ticked) or 'no components'}</i>"
        self.state["matched"] = bool(match)

    def compute(self) -> dict[str, Any]:
        return ablation_view(self.rows, self.row.value, self.compare.value, self.metrics, self.reference,
                             self.mouth_box)

    def numbers_html(self, view: Mapping[str, Any]) -> str:
        sel, cmp_ = self.rows[view["selected"]].label, self.rows[view["compare"]].label
        head = (f"<table class='avfh-numbers'><tr><th>metric</th><th>{cmp_} paper</th><th>{cmp_} ours</th>"
                f"<th>{sel} paper</th><th>{sel} ours</th><th>Δ paper</th><th>Δ ours</th></tr>")
        body = ""
        for line in view["table"]:
            c, s = line["compare"], line["selected"]

            def ours(d):
                if d["ours"] is None:
                    return "not run"
                return _fmt(d["ours"]) + (f" ± {_fmt(d['sd'])}" if d["sd"] is not None else "") + f" (n={d['n']})"

            body += (f"<tr><td>{line['metric']}</td><td>{_fmt(c['paper'])}</td><td>{ours(c)}</td>"
                     f"<td>{_fmt(s['paper'])}</td><td>{ours(s)}</td><td>{_fmt(line['paper_delta'])}</td>"
                     f"<td>{_fmt(line['ours_delta'])}</td></tr>")
        return head + body + "</table>"

    def figure(self, view: Mapping[str, Any] | None = None):
        import matplotlib.pyplot as plt

        v = view or self.compute()
        names = [k for k in ("compare", "selected", "reference") if k in v["images"]]
        if not names:  # no outputs saved: the numbers as bars, ours beside the paper's
            fig, axes = plt.subplots(1, len(self.metrics), figsize=(3.2 * len(self.metrics), 2.6), squeeze=False)
            for ax, line in zip(axes[0], v["table"]):
                labels, vals, colours = [], [], []
                for side in ("compare", "selected"):
                    for who in ("paper", "ours"):
                        labels.append(f"{self.rows[v[side]].label[:14]}\n{who}")
                        vals.append(line[side][who] if line[side][who] is not None else 0.0)
                        colours.append("tab:grey" if who == "paper" else "tab:blue")
                ax.bar(range(4), vals, color=colours)
                ax.set_xticks(range(4), labels, fontsize=6)
                ax.set_title(line["metric"])
            fig.suptitle(self.title[:110], fontsize=8)
            fig.tight_layout()
            return fig
        titles = {"compare": self.rows[v["compare"]].label, "selected": self.rows[v["selected"]].label,
                  "reference": "ground truth"}
        fig, axes = plt.subplots(3, len(names), figsize=(2.6 * len(names), 7.2), squeeze=False)
        for j, k in enumerate(names):
            axes[0, j].imshow(v["images"][k])
            axes[0, j].set_title(titles[k][:28], fontsize=8)
            axes[1, j].imshow(v["spectra"][k], cmap="magma")
            axes[1, j].set_title("log |F|", fontsize=8)
            axes[2, j].imshow(v["mouths"][k])
            axes[2, j].set_title("mouth", fontsize=8)
        for ax in axes.ravel():
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        return fig

    def update(self) -> dict[str, Any]:
        view = self.compute()
        self.numbers.value = self.numbers_html(view)
        self.image.value = _png(self.figure(view))
        self.state = {"selected": view["selected"], "compare": view["compare"], "table": view["table"],
                      "matched": self.state.get("matched", True)}
        return self.state

    def show(self, interactive: bool = True):
        from IPython.display import HTML, display

        if interactive:
            display(self.widget)
        else:
            import matplotlib.pyplot as plt

            display(HTML(self.numbers_html(self.compute())))
            self.figure()
            plt.show()
        return self.state


# ------------------------------------------------------------------------------------ the mixing grid panel


def mixing_grid_view(grid: Any, face: int, voice: int) -> dict[str, Any]:
    """What the MixingGridPanel shows for one cell (pure). grid [K, K, 3, H, W]: the output for the face (LR image)
    of item i with the voice of item j, so the diagonal is each face with its own voice. Returns the output, the
    same face's own-voice output, their absolute difference and its largest value in 8-bit grey levels (how much
    the voice changed the face), and the same for every cell (`change_levels` [K, K])."""
    g = torch.as_tensor(grid, dtype=torch.float32)
    if g.ndim != 5 or g.shape[0] != g.shape[1] or g.shape[2] != 3:
        raise ValueError(f"mixing_grid_view: grid must be [K, K, 3, H, W] (faces x voices), got {tuple(g.shape)}")
    k = g.shape[0]
    for name, v in (("face", face), ("voice", voice)):
        if not 0 <= int(v) < k:
            raise IndexError(f"mixing_grid_view: {name} {v} is not an item of the {k} x {k} grid")
    own = g[torch.arange(k), torch.arange(k)]  # [K, 3, H, W]
    change = (g - own[:, None]).abs()
    levels = change.flatten(2).amax(-1) * 255.0  # [K, K]
    return {"face": int(face), "voice": int(voice), "output": _hwc(g[face, voice]), "own": _hwc(own[face]),
            "difference": _hwc(change[face, voice]), "max_change_levels": float(levels[face, voice]),
            "change_levels": levels.numpy()}


class MixingGridPanel(_Panel):
    """Faces x voices (Fig. 10 of the ear paper, Table 3's mixing as pictures): the output for the LR image of item
    i and the voice of item j. The static figure is the whole grid (the voice owners' HR frames across the top,
    the LR faces down the side, each cell titled with how far its voice moved the face from its own-voice output,
    in 8-bit grey levels); the widget picks one cell and shows the LR face, the voice owner, the output and its
    difference from the own-voice output, amplified to be visible."""

    def __init__(self, grid: Any, faces_lr: Any, voices_hr: Any, *, labels: Sequence[str] | None = None,
                 title: str = ""):
        self.grid = torch.as_tensor(grid, dtype=torch.float32)
        mixing_grid_view(self.grid, 0, 0)  # validates the shape
        k = self.grid.shape[0]
        self.faces_lr, self.voices_hr = torch.as_tensor(faces_lr), torch.as_tensor(voices_hr)
        for name, t in (("faces_lr", self.faces_lr), ("voices_hr", self.voices_hr)):
            if t.ndim != 4 or t.shape[0] != k or t.shape[1] != 3:
                raise ValueError(f"MixingGridPanel: {name} must be [{k}, 3, h, w] (one image per grid item), "
                                 f"got {tuple(t.shape)}")
        self.labels = list(labels) if labels is not None else [f"item {i}" for i in range(k)]
        if len(self.labels) != k:
            raise ValueError(f"MixingGridPanel: {len(self.labels)} labels for {k} grid items")
        self.title = title
        w = _widgets()
        options = [(lab, i) for i, lab in enumerate(self.labels)]
        self.face = w.Dropdown(options=options, value=0, description="LR face of")
        self.voice = w.Dropdown(options=options, value=min(1, k - 1), description="voice of")
        self.image = w.Image(format="png")
        self.readout = w.HTML()
        self.readout.add_class("avfh-readout")
        for control in (self.face, self.voice):
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.face, self.voice]), self.image, self.readout])
        self.state: dict[str, Any] = {}
        self.update()

    def _lr(self, i: int) -> np.ndarray:
        size = self.grid.shape[-2:]
        return _hwc(F.interpolate(self.faces_lr[i:i + 1].float(), size=tuple(size), mode="nearest")[0])

    def cell_figure(self, view: Mapping[str, Any]):
        import matplotlib.pyplot as plt

        d = view["difference"]
        gain = 0.5 / max(float(d.max()), 1e-12)
        fig, axes = plt.subplots(1, 4, figsize=(10, 2.9))
        panels = ((self._lr(view["face"]), f"LR face: {self.labels[view['face']]}"),
                  (_hwc(self.voices_hr[view["voice"]]), f"voice of: {self.labels[view['voice']]}"),
                  (view["output"], "output"),
                  (np.clip(d * gain, 0, 1), f"|output - own voice| x {gain:.3g}"))
        for ax, (img, name) in zip(axes, panels):
            ax.imshow(np.clip(img, 0, 1))
            ax.set_title(name, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        return fig

    def figure(self):
        import matplotlib.pyplot as plt

        k = self.grid.shape[0]
        levels = mixing_grid_view(self.grid, 0, 0)["change_levels"]
        fig, axes = plt.subplots(k + 1, k + 1, figsize=(1.6 * (k + 1), 1.75 * (k + 1)))
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, 0].axis("off")
        for j in range(k):
            axes[0, j + 1].imshow(_hwc(self.voices_hr[j]))
            axes[0, j + 1].set_title(f"voice of\n{self.labels[j]}", fontsize=7)
        for i in range(k):
            axes[i + 1, 0].imshow(self._lr(i))
            axes[i + 1, 0].set_ylabel(f"LR face of\n{self.labels[i]}", fontsize=7)
            for j in range(k):
                axes[i + 1, j + 1].imshow(np.clip(_hwc(self.grid[i, j]), 0, 1))
                axes[i + 1, j + 1].set_title("own voice" if i == j else f"moved {levels[i, j]:.2g} levels",
                                             fontsize=7)
        if self.title:
            fig.suptitle(self.title, fontsize=9)
        fig.tight_layout()
        return fig

    def update(self) -> dict[str, Any]:
        view = mixing_grid_view(self.grid, int(self.face.value), int(self.voice.value))
        self.image.value = _png(self.cell_figure(view))
        self.state = {"face": view["face"], "voice": view["voice"], "max_change_levels": view["max_change_levels"]}
        self.readout.value = (f"<span class='avfh-value'>LR face of {self.labels[view['face']]}, voice of "
                              f"{self.labels[view['voice']]}: the output differs from the own-voice output by at "
                              f"most {view['max_change_levels']:.3g} 8-bit grey levels</span>")
        return self.state


# ------------------------------------------------------------------------------ outputs saved for the panels


def save_panel_outputs(sidecar: str | Path, table: str, outputs: Mapping[str, Any], reference: Any = None) -> Path:
    """Save each row's output on the panel's clip beside a notebook's sidecar: `<sidecar stem>.<table>.npz`."""
    arrays = {f"row__{k}": np.asarray(_hwc(v), dtype=np.float16) for k, v in outputs.items()}
    if reference is not None:
        arrays["reference"] = np.asarray(_hwc(reference), dtype=np.float16)
    path = Path(sidecar).with_suffix(f".{table}.npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_panel_outputs(path: str | Path) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Inverse of `save_panel_outputs`: ({row: [H, W, 3]}, reference or None)."""
    with np.load(Path(path)) as data:
        rows = {k.removeprefix("row__"): data[k].astype(np.float32) for k in data.files if k.startswith("row__")}
        ref = data["reference"].astype(np.float32) if "reference" in data.files else None
    return rows, ref


__all__ = [
    "FourierWeightPanel", "AblationPanel", "AblationRow", "MixingGridPanel", "ablation_view", "fourier_weight_view",
    "mixing_grid_view",
    "bicubic_reconstruction", "log_spectrum", "mouth_crop", "high_frequency_share", "radial_profile",
    "save_panel_outputs",
    "load_panel_outputs",
]
