"""Weight-free features of a fill against its surroundings, and the tiny logistic heads fitted on REAL outputs.

The shipped ``blur`` and ``replacement`` scores were designed on constructed cases (synthetic smears, pasted
patches); on published model outputs a smear keeps some grain (JPEG ringing, GAN grain) while it loses structure at
every scale, and a model's invented object takes its colours from the scene (docs/detectors.md, "Real outputs").
This module measures, on the luma of a crop around the hole brought to ``WORK_SIDE`` px:

* ``detail_1``, ``detail_2``, ``detail_4``: ln(fill detail / detail the ring predicts at each hole pixel) at
  σ 1, 2, 4 (:func:`bench.detectors.real_cues.detail_ratios`: difference-of-Gaussians energy filtered within each
  region, the ring's spread into the hole by normalised convolution);
* ``coherence``: the fill's mean gradient-orientation coherence (structure tensor at σ 2) minus the ring's, both
  weighted by gradient energy: a smear keeps grain but loses oriented structure (edges, lines);
* ``chroma``: the same detail ratio on the CIE a and b channels, averaged over both and the three scales: real
  smears (ProFill's, LaMa's on large holes) lose colour variation more than lightness;
* ``continuity``: of the strong edges that cross into the hole's border band from the ring, the share whose
  orientation the fill continues just inside (ln of the fill's oriented energy there over the ring's, clipped).

A head is a logistic regression on standardised features (``(x - mean) / scale``, then ``w · z + b``): its score
is the logit, so ``score > 0`` is "more likely than not" on the data it was fitted on. The heads' numbers live in
the thresholds file (``detectors.<name>.head``), written by ``benchmarks/detectors_real_fit.py`` from the corpus's
dev split only. No weights are downloaded: the default stays weight-free.
"""
from __future__ import annotations

import collections
import functools
import json
import math
import weakref
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ._util import crop_box, hwc

#: the scales of the detail ratios (each against twice its σ)
SIGMAS = (1.0, 2.0, 4.0)
#: the crop around the hole is brought to at most this many pixels on its longer side first (scales are relative
#: to the hole's surroundings, and the cost stays flat at any resolution)
WORK_SIDE = 96
LUMA = (0.299, 0.587, 0.114)  # as bench.detectors._util.luma
FEATURES = ("detail_1", "detail_2", "detail_4", "coherence", "continuity", "chroma")


def _coherence(y: np.ndarray, region: np.ndarray, s: float = 2.0) -> float:
    """Gradient-energy-weighted mean orientation coherence ((λ1 − λ2) / (λ1 + λ2) of the structure tensor at σ
    ``s``) over ``region`` (NaN: no gradient there)."""
    return _coherences(y, (region,), s)[0]


def _coherences(y: np.ndarray, regions: tuple[np.ndarray, ...], s: float = 2.0) -> list[float]:
    """:func:`_coherence` of ``y`` over each of ``regions`` (the gradients computed once)."""
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3)
    gxx, gyy, gxy = gx * gx, gy * gy, gx * gy
    out = []
    for region in regions:
        w = region.astype(np.float32)
        jxx = cv2.GaussianBlur(gxx * w, (0, 0), s)
        jyy = cv2.GaussianBlur(gyy * w, (0, 0), s)
        jxy = cv2.GaussianBlur(gxy * w, (0, 0), s)
        tr = jxx + jyy
        coh = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / np.maximum(tr, 1e-9)
        # the sums over the region: OpenCV's means there (in double precision), times its pixel count
        mu, n = region.view(np.uint8), np.count_nonzero(region)
        e = cv2.mean(tr, mu)[0]
        out.append(math.nan if e * n <= 1e-9 else cv2.mean(coh * tr, mu)[0] / e)
    return out


def _continuity(y: np.ndarray, m: np.ndarray, din: np.ndarray, dout: np.ndarray, band: float = 4.0) -> float:
    """ln(oriented gradient energy just inside the hole / just outside), along the ring's strong edges' normals:
    the gradient just outside projected on its own direction, compared with the gradient just inside at the nearest
    border pixel projected on the same direction. Edges that run into the hole and stop give large negative values;
    NaN when the ring has no strong edge at the border."""
    outside = (~m) & (dout > 1) & (dout <= 1 + band)
    inside = m & (din > 1) & (din <= 1 + band)
    if np.count_nonzero(outside) < 8 or np.count_nonzero(inside) < 8:
        return math.nan
    sm = cv2.GaussianBlur(y, (0, 0), 1.0)
    gx = cv2.Sobel(sm, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(sm, cv2.CV_32F, 0, 1, ksize=3)
    g2 = gx * gx + gy * gy
    # direction field of the ring's edges, spread into the hole's border band (normalised convolution)
    w = outside.astype(np.float32) * g2
    # double-angle representation, so opposite gradients agree
    dxy, gxy2 = gx * gx - gy * gy, 2 * gx * gy
    ng = np.maximum(g2, 1e-9)
    c2 = cv2.GaussianBlur(w * dxy / ng, (0, 0), band)
    s2 = cv2.GaussianBlur(w * gxy2 / ng, (0, 0), band)
    den = np.maximum(cv2.GaussianBlur(w, (0, 0), band), 1e-9)
    c2, s2 = c2 / den, s2 / den
    # energy of the gradient along that direction: |g|² cos²(θ − φ) = (|g|² + (gx² − gy²) c + 2 gx gy s) / 2
    proj = 0.5 * (g2 + dxy * c2 + gxy2 * s2)
    e_out, e_in = cv2.mean(proj, outside.view(np.uint8))[0], cv2.mean(proj, inside.view(np.uint8))[0]
    eps = 1e-4
    return float(np.clip(math.log((e_in + eps) / (e_out + eps)), -4.0, 4.0))


def _blur_c(x: np.ndarray, s: float) -> np.ndarray:
    """Gaussian blur of an image of one or more channels (the shape is kept); from σ 8 on, on a grid coarsened so
    that the kernel is σ 4 there (then brought back)."""
    if s < 8:
        return cv2.GaussianBlur(x, (0, 0), s).reshape(x.shape)
    h, w = x.shape[:2]
    f = s / 4.0
    size = (max(1, round(w / f)), max(1, round(h / f)))
    small = cv2.GaussianBlur(cv2.resize(x, size, interpolation=cv2.INTER_AREA), (0, 0), 4.0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(x.shape)


def detail_ratios_c(img: np.ndarray, m: np.ndarray, sigmas=SIGMAS, eps: float = 2e-6,
                    dist: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
    """:func:`bench.detectors.real_cues.detail_ratios` for every channel of ``img`` (float32 [H, W, C], C ≤ 4) at
    once: the same normalised convolutions, each blur computed once for all channels. Returns [C,
    len(sigmas)] (None: the hole is too small or fills the crop). ``dist``: the distances to the hole's border
    inside and outside it when the caller has them."""
    area = int(np.count_nonzero(m))
    if area < 32 or area == m.size:
        return None
    din, dout = dist if dist is not None else _distances(m)
    reach = max(3.0, np.sqrt(area) / 3.0)
    ring = (~m) & (dout <= 2 * reach)
    if np.count_nonzero(ring) < 16:
        return None
    c = img.shape[2]

    def rep(a: np.ndarray) -> np.ndarray:  # [H, W] -> [H, W, C] (NumPy broadcasts along a short last axis slowly)
        return a[..., None] if c == 1 else cv2.merge([a] * c).reshape(*a.shape, c)

    w = m.astype(np.float32)
    yw = img * rep(w)
    smooth: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def means(s: float) -> tuple[np.ndarray, np.ndarray]:
        if s not in smooth:
            gw, gyw, gy = rep(_blur_c(w, s)), _blur_c(yw, s), _blur_c(img, s)
            smooth[s] = (gyw / np.maximum(gw, 1e-6), (gy - gyw) / np.maximum(1 - gw, 1e-6))
        return smooth[s]

    wr = ring.astype(np.float32)
    wr_c = rep(wr)
    spread_sigma = reach + din.max() / 2
    den = rep(np.maximum(_blur_c(wr, spread_sigma), 1e-6))
    mu = m.view(np.uint8)
    out = np.empty((c, len(sigmas)))
    for k, s in enumerate(sigmas):
        (f1, r1), (f2, r2) = means(s), means(2 * s)
        # means over the hole (OpenCV's, in double precision)
        e_fill = np.asarray(cv2.mean((f1 - f2) ** 2, mu)[:c])
        pred = np.asarray(cv2.mean(_blur_c((r1 - r2) ** 2 * wr_c, spread_sigma) / den, mu)[:c])
        out[:, k] = np.log((e_fill + eps) / (pred + eps))
    return out


def _distances(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (px) of each hole pixel to the nearest pixel outside the hole, and of each pixel outside to the
    nearest hole pixel."""
    return (cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3),
            cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3))


def _work(img: np.ndarray, m: np.ndarray, side: int = WORK_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """The crop ([H, W] or [H, W, C]) and its hole brought to at most ``side`` px on the longer side (area; the
    hole: area share > 1/2)."""
    h, w = m.shape
    f = side / max(h, w)
    if f >= 1:
        return img.astype(np.float32), m
    size = (max(1, round(w * f)), max(1, round(h * f)))
    img = cv2.resize(np.asarray(img, np.float32), size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0],
                                                                                        *img.shape[2:])
    m = cv2.resize(m.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
    return img, m


def features(out_chw, m: np.ndarray, chroma: bool = True, *, _box: tuple[slice, slice] | None = None) -> np.ndarray:
    """The :data:`FEATURES` of one output (an RGB tensor [3, H, W] in [0, 1]; ``m`` bool hole [H, W]); NaNs where
    the hole is too small or too large to judge. ``blur`` and ``replacement`` ask for the same output's features
    one after the other: the last few are kept (:func:`features_cached`). ``chroma=False``: ``chroma`` is left NaN
    and only luma is analysed (for a head that does not read it: a third of the filtering)."""
    out = np.full(len(FEATURES), np.nan)
    if not m.any():
        return out
    ys, xs = _crop(m) if _box is None else _box  # (_box: :func:`_crop` of m, when the caller has it)
    # brought to the working size first (area), then to luma and CIE a, b (float Lab: a, b in about ±127)
    rgb, mc = _work(np.ascontiguousarray(hwc(out_chw[:, ys, xs]), dtype=np.float32), m[ys, xs], WORK_SIDE)
    if chroma:
        img = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB) / 255.0
        img[..., 0] = rgb @ np.asarray(LUMA, np.float32)  # lightness channel: luma, as the other detectors read it
    else:
        img = (rgb @ np.asarray(LUMA, np.float32))[..., None]
    din, dout = _distances(mc)
    r = detail_ratios_c(img, mc, dist=(din, dout))
    if r is None:
        return out
    yc = np.ascontiguousarray(img[..., 0])
    out[:3] = r[0]
    if chroma:
        out[5] = float(r[1:].mean())
    reach = max(3.0, math.sqrt(np.count_nonzero(mc)) / 3.0)
    ringr = (~mc) & (dout <= 2 * reach) & (dout > 1)
    inner = mc & (din > 1)
    if np.count_nonzero(inner) >= 16 and np.count_nonzero(ringr) >= 16:
        cf, cr = _coherences(yc, (inner, ringr))
        out[3] = cf - cr if not (math.isnan(cf) or math.isnan(cr)) else 0.0
    c = _continuity(yc, mc, din, dout)
    out[4] = 0.0 if math.isnan(c) else c
    return out


_LAST: collections.OrderedDict = collections.OrderedDict()


def _crop(m: np.ndarray) -> tuple[slice, slice]:
    """The part of the image :func:`features` reads: the hole's bounding box grown by the side of a square of the
    hole's area (at least 16 px)."""
    return crop_box(m, int(max(16, np.sqrt(np.count_nonzero(m)))))


def features_cached(out_chw, m: np.ndarray, chroma: bool = True) -> np.ndarray:
    """:func:`features`, the last 32 results kept by content (the output's memory and shape, the sum of the crop
    :func:`features` reads, and the mask's bytes) while the tensor they were computed on lives: the weight-free
    detectors score the same batch one after the other, and a later batch often lands in a freed one's memory (an
    output of the same sample whose crop has the same sum was served the old output's features). A result without
    ``chroma`` serves only callers that do not ask for it."""
    ys, xs = _crop(m)
    # (NumPy's sum: torch's thread pool costs milliseconds on a busy machine)
    crop_sum = float(out_chw.detach().cpu().numpy()[:, ys, xs].sum(dtype=np.float64))
    key = (out_chw.data_ptr(), tuple(out_chw.shape), (ys.start, ys.stop, xs.start, xs.stop), crop_sum,
           hash(m.tobytes()))
    owner = out_chw if out_chw._base is None else out_chw._base  # (a batch's row is a view of the batch)
    hit = _LAST.get(key)
    if hit is not None and hit[2]() is owner and (hit[1] or not chroma):
        _LAST.move_to_end(key)
        return hit[0].copy()
    x = features(out_chw, m, chroma, _box=(ys, xs))
    _LAST[key] = x, chroma, weakref.ref(owner)
    _LAST.move_to_end(key)
    if len(_LAST) > 32:
        _LAST.popitem(last=False)
    return x.copy()


def heads_path() -> Path:
    return Path(str(resources.files("bench").joinpath("data/real_heads.json")))


@functools.lru_cache(maxsize=4)
def _heads(path: str) -> dict[str, Any]:
    p = Path(path)
    return json.loads(p.read_text()) if p.is_file() else {}


def load_head(name: str) -> dict[str, Any] | None:
    """The shipped head of detector ``name`` (``bench/data/real_heads.json``), None when there is none."""
    return _heads(str(heads_path())).get("heads", {}).get(name)


def logit(head: dict[str, Any] | None, x: np.ndarray, extra: dict[str, float] | None = None) -> float:
    """The head's logit for one feature vector ``x`` (:data:`FEATURES` order) and the detector's own scores
    ``extra`` (e.g. ``blur_score``), as ``head['features']`` names them; NaN without a head or with a NaN input."""
    if not head:
        return math.nan
    names = head["features"]
    extra = extra or {}
    v = np.asarray([x[FEATURES.index(n)] if n in FEATURES else extra.get(n, math.nan) for n in names],
                   dtype=np.float64)
    if np.isnan(v).any():
        return math.nan
    z = (v - np.asarray(head["mean"])) / np.asarray(head["scale"])
    return float(z @ np.asarray(head["coef"]) + float(head["intercept"]))


def fit(x: np.ndarray, y: np.ndarray, names: tuple[str, ...] = FEATURES, l2: float = 1.0,
        iters: int = 100) -> dict[str, Any]:
    """A deterministic L2-regularised logistic regression (Newton's method) on standardised ``x`` [n, k] against
    ``y`` (bool), classes weighted to balance; returns the head as plain numbers (rounded to 6 decimals)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-9] = 1.0
    z = np.column_stack([(x - mean) / scale, np.ones(len(x))])
    pos = y.sum()
    sw = np.where(y > 0, len(y) / (2 * max(pos, 1)), len(y) / (2 * max(len(y) - pos, 1)))
    beta = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(z @ beta)))
        g = z.T @ (sw * (p - y)) + reg * beta
        h = (z * (sw * p * (1 - p))[:, None]).T @ z + np.diag(reg)
        step = np.linalg.solve(h, g)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    r = lambda a: [round(float(v), 6) for v in a]  # noqa: E731
    return {"features": list(names), "mean": r(mean), "scale": r(scale), "coef": r(beta[:-1]),
            "intercept": round(float(beta[-1]), 6), "l2": l2, "class_weight": "balanced"}
