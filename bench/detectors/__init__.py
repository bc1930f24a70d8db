"""Failure detectors: each gives every sample a score and a flag (see docs/detectors.md).

Built-ins are registered lazily (imported on first use); thresholds ship in ``bench/data/thresholds.json``.
"""
from ..registry import DETECTORS

DETECTORS.lazy("blur", "bench.detectors.blur:BlurDetector")
DETECTORS.lazy("replacement", "bench.detectors.replacement:ReplacementDetector")
DETECTORS.lazy("replacement-features", "bench.detectors.features:FeatureReplacementDetector")
DETECTORS.lazy("incomplete", "bench.detectors.incomplete:IncompleteDetector")
DETECTORS.lazy("resized", "bench.detectors.resized:ResizedDetector")
DETECTORS.lazy("outside_drift", "bench.detectors.outside_drift:OutsideDriftDetector")
DETECTORS.lazy("black", "bench.detectors.black:BlackDetector")
DETECTORS.lazy("nan", "bench.detectors.nan:NanDetector")
DETECTORS.lazy("noop", "bench.detectors.noop:NoopDetector")

#: the weight-free detectors, in the order ``bench calibrate`` reports them
WEIGHT_FREE = ("blur", "replacement", "incomplete", "resized", "outside_drift", "black", "nan", "noop")
