"""Paired comparison of two backends of one run on the same samples (``bench report RUN --compare A B``).

For every dataset × mask where both backends have successful rows, every per-sample metric is compared on the
samples both scored: the mean difference (B − A), its 95 % paired bootstrap interval and a two-sided p-value
(:func:`bench.stats.paired_bootstrap`, the test ``bench compare`` uses: the same pair gives the same p-value in
both), and that p adjusted by Holm over the rows of its dataset × mask table that can reject
(:func:`bench.stats.holm_family`, the family rule of ``bench compare`` too: a row with no difference on any sample
is shown, not counted); ``better`` needs both the interval to exclude 0 and the adjusted p to be below
:data:`bench.stats.ALPHA`. Pairing removes the between-image variance that makes
unpaired intervals overlap, so small but consistent differences are resolved. Samples where one backend's value is
infinite and the other's finite (a PSNR of a region kept exactly) are not averaged in: they are counted (``inf_a`` /
``inf_b``: infinite for A only / for B only) and favour one backend (:func:`bench.stats.infinite_wins`); ``better``
names a backend only where neither the test nor those samples favour the other.

How the two *fail* is compared the same way, on 0/1 values per sample: each detector flag's rate (``blur_rate``:
the flag, where the detector judged the sample) and each verdict's share (``failure_blur``: the sample's one
verdict is ``blur``), after the metrics, for the flags and verdicts either backend has on a shared sample. The
difference is then the difference of the two rates on the samples both scored, with its paired interval.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .. import stats
from ..detectors import verdict
from ..errors import BenchError
from .aggregate import RunData, metric_keys
from .columns import ColumnCatalog


def _failure_values(grp: pd.DataFrame) -> dict[str, pd.Series]:
    """{rate key: per-row 0/1 (NaN where not judged)} of ``grp``'s flags (``<flag>_rate``) and, where the frame
    has verdicts, each verdict's indicator (``failure_<verdict>``), in the leaderboard's order."""
    out = {c[: -len("_flag")] + "_rate": pd.to_numeric(grp[c], errors="coerce")  # (flags are 0, 1 or NaN)
           for c in grp.columns if isinstance(c, str) and c.endswith("_flag")}
    if verdict.COLUMN in grp.columns:
        v = grp[verdict.COLUMN]
        out |= {verdict.share_key(x): (v == x).astype(float).where(v.notna()) for x in verdict.VERDICTS}
    return out


def check_backends(rd: RunData, *names: str) -> None:
    """Raise a :class:`BenchError` naming the run's backends unless it has records of each of ``names`` (asked
    before a report prints anything: a typo in ``--compare`` is said first, not after the leaderboard)."""
    frame = rd.frame()
    if frame.empty:
        raise BenchError("the run has no records")
    known = sorted(set(frame["backend"]))
    for name in names:
        if name not in known:
            raise BenchError(f"--compare: no backend '{name}' in this run (backends: {', '.join(known)})")


def compare_backends(rd: RunData, a: str, b: str, seed: int = 0) -> pd.DataFrame:
    """One row per (dataset, mask, metric): n, mean A, mean B (both over the pairs where neither value is absent:
    a detector that did not judge a sample on one side leaves it out of both), diff (B − A), lo, hi, p, and which
    is better."""
    frame = rd.frame()
    check_backends(rd, a, b)
    ok = frame[frame["error"].isna()]
    cols = ColumnCatalog(rd.manifest.get("columns"))
    keys = metric_keys(ok, cols)  # the kinds the scorers declared: a detector's score is no metric here
    rows: list[dict[str, Any]] = []
    for (ds, mk), grp in ok.groupby(["dataset", "mask"], sort=True):
        ga = grp[grp["backend"] == a].set_index("sample_id")
        gb = grp[grp["backend"] == b].set_index("sample_id")
        common = ga.index.intersection(gb.index).sort_values()
        if len(common) == 0:
            continue
        fail_a, fail_b = _failure_values(ga.loc[common]), _failure_values(gb.loc[common])
        values = [(key, pd.to_numeric(ga.loc[common, key], errors="coerce"),
                   pd.to_numeric(gb.loc[common, key], errors="coerce")) for key in keys if key in grp.columns]
        values += [(key, fail_a[key], fail_b[key]) for key in fail_a  # a failure neither shows is no comparison
                   if (fail_a[key].fillna(0) > 0).any() or (fail_b[key].fillna(0) > 0).any()]
        group: list[dict[str, Any]] = []
        tests: list[dict[str, Any]] = []  # group[i]'s paired_bootstrap result
        for key, sa, sb in values:
            va, vb = sa.to_numpy(dtype=float), sb.to_numpy(dtype=float)
            both = ~np.isnan(va) & ~np.isnan(vb)  # the pairs the test is over: the means beside it too
            res = stats.paired_bootstrap(vb, va, seed=seed)
            inf_a, inf_b = res["n_neg_inf"], res["n_pos_inf"]  # B - A = -inf: A infinite (above), B finite
            if res["n"] == 0 and not (inf_a or inf_b):
                continue
            group.append({"dataset": ds, "mask": mk, "metric": key, "n": res["n"],
                          f"mean_{a}": _mean(va[both]), f"mean_{b}": _mean(vb[both]),
                          "diff": res["mean_diff"], "lo": res["lo"], "hi": res["hi"], "p_value": res["p_value"],
                          "p_holm": math.nan, "better": "—", "inf_a": inf_a, "inf_b": inf_b})
            tests.append(res)
        # Holm over the table's rows that can reject (the family rule of `bench compare` too, one function): with a
        # dozen metrics and flags, one of them excludes 0 at 95 % by chance alone; a row with no difference on any
        # sample cannot reject and would only dilute the others
        # (a row without a direction names no better backend, so it takes no part in deciding one either)
        _, adjusted, _ = stats.holm_family([t if cols(r["metric"]).higher_is_better is not None
                                            else {**t, "p_value": math.nan} for r, t in zip(group, tests)], stats.ALPHA)
        for r, adj in zip(group, adjusted):
            r["p_holm"] = adj
        for r, res in zip(group, tests):
            hib = cols(r["metric"]).higher_is_better
            if hib is None:
                continue
            # who the evidence favours: the test (Holm), and the pairs infinite on one side only (+inf is the best
            # PSNR, the worst distance); a backend is named only where none of it favours the other (as `bench
            # compare` gates a NEW that lost an infinity, whatever its test says, and one the test finds worse)
            favours = set()
            if not (r["lo"] <= 0 <= r["hi"]) and not math.isnan(r["lo"]) and r["p_holm"] < stats.ALPHA:
                favours.add(b if (r["diff"] > 0) == bool(hib) else a)
            b_wins, a_wins = stats.infinite_wins(res, bool(hib))
            favours |= {a} if a_wins else set()
            favours |= {b} if b_wins else set()
            if len(favours) == 1:
                r["better"] = favours.pop()
        rows += group
    if not rows:
        raise BenchError(f"--compare: '{a}' and '{b}' have no successful samples in common")
    return pd.DataFrame(rows)


def _mean(v: np.ndarray) -> float:
    """The mean of the values (+inf kept: a mean with one is +inf), NaN when there are none."""
    if v.size == 0:
        return math.nan
    with np.errstate(invalid="ignore"):
        return float(v.mean())


def _fmt(x: float, fmt: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return format(x, fmt)


def to_markdown(df: pd.DataFrame, a: str, b: str) -> str:
    lines = [f"# Paired comparison: {a} vs {b}", "",
             f"Difference = {b} − {a} on the samples both scored; 95 % paired bootstrap interval; two-sided p, and "
             f"p adjusted by Holm over the rows of each table that can reject (– for a row with no difference on any "
             f"sample or under {stats.MIN_PAIRS} pairs: not counted). 'better' names the backend whose interval excludes 0 "
             f"in its favour with a Holm-adjusted p below {stats.ALPHA} (— otherwise). "
             f"Metrics first, then failures: `<flag>_rate` (the detector's flag, 0/1 per sample) and `failure_<v>` "
             f"(the sample's one verdict is v).", ""]
    for (ds, mk), grp in df.groupby(["dataset", "mask"], sort=True):
        lines += [f"## dataset {ds} × mask {mk}", "",
                  f"| metric | n | {a} | {b} | diff | 95 % CI | p | p (Holm) | better |",
                  "|:---|---:|---:|---:|---:|:---|---:|---:|:---|"]
        notes = []
        for _, r in grp.iterrows():
            lines.append(f"| {r['metric']} | {r['n']} | {_fmt(r[f'mean_{a}'])} | {_fmt(r[f'mean_{b}'])} | "
                         f"{_fmt(r['diff'], '+.4g')} | [{_fmt(r['lo'])}, {_fmt(r['hi'])}] | {_fmt(r['p_value'], '.3f')} "
                         f"| {_fmt(r['p_holm'], '.3f')} | {r['better']} |")
            for side, k in ((a, "inf_a"), (b, "inf_b")):
                if r.get(k):
                    notes.append(f"{r['metric']}: infinite for {side} only on {int(r[k])} samples (not in the mean "
                                 f"difference)")
        lines.append("")
        lines += [f"- {x}" for x in notes] + ([""] if notes else [])
    return "\n".join(lines)
