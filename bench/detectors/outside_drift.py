"""``outside_drift``: the backend redrew the area it was meant to keep."""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..types import EvalBatch
from ._util import mask2d, nan_array
from .thresholds import CalibratedDetector


class OutsideDriftDetector(CalibratedDetector):
    """Raw output changed the unmasked area: PSNR outside the hole (raw vs input) under a threshold.

    ``outside_drift_score`` = PSNR in dB over every pixel and channel outside the hole, between the raw output
    (never pasted back) and the input; +inf when untouched, NaN when the hole covers everything. Flag when the
    score is *below* the threshold (a VAE round trip lands near 25-32 dB; 8-bit rounding alone gives ~59 dB).
    """

    key = "outside_drift"
    direction = "below"

    def __init__(self, threshold: float | None = None, thresholds: str | None = None) -> None:
        self._thresholds(thresholds, threshold=threshold)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        score = nan_array(batch.size)
        for i in range(batch.size):  # one image at a time: stays in cache
            hole = mask2d(batch.mask[i])
            n_out = hole.size - int(hole.sum())
            if n_out == 0:
                continue
            raw = np.ascontiguousarray(batch.raw[i].detach().float().cpu().numpy())
            inp = np.ascontiguousarray(batch.input[i].detach().float().cpu().numpy())
            c, h, w = raw.shape
            # the squared error over the kept pixels in one pass (OpenCV: differences in float32, the sum in
            # double), the channels stacked as rows under the same mask
            keep = np.tile((~hole).view(np.uint8), (c, 1))
            se = cv2.norm(raw.reshape(c * h, w), inp.reshape(c * h, w), cv2.NORM_L2SQR, mask=keep)
            if not math.isfinite(se):  # a NaN or infinity outside the hole: NumPy's verdict on it
                d = (raw - inp)[:, ~hole]
                se = float((d * d).sum(dtype=np.float64))
            mse = max(se, 0.0) / (n_out * c)
            score[i] = math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)
        return {"outside_drift_score": score}
