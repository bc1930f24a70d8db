"""``noop``: the backend left the hole as it was given (the blank constant)."""
from __future__ import annotations

import numpy as np
from ..types import EvalBatch
from ._util import check_params, crop_box, mask2d, nan_array, share
from .thresholds import CalibratedDetector


class NoopDetector(CalibratedDetector):
    """Hole left unfilled: fraction of hole pixels still equal to what the backend was given (blanked).

    ``noop_score`` = fraction of hole pixels whose every channel is within ``tol`` (2/255) of ``blanked``. Flag
    when it exceeds the threshold. NaN for an empty hole, and where the ground truth itself equals the blank
    constant over most of the hole (a grey wall at exactly 0.5: leaving it is then correct).
    """

    key = "noop"

    def __init__(self, threshold: float | None = None, tol: float = 2 / 255,
                 thresholds: str | None = None) -> None:
        check_params(tol=(tol, 0, 1))
        self.tol = float(tol)
        self._thresholds(thresholds, threshold=threshold)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        score = nan_array(batch.size)
        has_gt = batch.has_gt.bool().cpu().tolist()
        for i in range(batch.size):  # one image at a time: stays in cache, much faster than whole-batch ops
            hole = mask2d(batch.mask[i])
            if not hole.any():
                continue
            ys, xs = crop_box(hole, 0)
            hole = hole[ys, xs]
            blank = batch.blanked[i, :, ys, xs].detach().float().cpu().numpy()
            out = batch.output[i, :, ys, xs].detach().float().cpu().numpy()
            same = (np.abs(out - blank) <= self.tol).all(axis=0)[hole]
            if has_gt[i]:
                gt = batch.gt[i, :, ys, xs].detach().float().cpu().numpy()
                gt_same = (np.abs(gt - blank) <= self.tol).all(axis=0)[hole]
                if share(gt_same) > 0.5:  # leaving the blank is (mostly) right here: not judged
                    continue
            score[i] = share(same)
        return {"noop_score": score}

    def provenance(self):
        return {**super().provenance(), "tol": self.tol}
