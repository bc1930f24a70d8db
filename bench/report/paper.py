"""Paper tables from the suite's ``report:`` section (schema: :mod:`bench.config.report`)."""
from __future__ import annotations

import math
import re
from typing import Any

from ..bins import AREA_LABELS
from .aggregate import check_keys, is_set_level, load_run, summarize
from ..config.report import validate_report_section
from .table import SMALL_N_NOTE, VALUE_SUFFIXES, Col, Table, col_for, rank_groups, small_n

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(name: str) -> str:
    return _SAFE.sub("_", str(name)).strip("_") or "table"


def _warnings(df) -> list[str]:
    if df.attrs.get("comparable", True):
        return []
    return list(df.attrs.get("noncomparable_reasons") or []) or ["the run is marked non-comparable"]


def flat_table(df, name: str = "summary") -> Table:
    """Every column of a ``summarize`` frame as one flat table (CSV / Parquet export)."""
    by = list(df.attrs.get("by", []))
    meta = dict(df.attrs.get("columns", {}))
    cols = [Col(key=k, is_label=True) for k in by]
    for k in df.columns:
        if k in by or k.endswith(("_lo", "_hi")):
            continue
        if k == "first_error":
            cols.append(Col(key=k, is_label=True))
            continue
        cols.append(col_for(k, meta))
    return Table(columns=cols, rows=df.to_dict("records"), name=name, warnings=_warnings(df),
                 shards_missing=list(df.attrs.get("shards_missing") or []))


def _order_values(values: list[Any], order: list[str]) -> list[Any]:
    if not order:
        return values
    rank = {v: i for i, v in enumerate(order)}
    pos = {v: i for i, v in enumerate(values)}
    return sorted(values, key=lambda v: (rank.get(str(v), len(order)), pos[v]))


def filter_note(flt: dict[str, Any]) -> str:
    """``Samples: dataset places2; area_bin 40-50%`` for a table's ``filter`` (one value or a list per key;
    ``hole_fraction`` a [lo, hi) range)."""
    parts = []
    for k, v in flt.items():
        if k == "hole_fraction" and isinstance(v, (list, tuple)) and len(v) == 2:
            parts.append(f"hole fraction in [{v[0]}, {v[1]})")
        else:
            vals = v if isinstance(v, (list, tuple)) else [v]
            if k == "area_bin":  # validated: bin indices
                vals = [AREA_LABELS[x] if isinstance(x, int) and 0 <= x < len(AREA_LABELS) else x for x in vals]
            parts.append(f"{'area' if k == 'area_bin' else k} {', '.join(str(x) for x in vals)}")
    return "Samples: " + "; ".join(parts)


def missing_note(df, missing: list[str]) -> list[str]:
    """Why the columns ``missing`` of a paper table have no value: set-level ones (FID, KID, IDS) need every sample
    of one cell, which a row pooling cells or holding part of one lacks; anything else nothing in this run made."""
    setlevel = [k for k in missing if is_set_level(k)]
    other = [k for k in missing if k not in setlevel]
    notes = []
    if setlevel:
        why = df.attrs.get("setlevel_skipped") or ""
        notes.append(f"not in this table: {', '.join(setlevel)} (set-level metrics need every sample of one cell: "
                     f"{why})" if why else
                     f"not in this run: {', '.join(setlevel)} (no cell of it has the stored features they are "
                     f"computed from)")
    if other:
        notes.append(f"not in this run: {', '.join(other)} (no metric, detector or study of it gave values)")
    return notes


def paper_table(run: Any, spec: dict[str, Any], ci: bool = True, where: str = "report.tables[?].columns") -> Table:
    """One table of a validated ``report.tables[i]`` spec (``where``: its columns' key path, for errors). A column
    key this run cannot have is a :class:`ConfigError` with the closest it can; one it has no value for is named in
    a note that says why."""
    rd = load_run(run)
    rows_keys = list(spec["rows"])
    split = spec.get("split") or []
    split_keys = [split] if isinstance(split, str) else list(split)  # manifests of older runs hold one string
    by = rows_keys + split_keys
    df = summarize(rd, by=by, ci=ci and spec.get("intervals", True), filters=spec.get("filter") or None)
    meta = dict(df.attrs.get("columns", {}))
    notes = list(spec.get("notes", []))
    if spec.get("filter"):  # a reader must see which samples the numbers are of, caption or not
        notes.insert(0, filter_note(spec["filter"]))
    wanted = spec["columns"]
    check_keys(rd, df, [c["key"] for c in wanted], where)
    missing = [c["key"] for c in wanted if c["key"] not in df.columns]
    if missing and not df.empty:
        notes += missing_note(df, missing)

    def split_value(rec: dict[str, Any]) -> str | None:
        return "/".join(str(rec[k]) for k in split_keys) if split_keys else None

    # rows: unique values of the rows keys, in the spec's order
    row_vals: list[tuple] = []
    for rec in df.to_dict("records"):
        t = tuple(rec[k] for k in rows_keys)
        if t not in row_vals:
            row_vals.append(t)
    if spec.get("order"):
        rank = {v: i for i, v in enumerate(spec["order"])}
        pos = {t: i for i, t in enumerate(row_vals)}
        row_vals.sort(key=lambda t: (rank.get(str(t[0]), len(rank)), pos[t]))
    labels = spec.get("split_labels") or {}
    if split_keys:
        split_vals = list(dict.fromkeys(split_value(r) for r in df.to_dict("records"))) if not df.empty else []
        if labels:
            split_vals = _order_values(split_vals, list(labels))
        elif split_keys == ["area_bin"]:
            split_vals = sorted(split_vals, key=lambda v: AREA_LABELS.index(v) if v in AREA_LABELS else 99)
    else:
        split_vals = [None]

    cols = [Col(key=k, is_label=True) for k in rows_keys]
    for sv in split_vals:
        group = None if sv is None else labels.get(str(sv), str(sv).replace("/", " × "))
        for c in wanted:
            key = c["key"] if sv is None else f"{sv}/{c['key']}"
            col = col_for(c["key"], meta, label=c.get("label") or c["key"], group=group, row_key=key)
            col.n_key = "n" if sv is None else f"{sv}/n"  # the row's successful samples in this group
            if c.get("fmt"):
                col.fmt = c["fmt"]
            if not spec.get("highlight", True):
                col.higher_is_better = None
            cols.append(col)
    index = {}
    for rec in df.to_dict("records"):
        index[(tuple(rec[k] for k in rows_keys), split_value(rec))] = rec
    rows = []
    for rv in row_vals:
        row: dict[str, Any] = dict(zip(rows_keys, rv))
        for sv in split_vals:
            rec = index.get((rv, sv), {})
            row["n" if sv is None else f"{sv}/n"] = rec.get("n", math.nan)
            for c in wanted:
                key = c["key"] if sv is None else f"{sv}/{c['key']}"
                for suf in VALUE_SUFFIXES:
                    row[key + suf] = rec.get(c["key"] + suf, math.nan if suf != "_small_n" else False)
        rows.append(row)
    if any(small_n(r, c) for r in rows for c in cols):
        notes.append(SMALL_N_NOTE)
    return Table(columns=cols, rows=rows, name=spec["name"], caption=spec.get("caption", ""),
                 label=spec.get("label", f"tab:{spec['name']}"), notes=notes, warnings=_warnings(df),
                 show_intervals=spec.get("intervals", True), rank_within=rank_groups(rows_keys),
                 shards_missing=list(df.attrs.get("shards_missing") or []))


def paper_tables(run: Any, section: dict[str, Any] | None, ci: bool = True) -> list[Table]:
    """Every table of a ``report:`` section (validated here, so a raw section from a manifest works too)."""
    sec = validate_report_section(section or {}, "report")
    rd = load_run(run)
    return [paper_table(rd, t, ci=ci, where=f"report.tables[{i}].columns") for i, t in enumerate(sec["tables"])]
