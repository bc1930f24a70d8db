"""The statistics of a pairwise user study, as pure numpy functions (no store, no files).

- :func:`bradley_terry`: strengths from a matrix of wins, **ties counted as half a win for each side** (not
  Davidson's tie model), fitted by Hunter's (2004) minorisation–maximisation iteration, with an optional prior of
  virtual ties on every compared pair (``prior`` wins each way) so that a backend that won every trial still gets a
  finite strength.
- :func:`wilson_interval`: the Wilson score interval of a binomial proportion.
- :func:`fleiss_kappa`: Fleiss' κ of items rated by the same number of raters.
- :func:`kendall_tau_b`: Kendall's τ-b between two rankings (ties in either handled as τ-b does).
- :func:`percentile_interval`: the percentile interval of bootstrap replicates (NaN replicates left out).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: one virtual tie per compared pair (half a win each way): the default prior of the reported fits
DEFAULT_PRIOR = 0.5


class NotConnected(ValueError):
    """The comparisons do not connect every item (no common scale exists)."""


def _components(adj: np.ndarray) -> list[list[int]]:
    n = adj.shape[0]
    seen = [False] * n
    out = []
    for s in range(n):
        if seen[s]:
            continue
        stack, comp = [s], []
        seen[s] = True
        while stack:
            i = stack.pop()
            comp.append(i)
            for j in np.flatnonzero(adj[i]):
                if not seen[j]:
                    seen[j] = True
                    stack.append(int(j))
        out.append(sorted(comp))
    return out


def bradley_terry(wins: np.ndarray, prior: float = DEFAULT_PRIOR, tol: float = 1e-10,
                  max_iter: int = 100_000, init: np.ndarray | None = None) -> np.ndarray:
    """Log-strengths θ (mean 0 over the items that were compared; NaN for an item never compared) of the
    Bradley–Terry model P(i beats j) = 1 / (1 + exp(θ_j − θ_i)).

    ``wins[i, j]``: how often i was preferred to j, ties already added as 0.5 to both ``wins[i, j]`` and
    ``wins[j, i]``. ``prior`` adds that many virtual wins each way to every pair compared at least once. On two
    items the maximum-likelihood answer is θ_0 − θ_1 = log((w_01 + prior) / (w_10 + prior)).

    Without a prior the maximum exists only when every item both beat and lost to the rest through some chain
    (the directed graph of wins is strongly connected); otherwise (or when the comparisons do not connect the
    items at all) :class:`NotConnected` is raised. ``init``: starting log-strengths (a bootstrap starts from the
    full data's fit; the maximum is unique, so only the number of iterations changes).
    """
    w = np.array(wins, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"wins must be a square matrix, got shape {w.shape}")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("wins must be finite and non-negative")
    np.fill_diagonal(w, 0.0)
    n_ij = w + w.T
    used = n_ij.sum(axis=1) > 0
    theta = np.full(w.shape[0], np.nan)
    idx = np.flatnonzero(used)
    if idx.size == 0:
        return theta
    w, n_ij = w[np.ix_(idx, idx)], n_ij[np.ix_(idx, idx)]
    comps = _components(n_ij > 0)
    if len(comps) > 1:
        raise NotConnected(f"the comparisons form {len(comps)} groups that are never compared with each other "
                           f"(items {[[int(idx[i]) for i in c] for c in comps]})")
    if prior > 0:
        w = w + prior * (n_ij > 0)
        n_ij = w + w.T
    elif idx.size > 1:
        reach = np.linalg.matrix_power(((w > 0) | np.eye(idx.size, dtype=bool)).astype(np.float64), idx.size)
        if not (reach > 0).all():  # the directed graph of wins is not strongly connected
            raise NotConnected("an item won (or lost) every comparison with the rest: the maximum-likelihood "
                               "strengths are infinite; fit with prior > 0")
    total = w.sum(axis=1)
    start = None if init is None else np.asarray(init, dtype=np.float64)[idx]
    t = np.zeros(idx.size) if start is None or not np.isfinite(start).all() else start - start.mean()
    p = np.exp(t)
    for _ in range(max_iter):
        new = total / (n_ij / (p[:, None] + p[None, :])).sum(axis=1)
        t_new = np.log(new)
        t_new -= t_new.mean()
        done = np.abs(t_new - t).max() < tol
        t, p = t_new, np.exp(t_new)
        if done:
            break
    theta[idx] = t - t.mean()
    return theta


def win_rates(wins: np.ndarray) -> np.ndarray:
    """``wins[i, j] / (wins[i, j] + wins[j, i])`` (NaN where a pair was never compared, and on the diagonal)."""
    w = np.asarray(wins, dtype=np.float64)
    n = w + w.T
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(n > 0, w / n, np.nan)
    np.fill_diagonal(r, np.nan)
    return r


def wilson_interval(k: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """The Wilson score interval of the proportion k / n (NaN, NaN when n is 0)."""
    if n <= 0:
        return math.nan, math.nan
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' κ from ``counts[item, category]`` = how many raters put the item in that category; every item must
    have the same number of ratings (at least 2). NaN when chance agreement is 1 (every rating in one category)."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] == 0:
        return math.nan
    m = c.sum(axis=1)
    if not np.all(m == m[0]) or m[0] < 2:
        raise ValueError("fleiss_kappa: every item needs the same number (>= 2) of ratings")
    n = m[0]
    p_i = ((c * c).sum(axis=1) - n) / (n * (n - 1))
    p_bar = p_i.mean()
    p_j = c.sum(axis=0) / c.sum()
    p_e = float((p_j ** 2).sum())
    if p_e >= 1.0:
        return math.nan
    return float((p_bar - p_e) / (1 - p_e))


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's τ-b of two score vectors over the same items (NaN pairs dropped; NaN with fewer than 2 items or
    when either side is constant)."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    if a.size < 2:
        return math.nan
    i, j = np.triu_indices(a.size, 1)
    sa, sb = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    n0 = i.size
    n1, n2 = int((sa == 0).sum()), int((sb == 0).sum())
    if n1 == n0 or n2 == n0:
        return math.nan
    return float((sa * sb).sum() / math.sqrt((n0 - n1) * (n0 - n2)))


def percentile_interval(reps: np.ndarray, alpha: float = 0.05, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) percentile interval of bootstrap replicates along ``axis`` (NaN replicates left out)."""
    r = np.asarray(reps, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanquantile(r, alpha / 2, axis=axis)
            hi = np.nanquantile(r, 1 - alpha / 2, axis=axis)
    return lo, hi
