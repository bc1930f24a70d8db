"""Bootstraps, one copy each: the interval of a mean, and the paired test that ``bench compare`` and ``bench report
--compare`` both use (so they cannot disagree on the same pair), with Holm's correction.

numpy and the standard library only, no import from the rest of ``bench`` (a report never loads torch for these).

Non-finite values: NaN is an absent value and is dropped. ``+inf`` is a real value (the PSNR of a region kept
exactly). :func:`bootstrap_ci` keeps it (a mean containing one is ``+inf``); :func:`paired_bootstrap` tests the
finite pairs and *counts* the pairs whose difference is infinite (one side ``inf``, the other finite) instead of
letting one such pair make the mean difference infinite and the p-value undefined.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

#: resamples of the paired test (both commands use this default; the p-value barely depends on it, see below)
N_BOOT_PAIRED = 2000


# ---------------------------------------------------------------------------------------------------------------
# bootstrap of a mean


def _order_stat_interval(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    """Percentile interval by order statistics (no interpolation, so +inf values stay +inf, never NaN)."""
    s = np.sort(samples)
    s = s[~np.isnan(s)]
    if s.size == 0:
        return math.nan, math.nan
    n = s.size
    lo = s[min(n - 1, max(0, int(math.floor(alpha / 2 * n))))]
    hi = s[min(n - 1, max(0, int(math.ceil((1 - alpha / 2) * n)) - 1))]
    return float(lo), float(hi)


def _boot_means(v: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    n = v.size
    out = np.empty(n_boot, dtype=np.float64)
    step = max(1, 4_000_000 // max(1, n))  # bounded memory
    with np.errstate(invalid="ignore"):
        for s in range(0, n_boot, step):
            k = min(step, n_boot - s)
            idx = rng.integers(0, n, size=(k, n))
            out[s:s + k] = v[idx].mean(axis=1)
    return out


def bootstrap_ci(values: Any, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of the finite-or-infinite values and its percentile bootstrap interval.

    NaN values are absent and dropped. +inf values (a PSNR of an untouched region) are kept: a resample that draws
    one has mean +inf, so the mean and the upper bound read inf whenever any value is inf and the lower bound is
    inf only when most resamples contain one. Empty input -> (nan, nan, nan); one value -> (v, v, v).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    with np.errstate(invalid="ignore"):
        mean = float(v.mean())
    if v.size == 1 or np.all(v == v[0]):
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    lo, hi = _order_stat_interval(_boot_means(v, n_boot, rng), alpha)
    return mean, lo, hi


# ---------------------------------------------------------------------------------------------------------------
# Student's t (two-sided tail), without scipy


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz), converges for x < (a+1)/(a+b+2)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc_regularized(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(ln_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln_front) * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2)."""
    if math.isnan(t) or not df > 0:
        return math.nan
    if math.isinf(t):
        return 0.0
    return min(1.0, betainc_regularized(df / 2.0, 0.5, df / (df + t * t)))


# ---------------------------------------------------------------------------------------------------------------
# the paired test


def paired_bootstrap(a: Any, b: Any, n_boot: int = N_BOOT_PAIRED, alpha: float = 0.05,
                     seed: int = 0) -> dict[str, Any]:
    """Paired bootstrap of mean(a - b) over the samples where both are present (same sample order in a and b).

    The one paired test of the project (``bench compare`` calls it with a = NEW, b = BASE; ``bench report --compare
    A B`` with a = B, b = A). Returns:

    * ``n``: finite pairs tested; ``mean_diff``: their mean difference; ``lo``, ``hi``: its percentile bootstrap
      interval (``n_boot`` resamples, seeded; order statistics);
    * ``p_value``: two-sided, from the bootstrap standard error (times sqrt(n / (n - 1)), the bootstrap's bias at
      small n) against Student's t with n - 1 degrees of freedom. Unlike counting resamples, its resolution does
      not depend on ``n_boot`` (a Holm step over many keys needs small p-values), and it agrees with the paired
      t-test; exact 0 / 1 when every difference is the same (0 when that difference is not zero);
    * ``effect_size``: mean difference / standard deviation of the differences (Cohen's d_z), +-inf when every
      difference is the same non-zero value;
    * ``n_pos_inf`` / ``n_neg_inf``: pairs left out because a - b is +inf / -inf (one side infinite, the other
      finite: for PSNR, a region kept exactly on one side and not on the other); ``n_same_inf``: pairs infinite
      on both sides with the same sign (no change, left out too).

    Pairs with a NaN (absent) value are dropped. Fewer than two finite pairs: p_value and interval NaN (one pair:
    the interval is the value).
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired_bootstrap: a and b have different lengths ({a.size} vs {b.size})")
    present = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[present], b[present]
    with np.errstate(invalid="ignore"):
        d_all = a - b
    finite = np.isfinite(a) & np.isfinite(b)
    out: dict[str, Any] = {
        "n_pos_inf": int(np.count_nonzero(np.isposinf(d_all))),
        "n_neg_inf": int(np.count_nonzero(np.isneginf(d_all))),
        "n_same_inf": int(np.count_nonzero(np.isnan(d_all))),
    }
    d = d_all[finite]
    n = int(d.size)
    out["n"] = n
    if n == 0:
        return {**out, "mean_diff": math.nan, "lo": math.nan, "hi": math.nan, "p_value": math.nan,
                "effect_size": math.nan}
    obs = float(d.mean())
    if n == 1:
        return {**out, "mean_diff": obs, "lo": obs, "hi": obs, "p_value": math.nan, "effect_size": math.nan}
    if float(np.ptp(d)) <= 1e-9 * max(1.0, abs(obs)):  # the same difference everywhere (up to rounding)
        p = 1.0 if obs == 0 else 0.0
        eff = 0.0 if obs == 0 else math.copysign(math.inf, obs)
        return {**out, "mean_diff": obs, "lo": obs, "hi": obs, "p_value": p, "effect_size": eff}
    rng = np.random.default_rng(seed)
    boots = _boot_means(d, n_boot, rng)
    lo, hi = _order_stat_interval(boots, alpha)
    se = float(boots.std(ddof=1)) * math.sqrt(n / (n - 1))
    p = 1.0 if obs == 0 else (0.0 if se == 0 else t_two_sided_p(abs(obs) / se, n - 1))
    sd = float(d.std(ddof=1))
    return {**out, "mean_diff": obs, "lo": lo, "hi": hi, "p_value": min(1.0, p),
            "effect_size": obs / sd if sd > 0 else math.nan}


def holm(p_values: Sequence[float], alpha: float) -> tuple[set[int], list[float], list[float]]:
    """Holm's step-down procedure at family-wise level ``alpha``: (indices rejected, adjusted p-values, the
    threshold each p-value was compared against), the lists in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    rejected: set[int] = set()
    adjusted = [math.nan] * m
    thresholds = [math.nan] * m
    running = 0.0
    stop = False
    for rank, i in enumerate(order):
        thresholds[i] = alpha / (m - rank)
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
        if not stop and p_values[i] < thresholds[i]:
            rejected.add(i)
        else:
            stop = True
    return rejected, adjusted, thresholds
