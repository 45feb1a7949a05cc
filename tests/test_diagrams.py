"""The drawn figures (avfh_core.viz.diagrams) without a browser: they draw, carry their labels, reject bad input."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from avfh_core.viz.diagrams import FIG1_LABELS, figure_texts, qualitative_panel, vfhgan_block_diagram  # noqa: E402


def _drawn(fig) -> str:
    fig.canvas.draw()  # renders every patch and the mathtext: a bad label raises here
    return "\n".join(figure_texts(fig))


def test_block_diagram_draws_every_symbol_of_eqs_1_to_3_and_eq_11():
    fig = vfhgan_block_diagram()
    text = _drawn(fig)
    missing = [label for label in FIG1_LABELS if label not in text]
    assert not missing, missing
    assert r"$\oplus$" in text and "eq. 2: +" in text  # additive fusion, as eq. 2 prints it
    assert "pixel MSE" in text and "ours, not in the paper" in text
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) > 20  # boxes, nodes and arrows were drawn
    plt.close(fig)


def test_block_diagram_options_change_what_is_drawn():
    fig = vfhgan_block_diagram(fusion="concat", show_ours=False)
    text = _drawn(fig)
    assert "text: concatenated" in text and r"$\oplus$" not in text
    assert "bicubic skip" not in text and "pixel MSE" not in text  # the parts that are ours are left out
    assert "PHFE-B" in text and r"$\gamma L_{adv}$" in text
    plt.close(fig)


def test_block_diagram_rejects_bad_arguments():
    with pytest.raises(ValueError, match="fusion must be one of"):
        vfhgan_block_diagram(fusion="multiply")
    with pytest.raises(ValueError, match="figsize"):
        vfhgan_block_diagram(figsize=(0, 5))


def test_qualitative_panel_grid_titles_and_scores():
    g = torch.Generator().manual_seed(0)
    cols = {"LR": [torch.rand(3, 4, 4, generator=g) for _ in range(2)],
            "ours": [torch.rand(3, 16, 16, generator=g) for _ in range(2)],
            "HR": [np.random.default_rng(0).random((16, 16, 3)) for _ in range(2)]}
    fig = qualitative_panel(cols, scores={"ours": [21.5, 23.25]}, row_labels=["w0", "w1"], title="Fig. 2",
                            nearest=("LR",))
    text = _drawn(fig)
    assert len(fig.axes) == 6
    for needle in ("LR", "ours", "HR", "PSNR 21.50", "PSNR 23.25", "w0", "w1", "Fig. 2"):
        assert needle in text, needle
    assert fig.axes[0].images[0].get_interpolation() == "nearest"  # LR pixels shown as pixels
    plt.close(fig)


def test_qualitative_panel_rejects_bad_input():
    img = torch.rand(3, 8, 8)
    with pytest.raises(ValueError, match="columns is empty"):
        qualitative_panel({})
    with pytest.raises(ValueError, match="same number"):
        qualitative_panel({"a": [img], "b": [img, img]})
    with pytest.raises(ValueError, match="not a column"):
        qualitative_panel({"a": [img]}, scores={"b": [1.0]})
    with pytest.raises(ValueError, match="has 2 values for 1 rows"):
        qualitative_panel({"a": [img]}, scores={"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match="image must be"):
        qualitative_panel({"a": [torch.rand(2, 3, 8, 8)]})
