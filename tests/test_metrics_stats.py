"""Bootstrap intervals (coverage, NaN / inf handling) and the paired bootstrap test."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bench.metrics import all_columns
from bench.stats import bootstrap_ci, paired_bootstrap


def test_bootstrap_coverage_near_nominal():
    rng = np.random.default_rng(123)
    reps, n, true_mean = 300, 50, 2.0
    hits = 0
    for r in range(reps):
        x = rng.exponential(true_mean, size=n)  # skewed, like per-image LPIPS
        _, lo, hi = bootstrap_ci(x, n_boot=400, alpha=0.05, seed=r)
        hits += lo <= true_mean <= hi
    cover = hits / reps
    assert 0.88 <= cover <= 0.99, cover  # percentile bootstrap on n=50 exponential runs a little under 0.95


def test_interval_narrows_with_alpha_and_brackets_mean():
    x = np.random.default_rng(0).normal(size=200)
    m, lo, hi = bootstrap_ci(x, alpha=0.05)
    m2, lo2, hi2 = bootstrap_ci(x, alpha=0.5)
    assert m == pytest.approx(x.mean()) and lo < m < hi and lo < lo2 < m < hi2 < hi


def test_nan_is_absent_inf_is_kept():
    x = np.array([30.0, 31.0, np.nan, 29.0, 32.0, np.nan])
    m, lo, hi = bootstrap_ci(x, seed=1)
    assert m == pytest.approx(30.5) and 29.0 <= lo <= hi <= 32.0
    y = np.array([30.0, 31.0, 29.0, np.inf])  # one untouched region: PSNR inf
    m, lo, hi = bootstrap_ci(y, seed=1)
    assert m == math.inf and hi == math.inf and math.isfinite(lo)
    assert bootstrap_ci([np.inf] * 3) == (math.inf, math.inf, math.inf)
    assert all(math.isnan(v) for v in bootstrap_ci([np.nan, np.nan]))
    assert bootstrap_ci([4.0]) == (4.0, 4.0, 4.0)


def test_paired_bootstrap_detects_a_shift_and_not_noise():
    rng = np.random.default_rng(7)
    base = rng.normal(25, 4, size=80)  # large between-sample spread, small paired difference
    a = base + 0.5 + rng.normal(0, 0.3, size=80)
    r = paired_bootstrap(a, base, n_boot=1000)
    assert r["lo"] > 0 and r["p_value"] < 0.01 and r["mean_diff"] == pytest.approx(np.mean(a - base))
    # under the null, p-values are roughly uniform: about 5 % fall under 0.05
    small = 0
    for s in range(60):
        shared = rng.normal(0, 3, size=40)  # per-sample difficulty, common to both backends
        x = shared + rng.normal(0, 1, size=40)
        y = shared + rng.normal(0, 1, size=40)  # same mean as x
        small += paired_bootstrap(x, y, n_boot=300, seed=s)["p_value"] < 0.05
    assert small <= 9


def test_paired_bootstrap_drops_absent_pairs():
    a = np.array([1.0, np.nan, 3.0, 4.0])
    b = np.array([0.5, 2.0, np.nan, 3.0])
    r = paired_bootstrap(a, b)
    assert r["n"] == 2 and r["mean_diff"] == pytest.approx(0.75)
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0, 2.0])


def test_all_columns_cover_every_key():
    cols = all_columns()
    for k in ("psnr_in", "psnr_out", "ssim_in", "ssim_out", "lpips_in", "lpips_out", "lpips_crop", "fid", "kid",
              "fid_crop", "kid_crop", "p_ids", "u_ids"):
        assert k in cols
    assert cols["psnr_in"].higher_is_better and not cols["fid"].higher_is_better and cols["p_ids"].higher_is_better
