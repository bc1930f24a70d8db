"""Flags from stored scores, with the thresholds in force when a run is read.

Scoring stores each detector's per-sample *scores* only (:meth:`CalibratedDetector.scores`); the thresholds are
not part of a detector's scorer key. Whoever reads a run (report, export, CI gate, calibration) gets its flags from
:func:`set_flags`: every detector of the suite is built from its spec (thresholds file, explicit thresholds) and
its own :meth:`~CalibratedDetector.flags` rule turns the stored scores into flags. So ``bench calibrate`` followed
by ``bench report`` changes flags and verdicts without scoring anything again, and a newer shipped thresholds file
applies to old runs as soon as they are read.

A detector plug-in without a ``flags`` rule (a plain :class:`~bench.detectors.base.Detector`) keeps the flags it
stored when it scored.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..errors import CAUGHT, describe


def is_threshold_param(name: str) -> bool:
    """Whether a detector parameter sets a threshold (``thresholds`` file, ``threshold``, ``*_threshold``): such
    parameters change flags, never scores, so they stay out of the scorer key."""
    return name in ("thresholds", "threshold") or name.endswith("_threshold")


def flag_rule(spec: dict[str, Any], path: str = "detectors") -> Any | None:
    """The detector of a resolved suite spec (``{"type": ..., "name": ..., **params}``) when it has a flags rule
    (construction reads its thresholds; no network is loaded), else None."""
    from ..registry import DETECTORS

    det = DETECTORS.create(spec, path)
    return det if callable(getattr(det, "flags", None)) and hasattr(det, "key") else None


def set_flags(frame: pd.DataFrame, specs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Replace the flag columns of ``frame`` (in place) by those the thresholds in force give from its stored
    scores; returns ``{detector label: its thresholds provenance}`` (or ``{"error": ...}`` when its rule could not
    be built or applied: then its stored flags, if any, stay)."""
    applied: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or "type" not in spec:
            continue
        label = str(spec.get("name") or spec["type"])
        try:
            det = flag_rule(spec, f"detectors[{i}]")
            if det is None:
                continue
            prefix = f"{det.key}_"
            scores = {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
                      for c in frame.columns if isinstance(c, str) and c.startswith(prefix) and c.endswith("_score")}
            if f"{det.key}_score" not in scores:
                continue  # never scored (or no rows): nothing to flag
            for key, arr in det.flags(scores).items():
                frame[key] = np.asarray(arr, dtype=np.float64)
            applied[label] = det.provenance()
        except CAUGHT as e:
            applied[label] = {"error": describe(e)}
    return applied

