"""reproduce/tables/talkingface.yaml: the paper's directional claims as data, and how the audit scores them."""

from avfh_core.reproduce.audit import NO_MAGNITUDE, audit_claims, load_controls
from avfh_core.reproduce.tables import load_tables
from avfh_core.train import talkingface as TF


def test_every_claim_names_existing_rows_and_has_no_published_effect():
    t = load_tables("talkingface")
    assert {"fig5_lrw", "fig5_grid", "ablations", "controls"} <= set(t.tables)
    assert len(t.claims) >= 12
    for c in t.claims:
        table = t.tables[c.table]
        assert c.a in table.rows and c.b in table.rows and c.metric in table.metrics
        assert c.published_effect is None  # the paper publishes no number
    for table in t.tables.values():  # no transcribed value anywhere
        assert all(set(r) <= {"label", "components"} for r in table.rows.values())
    for k in load_controls(t):
        assert k["a"] in t.tables[k["table"]].rows and k["b"] in t.tables[k["table"]].rows


def test_table_rows_match_the_training_module():
    import avfh_core.config as C

    cfg = C.setup("smoke", device="cpu")
    t = load_tables("talkingface")
    for name, rows in TF.TABLES.items():
        built = set(rows(cfg))
        declared = set(t.tables[name].rows)
        assert built <= declared, (name, built - declared)


def test_directional_claims_say_there_is_no_published_magnitude():
    t = load_tables("talkingface")
    vals = {"proposed": {"psnr_lt10": [20.0, 20.1, 19.9]}, "proposed_nr": {"psnr_lt10": [21.0, 21.2, 20.9]}}
    sidecar = {"metrics": {"fig5_lrw_seeds": vals}, "config": {"seed": 0, "preset": "course"}}
    recs = {r["id"]: r for r in audit_claims(t, [sidecar])}
    r = recs["nr_beats_proposed_psnr_lrw_low"]
    assert r["verdict"] == "reproduced" and r["magnitude"] == NO_MAGNITUDE and r["refutable"] is False
    assert recs["proposed_beats_bl_psnr_lrw"]["verdict"] == "not run"
    worse = {"metrics": {"fig5_lrw_seeds": {"proposed": vals["proposed_nr"], "proposed_nr": vals["proposed"]}},
             "config": {"seed": 0, "preset": "course"}}
    r = {x["id"]: x for x in audit_claims(t, [worse])}["nr_beats_proposed_psnr_lrw_low"]
    assert r["verdict"] != "reproduced"  # the opposite direction is never a "reproduced"
