"""``resized``: the backend returned a picture of another size than it was asked for."""
from __future__ import annotations

import numpy as np

from ..types import EvalBatch
from ._util import nan_array
from .thresholds import CalibratedDetector


class ResizedDetector(CalibratedDetector):
    """Backend output size differs from the size it was asked for (raw_sizes vs model_sizes).

    ``resized_score`` = the largest relative size change over height and width, ``|raw - asked| / asked``
    (0 = same size; 0.36 for PowerPaint's 1500 -> 960). Flag when the score exceeds the threshold (0: any
    difference, even one pixel). NaN when the runner gave no sizes.
    """

    key = "resized"

    def __init__(self, threshold: float | None = None, thresholds: str | None = None) -> None:
        self._thresholds(thresholds, threshold=threshold)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        b = batch.size
        score = nan_array(b)
        raw, asked = list(batch.raw_sizes or []), list(batch.model_sizes or [])
        for i in range(min(b, len(raw), len(asked))):
            (rh, rw), (mh, mw) = raw[i], asked[i]
            if mh > 0 and mw > 0:
                score[i] = max(abs(rh - mh) / mh, abs(rw - mw) / mw)
        return {"resized_score": score}
