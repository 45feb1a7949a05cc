"""reproduce/tables/secnet.yaml: the paper's tables and claims, and what our runs can score."""

import yaml

from avfh_core.config import setup
from avfh_core.reproduce.audit import load_controls
from avfh_core.reproduce.tables import load_tables
from avfh_core.train import secnet as S


def test_claims_name_existing_rows_and_testable_ones_have_runs():
    paper = load_tables("secnet")
    raw = {c["id"]: c for c in yaml.safe_load(paper.source.read_text())["claims"]}
    cfg = setup("smoke", device="cpu")
    assert len(paper.claims) == len(raw) > 30
    for c in paper.claims:
        table = paper.tables[c.table]
        assert c.a in table.rows and c.b in table.rows, c.id
        a, b = table.rows[c.a].get(c.metric), table.rows[c.b].get(c.metric)
        if a is not None and b is not None:  # published_effect is b - a of the paper's numbers
            assert abs(c.published_effect - (b - a)) < 1e-6, c.id
        reason = raw[c.id].get("untestable")
        if reason is None:
            rows = S.TABLES[S.YAML_TABLES[c.table]](cfg)
            assert c.a in rows and c.b in rows, f"{c.id}: rows {c.a}, {c.b} are not runs of {S.YAML_TABLES[c.table]}"
        else:
            assert isinstance(reason, str) and len(reason) > 20 and c.untestable == reason, c.id


def test_controls_cover_claims_and_name_the_control_rows():
    paper = load_tables("secnet")
    controls = {c["id"]: c for c in load_controls(paper)}
    assert set(controls) == {"fusion_helps_with_strong_motion", "secnet_beats_handicapped", "planted_rise_is_seen"}
    motion_rows = set(S.motion(setup("smoke", device="cpu")))
    fusion = controls["fusion_helps_with_strong_motion"]
    assert {fusion["a"], fusion["b"]} <= motion_rows
    assert controls["secnet_beats_handicapped"]["planted_effect"] == 0.5
    assert "lffnet_beats_single_frame" in fusion["claims"]
