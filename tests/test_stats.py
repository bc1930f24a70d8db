"""bench.stats: the one paired test (numpy only), its Student-t tail, Holm's procedure."""
from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from bench import stats


def test_t_tail_matches_scipy():
    for df in (1, 2, 3, 5, 11, 29, 120, 2000):
        for t in (0.0, 0.3, 1.0, 1.96, 2.5, 4.0, 9.0, 40.0):
            assert stats.t_two_sided_p(t, df) == pytest.approx(2 * sps.t.sf(t, df), rel=1e-9, abs=1e-300)
    assert stats.t_two_sided_p(math.inf, 5) == 0.0 and math.isnan(stats.t_two_sided_p(1.0, 0))


def test_paired_bootstrap_agrees_with_the_paired_t_test():
    rng = np.random.default_rng(3)
    for n in (8, 30, 200):
        b = rng.normal(20, 4, n)
        a = b + rng.normal(0.3, 1.0, n)
        r = stats.paired_bootstrap(a, b, seed=1)
        ref = sps.ttest_rel(a, b)
        # the bootstrap standard error is within a few % of the t-test's, so the p-values are close
        assert r["p_value"] == pytest.approx(ref.pvalue, rel=0.25, abs=0.01)
        assert r["mean_diff"] == pytest.approx(np.mean(a - b))
        assert r["effect_size"] == pytest.approx(np.mean(a - b) / np.std(a - b, ddof=1))
        assert r["lo"] < r["mean_diff"] < r["hi"] and r["n"] == n


def test_infinite_pairs_are_counted_not_averaged():
    base = np.array([np.inf, np.inf, np.inf, 30.0, 31.0, 32.0, np.nan])
    new = np.array([np.inf, 28.0, 29.0, 30.5, 31.2, np.inf, 33.0])
    r = stats.paired_bootstrap(new, base)
    # new - base: same ∞ (left out), -inf twice (∞ became finite), +inf once, two finite pairs; NaN pair dropped
    assert (r["n_same_inf"], r["n_neg_inf"], r["n_pos_inf"], r["n"]) == (1, 2, 1, 2)
    assert r["mean_diff"] == pytest.approx(np.mean([0.5, 0.2]))
    with pytest.raises(ValueError, match="different lengths"):
        stats.paired_bootstrap([1.0], [1.0, 2.0])


def test_constant_and_tiny_inputs():
    r = stats.paired_bootstrap([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert (r["p_value"], r["lo"], r["hi"], r["effect_size"]) == (0.0, 1.0, 1.0, math.inf)
    r = stats.paired_bootstrap([1.0, 2.0], [1.0, 2.0])
    assert r["p_value"] == 1.0 and r["effect_size"] == 0.0
    r = stats.paired_bootstrap([1.0], [0.5])
    assert r["n"] == 1 and math.isnan(r["p_value"]) and r["mean_diff"] == 0.5
    assert stats.paired_bootstrap([], [])["n"] == 0


def test_rounding_of_the_values_is_no_difference():
    """Scores that differ by float64 rounding (another summation order: ~1e-13 on values near 25) were a constant
    difference with p = 0 and d = -inf, and `bench compare` failed the build on them."""
    rng = np.random.default_rng(7)
    a = rng.uniform(20, 30, 50)
    b = a + rng.normal(0, 1e-13, 50)
    r = stats.paired_bootstrap(b, a)
    assert (r["p_value"], r["effect_size"]) == (1.0, 0.0) and abs(r["mean_diff"]) < 1e-12
    r = stats.paired_bootstrap(a + 1e-6, a)  # a real (if small) shift, the same everywhere, is still one
    assert (r["p_value"], r["effect_size"]) == (0.0, math.inf)
    r = stats.paired_bootstrap(a + 1e-6 + rng.normal(0, 1e-7, 50), a)
    assert r["p_value"] < 1e-6


def test_holm_leaves_an_untested_key_out_of_the_family():
    p = [0.01, math.nan, 0.04, 0.03, 0.001]
    rejected, adj, thr = stats.holm(p, 0.05)
    same, adj4, _ = stats.holm([0.01, 0.04, 0.03, 0.001], 0.05)  # (statsmodels' multipletests 'holm' agrees)
    assert rejected == {0, 4} and {({0: 0, 2: 1, 3: 2, 4: 3}[i]) for i in rejected} == same
    assert math.isnan(adj[1]) and math.isnan(thr[1])
    assert [adj[i] for i in (0, 2, 3, 4)] == pytest.approx(adj4)
    assert adj4 == pytest.approx([0.03, 0.06, 0.06, 0.004])


def test_holm_against_a_direct_reading():
    p = [0.01, 0.04, 0.03, 0.005]
    rejected, adj, thr = stats.holm(p, 0.05)
    # sorted: 0.005 (<0.05/4), 0.01 (<0.05/3), 0.03 (≥ 0.05/2): stop
    assert rejected == {0, 3}
    assert thr == [0.05 / 3, 0.05 / 1, 0.05 / 2, 0.05 / 4]
    assert adj == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_numpy_only():
    tree = ast.parse(Path(stats.__file__).read_text())
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert mods <= {"__future__", "math", "typing", "numpy", "statistics", "warnings"}, mods
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))


def test_average_ranks_equal_scipy_rankdata_with_ties():
    from scipy.stats import rankdata

    rng = np.random.default_rng(0)
    for _ in range(100):
        x = rng.integers(0, 6, size=int(rng.integers(1, 40))).astype(float)
        np.testing.assert_allclose(stats.average_ranks(x), rankdata(x))
