"""``outside_drift``: the backend redrew the area it was meant to keep."""
from __future__ import annotations

import math

import numpy as np

from ..types import EvalBatch
from ._util import crop_box, mask2d, nan_array
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
            d = batch.raw[i].detach().float().cpu().numpy() - batch.input[i].detach().float().cpu().numpy()
            ys, xs = crop_box(hole, 0)
            d *= d  # no BLAS (np.dot): its threads spin against the other work of a busy machine
            se = float(d.sum(dtype=np.float64)) - float(d[:, ys, xs][:, hole[ys, xs]].sum(dtype=np.float64))
            mse = max(se, 0.0) / (n_out * d.shape[0])
            score[i] = math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)
        return {"outside_drift_score": score}
