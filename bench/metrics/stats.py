"""Set-level statistics: Fréchet distance, KID, IDS (the bootstraps live in :mod:`bench.stats`).

All pure functions on numpy arrays (no store, no torch).
"""
from __future__ import annotations

import math

import numpy as np

# the bootstraps have one copy, in bench.stats (numpy only); re-exported for the metrics room's callers
from ..stats import _order_stat_interval, bootstrap_ci, paired_bootstrap  # noqa: F401

# ---------------------------------------------------------------------------------------------------------------
# Fréchet distance and KID


def _cov_factor(x: np.ndarray) -> np.ndarray:
    """A factor F with cov(x) = F @ F.T (d x r), the cheaper of the centred data or the eigen-factor."""
    n, d = x.shape
    xc = x - x.mean(axis=0, keepdims=True)
    if n - 1 <= d:
        return xc.T / math.sqrt(n - 1)
    w, v = np.linalg.eigh(xc.T @ xc / (n - 1))
    return v * np.sqrt(np.clip(w, 0, None))


def trace_sqrt_product(f1: np.ndarray, f2: np.ndarray) -> float:
    """tr sqrt(S1 S2) for S1 = f1 f1^T, S2 = f2 f2^T: the singular values of f1^T f2 summed (nuclear norm).

    The non-zero eigenvalues of S1 S2 equal those of (f1^T f2)(f1^T f2)^T, i.e. the squared singular values of
    f1^T f2, so no matrix square root (scipy's sqrtm) is needed; SVD keeps the small ones accurate.
    """
    g = f1.T @ f2
    return float(np.linalg.svd(g, compute_uv=False).sum())


def frechet_distance_from_features(x: np.ndarray, y: np.ndarray) -> float:
    """FID between two feature sets ([n, d] each), float64, without sqrtm (sample covariance, ddof 1)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sets must be [n, d] with the same d, got {x.shape} and {y.shape}")
    if x.shape[0] < 2 or y.shape[0] < 2:
        return math.nan
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    f1, f2 = _cov_factor(x), _cov_factor(y)
    tr1 = float((f1 * f1).sum())
    tr2 = float((f2 * f2).sum())
    diff = mu1 - mu2
    return float(diff @ diff + tr1 + tr2 - 2 * trace_sqrt_product(f1, f2))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """FID from means and covariances, float64, through symmetric eigen-factors (no sqrtm)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)

    def factor(s: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh((s + s.T) / 2)
        return v * np.sqrt(np.clip(w, 0, None))

    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt_product(factor(s1), factor(s2)))


def kernel_inception_distance(feats1: np.ndarray, feats2: np.ndarray, num_subsets: int = 100,
                              max_subset_size: int = 1000, seed: int | None = 0) -> float:
    """clean-fid's KID: unbiased MMD^2 with the kernel (x.y / d + 1)^3, averaged over random subsets.

    Subsets are drawn like ``cleanfid.fid.kernel_distance`` (per subset: ``m`` rows of feats2, then of feats1,
    without replacement, m = min(n1, n2, max_subset_size)) from ``np.random.RandomState(seed)`` (``seed=None``:
    numpy's global state, as clean-fid). When m equals both set sizes every subset is the whole set and the value
    is computed once. Float64.
    """
    f1 = np.asarray(feats1, dtype=np.float64)
    f2 = np.asarray(feats2, dtype=np.float64)
    n1, n2 = f1.shape[0], f2.shape[0]
    d = f1.shape[1]
    m = min(n1, n2, max_subset_size)
    if m < 2:
        return math.nan

    def one(x: np.ndarray, y: np.ndarray) -> float:
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        return (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m

    if m == n1 == n2:
        return float(one(f2, f1) / m)
    rs = np.random.RandomState(seed) if seed is not None else np.random
    t = 0.0
    for _ in range(num_subsets):
        x = f2[rs.choice(n2, m, replace=False)]
        y = f1[rs.choice(n1, m, replace=False)]
        t += one(x, y)
    return float(t / num_subsets / m)


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
