"""Paper tables from the suite's ``report:`` section (schema and validator below)."""
from __future__ import annotations

import re
from typing import Any

from .table import Col, Table, col_for

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(name: str) -> str:
    return _SAFE.sub("_", str(name)).strip("_") or "table"


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
    warnings = [] if df.attrs.get("comparable", True) else (
        list(df.attrs.get("noncomparable_reasons") or []) or ["the run is marked non-comparable"])
    return Table(columns=cols, rows=df.to_dict("records"), name=name, warnings=warnings)


def paper_tables(run, section: dict[str, Any], ci: bool = True) -> list[Table]:
    return []
