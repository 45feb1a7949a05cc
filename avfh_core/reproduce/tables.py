"""The papers' tables and quantitative claims, stored as data in `avfh_core/reproduce/tables/<paper>.yaml`.

One file per paper, transcribed from the paper's text (its citation heads the file; nothing in them is ours):

    paper: vfhgan
    title: "..."
    tables:
      table1: {caption, dataset, metrics: [psnr, ...], rows: {row_key: {label, psnr: 27.1, ..., components: [...]}}}
    claims:
      - {id, text, table, metric, better: higher|lower, a: row_key, b: row_key, published_effect}

`components` (optional, per row) names the parts a row switches on, e.g. [audio, attention]: the dashboard draws
one checkbox per component. A claim says "row b beats row a on `metric`"; `published_effect` is the paper's b - a. A new paper plugs into the
report and the audit by adding its file; `load_tables` validates it and names the file and key of any mistake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TABLES_DIR = Path(__file__).with_name("tables")
CLAIM_KEYS = ("id", "text", "table", "metric", "better", "a", "b", "published_effect")


@dataclass
class Table:
    name: str
    caption: str
    dataset: str | None
    metrics: list[str]
    rows: dict[str, dict[str, Any]]  # row_key -> {label, metric: published value or absent}

    def published(self, row: str, metric: str) -> float | None:
        value = self.rows.get(row, {}).get(metric)
        return float(value) if isinstance(value, int | float) else None

    def label(self, row: str) -> str:
        return str(self.rows.get(row, {}).get("label", row))

    def format_row(self, row: str, ours: Mapping[str, float],
                     fields: Sequence[tuple[str, str, str, str]]) -> str:
        """One printed row of our numbers beside the paper's: for each (name, metric, format spec, unit) of
        `fields`, "name <ours[metric] formatted><unit>", followed by "(paper <value>)" when the table has that
        metric as a column ("(paper not published)" where this row leaves it empty). A metric the table does not
        report (e.g. our PSNR beside a table of accuracies) stands alone. `ours` is {metric: our value}."""
        parts = []
        for name, metric, spec, unit in fields:
            if metric not in ours:
                raise KeyError(f"format_row({row!r}): no {metric!r} among our values {sorted(ours)}")
            text = f"{name} {format(ours[metric], spec)}{unit}"
            if metric in self.metrics:
                pub = self.published(row, metric)
                text += f" (paper {'not published' if pub is None else pub})"
            parts.append(text)
        return ", ".join(parts)

    def row_components(self) -> dict[str, list[str]]:
        """{row: [component, ...]} for a table whose rows switch parts on and off (the dashboard's checkboxes);
        empty when no row declares `components`."""
        if not any("components" in r for r in self.rows.values()):
            return {}
        return {row: list(r.get("components", [])) for row, r in self.rows.items()}


@dataclass
class Claim:
    id: str
    text: str
    table: str
    metric: str
    better: str
    a: str
    b: str
    published_effect: float | None = None
    untestable: str | None = None  # why this world cannot test the claim (the claim is then "not run")


@dataclass
class PaperTables:
    paper: str
    title: str
    tables: dict[str, Table] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    source: Path | None = None

    def format_rows(self, tables: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
                          fields: Sequence[tuple[str, str, str, str]], tags: Mapping[str, str] | None = None,
                          width: int = 22) -> list[str]:
        """Printable lines, one per row of each table in `tables` ({table name: {row: {metric: [one value per
        seed]}}}): an optional tag per table (e.g. "closed "), the row's label, and its seed means beside the
        paper's numbers (`Table.format_row` with `fields`)."""
        lines = []
        for name, rows in tables.items():
            if name not in self.tables:
                raise KeyError(f"format_rows: {self.paper} has no table {name!r} (tables: {sorted(self.tables)})")
            t = self.tables[name]
            for row, metrics in rows.items():
                ours = {k: sum(v) / len(v) for k, v in metrics.items()}
                lines.append(f"{(tags or {}).get(name, '')}{t.label(row):{width}s} {t.format_row(row, ours, fields)}")
        return lines


def available_papers(root: Path | None = None) -> list[str]:
    """Papers whose tables are transcribed (one YAML file each)."""
    return sorted(p.stem for p in (root or TABLES_DIR).glob("*.yaml"))


def _fail(where: Path, msg: str) -> None:
    raise ValueError(f"{where}: {msg}")


def parse_tables(data: Any, where: Path) -> PaperTables:
    """Validate a loaded tables document; every error names the file and the offending key."""
    if not isinstance(data, dict):
        _fail(where, "a tables file is a mapping with keys paper, title, tables, claims")
    for key in ("paper", "tables"):
        if key not in data:
            _fail(where, f"missing key {key!r}")
    if not isinstance(data["tables"], dict) or not data["tables"]:
        _fail(where, "tables must be a non-empty mapping of table name -> {caption, metrics, rows}")
    out = PaperTables(str(data["paper"]), str(data.get("title", data["paper"])), source=where)
    for name, t in data["tables"].items():
        if not isinstance(t, dict) or not isinstance(t.get("rows"), dict) or not t["rows"]:
            _fail(where, f"tables.{name}: needs a non-empty rows mapping")
        metrics = t.get("metrics")
        if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
            _fail(where, f"tables.{name}.metrics must be a non-empty list of metric names")
        for row, values in t["rows"].items():
            if not isinstance(values, dict):
                _fail(where, f"tables.{name}.rows.{row} must be a mapping {{label, metric: value}}")
            extra = sorted(set(values) - {"label", "components", *metrics})
            if extra:
                _fail(where, f"tables.{name}.rows.{row} has values for undeclared metric(s) {extra}")
            comps = values.get("components", [])
            if not isinstance(comps, list) or not all(isinstance(c, str) for c in comps):
                _fail(where, f"tables.{name}.rows.{row}.components must be a list of names, got {comps!r}")
            for m in metrics:
                if m in values and not isinstance(values[m], int | float):
                    _fail(where, f"tables.{name}.rows.{row}.{m} must be a number, got {values[m]!r}")
        out.tables[name] = Table(name, str(t.get("caption", "")), t.get("dataset"), list(metrics), dict(t["rows"]))
    seen: set[str] = set()
    for i, c in enumerate(data.get("claims") or []):
        if not isinstance(c, dict):
            _fail(where, f"claims[{i}] must be a mapping with keys {list(CLAIM_KEYS)}")
        missing = [k for k in CLAIM_KEYS if k not in c and k != "published_effect"]
        if missing:
            _fail(where, f"claims[{i}] ({c.get('id', '?')}) is missing {missing}")
        cid = str(c["id"])
        if cid in seen:
            _fail(where, f"claims: duplicate id {cid!r}")
        seen.add(cid)
        table = out.tables.get(c["table"])
        if table is None:
            _fail(where, f"claim {cid}: unknown table {c['table']!r}; tables are {sorted(out.tables)}")
        if c["metric"] not in table.metrics:
            _fail(where, f"claim {cid}: metric {c['metric']!r} is not a metric of {table.name} {table.metrics}")
        for side in ("a", "b"):
            if c[side] not in table.rows:
                _fail(where, f"claim {cid}: row {side}={c[side]!r} is not a row of {table.name}")
        if c["better"] not in ("higher", "lower"):
            _fail(where, f"claim {cid}: better must be 'higher' or 'lower', got {c['better']!r}")
        pe = c.get("published_effect")
        if pe is not None and not isinstance(pe, int | float):
            _fail(where, f"claim {cid}: published_effect must be a number or null, got {pe!r}")
        why = c.get("untestable")
        if why is not None and (not isinstance(why, str) or not why.strip()):
            _fail(where, f"claim {cid}: untestable must be a sentence saying why, got {why!r}")
        out.claims.append(Claim(cid, str(c["text"]), c["table"], c["metric"], c["better"], c["a"], c["b"],
                                None if pe is None else float(pe), why))
    return out


def load_tables(paper: str, root: Path | None = None) -> PaperTables:
    """The transcribed tables and claims of `paper` (e.g. "vfhgan")."""
    path = (root or TABLES_DIR) / f"{paper}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no tables transcribed for paper {paper!r}; "
                                f"available: {available_papers(root)}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None
    pt = parse_tables(data, path)
    if pt.paper != paper:
        raise ValueError(f"{path}: declares paper {pt.paper!r} but the file is named for {paper!r}")
    return pt


def beside_paper(paper: PaperTables, table: str, ours: dict[str, dict[str, float]],
                 metrics: tuple[str, ...] | list[str] | None = None) -> list[dict[str, Any]]:
    """Our means beside the paper's numbers, one record per row of `ours` ({row: {metric: mean}}):
    {row, label, paper_<m>, ours_<m>} (paper_<m> None where the paper has no such row or number)."""
    if table not in paper.tables:
        raise KeyError(f"{paper.source or paper.paper}: no table {table!r}; tables: {sorted(paper.tables)}")
    t = paper.tables[table]
    metrics = tuple(metrics or t.metrics)
    out = []
    for row, vals in ours.items():
        rec: dict[str, Any] = {"row": row, "label": t.label(row)}
        for m in metrics:
            rec[f"paper_{m}"] = t.published(row, m)
            rec[f"ours_{m}"] = vals.get(m)
        out.append(rec)
    return out


__all__ = ["Table", "Claim", "PaperTables", "available_papers", "beside_paper", "load_tables", "parse_tables",
           "TABLES_DIR"]
