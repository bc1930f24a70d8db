"""Statistics, one copy each (numpy and the standard library only, no import from the rest of ``bench``: a report
never loads torch for these):

* bootstraps: the interval of a mean (expanded percentile, nominal coverage at small n), and the paired test that ``bench compare`` and ``bench report --compare``
  both use (so they cannot disagree on the same pair), with Holm's correction;
* set-level metrics: Fréchet distance and KID (P-IDS/U-IDS, which fit an SVM, are in
  :mod:`bench.metrics.setlevel`);
* detector statistics for calibration: AUROC, precision/recall with bootstrap intervals, threshold choice;
* human judgements of pairwise studies: Bradley–Terry, Wilson intervals, Fleiss' κ, Kendall's τ-b.

Non-finite values: NaN is an absent value and is dropped. ``+inf`` is a real value (the PSNR of a region kept
exactly). :func:`bootstrap_ci` keeps it (a mean containing one is ``+inf``); :func:`paired_bootstrap` tests the
finite pairs and *counts* the pairs whose difference is infinite (one side ``inf``, the other finite) instead of
letting one such pair make the mean difference infinite and the p-value undefined.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

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


def expanded_alpha(n: int, alpha: float) -> float:
    """The level whose percentile bootstrap interval of a mean of ``n`` values covers about ``1 - alpha``: the
    *expanded* percentile interval (Hesterberg, "What teachers should know about the bootstrap", The American
    Statistician 69(4), 2015, section 6): 2 Φ(−sqrt(n / (n − 1)) · t), t the two-sided ``alpha`` quantile of
    Student's t with n − 1 degrees of freedom. The plain percentile interval is too narrow at small n (it ignores
    the t's heavier tails and the bootstrap's sqrt((n − 1) / n) bias of the spread): measured by
    ``benchmarks/ci_coverage.py``. At n = 1000 it is within a few thousandths of ``alpha``; NaN below n = 2."""
    if n < 2:
        return math.nan
    z = math.sqrt(n / (n - 1)) * t_quantile(alpha, n - 1)
    return math.erfc(z / math.sqrt(2.0))  # 2 (1 - Φ(z))


def bootstrap_ci(values: Any, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of the finite-or-infinite values and its expanded percentile bootstrap interval
    (the resampled means' order statistics at :func:`expanded_alpha` ``(n, alpha)``, which widens the plain
    percentile interval at small n to its nominal coverage).

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
    lo, hi = _order_stat_interval(_boot_means(v, n_boot, rng), expanded_alpha(v.size, alpha))
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


def t_quantile(p_two_sided: float, df: float) -> float:
    """The t > 0 with P(|T| >= t) = ``p_two_sided`` for Student's t with ``df`` degrees of freedom (the inverse of
    :func:`t_two_sided_p`, by bisection to float precision)."""
    if not 0.0 < p_two_sided < 1.0 or not df > 0:
        raise ValueError(f"t_quantile: p must be in (0, 1) and df > 0 (got {p_two_sided}, {df})")
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > p_two_sided:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if t_two_sided_p(mid, df) > p_two_sided:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# ---------------------------------------------------------------------------------------------------------------
# the paired test


#: relative size of a difference that is the rounding of the values, not a change (paired_bootstrap, and
#: ``bench compare``'s "same" through :func:`rounding_tolerance`)
ROUNDING = 1e-9

#: the default level of the paired test and of Holm's family-wise step-down over its tests (``bench compare
#: --alpha``; ``bench report --compare``'s "better")
ALPHA = 0.05


def rounding_tolerance(*values: float) -> float:
    """The largest difference between numbers of the size of ``values`` that is their rounding, not a change:
    :data:`ROUNDING` times the largest finite |value| (at least 1). Non-finite values are left out."""
    return ROUNDING * max([1.0] + [abs(float(v)) for v in values if math.isfinite(float(v))])


def paired_bootstrap(a: Any, b: Any, n_boot: int = N_BOOT_PAIRED, alpha: float = ALPHA,
                     seed: int = 0) -> dict[str, Any]:
    """Paired bootstrap of mean(a - b) over the samples where both are present (same sample order in a and b).

    The one paired test of the project (``bench compare`` calls it with a = NEW, b = BASE; ``bench report --compare
    A B`` with a = B, b = A). Returns:

    * ``n``: finite pairs tested; ``mean_diff``: their mean difference; ``lo``, ``hi``: its expanded percentile
      bootstrap interval (``n_boot`` resamples, seeded; order statistics at :func:`expanded_alpha`: the same t
      with n - 1 degrees of freedom and the same sqrt(n / (n - 1)) as the p-value below, so the interval excludes
      0 about when p < ``alpha``);
    * ``p_value``: two-sided, from the bootstrap standard error (times sqrt(n / (n - 1)), the bootstrap's bias at
      small n) against Student's t with n - 1 degrees of freedom. Unlike counting resamples, its resolution does
      not depend on ``n_boot`` (a Holm step over many keys needs small p-values), and it agrees with the paired
      t-test; exact 1 when every difference is within rounding of the values (:data:`ROUNDING` times the largest
      |value|: two stores of one run that summed in another order), exact 0 when every difference is the same
      value beyond that;
    * ``effect_size``: mean difference / standard deviation of the differences (Cohen's d_z), +-inf when every
      difference is the same value beyond rounding, 0 when all are within it;
    * ``n_pos_inf`` / ``n_neg_inf``: pairs left out because a - b is +inf / -inf (one side infinite, the other
      finite: for PSNR, a region kept exactly on one side and not on the other); ``n_same_inf``: pairs infinite
      on both sides with the same sign (no change, left out too);
    * ``unchanged``: every finite pair's difference is within rounding of 0 (no difference on any sample: the
      test cannot reject at any level, see :func:`can_reject`).

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
                "effect_size": math.nan, "unchanged": False}
    obs = float(d.mean())
    # rounding of the values themselves (float64 summation order, another thread count or batch size moves a
    # score by ~1e-13): differences within it are no difference, whatever their mean
    tol = rounding_tolerance(float(np.abs(a[finite]).max()), float(np.abs(b[finite]).max()))
    out["unchanged"] = bool(float(np.ptp(d)) <= tol and abs(obs) <= tol)  # (p 1, d 0 below)
    if n == 1:
        return {**out, "mean_diff": obs, "lo": obs, "hi": obs, "p_value": math.nan, "effect_size": math.nan}
    if float(np.ptp(d)) <= tol:  # the same difference everywhere (up to rounding)
        if out["unchanged"]:
            return {**out, "mean_diff": obs, "lo": obs, "hi": obs, "p_value": 1.0, "effect_size": 0.0}
        return {**out, "mean_diff": obs, "lo": obs, "hi": obs, "p_value": 0.0,
                "effect_size": math.copysign(math.inf, obs)}
    rng = np.random.default_rng(seed)
    boots = _boot_means(d, n_boot, rng)
    lo, hi = _order_stat_interval(boots, expanded_alpha(n, alpha))
    se = float(boots.std(ddof=1)) * math.sqrt(n / (n - 1))
    p = 1.0 if obs == 0 else (0.0 if se == 0 else t_two_sided_p(abs(obs) / se, n - 1))
    sd = float(d.std(ddof=1))
    return {**out, "mean_diff": obs, "lo": lo, "hi": hi, "p_value": min(1.0, p),
            "effect_size": obs / sd if sd > 0 else math.nan}


def infinite_wins(test: Mapping[str, Any], higher_is_better: bool) -> tuple[int, int]:
    """(pairs where ``a`` is the better by an infinite margin, pairs where ``b`` is) of a :func:`paired_bootstrap`
    ``(a, b)`` result: the pairs left out of its test with one side infinite. ``+inf`` of a higher-is-better key (the
    PSNR of a region kept exactly) is its best value, of a lower-is-better one its worst. The one reading of them:
    ``bench compare`` (a = NEW: infinities gained, lost) and ``bench report --compare`` (a = B)."""
    pos, neg = int(test["n_pos_inf"]), int(test["n_neg_inf"])
    return (pos, neg) if higher_is_better else (neg, pos)


#: fewest finite pairs a paired test needs to enter a Holm family (fewer: reported, never decided by the test)
MIN_PAIRS = 3


def can_reject(test: Mapping[str, Any]) -> bool:
    """Whether a :func:`paired_bootstrap` result enters a Holm family: the one rule of ``bench compare`` and
    ``bench report --compare``. It does when it has at least :data:`MIN_PAIRS` finite pairs, a p-value, and a
    difference on some sample. A test with no difference on any sample (``unchanged``: a key equal on every sample,
    a flag raised on the same samples for both) has p 1 under every resampling of the signs of its differences:
    it cannot reject at any level, so leaving it out is allowed (Tarone's procedure) and keeps unchanged columns
    from diluting the changed ones (m counts the tests that could reject)."""
    p = test["p_value"]
    return int(test["n"]) >= MIN_PAIRS and not math.isnan(p) and not test["unchanged"]


def holm_family(tests: Sequence[Mapping[str, Any]], alpha: float) -> tuple[set[int], list[float], list[float]]:
    """:func:`holm` over the tests (:func:`paired_bootstrap` results, or objects with the same fields as a
    mapping) that :func:`can_reject`; the others are not rejected, their adjusted p and threshold NaN."""
    return holm([float(t["p_value"]) if can_reject(t) else math.nan for t in tests], alpha)


def holm(p_values: Sequence[float], alpha: float) -> tuple[set[int], list[float], list[float]]:
    """Holm's step-down procedure at family-wise level ``alpha``: (indices rejected, adjusted p-values, the
    threshold each p-value was compared against), the lists in the input order. A NaN p-value (no test) is not part
    of the family: never rejected, adjusted and threshold NaN, and it does not count in m (Python sorts NaN keys in
    no defined order, so it could have stopped the procedure early)."""
    tested = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    m = len(tested)
    order = sorted(tested, key=lambda i: p_values[i])
    rejected: set[int] = set()
    adjusted = [math.nan] * len(p_values)
    thresholds = [math.nan] * len(p_values)
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


# ---------------------------------------------------------------------------------------------------------------
# detector statistics (calibration)


def average_ranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given the mean of the ranks they span (scipy's ``rankdata``, method "average")."""
    _, inv, counts = np.unique(np.asarray(s, dtype=np.float64), return_inverse=True, return_counts=True)
    end = np.cumsum(counts)
    return ((end - counts + 1 + end) / 2.0)[inv.ravel()]


def auroc(y: np.ndarray, s: np.ndarray, direction: str = "above") -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half). NaN scores rank as least suspicious."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(s, dtype=np.float64)
    s = s if direction == "above" else -s
    s = np.where(np.isnan(s), -np.inf, s)
    s = np.where(np.isposinf(s), np.finfo(np.float64).max, np.where(np.isneginf(s), -np.finfo(np.float64).max, s))
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return math.nan
    r = average_ranks(s)
    return float((r[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def pr(y: np.ndarray, flag: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) of 0/1 flags (NaN flag = not flagged)."""
    y = np.asarray(y, dtype=bool)
    f = np.nan_to_num(np.asarray(flag, dtype=np.float64), nan=0.0) > 0.5
    tp = int((f & y).sum())
    fp = int((f & ~y).sum())
    fn = int((~f & y).sum())
    p = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    r = tp / (tp + fn) if tp + fn else math.nan
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f1


def bootstrap_intervals(y: np.ndarray, flag: np.ndarray, s: np.ndarray, digits: int, n_boot: int = 1000,
                        seed: int = 0, alpha: float = 0.05) -> dict[str, list[float] | None]:
    """Percentile bootstrap intervals (resampling cases) of the precision and recall of ``flag`` and the AUROC of
    the scores ``s`` against labels ``y``, rounded to ``digits``; resamples with one class only are skipped, and
    an interval is None when every resample was."""
    rng = np.random.default_rng(seed)
    vals: dict[str, list[float]] = {"precision": [], "recall": [], "auroc": []}
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if y[i].all() or not y[i].any():
            continue
        p, r, _ = pr(y[i], flag[i])
        vals["precision"].append(p)
        vals["recall"].append(r)
        vals["auroc"].append(auroc(y[i], s[i]))
    return {f"{k}_ci": [round(float(np.quantile(v, alpha / 2)), digits), round(float(np.quantile(v, 1 - alpha / 2)),
                                                                                   digits)] if v else None
            for k, v in vals.items()}


def threshold_flags(s: np.ndarray, t: float, direction: str) -> np.ndarray:
    """0/1 flags of ``s > t`` (``direction`` "above") or ``s < t`` ("below"); NaN scores are not flagged."""
    ok = ~np.isnan(s)
    out = np.zeros(s.shape, dtype=np.float64)
    out[ok] = (s[ok] > t) if direction == "above" else (s[ok] < t)
    return out


def balanced(y: np.ndarray, flag: np.ndarray) -> float:
    """Youden's J = recall + specificity - 1 of 0/1 flags: unlike F1 it does not depend on how many positives the
    labelled set happens to hold, so a threshold chosen on one mix of cases carries over to another."""
    y = np.asarray(y, dtype=bool)
    f = np.nan_to_num(np.asarray(flag, dtype=np.float64), nan=0.0) > 0.5
    if y.all() or not y.any():
        return pr(y, flag)[2]
    return float((f & y).sum() / y.sum() + (~f & ~y).sum() / (~y).sum() - 1.0)


def _criterion(name: str, y: np.ndarray, f: np.ndarray) -> float:
    if name == "balanced":
        return balanced(y, f)
    p, r, f1 = pr(y, f)
    if name == "f1":
        return f1
    if name == "breakeven":
        return min(p, r)
    raise ValueError(f"unknown threshold criterion {name!r} (balanced, f1, breakeven)")


def written_threshold(t: float, s: np.ndarray, direction: str, digits: int = 4) -> float:
    """``t`` rounded to ``digits`` decimals, or to as many more as it takes to flag the same scores ``s`` as ``t``
    (scores that differ past the fourth decimal, as similarities close to 1 do, would otherwise land on the other
    side of the written threshold than of the fitted one); ``t`` itself when no rounding keeps them."""
    if not math.isfinite(t):
        return t
    want = threshold_flags(s, t, direction)
    for d in range(digits, 16):
        r = round(float(t), d)
        if np.array_equal(threshold_flags(s, r, direction), want):
            return r
    return float(t)


def best_threshold(y: np.ndarray, s: np.ndarray, direction: str = "above",
                   base_flag: np.ndarray | None = None, criterion: str = "balanced",
                   capped: Sequence[np.ndarray] = (), max_rate: float = 1.0) -> float:
    """Threshold of maximum :func:`balanced` accuracy (``criterion="f1"``: maximum F1; ``"breakeven"``: maximum
    of the smaller of precision and recall) (flags OR-ed with
    ``base_flag`` when given); the middle of the best plateau. With ``capped`` (boolean masks of cases, one per
    group), only thresholds that flag at most ``max_rate`` of each group qualify (none does: the strictest)."""
    fin = np.unique(s[np.isfinite(s)])
    if fin.size == 0:
        return math.nan
    cands = np.concatenate([[fin[0] - 1.0], (fin[:-1] + fin[1:]) / 2, [fin[-1] + 1.0]])
    f1s = []
    for t in cands:
        f = threshold_flags(s, t, direction)
        if base_flag is not None:
            f = np.maximum(f, base_flag)
        ok = all(float(f[g].mean()) <= max_rate for g in capped if g.any())
        f1s.append(_criterion(criterion, y, f) if ok else -math.inf)
    f1s = np.asarray(f1s)
    if not np.isfinite(f1s).any():  # no threshold keeps under the cap: the strictest
        return float(cands[-1] if direction == "above" else cands[0])
    best = np.flatnonzero(f1s >= f1s.max() - 1e-12)
    # the longest run of consecutive optimal candidates, then its middle in score units
    runs, start = [], best[0]
    for a, b in zip(best[:-1], best[1:]):
        if b != a + 1:
            runs.append((start, a))
            start = b
    runs.append((start, best[-1]))
    lo, hi = max(runs, key=lambda r: (r[1] - r[0], -r[0]))
    if lo == 0 or hi == len(cands) - 1:  # open-ended plateau: stay next to the data
        return float(cands[lo] if hi == len(cands) - 1 and lo > 0 else cands[hi])
    return float((fin[lo - 1] + fin[hi]) / 2) if hi < fin.size else float(cands[(lo + hi) // 2])


# ---------------------------------------------------------------------------------------------------------------
# human judgements: pairwise user studies (bench study)
#
# - bradley_terry: strengths from a matrix of wins, ties counted as half a win for each side (not Davidson's tie
#   model), fitted by Hunter's (2004) minorisation-maximisation iteration, with an optional prior of virtual ties
#   on every compared pair so that a backend that won every trial still gets a finite strength;
# - wilson_interval (a binomial proportion), fleiss_kappa (items rated by the same number of raters),
#   kendall_tau_b (two rankings, ties as tau-b does), percentile_interval (bootstrap replicates along an axis).


#: one virtual tie per compared pair (half a win each way): the default prior of the reported fits
DEFAULT_PRIOR = 0.5

#: :func:`bradley_terry` stops when no log-strength moved more than this in one iteration; two log-strengths closer
#: than it are not told apart by the fit (a difference δ of log-strengths is a relative difference of about δ in the
#: strengths), so :func:`tied_ranks` ranks them alike
BT_TOL = 1e-10


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


def bradley_terry(wins: np.ndarray, prior: float = DEFAULT_PRIOR, tol: float = BT_TOL,
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


def tied_ranks(theta: np.ndarray, tol: float = BT_TOL) -> np.ndarray:
    """Competition ranks (1 = strongest; ties share the best rank of their group, the next rank skips: 1, 1, 3) of
    log-strengths ``theta``: a group is every value within ``tol`` of its group's highest (compared with the
    highest, never chained). NaN (an item never compared) ranks last, all alike."""
    t = np.asarray(theta, dtype=np.float64)
    order = sorted(range(t.size), key=lambda i: (math.isnan(t[i]), -t[i] if not math.isnan(t[i]) else 0.0))
    ranks = np.zeros(t.size, dtype=int)
    top = None
    for pos, i in enumerate(order):
        if top is None or not (abs(t[top] - t[i]) <= tol or (math.isnan(t[top]) and math.isnan(t[i]))):
            top, rank = i, pos + 1
        ranks[i] = rank
    return ranks


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
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - alpha / 2)
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


def krippendorff_alpha_nominal(counts: np.ndarray) -> float:
    """Krippendorff's α for nominal data from ``counts[item, category]`` = how many raters put the item in that
    category; items may have different numbers of ratings (raters who skipped some), those with fewer than two are
    not pairable and left out. α = 1 − D_o / D_e from the coincidence matrix (Krippendorff 2011, "Computing
    Krippendorff's alpha-reliability"). NaN when nothing is pairable or every pairable rating is one category."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2:
        return math.nan
    m = c.sum(axis=1)
    c, m = c[m >= 2], m[m >= 2]
    if c.shape[0] == 0:
        return math.nan
    # coincidences o[j, k] = sum over items of n_j n_k (minus n_j on the diagonal) / (m - 1)
    o = np.einsum("uj,uk,u->jk", c, c, 1.0 / (m - 1)) - np.diag((c / (m - 1)[:, None]).sum(axis=0))
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d_e = (n * n - (n_c ** 2).sum()) / (n * (n - 1))
    if d_e <= 0:
        return math.nan
    d_o = (n - np.trace(o)) / n
    return float(1.0 - d_o / d_e)


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Cohen's κ of two raters' labels over the same items (any hashable labels; NaN with no items or when chance
    agreement is 1)."""
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: {len(a)} and {len(b)} labels")
    if not a:
        return math.nan
    cats = sorted(set(a) | set(b), key=str)
    idx = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(cats), len(cats)))
    np.add.at(table, ([idx[x] for x in a], [idx[y] for y in b]), 1.0)
    n = table.sum()
    p_o = float(np.trace(table)) / n
    p_e = float((table.sum(axis=1) * table.sum(axis=0)).sum()) / (n * n)
    if p_e >= 1.0:
        return math.nan
    return (p_o - p_e) / (1.0 - p_e)


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
