"""Drawn figures of the papers: block diagrams and qualitative panels, as plain matplotlib Figures.

- `vfhgan_block_diagram`: VFH-GAN's Fig. 1 (Sharma et al. 2022, sec. 3.1) redrawn with the symbols of eqs. 1-3 and
  eq. 11: the LR window {f_lr_i} and its centre f_lr_t, the log-mel a_m-s, the primary convolution, PHFE-B, the
  CMFE-B branches xi (visual) and psi (audio), their fusion (+, eq. 2) and Psi, the latent f_lv', axial attention
  (eq. 3) giving f_a, the addition to the PHFE-B features, the pixel-shuffle upsampler, and the training side: the
  discriminator, the frozen lip reader and the losses of eq. 11. Parts that are ours (the global bicubic skip, the
  pixel MSE of the released code) are drawn dashed and say so.
- `qualitative_panel`: a grid of images (one row per window, one column per method), the layout of the paper's
  Figs. 2, 3, 5 and 6, with an optional score under each image.

Both return a Figure and draw nothing interactive, so tests and headless runs use them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

FUSIONS = ("add", "concat")

# The labels the diagram must carry (tests check each is drawn): the symbols of eqs. 1-3 and the terms of eq. 11.
FIG1_LABELS: tuple[str, ...] = (
    r"$f^{lr}_t$", r"$\{f^{lr}_i\}_{i=t-j}^{t+j}$", r"$a_{m\text{-}s}$", r"$\xi$", r"$\psi$", r"$\Psi$",
    r"$f^{lv'}$", r"$f_a$", r"$f^{sr}_t$", r"$f^{gt}_t$", "PHFE-B", "CMFE-B", "axial attention", "pixel shuffle",
    "bicubic skip", "discriminator", "lip reader", r"$L_{vgg}$", r"$\alpha L_{lip}$", r"$\beta L_{freq}$",
    r"$\gamma L_{adv}$",
)


def _box(ax, x: float, y: float, w: float, h: float, text: str, *, color: str = "#dbe9f6", dashed: bool = False,
         fontsize: float = 9.0) -> tuple[float, float, float, float]:
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12", fc=color, ec="0.25",
                                lw=1.0, ls="--" if dashed else "-"))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize)
    return x, y, w, h


def _node(ax, x: float, y: float, symbol: str, r: float = 0.28) -> tuple[float, float]:
    from matplotlib.patches import Circle

    ax.add_patch(Circle((x, y), r, fc="white", ec="0.2", lw=1.0))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=12)
    return x, y


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], *, text: str = "", dashed: bool = False,
           color: str = "0.2", rad: float = 0.0, text_offset: tuple[float, float] = (0.0, 0.18),
           fontsize: float = 9.0) -> None:
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, lw=1.0, color=color,
                                 ls="--" if dashed else "-", connectionstyle=f"arc3,rad={rad}", shrinkA=2, shrinkB=2))
    if text:
        ax.text((start[0] + end[0]) / 2 + text_offset[0], (start[1] + end[1]) / 2 + text_offset[1], text,
                ha="center", va="bottom", fontsize=fontsize, color=color)


def vfhgan_block_diagram(*, fusion: str = "add", show_ours: bool = True, figsize: tuple[float, float] = (16, 8.5)):
    """VFH-GAN's Fig. 1 as a block diagram annotated with the symbols of eqs. 1-3 and the losses of eq. 11.

    fusion: "add" draws eq. 2 as printed (xi(f_lr'_t) + psi(a_m-s)), which the released code also does; "concat"
    draws the text's "concatenated" reading. show_ours: also draw, dashed, the parts that are ours and not the
    paper's (the global bicubic skip; the pixel MSE term of the released code). Returns the Figure."""
    import matplotlib.pyplot as plt

    if fusion not in FUSIONS:
        raise ValueError(f"vfhgan_block_diagram: fusion must be one of {FUSIONS}, got {fusion!r}")
    if len(figsize) != 2 or not all(isinstance(v, int | float) and v > 0 for v in figsize):
        raise ValueError(f"vfhgan_block_diagram: figsize must be two positive numbers, got {figsize!r}")
    fig, ax = plt.subplots(figsize=figsize)
    ax.set_xlim(0, 17.4)
    ax.set_ylim(-0.6, 10.4)
    ax.axis("off")

    # inputs (eq. 1): the LR window with its centre frame, and the speech as a log-mel spectrogram
    _box(ax, 0.1, 7.2, 2.3, 1.3, "LR window\n" + r"$\{f^{lr}_i\}_{i=t-j}^{t+j}$" + "\n(2j+1 frames)", color="#f3f3f3")
    ax.text(1.25, 8.75, r"centre frame $f^{lr}_t$", ha="center", fontsize=9)
    _box(ax, 0.1, 1.3, 2.3, 1.3, "speech " + r"$a_f$" + "\nSTFT, mel:\n" + r"$a_{m\text{-}s}$", color="#f3f3f3")

    # the primary convolution shared by all frames, and PHFE-B on the centre frame
    _box(ax, 3.1, 7.3, 1.9, 1.1, "primary conv\n(shared)")
    _arrow(ax, (2.4, 7.85), (3.1, 7.85))
    _box(ax, 5.8, 7.6, 3.6, 1.6, "PHFE-B\nmulti-kernel conv 1x1, 3x3, 5x5, 7x7\n+ depthwise conv, squeeze-excitation\n"
         "(channel attention), x stages", color="#d9ead3", fontsize=8.5)
    _arrow(ax, (5.0, 8.1), (5.8, 8.4), text=r"$f^{lr'}_t$", text_offset=(-0.05, 0.12))

    # CMFE-B: xi, psi, their fusion (eq. 2), Psi, axial attention (eq. 3)
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((3.0, 0.7), 8.5, 5.9, boxstyle="round,pad=0.05,rounding_size=0.2", fc="#fff8e5",
                                ec="#b08000", lw=1.2, ls="--"))
    ax.text(3.2, 6.3, "CMFE-B (cross-modal feature extraction branch)", fontsize=9.5, color="#805d00", va="center")
    _box(ax, 3.6, 4.1, 2.2, 1.2, r"$\xi$" + "\nvisual branch\n(all 2j+1 frames)", color="#fde2c8")
    _arrow(ax, (4.05, 7.3), (4.3, 5.3), text=r"$f^{lr'}_i$", text_offset=(0.45, -0.5))
    _box(ax, 3.6, 1.35, 2.2, 1.2, r"$\psi$" + "\naudio branch\n(CNN on the mel)", color="#fde2c8")
    _arrow(ax, (2.4, 1.95), (3.6, 1.95))
    fuse_symbol = r"$\oplus$" if fusion == "add" else r"$\Vert$"
    fx, fy = _node(ax, 6.7, 3.3, fuse_symbol)
    _arrow(ax, (5.8, 4.6), (fx - 0.2, fy + 0.2))
    _arrow(ax, (5.8, 1.95), (fx - 0.2, fy - 0.2))
    ax.text(fx, fy - 0.6, "eq. 2: +" if fusion == "add" else "text: concatenated", ha="center", va="top",
            fontsize=8)
    _box(ax, 7.4, 2.75, 1.1, 1.1, r"$\Psi$", color="#fde2c8", fontsize=12)
    _arrow(ax, (fx + 0.28, fy), (7.4, 3.3))
    _box(ax, 9.3, 2.55, 2.0, 1.5, "axial attention\n(eq. 3)\nheight, then width", color="#f4cccc")
    _arrow(ax, (8.5, 3.3), (9.3, 3.3), text=r"$f^{lv'}$")

    # f_a is added to the PHFE-B features, then the x4 pixel-shuffle upsampler
    ax_, ay = _node(ax, 10.3, 8.4, r"$+$")
    _arrow(ax, (9.4, 8.4), (ax_ - 0.28, ay))
    _arrow(ax, (10.3, 4.05), (ax_, ay - 0.28), text=r"$f_a$", text_offset=(0.25, 0.0))
    _box(ax, 11.0, 7.8, 1.9, 1.2, "pixel shuffle\nx4 upsampler\n+ output conv")
    _arrow(ax, (ax_ + 0.28, ay), (11.0, 8.4))
    if show_ours:
        sx, sy = _node(ax, 13.55, 8.4, r"$+$")
        _arrow(ax, (12.9, 8.4), (sx - 0.28, sy))
        ax.plot([1.25, 1.25, sx], [8.95, 9.75, 9.75], ls="--", color="#1f5fa8", lw=1.0)
        _arrow(ax, (sx, 9.75), (sx, sy + 0.28), dashed=True, color="#1f5fa8")
        ax.text(7.4, 9.85, r"bicubic skip: bicubic$(f^{lr}_t)$ (ours, not in the paper: the network learns the "
                "residual and starts at bicubic)", ha="center", va="bottom", fontsize=8.5, color="#1f5fa8")
        out_from = (sx + 0.28, sy)
    else:
        out_from = (12.9, 8.4)
    _box(ax, 14.3, 7.8, 1.5, 1.2, r"$f^{sr}_t$" + "\n(HR output)", color="#f3f3f3", fontsize=10)
    _arrow(ax, out_from, (14.3, 8.4))
    ax.text(15.05, 9.2, r"eq. 1: $f^{sr}_t = \zeta(\cdot)$", ha="center", fontsize=9)

    # training: discriminator, lip reader, and the terms of eq. 11
    _box(ax, 16.0, 4.6, 1.3, 1.4, r"$f^{gt}_t$" + "\nground\ntruth", color="#f3f3f3")
    _box(ax, 12.9, 5.45, 2.5, 1.1, "discriminator D\n(PatchGAN, LSGAN)", color="#ead1dc")
    _box(ax, 12.9, 3.75, 2.5, 1.25, "lip reader (frozen)\ngray mouth crops\nof the window, eq. 4", color="#ead1dc",
         fontsize=8.5)
    _box(ax, 12.9, 2.2, 2.5, 1.1, "feature net (VGG)\n+ 2-D DFT, eqs. 6-10", color="#ead1dc", fontsize=8.5)
    for y in (6.0, 4.4, 2.75):
        _arrow(ax, (15.05, 7.8), (15.4, y), rad=0.0)
        _arrow(ax, (16.0, 5.3), (15.4, y), color="0.5")
    ax.text(12.8, 6.0, r"$\gamma L_{adv}$", ha="right", va="center", fontsize=11)
    ax.text(12.8, 4.4, r"$\alpha L_{lip}$" + "\n(eq. 5)", ha="right", va="center", fontsize=11)
    ax.text(12.8, 2.75, r"$L_{vgg}$" + "\n" + r"$\beta L_{freq}$", ha="right", va="center", fontsize=11)
    eq11 = r"eq. 11:  $L = L_{vgg} + \alpha L_{lip} + \beta L_{freq} + \gamma L_{adv}$"
    if show_ours:
        eq11 += r"   (+ pixel MSE $\Vert f^{sr}_t - f^{gt}_t\Vert^2$ in the released code)"
    ax.text(8.7, -0.2, eq11, ha="center", va="center", fontsize=11,
            bbox=dict(boxstyle="round", fc="white", ec="0.4"))
    title = "VFH-GAN (Fig. 1 redrawn): PHFE-B makes the frame, CMFE-B adds the audio-visual features"
    ax.set_title(title, fontsize=12)
    return fig


def figure_texts(fig) -> list[str]:
    """Every text string drawn on `fig` (titles, labels, annotations): what a browserless test checks."""
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _hwc(img: Any) -> np.ndarray:
    a = img.detach().float().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3):
        raise ValueError(f"an image must be [3, H, W], [H, W, 3] or [H, W], got shape {a.shape}")
    return np.clip(a, 0.0, 1.0)


def qualitative_panel(columns: Mapping[str, Sequence[Any]], *, scores: Mapping[str, Sequence[float]] | None = None,
                      score_name: str = "PSNR", row_labels: Sequence[str] | None = None, title: str = "",
                      size: float = 2.1, nearest: Sequence[str] = ()):
    """A grid of images: one column per method (`columns`: {title: [image per row]}), one row per window, in the
    layout of the paper's qualitative figures. scores: {column title: [one value per row]} printed under each
    image (the score of *that* image, e.g. its PSNR against the ground truth). Columns named in `nearest` are drawn
    without interpolation (an LR input). Returns the Figure."""
    import matplotlib.pyplot as plt

    if not columns:
        raise ValueError("qualitative_panel: columns is empty (give {method: [image per row]})")
    lengths = {name: len(imgs) for name, imgs in columns.items()}
    n_rows = next(iter(lengths.values()))
    if n_rows < 1 or any(n != n_rows for n in lengths.values()):
        raise ValueError(f"qualitative_panel: every column needs the same number (>= 1) of images, got {lengths}")
    for name, vals in (scores or {}).items():
        if name not in columns:
            raise ValueError(f"qualitative_panel: scores for {name!r}, which is not a column; columns: {list(columns)}")
        if len(vals) != n_rows:
            raise ValueError(f"qualitative_panel: scores[{name!r}] has {len(vals)} values for {n_rows} rows")
    if row_labels is not None and len(row_labels) != n_rows:
        raise ValueError(f"qualitative_panel: {len(row_labels)} row_labels for {n_rows} rows")
    names = list(columns)
    fig, axes = plt.subplots(n_rows, len(names), figsize=(size * len(names), size * n_rows + 0.6), squeeze=False)
    for c, name in enumerate(names):
        for r in range(n_rows):
            ax = axes[r, c]
            img = _hwc(columns[name][r])
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1,
                      interpolation="nearest" if name in nearest else "antialiased")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=9)
            if scores and name in scores:
                ax.set_xlabel(f"{score_name} {scores[name][r]:.2f}", fontsize=8)
            if c == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[r], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["FIG1_LABELS", "FUSIONS", "figure_texts", "qualitative_panel", "vfhgan_block_diagram"]
