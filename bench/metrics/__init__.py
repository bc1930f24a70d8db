"""Metrics room: masked pixel metrics, LPIPS, FID/KID and IDS features, set-level aggregates, statistics.

Built-in metrics are registered lazily (imported on first use). ``all_columns()`` lists every key any built-in
metric can produce, with how it reads (direction, format, whether an interval is shown).
"""
from __future__ import annotations

from ..registry import METRICS
from .base import Column, Metric

METRICS.lazy("psnr", "bench.metrics.pixel:PSNR")
METRICS.lazy("ssim", "bench.metrics.pixel:SSIM")
METRICS.lazy("lpips", "bench.metrics.lpips_metric:LPIPS")
METRICS.lazy("fid", "bench.metrics.fid:InceptionFeatures")
METRICS.lazy("remove", "bench.metrics.remove:ReMOVE")
METRICS.lazy("cfd", "bench.metrics.cfd:CFD")
METRICS.lazy("rcs", "bench.metrics.rcs:RCS")


def all_columns() -> dict[str, Column]:
    """Every record key and set-level key the built-in metrics produce, with its :class:`Column`."""
    cols: dict[str, Column] = {}
    for name in _BUILTIN:
        cols.update(METRICS.get(name).columns)
    try:
        from .setlevel import set_level_columns
    except ImportError:  # set-level metrics not available (optional dependencies)
        return cols
    cols.update(set_level_columns())
    return cols


_BUILTIN = ("psnr", "ssim", "lpips", "fid", "remove", "cfd", "rcs")

__all__ = ["Column", "Metric", "METRICS", "all_columns"]
