"""``incomplete``: object removal left (part of) the object in place."""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..types import EvalBatch
from ._util import (MIN_WORK_SIDE, WORK_SIDE, absdiff, check_params, channel_mean, crop_box, hwc, margin, mask2d, nan_array, pushpull, score_column,
                    share, veto, working_batch)
from .thresholds import CalibratedDetector

#: ``incomplete_remnant_flag``: a quarter of the object's contrast still in the fill. Not fitted: correct fills
#: score near 0 (constructed removals with the truth exactly 0; push-pull background: |score| mostly below 0.1),
#: a ghost at 35 % opacity 0.35 (benchmarks/detectors_ghosts.py prints both)
REMNANT_MIN = 0.25
#: ``incomplete_flag`` needs ``incomplete_detail_score`` above this: the object kept at least half its fine structure
#: (a smear of it keeps a tenth or less)
DETAIL_MIN = 0.5
#: the scale (px, Gaussian sigma) at which the remnant is measured: coarse enough that a smear of the object still
#: counts, fine enough to keep its layout
REMNANT_SIGMA = 2.0
#: how far (px) from a matching pixel the detail share looks for the object's edges and texture
DETAIL_REACH = 3
#: detailed pixels next to a match that decide the detail share (they separate widely: a kept part ~1, a smear
#: 0.01-0.17 on the constructed cases of benchmarks/detectors_ghosts.py)
DETAIL_NEAR_PIXELS = 4
_DISC = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * DETAIL_REACH + 1,) * 2)
#: the remnant is measured at least 2 REMNANT_SIGMA px inside the hole
_REMNANT_DISC = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * math.ceil(2 * REMNANT_SIGMA) + 1,) * 2)


def _local_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b|`` per pixel, channel mean, 3x3 mean ([H, W, 3] -> [H, W]): how far two crops differ around each
    pixel."""
    return cv2.blur(channel_mean(absdiff(a, b)), (3, 3))


def _fine(x: np.ndarray) -> np.ndarray:
    """Fine structure per pixel: ``|x - G_1(x)|``, channel mean, 3x3 mean ([H, W, 3] -> [H, W])."""
    return _local_diff(x, cv2.GaussianBlur(x, (0, 0), 1.0))


def remnant_share(inp: np.ndarray, out: np.ndarray, background: np.ndarray, sel: np.ndarray,
                  min_contrast: float = 0.03) -> float:
    """The share of the object the fill still shows: ``a`` of the least-squares fit ``G(out) ~ a G(inp) + b
    G(background) + c`` over ``sel`` (``G``: Gaussian of :data:`REMNANT_SIGMA`; [H, W, 3] float arrays, every channel
    centred on its own mean). Fitting both at once matters: content unrelated to the object still correlates with
    ``inp - background`` through the background they share. NaN when the object has too little layout of its own
    to follow (the RMS of ``G(inp)`` left after the background's part is taken out below ``min_contrast``: a flat
    object, or one the background already explains)."""
    g = lambda x: cv2.GaussianBlur(x, (0, 0), REMNANT_SIGMA)[sel].astype(np.float64)  # noqa: E731  [N, 3]
    x1, x2, y = g(inp), g(background), g(out)
    x1, x2, y = x1 - x1.mean(0), x2 - x2.mean(0), y - y.mean(0)
    s11, s22, s12 = float((x1 * x1).sum()), float((x2 * x2).sum()), float((x1 * x2).sum())
    s1y, s2y = float((x1 * y).sum()), float((x2 * y).sum())
    floor = x1.size * min_contrast ** 2
    if s22 <= 1e-12:  # a flat background: the object alone
        return float(s1y / s11) if s11 >= floor else float("nan")
    resid = s11 - s12 * s12 / s22  # what of the object the background does not explain
    if resid < floor:
        return float("nan")
    return float((s22 * s1y - s12 * s2y) / (resid * s22))


class IncompleteDetector(CalibratedDetector):
    """Object still there after removal: share of the hole where the fill still shows the input's pixels.

    The input (not blanked) holds the object to remove under the mask. ``incomplete_score`` = the fraction of
    the hole's *object* pixels where the fill matches the input within ``tol`` (mean absolute difference over a
    3x3 neighbourhood and the channels). The object pixels are those where the input differs by more than
    ``2 tol`` from the background:

    * with ground truth, the truth (a grey object on a grey wall leaves nothing to detect there); a sample whose
      ground truth *is* the input under the mask (reconstruction: generated masks) is not judged (NaN): there,
      reproducing the input is the right answer;
    * without it (object removal photographed once), the surroundings' smooth interpolation into the hole
      (push-pull, :func:`bench.detectors._util.pushpull`): an object mask is drawn with a margin, and a good fill
      reproduces the backdrop of that margin (sky around a bird, a wall around a lamp) as the input shows it, which
      is no object left behind. Where the backdrop is textured, its pixels count too (they stand out from a smooth
      interpolation), and a new texture does not match them: they only dilute the score of a fill that kept the
      object.

    Fewer than ``max(min_pixels, 2 %)`` of the hole's pixels standing out: nothing to remove there, NaN.

    ``incomplete_detail_score`` (v3): how much of the input's fine structure (edges and texture: :func:`_fine`
    above ``tol``) the output still has next to where it matches the object (within ``DETAIL_REACH`` px of a
    matching object pixel), as a ratio of sums (1: all of it). A part of the object kept as it was keeps its
    detail; a smeared remnant of the object (a ghost: the object blurred in place) matches the input only on its
    flat parts and keeps a tenth or less of the detail around them, and is a smear (``blur``'s to judge), not an
    object left in place. A part of the object that was removed is not next to a match and does not count (a
    third of a textured object kept is still ``incomplete``). At least ``DETAIL_NEAR_PIXELS`` detailed pixels next
    to a match decide; with fewer, the ratio over all the object's detail; NaN when fewer than
    ``max(min_pixels, 2 %)`` of the object's pixels have detail (a plain object on a plain backdrop: the main share
    decides). The flag: ``incomplete_score > threshold`` and ``incomplete_detail_score > DETAIL_MIN``.

    ``incomplete_remnant_score`` (v3): how much of the object is still in the fill, at a coarse scale: the least-
    squares slope of the fill's departure from the background on the object's (both blurred with
    ``G_{remnant_sigma}``, over the object's pixels at least ``2 remnant_sigma`` inside the hole): 1 = the object
    as it was (also smeared in place), 0 = gone (a fill that follows the background, or content unrelated to the
    object), 0.35 = a ghost at 35 % opacity. With ground truth the background is the truth (a fill
    ``a * input + (1 - a) * truth`` scores ``a`` exactly), without it the push-pull interpolation (a correct fill's
    texture does not follow the object: near 0).
    ``incomplete_remnant_flag`` (score above :data:`REMNANT_MIN`) is a sub-flag, not a verdict of its own: a fill
    that ``blur`` flags *and* that still shows the removed object's layout is a smear of that object (a ghost),
    which the verdict calls ``blur`` even where ``replacement`` reads the object's colours as new
    (:mod:`bench.detectors.verdict`).
    """

    version = 4  # 2: without ground truth, only the pixels that stand out from the surroundings count;
    # 3: the object's detailed pixels must match too (incomplete_detail_score); 4: a frame longer than work_side px
    # is judged downscaled to it (:func:`bench.detectors._util.working_batch`; None: at its own size)

    key = "incomplete"
    extra_scores = ("incomplete_detail_score", "incomplete_remnant_score")
    extra_flags = ("incomplete_remnant_flag",)

    def __init__(self, threshold: float | None = None, tol: float = 0.03, min_pixels: int = 16,
                 thresholds: str | None = None, work_side: int | None = WORK_SIDE) -> None:
        check_params(work_side=(work_side, MIN_WORK_SIDE, None), tol=(tol, 0, 1), min_pixels=(min_pixels, 1, None))
        self.tol = float(tol)
        self.min_pixels = int(min_pixels)
        self.work_side = None if work_side is None else int(work_side)
        self._thresholds(thresholds, threshold=threshold)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        batch = working_batch(batch, self.work_side)
        b = batch.size
        score, detail, remnant = nan_array(b), nan_array(b), nan_array(b)
        has_gt = batch.has_gt.bool().cpu().tolist()
        for i in range(b):
            m = mask2d(batch.mask[i])
            if not m.any():
                continue
            ys, xs = crop_box(m, 2 if has_gt[i] else 8)  # without truth, a ring to interpolate from
            m = m[ys, xs]
            # (NumPy's comparison, not torch.equal: torch's thread pool costs milliseconds on a busy machine)
            if has_gt[i] and np.array_equal(batch.gt[i][:, ys, xs].detach().cpu().numpy(),
                                            batch.input[i][:, ys, xs].detach().cpu().numpy()):
                continue  # reconstruction: the truth is the input under the hole (the rule below, without the work)
            inp = hwc(batch.input[i][:, ys, xs])
            if has_gt[i]:
                background = hwc(batch.gt[i][:, ys, xs])
            else:
                background = pushpull(inp, (~m).astype(np.float32))
            d_bg = _local_diff(background, inp)
            sel = m & (d_bg > 2 * self.tol)  # where there was an object to remove
            if np.count_nonzero(sel) < max(self.min_pixels, 0.02 * np.count_nonzero(m)):
                continue  # nothing under the hole differs from the background (with truth: reconstruction)
            out = hwc(batch.output[i][:, ys, xs])
            d_out = _local_diff(out, inp)
            kept = d_out <= self.tol
            score[i] = share(kept[sel])
            fine = _fine(inp)
            # the object's edges and texture next to where the fill matches it: a part of the object kept as it
            # was keeps them, a smear matches only on the flat parts and loses them (a part that was removed is
            # not next to a match and does not count)
            rich = sel & (fine > self.tol)
            near = rich & (cv2.dilate((kept & sel).astype(np.uint8), _DISC) > 0)
            # (a few detailed pixels next to the matches decide: a part of a plain object kept as it was has its
            # edges there, a smear has none or has lost them)
            if np.count_nonzero(near) >= DETAIL_NEAR_PIXELS:
                detail[i] = float(_fine(out)[near].sum() / fine[near].sum())
            elif np.count_nonzero(rich) >= max(self.min_pixels, 0.02 * np.count_nonzero(sel)):
                # detail, none of it next to a match
                detail[i] = float(_fine(out)[rich].sum() / fine[rich].sum())
            # (away from the hole's edge, where the blur would mix the surroundings into both)
            inner = sel & (cv2.erode(m.astype(np.uint8), _REMNANT_DISC, borderValue=0) > 0)
            if np.count_nonzero(inner) >= self.min_pixels:
                remnant[i] = remnant_share(inp, out, background, inner)
        return {"incomplete_score": score, "incomplete_detail_score": detail, "incomplete_remnant_score": remnant}

    def margins(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``incomplete_score`` above ``threshold`` and, where the input has detail under the hole,
        ``incomplete_detail_score`` above :data:`DETAIL_MIN` (scores stored before v3 have no detail score: the main
        share alone)."""
        main = self._margin(scores["incomplete_score"])
        detail, remnant = (score_column(scores, f"incomplete_{k}_score", main.shape) for k in ("detail", "remnant"))
        return {"incomplete_flag": veto(main, margin(detail, DETAIL_MIN, "above")),
                "incomplete_remnant_flag": margin(remnant, REMNANT_MIN, "above")}

    def describe(self) -> str:
        if self.t["threshold"] is None:
            return "incomplete_flag: no threshold"
        return (f"incomplete_flag = incomplete_score > {self.t['threshold']:g} and (where finite) "
                f"incomplete_detail_score > {DETAIL_MIN:g}")

    def provenance(self):
        return {**super().provenance(), "tol": self.tol, "min_pixels": self.min_pixels, "work_side": self.work_side,
                "detail": "sum |x - G_1(x)| (channel mean, 3x3 mean) of the output / of the input where the "
                          "input's > tol, within detail_reach px of a match",
                "detail_reach": DETAIL_REACH, "detail_near_pixels": DETAIL_NEAR_PIXELS,
                "detail_min": DETAIL_MIN, "remnant_min": REMNANT_MIN,
                "remnant_sigma": REMNANT_SIGMA}
