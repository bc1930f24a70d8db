"""What a column of a per-sample record or a summary *is*: declared once, where it is produced.

Metrics declare their keys (``Metric.columns``), detectors theirs (``Detector.columns``: scores and flags), the
report its derived ones (latency, memory, rates, counts); the runner writes every metric's and detector's
declarations into the run's ``manifest.json``, and reports, sorting, bolding the best and the CI gate read them
there (as torchmetrics' ``higher_is_better`` and lm-eval's ``aggregation()`` are declared beside the metric). Ground
floor: imports nothing from the package.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

#: what a column holds: a per-sample metric value, a detector's score or flag, a set-level number, a field of the
#: record (ids, timing), or a number the report derives (rates, counts, latency summaries)
KINDS = ("metric", "score", "flag", "setlevel", "record", "derived")


@dataclass(frozen=True)
class Column:
    """How a key reads: direction (``None`` = neither), number format, whether a bootstrap interval is shown, a
    one-line doc, and its kind (:data:`KINDS`)."""

    higher_is_better: bool | None = None
    fmt: str = ".3f"
    interval: bool = True
    doc: str = ""
    kind: str = "metric"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_any(cls, obj: Any) -> "Column":
        """A Column from a Column, a manifest entry (dict), or any object with the same attributes."""
        if isinstance(obj, Column):
            return obj
        get = obj.get if isinstance(obj, Mapping) else (lambda k, d=None: getattr(obj, k, d))
        return cls(higher_is_better=get("higher_is_better", None), fmt=str(get("fmt", ".3f")),
                   interval=bool(get("interval", False)), doc=str(get("doc", "") or ""),
                   kind=str(get("kind", "metric") or "metric"))


def score(doc: str = "", higher_is_better: bool | None = None) -> Column:
    """A detector's per-sample score (no direction unless the detector says: it is read through its flag)."""
    return Column(higher_is_better, ".3f", False, doc, "score")


def flag(doc: str = "") -> Column:
    """A detector's per-sample 0/1 flag (summarised as a rate: lower is better)."""
    return Column(False, ".0f", False, doc, "flag")
