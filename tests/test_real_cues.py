"""bench/detectors/real_cues.py: the detail ratio against a stationary texture's own statistics."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from bench.detectors.real_cues import SIGMAS, RealCuesDetector, _band_energy, detail_ratios, work_crop
from bench.types import EvalBatch


def _texture(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.5 + 0.15 * cv2.GaussianBlur(rng.normal(0, 1, (n, n)).astype(np.float32), (0, 0), 0.8)).astype(np.float32)


def _hole(n: int) -> np.ndarray:
    m = np.zeros((n, n), bool)
    m[n // 4:3 * n // 4, n // 3:2 * n // 3 + 8] = True
    return m


def test_same_texture_fill_has_ratio_near_zero():
    y, m = _texture(128, 0), _hole(128)
    # other draws of the same stationary texture: each within sampling noise of 0, and near 0 on average (the
    # fill's band, filtered within the smaller region, has proportionally more one-sided pixels at its edge: a
    # known bias of about -0.15 at σ 2, far from the ratios of a blur or an object below)
    rs = np.asarray([detail_ratios(np.where(m, _texture(128, k), y), m) for k in range(1, 9)])
    assert rs.shape == (8, len(SIGMAS))
    assert np.abs(rs).max() < 0.4
    assert np.abs(rs.mean(axis=0)).max() < 0.2


def test_blurred_fill_deficit_matches_whole_frame_energies():
    y, m = _texture(128, 2), _hole(128)
    blurred = cv2.GaussianBlur(_texture(128, 3), (0, 0), 1.5)
    r = detail_ratios(np.where(m, blurred, y), m)
    # independent: the same band energies over whole frames of the texture and of its blurred copy (no hole)
    for s, v in zip(SIGMAS, r):
        want = np.log(_band_energy(blurred, s)[16:-16, 16:-16].mean() / _band_energy(y, s)[16:-16, 16:-16].mean())
        assert abs(v - want) < 0.3, (s, v, want)
    assert all(v < -0.3 for v in r[:2])  # fine scales lose most


def test_pasted_object_is_an_excess_and_the_detector_flags_it():
    n = 128
    y, m = cv2.GaussianBlur(_texture(n, 4), (0, 0), 3.0), _hole(n)  # smooth surroundings
    obj = y.copy()
    yy, xx = np.mgrid[0:n, 0:n]
    checker = ((yy // 6 + xx // 6) % 2).astype(np.float32)
    obj[m] = (0.2 + 0.6 * checker)[m]  # a high-contrast object in the hole
    img = np.where(m, obj, y)
    r = detail_ratios(img, m)
    assert np.mean(r) > 1.0
    t = torch.from_numpy(np.repeat(img[None], 3, 0))
    mk = torch.from_numpy(m)[None]
    b = EvalBatch(sample_ids=["a"], output=t[None], raw=t[None], input=t[None], blanked=t[None], mask=mk[None],
                  gt=torch.zeros_like(t)[None], has_gt=torch.zeros(1, dtype=torch.bool), raw_sizes=[(n, n)],
                  model_sizes=[(n, n)])
    out = RealCuesDetector(blur_threshold=1.0, replacement_threshold=1.0).detect(b)
    want = np.mean(detail_ratios(*work_crop(img, m)))  # the detector crops to the box; the crop is the frame here
    assert abs(out["real_cues_replacement_score"][0] - want) < 0.05
    assert out["real_cues_replacement_flag"][0] == 1.0 and out["real_cues_blur_flag"][0] == 0.0
    assert np.isnan(RealCuesDetector().detect(b)["real_cues_blur_flag"][0])  # no threshold: scores only


def test_tiny_hole_is_not_judged():
    y = _texture(64, 5)
    m = np.zeros((64, 64), bool)
    m[30:34, 30:34] = True
    assert detail_ratios(y, m) is None
