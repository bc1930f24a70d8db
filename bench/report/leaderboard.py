"""The default leaderboard: one table per dataset × mask, backends as rows.

Columns: the mean of every per-sample metric (with bootstrap intervals in Markdown), set-level metrics, detector
rates, p50 latency per image, peak memory, successful samples and errors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from .. import sinks
from ..fsio import write_text_atomic
from .aggregate import load_run, summarize
from .table import Table, render_markdown, render_terminal, table_from_summary

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


#: at most this many value columns in one default LaTeX table (more are split into further tables)
LATEX_MAX_COLUMNS = 7


def latex_default_tables(df: pd.DataFrame, split: Sequence[str] = ("dataset", "mask"),
                         rows: Sequence[str] = ("backend",)) -> list[Table]:
    """The LaTeX tables written when a suite has no ``report:`` section: per dataset × mask, the quality
    metrics (in chunks of at most :data:`LATEX_MAX_COLUMNS`), then failure rates and cost. Each fits an article's
    text width (``render_latex`` also scales a tabular down to the line width if it would not)."""
    quality = list(df.attrs.get("metric_keys", [])) + list(df.attrs.get("setlevel_keys", []))
    failures = [f"{d}_rate" for d in df.attrs.get("detectors", [])]
    verdicts = list(df.attrs.get("verdict_keys", []))
    cost = ["latency_p50", "peak_mem_mb", "n", "n_errors"]
    groups = []
    for name, keys in (("quality", quality), ("failures", failures + cost), ("verdicts", verdicts)):
        keys = [k for k in keys if k in df.columns]
        for i in range(0, len(keys), LATEX_MAX_COLUMNS):
            part = f"{name}{i // LATEX_MAX_COLUMNS + 1}" if len(keys) > LATEX_MAX_COLUMNS else name
            groups.append((part, keys[i:i + LATEX_MAX_COLUMNS]))
    out = []
    for part, keys in groups:
        for t in leaderboard_tables(df, split=split, rows=rows, keys=keys):
            what = {"failures": "failure rates and cost", "verdicts": "one verdict per sample (shares add up to 1)"}.get(
                part.rstrip("0123456789"), "quality")
            out.append(Table(**{**t.__dict__, "name": f"{t.name}_{part}", "caption": f"{t.title}: {what}",
                                "label": f"tab:{t.name}_{part}"}))
    return out


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
              "image (p50); peak memory in MiB, the cell's own (CUDA cells: GPU memory; CPU cells: RAM; — where "
              "not measurable); failure\\_*: the share of samples whose one verdict (error > nan > black > noop > "
              "resized > outside\\_drift > replacement > blur > incomplete > ok) is that (they add up to 1); "
              "↑ higher is better, ↓ lower is better; **best**, <ins>second</ins>.", "", images_note(df), ""]
    note = run_notes(df)
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
        note = run_notes(df)
        if note:
            console.print(f"[dim]{sinks.term(note)}[/]")
    if "md" in formats and rd.run_dir is not None:
        path = Path(rd.run_dir) / LEADERBOARD_FILE
        write_text_atomic(path, leaderboard_markdown(df, tables))
        result["markdown"] = path
    return result
