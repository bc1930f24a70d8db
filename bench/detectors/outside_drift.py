"""``outside_drift``: the backend redrew the area it was meant to keep."""
from __future__ import annotations

import numpy as np
import torch

from ..types import EvalBatch
from ._util import nan_array
from .thresholds import CalibratedDetector


class OutsideDriftDetector(CalibratedDetector):
    """Raw output changed the unmasked area: PSNR outside the hole (raw vs input) under a threshold.

    ``outside_drift_score`` = PSNR in dB over every pixel and channel outside the hole, between the raw output
    (never pasted back) and the input; +inf when untouched, NaN when the hole covers everything. Flag when the
    score is *below* the threshold (a VAE round trip lands near 25-32 dB; 8-bit rounding alone gives ~59 dB).
    """

    key = "outside_drift"
    direction = "below"

    def __init__(self, threshold: float | None = None, thresholds_file: str | None = None) -> None:
        self._thresholds(thresholds_file, threshold=threshold)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        keep = (~batch.mask.bool()).float()  # [B, 1, H, W]
        n = keep.flatten(1).sum(1) * batch.raw.shape[1]
        se = ((batch.raw.float() - batch.input.float()) ** 2 * keep).flatten(1).sum(1)
        mse = (se / n.clamp_min(1)).double()
        score = (10.0 * torch.log10(1.0 / mse)).cpu().numpy()  # mse 0 -> +inf
        score = np.where(n.cpu().numpy() > 0, score, np.nan)
        out = nan_array(batch.size)
        out[:] = score
        return {"outside_drift_score": out}
