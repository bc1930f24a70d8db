"""bench/detectors/real_head.py: the logistic fit against scikit-learn, the logit against its closed form, the
orientation coherence and the edge continuity on patterns whose answer is known, and the shipped heads' file."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench.detectors import real_head as rh


def test_fit_equals_scikit_learn_balanced_l2_logistic_regression():
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)) * [1.0, 3.0, 0.5] + [0.0, 2.0, -1.0]
    y = (x[:, 0] + 0.3 * x[:, 1] + rng.normal(size=120)) > 1.0
    head = rh.fit(x, y, ("a", "b", "c"), l2=1.0)
    z = (x - x.mean(0)) / x.std(0)
    # sklearn minimises C * sum_i w_i loss_i + ||w||² / 2; ours sum_i w_i loss_i + l2 ||w||² / 2: C = 1 / l2
    ref = sk.LogisticRegression(C=1.0, class_weight="balanced", tol=1e-12, max_iter=10000).fit(z, y)
    np.testing.assert_allclose(head["coef"], ref.coef_[0], atol=2e-5)
    assert head["intercept"] == pytest.approx(ref.intercept_[0], abs=2e-5)


def test_logit_is_the_standardised_linear_form_and_nan_without_an_input():
    head = {"features": ["detail_1", "blur_score"], "mean": [1.0, 2.0], "scale": [2.0, 4.0], "coef": [0.5, -1.0],
            "intercept": 0.25}
    x = np.array([3.0, 0, 0, 0, 0])  # detail_1 = 3
    assert rh.logit(head, x, {"blur_score": 6.0}) == pytest.approx(0.5 * 1.0 - 1.0 * 1.0 + 0.25)
    assert math.isnan(rh.logit(head, x, {}))
    assert math.isnan(rh.logit(None, x))


def test_coherence_is_one_for_stripes_and_low_for_noise():
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    stripes = 0.5 + 0.4 * np.sin(xx / 2.0)
    region = np.zeros((64, 64), bool)
    region[16:48, 16:48] = True
    assert rh._coherence(stripes, region) > 0.99
    noise = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    assert rh._coherence(noise, region) < 0.5


def test_continuity_tells_a_continued_edge_from_one_that_stops():
    h = w = 64
    yy, xx = np.mgrid[0:h, 0:w]
    m = (abs(yy - 32) < 12) & (abs(xx - 32) < 12)
    edge = (xx > 32).astype(np.float32)  # a vertical edge through the hole
    stopped = edge.copy()
    stopped[m] = 0.5  # the fill is flat: the edge stops at the border
    import cv2

    din = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)
    dout = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3)
    cont = rh._continuity(edge, m, din, dout)
    stop = rh._continuity(stopped, m, din, dout)
    assert cont > -0.5 and stop < -1.5  # ln of the energy ratio: e^-1.5 ≈ a fifth of the edge left


def test_shipped_heads_name_known_features_and_were_fitted_on_dev():
    data = json.loads(rh.heads_path().read_text())
    assert "dev" in data["fitted_on"] and data["features"] == list(rh.FEATURES)
    for name in ("blur", "replacement"):
        head = data["heads"][name]
        assert len(head["coef"]) == len(head["mean"]) == len(head["scale"]) == len(head["features"])
        assert all(f in rh.FEATURES or f == f"{name}_score" for f in head["features"])


def test_multichannel_detail_ratios_equal_the_prototype_per_channel():
    from bench.detectors.real_cues import detail_ratios

    rng = np.random.default_rng(0)
    img = rng.random((60, 70, 3)).astype(np.float32)
    img[..., 1] = np.linspace(0, 1, 70, dtype=np.float32)[None]  # a smooth channel beside two noisy ones
    m = np.zeros((60, 70), bool)
    m[20:40, 25:50] = True
    got = rh.detail_ratios_c(img, m)
    want = np.array([detail_ratios(np.ascontiguousarray(img[..., c]), m) for c in range(3)])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert rh.detail_ratios_c(img, np.zeros((60, 70), bool)) is None


def test_features_are_cached_by_content_not_by_memory():
    import torch

    rng = np.random.default_rng(1)
    out = torch.from_numpy(rng.random((3, 80, 80)).astype(np.float32))
    m = np.zeros((80, 80), bool)
    m[25:55, 25:55] = True
    a = rh.features_cached(out, m)
    np.testing.assert_array_equal(a, rh.features(out, m))
    out[:, 30:50, 30:50] = 0.5  # same memory, new content: computed again
    b = rh.features_cached(out, m)
    np.testing.assert_array_equal(b, rh.features(out, m))
    assert not np.array_equal(a, b)


def test_features_cache_never_serves_a_freed_tensors_result_to_a_new_one_at_the_same_address():
    """A run's next batch often lands in the memory of the last one. Another output of the same sample and mask
    whose crop has the same sum (here: its hole's rows in another order) is computed anew, not served the old
    output's features (a replacement_real_score that depended on what was scored before)."""
    import torch

    rng = np.random.default_rng(2)
    arr = rng.integers(0, 256, (3, 80, 80)).astype(np.float32) / 255
    m = np.zeros((80, 80), bool)
    m[25:55, 25:55] = True
    first = torch.from_numpy(arr)
    a = rh.features_cached(first[0:3], m)
    del first
    arr[:, 25:55, 25:55] = arr[:, 54:24:-1, 25:55].copy()  # the same values: the same crop sum
    second = torch.from_numpy(arr)  # a new tensor over the same memory
    b = rh.features_cached(second[0:3], m)
    np.testing.assert_array_equal(b, rh.features(second, m))
    assert not np.array_equal(a, b)


def test_rule_score_sign_is_the_detectors_own_flag_with_real_thresholds():
    """bench.calibration.rule: with ``real_threshold`` set, blur's rule is main or mosaic or head, replacement's
    reference-free rule novelty and head; the rule score is > 0 exactly where the detector itself flags."""
    from bench.calibration.rule import rule_flags, rule_score

    rng = np.random.default_rng(3)
    n = 400
    doc = {"blur": {"direction": "above", "threshold": 0.5, "mosaic_threshold": 0.2, "ref_threshold": 0.1,
                    "real_threshold": 1.0},
           "replacement": {"direction": "above", "threshold": 0.15, "ref_threshold": 0.03, "real_threshold": 1.3}}
    bs, bm, br = rng.normal(0.3, 0.4, n), rng.uniform(0, 0.3, n), rng.normal(0.5, 1.5, n)
    br[:20] = np.nan
    s = {"blur_score": bs, "blur_mosaic_score": bm, "blur_ref_score": np.full(n, np.nan), "blur_real_score": br}
    want = (bs > 0.5) | (bm > 0.2) | (np.nan_to_num(br, nan=-np.inf) > 1.0)
    got = rule_flags("blur", doc, s)
    assert np.array_equal(got > 0.5, want)
    assert np.array_equal(rule_score("blur", doc["blur"], s) > 0, want)
    rs, rr, ref = rng.uniform(0, 0.4, n), rng.normal(1.0, 1.5, n), rng.uniform(0, 0.06, n)
    ref[: n // 2] = np.nan  # half without ground truth
    rr[-10:] = np.nan
    s = {"replacement_score": rs, "replacement_ref_score": ref, "replacement_real_score": rr}
    free = (rs > 0.15) & (np.nan_to_num(rr, nan=np.inf) > 1.3)
    want = np.where(np.isnan(ref), free, ref > 0.03)
    assert np.array_equal(rule_flags("replacement", doc, s) > 0.5, want)
    assert np.array_equal(rule_score("replacement", doc["replacement"], s) > 0, want)
