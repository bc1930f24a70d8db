"""The default leaderboard: one table per dataset × mask, backends as rows.

Markdown (and ``--columns all`` in the terminal): the leaderboard set of :func:`leaderboard_keys` (the mean of every
per-sample metric with bootstrap intervals, set-level metrics, detector rates, verdict shares, p50 latency per image,
peak memory, successful samples and errors); the HTML report: the same and throughput and load time; CSV, Parquet
and the JSON baseline: every summary column (:func:`bench.report.paper.flat_table`).

The terminal shows a **headline** set that fits 100 columns (:func:`headline_keys`), the same for every kind of run:

* the in-hole quality metric: the first of ``lpips_in``, ``dists_in``, ``psnr_in``, ``ssim_in`` with a value (an
  object-removal dataset without ground truth has none: then no column);
* one preservation metric: the first of ``psnr_out``, ``lpips_out``, ``ssim_out`` with a value;
* ``fid`` when the run computed it; ``human_bt`` when a user study was scored (docs/studies.md);
* the verdict shares (``ok`` first, then each failure verdict that some backend of the table has: they add up to 1);
* latency (p50 per image, ms);
* n: in the title when every row has the same count and no errors, else as columns ``n`` and ``n_errors``.

``report: columns: [...]`` in the suite picks the terminal columns instead, ``report: columns: all`` or ``bench
report RUN --columns all`` shows the leaderboard set. Detector sub-flags (``blur_ref``, ``replacement_free``...:
parts of a detector's rule) are never headline columns; one that flags every row is also left out of the default
LaTeX tables and said so under the tables (a column that flags everything says nothing).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from .. import sinks
from ..fsio import write_text_atomic
from ..errors import ConfigError
from .aggregate import check_keys, load_run, summarize
from .table import Col, Table, _num, incomplete_text, render_markdown, render_terminal, table_from_summary

LEADERBOARD_FILE = "leaderboard.md"


def leaderboard_keys(df: pd.DataFrame, extra: Sequence[str] = ("latency_p50", "peak_mem_mb", "n", "n_errors"),
                     include: Iterable[str] | None = None) -> list[str]:
    """Metric means, set-level metrics, detector rates, then ``extra`` (only columns the summary has). A set-level
    metric that no row could compute (P-IDS/U-IDS need ground truth: a removal dataset without it) is left out."""
    if include is not None:
        return [k for k in include if k in df.columns]
    setlevel = [k for k in df.attrs.get("setlevel_keys", []) if k in df.columns and df[k].notna().any()]
    keys = list(df.attrs.get("metric_keys", [])) + setlevel
    keys += [f"{d}_rate" for d in df.attrs.get("detectors", [])]
    keys += list(df.attrs.get("verdict_keys", []))
    keys += list(extra)
    seen, out = set(), []
    for k in keys:
        if k in df.columns and k not in seen:
            seen.add(k)
            out.append(k)
    return out


def leaderboard_tables(df: pd.DataFrame, split: Sequence[str] = ("dataset", "mask"),
                       rows: Sequence[str] = ("backend",), keys: Sequence[str] | None = None) -> list[Table]:
    """One :class:`Table` per value of ``split`` (default dataset × mask) with ``rows`` as row labels. A set-level
    column with no value in a table's rows is left out of that table (``human_bt`` of a study on one dataset × mask,
    P-IDS of a dataset without ground truth)."""
    keys = list(keys) if keys is not None else leaderboard_keys(df)
    setlevel = set(df.attrs.get("setlevel_keys", []))
    tables = []
    if df.empty:
        return tables
    for k, g in df.groupby(list(split), sort=False):
        k = k if isinstance(k, tuple) else (k,)
        sub = g.copy()
        sub.attrs = df.attrs
        title = " × ".join(f"{'area' if s == 'area_bin' else s} {v}" for s, v in zip(split, k))
        name = "leaderboard_" + "_".join(str(v) for v in k)
        here = [c for c in keys if c not in setlevel or _has_values(sub, c)]
        if here:
            tables.append(table_from_summary(sub, here, label_keys=rows, name=name, title=title))
    return tables


HEADLINE_QUALITY_IN = ("lpips_in", "dists_in", "psnr_in", "ssim_in")
HEADLINE_PRESERVATION = ("psnr_out", "lpips_out", "ssim_out")
HEADLINE_SETLEVEL = ("fid",)
HEADLINE_LATENCY = "latency_p50"
#: short terminal labels (the legend under the tables says what they are)
TERMINAL_LABELS = {"latency_p50": "ms", "failure_replacement": "replaced", "failure_outside_drift": "drift",
                   "failure_incomplete": "incompl", "n_errors": "errors"}


def terminal_label(key: str, label: str | None = None) -> str | None:
    """A headline column's short label: verdict shares by their verdict (``failure_blur`` -> ``blur``)."""
    if key in TERMINAL_LABELS:
        return TERMINAL_LABELS[key]
    return key[len("failure_"):] if key.startswith("failure_") else label


def _has_values(df: pd.DataFrame, key: str) -> bool:
    return key in df.columns and bool(pd.to_numeric(df[key], errors="coerce").notna().any())


def headline_keys(df: pd.DataFrame) -> list[str]:
    """The terminal's default columns for ``df`` (see the module doc): in-hole quality, preservation, FID, verdict
    shares (ok first), p50 latency, n and errors."""
    keys: list[str] = []
    for family in (HEADLINE_QUALITY_IN, HEADLINE_PRESERVATION):
        first = next((k for k in family if _has_values(df, k)), None)
        if first:
            keys.append(first)
    keys += [k for k in HEADLINE_SETLEVEL if _has_values(df, k)]
    if _has_values(df, "human_bt"):  # a scored user study (docs/studies.md): the judgement the others stand for
        keys.append("human_bt")
    verdicts = [k for k in df.attrs.get("verdict_keys", []) if k in df.columns]
    keys += [k for k in verdicts if k == "failure_ok"] + [k for k in verdicts if k != "failure_ok"]
    keys += [k for k in (HEADLINE_LATENCY, "n", "n_errors") if k in df.columns]
    return keys


def subflag_detectors(df: pd.DataFrame) -> list[str]:
    """Detector names that are a part of another detector's rule (``blur_ref`` of ``blur``)."""
    from ..detectors.verdict import FLAGS

    voting = {f for flags in FLAGS.values() for f in flags}  # replacement_features votes: not a part
    dets = list(df.attrs.get("detectors", []))
    return [d for d in dets if f"{d}_flag" not in voting and any(d.startswith(p + "_") for p in dets if p != d)]


def flag_everything(df: pd.DataFrame) -> list[str]:
    """Rates of detector sub-flags that flag every sample of every row: they say nothing about the backends."""
    out = []
    for d in subflag_detectors(df):
        k = f"{d}_rate"
        if k in df.columns:
            v = pd.to_numeric(df[k], errors="coerce").dropna()
            if len(v) and bool((v >= 1.0 - 1e-12).all()):
                out.append(k)
    return out


def terminal_tables(df: pd.DataFrame, split: Sequence[str] = ("dataset", "mask"),
                    rows: Sequence[str] = ("backend",), columns: Any = None) -> list[Table]:
    """The terminal's tables: ``columns`` None (the headline set, see the module doc), ``"all"`` (the leaderboard
    set, as Markdown) or a list of keys (``report: columns:``; keys the run does not have are left out)."""
    if isinstance(columns, str) and columns == "all":
        return leaderboard_tables(df, split=split, rows=rows)
    if columns is not None:
        return leaderboard_tables(df, split=split, rows=rows, keys=[k for k in columns if k in df.columns])
    out = []
    for t in leaderboard_tables(df, split=split, rows=rows, keys=headline_keys(df)):
        drop = {c.key for c in t.columns if not c.is_label and all(  # a column of dashes (no ground truth here)
            _num(r.get(c.key)) is None or math.isnan(_num(r.get(c.key))) for r in t.rows)}
        for c in t.columns:  # a verdict nobody in this table has is a column of zeros
            if c.key.startswith("failure_") and c.key != "failure_ok" and not any(
                    (_num(r.get(c.key)) or 0) > 0 for r in t.rows):
                drop.add(c.key)
        ns = {_num(r.get("n")) for r in t.rows}
        errors = any((_num(r.get("n_errors")) or 0) > 0 for r in t.rows)
        title = t.title
        drop.add("failure_error")  # the errors column says it (as a count)
        if len(ns) == 1 and not errors:
            drop |= {"n", "n_errors"}
            title += f" (n = {int(next(iter(ns)) or 0)} per backend)"
        elif not errors:
            drop.add("n_errors")
        cols = [Col(**{**c.__dict__, "label": terminal_label(c.key, c.label)}) for c in t.columns if c.key not in drop]
        out.append(Table(**{**t.__dict__, "columns": cols, "title": title}))
    return out


def terminal_legend(tables: list[Table], headline: bool) -> str | None:
    """One line under the headline tables: what the short columns are and where the rest is."""
    keys = {c.key for t in tables for c in t.columns}
    if not headline or not tables:
        return None
    parts = []
    verdicts = [k[len("failure_"):] for k in sorted(keys) if k.startswith("failure_")]
    errors = "n_errors" in keys
    if verdicts:
        parts.append("ok, " + ", ".join(terminal_label("failure_" + v) for v in verdicts if v != "ok")
                     + ": the share of samples per verdict (one verdict per sample; they add up to 1"
                     + (" with the errors' share" if errors else "") + ")" if len(verdicts) > 1
                     else "ok: the share of samples whose verdict is ok (no flag that decides the verdict"
                     + (("; error rows count against it" if errors else "") + ")"))
    for t in tables:
        inf = [c.key for c in t.columns if c.key in HEADLINE_PRESERVATION and c.key.startswith("psnr")
               and any((_num(r.get(c.key)) or 0) == float("inf") for r in t.rows)]
        if inf:
            parts.append(f"{inf[0]} ∞: outside the hole kept exactly (no pixel changed)")
            break
    if "latency_p50" in keys:
        parts.append("ms: p50 latency per image")
    parts.append("more columns: leaderboard.md, or `bench report RUN --columns all`")
    return "; ".join(parts) + "."


#: at most this many value columns in one default LaTeX table (more are split into further tables)
LATEX_MAX_COLUMNS = 7


def latex_default_tables(df: pd.DataFrame, split: Sequence[str] = ("dataset", "mask"),
                         rows: Sequence[str] = ("backend",)) -> list[Table]:
    """The LaTeX tables written when a suite has no ``report:`` section: per dataset × mask, the quality metrics,
    then failure rates and cost, then the verdict shares, each group in as few tables of at most
    :data:`LATEX_MAX_COLUMNS` columns as hold it, of even width. Each fits an article's text width (``render_latex``
    also scales a tabular down to the line width if it would not). A column no row has a value in (a detector part
    that is off, latency of outputs made elsewhere) is left out, and so are a failure rate that is 0 in every row and
    ``n_errors`` when nothing failed: the failure tables' caption names them."""
    quality = list(df.attrs.get("metric_keys", [])) + list(df.attrs.get("setlevel_keys", []))
    silent = set(flag_everything(df))
    failures = [f"{d}_rate" for d in df.attrs.get("detectors", []) if f"{d}_rate" not in silent]
    verdicts = list(df.attrs.get("verdict_keys", []))
    cost = ["latency_p50", "peak_mem_mb", "n", "n_errors"]

    def zero(k: str) -> bool:
        return _has_values(df, k) and bool((pd.to_numeric(df[k], errors="coerce").fillna(0) == 0).all())

    unflagged = [k for k in failures if zero(k)]
    failures = [k for k in failures if k not in unflagged]
    said = [f"no backend flagged by {', '.join(k[:-len('_rate')] for k in unflagged)}"] if unflagged else []
    if zero("n_errors"):
        cost.remove("n_errors")
        said.append("no errors")
    failures_caption = "failure rates and cost" + (f" ({'; '.join(said)})" if said else "")
    groups = []
    for name, keys in (("quality", quality), ("failures", failures + cost), ("verdicts", verdicts)):
        keys = [k for k in keys if _has_values(df, k)]  # a column of "--" in every row says nothing in a paper
        n_tables = -(-len(keys) // LATEX_MAX_COLUMNS)
        size = -(-len(keys) // max(1, n_tables))  # tables of even width: 8 columns are 4 + 4, not 7 + 1
        for j, i in enumerate(range(0, len(keys), max(1, size))):
            groups.append((f"{name}{j + 1}" if n_tables > 1 else name, keys[i:i + size]))
    out = []
    for part, keys in groups:
        for t in leaderboard_tables(df, split=split, rows=rows, keys=keys):
            what = {"failures": failures_caption, "verdicts": "one verdict per sample (shares add up to 1)"}.get(
                part.rstrip("0123456789"), "quality")
            out.append(Table(**{**t.__dict__, "name": f"{t.name}_{part}", "caption": f"{t.title}: {what}",
                                "label": f"tab:{t.name}_{part}"}))
    return out


def provenance_parts(manifest: dict) -> list[str]:
    """Where a run's numbers come from, as short parts (the HTML header joins them with ·, a LaTeX table's comment
    with ;): config hash, seed, dtype, weights mode, device, git revision, package versions."""
    m = manifest or {}
    parts = [f"{k} {m[k]}" for k in ("config_hash", "seed", "dtype", "weights") if m.get(k) is not None]
    dev = m.get("device")
    if isinstance(dev, dict):
        parts.append("device " + ", ".join(f"{k}={v}" for k, v in dev.items() if isinstance(v, (str, int, float))))
    elif dev:
        parts.append(f"device {dev}")
    g = m.get("git")
    if isinstance(g, dict):
        parts.append(f"git {g.get('revision') or 'none (not a git checkout)'}" + (" (dirty)" if g.get("dirty") else ""))
    elif g:
        parts.append(f"git {g}")
    if isinstance(m.get("packages"), dict) and m["packages"]:
        parts.append("packages " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()))
    return parts


def _run_banner(df: pd.DataFrame) -> str:
    rid = df.attrs.get("run_id") or ""
    ch = df.attrs.get("config_hash")
    return f"Run {rid}" + (f" (config {str(ch)[:12]})" if ch else "")


def images_note(df: pd.DataFrame) -> str:
    """Which image each metric saw (papers score composites; preservation needs the raw output)."""
    pb = df.attrs.get("paste_back")
    inside = ("the composite" if pb else "the raw output") if pb is not None else "the output"
    return (f"Images: *_in = {inside} vs ground truth inside the hole; *_out = the raw output vs the input outside "
            f"it; *_full, fid, kid, p_ids, u_ids = the composite (output inside the hole, input outside) vs ground "
            f"truth, as LaMa, MAT and CoModGAN report them; *_raw = the raw output.")


def run_notes(df: pd.DataFrame) -> str | None:
    """The sentences that say which backends have no latency / memory figures (outputs made elsewhere), which
    datasets could not be listed, which detectors flag everything, what judged the verdicts and which detectors'
    flag rules failed (every report format shows them)."""
    notes = []
    names = df.attrs.get("untimed_backends") or []
    if names:
        notes.append(f"Latency and memory of {', '.join(names)}: not measured (outputs made elsewhere, read by the "
                     f"`outputs` backend), shown as –.")
    for msg in (df.attrs.get("dataset_errors") or {}).values():
        notes.append(f"Skipped: {msg}.")
    missing = df.attrs.get("shards_missing") or []
    if missing:
        notes.append(f"Incomplete: {incomplete_text(missing)} (`bench merge` the run folder again once "
                     f"{'they have' if len(missing) != 1 else 'it has'} run): these tables hold the merged shards' "
                     f"samples only.")
    differ = df.attrs.get("sessions_differ") or []
    if differ:
        notes.append(f"Mixed sessions: this run's outputs and scores were made by sessions with {'; '.join(differ)} "
                     f"(manifest.json, sessions); a run from one session (`--fresh`, or a new `--run-id`) has none.")
    silent = flag_everything(df)
    if silent:
        notes.append(f"{', '.join(silent)} flag{'s' if len(silent) == 1 else ''} every sample of every backend "
                     f"(a part of a detector's rule whose threshold does not separate them here): left out of the "
                     f"terminal and LaTeX tables.")
    judged = verdict_judges(df)
    if judged:
        notes.append(judged)
    failed = flag_failures(df)
    if failed:
        notes.append(failed)
    return " ".join(notes) or None


#: how many cells with errors the terminal names (the Markdown and HTML reports name every one)
TERMINAL_ERROR_CELLS = 5


#: how long a message the terminal prints (the Markdown and HTML reports print it whole)
TERMINAL_ERROR_WIDTH = 240


def error_lines(df: pd.DataFrame, limit: int | None = None, width: int | None = None) -> list[str]:
    """One line per cell with errors: ``backend × dataset × mask: N error(s); first: <message>`` (the message cut
    to ``width`` characters, if given), at most ``limit`` of them and then one line saying how many more; [] without
    errors. The terminal, ``leaderboard.md`` and the HTML report all print these."""
    if df.empty or "n_errors" not in df:
        return []
    bad = df[pd.to_numeric(df["n_errors"], errors="coerce").fillna(0) > 0]
    out = []
    for rec in bad.head(limit if limit is not None else len(bad)).to_dict("records"):
        first = " ".join(str(rec.get("first_error") or "").split())
        first = first if width is None or len(first) <= width else first[: width - 1] + "…"
        where = " × ".join(str(rec.get(k)) for k in ("backend", "dataset", "mask") if k in rec)
        out.append(f"{where}: {int(rec['n_errors'])} error(s); first: {first}")
    if limit is not None and len(bad) > limit:
        out.append(f"… and {len(bad) - limit} more cell(s) with errors (leaderboard.md and the HTML report list "
                   f"them all)")
    return out


def thresholds_note(df: pd.DataFrame) -> str | None:
    """Which thresholds set the flags of this report (they are applied when a run is read, from its stored scores:
    bench.detectors.flagging): per thresholds file and version, the detectors that read it, and the detectors whose
    thresholds the suite gave."""
    th = df.attrs.get("thresholds") or {}
    groups: dict[str, list[str]] = {}
    for name, p in th.items():
        if name.startswith("evidence:") or not isinstance(p, dict) or "thresholds" not in p:
            continue
        given = set(p.get("overridden") or [])
        if given and given >= {k for k, v in (p.get("thresholds") or {}).items() if v is not None}:
            key = "thresholds given in the suite"
        else:
            sha = str(p.get("thresholds_sha256") or "")[:12]
            key = f"{p.get('thresholds_file')} v{p.get('thresholds_version')}" + (
                " edited by hand since" if p.get("thresholds_edited") else "") + (f" ({sha})" if sha else "")
            if given:  # some of its thresholds from the file, the others from the suite
                name = f"{name} ({', '.join(sorted(given))} given in the suite)"
        groups.setdefault(key, []).append(name)
    if not groups:
        return None
    return ("Detector flags set from the stored scores when this report was made, with: "
            + "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in sorted(groups.items())) + ".")


def flag_failures(df: pd.DataFrame) -> str | None:
    """The detectors whose flag rule could not be built or applied when the run was read (bench.detectors.flagging
    records the error): their flags, and so their verdicts, are missing or those stored when the run was scored."""
    th = df.attrs.get("thresholds") or {}
    failed = {name: p["error"] for name, p in th.items() if isinstance(p, dict) and p.get("error")}
    if not failed:
        return None
    return ("Flags NOT set from the stored scores for: " + "; ".join(f"{k} ({v})" for k, v in sorted(failed.items()))
            + " (their verdicts are missing or those stored when the run was scored).")


def _order() -> str:
    """The verdicts' order as the Markdown note writes it: ``error > nan > ... > ok``."""
    from ..detectors.verdict import VERDICTS

    return " > ".join(v.replace("_", "\\_") for v in VERDICTS)


def verdict_judges(df: pd.DataFrame) -> str | None:
    """Which evidence judged the failure verdicts, when learned evidence is in play (rules in the thresholds file,
    bench.detectors.flagging): the rules applied, and those not applied because the run lacks their column (then
    the weight-free detectors decided alone)."""
    th = df.attrs.get("thresholds") or {}
    rules = {k: v for k, v in th.items() if k.startswith("evidence:") and isinstance(v, dict)}
    if not rules:
        return None
    side = {"above": ">", "below": "<"}

    def rule(v: dict) -> str:
        return (f"{v.get('column')} {side.get(v.get('direction'), '?')} {v.get('threshold')} → {v.get('verdict')} "
                f"({v.get('file')} v{v.get('version')})")

    def part(v: dict) -> str:  # a rule applied where its column has values only
        n, of, without = v.get("samples"), v.get("of"), v.get("without")
        if n is None or of is None or n >= of:
            return ""
        return (f" [{n} of {of} samples have a value; the others, "
                + (f"all of {', '.join(map(str, without))}, " if without else "")
                + "judged by the weight-free detectors alone]")

    used = [rule(v) + part(v) for v in rules.values() if v.get("applied")]
    # each with its own reason (apply_evidence's): a column the run lacks, random weights, a rule that is not valid
    unused = [f"{rule(v)}: {str(v.get('why') or 'not applied').rstrip('.')}" for v in rules.values()
              if not v.get("applied")]
    out = ["Failure verdicts judged by the weight-free detectors"]
    if used:
        out.append(f" and learned evidence fitted from labels: {'; '.join(used)}")
    if unused:
        out.append(f"; not applied: {'; '.join(unused)}")
    return "".join(out) + "."


def leaderboard_markdown(df: pd.DataFrame, tables: list[Table] | None = None,
                         manifest: dict[str, Any] | None = None) -> str:
    """The Markdown leaderboard; with the run's ``manifest``, its provenance under the title (as each LaTeX table's
    comment and the HTML header carry it), so a table quoted elsewhere keeps where it came from."""
    tables = tables if tables is not None else leaderboard_tables(df)
    parts = [f"# Leaderboard: {_run_banner(df)}", ""]
    if manifest:
        parts += [sinks.markdown("Provenance: " + " · ".join(provenance_parts(manifest))), ""]
    if not df.attrs.get("comparable", True):
        reasons = df.attrs.get("noncomparable_reasons") or ["the run is marked non-comparable"]
        parts += [f"> **⚠ NOT COMPARABLE:** {'; '.join(reasons)}", ""]
    parts += ["Means over successful samples (± half-width of the 95 % bootstrap interval; detector rates: the 95 % "
              "Wilson interval, over the samples the detector judged); latency in ms per "
              "image (p50); peak memory in MiB, the cell's own (CUDA cells: GPU memory; CPU cells: RAM; — where "
              f"not measurable); failure\\_*: the share of samples whose one verdict ({_order()}) is that (they add "
              "up to 1); "
              "↑ higher is better, ↓ lower is better; **best**, <ins>second</ins>.", "", images_note(df), ""]
    note = run_notes(df)
    if note:
        parts += [note, ""]
    th = thresholds_note(df)
    if th:
        parts += [th, ""]
    if not tables:
        parts.append("_No records yet._\n")
    for t in tables:
        t2 = Table(**{**t.__dict__, "warnings": [], "shards_missing": []})  # said once, at the top of the file
        parts.append(render_markdown(t2, heading="##"))
    errors = error_lines(df)
    if errors:
        parts += ["## Errors", "", *[f"- {sinks.markdown(x)}" for x in errors], ""]
    return "\n".join(parts)


def suite_columns(manifest: dict[str, Any]) -> Any:
    """The suite's ``report: columns:`` (a list of keys or ``"all"``), None when it sets none."""
    section = manifest.get("report") or {}
    return section.get("columns") if isinstance(section, dict) else None


def print_terminal(df: pd.DataFrame, console, split: Sequence[str] = ("dataset", "mask"),
                   rows: Sequence[str] = ("backend",), columns: Any = None) -> list[Table]:
    """Print the terminal tables (headline set unless ``columns``), the legend and the run's notes."""
    tables = terminal_tables(df, split=split, rows=rows, columns=columns)
    notes: list[str] = []  # a table's notes (the small-n mark) once, under the last table
    for t in tables:
        render_terminal(Table(**{**t.__dict__, "warnings": [], "notes": [], "shards_missing": []}), console=console)
        notes += [x for x in t.notes if x not in notes]
    for x in notes:
        console.print(f"[dim]{sinks.term(x)}[/]")
    legend = terminal_legend(tables, headline=columns is None)
    if legend:
        console.print(f"[dim]{sinks.term(legend)}[/]")
    note = run_notes(df)
    if note:
        console.print(f"[dim]{sinks.term(note)}[/]")
    for line in error_lines(df, limit=TERMINAL_ERROR_CELLS, width=TERMINAL_ERROR_WIDTH):
        console.print(f"[red]error[/] {sinks.term(line)}")
    return tables


def render_run(run_dir: Any, formats: Sequence[str] = ("term", "md"), console=None, ci: bool = True) -> dict:
    """What the runner calls at the end of a run: print the terminal leaderboard per dataset × mask (the headline
    columns, or the suite's ``report: columns:``) and write ``leaderboard.md`` (the leaderboard set) into the run
    folder. Returns ``{"summary": df, "tables": [...], "markdown": path|None}``."""
    rd = load_run(run_dir)
    df = summarize(rd, ci=ci)
    tables = leaderboard_tables(df)
    result: dict[str, Any] = {"summary": df, "tables": tables, "markdown": None}
    if "term" in formats:
        from rich.console import Console

        console = console or Console()
        if not df.attrs.get("comparable", True):
            reasons = df.attrs.get("noncomparable_reasons") or ["the run is marked non-comparable"]
            console.print(f"[bold red]NOT COMPARABLE:[/] {sinks.term('; '.join(reasons))}")
        if not tables:
            console.print("[yellow]No records yet.[/]")
        columns = suite_columns(rd.manifest)
        if isinstance(columns, list):
            try:
                check_keys(rd, df, columns, "report.columns")
            except ConfigError as e:  # the run is done: say it, and show the columns it has
                console.print(f"[yellow]{sinks.term(str(e))} (left out)[/]")
        print_terminal(df, console, columns=columns)
    if "md" in formats and rd.run_dir is not None:
        path = Path(rd.run_dir) / LEADERBOARD_FILE
        write_text_atomic(path, leaderboard_markdown(df, tables, rd.manifest))
        result["markdown"] = path
    return result
