"""The default leaderboard: one table per dataset × mask, backends as rows.

Columns: the mean of every per-sample metric (with bootstrap intervals in Markdown), set-level metrics, detector
rates, p50 latency per image, peak memory, successful samples and errors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from .. import sinks
from ..store.files import write_text_atomic
from .aggregate import load_run, summarize
from .table import Table, render_markdown, render_terminal, table_from_summary

LEADERBOARD_FILE = "leaderboard.md"


def leaderboard_keys(df: pd.DataFrame, extra: Sequence[str] = ("latency_p50", "peak_mem_mb", "n", "n_errors"),
                     include: Iterable[str] | None = None) -> list[str]:
    """Metric means, set-level metrics, detector rates, then ``extra`` (only columns the summary has)."""
    if include is not None:
        return [k for k in include if k in df.columns]
    keys = list(df.attrs.get("metric_keys", [])) + list(df.attrs.get("setlevel_keys", []))
    keys += [f"{d}_rate" for d in df.attrs.get("detectors", [])]
    keys += list(extra)
    seen, out = set(), []
    for k in keys:
        if k in df.columns and k not in seen:
            seen.add(k)
            out.append(k)
    return out


def leaderboard_tables(df: pd.DataFrame, split: Sequence[str] = ("dataset", "mask"),
                       rows: Sequence[str] = ("backend",), keys: Sequence[str] | None = None) -> list[Table]:
    """One :class:`Table` per value of ``split`` (default dataset × mask) with ``rows`` as row labels."""
    keys = list(keys) if keys is not None else leaderboard_keys(df)
    tables = []
    if df.empty:
        return tables
    for k, g in df.groupby(list(split), sort=False):
        k = k if isinstance(k, tuple) else (k,)
        sub = g.copy()
        sub.attrs = df.attrs
        title = " × ".join(f"{'area' if s == 'area_bin' else s} {v}" for s, v in zip(split, k))
        name = "leaderboard_" + "_".join(str(v) for v in k)
        tables.append(table_from_summary(sub, keys, label_keys=rows, name=name, title=title))
    return tables


def _run_banner(df: pd.DataFrame) -> str:
    rid = df.attrs.get("run_id") or ""
    ch = df.attrs.get("config_hash")
    return f"Run {rid}" + (f" (config {str(ch)[:12]})" if ch else "")


def untimed_note(df: pd.DataFrame) -> str | None:
    """The sentences that say which backends have no latency / memory figures (outputs made elsewhere) and which
    datasets could not be listed."""
    notes = []
    names = df.attrs.get("untimed_backends") or []
    if names:
        notes.append(f"Latency and memory of {', '.join(names)}: not measured (outputs made elsewhere, read by the "
                     f"`outputs` backend), shown as –.")
    for msg in (df.attrs.get("dataset_errors") or {}).values():
        notes.append(f"Skipped: {msg}.")
    return " ".join(notes) or None


def leaderboard_markdown(df: pd.DataFrame, tables: list[Table] | None = None) -> str:
    tables = tables if tables is not None else leaderboard_tables(df)
    parts = [f"# Leaderboard: {_run_banner(df)}", ""]
    if not df.attrs.get("comparable", True):
        reasons = df.attrs.get("noncomparable_reasons") or ["the run is marked non-comparable"]
        parts += [f"> **⚠ NOT COMPARABLE:** {'; '.join(reasons)}", ""]
    parts += ["Means over successful samples (± half-width of the 95 % bootstrap interval); latency in ms per "
              "image (p50); peak memory in MiB (CUDA allocated on GPU, else peak RSS); ↑ higher is better, "
              "↓ lower is better; **best**, <ins>second</ins>.", ""]
    note = untimed_note(df)
    if note:
        parts += [note, ""]
    if not tables:
        parts.append("_No records yet._\n")
    for t in tables:
        t2 = Table(**{**t.__dict__, "warnings": []})  # the warning is stated once at the top of the file
        parts.append(render_markdown(t2, heading="##"))
    return "\n".join(parts)


def render_run(run_dir: Any, formats: Sequence[str] = ("term", "md"), console=None, ci: bool = True) -> dict:
    """What the runner calls at the end of a run: print the terminal leaderboard per dataset × mask and write
    ``leaderboard.md`` into the run folder. Returns ``{"summary": df, "tables": [...], "markdown": path|None}``."""
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
        for t in tables:
            render_terminal(Table(**{**t.__dict__, "warnings": []}), console=console)
        note = untimed_note(df)
        if note:
            console.print(f"[dim]{sinks.term(note)}[/]")
    if "md" in formats and rd.run_dir is not None:
        path = Path(rd.run_dir) / LEADERBOARD_FILE
        write_text_atomic(path, leaderboard_markdown(df, tables))
        result["markdown"] = path
    return result
