"""Prototype cues for blur and replacement on REAL model outputs (not registered, not in the verdict).

The shipped ``blur`` and ``replacement`` detectors were designed on constructed cases and miss on published model
outputs (docs/detectors.md, "Real outputs"). Two cues, studied on the real corpus's dev split only:

* ``real_cues_blur_score`` (detail deficit): how much less detail the fill has than its surroundings *predict at
  each hole pixel*, ln(predicted / actual) averaged over three scales. A real smear loses detail about equally at
  every scale, so no fall-off across scales is asked for. The prediction is a normalised convolution of the ring's
  band energy into the hole (each hole pixel expects the detail of the ring pixels near it, not of the ring as a
  whole), so a hole that spans sky and foliage expects little detail on the sky side and much on the foliage side.
* ``real_cues_replacement_score`` (detail excess): the same mean ratio the other way round: a pasted or prompted
  object draws contours where the surroundings predict flat texture, while its colours, taken from the scene, are
  no longer the clue.

Both are computed on a crop around the hole of the final (pasted-back) output, on luma brought to at most
``WORK_SIDE`` px, in NumPy/OpenCV. Results (dev used to choose, test looked at once): docs/detectors.md, "Real
outputs", and ``benchmarks/detectors_real_cues.py``.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..types import EvalBatch
from ._util import crop_box, luma, mask2d, nan_array
from .base import Detector
from .real_head import SIGMAS, WORK_SIDE, _blur_c, _work



def _nc(x: np.ndarray, w: np.ndarray, s: float) -> np.ndarray:
    """Gaussian filtering of ``x`` within the region ``w`` (float 0/1) only: normalised convolution."""
    return cv2.GaussianBlur(x * w, (0, 0), s) / np.maximum(cv2.GaussianBlur(w, (0, 0), s), 1e-6)


def _band_energy(y: np.ndarray, s: float, region: np.ndarray | None = None) -> np.ndarray:
    """Local detail energy at scale ``s``: the squared difference-of-Gaussians band (σ and 2σ), smoothed at 2σ;
    with ``region``, every filter sees that region only, so a fill's energy never includes the seam or the ring
    (and the ring's never the fill)."""
    if region is None:
        a = cv2.GaussianBlur(y, (0, 0), s)
        b = cv2.GaussianBlur(y, (0, 0), 2 * s)
        return cv2.GaussianBlur((a - b) ** 2, (0, 0), 2 * s)
    w = region.astype(np.float32)
    d = _nc(y, w, s) - _nc(y, w, 2 * s)
    return _nc(d * d, w, 2 * s)


class _Spread:
    """Normalised convolution over one support: the Gaussian-weighted mean of values over ``support`` at every
    pixel, the support's own blur computed once for every set of values."""

    def __init__(self, support: np.ndarray, sigma: float):
        self.w = support.astype(np.float32)
        self.sigma = sigma
        self.den = np.maximum(_blur_c(self.w, sigma), 1e-6)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return _blur_c(values * self.w, self.sigma) / self.den


def detail_ratios(y: np.ndarray, m: np.ndarray, sigmas=SIGMAS, eps: float = 2e-6) -> list[float] | None:
    """Per scale, ln(fill detail / detail the ring predicts there), over the hole (None: too small to judge).

    ``y`` luma in [0, 1], float32 [H, W]; ``m`` bool hole. The difference-of-Gaussians band (σ, 2σ) is filtered
    within each region separately (normalised convolution: the fill's band never sees the seam or the ring, the
    ring's never the fill); the ring's squared band is spread into the hole (:class:`_Spread`) and compared with the
    fill's, both averaged over the hole. ``eps`` is about the energy of 8-bit quantisation noise ((1/255)² / 12 ≈
    1.3e-6), so flat regions compare as equal, not as infinitely apart. The same as :func:`_band_energy` per region
    without its final smoothing (a mean over the region does not need it), sharing the blurs the two regions have
    in common: G(y·(1−w)) = G(y) − G(y·w) and G(1−w) = 1 − G(w)."""
    area = int(m.sum())
    if area < 32 or area == m.size:
        return None
    din = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)
    dout = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3)
    reach = max(3.0, np.sqrt(area) / 3.0)  # how far a ring pixel's detail is expected to carry
    ring = (~m) & (dout <= 2 * reach)
    if ring.sum() < 16:
        return None
    w = m.astype(np.float32)
    yw = y * w
    smooth: dict[float, tuple[np.ndarray, np.ndarray]] = {}  # σ -> (fill mean, ring mean) within each region

    def means(s: float) -> tuple[np.ndarray, np.ndarray]:
        if s not in smooth:
            gw, gyw, gy = _blur_c(w, s), _blur_c(yw, s), _blur_c(y, s)
            smooth[s] = (gyw / np.maximum(gw, 1e-6), (gy - gyw) / np.maximum(1 - gw, 1e-6))
        return smooth[s]

    spread = _Spread(ring, reach + din.max() / 2)
    out = []
    for s in sigmas:
        (f1, r1), (f2, r2) = means(s), means(2 * s)
        e_fill = float(((f1 - f2)[m] ** 2).mean())
        pred = spread((r1 - r2) ** 2)
        out.append(float(np.log((e_fill + eps) / (pred[m].mean() + eps))))
    return out


def work_crop(y: np.ndarray, m: np.ndarray, side: int = WORK_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """Luma crop and hole brought to at most ``side`` px on the longer side (:func:`bench.detectors.real_head._work`)."""
    return _work(y, m, side)


class RealCuesDetector(Detector):
    """Prototype: detail deficit (blur) and detail excess (replacement) against a per-pixel prediction from the
    ring; scores only unless thresholds are given (none are shipped)."""

    registry_name = "real_cues"
    version = 1

    def __init__(self, blur_threshold: float | None = None, replacement_threshold: float | None = None):
        self.blur_threshold = blur_threshold
        self.replacement_threshold = replacement_threshold

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        b = batch.size
        deficit, excess = nan_array(b), nan_array(b)
        for i in range(b):
            m = mask2d(batch.mask[i])
            if not m.any():
                continue
            margin = int(max(16, np.sqrt(m.sum())))
            ys, xs = crop_box(m, margin)
            r = detail_ratios(*work_crop(luma(batch.output[i][:, ys, xs]), m[ys, xs]))
            if r is None:
                continue
            deficit[i] = -float(np.mean(r))
            excess[i] = float(np.mean(r))
        return {"real_cues_blur_score": deficit, "real_cues_replacement_score": excess}

    def detect(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        s = self.scores(batch)
        out = dict(s)
        for key, t in (("blur", self.blur_threshold), ("replacement", self.replacement_threshold)):
            sc = s[f"real_cues_{key}_score"]
            f = nan_array(len(sc))
            if t is not None:
                ok = ~np.isnan(sc)
                f[ok] = (sc[ok] > t).astype(np.float64)
            out[f"real_cues_{key}_flag"] = f
        return out
