"""`avfh report runs/<run-id>`: a Markdown and a self-contained HTML report of a batch, with the claims audit.

Per paper: each table of the paper (tables/<paper>.yaml) rebuilt from the run's sidecars, the paper's published
numbers beside ours (mean +- sd over seeds, n), rows no run produced marked "not run"; the claims audit
(`audit.py`); each saved longer batch a notebook shows (its sidecar's `long_batch`, or `long_batch_<name>` for a
second one, = {"file": path from the repository root, ...}), re-audited from its scores with the same rule
(`audit.audit_batch_file`); the environment record; the figures the notebooks saved (embedded as base64 in the
HTML, so the file stands alone). The report reads numbers and never writes any back.

Both renderings come from one list of blocks: ("h1".."h4"|"p"|"pre", text), ("table", header, rows),
("img", path, caption).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avfh_core.reproduce.audit import (
    NOT_RUN,
    audit_batch_file,
    audit_claims,
    audit_controls,
    collect_table,
    one_sided_verdict,
    presets_of,
    summarize,
    verdict_counts,
)
from avfh_core.reproduce.batch import MANIFEST, param_slug, read_manifest
from avfh_core.reproduce.tables import TABLES_DIR, PaperTables, available_papers, load_tables

Block = tuple


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if math.isnan(v):
            return "nan"
        if abs(v) < 1e-12:  # float noise of a zero difference
            return f"{0:.{digits}f}"
        return f"{v:.{digits}f}" if abs(v) >= 10 ** -digits else f"{v:.2e}"
    return str(v)


def load_sidecars(run_dir: Path) -> list[dict[str, Any]]:
    """Every notebook sidecar (`<notebook>__<params>.json`) of a run folder, with `_source` and `_parameters`."""
    manifest = read_manifest(run_dir)
    by_output = {Path(k).with_suffix(".json").as_posix(): rec for k, rec in manifest.get("runs", {}).items()}
    out = []
    for p in sorted(run_dir.rglob("*.json")):
        rel = p.relative_to(run_dir).as_posix()
        if p.name == MANIFEST or p.name.startswith(".") or rel.startswith("figures/") or p.name.endswith(".failed.json"):
            continue
        if by_output and not (by_output.get(rel) or {}).get("ok"):
            continue  # the audit reads finished runs only, never a failed or partial one
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict) or "metrics" not in data or "notebook" not in data:
            continue
        rec = by_output.get(rel, {})
        data["_source"] = rel
        data["_parameters"] = rec.get("parameters") or {
            k: (data.get("config") or {}).get(k) for k in ("preset", "seed")}
        data["_status"] = rec.get("status")
        data["_paper"] = rec.get("paper") or str(data["notebook"]).split("/")[0]
        out.append(data)
    return out


def configuration_key(sidecar: Mapping[str, Any]) -> str:
    """Runs that differ only by seed are one configuration (their seeds pool in the audit)."""
    params = {k: v for k, v in (sidecar.get("_parameters") or {}).items() if k != "seed"}
    return param_slug(params)


def _cell(published: float | None, ours: Mapping[str, Any] | None) -> list[str]:
    if not ours or not ours.get("n"):
        return [fmt(published), NOT_RUN]
    s = f"{fmt(ours['mean'])}"
    if ours.get("sd") is not None:
        s += f" ± {fmt(ours['sd'])}"
    return [fmt(published), f"{s} (n={ours['n']})"]


def table_blocks(paper: PaperTables, sidecars: list[dict[str, Any]]) -> list[Block]:
    blocks: list[Block] = []
    for name, table in paper.tables.items():
        ours = collect_table(sidecars, name)
        header = ["row", *[f"{m} {who}" for m in table.metrics for who in ("(paper)", "(ours)")]]
        rows = []
        for key in table.rows:
            cells = [table.label(key)]
            for m in table.metrics:
                cells += _cell(table.published(key, m), summarize(ours.get(key, {}).get(m, {})))
            rows.append(cells)
        for key in sorted(set(ours) - set(table.rows)):  # rows we ran that the paper does not have
            cells = [f"{key} (ours only)"]
            for m in table.metrics:
                cells += _cell(None, summarize(ours[key].get(m, {})))
            rows.append(cells)
        caption = table.caption.rstrip(".") + "." + (f" Paper's dataset: {table.dataset}." if table.dataset else "")
        blocks += [("h4", name), ("p", caption), ("table", header, rows)]
    return blocks


def audit_blocks(records: list[dict[str, Any]], alpha: float = 0.05) -> list[Block]:
    counts = verdict_counts(records)
    header = ["claim", "metric", "published (b - a)", "ours (b - a)", f"one-sided {100 * (1 - alpha):.0f}% bounds",
              "p (one-sided)", "n", "MDE", "verdict", "why"]
    rows = []
    for r in records:
        if r["verdict"] == NOT_RUN:
            ours, ci, p, mde, why = NOT_RUN, "—", "—", "—", r.get("reason", "")
        else:
            ours, ci, p = fmt(r["effect"]), f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]", fmt(r["p_value"])
            mde = fmt(r["mde"]) + ("" if r.get("refutable") or r.get("published_effect") is None
                                   else " (> |published|/2: not refutable at this n)")
            why = r.get("why", "")
        rows.append([f"{r['id']}: {r['text']}", r["metric"], fmt(r["published_effect"]), ours, ci, p,
                     str(r.get("n", 0)), mde, r["verdict"], why])
    summary = ", ".join(f"{v}: {n}" for v, n in counts.items())
    n_refutable = sum(bool(r.get("refutable")) for r in records if r["verdict"] != NOT_RUN)
    n_scored = sum(r["verdict"] != NOT_RUN for r in records)
    return [("p", f"{len(records)} claims. {summary}. Refutable at the seeds run (half the published effect >= the "
                  f"minimum detectable effect, MDE: one-sided alpha {alpha:g}, power 0.8): {n_refutable} of "
                  f"{n_scored} scored."), ("table", header, rows)]


def control_blocks(records: list[dict[str, Any]], alpha: float = 0.05) -> list[Block]:
    """The positive controls: each planted effect, ours, and whether the audit detected it."""
    if not records:
        return [("p", "No positive controls declared for this paper (add a `controls:` section to its tables "
                      "file): its 'not reproduced' verdicts rest on an untested instrument.")]
    header = ["control", "family", "covers claims", "metric", "planted (b - a)", "ours (b - a)",
              f"one-sided {100 * (1 - alpha):.0f}% bounds", "n", "MDE", "detected"]
    rows = []
    for r in records:
        run = r["verdict"] != NOT_RUN
        rows.append([f"{r['id']}: {r['text']}", r["family"], ", ".join(r["claims"]), r["metric"],
                     (fmt(r["planted_effect"]) if r["planted_effect"] is not None else "sign only")
                     + (f", at most {fmt(r['ceiling'])}" if "ceiling" in r else ""),
                     fmt(r["effect"]) if run else NOT_RUN,
                     f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]" if run else "—", str(r.get("n", 0)),
                     fmt(r["mde"]) if run else "—",
                     "yes" if r["detected"] else ("not run" if not run else
                                                  "NO (at most its bound < MDE)" if r.get("too_small") else "NO")])
    missed = [r["id"] for r in records if not r["detected"]]
    note = ("Every control detected: the instrument sees planted effects of these sizes." if not missed else
            f"Not detected: {', '.join(missed)}. A 'not reproduced' verdict of the claims they cover is void "
            "(shown as inconclusive), unless another control of those claims was detected and this one was not "
            "run or could not have been seen." + (" A control marked '< MDE' could not have been detected at this scale and "
                                          "seed count: its largest possible effect, bounded from the world, is "
                                          "smaller than the smallest effect these seeds detect."
                                          if any(r.get("too_small") for r in records) else ""))
    return [("p", note), ("table", header, rows)]


LONG_BATCH_KEY = re.compile(r"^long_batch(_\w+)?$")
"""Sidecar keys that point to a saved longer batch: "long_batch", and "long_batch_<name>" for more than one."""


def batch_blocks(pt: PaperTables, sidecars: list[dict[str, Any]], alpha: float = 0.05) -> list[Block]:
    """The saved batches the sidecars point to (`long_batch` or `long_batch_<name>` = {"file": ...}, in the order of
    their keys), each once, re-audited from its per-seed scores (`audit_batch_file`): its claims and its positive
    controls, or why it could not be read."""
    from avfh_core.config import repo_root

    files = []
    for sc in sidecars:
        metrics = sc.get("metrics") or {}
        for key in sorted(k for k in metrics if LONG_BATCH_KEY.match(k)):
            ref = metrics[key]
            if isinstance(ref, Mapping) and isinstance(ref.get("file"), str) and ref["file"] not in files:
                files.append(ref["file"])
    out: list[Block] = []
    for rel in files:
        out.append(("h3", f"A longer batch: {rel}"))
        try:
            b = audit_batch_file(pt, repo_root() / rel, alpha=alpha)
        except (OSError, ValueError) as e:
            out.append(("p", f"Could not be read: {e}"))
            continue
        out += [("p", f"{b['setting']} weights, {b.get('steps', '?')} steps per run, seeds {b['seeds']} "
                      f"({b['preset']} preset), re-audited here from its saved per-seed scores with the rule above; "
                      "only the claims its rows cover."),
                *audit_blocks(b["claims"], alpha), ("h4", "Its positive controls"),
                *control_blocks(b["controls"], alpha)]
    return out


AUDIO_USE_KEY = re.compile(r"^(?P<name>\w*audio_use\w*)_seeds$")
"""Sidecar keys of per-seed audio use (`reproduce.audio_use.audio_use_seeds`): "audio_use_seeds" (the paper's
audio model), and any other "<...>audio_use<...>_seeds" a notebook logs (a control's audio model, a weight
setting's, the same test on training people: names with "_train")."""


def audio_use_names(sidecars: list[dict[str, Any]]) -> list[str]:
    """The audio-use tables the sidecars logged (without "_seeds"), "audio_use" first, then by name."""
    names = {m["name"] for sc in sidecars for k in (sc.get("metrics") or {}) if (m := AUDIO_USE_KEY.match(k))}
    return sorted(names, key=lambda n: (n != "audio_use", n))


def _audio_use_rows(data: Mapping[str, Mapping[str, Mapping[Any, float]]], alpha: float) -> list[list[str]]:
    rows = []
    for cond in sorted(data, key=lambda c: (c != "intact", c)):
        for metric, vals in sorted(data[cond].items()):
            s = summarize(vals)
            cells = [cond, metric, _cell(None, s)[1]]
            base = data["intact"].get(metric, {})
            seeds = [k for k in vals if k in base]
            if cond != "intact" and seeds:
                v = one_sided_verdict([vals[k] for k in seeds], [base[k] for k in seeds], better="higher",
                                      alpha=alpha)
                cells += [fmt(v["effect"]), f"[{fmt(v['ci_low'])}, {fmt(v['ci_high'])}]",
                          "model uses the audio" if v["verdict"] == "reproduced" else
                          ("no use detected" if v["verdict"] == "not reproduced" else "inconclusive")]
            else:
                cells += ["—", "—", "—"]
            rows.append(cells)
    return rows


def audio_use_blocks(sidecars: list[dict[str, Any]], alpha: float = 0.05) -> list[Block]:
    """Every per-seed audio use the sidecars logged ({condition: {metric: [per seed]}}, `audio_use_names`): a
    trained audio model scored with intact, shuffled and silenced audio, one table per logged model, beside the
    audio claims."""
    header = ["audio at evaluation", "metric", "ours (mean ± sd, n)", "intact - this", "one-sided bounds", "verdict"]
    tables: list[Block] = []
    for name in audio_use_names(sidecars):
        data = collect_table(sidecars, name)
        if "intact" not in data:
            continue
        where = "people the model was trained on" if "_train" in name else "the test windows (held-out people)"
        tables += [("p", f"{name}: scored on {where}."), ("table", header, _audio_use_rows(data, alpha))]
    if not tables:
        return []
    return [("h4", "Audio use at evaluation time"),
            ("p", "Each trained audio model scored on the same windows with its audio intact, shuffled across "
                  "windows, or silenced (`evaluate.audio_use`): a model that uses the audio loses when it is taken "
                  "away. Read beside the audio claims and the audio controls; a model that ignores its audio on the "
                  "people it was trained on too has not learned to use it."), *tables]


def environment_blocks(sidecars: list[dict[str, Any]]) -> list[Block]:
    keys = ("python", "torch", "torchaudio", "device", "gpu", "cuda_available", "cuda_build", "cudnn", "cpu_count",
            "threads", "platform", "git_commit", "git_dirty")
    envs = [s.get("environment") or {} for s in sidecars]
    rows = []
    for k in keys:
        values = sorted({_env_text(e.get(k)) for e in envs if e.get(k) is not None})
        if values:
            rows.append([k, ", ".join(values)])
    packages = sorted({name for e in envs for name in (e.get("packages") or {}) if name not in ("torch", "torchaudio")})
    for name in packages:
        values = sorted({str(e["packages"][name]) for e in envs if name in (e.get("packages") or {})})
        rows.append([name, ", ".join(values)])
    return [("table", ["environment", "value(s) over this paper's runs"], rows)] if rows else []


def _env_text(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items() if v is not None)
    return str(value)


def scalar_blocks(sidecars: list[dict[str, Any]]) -> list[Block]:
    """Top-level numbers the notebooks logged (for papers without transcribed tables, and for context)."""
    rows = []
    for s in sidecars:
        for k, v in sorted((s.get("metrics") or {}).items()):
            if isinstance(v, int | float) and not isinstance(v, bool):
                rows.append([s["notebook"], param_slug(s.get("_parameters") or {}), k, fmt(float(v))])
    return [("table", ["notebook", "parameters", "metric", "value"], rows)] if rows else []


def figure_blocks(run_dir: Path, paper: str) -> list[Block]:
    figs = sorted((run_dir / "figures").glob(f"*/{paper}/*.png"))
    if not figs:
        return [("p", "No figures saved by this paper's notebooks in this run.")]
    first = figs[0].parent.parent.name
    shown = [f for f in figs if f.parent.parent.name == first]
    blocks: list[Block] = []
    if len(shown) < len(figs):
        blocks.append(("p", f"Figures of the run with parameters `{first}` (other runs of the sweep saved theirs "
                            f"under figures/)."))
    return blocks + [("img", f, f.stem) for f in shown]


def run_blocks(run_dir: Path) -> list[Block]:
    manifest = read_manifest(run_dir)
    runs = manifest.get("runs", {})
    if not runs:
        return [("p", "No manifest in this folder (not written by `avfh reproduce`).")]
    rows, errors = [], []
    for rel, r in sorted(runs.items()):
        status, error = r.get("status", "?"), r.get("error") or ""
        later = r.get("last_attempt")
        if later:  # a re-run that did not finish: the finished result above it is the one reported
            status += f"; a later attempt {later.get('status')} ({later.get('output')})"
            error = later.get("error") or ""
            if later.get("error_cell"):
                errors.append(("pre", f"{rel} (later attempt): {error}\n\n{later['error_cell'].strip()[:1500]}"))
        rows.append([r.get("notebook", rel), param_slug(r.get("parameters") or {}), status,
                     fmt(r.get("seconds")), error[:100]])
        if not r.get("ok") and r.get("error_cell"):
            errors.append(("pre", f"{rel}: {r.get('error')}\n\n{r['error_cell'].strip()[:1500]}"))
    n_ok = sum(bool(r.get("ok")) for r in runs.values())
    head = ("p", f"{len(runs)} notebook run(s): {n_ok} ok, {len(runs) - n_ok} failed or blocked.")
    return [head, ("table", ["notebook", "parameters", "status", "seconds", "error"], rows), *errors]


def build_blocks(run_dir: Path, alpha: float = 0.05, tables_root: Path | None = None) -> tuple[list[Block], dict]:
    sidecars = load_sidecars(run_dir)
    papers = sorted({s["_paper"] for s in sidecars})
    transcribed = available_papers(tables_root or TABLES_DIR)
    blocks: list[Block] = [("h1", f"avfh reproduction report: {run_dir.name}"),
                           ("p", "Our numbers are read from the notebooks' sidecars; the paper's are transcribed from "
                                 "the paper (avfh_core/reproduce/tables/). Claims are scored over seeds, one-sided "
                                 f"(alpha {alpha:g}; avfh_core.reproduce.audit.one_sided_verdict): reproduced when the "
                                 "bound excludes 0 in the claimed direction, not reproduced only when it rules out "
                                 "half the published effect, each with its minimum detectable effect and the "
                                 "positive controls of its family.")]
    audits: dict[str, list] = {}
    control_audits: dict[str, list] = {}
    paper_blocks: list[Block] = []
    for paper in papers:
        mine = [s for s in sidecars if s["_paper"] == paper]
        pt = load_tables(paper, tables_root) if paper in transcribed else None
        paper_blocks.append(("h2", f"{paper}" + (f": {pt.title}" if pt else "")))
        groups: dict[str, list] = {}
        for s in mine:
            groups.setdefault(configuration_key(s), []).append(s)
        for key, group in sorted(groups.items()):
            if len(groups) > 1:
                paper_blocks.append(("h3", f"configuration {key}"))
            if pt is not None:
                controls = audit_controls(pt, group, alpha=alpha)
                records = audit_claims(pt, group, alpha=alpha, controls=controls)
                audits[f"{paper}/{key}"] = records
                control_audits[f"{paper}/{key}"] = controls
                if "smoke" in presets_of(group):
                    paper_blocks.append(("p", "Smoke preset: every verdict is inconclusive by construction (1-2 "
                                              "seeds, a few steps); the numbers check the pipeline, not the paper."))
                paper_blocks += [("h3", "Claims audit"), *audit_blocks(records, alpha),
                                 *audio_use_blocks(group, alpha), ("h3", "Positive controls"),
                                 *control_blocks(controls, alpha), *batch_blocks(pt, group, alpha),
                                 ("h3", "Tables"), *table_blocks(pt, group)]
            else:
                paper_blocks.append(("p", "No tables transcribed for this paper yet "
                                          "(add avfh_core/reproduce/tables/{paper}.yaml)."))
            paper_blocks += [("h3", "Other logged numbers"), *scalar_blocks(group)]
        paper_blocks += [("h3", "Environment"), *environment_blocks(mine), ("h3", "Figures"),
                         *figure_blocks(run_dir, paper)]
    total = verdict_counts(r for recs in audits.values() for r in recs)
    blocks.append(("h2", "Headline: claims audit"))
    if audits:
        blocks.append(("table", ["verdict", "claims"], [[k, str(v)] for k, v in total.items()]))
    else:
        blocks.append(("p", "No run in this folder logged a table of a paper with transcribed claims."))
    not_run = [p for p in transcribed if p not in papers]
    if not_run:
        blocks.append(("p", f"Papers with transcribed tables not run here: {', '.join(not_run)}."))
    blocks += [("h2", "Runs"), *run_blocks(run_dir), *paper_blocks]
    return blocks, {"audits": audits, "controls": control_audits, "counts": total, "papers": papers}


def to_markdown(blocks: list[Block], base: Path) -> str:
    out = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3", "h4"):
            out.append("#" * int(kind[1]) + " " + b[1])
        elif kind == "p":
            out.append(b[1])
        elif kind == "pre":
            out.append("```\n" + b[1] + "\n```")
        elif kind == "table":
            header, rows = b[1], b[2]
            esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")
            lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "img":
            try:
                rel = Path(b[1]).resolve().relative_to(base.resolve())
            except ValueError:
                rel = Path(b[1]).resolve()
            out.append(f"![{b[2]}]({rel.as_posix()})")
    return "\n\n".join(out) + "\n"


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 7px}
th{background:#f3f3f3}pre{background:#f7f7f7;padding:.7em;overflow-x:auto}img{max-width:100%;display:block}
td.v-reproduced{background:#d9f2d9}td.v-not-reproduced{background:#f8d7d7}td.v-inconclusive{background:#fff3cd}
td.v-not-run{color:#888}figure{margin:1em 0}"""


def to_html(blocks: list[Block]) -> str:
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'>", f"<title>{e(blocks[0][1])}</title>",
           f"<style>{CSS}</style></head><body>"]
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3", "h4"):
            out.append(f"<{kind}>{e(b[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(b[1])}</p>")
        elif kind == "pre":
            out.append(f"<pre>{e(b[1])}</pre>")
        elif kind == "table":
            out.append("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in b[1]) + "</tr>")
            for row in b[2]:
                cells = []
                for c in row:
                    cls = f" class='v-{c.replace(' ', '-')}'" if c in ("reproduced", "not reproduced",
                                                                         "inconclusive", NOT_RUN) else ""
                    cells.append(f"<td{cls}>{e(str(c))}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</table>")
        elif kind == "img":
            data = base64.b64encode(Path(b[1]).read_bytes()).decode()
            out.append(f"<figure><img alt='{e(b[2])}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{e(b[2])}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def build_report(run_dir: str | Path, out_dir: str | Path | None = None, alpha: float = 0.05,
                 tables_root: Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html (self-contained) for a run folder; returns their paths."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: run folder not found (expected runs/<run-id>)")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    out_dir = Path(out_dir) if out_dir else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks, data = build_blocks(run_dir, alpha=alpha, tables_root=tables_root)
    md, page = out_dir / "report.md", out_dir / "report.html"
    md.write_text(to_markdown(blocks, out_dir))
    page.write_text(to_html(blocks))
    (out_dir / "audit.json").write_text(json.dumps(data, indent=1, default=str))
    return md, page


__all__ = ["build_report", "build_blocks", "load_sidecars", "to_markdown", "to_html", "audit_blocks",
           "audio_use_blocks", "audio_use_names", "control_blocks", "table_blocks"]
