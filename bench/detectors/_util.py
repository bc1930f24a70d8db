"""Shared, weight-free image helpers for the detectors (numpy / OpenCV, one image at a time).

All helpers take float32 arrays in [0, 1]; masks are bool [H, W] (True = hole).
"""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def hwc(t: torch.Tensor) -> np.ndarray:
    """[3, H, W] tensor -> float32 [H, W, 3] array (contiguous: OpenCV's channel merge, several times faster than
    NumPy's transposing copy)."""
    return cv2.merge(list(t.detach().float().cpu().numpy()))


def luma(t: torch.Tensor) -> np.ndarray:
    """[3, H, W] tensor -> float32 [H, W] luminance (Rec. 601 weights)."""
    x = t.detach().float().cpu().numpy()
    out = np.multiply(x[0], _LUMA[0])  # accumulated into one array: no temporary sums
    term = np.multiply(x[1], _LUMA[1])
    out += term
    out += np.multiply(x[2], _LUMA[2], out=term)
    return out


def channel_mean(x: np.ndarray) -> np.ndarray:
    """``x.mean(2)`` of a float32 [H, W, 3] array, bitwise (the same sum, ``(c0 + c1) + c2``, the same correctly
    rounded division by 3), in whole-plane additions: NumPy's reduction over a short last axis is about 20x
    slower."""
    s = x[..., 0] + x[..., 1]
    s += x[..., 2]
    return np.divide(s, np.float32(3), out=s)


def absdiff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.abs(a - b)`` of float32 [H, W] or [H, W, C] arrays in one pass (OpenCV's: the same values; NumPy's for an
    empty one, which OpenCV returns as None). Not for [C, H, W] arrays: OpenCV reads a last axis longer than 512 as
    too many channels."""
    return cv2.absdiff(a, b) if a.size else np.abs(a - b)


def share(a: np.ndarray) -> float:
    """``float(a.mean())`` of a bool array (NaN when empty), as a count: the same float64 division."""
    return np.count_nonzero(a) / a.size if a.size else math.nan


def mask2d(m: torch.Tensor) -> np.ndarray:
    """[1, H, W] (or [H, W]) bool tensor -> bool [H, W] array."""
    m = m.detach().cpu()
    if m.dim() == 3:
        m = m[0]
    return m.numpy().astype(bool)


def inside_distance(m: np.ndarray) -> np.ndarray:
    """Distance (px) of each hole pixel to the nearest non-hole pixel (0 outside the hole)."""
    # Holes touching the image border: the border is not context, so pad with "hole" where the mask touches it.
    u = cv2.copyMakeBorder(m.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_REPLICATE)  # (np.pad's "edge", faster)
    d = cv2.distanceTransform(u, cv2.DIST_L2, 3)
    return d[1:-1, 1:-1]


def ring_width(m: np.ndarray, lo: int = 8, hi: int = 40, frac: float = 0.35) -> int:
    """Context ring width grown with the hole: ``frac`` of the hole's equivalent radius, clipped to [lo, hi]."""
    area = float(np.count_nonzero(m))
    r_eq = math.sqrt(area / math.pi) if area > 0 else 0.0
    return int(min(hi, max(lo, round(frac * r_eq * 2))))


def outside_distance(m: np.ndarray) -> np.ndarray:
    """Distance (px) of each non-hole pixel to the nearest hole pixel (0 inside the hole)."""
    return cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3)


def ring(m: np.ndarray, width: float, gap: float = 2, dist: np.ndarray | None = None) -> np.ndarray:
    """Context band around the hole: more than ``gap`` px from it, at most ``gap + width`` px.

    ``dist``: :func:`outside_distance` of ``m`` when the caller already has it.
    """
    d = outside_distance(m) if dist is None else dist
    return (d > gap) & (d <= gap + width)


def masked_mean(x: np.ndarray, region: np.ndarray) -> float:
    """Mean of float32 [H, W] ``x`` over the bool [H, W] ``region`` (NaN when it is empty): ``x[region].mean()`` up
    to float rounding, as a dot product with the region's 0/1 weights (several times faster than boolean
    indexing)."""
    n = np.count_nonzero(region)
    if n == 0:
        return math.nan
    with np.errstate(invalid="ignore", over="ignore"):
        v = float(np.dot(x.ravel(), region.ravel().astype(np.float32))) / n
    # a NaN or infinity anywhere in x spoils the product (0 * NaN): then only the region's own values decide
    return v if math.isfinite(v) else float(x[region].mean())


def masked_median(x: np.ndarray, region: np.ndarray) -> float:
    """``float(np.median(x[region]))``, equal to it (the same middle value, or the same float32 mean of the two
    middle values), in a partial sort of the region's values in place of NumPy's copy-and-sort: NaN when the
    region is empty or holds a NaN."""
    v = x[region]
    n = v.size
    if n == 0 or np.isnan(v).any():
        return math.nan
    k = n // 2
    v.partition(k)
    hi = v[k]
    if n % 2:
        return float(hi)
    return float((v[:k].max() + hi) / 2)  # (NumPy's mean of the two, in the array's own precision)


def nan_array(b: int) -> np.ndarray:
    return np.full(b, np.nan, dtype=np.float64)


def score_column(scores, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """``scores[key]`` as float64, or NaN everywhere when there is no such column: a score stored before it existed,
    or one that is NaN for every sample of a run (the store keeps no NaN value, so the run read back has no column:
    ``blur_ref_score`` in a removal run without truth). A flag rule reads every optional score through this."""
    v = scores.get(key)
    return np.full(shape, np.nan) if v is None else np.asarray(v, dtype=np.float64)


def margin(scores: np.ndarray, threshold: float | None, direction: str = "above") -> np.ndarray:
    """How far each score is past ``threshold`` on the side that flags, relative to it: ``(s - t) / |t|`` (``s - t``
    where t is 0; ``t - s`` over ``|t|`` for ``direction: below``); NaN where the score is NaN or no threshold is set.

    Above 0 exactly where ``s > t`` (``s < t`` below), in floating point too: two distinct floats never subtract to
    0, and a difference is at least 2**-54 of ``|t|`` when ``|t| >= 1`` (no division by ``|t|`` can round it to 0),
    at least itself when ``|t| < 1``. An infinite threshold gives +1 or -1. Every flag rule is written once, as
    margins (:meth:`~bench.detectors.thresholds.CalibratedDetector.margins`): the flags are their signs
    (:func:`past`), and the calibration's rule score (:mod:`bench.calibration.rule`) is the margin itself."""
    s = np.asarray(scores, dtype=np.float64)
    if threshold is None:
        return np.full(s.shape, np.nan)
    t = float(threshold)
    if not math.isfinite(t):
        side = s > t if direction == "above" else s < t
        return np.where(np.isnan(s), np.nan, np.where(side, 1.0, -1.0))
    with np.errstate(over="ignore"):  # (a difference past the largest float is an infinity of the right sign)
        d = s - t if direction == "above" else t - s
        return d / abs(t) if t != 0 else d


def past(margins: np.ndarray) -> np.ndarray:
    """0/1 flags (float) from margins (:func:`margin`): 1 where above 0, NaN where NaN (not judged)."""
    m = np.asarray(margins, dtype=np.float64)
    return np.where(np.isnan(m), np.nan, (m > 0).astype(np.float64))


def flag(scores: np.ndarray, threshold: float | None, direction: str = "above") -> np.ndarray:
    """0/1 flags (float), NaN where the score is NaN or no threshold is known: the sign of :func:`margin`."""
    return past(margin(scores, threshold, direction))


def veto(margins: np.ndarray, veto_margins: np.ndarray) -> np.ndarray:
    """A part's margins that also need the veto's past its threshold where the veto is measured: the smaller of the
    two there, the part's own where the veto's margin is NaN (not measured: no ground truth, no detail under the
    hole, a score stored before it existed; or no threshold set). A condition that can take flags away and never
    add one."""
    return np.where(np.isnan(veto_margins), margins, np.minimum(margins, veto_margins))


def crop_box(m: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Slices of the hole's bounding box grown by ``margin`` px (clipped to the image): all a detector needs to see
    when its context ring and filters reach at most ``margin`` px from the hole."""
    if m.size == 0:
        return slice(0, 0), slice(0, 0)
    x, y, bw, bh = cv2.boundingRect(np.ascontiguousarray(m, dtype=bool).view(np.uint8))  # (0 x 0: nothing set)
    if bw == 0:
        return slice(0, 0), slice(0, 0)
    h, w = m.shape
    return slice(max(0, y - margin), min(h, y + bh + margin)), slice(max(0, x - margin), min(w, x + bw + margin))


def pushpull(v: np.ndarray, known: np.ndarray) -> np.ndarray:
    """A smooth interpolation of ``v`` (float [H, W] or [H, W, C]) where ``known`` (float [H, W], 0/1) is 0 from where
    it is 1 (push-pull: weighted averages down a Gaussian pyramid, then each level keeps its own value where it has
    data and takes the coarser level's elsewhere)."""
    if v.ndim == 3:  # the same pyramid of weights for every channel
        known = np.repeat(known[..., None], v.shape[2], axis=2)
    vals, ws = [v * known], [known]
    while min(vals[-1].shape[:2]) > 4:
        vals.append(cv2.pyrDown(vals[-1]))
        ws.append(cv2.pyrDown(ws[-1]))
    out = vals[-1] / np.maximum(ws[-1], 1e-6)
    for lv, lw in zip(vals[-2::-1], ws[-2::-1]):
        up = cv2.pyrUp(out, dstsize=(lv.shape[1], lv.shape[0]))
        a = np.minimum(1.0, 2.0 * lw)
        out = a * lv / np.maximum(lw, 1e-6) + (1 - a) * up
    return out


#: the longest side, in pixels, the fill detectors (``blur``, ``replacement``, ``incomplete``) judge a frame at: their
#: thresholds were set on 256 px constructed cases and their real-output figures measured with frames of at most
#: 512 px (docs/detectors.md, "Working scale")
WORK_SIDE = 512
#: the smallest working scale accepted: a hole must be about 16 px across at the working scale to be judged at all
MIN_WORK_SIDE = 64


def check_params(**bounds: tuple[float | None, float | None, float | None]) -> None:
    """Refuse a detector parameter outside its range: ``name=(value, lowest, highest)`` (None: no bound; a None
    value is the parameter's "off" and is not checked). A ValueError naming it, which the registry reports with the
    suite's key path: a nonsense value (``n_sectors: 0``, ``tol: -1``, ``work_side: 0``) would otherwise divide by
    zero, flag every sample or none, or judge nothing, silently."""
    for name, (value, lo, hi) in bounds.items():
        if value is None:
            continue
        if not math.isfinite(float(value)) or (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = (f"at least {lo}" if hi is None else f"at most {hi}" if lo is None else f"between {lo} and {hi}")
            raise ValueError(f"{name} must be {rng}, got {value!r}")


_WORKING = "_working"  # (where working_batch keeps its downscaled batches on a batch)


def forget_working(batch) -> None:
    """Drop the downscaled batches :func:`working_batch` keeps on ``batch``: the next detector downscales afresh, as
    it does for a run's new batch (a benchmark timing one batch several times)."""
    batch.__dict__.pop(_WORKING, None)


def working_batch(batch, side: int | None):
    """``batch`` with every image at most ``side`` px on its longer side: ``output``, ``raw``, ``input``, ``blanked``,
    ``gt`` and ``composite`` by area averaging, ``mask`` by nearest neighbour (the corpus benchmark's downscale);
    the sizes recorded in the batch (``raw_sizes``, ``model_sizes``, ``input_sizes``) are kept. ``side`` None (or a
    frame no larger) gives ``batch`` itself. A tensor the batch holds twice (``raw`` that *is* ``output``: nothing
    pasted back) is downscaled once and stays one tensor; the result is kept on ``batch``, so every detector asking
    for the same side shares one downscale."""
    h, w = batch.output.shape[-2:]
    if side is None or max(h, w) <= side:
        return batch
    cache = batch.__dict__.setdefault(_WORKING, {})
    if side in cache:
        return cache[side]
    s = side / max(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    done: dict[int, torch.Tensor] = {}

    def area(t):
        if t is None:
            return None
        if id(t) not in done:
            done[id(t)] = F.interpolate(t.float(), size=size, mode="area").to(t.dtype)
        return done[id(t)]

    mask = F.interpolate(batch.mask.float(), size=size, mode="nearest") > 0.5
    # (no row with truth: the zeros stay zeros, at the new size, without the work)
    gt = area(batch.gt) if bool(batch.has_gt.any()) else batch.gt.new_zeros((*batch.gt.shape[:-2], *size))
    small = dataclasses.replace(batch, output=area(batch.output), raw=area(batch.raw), input=area(batch.input),
                                blanked=area(batch.blanked), gt=gt, mask=mask.to(batch.mask.dtype),
                                composite=area(batch.composite))
    cache[side] = small
    return small
