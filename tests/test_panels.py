"""Panels without a browser: construct, change a control, check the update; and their pure view functions."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from avfh_core.losses.frequency import FocalFrequencyLoss  # noqa: E402
from avfh_core.reproduce.tables import load_tables  # noqa: E402
from avfh_core.viz import load_photo  # noqa: E402
from avfh_core.viz.panels import (  # noqa: E402
    AblationPanel,
    AblationRow,
    FourierWeightPanel,
    ablation_view,
    bicubic_reconstruction,
    fourier_weight_view,
    high_frequency_share,
    load_panel_outputs,
    mouth_crop,
    save_panel_outputs,
)


def test_photo_and_bicubic_reconstruction():
    img, name = load_photo(48)
    assert img.shape == (3, 48, 48) and 0 <= img.min() and img.max() <= 1 and "astronaut" in name
    assert img.std() > 0.1  # a real picture, not a flat field
    rec = bicubic_reconstruction(img, 4)
    assert rec.shape == img.shape and 0 < torch.mean((rec - img) ** 2) < 0.05
    with pytest.raises(ValueError, match="scale"):
        bicubic_reconstruction(img, 3)


def test_fourier_weight_view_matches_the_loss_and_alpha_zero_is_mse():
    hr, _ = load_photo(32)
    pred = bicubic_reconstruction(hr, 4)
    v0 = fourier_weight_view(hr, pred, alpha=0.0)
    assert np.allclose(v0["weight"], 1.0) and v0["loss"] == pytest.approx(v0["mse"], rel=1e-4)  # Parseval
    v1 = fourier_weight_view(hr, pred, alpha=1.0)
    assert v1["loss"] == pytest.approx(float(FocalFrequencyLoss(alpha=1.0)(pred[None], hr[None])), rel=1e-6)
    # the channel mean of weights normalised to 1 per channel: at most 1 (1 when the channels peak together)
    assert 0.5 < v1["weight"].max() <= 1.0 + 1e-6 and v1["mean_weight"] < v0["mean_weight"]
    assert 0 <= v1["high_share"] <= 1
    flat = np.zeros((8, 8))
    flat[4, 4] = 1.0  # all weight at the centre (zero frequency)
    assert high_frequency_share(flat) == 0.0


def test_fourier_panel_updates_when_alpha_moves():
    panel = FourierWeightPanel(size=32, alpha=0.0)
    before = dict(panel.state)
    png = panel.image.value
    assert before["mean_weight"] == pytest.approx(1.0)
    panel.alpha.value = 2.0  # a control change triggers the recomputation through the observer
    assert panel.state["alpha"] == 2.0 and panel.state["mean_weight"] < before["mean_weight"]
    assert panel.image.value != png and "alpha=2.0" in panel.readout.value
    panel.scale.value = 8
    assert panel.state["mse"] > before["mse"]  # x8 loses more than x4
    fig = panel.figure()  # the non-interactive path
    assert len(fig.axes) >= 4


def _rows():
    rng = np.random.default_rng(0)
    img = rng.random((3, 32, 32)).astype(np.float32)
    return {
        "base": AblationRow("baseline", {"psnr": 20.0}, {"psnr": [19.0, 19.5]}, img * 0.5, frozenset()),
        "audio": AblationRow("+ audio", {"psnr": 21.0}, {"psnr": [20.0, 20.5]}, img * 0.8, frozenset({"audio"})),
        "both": AblationRow("+ audio + attention", {"psnr": 22.0}, {}, img, frozenset({"audio", "attention"})),
    }, img


def test_ablation_view_numbers_and_images():
    rows, img = _rows()
    v = ablation_view(rows, "audio", "base", ["psnr"], reference=img)
    line = v["table"][0]
    assert line["selected"]["ours"] == pytest.approx(20.25) and line["selected"]["n"] == 2
    assert line["ours_delta"] == pytest.approx(1.0) and line["paper_delta"] == pytest.approx(1.0)
    assert set(v["images"]) == {"selected", "compare", "reference"}
    assert v["spectra"]["reference"].shape == (32, 32) and v["mouths"]["reference"].shape[2] == 3
    assert ablation_view(rows, "both", "base", ["psnr"])["table"][0]["selected"]["ours"] is None  # not run
    with pytest.raises(KeyError, match="'nope'"):
        ablation_view(rows, "nope", "base", ["psnr"])
    assert mouth_crop(img, (0.5, 1.0, 0.25, 0.75)).shape == (16, 16, 3)


def test_ablation_panel_row_and_component_toggles():
    rows, img = _rows()
    panel = AblationPanel(rows, ["psnr"], reference=img, components=["audio", "attention"], selected="base")
    assert panel.state["selected"] == "base" and not panel.toggles["audio"].value
    png = panel.image.value
    panel.toggles["audio"].value = True  # ticking 'audio' selects the row with exactly {audio}
    assert panel.row.value == "audio" and panel.state["selected"] == "audio" and panel.image.value != png
    assert "20.250" in panel.numbers.value
    panel.toggles["attention"].value = True
    assert panel.row.value == "both" and "not run" in panel.numbers.value
    panel.toggles["audio"].value = False  # {attention} alone is no row: the panel says so and keeps the row
    assert panel.row.value == "both" and "no row" in panel.message.value
    panel.row.value = "base"  # choosing a row sets the toggles
    assert not panel.toggles["audio"].value and not panel.toggles["attention"].value
    assert len(panel.figure().axes) == 9  # 3 images x (output, spectrum, mouth)


def test_ablation_panel_from_paper_tables_and_saved_outputs(tmp_path):
    paper = load_tables("vfhgan")
    side = {"config": {"seed": 0}, "metrics": {"table1_seeds": {"audio": {"psnr": [25.0, 25.4]},
                                                                "no_audio": {"psnr": [24.0, 24.1]}}}}
    rows, img = _rows()
    path = save_panel_outputs(tmp_path / "06_ablations__preset-smoke.json", "table1",
                              {"audio": img, "no_audio": img * 0.5}, reference=img)
    outputs, ref = load_panel_outputs(path)
    assert path.name == "06_ablations__preset-smoke.table1.npz" and ref.shape == (32, 32, 3)
    panel = AblationPanel.from_results(paper, "table1", [side], outputs=outputs, reference=ref,
                                       selected="audio", compare="no_audio")
    line = panel.state["table"][0]
    assert line["metric"] == "psnr" and line["selected"]["paper"] == pytest.approx(28.784)
    assert line["ours_delta"] == pytest.approx(25.2 - 24.05)
    panel.row.value = "audio_attention"  # not run: numbers say so, the figure still renders
    assert "not run" in panel.numbers.value
    empty = AblationPanel.from_results(paper, "table2")  # no results at all: published numbers as bars
    assert "not run" in empty.numbers.value and empty.image.value
    with pytest.raises(KeyError, match="table9"):
        AblationPanel.from_results(paper, "table9")


def test_dashboard_helpers_find_runs_and_inputs(tmp_path):
    import json

    from avfh_core.viz import dashboard

    assert dashboard.find_latest_run("vfhgan", tmp_path / "none") is None
    run = tmp_path / "runs" / "r1"
    (run / "vfhgan").mkdir(parents=True)
    side = {"notebook": "vfhgan/06_ablations", "config": {"seed": 0},
            "metrics": {"table1_seeds": {"audio": {"psnr": [25.0]}}}}
    (run / "vfhgan" / "06_ablations__preset-smoke.json").write_text(json.dumps(side))
    rows, img = _rows()
    save_panel_outputs(run / "vfhgan" / "06_ablations__preset-smoke.json", "table1", {"audio": img}, reference=img)
    assert dashboard.find_latest_run("vfhgan", tmp_path / "runs") == run
    sidecars, outputs, ref = dashboard.ablation_inputs(run, "vfhgan", "table1")
    assert len(sidecars) == 1 and set(outputs) == {"audio"} and ref.shape == (32, 32, 3)
    assert dashboard.ablation_inputs(None, "vfhgan", "table1") == ([], {}, None)
    with pytest.raises(FileNotFoundError, match="run folder not found"):
        dashboard.ablation_inputs(tmp_path / "missing", "vfhgan", "table1")
    cmd = dashboard.voila_command(8866)
    assert "--Voila.ip=127.0.0.1" in cmd and "--port=8866" in cmd and cmd[3].endswith("03_dashboard.ipynb")
    with pytest.raises(ValueError, match="--port"):
        dashboard.voila_command(0)


def test_mixing_grid_view_measures_how_far_each_voice_moves_the_face():
    from avfh_core.viz.panels import mixing_grid_view

    k = 3
    grid = 0.9 * torch.rand(1, 1, 3, 8, 8).expand(k, k, 3, 8, 8).clone()  # a deaf model: every cell the same face
    grid[1, 2] += 4 / 255  # one voice moves one face by four grey levels
    v = mixing_grid_view(grid, 1, 2)
    assert v["max_change_levels"] == pytest.approx(4.0, abs=1e-3)
    assert v["change_levels"].shape == (k, k)
    assert np.allclose(np.delete(v["change_levels"].ravel(), 1 * k + 2), 0.0, atol=1e-4)
    assert np.allclose(v["own"], v["output"] - 4 / 255, atol=1e-5)
    with pytest.raises(ValueError, match="faces x voices"):
        mixing_grid_view(grid[0], 0, 0)
    with pytest.raises(IndexError, match="voice 3"):
        mixing_grid_view(grid, 0, 3)


def test_mixing_grid_panel_picks_a_cell_and_draws_the_grid():
    from avfh_core.viz.panels import MixingGridPanel

    k = 2
    grid = torch.rand(k, k, 3, 16, 16)
    panel = MixingGridPanel(grid, torch.rand(k, 3, 4, 4), torch.rand(k, 3, 16, 16), labels=["a (f)", "b (m)"])
    assert panel.state["face"] == 0 and panel.state["voice"] == 1
    expected = float((grid[0, 1] - grid[0, 0]).abs().max() * 255)
    assert panel.state["max_change_levels"] == pytest.approx(expected, rel=1e-5)
    panel.face.value = 1
    assert panel.state["face"] == 1
    fig = panel.figure()
    assert len(fig.axes) == (k + 1) ** 2
    with pytest.raises(ValueError, match="faces_lr"):
        MixingGridPanel(grid, torch.rand(k + 1, 3, 4, 4), torch.rand(k, 3, 16, 16))
    with pytest.raises(ValueError, match="labels"):
        MixingGridPanel(grid, torch.rand(k, 3, 4, 4), torch.rand(k, 3, 16, 16), labels=["only one"])
