"""Paired comparison of two backends of one run on the same samples (``bench report RUN --compare A B``).

For every dataset × mask where both backends have successful rows, every per-sample metric is compared on the
samples both scored: the mean difference (B − A), its 95 % paired bootstrap interval and a two-sided p-value
(:func:`bench.stats.paired_bootstrap`, the test ``bench compare`` uses: the same pair gives the same p-value in
both). Pairing removes the between-image variance that makes unpaired intervals overlap, so small but consistent
differences are resolved. Samples where one backend's value is infinite and the other's finite (a PSNR of a region
kept exactly) are not averaged in: they are counted (``inf_a`` / ``inf_b``: infinite for A only / for B only).
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .. import stats
from ..errors import BenchError
from .aggregate import RunData, metric_keys
from .columns import ColumnCatalog


def compare_backends(rd: RunData, a: str, b: str, seed: int = 0) -> pd.DataFrame:
    """One row per (dataset, mask, metric): n, mean A, mean B, diff (B − A), lo, hi, p, and which is better."""
    frame = rd.frame()
    if frame.empty:
        raise BenchError("the run has no records")
    known = sorted(set(frame["backend"]))
    for name in (a, b):
        if name not in known:
            raise BenchError(f"--compare: no backend '{name}' in this run (backends: {', '.join(known)})")
    ok = frame[frame["error"].isna()]
    cols = ColumnCatalog(rd.manifest.get("columns"))
    keys = metric_keys(ok)
    rows: list[dict[str, Any]] = []
    for (ds, mk), grp in ok.groupby(["dataset", "mask"], sort=True):
        ga = grp[grp["backend"] == a].set_index("sample_id")
        gb = grp[grp["backend"] == b].set_index("sample_id")
        common = ga.index.intersection(gb.index).sort_values()
        if len(common) == 0:
            continue
        for key in keys:
            if key not in grp.columns:
                continue
            va = pd.to_numeric(ga.loc[common, key], errors="coerce").to_numpy(dtype=float)
            vb = pd.to_numeric(gb.loc[common, key], errors="coerce").to_numpy(dtype=float)
            res = stats.paired_bootstrap(vb, va, seed=seed)
            inf_a, inf_b = res["n_neg_inf"], res["n_pos_inf"]  # B - A = -inf: A infinite (above), B finite
            if res["n"] == 0 and not (inf_a or inf_b):
                continue
            hib = cols(key).higher_is_better
            better = "—"
            if hib is not None and not (res["lo"] <= 0 <= res["hi"]) and not math.isnan(res["lo"]):
                better = b if (res["mean_diff"] > 0) == bool(hib) else a
            elif hib is not None and bool(inf_a) != bool(inf_b):  # only one side infinite on some samples
                better = a if bool(inf_a) == bool(hib) else b  # +inf is the best PSNR, the worst distance
            rows.append({"dataset": ds, "mask": mk, "metric": key, "n": res["n"],
                         f"mean_{a}": float(pd.Series(va).mean()), f"mean_{b}": float(pd.Series(vb).mean()),
                         "diff": res["mean_diff"], "lo": res["lo"], "hi": res["hi"], "p_value": res["p_value"],
                         "better": better, "inf_a": inf_a, "inf_b": inf_b})
    if not rows:
        raise BenchError(f"--compare: '{a}' and '{b}' have no successful samples in common")
    return pd.DataFrame(rows)


def _fmt(x: float, fmt: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return format(x, fmt)


def to_markdown(df: pd.DataFrame, a: str, b: str) -> str:
    lines = [f"# Paired comparison: {b} vs {a}", "",
             f"Difference = {b} − {a} on the samples both scored; 95 % paired bootstrap interval; two-sided p. "
             f"'better' names the backend whose interval excludes 0 in its favour (— when it does not).", ""]
    for (ds, mk), grp in df.groupby(["dataset", "mask"], sort=True):
        lines += [f"## dataset {ds} × mask {mk}", "",
                  f"| metric | n | {a} | {b} | diff | 95 % CI | p | better |", "|:---|---:|---:|---:|---:|:---|---:|:---|"]
        notes = []
        for _, r in grp.iterrows():
            lines.append(f"| {r['metric']} | {r['n']} | {_fmt(r[f'mean_{a}'])} | {_fmt(r[f'mean_{b}'])} | "
                         f"{_fmt(r['diff'], '+.4g')} | [{_fmt(r['lo'])}, {_fmt(r['hi'])}] | {_fmt(r['p_value'], '.3f')} "
                         f"| {r['better']} |")
            for side, k in ((a, "inf_a"), (b, "inf_b")):
                if r.get(k):
                    notes.append(f"{r['metric']}: infinite for {side} only on {int(r[k])} samples (not in the mean "
                                 f"difference)")
        lines.append("")
        lines += [f"- {x}" for x in notes] + ([""] if notes else [])
    return "\n".join(lines)
