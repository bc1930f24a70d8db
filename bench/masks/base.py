"""The mask-strategy protocol, hole fraction and LaMa's area bins."""
from __future__ import annotations

import numpy as np

from ..types import Sample

N_AREA_BINS = 10


def hole_fraction(mask: np.ndarray) -> float:
    return float(np.asarray(mask, dtype=bool).mean())


def area_bin(fraction: float) -> int:
    """LaMa's evaluation bins: 10 equal bins of hole fraction, 0 = [0, 10 %), ..., 9 = [90 %, 100 %]."""
    return int(min(N_AREA_BINS - 1, max(0, np.floor(fraction * N_AREA_BINS))))


def area_bin_label(b: int) -> str:
    return f"{b * 10}-{(b + 1) * 10}%"


class MaskStrategy:
    """Base class for mask strategies.

    ``generate`` must be a pure function of (sample, rng): the runner seeds ``rng`` from
    (suite seed, dataset, sample id, strategy spec), so masks are identical across backends and reruns.
    """

    registry_name: str = "?"
    #: True when the strategy uses the dataset's own mask (object removal): ground truth is then the dataset's
    #: clean background (``sample.gt``); otherwise it is the image itself (reconstruction).
    uses_dataset_mask: bool = False

    def generate(self, sample: Sample, rng: np.random.Generator) -> np.ndarray:
        """Return a bool [H, W] array (True = hole) of the sample's image size."""
        raise NotImplementedError
