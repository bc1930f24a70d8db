"""Aggregates computed from per-sample records at report time.

``summarize`` turns a run (one folder, a store, or several folders merged: shards, resumed pieces) into one row
per group (by default backend × dataset × mask): the mean of every per-sample metric over successful samples with
bootstrap intervals, set-level metrics (FID/KID from stored features), detector rates, latency p50/p90/mean per
image and images/s, peak memory, load time, and sample/error counts. ``by`` may include ``area_bin`` for LaMa's
per-mask-area view (bins labelled ``0-10%`` ... ``90-100%``).

Means follow IEEE arithmetic on purpose: a mean that includes +inf (a perfect paste-back's PSNR outside the hole)
is +inf, rendered as ∞; its interval is then not defined (NaN) unless every value is +inf.
"""
from __future__ import annotations

import json
import math
import warnings
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..bins import area_bin_label, parse_area_bin
from .. import stats
from ..errors import BenchError, ConfigError, ErrorList, suggest
from ..detectors import verdict
from ..store.run import RunData, load_run
from ..store.sqlite import RECORD_FIELDS
from .columns import ColumnCatalog, metric_sort_key

MIB = 1024.0 * 1024.0


def mean_ci(values, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): :func:`bench.stats.bootstrap_ci` of the finite values.

    Non-finite values: the mean follows IEEE rules (+inf in, +inf out); the interval is defined only when every
    value is finite (or all equal, e.g. all +inf). One value has no interval (NaN bounds): it has no spread to
    resample, and the bootstrap's [v, v] read as a 95 % interval of zero width (a mask-area bin of one sample).
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    if v.size == 1:
        return (float(v[0]), math.nan, math.nan)
    if not np.isfinite(v).all():
        with np.errstate(invalid="ignore"):
            mean = float(v.mean())
        if np.all(v == v[0]):
            return (mean, mean, mean)
        return (mean, math.nan, math.nan)
    mean, lo, hi = stats.bootstrap_ci(v, n_boot=n_boot, alpha=alpha, seed=seed)
    return (float(mean), float(lo), float(hi))


def rate_ci(flags, alpha: float = 0.05) -> tuple[float, float, float]:
    """(rate, lo, hi): the share of 0/1 ``flags`` that are 1 (NaN: not judged, left out) and its Wilson score
    interval (:func:`bench.stats.wilson_interval`). A bootstrap of eight zeros is [0, 0]: an interval that misses
    every true rate above 0, where Wilson's says how high a rate 0 of 8 leaves possible."""
    v = np.asarray(flags, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    lo, hi = stats.wilson_interval(float(v.sum()), float(v.size), alpha)
    return (float(v.mean()), float(lo), float(hi))


# ------------------------------------------------------------------------------------------------------------------
# keys
# ------------------------------------------------------------------------------------------------------------------
def detector_names(frame: pd.DataFrame) -> list[str]:
    return sorted(c[: -len("_flag")] for c in frame.columns if isinstance(c, str) and c.endswith("_flag"))


def metric_keys(frame: pd.DataFrame, catalog: ColumnCatalog | None = None) -> list[str]:
    """Per-sample metric keys: numeric record columns that are neither record fields nor detector outputs. A key
    the run's manifest declares is a metric when its declared kind says so; only keys no scorer declared (runs
    made before columns carried their kind) are told apart by their names' suffixes."""
    dets = set(detector_names(frame))
    out = []
    for c in frame.columns:
        if not isinstance(c, str) or c in RECORD_FIELDS:
            continue
        if catalog is not None and catalog.declared(c):
            if catalog(c).kind == "metric":
                out.append(c)
            continue
        if c.endswith("_flag") or c == verdict.COLUMN:
            continue
        if c.endswith("_score") and c[: -len("_score")] in dets:
            continue
        if c.endswith("_ms"):  # timings the runner stores beside metrics (e.g. wall_ms): not quality metrics
            continue
        col = pd.to_numeric(frame[c], errors="coerce")
        if col.notna().any() or frame[c].isna().all():
            out.append(c)
    return sorted(out, key=metric_sort_key)


# ------------------------------------------------------------------------------------------------------------------
# summarize
# ------------------------------------------------------------------------------------------------------------------
CELL_KEYS = ("backend", "dataset", "mask")


def _set_level(rd: RunData, cell_key: str, ci: bool = False, seed: int = 0) -> dict[str, float]:
    """Set-level metrics of one cell (``{}`` when the metrics room or the features are absent). With ``ci``,
    ``bench.metrics.setlevel.set_level_bootstrap`` adds ``<key>_lo``/``<key>_hi`` (slow: one FID per resample)."""
    if not rd.store.feature_names(cell_key):
        return {}
    try:
        from bench.metrics import setlevel as _sl  # type: ignore[attr-defined]
    except Exception:
        return {}
    try:
        if ci and hasattr(_sl, "set_level_bootstrap"):
            out: dict[str, float] = {}
            for k, (v, lo, hi) in (_sl.set_level_bootstrap(rd.store, cell_key, rd.manifest, seed=seed) or {}).items():
                out[k], out[f"{k}_lo"], out[f"{k}_hi"] = float(v), float(lo), float(hi)
            return out
        out = _sl.set_level_metrics(rd.store, cell_key, rd.manifest) or {}
        return {k: float(v) for k, v in out.items()}
    except Exception as e:  # a broken set-level metric must not take the leaderboard down
        warnings.warn(f"set-level metrics for cell {cell_key} failed: {e}", stacklevel=2)
        return {}


def _min_n(key: str) -> int | None:
    try:
        from bench.metrics.setlevel import min_n
    except Exception:  # noqa: BLE001 - the metrics room is optional for reports
        return None
    return min_n(key)


def is_set_level(key: str) -> bool:
    """Whether ``key`` is a set-level metric's (``fid``, ``kid_crop``, ``p_ids_raw``...: computed from every sample
    of one cell, never a mean of per-sample values)."""
    return _min_n(key) is not None


def _mem_stats(sess: pd.DataFrame) -> dict[str, float]:
    out = {"peak_mem_mb": math.nan, "peak_mem_reserved_mb": math.nan, "peak_rss_mb": math.nan,
           "load_time_s": math.nan}
    if sess.empty:
        return out

    def mx(col: str) -> float:
        v = pd.to_numeric(sess.get(col), errors="coerce") if col in sess else pd.Series(dtype=float)
        v = v.dropna()
        return float(v.max()) / MIB if len(v) else math.nan

    alloc, res, rss = mx("peak_mem_allocated"), mx("peak_mem_reserved"), mx("peak_rss")
    out["peak_mem_reserved_mb"] = res
    out["peak_rss_mb"] = rss
    # one meaning per device: GPU memory for CUDA cells, RAM for CPU cells (NaN, shown "—", where not measured)
    devices = sess["device"].astype(str) if "device" in sess else pd.Series(dtype=str)
    on_gpu = bool(len(devices)) and devices.str.startswith("cuda").any()
    out["peak_mem_mb"] = alloc if on_gpu else rss
    lt = pd.to_numeric(sess.get("load_time_s"), errors="coerce").dropna() if "load_time_s" in sess else []
    out["load_time_s"] = float(np.mean(lt)) if len(lt) else math.nan
    return out


def summarize(
    run: Any,
    by: Sequence[str] = CELL_KEYS,
    ci: bool = True,
    n_boot: int = 1000,
    alpha: float = 0.05,
    setlevel: bool = True,
    seed: int = 0,
    filters: dict[str, Any] | None = None,
    setlevel_ci: bool = False,
) -> pd.DataFrame:
    """One row per group of ``by`` (any of backend, dataset, mask, cell_key, area_bin).

    Columns: the group keys; ``n`` (successful samples), ``n_errors``, ``error_rate``; for every per-sample metric
    its mean over successful samples and, with ``ci`` and an interval-bearing column, ``<key>_lo``/``<key>_hi``
    (percentile bootstrap, 1 - ``alpha``); set-level metrics (for a group that is one whole cell, whatever ``by``
    says: ``by=("backend",)`` over a run of one dataset × mask has them); ``<detector>_rate`` (mean of
    the flag over the samples it judged) with its Wilson score interval (:func:`rate_ci`); latency
    ``latency_p50``/``latency_p90``/``latency_mean`` (ms per image) and ``images_per_s``; ``peak_mem_mb`` (the cell's own: GPU memory on CUDA, RAM on CPU; NaN where not measured),
    ``peak_mem_reserved_mb``, ``peak_rss_mb``, ``load_time_s``; ``failure_<verdict>``: the share of the group's
    samples (errors included) whose one verdict is that (:mod:`bench.detectors.verdict`; they add up to 1).

    ``filters`` keeps only some records: ``{"backend"|"dataset"|"mask": value or list, "area_bin": bin index,
    label ("40-50%") or list, "hole_fraction": [lo, hi)}``. Set-level metrics need every sample of a cell, so
    they are omitted under an ``area_bin`` / ``hole_fraction`` filter. ``setlevel_ci`` adds bootstrap intervals
    to set-level metrics (one FID per resample: slow, off by default).

    ``df.attrs`` carries ``columns`` (key -> Column dict), ``metric_keys``, ``detectors``, ``comparable``,
    ``noncomparable_reasons``, ``run_id``, ``by`` and ``setlevel_skipped`` (why a row has no set-level metrics:
    it pools several cells or holds part of one; "" when every row is one whole cell).
    """
    rd = load_run(run)
    by = list(by)
    allowed = {"backend", "dataset", "mask", "cell_key", "area_bin"}
    bad = [b for b in by if b not in allowed]
    if bad:
        raise BenchError(f"cannot group by {bad}; choose from {sorted(allowed)}")
    frame = rd.frame().copy()
    cells = rd.cells()
    sessions = rd.sessions()
    catalog = ColumnCatalog(rd.manifest.get("columns"))
    mkeys = metric_keys(frame, catalog)
    dets = detector_names(frame)
    possible = verdict.present(frame, paste_back=rd.paste_back)

    if "error" not in frame:
        frame["error"] = None
    subset = False
    if filters:
        frame, cells, subset = apply_filters(frame, cells, filters)
    frame["_ok"] = frame["error"].isna()
    for k in mkeys + [f"{d}_flag" for d in dets] + ["latency_ms", "hole_fraction"]:
        if k in frame:
            frame[k] = pd.to_numeric(frame[k], errors="coerce")

    # Groups: from records, plus cells without any record yet (partial runs) when grouping by cell labels.
    group_rows: dict[tuple, dict[str, Any]] = {}
    if not frame.empty:
        if "area_bin" in by:
            frame = frame[frame["area_bin"].notna()].copy()
            frame["area_bin"] = frame["area_bin"].astype(int)
        for key, _ in frame.groupby(by, sort=False, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            group_rows[key] = {}
    if "area_bin" not in by and not cells.empty:
        for _, c in cells.iterrows():
            key = tuple(c[b] for b in by)
            group_rows.setdefault(key, {})

    out_rows = []
    grouped = {k if isinstance(k, tuple) else (k,): g
               for k, g in (frame.groupby(by, sort=False, dropna=False) if not frame.empty else [])}
    pooled = False  # some group holds several cells: no set-level numbers for it
    for key in group_rows:
        g = grouped.get(key, frame.iloc[0:0])
        row: dict[str, Any] = dict(zip(by, key))
        ok = g[g["_ok"]]
        n, n_err = int(len(ok)), int((~g["_ok"]).sum())
        row["n"] = n
        row["n_errors"] = n_err
        row["error_rate"] = n_err / (n + n_err) if (n + n_err) else math.nan
        if n_err:
            row["first_error"] = str(g.loc[~g["_ok"], "error"].iloc[0])
        if verdict.COLUMN in g:  # every sample (errors included) has one verdict: the shares add up to 1
            row.update(verdict.shares(g[verdict.COLUMN], possible))
        for k in mkeys:
            vals = ok[k].to_numpy(dtype=float) if k in ok else np.array([])
            vals = vals[~np.isnan(vals)]
            info = catalog(k)
            if ci and info.interval:
                m, lo, hi = mean_ci(vals, n_boot=n_boot, alpha=alpha, seed=seed)
                row[k], row[f"{k}_lo"], row[f"{k}_hi"] = m, lo, hi
            else:
                with np.errstate(invalid="ignore"):
                    row[k] = float(vals.mean()) if vals.size else math.nan
            n_inf = int(np.isinf(vals).sum())
            if 0 < n_inf < vals.size:  # a mean made infinite by some values: the tables say how many
                row[f"{k}_n_inf"], row[f"{k}_n_values"] = n_inf, int(vals.size)
        for d in dets:
            fk = f"{d}_flag"
            vals = ok[fk].to_numpy(dtype=float) if fk in ok else np.array([])
            vals = vals[~np.isnan(vals)]
            rk = f"{d}_rate"
            if ci:
                row[rk], row[f"{rk}_lo"], row[f"{rk}_hi"] = rate_ci(vals, alpha=alpha)
            else:
                row[rk] = float(vals.mean()) if vals.size else math.nan
        lat = ok["latency_ms"].dropna().to_numpy(dtype=float) if "latency_ms" in ok else np.array([])
        if lat.size:
            row["latency_p50"] = float(np.percentile(lat, 50))
            row["latency_p90"] = float(np.percentile(lat, 90))
            row["latency_mean"] = float(lat.mean())
            row["images_per_s"] = 1000.0 / row["latency_mean"] if row["latency_mean"] > 0 else math.inf
        else:
            row.update(latency_p50=math.nan, latency_p90=math.nan, latency_mean=math.nan, images_per_s=math.nan)
        if "hole_fraction" in ok and len(ok):
            row["hole_fraction"] = float(ok["hole_fraction"].mean())
        # memory and load time: the sessions of the group's cells
        if not cells.empty:
            sel = cells
            for b in by:
                if b in ("backend", "dataset", "mask", "cell_key"):
                    sel = sel[sel[b] == row[b]]
            ckeys = set(sel["cell_key"])
        else:
            ckeys = set(g["cell_key"]) if "cell_key" in g else set()
        sess = sessions[sessions["cell_key"].isin(ckeys)] if not sessions.empty else sessions
        row.update(_mem_stats(sess))
        pooled = pooled or len(ckeys) > 1
        if setlevel and "area_bin" not in by and not subset and len(ckeys) == 1:
            sl = _set_level(rd, next(iter(ckeys)), ci=ci and setlevel_ci, seed=seed)
            row.update(sl)
            for k in sl:
                need = _min_n(k)
                if need is not None and not k.endswith(("_lo", "_hi")):
                    row[f"{k}_n"] = n
                    row[f"{k}_small_n"] = n < need
        out_rows.append(row)

    df = pd.DataFrame(out_rows)
    if df.empty:
        df = pd.DataFrame(columns=by + ["n", "n_errors"])
    else:
        sort_cols = [b for b in by]
        df = df.sort_values(sort_cols, kind="stable").reset_index(drop=True)
        if "area_bin" in by:
            df["area_bin"] = df["area_bin"].map(area_bin_label)
    verdict_keys = [verdict.share_key(v) for v in possible if verdict.share_key(v) in df.columns
                    and (v == "ok" or bool((df[verdict.share_key(v)].fillna(0) > 0).any()))]
    setlevel_keys = [c for c in df.columns if c not in set(mkeys) and c not in RECORD_FIELDS
                     and not c.startswith(verdict.COLUMN + "_")
                     and not c.endswith(("_lo", "_hi", "_rate", "_small_n", "_n_inf", "_n_values"))
                     and c not in _DERIVED_SUMMARY
                     and c not in by and c != "first_error" and not (c.endswith("_n") and c[:-2] in df.columns)]
    all_keys = [k for k in list(df.columns) if not k.endswith(("_lo", "_hi", "_small_n", "_n_inf", "_n_values"))
                and k not in by]
    untimed = []
    if not df.empty and "latency_p50" in df and "n" in df:
        untimed = sorted({str(r["backend"]) for r in df.to_dict("records")
                          if r.get("n", 0) and pd.isna(r.get("latency_p50")) and "backend" in r})
    df.attrs.update(
        paste_back=rd.manifest.get("paste_back"),
        thresholds=dict(rd.thresholds),
        untimed_backends=untimed,
        dataset_errors=dict(rd.manifest.get("dataset_errors") or {}),
        shards_missing=list(rd.manifest.get("shards_missing") or []),
        sessions_differ=rd.session_differences,
        columns=catalog.as_dict(all_keys),
        metric_keys=mkeys,
        setlevel_keys=sorted(setlevel_keys, key=metric_sort_key),
        detectors=dets,
        verdict_keys=verdict_keys,
        comparable=rd.comparable,
        noncomparable_reasons=rd.noncomparable_reasons,
        run_id=str(rd.manifest.get("run_id", rd.run_dir.name if rd.run_dir else "")),
        config_hash=rd.manifest.get("config_hash"),
        by=by,
        setlevel_skipped=("" if not setlevel else
                          "a row holds only some of a cell's samples, split by area bin or under an area or "
                          "hole-fraction filter" if "area_bin" in by or subset else
                          "a row pools several cells" if pooled else ""),
    )
    from .study import add_human_bt  # a run with a scored user study: its human_bt column

    add_human_bt(rd, df)
    return df


def possible_keys(run: Any, df: pd.DataFrame) -> set[str]:
    """Every key a summary of ``run`` can have a column for, whatever its grouping and filter (``df`` is one of
    its summaries): ``df``'s columns, the metric and set-level keys its manifest declares, the set-level keys of the
    features it stored, ``<detector>_rate`` of every flag it declares, every verdict share, the report's derived
    columns and ``human_bt``. A key outside it is not of this run (a typo, or another run's metric)."""
    from .study import COLUMN as HUMAN_BT

    rd = load_run(run)
    declared = dict(rd.manifest.get("columns") or {})
    catalog = ColumnCatalog(declared)
    out = set(df.columns) | _DERIVED_SUMMARY | {"first_error", HUMAN_BT}
    out |= {verdict.share_key(v) for v in verdict.VERDICTS}
    out |= {k for k in declared if catalog(k).kind in ("metric", "setlevel")}
    out |= {f"{k[:-len('_flag')]}_rate" for k in declared if k.endswith("_flag")}
    try:
        from bench.metrics import setlevel as _sl
    except Exception:  # noqa: BLE001 - the metrics room is optional for reports
        return out
    out |= set(_sl.set_level_columns())
    cells = rd.cells()
    for ck in (cells["cell_key"] if not cells.empty else []):
        out |= set(_sl.set_level_keys(rd.store, ck))
    return out


#: keys beside a column's value (its interval, counts): never a column of their own to suggest
_AUX = ("_lo", "_hi", "_small_n", "_n_inf", "_n_values")


def check_keys(run: Any, df: pd.DataFrame, keys: Sequence[str], where: str) -> None:
    """Raise a :class:`ConfigError` at ``where[i]`` (``report.tables[0].columns[2]``) for each of ``keys`` that is
    no key at all (several: :class:`ConfigErrors`), with the closest one: not one a summary of ``run`` can have
    (:func:`possible_keys`), nor an installed metric's, nor a verdict-deciding detector's rate (a key of a metric
    this run did not score is no typo: a table shows it empty, with a note)."""
    unknown = [(i, k) for i, k in enumerate(keys) if k not in df.columns]
    if not unknown:
        return
    known = possible_keys(run, df)
    if any(k not in known for _, k in unknown):  # not this run's: another run's metric or detector, or a typo
        from .columns import installed_columns

        known |= set(installed_columns()) | {f"{f[:-len('_flag')]}_rate" for fs in verdict.FLAGS.values() for f in fs}
    names = sorted(c for c in known if isinstance(c, str) and not c.endswith(_AUX)
                   and not (c.endswith("_n") and c[:-2] in known))
    errors = ErrorList()
    for i, k in unknown:
        if k not in known:
            close = suggest(k, names)
            errors.add(ConfigError(f"{where}[{i}]", f"this run has no column {k!r}" + (
                f"; did you mean {close!r}?" if close else " (`bench report RUN --format csv` writes every column "
                                                           "it has to summary.csv)")))
    errors.raise_if_any()


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, (list, tuple, set)) else [v]


def apply_filters(frame: pd.DataFrame, cells: pd.DataFrame, filters: dict[str, Any]):
    """(frame, cells, subset) with only the matching rows; ``subset`` is True when samples were dropped from a
    cell (area / hole-fraction filters)."""
    subset = False
    for key, val in filters.items():
        if val is None:
            continue
        if key in ("backend", "dataset", "mask"):
            vals = [str(x) for x in _as_list(val)]
            frame = frame[frame[key].astype(str).isin(vals)] if key in frame else frame
            cells = cells[cells[key].astype(str).isin(vals)] if not cells.empty else cells
        elif key == "area_bin":
            bins = [parse_area_bin(x) for x in _as_list(val)]
            frame = frame[pd.to_numeric(frame["area_bin"], errors="coerce").isin(bins)]
            subset = True
        elif key == "hole_fraction":
            lo, hi = float(val[0]), float(val[1])
            hf = pd.to_numeric(frame["hole_fraction"], errors="coerce")
            frame = frame[(hf >= lo) & (hf < hi)]
            subset = True
        else:
            raise BenchError(f"unknown filter {key!r}; use backend, dataset, mask, area_bin, hole_fraction")
    return frame, cells, subset


_DERIVED_SUMMARY = {"n", "n_errors", "error_rate", "latency_p50", "latency_p90", "latency_mean", "images_per_s",
                    "peak_mem_mb", "peak_mem_reserved_mb", "peak_rss_mb", "load_time_s", "hole_fraction"}


def summarize_by_area(run: Any, by: Sequence[str] = CELL_KEYS, **kw: Any) -> pd.DataFrame:
    """``summarize`` per LaMa mask-area bin (rows labelled ``0-10%`` ... ``90-100%``; only bins with samples)."""
    return summarize(run, by=list(by) + ["area_bin"], **kw)


def dilation_sweeps(cells: pd.DataFrame) -> dict[str, tuple[str, int]]:
    """{mask label: (base label, k)} for the masks of a run that are ``dilate`` of one base strategy at two or more
    k (the base itself counts as k = 0 when the run has it). Masks in no such sweep are left out."""
    from bench.registry import MASKS

    if cells.empty or "spec" not in cells:
        return {}
    info: dict[str, tuple[str, int]] = {}
    canon_label: dict[str, str] = {}
    for _, c in cells.drop_duplicates("mask").iterrows():
        spec = (c["spec"] or {}).get("mask") if isinstance(c["spec"], dict) else None
        if not isinstance(spec, dict):
            continue
        try:
            m = MASKS.create(dict(spec), "mask")
        except Exception:  # noqa: BLE001 - a plug-in not installed here: not part of any sweep we can read
            continue
        key = json.dumps(m.spec(), sort_keys=True)
        canon_label.setdefault(key, c["mask"])
        if spec.get("type") == "dilate":
            info[c["mask"]] = (json.dumps(m.base, sort_keys=True), int(m.k))
        else:
            info[c["mask"]] = (key, 0)
    by_base: dict[str, set[int]] = {}
    for base, k in info.values():
        by_base.setdefault(base, set()).add(k)
    out = {}
    for label, (base, k) in info.items():
        if len(by_base[base]) >= 2:
            base_label = canon_label.get(base) or json.loads(base).get("type", "?")
            out[label] = (base_label, k)
    return out


def summarize_by_dilation(run: Any, **kw: Any) -> pd.DataFrame:
    """One row per backend × dataset × mask of the run's dilation sweeps, with ``dilate_base`` and ``dilate_k``
    (the robustness curve: each metric and failure rate against k); empty when the run has no sweep."""
    rd = load_run(run)
    sweeps = dilation_sweeps(rd.cells())
    df = summarize(rd, **kw)
    attrs = dict(df.attrs)
    if df.empty or not sweeps:
        out = df.iloc[0:0].copy()
    else:
        out = df[df["mask"].isin(list(sweeps))].copy()
        out.insert(2, "dilate_base", out["mask"].map(lambda m: sweeps[m][0]))
        out.insert(3, "dilate_k", out["mask"].map(lambda m: sweeps[m][1]))
        out = out.sort_values(["dataset", "dilate_base", "backend", "dilate_k"], kind="stable").reset_index(drop=True)
    out.attrs = {**attrs, "by": ["backend", "dataset", "dilate_base", "dilate_k"]}
    return out


def per_sample(run: Any) -> pd.DataFrame:
    """One row per (cell, sample): labels, the sample's one ``failure`` verdict, hole fraction, area bin, every
    metric, detector scores and flags, latency, error (what ``bench export --per-sample`` writes), then the
    run's ``comparable`` and ``noncomparable_reasons`` on every row, as ``summary.csv`` has them: values of a
    random-weight network must not leave the run unmarked."""
    rd = load_run(run)
    f = rd.frame().copy()
    mk = metric_keys(f, ColumnCatalog(rd.manifest.get("columns")))  # a detector's extra score is no metric
    dets = detector_names(f)
    det_cols = [c for d in dets for c in (f"{d}_score", f"{d}_flag") if c in f]
    # the detectors' other scores (incomplete_detail_score, replacement_real_score, ...) beside theirs
    det_cols += [c for c in f.columns if isinstance(c, str) and c.endswith("_score") and c not in det_cols + mk]
    first = ["cell_key", "backend", "dataset", "mask", "sample_id", verdict.COLUMN, "hole_fraction", "area_bin"]
    last = ["latency_ms", "batch_size", "error"]
    cols = [c for c in first if c in f] + mk + det_cols + [c for c in last if c in f]
    rest = [c for c in f.columns if c not in cols]
    out = f[cols + rest].copy()
    out["comparable"] = bool(rd.comparable)
    out["noncomparable_reasons"] = "; ".join(rd.noncomparable_reasons or [])
    return out


def iter_cells(df: pd.DataFrame, keys: Iterable[str] = ("dataset", "mask")):
    """Yield (key tuple, sub-frame) for a summary grouped by ``keys``, in first-seen order."""
    keys = list(keys)
    if df.empty:
        return
    for k, g in df.groupby(keys, sort=False):
        yield (k if isinstance(k, tuple) else (k,)), g
