"""The Ear notebooks as the spec plans them (sec. 10): seven notebooks, their dependencies, the figures they write,
and every claim of ear.yaml scored by exactly one notebook."""

import ast
import re
from pathlib import Path

from avfh_core.reproduce.batch import load_registry, order_by_dependencies
from avfh_core.reproduce.tables import load_tables

ROOT = Path(__file__).resolve().parents[1]
SEVEN = ["ear/01_data", "ear/02_stylegan", "ear/03_inversion", "ear/04_encoders", "ear/05_fusion",
         "ear/06_ablations", "ear/07_comparison"]


def _source(nid: str) -> str:
    return (ROOT / "notebooks" / f"{nid}.py").read_text()


def test_the_seven_notebooks_are_registered_with_the_spec_dependencies():
    reg = load_registry()
    ear = sorted(n for n, i in reg.items() if i.paper == "ear")
    assert ear == SEVEN
    for prev, nid in zip(SEVEN[:5], SEVEN[1:6]):  # 01 -> 02 -> ... -> 06
        assert reg[nid].depends_on == (prev,), nid
    assert set(reg["ear/07_comparison"].depends_on) == {"ear/01_data", "ear/05_fusion"}
    assert reg["ear/01_data"].depends_on == ()
    order = order_by_dependencies(SEVEN, reg)
    assert order.index("ear/05_fusion") < order.index("ear/07_comparison")


def test_each_notebook_logs_under_its_own_id():
    for nid in SEVEN:
        assert f'Results("{nid}", cfg)' in _source(nid), nid


def test_every_claim_is_scored_by_exactly_one_notebook():
    scored: dict[str, str] = {}
    for nid in SEVEN:
        m = re.search(r"^SCORED = (\([^)]*\))", _source(nid), re.M)
        if m:
            for table in ast.literal_eval(m.group(1)):
                assert table not in scored, f"{table} scored by {scored[table]} and {nid}"
                scored[table] = nid
    tables = {c.table for c in load_tables("ear").claims}
    assert tables == set(scored), f"claims' tables {sorted(tables)} vs scored {sorted(scored)}"


def test_committed_figures_are_the_ones_the_notebooks_write():
    written = {name for nid in SEVEN for name in re.findall(r'save_figure\(fig, "ear", "([^"]+)"\)', _source(nid))}
    assert len(written) >= 5
    committed = {p.stem for p in (ROOT / "figures" / "ear").glob("*.png")}
    assert committed == written, f"stale: {sorted(committed - written)}, missing: {sorted(written - committed)}"
