"""``black``: the backend returned a black picture (a safety checker's answer, a failed decode)."""
from __future__ import annotations

import numpy as np

from ..types import EvalBatch
from .thresholds import CalibratedDetector


class BlackDetector(CalibratedDetector):
    """Output is (nearly) all black, as a safety checker returns: fraction of raw pixels darker than 4/255.

    ``black_score`` = fraction of pixels of the raw output whose every channel is <= ``level`` (4/255 by
    default). Flag when the score exceeds the threshold *and* the input itself was not that dark (a night photo
    that stays dark is no failure: the input's own black fraction is subtracted first).
    """

    key = "black"

    def __init__(self, threshold: float | None = None, level: float = 4 / 255,
                 thresholds_file: str | None = None) -> None:
        self.level = float(level)
        self._thresholds(thresholds_file, threshold=threshold)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        dark_out = (batch.raw.float() <= self.level).all(dim=1).flatten(1).float().mean(1)
        dark_in = (batch.input.float() <= self.level).all(dim=1).flatten(1).float().mean(1)
        score = (dark_out - dark_in).clamp_min(0).double().cpu().numpy()
        return {"black_score": score}

    def provenance(self):
        return {**super().provenance(), "level": self.level}
