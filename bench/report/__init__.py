"""report: aggregates, leaderboards (terminal, Markdown, LaTeX, CSV, Parquet, JSON, HTML) and the CI gate.

Imports are lazy so ``import bench.report`` stays cheap; see docs/reports.md.
"""
from __future__ import annotations

from typing import Any

__all__ = ["summarize", "summarize_by_area", "render_run", "validate_report_section", "compare_sources",
           "Table", "Col"]

_LAZY = {
    "summarize": "bench.report.aggregate",
    "summarize_by_area": "bench.report.aggregate",
    "render_run": "bench.report.leaderboard",
    "validate_report_section": "bench.config.report",
    "compare_sources": "bench.report.compare",
    "Table": "bench.report.table",
    "Col": "bench.report.table",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
