"""``replacement``: the hole was filled with something foreign to its surroundings (a new object, a pasted patch).

Weight-free variant (this module): colour and texture *novelty*. Every pixel gets a joint feature (CIE Lab colour
quantised in cells of ``cell`` units, and one of four gradient-strength bins). The context ring's pixels mark the
cells that "exist around the hole" (each cell widened by one step in L, a and b; a ring cell of some gradient
strength also covers every weaker one, so a *smoother* fill is never novel: that is ``blur``'s business).
``novelty(hole)`` = the fraction of the fill's pixels in cells the ring never shows.

The ring is also split into sectors around the hole; each sector's novelty against the rest of the ring says how
much the surroundings differ from themselves (a hole between sky and sea sees both). The score is

    replacement_score = novelty(hole) - median(sector novelty)       (in [-1, 1])

so content is foreign only when it is newer than what the surroundings typically show one part to another
(the median, not the max: one odd sector, say a lamp post crossing the ring, should not excuse a pasted
object). Flag when the score exceeds the threshold. Holes with fewer than ``min_pixels`` pixels (after a 2 px
erosion) are not judged. The statistics are taken at 1/``factor`` resolution (area-averaged; a pixel touching the
hole belongs to it) when the region is large enough: colour-cell counts do not need every pixel.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..types import EvalBatch
from ._util import crop_box, hwc, inside_distance, mask2d, nan_array, ring, ring_width
from .thresholds import CalibratedDetector

G_EDGES = np.array([1.5, 4.0, 10.0], dtype=np.float32)  # |grad L| (L units per px) bin edges


def _features(rgb: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Per-pixel Lab cell index (int32 [H, W]), gradient bin (int32 [H, W]) and the Lab grid shape."""
    # 8-bit conversion (OpenCV's table-driven path, ~20x faster than float32; every output is 8-bit anyway)
    lab8 = cv2.cvtColor((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2Lab)
    lab = lab8.astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0  # L 0..100
    lab[..., 1:] -= 128.0  # a, b about -128..127
    L = lab[..., 0]
    sm = cv2.GaussianBlur(L, (0, 0), 1.0)
    gx = cv2.Sobel(sm, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(sm, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    g = np.sqrt(gx * gx + gy * gy)
    nl = int(math.ceil(101 / cell))
    nab = int(math.ceil(256 / cell))
    li = np.clip((L / cell).astype(np.int32), 0, nl - 1)
    ai = np.clip(((lab[..., 1] + 128) / cell).astype(np.int32), 0, nab - 1)
    bi = np.clip(((lab[..., 2] + 128) / cell).astype(np.int32), 0, nab - 1)
    gi = (g > G_EDGES[0]).astype(np.int32) + (g > G_EDGES[1]) + (g > G_EDGES[2])
    return (li * nab + ai) * nab + bi, gi, (nl, nab, nab)


NG = len(G_EDGES) + 1


def _max_grad(cells: np.ndarray, gbins: np.ndarray, ncell: int, min_count: int) -> np.ndarray:
    """Per Lab cell, the strongest gradient bin seen there at least ``min_count`` times (-1: colour absent)."""
    maxg = np.full(ncell, -1, dtype=np.int8)
    if min_count <= 1:
        np.maximum.at(maxg, cells, gbins.astype(np.int8))
        return maxg
    keys, counts = np.unique(cells * NG + gbins, return_counts=True)
    keys = keys[counts >= min_count]
    np.maximum.at(maxg, keys // NG, (keys % NG).astype(np.int8))
    return maxg


def _widen(maxg: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Max over each cell's 3x3x3 neighbourhood in (L, a, b): one quantisation step of colour tolerance."""
    g = maxg.reshape(shape)
    for ax in range(3):
        o = g.copy()
        hi = [slice(None)] * 3
        lo = [slice(None)] * 3
        hi[ax], lo[ax] = slice(1, None), slice(None, -1)
        np.maximum(o[tuple(hi)], g[tuple(lo)], out=o[tuple(hi)])
        np.maximum(o[tuple(lo)], g[tuple(hi)], out=o[tuple(lo)])
        g = o
    return g.reshape(-1)


def _novelty(cells: np.ndarray, gbins: np.ndarray, support: np.ndarray) -> float:
    """Share of pixels whose colour is absent from the support, or present only with weaker gradients."""
    return float((gbins > support[cells]).mean())


def sectors(m: np.ndarray, rg: np.ndarray, k: int) -> list[np.ndarray]:
    """Split the ring into ``k`` angular sectors around the hole's centroid."""
    ys, xs = np.nonzero(m)
    cy, cx = ys.mean(), xs.mean()
    ry, rx = np.nonzero(rg)
    ang = np.arctan2(ry - cy, rx - cx)
    sec = ((ang + np.pi) / (2 * np.pi) * k).astype(np.int32) % k
    return [(ry[sec == j], rx[sec == j]) for j in range(k)]


class ReplacementDetector(CalibratedDetector):
    """Fill is foreign to its surroundings (a new object, a pasted patch): colour/texture novelty vs the ring.

    Parameters: ``threshold`` (default: the shipped thresholds file), ``cell`` (Lab quantisation step),
    ``n_sectors`` (ring sectors for the self-difference baseline), ``min_pixels``.
    """

    key = "replacement"

    def __init__(self, threshold: float | None = None, cell: float = 6.0, n_sectors: int = 6,
                 min_pixels: int = 24, factor: int = 2, thresholds_file: str | None = None) -> None:
        self.cell = float(cell)
        self.factor = int(factor)
        self.n_sectors = int(n_sectors)
        self.min_pixels = int(min_pixels)
        self._thresholds(thresholds_file, threshold=threshold)

    def parts(self, out, m: np.ndarray) -> tuple[float, list[float]]:
        """(novelty of the hole, novelty of each ring sector against the rest of the ring)."""
        if not m.any():
            return math.nan, []
        width = ring_width(m, lo=8, hi=48, frac=0.5)
        ys, xs = crop_box(m, width + 2 + 4)  # ring + its gap + the gradient filters' reach
        m = m[ys, xs]
        rgb = hwc(out[:, ys, xs])
        f = self.factor if min(m.shape) >= 32 * self.factor else 1
        if f > 1:  # statistics of colour cells do not need every pixel: analyse at 1/f resolution
            h, w = m.shape[0] // f * f, m.shape[1] // f * f
            rgb = cv2.resize(rgb[:h, :w], (w // f, h // f), interpolation=cv2.INTER_AREA)
            m = m[:h, :w].reshape(h // f, f, w // f, f).any(axis=(1, 3))  # a pixel touching the hole is hole
            width = max(4, width // f)
        hole = inside_distance(m) >= 2
        if int(hole.sum()) * f * f < self.min_pixels:
            return math.nan, []
        rg = ring(m, width)
        nr = int(rg.sum())
        if nr * f * f < 4 * self.min_pixels:
            return math.nan, []
        cells, gbins, shape = _features(rgb, self.cell)
        ncell = int(np.prod(shape))
        min_count = max(2, int(0.001 * nr))
        nov_hole = _novelty(cells[hole], gbins[hole], _widen(_max_grad(cells[rg], gbins[rg], ncell, min_count),
                                                              shape))
        secs = [(cells[ry, rx], gbins[ry, rx]) for ry, rx in sectors(m, rg, self.n_sectors)]
        secs = [s for s in secs if s[0].size * f * f >= self.min_pixels]
        if len(secs) < 2:
            return nov_hole, []
        per = [_max_grad(c, g, ncell, 1) for c, g in secs]  # min_count 1 per sector: lenient baseline
        # leave-one-out maxima via prefix/suffix maxima
        pre, suf = list(per), list(per)
        for k in range(1, len(per)):
            pre[k] = np.maximum(pre[k - 1], per[k])
            suf[-k - 1] = np.maximum(suf[-k], per[-k - 1])
        base = []
        for k, (c, g) in enumerate(secs):
            parts = [pre[k - 1]] if k > 0 else []
            if k + 1 < len(secs):
                parts.append(suf[k + 1])
            rest = parts[0] if len(parts) == 1 else np.maximum(parts[0], parts[1])
            base.append(_novelty(c, g, _widen(rest, shape)))
        return nov_hole, base

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        b = batch.size
        score = nan_array(b)
        for i in range(b):
            n_h, base = self.parts(batch.output[i], mask2d(batch.mask[i]))
            score[i] = n_h - (float(np.median(base)) if base else 0.0)
        return {"replacement_score": score}

    def provenance(self):
        return {**super().provenance(), "variant": "weight-free colour/texture novelty", "cell": self.cell,
                "n_sectors": self.n_sectors, "min_pixels": self.min_pixels, "factor": self.factor}
