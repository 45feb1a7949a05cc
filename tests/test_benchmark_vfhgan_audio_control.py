"""benchmarks/vfhgan_audio_control.py runs its rows and probes end to end at the smoke preset."""

import pytest
import torch


def test_audio_control_probe_runs_every_row_with_the_probes(benchmark_module, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    benchmark_module("vfhgan_audio_control").main(["--preset", "smoke", "--steps", "2", "--oracle", "--audio-gain",
                                                   "--objective", "pixel", "--mouth-weight", "10", "--early-fusion"])
    out = capsys.readouterr().out
    for row in ("still_visual", "still_audio", "still_oracle"):
        assert f"steps {row}" in out
    assert out.count("mouth PSNR with audio intact") == 2  # the two rows that hear something
    assert out.count("; on training people intact") == 2  # and the same test on people they were trained on
    assert "through one map for everyone" in out


def test_rows_run_alone_give_the_numbers_they_give_beside_the_others(benchmark_module, tmp_path, monkeypatch,
                                                                     capsys):
    """--rows splits the rows over processes: a row trained alone prints the line it prints among all three (each
    row draws from its own seeded generators), and still_oracle without --oracle is refused."""
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    mod = benchmark_module("vfhgan_audio_control")
    mod.main(["--preset", "smoke", "--steps", "2", "--oracle"])
    lines = {r: ln for ln in capsys.readouterr().out.splitlines() for r in mod.ROWS if f"steps {r} " in ln}
    mod.main(["--preset", "smoke", "--steps", "2", "--oracle", "--rows", "still_oracle"])
    alone = [ln for ln in capsys.readouterr().out.splitlines() if " steps " in ln]
    assert len(alone) == 1 and alone[0].split("(")[0] == lines["still_oracle"].split("(")[0]
    assert alone[0].split(")", 1)[1] == lines["still_oracle"].split(")", 1)[1]  # same audio-use numbers too
    with pytest.raises(SystemExit):
        mod.main(["--preset", "smoke", "--rows", "still_oracle"])


def test_progress_shows_each_row_s_bar_on_stderr_and_changes_no_number(benchmark_module, tmp_path, monkeypatch,
                                                                          capsys):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    mod = benchmark_module("vfhgan_audio_control")
    args = ["--preset", "smoke", "--steps", "2", "--rows", "still_visual"]
    mod.main(args)
    quiet = capsys.readouterr()
    mod.main([*args, "--progress"])
    shown = capsys.readouterr()
    assert "seed 0:" in shown.err and "/2 [" in shown.err and "/2 [" not in quiet.err
    line = [ln for ln in shown.out.splitlines() if "steps still_visual" in ln]
    assert [ln.split("(")[0] for ln in line] == [ln.split("(")[0] for ln in quiet.out.splitlines()
                                                 if "steps still_visual" in ln]


def test_set_changes_a_config_knob_and_refuses_unknown_ones(benchmark_module, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    mod = benchmark_module("vfhgan_audio_control")
    mod.main(["--preset", "smoke", "--steps", "1", "--rows", "still_visual", "--set", "width=12",
              "--set", "vfhgan_stages=2"])
    out = capsys.readouterr().out
    assert "knobs over the preset's: width=12, vfhgan_stages=2" in out and "steps still_visual" in out
    for bad in (["--set", "no_such_knob=1"], ["--set", "width=-3"], ["--set", "steps=5"], ["--set", "width"]):
        with pytest.raises(SystemExit):
            mod.main(["--preset", "smoke", "--steps", "1", *bad])
    assert "no_such_knob" in capsys.readouterr().err


def test_audio_control_with_a_larger_articulation_and_a_planted_jaw(benchmark_module, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    benchmark_module("vfhgan_audio_control").main(["--preset", "smoke", "--steps", "1", "--mouth-motion", "2",
                                                   "--plant-jaw", "0.4", "--encoder-probe", "2", "1"])
    out = capsys.readouterr().out
    assert out.count("mouth PSNR with audio intact") == 1 and "held-out R^2 of jaw" in out
    assert "mouth state alone,     1 steps" in out and "mouth state alone,     2 steps" in out
    assert "planted: each HR mouth box darkened by 0.4" in out
    with pytest.raises(SystemExit):
        benchmark_module("vfhgan_audio_control").main(["--plant-jaw", "2"])


def test_encoder_probe_learns_from_its_own_seed_and_reports_each_step(benchmark_module):
    from avfh_core.config import setup

    mod = benchmark_module("vfhgan_audio_control")
    cfg = setup("smoke", seed=0, device="cpu")
    a = mod.encoder_probe(cfg, [1, 3], seed=0)
    assert set(a) == {1, 3} and all(len(r) == 3 and all(v <= 1 for v in r) for r in a.values())
    assert mod.encoder_probe(cfg, [1, 3], seed=0) == a  # same seed, same numbers


def test_plant_jaw_darkens_the_mouth_box_by_the_jaw_opening():
    import types

    from avfh_core.train import vfhgan

    T = 3
    jaw = torch.tensor([0.0, 0.5, 1.0])
    hr = torch.full((T, 3, 8, 8), 0.5)
    box = torch.tensor([[2.0, 2.0, 6.0, 6.0]]).expand(T, 4)
    ds = types.SimpleNamespace(clips=[dict(hr=hr, box=box)])
    out = vfhgan.plant_jaw(ds, [jaw], 0.2)
    new = out.clips[0]["hr"]
    assert torch.equal(ds.clips[0]["hr"], hr)  # the input is untouched
    assert torch.allclose(new[:, :, 3, 3], 0.5 - 0.2 * jaw[:, None])  # inside the box
    assert torch.equal(new[:, :, 0, 0], hr[:, :, 0, 0])  # outside it


def test_probe_run_and_the_mouth_weighted_pixel_term(benchmark_module):
    from avfh_core.config import setup
    from avfh_core.train import vfhgan

    mod = benchmark_module("vfhgan_audio_control")
    cfg = setup("smoke", seed=0, device="cpu")
    runs = vfhgan.control_runs(cfg, "balanced")
    audio = mod.probe_run(runs["still_audio"], cfg, audio_gain=True, pixel_only=True)
    assert audio.generator_config(cfg).audio_gain == cfg.hr_size // cfg.scale
    assert audio.loss_weights() == {k: (1.0 if k == "pixel" else 0.0) for k in vfhgan.RELEASED_WEIGHTS}
    assert audio.world == runs["still_audio"].world
    moving = mod.probe_run(runs["still_audio"], cfg, audio_gain=False, pixel_only=False, mouth_motion=3.0)
    assert dict(moving.world) == {**dict(runs["still_audio"].world), "mouth_motion": 3.0}
    planted = mod.probe_run(runs["still_audio"], cfg, audio_gain=False, pixel_only=False, plant_jaw=0.4)
    assert planted == vfhgan.jaw_control_runs(cfg, "balanced", 0.4)["jaw_audio"]  # the batch's cached control row
    visual = mod.probe_run(runs["still_visual"], cfg, audio_gain=True, pixel_only=False)
    assert visual == runs["still_visual"]  # no audio branch: nothing to gain; the setting's weights kept
    obj = mod._mouth_weighted(vfhgan.VFHGANObjective)(dict(pixel=1.0), mouth_weight=4.0)
    hr = torch.zeros(1, 3, 3, 8, 8)
    sr = torch.zeros(1, 3, 8, 8)
    sr[..., 0, 0] = 1.0  # an error outside the box
    batch = dict(hr=hr, mouth_box=torch.tensor([[4.0, 4.0, 8.0, 8.0]]))
    outside = obj.generator_terms(sr, batch)["pixel"]
    sr2 = torch.zeros(1, 3, 8, 8)
    sr2[..., 5, 5] = 1.0  # the same error inside the box counts 4x
    inside = obj.generator_terms(sr2, batch)["pixel"]
    assert float(inside) == pytest.approx(4 * float(outside))
    assert float(obj.generator_terms(sr2, batch)["total"]) == pytest.approx(float(inside))


def test_early_audio_adds_the_audio_vector_before_the_backbone_and_draws_nothing(benchmark_module):
    from avfh_core.models.vfhgan import VFHGANConfig, VFHGenerator
    from avfh_core.nn.init import build

    mod = benchmark_module("vfhgan_audio_control")
    cfg = VFHGANConfig(width=8, n_stages=1, n_mels=16)
    plain = build(0, "generator", lambda: VFHGenerator(cfg))
    early = mod.early_audio({"generator": build(0, "generator", lambda: VFHGenerator(cfg))})["generator"]
    for a, b in zip(plain.state_dict().values(), early.state_dict().values()):
        assert torch.equal(a, b)  # the same init: the hooks add no parameter and draw nothing
    lr, mel = torch.rand(2, cfg.frames, 3, 8, 8), torch.randn(2, 1, cfg.n_mels, 80)
    seen = {}
    plain.backbone.register_forward_pre_hook(lambda m, args: seen.__setitem__("plain", args[0]))
    early.backbone.register_forward_pre_hook(lambda m, args: seen.__setitem__("early", args[0]))
    plain(lr, mel)
    early(lr, mel=mel)  # the mel may come as a keyword too
    expect = seen["plain"] + early.audio_branch(mel)[:, :, None, None]
    assert torch.allclose(seen["early"], expect)
    visual = {"generator": VFHGenerator(VFHGANConfig(width=8, n_stages=1, use_audio=False))}
    assert mod.early_audio(visual) is visual  # no audio branch: nothing to add


def test_lip_share_turns_the_lip_term_on_at_a_measured_weight(benchmark_module, tmp_path, monkeypatch, capsys):
    """--lip-share S: the paper's lip-reading term on in the control rows (off in the course preset's), weighted as
    `balanced_weights` weights a term with share S; the weight grows with S; refused with the pixel-only objective,
    the released setting or a share <= 0."""
    from avfh_core.config import setup
    from avfh_core.train import vfhgan

    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    mod = benchmark_module("vfhgan_audio_control")
    cfg = setup("smoke", seed=0, device="cpu")
    runs = vfhgan.control_runs(cfg, "balanced")
    assert runs["still_audio"].loss_weights()["lip"] == 0.0  # the smoke/course control rows train without it
    w = {s: vfhgan.balanced_weights(cfg, dict(vfhgan.BALANCED_SHARES, lip=s))["lip"] for s in (0.1, 0.5)}
    assert w[0.1] == vfhgan.balanced_weights(cfg)["lip"] and w[0.5] > w[0.1] > 0
    lip = mod.probe_run(runs["still_audio"], cfg, audio_gain=False, pixel_only=False, lip_weight=w[0.5])
    assert lip.loss_weights() == {**runs["still_audio"].loss_weights(), "lip": w[0.5]}
    with pytest.raises(ValueError, match="exclude"):
        mod.probe_run(runs["still_audio"], cfg, audio_gain=False, pixel_only=True, lip_weight=w[0.5])
    whole = mod.probe_run(runs["still_audio"], cfg, audio_gain=False, pixel_only=False, lip_weight=w[0.5],
                          lip_window="generated")
    assert whole.generates_lip_window and not lip.generates_lip_window  # eq. 5 as written vs the centre form
    mod.main(["--preset", "smoke", "--steps", "1", "--rows", "still_audio", "--lip-share", "0.5"])
    out = capsys.readouterr().out
    assert f"the lip-reading term on, at a 0.5 share of the step-0 gradient (pixel 0.5): weight {w[0.5]:.2g}" in out
    assert "steps still_audio" in out
    mod.main(["--preset", "smoke", "--steps", "1", "--rows", "still_audio", "--lip-share", "0.5",
              "--lip-window", "generated"])
    assert "steps still_audio" in capsys.readouterr().out
    for bad in (["--lip-share", "0"], ["--lip-share", "0.5", "--setting", "released"],
                ["--lip-share", "0.5", "--objective", "pixel"], ["--lip-window", "generated"]):
        with pytest.raises(SystemExit):
            mod.main(["--preset", "smoke", "--steps", "1", *bad])


def test_lip_articulation_prints_each_loss_share_of_the_articulation(benchmark_module, tmp_path, monkeypatch,
                                                                       capsys):
    """--lip-articulation: for eq. 5 (window and centre forms) and the mouth-box MSE, the loss of a sharp frame with
    the mouth in the wrong (still) state over the loss of the still-mouth bicubic; a sharp frame in the right state
    would score 0, so each is a positive ratio."""
    from avfh_core.config import setup
    from avfh_core.losses.lipreading import LipReadingLoss
    from avfh_core.train.pretrain import pretrained_lipreader

    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    mod = benchmark_module("vfhgan_audio_control")
    cfg = setup("smoke", seed=0, device="cpu")
    lip = LipReadingLoss(pretrained_lipreader(cfg)[0])
    shares = mod.articulation_shares(cfg, lip)
    assert set(shares) == {"eq5 window", "eq5 centre", "mouth-box MSE"} and all(v > 0 for v in shares.values())
    mod.main(["--preset", "smoke", "--steps", "1", "--rows", "still_visual", "--lip-articulation"])
    assert "the articulation alone, as a part of each loss" in capsys.readouterr().out


def test_out_records_every_row_and_score_pairs_them_by_seed(benchmark_module, tmp_path, monkeypatch, capsys):
    """--out writes each trained row with its seed and options; --score pairs the control's rows by seed across files
    and processes and scores them with the audit's test, as the numbers the rows printed."""
    import json

    monkeypatch.setenv("AVFH_HOME", str(tmp_path / "home"))
    mod = benchmark_module("vfhgan_audio_control")
    files = []
    for seed in (0, 1):
        for row in ("still_visual", "still_audio"):
            files.append(tmp_path / f"{row}{seed}.json")
            mod.main(["--preset", "smoke", "--steps", "1", "--seed", str(seed), "--rows", row, "--out", str(files[-1])])
    printed = [ln for ln in capsys.readouterr().out.splitlines() if " steps " in ln]
    recs = mod.read_records(files)
    assert [(r["seed"], r["row"]) for r in recs] == [(0, "still_visual"), (0, "still_audio"), (1, "still_visual"),
                                                     (1, "still_audio")]
    assert recs[0]["weights"]["pixel"] == 1 and set(recs[0]["weights"]) >= {"pixel", "lip"}  # what the row trained on
    for r, ln in zip(recs, printed):  # the file holds the numbers the line printed
        assert f"mouth PSNR {r['mouth_psnr']:.3f}" in ln
        if r["row"] == "still_audio":
            assert f"intact {r['audio_use']['held_out']['intact']:.3f}, shuffled " in ln
        else:
            assert f"at most {r['ceiling_db']:.3f} dB" in ln
    (g,) = mod.score_records(recs)
    control = g["tests"][0]
    assert control["name"].startswith("control") and control["seeds"] == [0, 1] and control["n"] == 2
    mouth = {(r["row"], r["seed"]): r["mouth_psnr"] for r in recs}
    assert control["effect"] == pytest.approx(sum(mouth[("still_audio", s)] - mouth[("still_visual", s)]
                                                  for s in (0, 1)) / 2)
    assert len(g["tests"]) == 5  # the control, and audio use against shuffled / silenced on both sets of people
    mod.main(["--score", *map(str, files)])
    out = capsys.readouterr().out
    assert "lip_share" not in out and "1 steps" in out and out.count("->") == 5
    mod.main(["--score", *map(str, files), "--seeds", "1", "--alpha", "0.025"])  # a planned look at some seeds
    out = capsys.readouterr().out
    assert "still_audio seeds [1]" in out and "one-sided 97.5 % bounds" in out
    with pytest.raises(SystemExit):
        mod.main(["--score", str(files[0]), "--alpha", "0.5"])
    assert "--alpha must be in (0, 0.5)" in capsys.readouterr().err

    # a row trained under other options is scored apart, never paired with these
    other = tmp_path / "other.json"
    mod.main(["--preset", "smoke", "--steps", "1", "--rows", "still_visual", "--mouth-weight", "2", "--out",
              str(other)])
    assert len(mod.score_records(mod.read_records([*files, other]))) == 2
    # the same row and seed twice, and a file that is not the probe's, are refused with the file named
    with pytest.raises(SystemExit, match="in both"):
        mod.main(["--score", str(files[0]), str(files[0])])
    kept = files[0].read_bytes()  # --out never overwrites an earlier run's rows
    with pytest.raises(SystemExit):
        mod.main(["--preset", "smoke", "--steps", "1", "--rows", "still_visual", "--out", str(files[0])])
    assert files[0].read_bytes() == kept and "the file exists" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(SystemExit, match="bad.json"):
        mod.main(["--score", str(bad)])
    bad.write_text("{")
    with pytest.raises(SystemExit, match="bad.json"):
        mod.main(["--score", str(bad)])


def test_power_plans_the_next_test_from_the_saved_controls_spread(benchmark_module, capsys):
    """--score ... --power N plans from the committed rows of the closed 3000-step test (no training): the control's
    MDE over N seeds, as the score itself printed it at the seeds it has; too few seeds or no --score are refused."""
    from pathlib import Path

    mod = benchmark_module("vfhgan_audio_control")
    files = sorted(str(p) for p in (Path(__file__).parents[1] / "benchmarks" / "results"
                                    / "vfhgan_audio_control_lipgen3000").glob("*.json"))
    mod.main(["--score", *files, "--seeds", "0", "1", "2", "3", "4", "--power", "5", "8"])
    out = capsys.readouterr().out.splitlines()
    control = next(ln for ln in out if ln.lstrip().startswith("control:"))
    plan = out[out.index(next(ln for ln in out if ln.startswith("planning from the control test's spread"))):]
    assert "seeds [0, 1, 2, 3, 4]" in plan[0] and len(plan) == 3
    assert plan[1].startswith("  5 seeds: MDE ") and control.split("MDE ")[1].split()[0] in plan[1]
    assert plan[2].startswith("  8 seeds: ") and "chance of detecting +0.1 dB" in plan[2]
    with pytest.raises(SystemExit, match="at least 3"):
        mod.main(["--score", *files, "--seeds", "0", "1", "--power", "5"])
    for bad in (["--power", "5"], ["--score", *files, "--power", "1"]):
        with pytest.raises(SystemExit):
            mod.main(bad)
    assert "--power needs --score" in capsys.readouterr().err
