"""Hole size: the fraction of a mask that is hole and LaMa's mask-area bins (compute, label, parse).

LaMa's evaluation reports every score overall and per bin of hole fraction: 10 equal bins, 0 = [0, 10 %) ...
9 = [90 %, 100 %]. Masks (which store each record's bin), the report (``--by area_bin``, filters, plots) and the
suite's ``report:`` section all read the bins from here. Ground floor: imports nothing from the package.
"""
from __future__ import annotations

from typing import Any

import numpy as np

N_AREA_BINS = 10


def hole_fraction(mask: np.ndarray) -> float:
    """Fraction of pixels that are hole (True)."""
    return float(np.asarray(mask, dtype=bool).mean())


def area_bin(fraction: float) -> int:
    """LaMa's evaluation bins: 10 equal bins of hole fraction, 0 = [0, 10 %), ..., 9 = [90 %, 100 %].

    Robust to float noise at the edges: exactly 30 % (however it was computed) is bin 3.
    """
    x = round(float(fraction) * N_AREA_BINS, 9)
    return int(min(N_AREA_BINS - 1, max(0, np.floor(x))))


def area_bin_label(b: Any) -> str:
    """``0-10%`` ... ``90-100%``."""
    b = int(b)
    return f"{b * 10}-{(b + 1) * 10}%"


AREA_LABELS = [area_bin_label(b) for b in range(N_AREA_BINS)]


def parse_area_bin(v: Any) -> int:
    """A bin index from 4, "4", or a label "40-50%" / "40–50 %"."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        b = int(v)
    else:
        s = str(v).replace("–", "-").replace(" ", "").rstrip("%")
        if "-" in s:
            lo = s.split("-")[0].rstrip("%")
            b = int(round(float(lo) / 10))
        else:
            b = int(s)
    if not 0 <= b < N_AREA_BINS:
        raise ValueError(f"area bin {v!r} out of range 0..9")
    return b


def mask_stats(mask: np.ndarray) -> dict[str, float | int]:
    """What each record stores about its mask: ``hole_fraction`` and LaMa's ``area_bin`` (exact integer bin)."""
    m = np.asarray(mask, dtype=bool)
    n, total = int(m.sum()), int(m.size)
    b = min(N_AREA_BINS - 1, (n * N_AREA_BINS) // total) if total else 0
    return {"hole_fraction": n / total if total else 0.0, "area_bin": int(b)}
