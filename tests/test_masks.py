"""Mask strategies: registry/config errors, determinism, area bins, box, given, dilate.

LaMa's generator is tested in tests/test_masks_lama.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from bench.errors import ConfigError, DataError
from bench.bins import area_bin, area_bin_label, hole_fraction, mask_stats
from bench.masks.basic import dilate_mask
from bench.registry import MASKS
from bench.types import Sample

ALL = ["given", "box", "dilate", "lama-thin", "lama-medium", "lama-thick"]
GENERATED = [{"type": "box"}, {"type": "lama-thin"}, {"type": "lama-medium"}, {"type": "lama-thick"},
             {"type": "dilate", "base": {"type": "lama-thin"}, "k": 3}]


def sample(sid="s0", h=64, w=64, mask=None):
    return Sample(id=sid, image=torch.rand(3, h, w, generator=torch.Generator().manual_seed(0)), mask=mask)


def create(spec, path="masks[0]"):
    return MASKS.create(dict(spec), path)


# -- registry, docs and config errors ----------------------------------------------------------------------
def test_all_builtins_listed_with_docs():
    names = MASKS.names()
    for n in ALL:
        assert n in names
        assert MASKS.doc(n).strip(), n
        cls = MASKS.get(n)
        assert MASKS.doc(n) == cls.__doc__.strip().splitlines()[0]


def test_unknown_strategy_suggests():
    with pytest.raises(ConfigError) as e:
        create({"type": "lama-thik"}, "masks[1]")
    assert e.value.path == "masks[1].type"
    assert "did you mean 'lama-thick'" in str(e.value)


def test_unknown_key_suggests():
    with pytest.raises(ConfigError) as e:
        create({"type": "box", "min_sise": 0.1}, "masks[2]")
    assert e.value.path == "masks[2].min_sise"
    assert "did you mean 'min_size'" in str(e.value)


def test_wrong_type_named():
    with pytest.raises(ConfigError) as e:
        create({"type": "box", "count": "two"})
    assert e.value.path == "masks[0].count" and "expected int" in str(e.value)
    with pytest.raises(ConfigError) as e:
        create({"type": "dilate", "base": 3})
    assert e.value.path == "masks[0].base" and "expected dict" in str(e.value)
    assert create({"type": "dilate", "base": "lama-thin"}).base == create({"type": "lama-thin"}).spec()  # a name


def test_given_takes_no_parameters():
    with pytest.raises(ConfigError) as e:
        create({"type": "given", "k": 3})
    assert "'given' takes no parameters" in str(e.value)


@pytest.mark.parametrize("spec, words", [
    ({"type": "box", "min_size": 0.6, "max_size": 0.5}, ["min_size (0.6) must be <= max_size (0.5)"]),
    ({"type": "box", "max_size": 1.5}, ["max_size must be in (0, 1]"]),
    ({"type": "box", "count": 0}, ["count must be >= 1"]),
    ({"type": "lama-thin", "reference": 300}, ["reference must be one of 256, 512"]),
    ({"type": "lama-thick", "max_hole": 0.0}, ["max_hole must be in (0, 1]"]),
    ({"type": "dilate", "base": {"type": "box"}, "k": -1}, ["k must be >= 0"]),
    ({"type": "dilate", "base": {"type": "lama-thik"}}, ["base.type", "did you mean 'lama-thick'"]),
    ({"type": "dilate", "base": {"type": "box", "cnt": 2}}, ["base.cnt", "did you mean 'count'"]),
    ({"type": "dilate", "base": {"k": 2}}, ["base", "missing key 'type'"]),
])
def test_bad_values_name_the_key(spec, words):
    with pytest.raises(ConfigError) as e:
        create(spec, "masks[3]")
    msg = str(e.value)
    assert msg.startswith("masks[3]")
    for w in words:
        assert w in msg, msg


# -- determinism: a mask is a pure function of (seed, dataset, sample id, strategy + params) ----------------
@pytest.mark.parametrize("spec", GENERATED, ids=lambda s: s["type"])
def test_mask_is_pure_function(spec):
    a, b = create(spec), create(spec)
    s1, s2 = sample("img-1", 64, 80), sample("img-2", 64, 80)
    m1 = a.make(s1, seed=7, dataset="d")
    assert m1.dtype == bool and m1.shape == (64, 80)
    assert m1.any()
    # another instance, another order, after other draws: identical
    b.make(s2, seed=7, dataset="d")
    np.testing.assert_array_equal(b.make(s1, seed=7, dataset="d"), m1)
    np.testing.assert_array_equal(a.make(s1, seed=7, dataset="d"), m1)
    # the image's pixels do not matter, only its id and size
    s1b = Sample(id="img-1", image=torch.zeros(3, 64, 80))
    np.testing.assert_array_equal(a.make(s1b, seed=7, dataset="d"), m1)
    # each ingredient of the key changes the mask
    assert not np.array_equal(a.make(s2, seed=7, dataset="d"), m1)
    assert not np.array_equal(a.make(s1, seed=8, dataset="d"), m1)
    assert not np.array_equal(a.make(s1, seed=7, dataset="other"), m1)


def test_defaults_are_part_of_the_key():
    implicit = create({"type": "box"})
    explicit = create({"type": "box", "min_size": 0.25, "max_size": 0.5, "count": 1, "center": False})
    assert implicit.key() == explicit.key()
    s = sample("x")
    np.testing.assert_array_equal(implicit.make(s, 1), explicit.make(s, 1))
    other = create({"type": "box", "count": 2})
    assert other.key() != implicit.key()
    # int given for a float parameter: same key as the float
    assert create({"type": "box", "max_size": 1}).key() == create({"type": "box", "max_size": 1.0}).key()


def test_spec_roundtrips_through_registry():
    for spec in GENERATED + [{"type": "given"}]:
        strat = create(spec)
        again = create(strat.spec())
        assert again.key() == strat.key()
    d = create({"type": "dilate", "base": {"type": "lama-thin"}})
    assert d.spec()["base"] == {"type": "lama-thin", "reference": None, "max_hole": 0.5, "max_tries": 200}


# -- hole fraction and LaMa's area bins --------------------------------------------------------------------
def test_area_bins_edges():
    assert [area_bin(x) for x in (0.0, 0.05, 0.0999, 0.1, 0.3, 0.7, 0.95, 1.0)] == [0, 0, 0, 1, 3, 7, 9, 9]
    # float noise at an edge: 3/10 computed in different ways is bin 3; 0.6 - 1e-12 too
    assert area_bin(0.1 + 0.2) == 3 and area_bin(6 / 10) == 6 and area_bin(0.6 - 1e-12) == 6
    assert area_bin_label(0) == "0-10%" and area_bin_label(9) == "90-100%"


def test_mask_stats_matches_fraction_and_bin():
    rng = np.random.default_rng(0)
    seen = set()
    for i in range(300):
        h, w = rng.integers(8, 40, size=2)
        m = rng.random((h, w)) < rng.random()
        st = mask_stats(m)
        assert st["hole_fraction"] == pytest.approx(m.sum() / m.size, abs=0)
        assert st["hole_fraction"] == hole_fraction(m)
        # exact bin from integer counts: count * 10 // total, capped at 9
        assert st["area_bin"] == min(9, int(m.sum()) * 10 // m.size)
        assert st["area_bin"] == area_bin(st["hole_fraction"])
        seen.add(st["area_bin"])
    assert seen == set(range(10))
    # a 100x100 mask with exactly 3000 hole pixels is bin 3, 2999 is bin 2
    m = np.zeros(10000, bool)
    m[:3000] = True
    assert mask_stats(m.reshape(100, 100))["area_bin"] == 3
    m[2999] = False
    assert mask_stats(m.reshape(100, 100))["area_bin"] == 2


# -- box ------------------------------------------------------------------------------------------------
def test_box_sizes_within_fractions():
    strat = create({"type": "box", "min_size": 0.2, "max_size": 0.4})
    hs, ws = [], []
    for i in range(200):
        m = strat.make(sample(f"s{i}", 100, 150), seed=0)
        ys, xs = np.nonzero(m)
        bh, bw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert m.sum() == bh * bw  # one solid rectangle
        assert 20 <= bh <= 40 and 30 <= bw <= 60
        hs.append(bh), ws.append(bw)
    # the whole range is used, positions vary
    assert min(hs) <= 22 and max(hs) >= 38 and min(ws) <= 33 and max(ws) >= 57


def test_box_center_and_count():
    c = create({"type": "box", "min_size": 0.5, "max_size": 0.5, "center": True})
    m = c.make(sample("a", 64, 64), seed=3)
    expect = np.zeros((64, 64), bool)
    expect[16:48, 16:48] = True
    np.testing.assert_array_equal(m, expect)
    one = create({"type": "box", "min_size": 0.1, "max_size": 0.1})
    three = create({"type": "box", "min_size": 0.1, "max_size": 0.1, "count": 3})
    fr1 = np.mean([one.make(sample(f"s{i}", 100, 100), 0).mean() for i in range(50)])
    fr3 = np.mean([three.make(sample(f"s{i}", 100, 100), 0).mean() for i in range(50)])
    assert fr1 == pytest.approx(0.01)
    assert 0.02 < fr3 <= 0.03  # three 10x10 boxes, overlapping at times


# -- given -----------------------------------------------------------------------------------------------
def test_given_returns_dataset_mask():
    g = create({"type": "given"})
    assert g.uses_dataset_mask
    own = torch.rand(1, 32, 48) > 0.7
    np.testing.assert_array_equal(g.make(sample("obj", 32, 48, mask=own), seed=0), own[0].numpy())
    np.testing.assert_array_equal(g.make(sample("obj", 32, 48, mask=own), seed=99), own[0].numpy())


def test_given_errors_name_the_sample():
    g = create({"type": "given"})
    with pytest.raises(DataError, match="sample 'no-mask' has no mask"):
        g.make(sample("no-mask"), seed=0)
    with pytest.raises(DataError, match="sample 'odd'.*32x40.*32x48"):
        g.make(sample("odd", 32, 48, mask=torch.zeros(1, 32, 40, dtype=torch.bool)), seed=0)


# -- dilate ----------------------------------------------------------------------------------------------
def brute_force_dilate(mask, k):
    """Reference: a pixel is in the grown hole when some hole pixel lies within Euclidean distance k."""
    h, w = mask.shape
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), -1).reshape(-1, 2)
    holes = grid[mask.reshape(-1)]
    if len(holes) == 0:
        return mask.copy()
    return (cdist(grid, holes).min(axis=1) <= k + 1e-9).reshape(h, w)


@pytest.mark.parametrize("k", [0, 1, 2, 5])
def test_dilate_matches_brute_force(k):
    rng = np.random.default_rng(k)
    for shape in [(17, 23), (32, 32)]:
        m = rng.random(shape) < 0.03
        np.testing.assert_array_equal(dilate_mask(m, k), brute_force_dilate(m, k))
    assert not dilate_mask(np.zeros((8, 8), bool), 3).any()
    assert dilate_mask(np.ones((8, 8), bool), 3).all()


def test_dilate_grows_the_same_mask_the_suite_gives_the_base():
    base = create({"type": "lama-thin"})
    d = create({"type": "dilate", "base": {"type": "lama-thin"}, "k": 4})
    assert not d.uses_dataset_mask
    s = sample("p", 96, 96)
    inner = base.make(s, seed=5, dataset="d")
    grown = d.make(s, seed=5, dataset="d")
    np.testing.assert_array_equal(grown, brute_force_dilate(inner, 4))
    assert grown.sum() > inner.sum() and not (inner & ~grown).any()


def test_dilate_given_keeps_object_removal_semantics():
    d = create({"type": "dilate", "base": {"type": "given"}, "k": 2})
    assert d.uses_dataset_mask
    own = torch.zeros(1, 20, 20, dtype=torch.bool)
    own[0, 8:12, 8:12] = True
    m = d.make(sample("o", 20, 20, mask=own), seed=0)
    assert m.sum() == brute_force_dilate(own[0].numpy(), 2).sum() and m[6:14, 8:12].all() and not m[5, 5]


def test_stats_tool_describes_masks():
    from bench.masks.stats import describe

    d = describe({"type": "box", "min_size": 0.5, "max_size": 0.5}, 64, n=10)
    assert d["mean"] == d["p10"] == d["p90"] == 0.25
    assert d["bins"][2] == 1.0 and sum(d["bins"]) == 1.0
