"""``noop``: the backend left the hole as it was given (the blank constant)."""
from __future__ import annotations

import numpy as np
import torch

from ..types import EvalBatch
from ._util import nan_array
from .thresholds import CalibratedDetector


class NoopDetector(CalibratedDetector):
    """Hole left unfilled: fraction of hole pixels still equal to what the backend was given (blanked).

    ``noop_score`` = fraction of hole pixels whose every channel is within ``tol`` (2/255) of ``blanked``. Flag
    when it exceeds the threshold. NaN for an empty hole, and where the ground truth itself equals the blank
    constant over most of the hole (a grey wall at exactly 0.5: leaving it is then correct).
    """

    key = "noop"

    def __init__(self, threshold: float | None = None, tol: float = 2 / 255,
                 thresholds_file: str | None = None) -> None:
        self.tol = float(tol)
        self._thresholds(thresholds_file, threshold=threshold)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        hole = batch.mask.bool()[:, 0]  # [B, H, W]
        n = hole.flatten(1).sum(1)
        same = ((batch.output.float() - batch.blanked.float()).abs() <= self.tol).all(dim=1) & hole
        frac = same.flatten(1).sum(1).double() / n.clamp_min(1)
        gt_same = ((batch.gt.float() - batch.blanked.float()).abs() <= self.tol).all(dim=1) & hole
        gt_frac = gt_same.flatten(1).sum(1).double() / n.clamp_min(1)
        ok = (n > 0) & ~(batch.has_gt.bool() & (gt_frac > 0.5))
        score = nan_array(batch.size)
        okn = ok.cpu().numpy()
        score[okn] = frac.cpu().numpy()[okn]
        return {"noop_score": score}

    def provenance(self):
        return {**super().provenance(), "tol": self.tol}
