"""benchmarks/detectors_real_probes.py: the probes measure what they say (closed-form and constructed cases)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tests.scripts import load


@pytest.fixture(scope="module")
def probes():
    return load("benchmarks/detectors_real_probes.py")


@pytest.mark.parametrize("alpha", [0.7, 1.0, 2.0, 4.0])
def test_ggd_alpha_recovers_the_shape_of_generalised_gaussian_samples(probes, alpha):
    from scipy.stats import gennorm

    x = gennorm.rvs(alpha, size=200_000, random_state=np.random.default_rng(int(alpha * 10)))
    assert probes.ggd_alpha(x) == pytest.approx(alpha, rel=0.05)
    assert math.isnan(probes.ggd_alpha(np.zeros(100)))
    assert math.isnan(probes.ggd_alpha(x[:10]))


def _scene(seed: int, size: int = 128) -> np.ndarray:
    """A textured scene: smoothed noise in three channels around a mid grey."""
    import cv2

    rng = np.random.default_rng(seed)
    n = rng.normal(0, 1, (size, size, 3)).astype(np.float32)
    return np.clip(0.5 + 0.12 * cv2.GaussianBlur(n, (0, 0), 1.5) / 0.2, 0, 1).astype(np.float32)


def _hole(size: int = 128) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[40:88, 40:88] = True
    return m


def test_patch_novelty_low_for_the_scene_continued_and_high_for_a_foreign_patch(probes):
    scene, m = _scene(0), _hole()
    continued = scene.copy()  # the hole holds more of the same texture (another draw of the same process)
    continued[m] = _scene(1)[m]
    foreign = scene.copy()  # a bright striped object the context never shows
    stripes = (np.indices((128, 128))[1] // 4 % 2).astype(np.float32)
    foreign[m] = np.stack([0.9 * stripes + 0.05, 0.1 + 0 * stripes, 0.8 - 0.7 * stripes], -1)[m]
    nov_c, share_c = probes.patch_scores(continued, m)
    nov_f, share_f = probes.patch_scores(foreign, m)
    assert abs(nov_c) < 0.3 and share_c < 0.3
    assert nov_f > nov_c + 1.0 and share_f > 0.9
    assert all(math.isnan(v) for v in probes.patch_scores(scene, np.zeros_like(m)))


def test_mscn_scores_see_a_smoothed_fill_and_not_the_texture_continued(probes):
    import cv2

    scene, m = _scene(2), _hole()
    continued = scene.copy()
    continued[m] = _scene(3)[m]
    smeared = scene.copy()
    smeared[m] = cv2.GaussianBlur(scene, (0, 0), 4)[m]
    c, s = probes.mscn_scores(continued, m), probes.mscn_scores(smeared, m)
    assert abs(c["local_spread"]) < 0.2 and abs(c["mscn_corr"]) < 0.1
    assert s["local_spread"] < c["local_spread"] - 1.0  # far less local contrast in the smear
    assert s["mscn_corr"] > c["mscn_corr"] + 0.1  # neighbours move together in a smooth fill
    assert all(math.isnan(v) for v in probes.mscn_scores(scene, np.zeros_like(m)).values())


def test_spectral_residual_peaks_on_the_odd_spot_of_a_regular_pattern(probes):
    # a regular grating with one blob: its spectrum is a few peaks (the grating, which the residual removes) plus
    # the blob's broad spectrum, so the saliency sits on the blob. (Faint noise, as in any photograph: a noiseless
    # synthetic image has exact zeros in its spectrum, whose logarithms swamp the residual.)
    yy, xx = np.indices((64, 64))
    noise = np.random.default_rng(0).normal(0, 0.02, (64, 64))
    img = (0.5 + 0.3 * np.sin(xx * 2 * np.pi / 8) + noise).astype(np.float32)
    img[28:36, 40:48] = 1.0
    sal = probes.spectral_residual(img)
    assert sal.shape == img.shape and (sal >= 0).all()
    assert sal[28:36, 40:48].mean() > 3 * sal.mean()
    peak = np.unravel_index(np.argmax(sal), sal.shape)
    assert 24 <= peak[0] < 40 and 36 <= peak[1] < 52


def test_frequency_tuned_is_the_lab_distance_from_the_mean_colour(probes):
    import cv2

    img = np.full((32, 32, 3), 0.5, np.float32)
    img[:, 16:] = (0.9, 0.2, 0.1)
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
    mean = lab.reshape(-1, 3).mean(0)
    ft = probes.frequency_tuned(img)
    # far from the edge the blur changes nothing: each half's distance from the mean colour, closed form
    assert ft[5, 5] == pytest.approx(float(np.linalg.norm(lab[5, 5] - mean)), rel=1e-4)
    assert ft[5, 25] == pytest.approx(float(np.linalg.norm(lab[5, 25] - mean)), rel=1e-4)


def test_saliency_contrast_high_for_a_foreign_object_and_not_for_the_scene_continued(probes):
    scene, m = _scene(4), _hole()
    continued = scene.copy()
    continued[m] = _scene(5)[m]
    red = scene.copy()
    red[m] = (0.95, 0.1, 0.1)  # a red object filling the hole: far from the grey scene's mean colour
    spot = continued.copy()
    spot[58:70, 58:70] = 1.0  # a small white object in the continued texture: the odd spot spectral residual finds
    c, r, s = (probes.saliency_scores(x, m) for x in (continued, red, spot))
    assert abs(c["sr_contrast"]) < 0.5 and abs(c["ft_contrast"]) < 0.5
    assert r["ft_contrast"] > c["ft_contrast"] + 1.0
    assert s["sr_contrast"] > c["sr_contrast"] + 0.8
    assert all(math.isnan(v) for v in probes.saliency_scores(scene, np.zeros_like(m)).values())


def test_table_ranks_each_probe_for_its_label_against_ok_per_split(probes):
    recs = [{"split": "dev", "label": "replacement", "patch_novelty": 2.0},
            {"split": "dev", "label": "ok", "patch_novelty": 0.1},
            {"split": "dev", "label": "ok", "patch_novelty": math.nan},
            {"split": "dev", "label": "blur", "patch_novelty": -5.0},  # neither the label nor ok: left out
            {"split": "test", "label": "ok", "patch_novelty": 0.3}]  # no positive: no entry
    t = probes.table(recs)
    assert t["dev"]["replacement: patch_novelty"] == {"auroc": 1.0, "pos": 1, "ok": 2}
    assert "test" not in t


def test_correlations_rank_each_replacement_probe_against_the_shipped_score(probes):
    recs = [{"replacement_score": float(i), "sr_contrast": float(i * i), "patch_novelty": float(-i),
             "ft_contrast": math.nan} for i in range(6)]
    c = probes.correlations(recs)
    assert c["sr_contrast"] == 1.0 and c["patch_novelty"] == -1.0  # monotone either way: rank correlation +-1
    assert "ft_contrast" not in c and "replacement_score" not in c


def test_colour_matched_context_weighs_the_surface_the_fill_continues(probes):
    """A plain blue backdrop with fine grain, a sharp red-and-white striped post along the hole's left side: the
    true fill (the backdrop) has far less detail than the ring as blur reads it (the post), but the post's colours
    are not the fill's, so the colour-matched deficits of the truth are much lower (the median one about 0), while
    a smear and a flat fill of the same hole still show theirs. No hole, or a hole nowhere 16 px across: NaN."""
    import cv2
    import torch

    from bench.detectors.blur import BlurDetector

    s = 128
    rng = np.random.default_rng(0)
    img = np.clip(np.array([0.25, 0.35, 0.7], np.float32) + rng.normal(0, 0.01, (s, s, 3)), 0, 1).astype(np.float32)
    stripes = ((np.indices((s, s))[0] // 3) % 2).astype(np.float32)
    img[:, 16:36] = np.stack([0.9 + 0 * stripes, 0.9 - 0.8 * stripes, 0.9 - 0.8 * stripes], -1)[:, 16:36]
    m = np.zeros((s, s), bool)
    m[40:88, 36:90] = True
    smear, flat = img.copy(), img.copy()
    smear[m] = cv2.GaussianBlur(img, (0, 0), 3)[m]
    flat[m] = img[m].mean(0)
    ctx, *_ = BlurDetector().band_ratios(torch.from_numpy(img.transpose(2, 0, 1).copy()), m)
    truth = probes.colour_matched_scores(img, m)
    assert truth["cm_ctx"] < max(ctx) - 1.0 and abs(truth["cm_grain"]) < 0.2, (truth, ctx)
    for bad in (smear, flat):
        got = probes.colour_matched_scores(bad, m)
        assert got["cm_grain"] > 0.8 and got["cm_ctx"] > truth["cm_ctx"] + 0.2, got
    thin = np.zeros_like(m)
    thin[60:66, 20:110] = True
    for hole in (np.zeros_like(m), thin):
        assert all(math.isnan(v) for v in probes.colour_matched_scores(img, hole).values())


def _disc(size: int, r: float, cy: float | None = None, cx: float | None = None) -> np.ndarray:
    yy, xx = np.indices((size, size))
    c = size / 2
    return (yy - (c if cy is None else cy)) ** 2 + (xx - (c if cx is None else cx)) ** 2 <= r * r


def test_silhouette_sees_an_outline_that_follows_the_border_inside_the_hole_only(probes):
    size = 160
    m = _disc(size, 40)  # the hole; its bands reach 6 ... 6 + 0.25 sqrt(area) (about 24) px from the border
    flat = np.full((size, size, 3), 0.5, np.float32)
    assert probes.silhouette_score(flat, m) == 0.0  # no change of luma anywhere: ln(1 / 1)
    inside = flat.copy()  # a darker object painted in the hole's shape, its outline 12 px inside the border
    inside[_disc(size, 28)] = 0.2
    outside = flat.copy()  # the same outline 12 px outside the border: the ring's, not the fill's
    outside[_disc(size, 52) & ~m] = 0.2
    assert probes.silhouette_score(inside, m) > 1.0
    assert probes.silhouette_score(outside, m) < -1.0
    # a background continued through the hole (stripes crossing the border) has no outline of the hole's shape:
    # inside and outside bands see the same edges, both ways round the border
    stripes = np.repeat((0.3 + 0.4 * (np.indices((size, size))[1] // 6 % 2))[..., None], 3, -1).astype(np.float32)
    assert abs(probes.silhouette_score(stripes, m)) < 0.15
    assert probes.silhouette_score(inside, m) > probes.silhouette_score(stripes, m) + 1.0
    assert math.isnan(probes.silhouette_score(flat, np.zeros_like(m)))
    tiny = np.zeros_like(m)
    tiny[80:83, 80:83] = True  # no inner band at all
    assert math.isnan(probes.silhouette_score(inside, tiny))
