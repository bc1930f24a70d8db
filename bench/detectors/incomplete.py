"""``incomplete``: object removal left (part of) the object in place."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from ..types import EvalBatch
from ._util import crop_box, hwc, mask2d, nan_array
from .thresholds import CalibratedDetector


class IncompleteDetector(CalibratedDetector):
    """Object still there after removal: share of the hole where the fill still shows the input's pixels.

    The input (not blanked) holds the object to remove under the mask. ``incomplete_score`` = the fraction of
    the hole's pixels where the fill matches the input within ``tol`` (mean absolute difference over a 3x3
    neighbourhood and the channels). Where ground truth exists, only the pixels where the object differs from
    it count (a grey object on a grey wall leaves nothing to detect there), and a sample whose ground truth
    *is* the input under the mask (reconstruction: generated masks) is not judged (NaN): there, reproducing
    the input is the right answer.
    """

    key = "incomplete"

    def __init__(self, threshold: float | None = None, tol: float = 0.03, min_pixels: int = 16,
                 thresholds: str | None = None) -> None:
        self.tol = float(tol)
        self.min_pixels = int(min_pixels)
        self._thresholds(thresholds, threshold=threshold)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        b = batch.size
        score = nan_array(b)
        has_gt = batch.has_gt.bool().cpu().tolist()
        for i in range(b):
            m = mask2d(batch.mask[i])
            if not m.any():
                continue
            ys, xs = crop_box(m, 2)
            m = m[ys, xs]
            if has_gt[i] and torch.equal(batch.gt[i][:, ys, xs], batch.input[i][:, ys, xs]):
                continue  # reconstruction: the truth is the input under the hole (the rule below, without the work)
            inp = hwc(batch.input[i][:, ys, xs])
            sel = m
            if has_gt[i]:
                d_gt = cv2.blur(np.abs(hwc(batch.gt[i][:, ys, xs]) - inp).mean(2), (3, 3))
                sel = m & (d_gt > 2 * self.tol)  # where there was an object to remove
                if int(sel.sum()) < max(self.min_pixels, 0.02 * m.sum()):
                    continue  # reconstruction (gt == input under the hole): not applicable
            d_out = cv2.blur(np.abs(hwc(batch.output[i][:, ys, xs]) - inp).mean(2), (3, 3))
            score[i] = float((d_out[sel] <= self.tol).mean())
        return {"incomplete_score": score}

    def provenance(self):
        return {**super().provenance(), "tol": self.tol, "min_pixels": self.min_pixels}
