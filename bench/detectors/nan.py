"""``nan``: the backend returned NaN or infinite values."""
from __future__ import annotations

import numpy as np
import torch

from ..types import EvalBatch
from .thresholds import CalibratedDetector


class NanDetector(CalibratedDetector):
    """Output had NaN/inf values (fraction of non-finite values in the backend's raw output).

    ``nan_score`` = fraction of non-finite values. The runner sanitises outputs (NaN -> 0) before scoring, so
    it passes the fraction it measured on the unsanitised output as ``EvalBatch.nonfinite`` ([B] float); without
    that field the detector measures ``raw`` and ``output`` itself (which only sees what the runner left).
    Flag when the score exceeds the threshold (0: any non-finite value).
    """

    key = "nan"

    def __init__(self, threshold: float | None = None, thresholds: str | None = None) -> None:
        self._thresholds(thresholds, threshold=threshold)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        given = getattr(batch, "nonfinite", None)
        if given is not None:
            score = np.asarray(torch.as_tensor(given).detach().double().cpu(), dtype=np.float64).reshape(-1)
        else:
            score = np.zeros(batch.size, dtype=np.float64)
            for i in range(batch.size):
                for t in (batch.raw[i], batch.output[i]):
                    a = t.detach().float().cpu().numpy()
                    if not np.isfinite(a.sum()):  # fast path: a finite sum means every value is finite
                        score[i] = max(score[i], float((~np.isfinite(a)).mean()))
        return {"nan_score": score}
