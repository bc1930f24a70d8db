"""Which of the run's numbers agree with people: every per-sample metric and detector score against the judgements.

For one key, a comparison (two backends on one sample, one rater) where the rater preferred one side is *agreed*
when the key orders the two outputs the same way, in the key's declared direction: a metric's ``higher_is_better``
(the run's manifest columns), a detector score's ``direction`` ("above": a high score is a failure, so lower is
better). Comparisons a rater called a tie or both bad, and pairs the key cannot order (equal values, a value
missing, ∞ against ∞), are left out. Pairwise accuracy = agreed / used, 0.5 being chance. Kendall's τ-b compares the
key's backend ranking (its mean over the studied samples) with the human Bradley–Terry ranking. Both get 95 %
percentile bootstrap intervals over samples: one resample of samples feeds the accuracy, the key's means and the
Bradley–Terry refit, so the interval of τ carries the uncertainty of both rankings; a resample in which some backend
has no comparison gives no τ (:func:`bench.study.score.lacks_a_backend`, as for the ranking's intervals).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..seeding import rng_for
from .. import stats
from .score import ALPHA, N_BOOT, StudyScore, lacks_a_backend, outcomes, wins_matrix


def key_directions(rd, frame: pd.DataFrame) -> dict[str, tuple[str, bool | None]]:
    """{key: (kind, higher_is_better)} for every per-sample metric and detector score of the run (None: the key
    declares no direction)."""
    from ..report.aggregate import detector_names, metric_keys
    from ..report.columns import ColumnCatalog

    out: dict[str, tuple[str, bool | None]] = {}
    cat = ColumnCatalog(rd.manifest.get("columns"))
    for k in metric_keys(frame, cat):
        out[k] = ("metric", cat(k).higher_is_better)
    dets = rd.manifest.get("detectors") or {}
    names = sorted(set(detector_names(frame)) | set(dets if isinstance(dets, dict) else {}), key=len, reverse=True)
    for k in frame.columns:
        if not (isinstance(k, str) and k.endswith("_score")):
            continue
        # the detector that declares a direction, longest name first (blur_mosaic_score: blur_mosaic has no
        # provenance of its own, blur has)
        provs = [dets.get(d) for d in names if isinstance(dets, dict) and (k == f"{d}_score" or k.startswith(f"{d}_"))]
        direction = next((p["direction"] for p in provs if isinstance(p, dict) and p.get("direction")), None)
        out[k] = ("detector", {"above": False, "below": True}.get(str(direction)))
    return out


def metric_agreement(study: StudyScore, run: Any, n_boot: int = N_BOOT, alpha: float = ALPHA,
                     seed: int = 0) -> list[dict[str, Any]]:
    """One row per key: kind, direction, comparisons used, metric ties, accuracy with interval, τ with interval;
    best accuracy first (keys without a direction last, with no numbers)."""
    from ..store.run import load_run

    rd = load_run(run)
    frame = rd.frame()
    f = frame[(frame["dataset"] == study.dataset) & (frame["mask"] == study.mask)]
    if "error" in f:
        f = f[f["error"].isna()]
    comp = outcomes(study.judgements[study.judgements["rater"].isin(study.kept)])
    names = list(study.backends)
    sids = sorted(comp["sample_id"].unique())
    spos = {s: i for i, s in enumerate(sids)}
    bpos = {b: i for i, b in enumerate(names)}
    decided = comp[comp["y"] != 0.5]
    per_wins = np.stack([wins_matrix(comp[comp["sample_id"] == s], names) for s in sids])
    dirs = key_directions(rd, f)
    rows: list[dict[str, Any]] = []
    keys = []
    acc_a, acc_u, means = [], [], []
    for k, (kind, hib) in dirs.items():
        row = {"key": k, "kind": kind, "higher_is_better": hib}
        if hib is None:
            rows.append({**row, "n": 0, "metric_ties": 0, "accuracy": math.nan, "lo": math.nan, "hi": math.nan,
                         "tau": math.nan, "tau_lo": math.nan, "tau_hi": math.nan})
            continue
        v = np.full((len(sids), len(names)), np.nan)
        sub = f[f["sample_id"].isin(spos) & f["backend"].isin(bpos)]
        vals = pd.to_numeric(sub[k], errors="coerce").to_numpy(dtype=float)
        v[sub["sample_id"].map(spos).to_numpy(), sub["backend"].map(bpos).to_numpy()] = vals
        sign = 1.0 if hib else -1.0
        # (integer positions even when nothing was decided: an empty map is of floats, no index)
        si = decided["sample_id"].map(spos).to_numpy(dtype=int)
        with np.errstate(invalid="ignore"):
            d = sign * (v[si, decided["a"].map(bpos).to_numpy(dtype=int)]
                        - v[si, decided["b"].map(bpos).to_numpy(dtype=int)])
        usable = ~np.isnan(d) & (d != 0)
        agree = usable & ((d > 0) == (decided["y"].to_numpy() == 1.0))
        a_s = np.bincount(si[agree], minlength=len(sids)).astype(float)
        u_s = np.bincount(si[usable], minlength=len(sids)).astype(float)
        keys.append(len(rows))
        acc_a.append(a_s)
        acc_u.append(u_s)
        means.append(sign * np.where(np.isfinite(v), v, np.nan))
        rows.append({**row, "n": int(usable.sum()), "metric_ties": int((~usable).sum()),
                     "accuracy": float(a_s.sum() / u_s.sum()) if u_s.sum() else math.nan})
    if keys:
        A, U, M = np.stack(acc_a), np.stack(acc_u), np.stack(means)  # [K, S], [K, S], [K, S, B]

        def taus(m: np.ndarray, theta: np.ndarray) -> np.ndarray:
            fin = np.isfinite(M)
            w = m[None, :, None] * fin
            with np.errstate(invalid="ignore", divide="ignore"):
                mu = (np.where(fin, M, 0.0) * w).sum(axis=1) / w.sum(axis=1)  # [K, B]
            return np.array([stats.kendall_tau_b(mu[i], theta) for i in range(len(keys))])

        ones = np.ones(len(sids))
        theta = stats.bradley_terry(per_wins.sum(axis=0))
        tau = taus(ones, theta)
        rng = rng_for("study-agreement", seed)
        acc_r = np.full((n_boot, len(keys)), np.nan)
        tau_r = np.full((n_boot, len(keys)), np.nan)
        for r in range(n_boot):
            m = np.bincount(rng.integers(0, len(sids), len(sids)), minlength=len(sids)).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                acc_r[r] = (A @ m) / (U @ m)
            w = (per_wins * m[:, None, None]).sum(axis=0)
            if lacks_a_backend(w):  # no τ from it: it would rank fewer backends (as the ranking's resamples fail)
                continue
            try:
                th = stats.bradley_terry(w, init=theta)
            except stats.NotConnected:
                continue
            tau_r[r] = taus(m, th)
        lo, hi = stats.percentile_interval(acc_r, alpha)
        tlo, thi = stats.percentile_interval(tau_r, alpha)
        for j, i in enumerate(keys):
            rows[i].update(lo=float(lo[j]), hi=float(hi[j]), tau=float(tau[j]), tau_lo=float(tlo[j]),
                           tau_hi=float(thi[j]))
    rows.sort(key=lambda r: (r["higher_is_better"] is None, -(r["accuracy"] if r["accuracy"] == r["accuracy"]
                                                              else -1.0), r["key"]))
    return rows
