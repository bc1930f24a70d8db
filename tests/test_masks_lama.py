"""LaMa's irregular masks: parameters, parameter ranges, hole-fraction distribution, scaling.

``LAMA_YAML`` below is transcribed by hand from advimman/lama ``configs/data_gen/random_{thin,medium,thick}_
{256,512}.yaml`` (mask_generator_kwargs, max_tamper_area), independently of the table in bench.masks.lama.
``reference_lama_fractions`` is a separate, deliberately plain implementation of the generator those configs drive
(``MixedMaskGenerator`` without a ramp, then ``gen_mask_dataset.py``'s area cap) using numpy's legacy
``RandomState``, the way LaMa draws; the production code must produce the same hole-fraction distribution.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from bench.bins import mask_stats
from bench.masks.lama import LAMA_CONFIGS, Line, Rect, pick_reference, plan_mask
from bench.registry import MASKS
from bench.seeding import rng_for
from bench.types import Sample

LAMA_YAML = {
    ("thin", 256): dict(irregular=dict(min_times=4, max_times=50, max_width=10, max_angle=4, max_len=40),
                        box_proba=0),
    ("thin", 512): dict(irregular=dict(min_times=4, max_times=70, max_width=20, max_angle=4, max_len=100),
                        box_proba=0),
    ("medium", 256): dict(irregular=dict(min_times=4, max_times=5, max_width=50, max_angle=4, max_len=100),
                          box_proba=0.3,
                          box=dict(margin=0, bbox_min_size=10, bbox_max_size=50, max_times=5, min_times=1)),
    ("medium", 512): dict(irregular=dict(min_times=4, max_times=10, max_width=100, max_angle=4, max_len=200),
                          box_proba=0.3,
                          box=dict(margin=0, bbox_min_size=30, bbox_max_size=150, max_times=5, min_times=1)),
    ("thick", 256): dict(irregular=dict(min_times=1, max_times=5, max_width=100, max_angle=4, max_len=200),
                         box_proba=0.3,
                         box=dict(margin=10, bbox_min_size=30, bbox_max_size=150, max_times=3, min_times=1)),
    ("thick", 512): dict(irregular=dict(min_times=1, max_times=5, max_width=250, max_angle=4, max_len=450),
                         box_proba=0.3,
                         box=dict(margin=10, bbox_min_size=30, bbox_max_size=300, max_times=4, min_times=1)),
}
MAX_TAMPER_AREA = 0.5
KEYS = sorted(LAMA_YAML)


def ids(key):
    return f"{key[0]}-{key[1]}"


# -- the reference ---------------------------------------------------------------------------------------
def _ref_irregular(rs, size, p):
    canvas = np.zeros((size, size), np.float32)
    # no ramp: the generator's cur_max_times is max_times + 1, and randint's upper bound is exclusive
    n = rs.randint(p["min_times"], p["max_times"] + 1 + 1)
    for stroke in range(n):
        x, y = rs.randint(size), rs.randint(size)
        for _vertex in range(1 + rs.randint(5)):
            a = 0.01 + rs.randint(p["max_angle"])
            if stroke % 2 == 0:
                a = 2 * 3.1415926 - a
            length = 10 + rs.randint(p["max_len"])
            brush = 5 + rs.randint(p["max_width"])
            nx = int(np.clip(np.int32(x + length * np.sin(a)), 0, size))
            ny = int(np.clip(np.int32(y + length * np.cos(a)), 0, size))
            cv2.line(canvas, (int(x), int(y)), (nx, ny), 1.0, int(brush))
            x, y = nx, ny
    return canvas


def _ref_boxes(rs, size, b):
    canvas = np.zeros((size, size), np.float32)
    top = min(b["bbox_max_size"] + 1, size - 2 * b["margin"])  # no ramp: max size + 1, exclusive bound
    for _ in range(rs.randint(b["min_times"], b["max_times"] + 1)):
        bw, bh = rs.randint(b["bbox_min_size"], top), rs.randint(b["bbox_min_size"], top)
        x0 = rs.randint(b["margin"], size - b["margin"] - bw + 1)
        y0 = rs.randint(b["margin"], size - b["margin"] - bh + 1)
        canvas[y0:y0 + bh, x0:x0 + bw] = 1
    return canvas


def reference_lama_fractions(key, n, seed):
    rs = np.random.RandomState(seed)
    cfg, size = LAMA_YAML[key], key[1]
    probs = np.array([1.0, cfg["box_proba"]]) if cfg["box_proba"] else np.array([1.0])
    probs = probs / probs.sum()
    out = []
    while len(out) < n:
        kind = rs.choice(len(probs), p=probs)
        m = _ref_irregular(rs, size, cfg["irregular"]) if kind == 0 else _ref_boxes(rs, size, cfg["box"])
        if m.mean() > MAX_TAMPER_AREA:  # gen_mask_dataset.py drops it and draws again
            continue
        out.append(float(m.mean()))
    return np.array(out)


def strategy(variant, **params):
    return MASKS.create({"type": f"lama-{variant}", **params}, "masks[0]")


def ours_fractions(key, n, size=None, seed=0, **params):
    strat = strategy(key[0], **params)
    h, w = size if size is not None else (key[1], key[1])
    img = torch.zeros(3, h, w)
    return np.array([mask_stats(strat.make(Sample(f"s{i}", img), seed=seed))["hole_fraction"] for i in range(n)])


# -- the table matches the published configs ---------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_parameters_match_published_configs(key):
    c, y = LAMA_CONFIGS[key], LAMA_YAML[key]
    ir = y["irregular"]
    assert (c.min_times, c.max_times, c.max_width, c.max_len, c.max_angle) == (
        ir["min_times"], ir["max_times"], ir["max_width"], ir["max_len"], ir["max_angle"])
    assert c.box_proba == y["box_proba"] and c.max_tamper_area == MAX_TAMPER_AREA and c.size == key[1]
    if y["box_proba"]:
        b = y["box"]
        assert (c.box_margin, c.box_min_size, c.box_max_size, c.box_min_times, c.box_max_times) == (
            b["margin"], b["bbox_min_size"], b["bbox_max_size"], b["min_times"], b["max_times"])


# -- parameter ranges, read off the drawn primitives ---------------------------------------------------
@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_parameter_ranges(key):
    y, size = LAMA_YAML[key], key[1]
    cfg = LAMA_CONFIGS[key]
    rng = np.random.default_rng(123)
    # thin plans are long (up to 71 strokes): 600 already hit every bound; box ranges need more plans
    n_plans, n_box = (600 if key[0] == "thin" else 3000), 0
    strokes, segs, widths, lengths, nbox, bsizes = [], [], [], [], [], []
    for _ in range(n_plans):
        plan = plan_mask(cfg, size, size, rng)
        if isinstance(plan[0], Rect):
            n_box += 1
            nbox.append(len(plan))
            for r in plan:
                bsizes += [r.w, r.h]
                m = y["box"]["margin"]
                assert m <= r.x and r.x + r.w <= size - m and m <= r.y and r.y + r.h <= size - m
            continue
        assert all(isinstance(p, Line) for p in plan)
        per_stroke = np.bincount([p.stroke for p in plan])
        strokes.append(len(per_stroke))
        segs += per_stroke.tolist()
        widths += [p.thickness for p in plan]
        lengths += [p.length for p in plan]
        for p in plan:
            assert 0 <= p.x1 <= size and 0 <= p.y1 <= size
            dist = math.hypot(p.x1 - p.x0, p.y1 - p.y0)
            assert dist <= p.length + 2  # clipped to the frame, never longer
            # turn angles 0.01 + {0..3} rad (all < pi) are mirrored on even strokes: they head left, odd ones right
            assert (p.x1 <= p.x0) if p.stroke % 2 == 0 else (p.x1 >= p.x0)
    ir = y["irregular"]
    # LaMa draws min_times .. max_times + 1 strokes (see module doc), 1..5 segments each
    assert (min(strokes), max(strokes)) == (ir["min_times"], ir["max_times"] + 1)
    assert (min(segs), max(segs)) == (1, 5)
    assert (min(widths), max(widths)) == (5, 5 + ir["max_width"] - 1)
    assert (min(lengths), max(lengths)) == (10, 10 + ir["max_len"] - 1)
    if y["box_proba"]:
        b = y["box"]
        p_box = y["box_proba"] / (1 + y["box_proba"])
        sd = math.sqrt(p_box * (1 - p_box) / n_plans)
        assert abs(n_box / n_plans - p_box) < 4 * sd
        assert (min(nbox), max(nbox)) == (b["min_times"], b["max_times"])
        assert (min(bsizes), max(bsizes)) == (b["bbox_min_size"], min(b["bbox_max_size"], size - 2 * b["margin"]))
    else:
        assert n_box == 0


# -- hole-fraction distribution against the reference implementation --------------------------------
@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_hole_fraction_distribution_matches_reference(key):
    n = 400 if key[1] == 256 else 200
    ours = ours_fractions(key, n)
    ref = reference_lama_fractions(key, n, seed=2024)
    assert ours.max() <= MAX_TAMPER_AREA and ours.min() > 0
    assert ref.max() <= MAX_TAMPER_AREA
    res = ks_2samp(ours, ref)
    assert res.pvalue > 1e-3, (key, res, ours.mean(), ref.mean())
    assert abs(np.median(ours) - np.median(ref)) < 0.05


def test_distribution_test_has_power():
    """The KS check above notices the area cap being dropped and a config of the wrong size."""
    key = ("thick", 256)
    ref = reference_lama_fractions(key, 400, seed=2024)
    uncapped = ours_fractions(key, 400, max_hole=1.0)
    assert ks_2samp(uncapped, ref).pvalue < 1e-6
    medium_512 = ours_fractions(("medium", 256), 400, reference=512)
    assert ks_2samp(medium_512, reference_lama_fractions(("medium", 256), 400, seed=2024)).pvalue < 1e-4


# -- other sizes: the reference config scaled ------------------------------------------------------------
def test_pick_reference():
    assert [pick_reference(s) for s in (64, 256, 362, 363, 512, 2048)] == [256, 256, 256, 512, 512, 512]
    strat = strategy("thick")
    assert strat.config(256, 256) == (LAMA_CONFIGS[("thick", 256)], 1.0)
    assert strat.config(512, 768) == (LAMA_CONFIGS[("thick", 512)], 1.0)
    assert strategy("thick", reference=512).config(256, 256) == (LAMA_CONFIGS[("thick", 512)], 0.5)


@pytest.mark.parametrize("variant", ["thin", "medium", "thick"])
def test_scaled_masks_keep_the_hole_fraction_distribution(variant):
    ref = reference_lama_fractions((variant, 256), 300, seed=7)
    small = ours_fractions((variant, 256), 300, size=(128, 128))
    assert small.max() <= MAX_TAMPER_AREA
    assert ks_2samp(small, ref).pvalue > 1e-3
    assert abs(np.median(small) - np.median(ref)) < 0.05


def test_non_square_and_odd_sizes():
    for variant in ("thin", "medium", "thick"):
        strat = strategy(variant)
        for h, w in [(96, 160), (200, 120), (65, 65)]:
            m = strat.make(Sample("x", torch.zeros(3, h, w)), seed=1)
            assert m.shape == (h, w) and m.dtype == bool and 0 < m.mean() <= 0.5


def test_area_cap_is_a_parameter():
    caps = ours_fractions(("thick", 256), 60, size=(64, 64), max_hole=0.2)
    assert caps.max() <= 0.2
    strat = strategy("thick", max_hole=0.001, max_tries=3)
    with pytest.raises(Exception, match="sample 'tiny'.*max_hole"):
        strat.make(Sample("tiny", torch.zeros(3, 64, 64)), seed=0)


def test_generate_uses_only_the_given_rng():
    strat = strategy("medium")
    s = Sample("a", torch.zeros(3, 64, 64))
    np.random.seed(0)
    a = strat.generate(s, rng_for(1, "x"))
    np.random.seed(1)
    b = strat.generate(s, rng_for(1, "x"))
    np.testing.assert_array_equal(a, b)
