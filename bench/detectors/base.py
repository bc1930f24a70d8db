"""The failure-detector protocol."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..columns import Column
from ..types import EvalBatch, RunContext


class Detector:
    """Base class for failure detectors.

    ``detect`` returns, per sample, ``{name}_score`` (float, NaN = not applicable) and ``{name}_flag`` (0/1 as
    float, NaN = not applicable). Thresholds and their version go into ``provenance``.
    """

    registry_name: str = "?"
    #: every record key this detector writes (scores and flags), with how it reads (:class:`bench.columns.Column`)
    columns: dict[str, Column] = {}
    #: implementation version: bump it when a change alters the scores, and stored scores are computed again
    version: int = 1

    def setup(self, ctx: RunContext) -> None:
        pass

    def detect(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def provenance(self) -> dict[str, Any]:
        return {}

    def identity(self) -> dict[str, Any]:
        """What besides the suite spec decides this detector's output (part of its scorer key; cheap)."""
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}", "version": self.version}
