"""The failure-detector protocol."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..types import EvalBatch, RunContext


class Detector:
    """Base class for failure detectors.

    ``detect`` returns, per sample, ``{name}_score`` (float, NaN = not applicable) and ``{name}_flag`` (0/1 as
    float, NaN = not applicable). Thresholds and their version go into ``provenance``.
    """

    registry_name: str = "?"

    def setup(self, ctx: RunContext) -> None:
        pass

    def detect(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def provenance(self) -> dict[str, Any]:
        return {}
