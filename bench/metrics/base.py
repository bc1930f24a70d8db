"""The metric protocol."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..columns import Column  # noqa: F401  (the one column declaration, imported here by metric authors)
from ..types import EvalBatch, RunContext


class Metric:
    """Base class for metrics.

    ``compute`` returns a dict of arrays keyed by record key: a 1-D array [B] is a per-sample value (NaN = absent,
    e.g. ``psnr_in`` without ground truth); a 2-D array [B, D] is a per-sample feature vector, stored in the run's
    feature table for set-level metrics (FID/KID) computed at report time.
    """

    registry_name: str = "?"
    #: record keys this metric produces, with how they read
    columns: dict[str, Column] = {}
    #: implementation version: bump it when a change alters the numbers, and stored scores are computed again
    version: int = 1

    def setup(self, ctx: RunContext) -> None:
        """Load networks (weights resolved through :mod:`bench.weights`)."""

    def compute(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def provenance(self) -> dict[str, Any]:
        """Implementation settings that change the numbers (window, net, resize mode, weights hash...)."""
        return {}

    def identity(self) -> dict[str, Any]:
        """What besides the suite spec decides this metric's numbers (part of its scorer key; cheap, no set-up)."""
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}", "version": self.version}

    def weights_files(self, weights: str = "pretrained") -> list[str]:
        """Names of the :mod:`bench.weights` files ``setup`` will need (for ``optional:`` metrics: are they here?)."""
        return []

    def packages(self) -> list[tuple[str, str]]:
        """(module, the inpaint-bench extra that installs it) of the optional packages ``setup`` will import: the
        runner says which is missing before any work (not a weights file it cannot find)."""
        return []

    def record_keys(self) -> list[str]:
        """The record keys this metric, as configured, writes (default: every key of ``columns``): two entries of a
        suite must not write the same key (``bench validate`` refuses it), so a metric whose settings choose its
        keys (``regions:``, ``crop:``) names only the chosen ones."""
        return list(self.columns)

    def needs_ground_truth(self) -> bool:
        """Whether (as configured) this metric scores against ground truth: ``bench validate`` refuses it on a
        removal dataset without ground truth for its own masks, instead of leaving its columns silently empty."""
        return False

    def reference_features(self) -> set[str]:
        """Feature keys of ``compute`` that depend on the sample's input / ground truth only, not on the output
        (e.g. the ground truth's Inception features): stored once per dataset × mask and shared by every backend."""
        return set()


REGIONS = ("in", "out", "full")


def check_regions(regions: list[str] | None, allowed: tuple[str, ...] = REGIONS) -> list[str]:
    """A metric's ``regions:`` (which of its keys to compute): a non-empty subset of ``allowed``; None = all."""
    if regions is None:
        return list(allowed)
    if isinstance(regions, str):
        regions = [regions]
    bad = [r for r in regions if r not in allowed]
    if bad or not regions:
        raise ValueError(f"regions must be a non-empty list of {', '.join(allowed)}; got {regions!r}")
    return [r for r in allowed if r in regions]
