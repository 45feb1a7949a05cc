"""The papers' tables as data, the claims audit and the Markdown/HTML report (built from hand-made sidecars)."""

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from avfh_core.cli import main  # noqa: E402
from avfh_core.reproduce.audit import audit_claims, collect_table, summarize, verdict_counts  # noqa: E402
from avfh_core.reproduce.batch import write_manifest  # noqa: E402
from avfh_core.reproduce.report import build_report  # noqa: E402
from avfh_core.reproduce.tables import available_papers, load_tables, parse_tables  # noqa: E402

TOY = {
    "paper": "toy",
    "title": "A toy paper",
    "tables": {
        "t1": {"caption": "ablation", "dataset": "X", "metrics": ["psnr", "lpips"],
               "rows": {"base": {"label": "baseline", "psnr": 20.0, "lpips": 0.30},
                        "full": {"label": "full model", "psnr": 22.0, "lpips": 0.20},
                        "extra": {"label": "never run", "psnr": 21.0}}},
    },
    "claims": [
        {"id": "full_psnr", "text": "full beats base on PSNR", "table": "t1", "metric": "psnr", "better": "higher",
         "a": "base", "b": "full", "published_effect": 2.0},
        {"id": "full_lpips", "text": "full lowers LPIPS", "table": "t1", "metric": "lpips", "better": "lower",
         "a": "base", "b": "full", "published_effect": -0.1},
        {"id": "extra_psnr", "text": "extra beats base", "table": "t1", "metric": "psnr", "better": "higher",
         "a": "base", "b": "extra", "published_effect": 1.0},
    ],
}


def sidecar(seed, base_psnr, full_psnr, base_lpips, full_lpips, env_commit="abc", preset="course"):
    return {"notebook": "toy/01_ablation", "config": {"preset": preset, "seed": seed},
            "environment": {"python": "3.11", "torch": "2.11.0", "device": "cpu", "git_commit": env_commit},
            "metrics": {"t1_seeds": {"base": {"psnr": base_psnr, "lpips": base_lpips},
                                     "full": {"psnr": full_psnr, "lpips": full_lpips}},
                        "t1": {"base": {"psnr": sum(base_psnr) / len(base_psnr)}},
                        "seconds": 1.5}}


@pytest.fixture
def tables_root(tmp_path):
    root = tmp_path / "tables"
    root.mkdir()
    (root / "toy.yaml").write_text(yaml.safe_dump(TOY))
    return root


def make_run(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "r1"
    (run / "toy").mkdir(parents=True)
    # a two-run sweep (seeds 0 and 2); each run has two internal seeds (seed, seed + 1)
    sides = {0: sidecar(0, [20.0, 20.2], [21.9, 22.3], [0.31, 0.29], [0.32, 0.28]),
             2: sidecar(2, [20.1, 19.9], [22.0, 22.1], [0.30, 0.30], [0.29, 0.31])}
    runs = {}
    for seed, sc in sides.items():
        name = f"01_ablation__preset-smoke_seed-{seed}"
        (run / "toy" / f"{name}.json").write_text(json.dumps(sc))
        (run / "toy" / f"{name}.ipynb").write_text("{}")
        runs[f"toy/{name}.ipynb"] = {"notebook": "toy/01_ablation", "paper": "toy", "status": "ran", "ok": True,
                                      "parameters": {"preset": "smoke", "seed": seed}, "seconds": 1.5}
    runs["toy/02_broken__preset-smoke_seed-0.ipynb"] = {
        "notebook": "toy/02_broken", "paper": "toy", "status": "failed", "ok": False, "seconds": 0.4,
        "parameters": {"preset": "smoke", "seed": 0}, "error": "ValueError: boom", "error_cell": "raise ValueError('boom')"}
    write_manifest(run, {"runs": runs})
    fig_dir = run / "figures" / "preset-smoke_seed-0" / "toy"
    fig_dir.mkdir(parents=True)
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    fig.savefig(fig_dir / "curve.png")
    plt.close(fig)
    return run


def test_repository_tables_are_valid():
    papers = available_papers()
    assert "vfhgan" in papers
    for p in papers:
        pt = load_tables(p)
        assert pt.paper == p and pt.tables
        for c in pt.claims:  # every claim points at rows and metrics its table has
            t = pt.tables[c.table]
            assert c.a in t.rows and c.metric in t.metrics
            a, b = t.published(c.a, c.metric), t.published(c.b, c.metric)
            if a is not None and b is not None and c.published_effect is not None:  # the effect is the table's b - a
                assert math.isclose(b - a, c.published_effect, abs_tol=1e-3), c.id
    assert load_tables("vfhgan").tables["table1"].published("no_audio", "psnr") == 27.128


def test_row_components_are_data_in_the_yaml(tmp_path):
    t1 = load_tables("vfhgan").tables["table1"]
    assert t1.row_components() == {"no_audio": [], "audio": ["audio"], "audio_attention": ["audio", "attention"]}
    assert load_tables("vfhgan").tables["table3"].row_components() == {}
    bad = json.loads(json.dumps(TOY))
    bad["tables"]["t1"]["rows"]["base"]["components"] = "audio"
    with pytest.raises(ValueError, match=r"rows.base.components must be a list of names"):
        parse_tables(bad, Path("toy.yaml"))


def test_beside_paper_rows(tables_root):
    from avfh_core.reproduce.tables import beside_paper

    rows = beside_paper(load_tables("toy", tables_root), "t1", {"full": {"psnr": 21.0}, "ours_only": {"psnr": 1.0}})
    assert rows[0] == {"row": "full", "label": "full model", "paper_psnr": 22.0, "ours_psnr": 21.0,
                       "paper_lpips": 0.2, "ours_lpips": None}
    assert rows[1]["paper_psnr"] is None and rows[1]["label"] == "ours_only"
    with pytest.raises(KeyError, match="no table 't9'"):
        beside_paper(load_tables("toy", tables_root), "t9", {})


def test_tables_validation_names_the_mistake(tmp_path):
    bad = json.loads(json.dumps(TOY))
    bad["claims"][0]["b"] = "fulll"
    with pytest.raises(ValueError, match=r"toy.yaml: claim full_psnr: row b='fulll'"):
        parse_tables(bad, Path("toy.yaml"))
    bad = json.loads(json.dumps(TOY))
    bad["tables"]["t1"]["rows"]["base"]["psnr"] = "twenty"
    with pytest.raises(ValueError, match=r"rows.base.psnr must be a number"):
        parse_tables(bad, Path("toy.yaml"))
    with pytest.raises(FileNotFoundError, match="no tables transcribed for paper 'nope'"):
        load_tables("nope", tmp_path)


def test_collect_pools_seeds_across_runs_without_double_counting():
    a = sidecar(0, [20.0, 20.2], [22.0, 22.1], [0.3, 0.3], [0.2, 0.2])
    b = sidecar(1, [20.2, 20.4], [22.1, 22.5], [0.3, 0.3], [0.2, 0.2])  # seeds 1, 2: seed 1 seen already
    got = collect_table([a, b], "t1")
    assert got["base"]["psnr"] == {0: 20.0, 1: 20.2, 2: 20.4}
    s = summarize(got["full"]["psnr"])
    assert s["n"] == 3 and math.isclose(s["mean"], (22.0 + 22.1 + 22.5) / 3)
    means_only = {"config": {"seed": 5}, "metrics": {"t1": {"base": {"psnr": 19.0}}}}
    assert collect_table([means_only], "t1") == {"base": {"psnr": {5: 19.0}}}


def test_audit_verdicts(tables_root):
    pt = load_tables("toy", tables_root)
    sides = [sidecar(0, [20.0, 20.2], [21.9, 22.3], [0.31, 0.29], [0.32, 0.28]),
             sidecar(2, [20.1, 19.9], [22.0, 22.1], [0.30, 0.30], [0.29, 0.31])]
    recs = {r["id"]: r for r in audit_claims(pt, sides)}
    psnr = recs["full_psnr"]
    assert psnr["verdict"] == "reproduced" and psnr["n"] == 4
    assert math.isclose(psnr["effect"], (1.9 + 2.1 + 1.9 + 2.2) / 4)  # b - a, the paper's sign convention
    assert psnr["ci_low"] > 0
    assert recs["full_lpips"]["verdict"] == "not reproduced"  # n = 4, interval inside +-0.05: effect ruled out
    assert recs["extra_psnr"]["verdict"] == "not run" and "extra" in recs["extra_psnr"]["reason"]
    assert verdict_counts(recs.values()) == {"reproduced": 1, "not reproduced": 1, "inconclusive": 0, "not run": 1}
    assert all(r["verdict"] == "not run" for r in audit_claims(pt, []))
    # the same numbers from smoke runs: inconclusive by construction, with the statistics' verdict in `why`
    smoke = [sidecar(0, [20.0, 20.2], [21.9, 22.3], [0.31, 0.29], [0.32, 0.28], preset="smoke"),
             sidecar(2, [20.1, 19.9], [22.0, 22.1], [0.30, 0.30], [0.29, 0.31], preset="smoke")]
    recs = {r["id"]: r for r in audit_claims(pt, smoke)}
    assert recs["full_psnr"]["verdict"] == "inconclusive" and "by construction" in recs["full_psnr"]["why"]
    assert "'reproduced'" in recs["full_psnr"]["why"]


def test_audit_one_sided_rule_ignores_the_wrong_direction_bound(tables_root):
    """The old equivalence rule needed both ends inside +-d/2; an interval reaching far in the wrong direction
    (here: full is clearly worse than base) blocked "not reproduced". One-sided, it is evidence against the claim."""
    pt = load_tables("toy", tables_root)
    worse = [sidecar(0, [20.0, 20.5, 21.0], [19.0, 19.3, 20.4], [0.3] * 3, [0.3] * 3)]
    rec = {r["id"]: r for r in audit_claims(pt, worse)}["full_psnr"]
    assert rec["ci_low"] < -1.0  # far beyond -d/2 = -1 in the wrong direction
    assert rec["ci_high"] < 1.0 and rec["verdict"] == "not reproduced"


def test_report_markdown_and_self_contained_html(tmp_path, tables_root):
    run = make_run(tmp_path)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    md, page = build_report(run, tables_root=tables_root)
    text = md.read_text()
    assert "## toy: A toy paper" in text
    assert "| baseline | 20.000 | 20.050 ± 0.129 (n=4)" in text  # published beside ours, mean ± sd over seeds
    assert "| never run | 21.000 | not run |" in text
    assert "full_psnr: full beats base on PSNR | psnr | 2.000 | 2.025 |" in text
    assert "| MDE | verdict | why |" in text and "Refutable at the seeds run" in text
    assert "No positive controls declared for this paper" in text
    assert "reproduced" in text and "not run" in text
    assert "raise ValueError('boom')" in text  # failed notebook with its error cell
    assert "torch | 2.11.0" in text
    assert "![curve](figures/preset-smoke_seed-0/toy/curve.png)" in text
    html = page.read_text()
    assert "data:image/png;base64," in html and "src='figures" not in html
    assert "<td class='v-reproduced'>reproduced</td>" in html
    audit = json.loads((run / "audit.json").read_text())
    assert audit["counts"]["reproduced"] == 1
    (key,) = audit["audits"]
    rec = {r["id"]: r for r in audit["audits"][key]}["full_psnr"]
    assert rec["mde"] > 0 and rec["refutable"] is True and audit["controls"][key] == []
    for p, data in before.items():  # the report reads numbers, never writes them
        assert p.read_bytes() == data


def test_report_cli(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "run folder not found" in capsys.readouterr().err
    run = tmp_path / "runs" / "empty"
    run.mkdir(parents=True)
    assert main(["report", str(run)]) == 0
    text = (run / "report.md").read_text()
    assert "No run in this folder logged a table" in text and "vfhgan" in text


def test_report_shows_controls_mde_and_audio_use(tmp_path):
    toy = json.loads(json.dumps(TOY))
    toy["controls"] = [{"id": "planted", "family": "method beats a baseline", "text": "planted 1 dB", "table": "ctl",
                        "metric": "psnr", "better": "higher", "a": "weak", "b": "strong", "planted_effect": 1.0,
                        "claims": ["full_psnr"]}]
    root = tmp_path / "tables"
    root.mkdir()
    (root / "toy.yaml").write_text(yaml.safe_dump(toy))
    run = tmp_path / "runs" / "r2"
    (run / "toy").mkdir(parents=True)
    sc = sidecar(0, [20.0, 20.2, 20.1], [22.0, 22.1, 22.3], [0.3] * 3, [0.2] * 3)
    sc["metrics"]["ctl_seeds"] = {"weak": {"psnr": [20.0, 20.3, 19.8]}, "strong": {"psnr": [20.2, 21.5, 19.7]}}
    sc["metrics"]["audio_use_seeds"] = {"intact": {"psnr": [25.0, 25.2, 25.1]},
                                        "shuffled": {"psnr": [24.0, 24.1, 24.3]}}
    sc["metrics"]["control_audio_use_train_balanced_seeds"] = {"intact": {"mouth_psnr": [29.7, 29.5, 29.1]},
                                                               "shuffled": {"mouth_psnr": [29.7, 29.5, 29.1]}}
    sc["metrics"]["audio_use_note"] = "not a per-seed table"  # other keys naming audio use are left alone
    (run / "toy" / "01_ablation__preset-course.json").write_text(json.dumps(sc))
    md, _ = build_report(run, tables_root=root)
    text = md.read_text()
    assert "### Positive controls" in text and "| planted: planted 1 dB | method beats a baseline | full_psnr |" in text
    assert "| NO |" in text and "Not detected: planted" in text  # the planted 1 dB drowned in the seed spread
    assert "#### Audio use at evaluation time" in text and "model uses the audio" in text
    # every audio-use table a notebook logs, the paper's model first; one on training people says so
    assert text.index("audio_use: scored on the test windows") < text.index(
        "control_audio_use_train_balanced: scored on people the model was trained on")
    assert text.count("| shuffled | mouth_psnr |") == 1 and "| shuffled | psnr |" in text
    audit = json.loads((run / "audit.json").read_text())
    (key,) = audit["controls"]
    assert audit["controls"][key][0]["detected"] is False


def _batch_repo(tmp_path, monkeypatch, batches: dict[str, str]):
    """The toy tables, and a repository root holding one saved batch per {file name: weight setting}."""
    import avfh_core.config as config

    root = tmp_path / "tables"
    root.mkdir()
    (root / "toy.yaml").write_text(yaml.safe_dump(TOY))
    repo = tmp_path / "repo"
    (repo / "results").mkdir(parents=True)
    monkeypatch.setattr(config, "repo_root", lambda: repo)
    for name, setting in batches.items():
        batch = sidecar(0, [20.0, 20.2, 20.1], [22.0, 22.1, 22.3], [0.3] * 3, [0.2] * 3)["metrics"]
        (repo / "results" / name).write_text(json.dumps(
            {"metrics": batch, "setting": setting, "preset": "course", "seeds": [0, 1, 2], "steps": 1000}))
    return root


def test_report_re_audits_the_longer_batch_a_notebook_shows(tmp_path, monkeypatch):
    root = _batch_repo(tmp_path, monkeypatch, {"long.json": "balanced"})
    run = tmp_path / "runs" / "r3"
    (run / "toy").mkdir(parents=True)
    sc = sidecar(0, [20.0, 20.2], [21.9, 22.3], [0.31, 0.29], [0.32, 0.28])
    sc["metrics"]["long_batch"] = {"file": "results/long.json", "steps": 1000}
    gone = dict(sc, metrics={**sc["metrics"], "long_batch": {"file": "results/gone.json"}})
    (run / "toy" / "01_ablation__preset-course.json").write_text(json.dumps(sc))
    (run / "toy" / "01_ablation__preset-course_seed-9.json").write_text(json.dumps(dict(gone, config={
        "preset": "course", "seed": 9})))
    text = build_report(run, tables_root=root)[0].read_text()
    assert "### A longer batch: results/long.json" in text
    assert "balanced weights, 1000 steps per run, seeds [0, 1, 2] (course preset)" in text
    assert "#### Its positive controls" in text
    long_part = text.split("### A longer batch: results/long.json")[1]
    assert "| full_psnr: full beats base on PSNR | psnr |" in long_part and "reproduced" in long_part
    assert "### A longer batch: results/gone.json" in text and "gone.json: no such batch file" in text


def test_report_shows_every_longer_batch_a_sidecar_names_once(tmp_path, monkeypatch):
    root = _batch_repo(tmp_path, monkeypatch, {"long.json": "balanced", "long_released.json": "released"})
    run = tmp_path / "runs" / "r4"
    (run / "toy").mkdir(parents=True)
    sc = sidecar(0, [20.0, 20.2], [21.9, 22.3], [0.31, 0.29], [0.32, 0.28])
    sc["metrics"]["long_batch"] = {"file": "results/long.json"}
    sc["metrics"]["long_batch_released"] = {"file": "results/long_released.json"}
    sc["metrics"]["long_batches"] = {"file": "results/not_a_batch_key.json"}  # not a batch key: ignored
    (run / "toy" / "01_ablation__preset-course.json").write_text(json.dumps(sc))
    text = build_report(run, tables_root=root)[0].read_text()
    assert text.count("### A longer batch: results/long.json") == 1
    assert text.count("### A longer batch: results/long_released.json") == 1
    assert text.index("results/long.json") < text.index("results/long_released.json")
    assert "released weights, 1000 steps per run" in text and "balanced weights, 1000 steps per run" in text
    assert "not_a_batch_key" not in text
