"""One neutral table model and its renderers: terminal (rich), Markdown, LaTeX (booktabs), CSV, Parquet, JSON.

A :class:`Table` is a list of :class:`Col` (each knows its direction, number format and whether an interval exists)
and a list of row dicts. A row holds ``row[col.key]`` and, for interval columns, ``row[col.key + "_lo"]`` /
``row[col.key + "_hi"]``. Columns may carry a ``group`` (a spanning header, e.g. MAT-style "small masks" / "large
masks" column groups).

Highlighting (terminal, Markdown, LaTeX, HTML): per column, among the rows of the same ``rank_within`` group, the
best distinct value (by the column's direction) is **bold** when at least two distinct values exist; the second
best distinct value is underlined when at least three exist (with two, "second" would just be "worst"). Ties
(compared as displayed, i.e. rounded by the column's format) share the mark. Columns without a direction (counts, labels) are never marked. NaN is never ranked.
Marks compare backends: a table whose rows are labelled by more than the backend (dataset, mask, area bin, dilation
k) ranks each of those groups apart (:func:`rank_groups`). A row whose ``n`` (successful samples; a column's own
count, :attr:`Col.n_key`, where the columns of one row are of different groups) is 0 is never ranked: every sample
of it failed, so its verdict shares (``failure_blur`` 0, ...) would otherwise mark as best the backend that produced
nothing.

Non-comparable results (``Table.warnings``) and a merge of some shards only (``Table.shards_missing``) are stated
visibly in every format.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from .. import sinks

INF = "∞"
MISSING = "–"


@dataclass
class Col:
    key: str
    label: str | None = None
    higher_is_better: bool | None = None
    fmt: str = ".3f"
    interval: bool = False
    group: str | None = None
    is_label: bool = False
    doc: str = ""
    #: the row key holding the successful samples this column's values are over (a row where it is 0 is not ranked)
    n_key: str = "n"

    @property
    def title(self) -> str:
        return self.label if self.label is not None else self.key

    @property
    def arrow(self) -> str:
        if self.is_label or self.higher_is_better is None:
            return ""
        return "↑" if self.higher_is_better else "↓"


@dataclass
class Table:
    columns: list[Col]
    rows: list[dict[str, Any]]
    name: str = "leaderboard"
    title: str = ""
    caption: str = ""
    label: str = ""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rank_within: tuple[str, ...] = ()
    show_intervals: bool = True
    shards_missing: list[str] = field(default_factory=list)
    #: the run's provenance in one line (config hash, seed, dtype, device, git revision, package versions: as the
    #: LaTeX tables' comment and the Markdown leaderboard give it); a ``provenance`` column of CSV and Parquet
    provenance: str = ""

    # -- highlighting ------------------------------------------------------------------------------------------
    def ranks(self) -> dict[tuple[int, str], int]:
        """{(row index, column key): 1 for best, 2 for second best} (see the module docstring)."""
        out: dict[tuple[int, str], int] = {}
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(self.rows):
            groups.setdefault(tuple(r.get(k) for k in self.rank_within), []).append(i)
        for col in self.columns:
            if col.is_label or col.higher_is_better is None:
                continue
            for idx in groups.values():
                vals = {}
                for i in idx:
                    if _num(self.rows[i].get(col.n_key)) == 0:  # nothing succeeded: nothing to rank (module doc)
                        continue
                    v = _num(self.rows[i].get(col.key))
                    if v is not None and not math.isnan(v):
                        vals[i] = (_displayed(v, col.fmt), _inf_share(self.rows[i], col.key, v))
                distinct = sorted(set(vals.values()), reverse=bool(col.higher_is_better))
                if len(distinct) < 2:
                    continue
                for i, v in vals.items():
                    if v == distinct[0]:
                        out[(i, col.key)] = 1
                    elif len(distinct) >= 3 and v == distinct[1]:
                        out[(i, col.key)] = 2
        return out

    def groups(self) -> list[tuple[str | None, int]]:
        """Consecutive column groups as (group label, span)."""
        spans: list[tuple[str | None, int]] = []
        for c in self.columns:
            if spans and spans[-1][0] == c.group:
                spans[-1] = (c.group, spans[-1][1] + 1)
            else:
                spans.append((c.group, 1))
        return spans

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "caption": self.caption, "label": self.label,
            "notes": list(self.notes), "warnings": list(self.warnings), "rank_within": list(self.rank_within),
            "shards_missing": list(self.shards_missing), "provenance": self.provenance,
            "columns": [asdict(c) for c in self.columns],
            "rows": [{k: _jsonable(v) for k, v in r.items()} for r in self.rows],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Table":
        return cls(
            columns=[Col(**c) for c in d["columns"]],
            rows=[{k: _unjson(v) for k, v in r.items()} for r in d["rows"]],
            name=d.get("name", "leaderboard"), title=d.get("title", ""), caption=d.get("caption", ""),
            label=d.get("label", ""), notes=list(d.get("notes", [])), warnings=list(d.get("warnings", [])),
            rank_within=tuple(d.get("rank_within", ())), shards_missing=list(d.get("shards_missing", [])),
            provenance=str(d.get("provenance", "")),
        )


def rank_groups(label_keys: Sequence[str]) -> tuple[str, ...]:
    """The ``rank_within`` of a table whose rows are labelled by ``label_keys``: marks compare backends, so rows
    that differ in any other label (dataset, mask, area bin, dilation k) are ranked apart."""
    return tuple(k for k in label_keys if k != "backend")


#: the keys beside a column's value that its cell text and its rank read (interval, small-n mark and its count,
#: how many values of an infinite mean are infinite): a table that renames a column copies them with it
VALUE_SUFFIXES = ("", "_lo", "_hi", "_n", "_small_n", "_n_inf", "_n_values")


def incomplete_text(shards_missing: Sequence[str]) -> str:
    """``shard 1/2 not merged`` for a merge of some shards only (every format prints it after "Incomplete:"); ""
    when none is missing."""
    if not shards_missing:
        return ""
    return f"shard{'s' if len(shards_missing) != 1 else ''} {', '.join(shards_missing)} not merged"


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _inf_share(row: dict[str, Any], key: str, v: float) -> float:
    """For ranking an infinite mean: the share of its values that are infinite (``KEY_n_inf / KEY_n_values``; 1
    when not recorded: every one). ``∞ (9 of 12)`` (some of the outside redrawn) ranks after ``∞`` (all of it
    kept), not tied with it. 0 for a finite mean."""
    if math.isfinite(v):
        return 0.0
    k, n = _num(row.get(key + "_n_inf")), _num(row.get(key + "_n_values"))
    if k is None or n is None or not n or math.isnan(k) or math.isnan(n):
        return 1.0
    return k / n


def _displayed(v: float, fmt: str) -> float:
    """The value as shown (rounded by ``fmt``): values that print the same rank the same."""
    if not math.isfinite(v):
        return v
    try:
        return float(format(v, fmt)) if not fmt.endswith("d") else float(round(v))
    except ValueError:
        return v


def _jsonable(v: Any) -> Any:
    """JSON-safe value: NaN -> None, ±inf -> "inf"/"-inf" (standard JSON has neither)."""
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        try:
            v = v.item()
        except Exception:
            pass
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return v


def _unjson(v: Any) -> Any:
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    return v


# ------------------------------------------------------------------------------------------------------------------
# value formatting
# ------------------------------------------------------------------------------------------------------------------
def format_number(v: Any, fmt: str = ".3f") -> str:
    """Format one value: NaN/None -> "–", +inf -> "∞", -inf -> "-∞", ``fmt`` "d" rounds to an integer."""
    x = _num(v)
    if x is None:
        return MISSING if v is None else str(v)
    if math.isnan(x):
        return MISSING
    if math.isinf(x):
        return INF if x > 0 else "-" + INF
    if fmt.endswith("d"):
        return format(int(round(x)), fmt)
    try:
        return format(x, fmt)
    except ValueError:
        return format(x, ".3f")


#: an interval whose centre is this share of its width away from the value is shown as [lo, hi], not ± half-width
SKEWED = 0.1


def interval(row: dict[str, Any], col: Col) -> tuple[float, float] | None:
    """The row's finite interval (lo, hi) for ``col``, None when there is none."""
    if not col.interval:
        return None
    lo, hi = _num(row.get(col.key + "_lo")), _num(row.get(col.key + "_hi"))
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return lo, hi


def interval_text(row: dict[str, Any], col: Col) -> tuple[str, str] | None:
    """How a cell shows its interval: ``("±", half-width)`` when the interval is about symmetric around the value
    (a bootstrap interval of a mean), else ``("[]", "lo, hi")``: a Bradley-Terry strength's [0.76, 1.79] around
    1.13 printed as "± 0.52" read as [0.61, 1.65]."""
    iv = interval(row, col)
    if iv is None:
        return None
    lo, hi = iv
    v = _num(row.get(col.key))
    if v is not None and math.isfinite(v) and abs((lo + hi) / 2 - v) > SKEWED * (hi - lo):
        return "[]", f"{format_number(lo, col.fmt)}, {format_number(hi, col.fmt)}"
    return "±", format_number((hi - lo) / 2.0, col.fmt)


SMALL_N = "†"
SMALL_N_NOTE = ("† small n: FID/KID from fewer than 2,000 samples, P-IDS/U-IDS from fewer than 5,000: not comparable "
                "with papers (their bias at small n is large)")


def small_n(row: dict[str, Any], col: Col) -> bool:
    return bool(row.get(col.key + "_small_n")) and not col.is_label


def partial_inf(row: dict[str, Any], col: Col) -> tuple[int, int] | None:
    """(infinite values, values) when the row's mean for ``col`` is infinite though not every value is (a PSNR
    mean is ∞ as soon as one region is kept exactly): ``summarize`` records ``KEY_n_inf`` and ``KEY_n_values``."""
    v, k, n = _num(row.get(col.key)), _num(row.get(col.key + "_n_inf")), _num(row.get(col.key + "_n_values"))
    if v is None or not math.isinf(v) or k is None or n is None or math.isnan(k) or math.isnan(n):
        return None
    return (int(k), int(n)) if 0 < k < n else None


def cell_text(row: dict[str, Any], col: Col, intervals: bool = True, compact: bool = False) -> str:
    """The text of one cell. ``compact`` (the terminal): a small-n mark without its count (the count is the n
    column or the table title)."""
    v = row.get(col.key)
    if col.is_label:
        return MISSING if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    s = format_number(v, col.fmt)
    part = partial_inf(row, col)
    if part is not None:  # "∞ (12 of 16)": the mean hides that the other values are finite
        s += f" ({part[0]} of {part[1]})"
    iv = interval_text(row, col) if intervals else None
    if iv is not None and s not in (MISSING,):
        s += f" ± {iv[1]}" if iv[0] == "±" else f" [{iv[1]}]"
    if small_n(row, col) and s != MISSING:
        s += f" {SMALL_N}" + ("" if compact else f" n={int(row.get(col.key + '_n') or 0)}")
    return s


def header_text(col: Col) -> str:
    return f"{col.title} {col.arrow}".strip()


# ------------------------------------------------------------------------------------------------------------------
# terminal (rich)
# ------------------------------------------------------------------------------------------------------------------
def to_rich(table: Table, intervals: bool = False):
    from rich.table import Table as RichTable

    rt = RichTable(title=_rich_escape(table.title) if table.title else None,
                   caption=_rich_escape(table.caption) if table.caption else None, show_lines=False,
                   header_style="bold", title_justify="left")
    texts = [[cell_text(r, c, intervals=intervals and table.show_intervals, compact=True) for c in table.columns]
             for r in table.rows]
    for j, c in enumerate(table.columns):
        head = header_text(c) if not c.group else f"{c.group}\n{header_text(c)}"
        width = max([len(t[j]) for t in texts] + [1])
        # values never truncate (min_width); long headers wrap at spaces or fold
        rt.add_column(_rich_escape(head), justify="left" if c.is_label else "right", min_width=width,
                      overflow="fold")
    ranks = table.ranks()
    for i, r in enumerate(table.rows):
        cells = []
        for c in table.columns:
            t = cell_text(r, c, intervals=intervals and table.show_intervals, compact=True)
            rank = ranks.get((i, c.key))
            style = "bold green" if rank == 1 else "underline" if rank == 2 else ""
            if c.key == "n_errors" and (_num(r.get(c.key)) or 0) > 0:
                style = "bold red"
            cells.append(f"[{style}]{_rich_escape(t)}[/]" if style else _rich_escape(t))
        rt.add_row(*cells)
    return rt


def _rich_escape(s: str) -> str:
    return sinks.term(s)


def _col_width(table: Table, c: Col, intervals: bool) -> int:
    """Characters column ``c`` needs in the terminal (its header or its widest value, plus rich's padding)."""
    return max([len(header_text(c)) + (len(c.group) if c.group else 0)]
               + [len(cell_text(r, c, intervals=intervals and table.show_intervals, compact=True))
                  for r in table.rows]) + 3


def table_width(table: Table, intervals: bool = False) -> int:
    """Characters the terminal table needs so that no value and no header is folded."""
    return sum(_col_width(table, c, intervals) for c in table.columns) + 1


def split_columns(table: Table, width: int, intervals: bool = False) -> list[Table]:
    """``table`` as consecutive column ranges that each fit ``width`` characters, every part keeping the label
    columns (backend, ...): a leaderboard of twenty columns read in an 80- or 120-column terminal. One part (the
    table itself) when it fits, or when not even one value column fits beside the labels."""
    labels = [c for c in table.columns if c.is_label]
    values = [c for c in table.columns if not c.is_label]
    room = width - 1 - sum(_col_width(table, c, intervals) for c in labels)
    parts: list[list[Col]] = [[]]
    used = 0
    for c in values:
        w = _col_width(table, c, intervals)
        if parts[-1] and used + w > room:
            parts.append([])
            used = 0
        parts[-1].append(c)
        used += w
    if len(parts) == 1 or room <= 0:
        return [table]
    out, start = [], 1
    for k, cols in enumerate(parts):
        end = start + len(cols) - 1
        title = f"{table.title} (columns {start}–{end} of {len(values)})" if table.title else ""
        out.append(Table(**{**table.__dict__, "columns": labels + cols, "title": title,
                            "notes": table.notes if k == len(parts) - 1 else [],
                            "warnings": table.warnings if k == 0 else [],
                            "shards_missing": table.shards_missing if k == 0 else []}))
        start = end + 1
    return out


def render_terminal(table: Table, console=None, intervals: bool = False) -> None:
    """Print the table with rich; a non-comparable warning is printed above it in red. In a terminal narrower
    than the table, its columns are printed in consecutive parts that fit (:func:`split_columns`), each with the
    row labels; piped or captured output (CI logs) gets the whole table at the width it needs, values never
    squeezed."""
    from rich.console import Console

    console = console or Console()
    need = table_width(table, intervals)
    if console.is_terminal and need > console.width:
        parts = split_columns(table, console.width, intervals)
        if len(parts) > 1:
            for part in parts:
                render_terminal(part, console=console, intervals=intervals)
            return
    for w in table.warnings:
        console.print(f"[bold red]NOT COMPARABLE:[/] {_rich_escape(w)}")
    if table.shards_missing:
        console.print(f"[bold yellow]Incomplete:[/] {_rich_escape(incomplete_text(table.shards_missing))}")
    rt = to_rich(table, intervals=intervals)
    if not console.is_terminal and need > console.width:
        saved = console.width
        console.width = need
        try:
            console.print(rt)
        finally:
            console.width = saved
    else:
        console.print(rt)
    for n in table.notes:
        console.print(f"[dim]{_rich_escape(n)}[/]")


# ------------------------------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------------------------------
def _md_escape(s: str) -> str:
    return sinks.markdown(s)


def render_markdown(table: Table, intervals: bool = True, heading: str | None = "###") -> str:
    """GitHub-flavoured Markdown: best per column **bold**, second <ins>underlined</ins>, ± half-intervals."""
    lines: list[str] = []
    if table.title and heading:
        lines += [f"{heading} {_md_escape(table.title)}", ""]
    for w in table.warnings:
        lines += [f"> **⚠ NOT COMPARABLE:** {_md_escape(w)}", ""]
    if table.shards_missing:
        lines += [f"> **Incomplete:** {_md_escape(incomplete_text(table.shards_missing))}", ""]
    heads = []
    for c in table.columns:
        h = header_text(c)
        heads.append(_md_escape(f"{c.group} / {h}" if c.group else h))
    lines.append("| " + " | ".join(heads) + " |")
    lines.append("|" + "|".join(":---" if c.is_label else "---:" for c in table.columns) + "|")
    ranks = table.ranks()
    for i, r in enumerate(table.rows):
        cells = []
        for c in table.columns:
            t = _md_escape(cell_text(r, c, intervals=intervals and table.show_intervals))
            rank = ranks.get((i, c.key))
            if rank == 1:
                t = f"**{t}**"
            elif rank == 2:
                t = f"<ins>{t}</ins>"
            cells.append(t)
        lines.append("| " + " | ".join(cells) + " |")
    if table.caption:
        lines += ["", _md_escape(table.caption)]
    for n in table.notes:
        lines += ["", f"_{_md_escape(n)}_"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------------------
# LaTeX (booktabs)
# ------------------------------------------------------------------------------------------------------------------
def latex_escape(s: Any) -> str:
    """Escape every LaTeX special character (and the few Unicode signs the report uses) for text mode."""
    return sinks.latex(s).replace("⚠", "")


def _latex_cell(row: dict[str, Any], col: Col, rank: int | None, intervals: bool) -> str:
    if col.is_label:
        return latex_escape(cell_text(row, col))
    v = format_number(row.get(col.key), col.fmt)
    body = "--" if v == MISSING else (r"$\infty$" if v == INF else r"$-\infty$" if v == "-" + INF else latex_escape(v))
    part = partial_inf(row, col)
    if part is not None:
        body += r"\,{\scriptsize(" + f"{part[0]} of {part[1]}" + ")}"
    if rank == 1:
        body = r"\textbf{" + body + "}"
    elif rank == 2:
        body = r"\underline{" + body + "}"
    iv = interval_text(row, col) if intervals else None
    if iv is not None and v != MISSING:
        body += (r"\,{\scriptsize$\pm$" + latex_escape(iv[1]) + "}" if iv[0] == "±" else
                 r"\,{\scriptsize[" + latex_escape(iv[1]) + "]}")
    if small_n(row, col) and v != MISSING:
        body += r"$^\dagger$"
    return body


def render_latex(table: Table, intervals: bool = True, standalone: bool = True, placement: str = "t") -> str:
    """A booktabs tabular, wrapped in a ``table`` environment with caption and label when ``standalone``.

    Needs ``\\usepackage{booktabs}`` and ``\\usepackage{graphicx}`` in the preamble. Best per column \\textbf,
    second \\underline; intervals as ``±`` the bootstrap half-width in \\scriptsize. A non-comparable warning goes
    into the caption (and a comment), and so does a merge of some shards only (``Incomplete: shard 1/2 not
    merged``). A standalone table never runs past the text: a tabular wider than ``\\linewidth`` is scaled down to it
    (``\\resizebox``), a narrower one is left at its size. Rows are separated by a rule between ``rank_within``
    groups when each group's rows are consecutive.
    """
    cols = table.columns
    align = "".join("l" if c.is_label else "r" for c in cols)
    ranks = table.ranks()
    out: list[str] = []
    for w in table.warnings:
        out.append("% NOT COMPARABLE: " + w.replace("\n", " "))
    incomplete = incomplete_text(table.shards_missing)
    if incomplete:
        out.append("% Incomplete: " + incomplete)
    if standalone:
        out += [f"\\begin{{table}}[{placement}]", r"\centering"]
        cap = latex_escape(table.caption or table.title)
        if table.warnings:
            cap = (cap + " " if cap else "") + r"\textbf{Not comparable:} " + latex_escape("; ".join(table.warnings))
        if incomplete:
            cap = (cap + " " if cap else "") + r"\textbf{Incomplete:} " + latex_escape(incomplete)
        if cap:
            out.append(f"\\caption{{{cap}}}")
        if table.label:
            out.append(f"\\label{{{sinks.latex_label(table.label)}}}")
        out.append(r"\setbox0=\hbox{%")
    out.append(f"\\begin{{tabular}}{{{align}}}")
    out.append(r"\toprule")
    spans = table.groups()
    if any(g for g, _ in spans):
        heads, rules, pos = [], [], 1
        for g, n in spans:
            if g:
                heads.append(f"\\multicolumn{{{n}}}{{c}}{{{latex_escape(g)}}}")
                rules.append(f"\\cmidrule(lr){{{pos}-{pos + n - 1}}}")
            else:
                heads.extend([""] * n)
            pos += n
        out.append(" & ".join(heads) + r" \\")
        out.append(" ".join(rules))
    out.append(" & ".join(latex_escape(header_text(c)) for c in cols) + r" \\")
    out.append(r"\midrule")
    seq = [tuple(r.get(k) for k in table.rank_within) for r in table.rows]
    runs = [g for i, g in enumerate(seq) if i == 0 or g != seq[i - 1]]
    rules = bool(table.rank_within) and len(runs) == len(set(runs))  # each group in one block: rule between them
    for i, r in enumerate(table.rows):
        if rules and i and seq[i] != seq[i - 1]:
            out.append(r"\midrule")
        out.append(" & ".join(_latex_cell(r, c, ranks.get((i, c.key)), intervals and table.show_intervals)
                              for c in cols) + r" \\")
    out.append(r"\bottomrule")
    out.append(r"\end{tabular}")
    if standalone:
        out.append(r"}\ifdim\wd0>\linewidth\resizebox{\linewidth}{!}{\box0}\else\box0\fi")
        for n in table.notes:
            out.append(r"\par\smallskip{\footnotesize " + latex_escape(n) + "}")
        out.append(r"\end{table}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------------------------
# CSV / Parquet / JSON
# ------------------------------------------------------------------------------------------------------------------
def _flat_columns(table: Table) -> list[str]:
    keys: list[str] = []
    for c in table.columns:
        keys.append(c.key)
        if c.interval and not c.is_label:
            keys += [c.key + "_lo", c.key + "_hi"]
    return keys


def to_frame(table: Table):
    """A pandas DataFrame of the raw values (intervals as ``_lo``/``_hi`` columns), plus ``comparable``,
    ``noncomparable_reasons``, ``shards_missing`` (the shards a partial merge lacks, ``; ``-separated) and
    ``provenance`` (the run's, :attr:`Table.provenance`)."""
    import pandas as pd

    keys = _flat_columns(table)
    df = pd.DataFrame([{k: r.get(k) for k in keys} for r in table.rows], columns=keys)
    df["comparable"] = not table.warnings
    df["noncomparable_reasons"] = "; ".join(table.warnings)
    df["shards_missing"] = "; ".join(table.shards_missing)
    df["provenance"] = table.provenance
    return df


def render_csv(table: Table) -> str:
    """Raw values (full precision; inf as ``inf``, missing empty) with the ``comparable``,
    ``noncomparable_reasons``, ``shards_missing`` and ``provenance`` columns of :func:`to_frame` on every row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = _flat_columns(table)
    w.writerow(keys + ["comparable", "noncomparable_reasons", "shards_missing", "provenance"])
    comp = "false" if table.warnings else "true"
    reasons = "; ".join(table.warnings)
    shards = "; ".join(table.shards_missing)
    for r in table.rows:
        vals = []
        for k in keys:
            v = r.get(k)
            x = _num(v)
            if v is None or (x is not None and math.isnan(x)):
                vals.append("")
            elif x is not None and math.isinf(x):
                vals.append("inf" if x > 0 else "-inf")
            else:
                vals.append(sinks.csv_cell(v))
        w.writerow(vals + [comp, sinks.csv_cell(reasons), sinks.csv_cell(shards), sinks.csv_cell(table.provenance)])
    return buf.getvalue()


def write_parquet(table: Table, path: str | Path) -> Path:
    """Parquet with the raw values; the table's column metadata and warnings go into the file's key-value
    metadata (``inpaint_bench``)."""
    from ..errors import require_extra

    pa = require_extra("pyarrow", "report", "--format parquet")
    import pyarrow.parquet as pq

    df = to_frame(table)
    at = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(at.schema.metadata or {})
    meta[b"inpaint_bench"] = json.dumps({k: v for k, v in table.to_dict().items() if k != "rows"}).encode()
    at = at.replace_schema_metadata(meta)
    path = Path(path)
    pq.write_table(at, path)
    return path


def render_json(table: Table) -> str:
    return json.dumps(table.to_dict(), indent=1, ensure_ascii=False)


# ------------------------------------------------------------------------------------------------------------------
# building tables from summaries
# ------------------------------------------------------------------------------------------------------------------
def col_for(key: str, columns_meta: dict[str, Any], label: str | None = None, group: str | None = None,
            row_key: str | None = None) -> Col:
    from ..columns import Column
    from .columns import ColumnCatalog

    info = Column.from_any(columns_meta[key]) if key in columns_meta else ColumnCatalog({})(key)
    return Col(key=row_key or key, label=label or key, higher_is_better=info.higher_is_better, fmt=info.fmt,
               interval=info.interval, group=group, doc=info.doc)


def table_from_summary(
    df,
    value_keys: Sequence[str],
    label_keys: Sequence[str] = ("backend",),
    name: str = "leaderboard",
    title: str = "",
    caption: str = "",
    label: str = "",
    rank_within: Iterable[str] | None = None,
    warnings: Iterable[str] | None = None,
    labels: dict[str, str] | None = None,
) -> Table:
    """A :class:`Table` from a ``summarize`` frame: ``label_keys`` as text columns, then ``value_keys``; marks are
    ranked within ``rank_within`` (default: :func:`rank_groups` of ``label_keys``)."""
    meta = dict(df.attrs.get("columns", {}))
    labels = labels or {}
    cols = [Col(key=k, label=labels.get(k, k), is_label=True) for k in label_keys]
    cols += [col_for(k, meta, label=labels.get(k)) for k in value_keys]
    rows = []
    for rec in df.to_dict("records"):
        rows.append({k: v for k, v in rec.items()})
    if warnings is None:
        warnings = [] if df.attrs.get("comparable", True) else (
            list(df.attrs.get("noncomparable_reasons") or []) or ["the run is marked non-comparable"])
    notes = [SMALL_N_NOTE] if any(small_n(r, c) for r in rows for c in cols) else []
    return Table(columns=cols, rows=rows, name=name, title=title, caption=caption, label=label,
                 rank_within=tuple(rank_groups(label_keys) if rank_within is None else rank_within),
                 warnings=list(warnings), notes=notes, shards_missing=list(df.attrs.get("shards_missing") or []))
