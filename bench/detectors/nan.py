"""``nan``: the backend returned NaN or infinite values."""
from __future__ import annotations

import numpy as np
import torch

from ..types import EvalBatch
from .thresholds import CalibratedDetector


class NanDetector(CalibratedDetector):
    """Output had NaN/inf values (fraction of non-finite values in the backend's raw output).

    ``nan_score`` = fraction of non-finite values: ``EvalBatch.nonfinite`` ([B] float) when a caller measured it
    before sanitising, else measured on ``raw`` and ``output`` here. In a ``bench run`` an output with NaN/inf is
    never scored: the runner makes it an error row ("output has NaN/inf values", counted in ``error_rate``), so
    this detector flags nothing there (the batches it scores are finite); it is for batches scored outside the
    runner (an :class:`EvalBatch` built in Python). Flag when the score exceeds the threshold (0: any non-finite
    value).
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
