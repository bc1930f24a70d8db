"""``black``: the backend returned a black picture (a safety checker's answer, a failed decode)."""
from __future__ import annotations

import numpy as np

from ..types import EvalBatch
from ._util import share
from .thresholds import CalibratedDetector


class BlackDetector(CalibratedDetector):
    """Output is (nearly) all black, as a safety checker returns: fraction of raw pixels darker than 4/255.

    ``black_score`` = fraction of pixels of the raw output whose every channel is <= ``level`` (4/255 by
    default). Flag when the score exceeds the threshold *and* the input itself was not that dark (a night photo
    that stays dark is no failure: the input's own black fraction is subtracted first).
    """

    key = "black"

    def __init__(self, threshold: float | None = None, level: float = 4 / 255,
                 thresholds: str | None = None) -> None:
        self.level = float(level)
        self._thresholds(thresholds, threshold=threshold)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        score = np.zeros(batch.size, dtype=np.float64)
        for i in range(batch.size):  # one image at a time: stays in cache
            out = batch.raw[i].detach().float().cpu().numpy()
            dark_out = share((out <= self.level).all(axis=0))
            if dark_out == 0.0:
                continue
            dark_in = share((batch.input[i].detach().float().cpu().numpy() <= self.level).all(axis=0))
            score[i] = max(0.0, dark_out - dark_in)
        return {"black_score": score}

    def provenance(self):
        return {**super().provenance(), "level": self.level}
