"""Set-level metrics of a cell from its stored per-sample features: FID, KID, FID/KID on hole crops, P-IDS, U-IDS.

Feature names follow :class:`bench.metrics.fid.InceptionFeatures`: ``feat_<key>`` (outputs) and ``feat_<key>_ref``
(the same samples' ground truth), plus ``_crop`` variants. The default key ``inception`` gives the plain metric
names (``fid``, ``kid``, ``fid_crop``, ``kid_crop``, ``p_ids``, ``u_ids``); another key ``k`` suffixes them
(``fid_k``...). Rows with non-finite values (no ground truth, empty hole) are left out; P-IDS/U-IDS use the samples
that have both an output and a reference feature (paired by sample id).
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from .base import Column
from .stats import frechet_distance_from_features, inception_discriminative_scores, kernel_inception_distance

_REF = re.compile(r"^feat_(?P<key>[A-Za-z_][A-Za-z0-9_]*?)_ref(?P<crop>_crop)?$")

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def set_level_columns() -> dict[str, Column]:
    """How the set-level keys read (for the default feature key ``inception``)."""
    return {
        "fid": Column(False, ".2f", True, "FID, full images vs the same samples' ground truth"),
        "kid": Column(False, ".4f", True, "KID (clean-fid: cubic polynomial kernel, unbiased MMD, subsets)"),
        "fid_crop": Column(False, ".2f", True, "FID on hole crops (local FID)"),
        "kid_crop": Column(False, ".4f", True, "KID on hole crops"),
        "p_ids": Column(True, ".4f", False, "paired Inception discriminative score (linear SVM)"),
        "u_ids": Column(True, ".4f", False, "unpaired Inception discriminative score (linear SVM error rate)"),
    }


def _suffix(key: str) -> str:
    return "" if key == "inception" else f"_{key}"


def feature_sets(store, cell_key: str) -> dict[tuple[str, bool], tuple[str, str]]:
    """{(key, crop): (output feature name, reference feature name)} present for the cell."""
    names = set(store.feature_names(cell_key))
    out = {}
    for n in names:
        m = _REF.match(n)
        if not m:
            continue
        key, crop = m.group("key"), bool(m.group("crop"))
        out_name = f"feat_{key}_crop" if crop else f"feat_{key}"
        if out_name in names:
            out[(key, crop)] = (out_name, n)
    return out


def paired_features(store, cell_key: str, out_name: str, ref_name: str, sample_ids=None):
    """(ids, out [n, d], ref [n, d], out_ok [n], ref_ok [n]): aligned by sample id, float64.

    ``sample_ids``: keep only these samples (a mask-area bin, a shard); None = all."""
    ids_o, fo = store.features(cell_key, out_name)
    ids_r, fr = store.features(cell_key, ref_name)
    if sample_ids is not None:
        keep = set(sample_ids)
        so = [i for i, s in enumerate(ids_o) if s in keep]
        sr = [i for i, s in enumerate(ids_r) if s in keep]
        ids_o, fo = [ids_o[i] for i in so], (fo[so] if fo.size else fo)
        ids_r, fr = [ids_r[i] for i in sr], (fr[sr] if fr.size else fr)
    ids = sorted(set(ids_o) | set(ids_r))
    if not ids:
        z = np.zeros((0, 0))
        return [], z, z, np.zeros(0, bool), np.zeros(0, bool)
    d = fo.shape[1] if fo.size else fr.shape[1]
    pos = {s: i for i, s in enumerate(ids)}
    o = np.full((len(ids), d), np.nan)
    r = np.full((len(ids), d), np.nan)
    if fo.size:
        o[[pos[s] for s in ids_o]] = fo
    if fr.size:
        r[[pos[s] for s in ids_r]] = fr
    return ids, o, r, np.isfinite(o).all(axis=1), np.isfinite(r).all(axis=1)


def metrics_from_features(out: np.ndarray, ref: np.ndarray, out_ok: np.ndarray, ref_ok: np.ndarray, crop: bool,
                          suffix: str = "", ids: bool = True, kid_seed: int = 0) -> dict[str, float]:
    """FID and KID (and on full images P-IDS / U-IDS) from aligned feature rows."""
    o, r = out[out_ok], ref[ref_ok]
    tag = "_crop" if crop else ""
    res = {
        f"fid{tag}{suffix}": frechet_distance_from_features(o, r) if len(o) >= 2 and len(r) >= 2 else math.nan,
        f"kid{tag}{suffix}": (kernel_inception_distance(o, r, KID_SUBSETS, KID_SUBSET_SIZE, seed=kid_seed)
                              if len(o) >= 2 and len(r) >= 2 else math.nan),
    }
    if not crop and ids:
        both = out_ok & ref_ok
        if both.sum() >= 2:
            p, u = inception_discriminative_scores(ref[both], out[both])
        else:
            p, u = math.nan, math.nan
        res[f"p_ids{suffix}"], res[f"u_ids{suffix}"] = p, u
    return res


def set_level_metrics(store, cell_key: str, manifest: dict | None = None, sample_ids=None) -> dict[str, float]:
    """fid / kid / fid_crop / kid_crop / p_ids / u_ids of one cell from its stored features ({} when none).

    ``sample_ids`` restricts the set (e.g. one mask-area bin); ``manifest`` is accepted for future settings."""
    res: dict[str, float] = {}
    for (key, crop), (on, rn) in sorted(feature_sets(store, cell_key).items()):
        _, o, r, ok_o, ok_r = paired_features(store, cell_key, on, rn, sample_ids)
        res.update(metrics_from_features(o, r, ok_o, ok_r, crop, _suffix(key)))
    return res


def set_level_bootstrap(store, cell_key: str, manifest: dict | None = None, n_boot: int = 200,
                        alpha: float = 0.05, seed: int = 0, sample_ids=None) -> dict[str, tuple[float, float, float]]:
    """{key: (value, lo, hi)} for fid / kid / fid_crop / kid_crop: percentile bootstrap over samples.

    Each resample draws sample ids with replacement and takes both their output and reference features (the
    pairing is kept). P-IDS / U-IDS get no interval (an SVM fit per resample); their value is returned with NaN
    bounds. Note: KID's unbiased estimator treats a duplicated row as a distinct sample, so its intervals are a
    little wide; FID's are the usual bootstrap ones.
    """
    from .stats import _order_stat_interval

    rng = np.random.default_rng(seed)
    res: dict[str, tuple[float, float, float]] = {}
    for (key, crop), (on, rn) in sorted(feature_sets(store, cell_key).items()):
        _, o, r, ok_o, ok_r = paired_features(store, cell_key, on, rn, sample_ids)
        point = metrics_from_features(o, r, ok_o, ok_r, crop, _suffix(key))
        n = len(o)
        boots: dict[str, list[float]] = {k: [] for k in point if k.startswith(("fid", "kid"))}
        for _ in range(n_boot if n >= 2 else 0):
            idx = rng.integers(0, n, size=n)
            b = metrics_from_features(o[idx], r[idx], ok_o[idx], ok_r[idx], crop, _suffix(key), ids=False)
            for k in boots:
                boots[k].append(b[k])
        for k, v in point.items():
            if k in boots and boots[k]:
                lo, hi = _order_stat_interval(np.asarray(boots[k]), alpha)
                res[k] = (v, lo, hi)
            else:
                res[k] = (v, math.nan, math.nan)
    return res


def describe(manifest: dict | None) -> dict[str, Any]:
    """Provenance of set-level numbers (for reports): KID settings and the estimator choices."""
    return {"fid": "float64, sample covariance (ddof 1), trace sqrt via SVD of covariance factors (no sqrtm)",
            "kid": {"kernel": "(x.y/d + 1)^3", "num_subsets": KID_SUBSETS, "max_subset_size": KID_SUBSET_SIZE,
                    "subset_rng": "numpy RandomState(0)"},
            "ids": "sklearn LinearSVC(dual=False), real=1 fake=0, paired by sample id"}
