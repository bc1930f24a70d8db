"""Set-level metrics of a cell from its stored per-sample features: FID, KID, FID/KID on hole crops, P-IDS, U-IDS.

Feature names follow :class:`bench.metrics.fid.InceptionFeatures`: ``feat_<key>`` (outputs) and ``feat_<key>_ref``
(the same samples' ground truth), plus ``_crop`` variants. The default key ``inception`` gives the plain metric
names (``fid``, ``kid``, ``fid_crop``, ``kid_crop``, ``p_ids``, ``u_ids``); another key ``k`` suffixes them
(``fid_k``...). Rows with non-finite values (no ground truth, empty hole) are left out; P-IDS/U-IDS use the samples
that have both an output and a reference feature (paired by sample id).

Named reference dataset: when the metric's provenance (``manifest["metrics"][label]``, matched by its
``feature_keys``) has a ``reference_set``, full-image ``fid`` / ``kid`` compare the outputs with that set's features,
read from ``<run folder>/<reference_set.file>`` (an ``.npy`` written once by the metric's ``setup``; its SHA-256 is
checked). ``fid_crop`` / ``kid_crop`` and ``p_ids`` / ``u_ids`` keep the per-sample ground truth (they need hole
crops / pairs).
"""
from __future__ import annotations

import math
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .base import Column
from ..stats import _order_stat_interval, frechet_distance_from_features, kernel_inception_distance

_REF = re.compile(r"^feat_(?P<key>[A-Za-z_][A-Za-z0-9_]*?)_ref(?P<crop>_crop)?$")

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000

#: below this many samples a set-level number is marked "small n: not comparable with papers": FID's bias at small
#: n is large (papers use 2,000 to 36,500 images), and a linear SVM on 2048-d features separates a few thousand
#: samples perfectly (P-IDS / U-IDS are then meaningless)
MIN_N = {"fid": 2000, "kid": 2000, "p_ids": 5000, "u_ids": 5000}



def inception_discriminative_scores(real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    """(P-IDS, U-IDS) as CoModGAN / MAT: a linear SVM (sklearn ``LinearSVC(dual=False)``) separates real (1) from
    fake (0) features; U-IDS = its misclassification rate on the training data, P-IDS = the share of pairs where
    the fake's decision value exceeds its real counterpart's (rows of ``real`` and ``fake`` are paired)."""
    from sklearn.svm import LinearSVC

    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    if real.shape != fake.shape:
        raise ValueError(f"P-IDS needs paired features of one shape, got {real.shape} and {fake.shape}")
    if real.shape[0] < 2:
        return math.nan, math.nan
    svm = LinearSVC(dual=False)
    x = np.concatenate([real, fake])
    y = np.array([1] * real.shape[0] + [0] * fake.shape[0])
    svm.fit(x, y)
    u_ids = 1 - svm.score(x, y)
    p_ids = float(np.mean(svm.decision_function(fake) > svm.decision_function(real)))
    return p_ids, float(u_ids)

def min_n(key: str) -> int | None:
    """The documented minimum n of a set-level key (fid_crop, fid_raw... by their stem); None for other keys."""
    for stem, n in MIN_N.items():
        if key == stem or key.startswith(stem + "_"):
            return n
    return None


def set_level_columns() -> dict[str, Column]:
    """How the set-level keys read (for the default feature key ``inception``, and ``inception_raw``)."""
    base = {
        "fid": Column(False, ".2f", True, "FID, full images vs the reference set (the same samples' ground truth, "
                                           "or the fid metric's named reference dataset)"),
        "kid": Column(False, ".4f", True, "KID (clean-fid: cubic polynomial kernel, unbiased MMD, subsets)"),
        "fid_crop": Column(False, ".2f", True, "FID on hole crops (local FID)"),
        "kid_crop": Column(False, ".4f", True, "KID on hole crops"),
        "p_ids": Column(True, ".4f", False, "paired Inception discriminative score (linear SVM)"),
        "u_ids": Column(True, ".4f", False, "unpaired Inception discriminative score (linear SVM error rate)"),
    }
    return {**{k: Column(c.higher_is_better, c.fmt, c.interval, c.doc + ", on composites", "setlevel")
               for k, c in base.items()},
            **{f"{k}_raw": Column(c.higher_is_better, c.fmt, c.interval, c.doc + ", on raw outputs", "setlevel")
               for k, c in base.items()}}


def _suffix(key: str) -> str:
    """``inception`` -> "" (fid, kid...); ``inception_raw`` -> "_raw" (fid_raw...); another key k -> "_k"."""
    if key == "inception":
        return ""
    return key[len("inception"):] if key.startswith("inception_") else f"_{key}"


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


def set_level_names(crop: bool, suffix: str = "", ids: bool = True) -> list[str]:
    """The keys of one feature set's set-level metrics (what :func:`metrics_from_features` gives): ``fid``,
    ``kid`` (``_crop`` on hole crops) and on full images ``p_ids``, ``u_ids``, each with ``suffix``."""
    tag = "_crop" if crop else ""
    return [f"fid{tag}{suffix}", f"kid{tag}{suffix}"] + ([f"p_ids{suffix}", f"u_ids{suffix}"] if ids and not crop
                                                         else [])


def set_level_keys(store, cell_key: str) -> list[str]:
    """The keys :func:`set_level_metrics` gives the cell from the features it stored, without computing them."""
    return [k for key, crop in sorted(feature_sets(store, cell_key)) for k in set_level_names(crop, _suffix(key))]


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
                          suffix: str = "", ids: bool = True, kid_seed: int = 0,
                          ref_set: np.ndarray | None = None) -> dict[str, float]:
    """FID and KID (and on full images P-IDS / U-IDS) from aligned feature rows.

    ``ref_set``: a named reference set's features [N, D]: FID / KID compare the outputs with it instead of with
    ``ref`` (P-IDS / U-IDS still pair ``out`` with ``ref``)."""
    o = out[out_ok]
    r = ref[ref_ok] if ref_set is None else ref_set
    fid, kid, *ids_keys = set_level_names(crop, suffix, ids)
    res = {
        fid: frechet_distance_from_features(o, r) if len(o) >= 2 and len(r) >= 2 else math.nan,
        kid: (kernel_inception_distance(o, r, KID_SUBSETS, KID_SUBSET_SIZE, seed=kid_seed)
              if len(o) >= 2 and len(r) >= 2 else math.nan),
    }
    if ids_keys:
        both = out_ok & ref_ok
        if both.sum() >= 2:
            p, u = inception_discriminative_scores(ref[both], out[both])
        else:
            p, u = math.nan, math.nan
        res[ids_keys[0]], res[ids_keys[1]] = p, u
    return res


# -- named reference sets ---------------------------------------------------------------------------------------
_REFSETS: dict[tuple[str, str], np.ndarray] = {}  # (resolved path, sha256) -> features, per process
_REFSETS_LOCK = threading.Lock()


def reference_sets(manifest: dict | None) -> dict[str, dict[str, Any]]:
    """{feature key: reference_set provenance} of the fid metrics that name a reference dataset."""
    out: dict[str, dict[str, Any]] = {}
    for prov in ((manifest or {}).get("metrics") or {}).values():
        if not isinstance(prov, dict) or not isinstance(prov.get("reference_set"), dict):
            continue
        name = (prov.get("feature_keys") or {}).get("out", "")
        if name.startswith("feat_"):
            out[name[len("feat_"):]] = prov["reference_set"]
    return out


def _candidate_dirs(store, manifest: dict | None) -> list[Path]:
    dirs: list[Path] = []
    sp = str(getattr(store, "path", ":memory:"))
    if sp != ":memory:":
        d = Path(sp).parent
        dirs.append(d)
        if d.parent.name == "shards":  # a shard's own store: the run folder is two levels up
            dirs.append(d.parent.parent)
    for d in (manifest or {}).get("merged_from") or []:
        dirs.append(Path(d))
        if Path(d).parent.name == "shards":
            dirs.append(Path(d).parent.parent)
    return dirs


def load_reference_set(info: dict[str, Any], store=None, manifest: dict | None = None) -> np.ndarray:
    """The named reference set's features [N, D] (float64): ``info["file"]`` in the run folder (the store's
    folder, a merged run's folders), else ``info["path"]`` where it was written; the SHA-256 must match."""
    from .fid import features_sha256

    digest = info.get("features_sha256")
    rel = info.get("file")
    tried: list[str] = []
    paths = [d / rel for d in _candidate_dirs(store, manifest)] if rel else []
    if info.get("path"):
        paths.append(Path(info["path"]))
    for p in paths:
        tried.append(str(p))
        if not p.is_file():
            continue
        k = (str(p.resolve()), str(digest))
        with _REFSETS_LOCK:
            if k in _REFSETS:
                return _REFSETS[k]
        arr = np.load(p, allow_pickle=False)
        if features_sha256(arr) != digest:
            raise ValueError(f"{p}: reference features do not match the run's hash {digest} (file changed)")
        arr64 = arr.astype(np.float64)
        with _REFSETS_LOCK:
            _REFSETS[k] = arr64
        return arr64
    raise FileNotFoundError(f"reference features of '{(info.get('spec') or {}).get('type')}' not found "
                            f"(looked at: {', '.join(tried) or 'nothing recorded'}); copy {rel} into the run folder")


def _refsets_for(store, manifest: dict | None) -> dict[str, np.ndarray]:
    """Reference sets by feature key; one that cannot be read gives NaN fid / kid (with a warning), never the
    ground-truth numbers under the named set's name."""
    import warnings

    out: dict[str, np.ndarray] = {}
    for key, info in reference_sets(manifest).items():
        try:
            out[key] = load_reference_set(info, store, manifest)
        except (OSError, ValueError) as e:
            warnings.warn(f"fid/kid against the named reference set: {e}", stacklevel=3)
            out[key] = np.zeros((0, 0))
    return out


def set_level_metrics(store, cell_key: str, manifest: dict | None = None, sample_ids=None) -> dict[str, float]:
    """fid / kid / fid_crop / kid_crop / p_ids / u_ids of one cell from its stored features ({} when none).

    ``sample_ids`` restricts the set (e.g. one mask-area bin; a named reference set stays whole); ``manifest``
    (the run's) says which fid metrics name a reference dataset (their full-image fid / kid use it)."""
    res: dict[str, float] = {}
    sets = feature_sets(store, cell_key)
    refs = _refsets_for(store, manifest) if sets else {}
    for (key, crop), (on, rn) in sorted(sets.items()):
        _, o, r, ok_o, ok_r = paired_features(store, cell_key, on, rn, sample_ids)
        res.update(metrics_from_features(o, r, ok_o, ok_r, crop, _suffix(key),
                                         ref_set=None if crop else refs.get(key)))
    return res


def _recentred_interval(boots: np.ndarray, value: float, alpha: float,
                        floor: float | None = None) -> tuple[float, float]:
    """The resamples' percentile interval (order statistics) moved by ``value - median(resamples)``; a distance
    (FID) is not reported below ``floor``. NaN bounds when the value or too few resamples are finite."""
    finite = boots[np.isfinite(boots)]
    if not np.isfinite(value) or len(finite) < 2:
        return math.nan, math.nan
    lo, hi = _order_stat_interval(finite, alpha)
    shift = value - float(np.median(finite))
    lo, hi = lo + shift, hi + shift
    if floor is not None:
        lo = max(lo, floor)
    return float(lo), float(hi)


def set_level_bootstrap(store, cell_key: str, manifest: dict | None = None, n_boot: int = 200,
                        alpha: float = 0.05, seed: int = 0, sample_ids=None) -> dict[str, tuple[float, float, float]]:
    """{key: (value, lo, hi)} for fid / kid / fid_crop / kid_crop: bootstrap over samples, the percentile interval
    of the resamples moved so that their median falls on the value (:func:`_recentred_interval`).

    Each resample draws sample ids with replacement and takes both their output and reference features (the
    pairing is kept); against a named reference set only the outputs are resampled (the reference stays fixed).
    P-IDS / U-IDS get no interval (an SVM fit per resample); their value is returned with NaN bounds.

    Why moved: a resample repeats about a third of its rows, which raises FID (fewer distinct samples, more small-n
    bias) and KID (its unbiased estimator takes a repeated row's k(x, x) for a pair of distinct samples) in every
    resample by about the same amount. The plain percentile interval then lay wholly above the value it was meant
    to bracket (an audit: for two sets from one distribution, KID's interval missed the true 0 in 56 of 60 trials
    and its own value in 59). The spread of the resamples is the sampling spread at this n; their shift is an
    artefact of resampling and is taken out. The interval is that of the metric *at this number of samples* (FID's
    own small-n bias stays in the value, as in every paper's figure).
    """
    rng = np.random.default_rng(seed)
    res: dict[str, tuple[float, float, float]] = {}
    sets = feature_sets(store, cell_key)
    refs = _refsets_for(store, manifest) if sets else {}
    for (key, crop), (on, rn) in sorted(sets.items()):
        _, o, r, ok_o, ok_r = paired_features(store, cell_key, on, rn, sample_ids)
        rs = None if crop else refs.get(key)
        point = metrics_from_features(o, r, ok_o, ok_r, crop, _suffix(key), ref_set=rs)
        n = len(o)
        boots: dict[str, list[float]] = {k: [] for k in point if k.startswith(("fid", "kid"))}
        for _ in range(n_boot if n >= 2 else 0):
            idx = rng.integers(0, n, size=n)
            b = metrics_from_features(o[idx], r[idx], ok_o[idx], ok_r[idx], crop, _suffix(key), ids=False,
                                      ref_set=rs)
            for k in boots:
                boots[k].append(b[k])
        for k, v in point.items():
            if k in boots and boots[k]:
                res[k] = (v, *_recentred_interval(np.asarray(boots[k], dtype=np.float64), v, alpha,
                                                  floor=0.0 if k.startswith("fid") else None))
            else:
                res[k] = (v, math.nan, math.nan)
    return res


def describe(manifest: dict | None) -> dict[str, Any]:
    """Provenance of set-level numbers (for reports): KID settings and the estimator choices."""
    return {"fid": "float64, sample covariance (ddof 1), trace sqrt via SVD of covariance factors (no sqrtm)",
            "kid": {"kernel": "(x.y/d + 1)^3", "num_subsets": KID_SUBSETS, "max_subset_size": KID_SUBSET_SIZE,
                    "subset_rng": "numpy RandomState(0)"},
            "ids": "sklearn LinearSVC(dual=False), real=1 fake=0, paired by sample id",
            "reference": {"fid, kid": "the fid metric's named reference dataset when it has one (reference_set), "
                                      "else the same samples' ground truth",
                          "fid_crop, kid_crop, p_ids, u_ids": "the same samples' ground truth"},
            "reference_sets": reference_sets(manifest)}
