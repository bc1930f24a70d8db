"""``replacement``: the hole was filled with something foreign to its surroundings (a new object, a pasted patch).

Weight-free variant (this module): colour and texture *novelty*. Every pixel gets a joint feature (CIE Lab colour
quantised in cells of ``cell`` units, and one of four gradient-strength bins) and a *local shape* (its L cell with
the two eigenvalues of the Hessian of smoothed L, each in one of seven bins: rotation-invariant, it tells a bright
or dark blob, a ridge, a valley, a saddle and an edge's flanks apart where colours say nothing, as in gray
photographs or a pasted patch recoloured to its surroundings). The context ring's pixels mark the colour cells and
the shape cells that "exist around the hole" (each cell widened by one step along each of its axes; a ring cell of
some gradient strength also covers every weaker one, so a *smoother* fill is never novel: that is ``blur``'s
business). A fill pixel is *new* when its colour cell is not covered, or when it is textured and its shape cell is
not covered, except that a *smooth* pixel (the two weakest gradient bins, or
grainless: fine texture under ``GRAIN`` L units, or under ``RAMP`` times its gradient, the curvature of a smooth
ramp rather than texture) whose colour lies inside the convex hull of the ring's colours (grown by one cell;
scaled by ``GRAINLESS_SCALE`` about the colours' centre for grainless pixels, which overshoot like biharmonic fills)
is a blend of them (what diffusion-like fills, biharmonic and Telea produce, and smears) and is not new. A constant fill
(flat colour, the runner's grey blank) is never a replacement (score 0): it has no content at all, which is
``blur``'s and ``noop``'s business.

Locality: the ring is split into ``n_sectors`` angular sectors around the hole; each fill pixel is judged against
the sector of the ring it is nearest to and the sectors on either side (a pasted patch whose colours occur only on
the far side of the hole is still new where it sits). ``novelty(hole)`` = the share of the fill's pixels that are
new. The same comparison inside the ring (each sector's textured pixels against its neighbours) says how much the
surroundings differ from themselves. The score is

    replacement_score = max(0, novelty(hole) - median(sector novelty))       (in [0, 1])

so content is foreign only when it is newer than what the surroundings typically show one part to the next (the
median, not the max: one odd sector, say a lamp post crossing the ring, should not excuse a pasted object). Flag
when the score exceeds the threshold. Holes with fewer than ``min_pixels`` pixels (after a 2 px erosion) are not
judged. The statistics are taken at 1/``factor`` resolution (area-averaged; a pixel touching the hole belongs to
it) when the region is large enough: colour-cell counts do not need every pixel.

With ground truth (``replacement_ref_score``): a reference-free score cannot tell a correct fill of something the
ring never shows (the hole covered a face; the truth is that face) from a new object. Where the sample has ground
truth, each fill pixel that is new against its part of the ring is judged again against that part of the ring
*and* what the truth shows in the same part of the hole (the same sector: a correct fill is its own support there,
while a patch foreign to that part is not excused by something the truth shows elsewhere). Blends are then
taken within one hull of the whole ring's colours, scaled to twice its reach from the colours' centre
(``REF_HULL_SCALE``: a smooth fill mixes colours from anywhere around the hole, and biharmonic fills overshoot the
colours of strong edges), four times for grainless pixels (``REF_GRAINLESS_SCALE``: a biharmonic fill of a large
hole beside saturated edges glows in colours no pixel shows). No baseline is subtracted: the truth itself says what
belongs there.

*Departures*: in a gray photograph, a smooth pasted patch has no lightness or shape the ring lacks. With the truth,
a weakly textured fill pixel (the two weakest gradient bins) is also new where its smoothed lightness departs from
the truth's (Gaussian, ``STEP_LOWPASS`` px) by more than ``STEP_DELTA`` L units *and*, unless the fill is cut in
(below), it has grain (not synthesised: :func:`_grainless`) and its lightness departs from the surroundings' smooth
interpolation into the hole (a push-pull pyramid: ``_util.pushpull``) by more than ``STEP_DELTA`` and
``STEP_SPREAD`` times the surroundings' local spread. An erasure that continues the backdrop where the truth had an
object stays with the interpolation; a synthesised smear continued from the border has no grain. Departures count
in connected regions of at least ``STEP_REGION`` of the hole (an object is a region; the interpolation is only
approximate, and scattered pixels depart from it). A fill *cut in* (on at least ``SEAM_SHARE`` of the hole's
border pixels its lightness changes faster than the truth's by more than ``SEAM_DELTA`` L units per px, both
smoothed at 1 px: :func:`_seam`) was not continued from its surroundings, so neither the interpolation nor a lack of
grain excuses it: departing from the truth suffices (a dark pasted patch beside dark surroundings; a near-flat patch
of pasted sky, too smooth to have grain). Fills made from their surroundings (Telea, Navier-Stokes, biharmonic,
blurs, a continued backdrop) are continuous at the border; a seam needs a step of about 13 L units there. (A
constant fill is never judged: see above.)

``replacement_ref_score`` = the share of the fill's pixels new against both, plus the departures (NaN without
ground truth).

``replacement_real_score`` (reference-free): the logit of a tiny logistic head fitted on REAL model outputs (the real
corpus's dev split; :mod:`bench.detectors.real_head`, numbers in ``bench/data/real_heads.json``) on weight-free
features (detail against what the ring predicts at σ 1, 2, 4, orientation coherence, edge continuity across the
border) and ``replacement_score``: good fills of large varied holes show content the ring does not, so novelty
alone over-flags them. NaN where ``replacement_score`` is 0 (no new pixel: no threshold flags it, so the
features are not computed).

``replacement_flag`` uses ``replacement_ref_score > ref_threshold`` where the sample has ground truth and
``replacement_score > threshold`` where it has none (object removal without a clean plate), and there, when the
thresholds file sets ``real_threshold``, also ``replacement_real_score > real_threshold`` (both must hold), unless
``replacement_score > plain_threshold`` (when set: novelty no good real fill of the corpus's dev split reaches,
where a pasted patch needs no second opinion);
``replacement_free_flag`` is the reference-free flag on every sample (comparable across datasets with and without
ground truth); ``replacement_ref_flag`` the reference flag alone.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import cv2
import numpy as np

from ..types import EvalBatch
from . import real_head
from ._util import (MIN_WORK_SIDE, WORK_SIDE, check_params, crop_box, hwc, inside_distance, margin, mask2d, nan_array, pushpull as _pushpull,
                    ring, ring_width, score_column, veto, working_batch)
from .thresholds import CalibratedDetector

G_EDGES = np.array([1.5, 4.0, 10.0], dtype=np.float32)  # |grad L| (L units per px) bin edges
FLAT_STD = 1.0 / 255  # a fill whose interior varies less than this (per channel) is constant
GRAIN = 0.35  # mean |L - blur(L)| below this (L units, about 1/255 of intensity): grainless, synthesised
RAMP = 0.5  # ... or below half the gradient (L units per px): a smooth ramp's curvature, not texture
#: grainless (synthesised) blends reach up to 1.5x as far from the ring colours' centre as the hull: biharmonic-like
#: fills overshoot the colours of strong edges
GRAINLESS_SCALE = 1.5
REF_HULL_SCALE = 2.0  # with the truth: every blend may reach twice as far
#: ... and a grainless one four times as far (biharmonic fills of large holes beside saturated edges overshoot into
#: glows of colours no pixel shows)
REF_GRAINLESS_SCALE = 4.0
#: departures (with the truth): weakly textured pixels with grain whose lightness departs from the truth's (both
#: Gaussian-smoothed at STEP_LOWPASS px of the analysis resolution) and from the smooth interpolation of the
#: surroundings by more than STEP_DELTA L units (and STEP_SPREAD times the surroundings' local spread) count in
#: connected regions of at least STEP_REGION of the hole
STEP_LOWPASS = 4.0
STEP_DELTA = 8.0
STEP_SPREAD = 1.5
STEP_REGION = 0.05
#: ... and where the fill is cut in (on at least SEAM_SHARE of the hole's border pixels its lightness changes faster
#: than the truth's by more than SEAM_DELTA L units per px: a seam), departing from the truth suffices
SEAM_DELTA = 4.0
SEAM_SHARE = 0.2
SEAM_REACH = 6  # px: the seam's filters (a 9-tap Gaussian, then Sobel) reach 5 px from a border pixel
#: bin edges of the Hessian's eigenvalues (L units per px^2, at the analysis resolution) for the local-shape cells
H_EDGES = np.array([-8.0, -4.0, -1.5, 1.5, 4.0, 8.0], dtype=np.float32)
NH = len(H_EDGES) + 1


class _Feats(NamedTuple):
    """Per-pixel features of an RGB crop (see :func:`_features`)."""

    cells: np.ndarray  # Lab cell index, int [H, W]
    gbins: np.ndarray  # gradient-strength bin, int [H, W]
    shape: tuple[int, int, int]  # the Lab grid's shape
    lab: np.ndarray  # [L, a, b, grain, |grad L|] per pixel, float32 [H, W, 5]
    shapes: np.ndarray  # local-shape index (L cell, Hessian eigenvalue bins), int [H, W]
    sshape: tuple[int, int, int]  # the local-shape grid's shape


def _lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L (0..100) of the 8-bit conversion, float32 [H, W]: :func:`_features`' L alone."""
    return cv2.cvtColor(_bytes(rgb), cv2.COLOR_RGB2Lab)[..., 0].astype(np.float32) * (100.0 / 255.0)


def _bytes(rgb: np.ndarray) -> np.ndarray:
    # 8-bit colour conversion (OpenCV's table-driven path, ~20x faster than float32; every output is 8-bit anyway)
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


#: the range of OpenCV's 8-bit a and b (a + 128, b + 128) over every 8-bit sRGB colour
A8_RANGE, B8_RANGE = (42, 226), (20, 223)


@functools.lru_cache(maxsize=8)
def _ab_cells(cell: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """(first cell, number of cells) along a and along b: only the cells an 8-bit sRGB colour can fall in (a grid
    cut to the gamut: the same cells, fewer of them to widen)."""
    return tuple((int(lo // cell), int(hi // cell) - int(lo // cell) + 1)  # type: ignore[return-value]
                 for lo, hi in (A8_RANGE, B8_RANGE))


def _features(rgb: np.ndarray, cell: float, lab: bool = True) -> _Feats:
    """Per-pixel Lab cell, gradient bin, [L, a, b, grain, |grad L|], and local-shape cell: the L cell with the two
    eigenvalues of the Hessian of smoothed L, each binned at ``H_EDGES`` (rotation-invariant: a bright or dark blob,
    a ridge or a valley, a saddle, an edge's flanks). ``lab=False``: the fifth field holds L alone ([H, W, 1]; what
    the truth's features are read for)."""
    # CIE Lab (L 0..100, a and b about -128..127) of OpenCV's 8-bit conversion: every value and cell below is a
    # function of one 8-bit L, a or b (or of the (a, b) pair), so it is read from a table of the byte values
    # (:func:`_byte_tables`; OpenCV's table lookup, several times faster than NumPy's indexing)
    l8, a8, b8 = cv2.split(cv2.cvtColor(_bytes(rgb), cv2.COLOR_RGB2Lab))
    t = _byte_tables(cell)
    L = cv2.LUT(l8, t.L)
    sm = cv2.GaussianBlur(L, (0, 0), 1.0)
    gx = cv2.Sobel(sm, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(sm, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    g = np.sqrt(gx * gx + gy * gy)
    gi = _bin(g, G_EDGES).astype(np.intp)
    # the Hessian's eigenvalues (L units per px^2): its half-trace plus or minus the half-difference's norm
    hxx = cv2.Sobel(sm, cv2.CV_32F, 2, 0, ksize=3) / 4.0
    hyy = cv2.Sobel(sm, cv2.CV_32F, 0, 2, ksize=3) / 4.0
    hxy = cv2.Sobel(sm, cv2.CV_32F, 1, 1, ksize=3) / 4.0
    half_trace = (hxx + hyy) / 2
    spread = np.sqrt(((hxx - hyy) / 2) ** 2 + hxy * hxy)
    h = _bin(half_trace + spread, H_EDGES)
    h *= NH
    h += _bin(half_trace - spread, H_EDGES)
    # cell = (L cell * na + a cell) * nb + b cell, as the L part plus the (a, b) pair's (a 16-bit index: a, b)
    cells = cv2.LUT(l8, t.lcell) + t.abcell[cv2.merge([b8, a8]).view("<u2")[..., 0]]
    shapes = np.add(cv2.LUT(l8, t.li) * (NH * NH), h, dtype=np.intp)  # (L cell * NH + h1) * NH + h2
    if lab:
        grain = cv2.blur(np.abs(L - sm), (3, 3))  # fine texture (L units): ~0 in synthesised blends, > 0 in photos
        feats = cv2.merge([L, cv2.LUT(a8, t.a), cv2.LUT(b8, t.b), grain, g]).reshape(*L.shape, 5)
    else:
        feats = L[..., None]
    return _Feats(cells, gi, (t.nl, t.na, t.nb), feats, shapes, (t.nl, NH, NH))


class _Tables(NamedTuple):
    L: np.ndarray  # float32 L (0..100), a, b (-128..127) of each 8-bit value
    a: np.ndarray
    b: np.ndarray
    li: np.ndarray  # int32 L, a, b cell of each 8-bit value
    ai: np.ndarray
    bi: np.ndarray
    nl: int
    na: int
    nb: int
    lcell: np.ndarray  # int32 L cell * na * nb of each 8-bit L
    abcell: np.ndarray  # int32 a cell * nb + b cell of each (a, b) pair, at a * 256 + b


@functools.lru_cache(maxsize=8)
def _byte_tables(cell: float) -> _Tables:
    """:func:`_features`' per-channel values of OpenCV's 8-bit Lab (L scaled to 0..100, a and b shifted to about
    -128..127, in float32, and their cells) for each of the 256 byte values."""
    v = np.arange(256, dtype=np.float32)
    L = v.copy()
    L *= 100.0 / 255.0
    ab = v - 128.0
    nl = int(math.ceil(101 / cell))
    (a0, na), (b0, nb) = _ab_cells(cell)
    li = np.clip((L / cell).astype(np.int32), 0, nl - 1)
    ai = np.clip(((ab + 128) / cell).astype(np.int32) - a0, 0, na - 1)
    bi = np.clip(((ab + 128) / cell).astype(np.int32) - b0, 0, nb - 1)
    return _Tables(L, ab, ab, li, ai, bi, nl, na, nb, li * (na * nb), (ai[:, None] * nb + bi[None, :]).ravel())


def _bin(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many of the ascending ``edges`` each (finite) value exceeds (uint8): ``np.searchsorted(edges, x)``,
    faster for a few edges."""
    out = (x > edges[0]).view(np.uint8)
    for e in edges[1:]:
        out += (x > e).view(np.uint8)
    return out


NG = len(G_EDGES) + 1


def _key_counts(cells: np.ndarray, gbins: np.ndarray, sec: np.ndarray, k: int,
                ncell: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (cell, gradient bin) pairs (as ``cell * NG + bin``, ascending) and their counts in each of the
    ``k`` sectors ([pair, sector]). ``ncell``: the cells are below it (then a table of every pair, no sort)."""
    key = cells * NG + gbins
    if ncell is None or ncell * NG > DENSE_MAX:
        keys, inv = np.unique(key, return_inverse=True)
        inv = inv.reshape(-1)
    else:
        keys = _distinct(key, ncell * NG)
        rank = np.zeros(ncell * NG, np.int32)  # each pair's place among the distinct ones
        rank[keys] = np.arange(len(keys), dtype=np.int32)
        inv = rank[key]
    return keys, np.bincount(inv * k + sec, minlength=len(keys) * k).reshape(len(keys), k)


#: key spaces up to this size are counted in tables (presence, rank) rather than sorted (np.unique)
DENSE_MAX = 1 << 22


def _distinct(values: np.ndarray, size: int) -> np.ndarray:
    """``np.unique(values)`` of integers in [0, ``size``): marked in a table of ``size`` flags and read back in
    order (no sort) when ``size`` is at most ``DENSE_MAX``."""
    if size > DENSE_MAX:
        return np.unique(values)
    seen = np.zeros(size, bool)
    seen[values] = True
    return np.flatnonzero(seen)


def _sector_max_grad(cells: np.ndarray, gbins: np.ndarray, sec: np.ndarray, pool: np.ndarray | None, ncell: int,
                     min_count: int, key_counts: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per sector and cell (int8 [k, ncell]): the strongest gradient bin seen in that cell at least ``min_count``
    times among the pixels sector j pools (-1: absent). ``sec``: each pixel's sector; ``pool`` ([k, k] bool): row j
    marks the sectors whose pixels sector j's table counts (None: its own pixels only, once each). One pass for all
    sectors: the counts of each (cell, gradient bin) pair per sector, pooled by a product with ``pool``.
    ``key_counts``: :func:`_key_counts` of these pixels when the caller has them (the same pixels pooled twice)."""
    k = len(pool) if pool is not None else int(sec.max(initial=-1)) + 1
    out = np.full(k * ncell, -1, dtype=np.int8)
    if pool is None and min_count <= 1:
        np.maximum.at(out, sec * ncell + cells, gbins.astype(np.int8))
        return out.reshape(k, ncell)
    keys, counts = key_counts if key_counts is not None else _key_counts(cells, gbins, sec, k)
    pooled = counts if pool is None else counts @ pool.T.astype(counts.dtype)  # [key, sector j]
    u, j = np.nonzero(pooled >= min_count)
    np.maximum.at(out, j * ncell + keys[u] // NG, (keys[u] % NG).astype(np.int8))
    return out.reshape(k, ncell)


def _widen(tables: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Max over each cell's 3x3x3 neighbourhood in (L, a, b), table by table, of int8 tables ([k, ncell]:
    :func:`_sector_max_grad`'s): one quantisation step of colour tolerance. All tables at once: stacked along L with
    an empty L cell between them and an empty b cell after each a cell's, a 3x3 dilation over (L, a) with every b
    cell a channel, then a 1x3 one along the rows of (a, b) cells; values -1..3 shifted to 0..4 and viewed as
    bytes, since OpenCV dilates unsigned ones."""
    k = len(tables)
    nl, na, nb = shape
    if nb + 1 > CV_CHANNELS:  # more channels than OpenCV takes (a cell under about 1.6 Lab units)
        from scipy.ndimage import maximum_filter

        return maximum_filter(tables.reshape(k, *shape), size=(1, 3, 3, 3), mode="constant", cval=-1).reshape(k, -1)
    g = np.zeros((k, nl + 1, na, nb + 1), np.uint8)  # (the empty rows keep each table's, and each a cell's, to itself)
    g[:, :nl, :, :nb] = (tables + 1).view(np.uint8).reshape(k, nl, na, nb)
    g = cv2.dilate(g.reshape(k * (nl + 1), na, nb + 1), _BOX3, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    g = cv2.dilate(g.reshape(k * (nl + 1), na * (nb + 1)), _ROW3, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return g.reshape(k, nl + 1, na, nb + 1)[:, :nl, :, :nb].reshape(k, -1).view(np.int8) - 1


def _padded(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The grid ``shape`` (L, a, b) with an empty L cell after the last and an empty b cell after each a cell's
    last: :func:`_widen_padded`'s layout, in which the cells' neighbourhoods do not wrap around."""
    nl, na, nb = shape
    return nl + 1, na, nb + 1


def _pad_index(cells: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Each cell's index (of the grid ``shape``) in the :func:`_padded` grid."""
    return cells + cells // shape[2]


def _widen_padded(tables: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """:func:`_widen` of tables ([k, ncell]) laid out in the :func:`_padded` grid of ``shape`` (its empty cells -1),
    without copying them in and out of that layout; the result is in that layout too (its empty cells are not
    meaningful)."""
    k = len(tables)
    nl, na, nb = _padded(shape)
    if nb > CV_CHANNELS:
        from scipy.ndimage import maximum_filter

        return maximum_filter(tables.reshape(k, nl, na, nb), size=(1, 3, 3, 3), mode="constant", cval=-1).reshape(k, -1)
    g = (tables + 1).view(np.uint8)
    g = cv2.dilate(g.reshape(k * nl, na, nb), _BOX3, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    g = cv2.dilate(g.reshape(k * nl, na * nb), _ROW3, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return (g.view(np.int8) - 1).reshape(k, -1)


#: the most channels OpenCV 5 filters in one image (OpenCV 4 took 512)
CV_CHANNELS = 128
_BOX3, _ROW3 = np.ones((3, 3), np.uint8), np.ones((1, 3), np.uint8)


def _centres(idx: np.ndarray, shape: tuple[int, int, int], cell: float) -> np.ndarray:
    """Lab centres ([N, 3]) of the colour cells ``idx``."""
    return _centre_table(shape, cell)[idx]


@functools.lru_cache(maxsize=8)
def _centre_table(shape: tuple[int, int, int], cell: float) -> np.ndarray:
    """The Lab centre ([ncell, 3], float64) of every colour cell of the grid ``shape``."""
    _, na, nb = shape
    (a0, _), (b0, _) = _ab_cells(cell)
    idx = np.arange(int(np.prod(shape)))
    li, ai, bi = idx // (na * nb), (idx // nb) % na + a0, idx % nb + b0
    table = np.stack([(li + 0.5) * cell, (ai + 0.5) * cell - 128.0, (bi + 0.5) * cell - 128.0], 1)
    table.flags.writeable = False
    return table


def _hull(ref_cells: np.ndarray, shape: tuple[int, int, int], cell: float, scale: float = 1.0,
          grainless_scale: float = GRAINLESS_SCALE, memo: dict | None = None):
    """A test of which Lab points ([N, 3]) lie in the convex hull of the reference cells' centres, grown by one
    cell and, with ``scale`` > 1, scaled about the colours' centre (``grainless`` points: by ``grainless_scale``
    when that is larger): blends of the context's colours (what diffusion-like fills and smears produce), which are
    not new content. Computed on first use; ``memo`` (a dict): hulls of the same cells are built once there."""
    cache: list = []

    def inside(points: np.ndarray, grainless: np.ndarray | None = None) -> np.ndarray:
        if not cache:
            idx = _distinct(ref_cells, int(np.prod(shape)))
            key = idx.tobytes()
            if memo is None or key not in memo:
                hull = _build_hull(_centres(idx, shape, cell))
                if memo is not None:
                    memo[key] = hull
            else:
                hull = memo[key]
            pts, eq = hull
            if eq is not None:
                depth = np.maximum(-(pts.mean(0) @ eq[:, :3].T + eq[:, 3]), 0)  # how far inside each facet the
                # centre lies; a point is inside the grown, scaled hull iff n.x + d <= cell + (scale - 1) depth
                cache.append((eq[:, :3].T.copy(), eq[:, 3], cell + (scale - 1) * depth,
                              cell + (max(scale, grainless_scale) - 1) * depth))
            else:
                cache.append(None)
        if cache[0] is None:
            return np.zeros(len(points), bool)
        normals, offsets, reach, grainless_reach = cache[0]
        proj = points @ normals
        proj += offsets
        out = (proj <= reach).all(axis=1)
        if grainless is not None:
            # grainless points reach further (grainless_reach >= reach facet by facet): only those not yet inside
            # need the second test
            again = np.flatnonzero(grainless & ~out)
            if len(again):
                out[again] = (proj[again] <= grainless_reach).all(axis=1)
        return out

    return inside


def _build_hull(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(the points, the facets' equations of their convex hull: None when there is none)."""
    from scipy.spatial import QhullError

    if 0 < len(pts) < 4:
        pts = np.concatenate([pts, pts[:1] + np.eye(3) * 1e-3])
    try:  # unit normals n and offsets d: inside iff n.x + d <= 0
        eq = _hull_equations(pts) if len(pts) else None
    except (QhullError, ValueError, IndexError):
        eq = None
    return pts, eq


def _hull_equations(pts: np.ndarray) -> np.ndarray:
    """``scipy.spatial.ConvexHull(pts, qhull_options="QJ").equations``: the same Qhull run through SciPy's wrapper
    of it, without the volume and area ConvexHull also computes (a third of the time); ConvexHull itself where
    that wrapper is not there."""
    from scipy.spatial import ConvexHull

    try:
        from scipy.spatial._qhull import _Qhull
    except ImportError:  # (a private class: SciPy may move it)
        return ConvexHull(pts, qhull_options="QJ").equations
    q = _Qhull(b"i", np.ascontiguousarray(pts, dtype=np.double), b"QJ", required_options=b"Qt")
    try:
        return q.get_simplex_facet_array()[2]
    finally:
        q.close()


def _grainless(lab: np.ndarray) -> np.ndarray:
    """Pixels without grain: fine texture under ``GRAIN``, or under ``RAMP`` times the gradient (a smooth ramp's
    curvature, not texture): synthesised."""
    return lab[:, 3] < np.maximum(GRAIN, RAMP * lab[:, 4])


def _smooth(gbins: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Weakly textured pixels: the two weakest gradient bins, or grainless (:func:`_grainless`)."""
    return (gbins <= 1) | _grainless(lab)


def _novel(gbins: np.ndarray, lab: np.ndarray, support: np.ndarray, shape_support: np.ndarray,
           blends: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Per pixel: new against its support (``support``: the strongest gradient bin its colour cell is covered with,
    -1 when absent; new when its own is stronger; or, for a textured pixel, the same for its local shape and
    ``shape_support``), except that weakly textured pixels that are blends of the reference colours
    (``blends(indices)``: inside their convex hull) are not new."""
    novel = gbins > support
    smooth = _smooth(gbins, lab)
    idx = np.flatnonzero(novel & smooth)
    if len(idx):
        novel[idx] = ~blends(idx)
    return novel | ((gbins > shape_support) & ~smooth)


def _seam(L: np.ndarray, tL: np.ndarray, m: np.ndarray) -> float:
    """The share of the hole's border pixels (``m``'s pixels beside a pixel outside it) where the lightness ``L``
    changes faster than the truth's ``tL`` by more than ``SEAM_DELTA`` L units per px (both Gaussian-smoothed at
    1 px): where the fill was cut in rather than continued from its surroundings."""
    mu = m.astype(np.uint8)
    by, bx = np.nonzero(mu & (cv2.erode(mu, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) == 0))
    if not len(by):
        return 0.0

    def grad(a: np.ndarray) -> np.ndarray:
        a = cv2.GaussianBlur(np.asarray(a, np.float32), (0, 0), 1.0)
        gx, gy = (cv2.Sobel(a, cv2.CV_32F, dx, 1 - dx, ksize=3)[by, bx] for dx in (1, 0))
        return np.hypot(gx, gy) / 8

    return float((grad(L) > grad(tL) + SEAM_DELTA).mean())


def _departures(L: np.ndarray, tL: np.ndarray, m: np.ndarray, hy: np.ndarray, hx: np.ndarray,
                cand: np.ndarray, cut: Callable[[], bool], grained: np.ndarray) -> int:
    """How many of the candidate hole pixels (``cand``, at ``hy, hx``) depart from the truth's lightness ``tL`` and,
    unless the fill is cut in (``cut()``, called only when needed), are ``grained`` and depart from the smooth
    interpolation of the lightness ``L`` outside the hole ``m``, in connected regions of at least ``STEP_REGION`` of
    the hole (see the module's docstring)."""
    least = STEP_REGION * len(hy)
    cand = cand & (np.abs(cv2.GaussianBlur(L - tL, (0, 0), STEP_LOWPASS))[hy, hx] > STEP_DELTA)  # (linear: one blur)
    if np.count_nonzero(cand) < least:
        return 0
    if not cut():  # (a fill cut in was not continued from its surroundings: no interpolation can excuse it)
        cand = cand & grained
        if np.count_nonzero(cand) < least:
            return 0
        known = (~m).astype(np.float32)
        mean, sq = _pushpull(L, known), _pushpull(L * L, known)
        spread = np.sqrt(np.maximum(sq - mean * mean, 0))[hy, hx]
        cand &= np.abs(L - mean)[hy, hx] > np.maximum(STEP_DELTA, STEP_SPREAD * spread)
        if np.count_nonzero(cand) < least:
            return 0
    img = np.zeros(m.shape, np.uint8)
    img[hy[cand], hx[cand]] = 1
    areas = cv2.connectedComponentsWithStats(img, connectivity=8)[2][1:, cv2.CC_STAT_AREA]
    return int(areas[areas >= least].sum())


def _sector_of(m: np.ndarray, ry: np.ndarray, rx: np.ndarray, k: int) -> np.ndarray:
    """Angular sector (0..k-1) around the hole's centroid of each ring pixel."""
    mo = cv2.moments(m.view(np.uint8), binaryImage=True)  # (sums of integer coordinates: the exact centroid)
    cy, cx = mo["m01"] / mo["m00"], mo["m10"] / mo["m00"]
    return ((np.arctan2(ry - cy, rx - cx) + np.pi) / (2 * np.pi) * k).astype(np.int32) % k


def _neighbours(j: int, present: list[int], k: int) -> list[int]:
    """Sector ``j`` (when it has ring pixels) and the nearest sectors with ring pixels on either side."""
    out = {j} if j in present else set()
    for step in (1, -1):
        for d in range(1, k):
            if (j + step * d) % k in present:
                out.add((j + step * d) % k)
                break
    return sorted(out)


def _any_pooled(m: np.ndarray, f: int) -> np.ndarray:
    """Whether any pixel of each ``f`` x ``f`` block of ``m`` (its sides multiples of ``f``) is set."""
    out = m[::f, ::f].copy()
    for dy in range(f):
        for dx in range(f):
            out |= m[dy::f, dx::f]
    return out


def _pools(present: list[int], k: int) -> np.ndarray:
    """[k, k] bool: row j marks :func:`_neighbours` of sector j (the ring pixels its fill pixels are judged
    against)."""
    pool = np.zeros((k, k), bool)
    for j in range(k):
        pool[j, _neighbours(j, present, k)] = True
    return pool


class ReplacementDetector(CalibratedDetector):
    """Fill is foreign to its surroundings (a new object, a pasted patch): colour/texture novelty vs the ring.

    Parameters: ``threshold`` / ``ref_threshold`` (default: the shipped thresholds file), ``cell`` (Lab
    quantisation step), ``n_sectors`` (ring sectors for the self-difference baseline), ``min_pixels``,
    ``work_side`` (a frame longer than this many px is judged downscaled to it,
    :func:`bench.detectors._util.working_batch`; None: at its own size, as before v3).
    """

    key = "replacement"
    version = 3  # v2: replacement_real_score (the head fitted on real outputs); v3: work_side
    extra_thresholds = ("ref_threshold", "real_threshold", "plain_threshold")
    extra_scores = ("replacement_ref_score", "replacement_real_score")
    extra_flags = ("replacement_free_flag", "replacement_ref_flag")

    def __init__(self, threshold: float | None = None, ref_threshold: float | None = None, cell: float = 6.0,
                 n_sectors: int = 8, min_pixels: int = 24, factor: int = 2, thresholds: str | None = None,
                 real_threshold: float | None = None, plain_threshold: float | None = None,
                 work_side: int | None = WORK_SIDE) -> None:
        check_params(work_side=(work_side, MIN_WORK_SIDE, None), cell=(cell, 1, None), n_sectors=(n_sectors, 1, None),
                     min_pixels=(min_pixels, 1, None), factor=(factor, 1, None))
        self.cell = float(cell)
        self.work_side = None if work_side is None else int(work_side)
        self.factor = int(factor)
        self.n_sectors = int(n_sectors)
        self.min_pixels = int(min_pixels)
        self.head = real_head.load_head("replacement")
        self.head_chroma = bool(self.head) and "chroma" in self.head["features"]  # (else not computed)
        self._thresholds(thresholds, threshold=threshold, ref_threshold=ref_threshold, real_threshold=real_threshold,
                         plain_threshold=plain_threshold)

    def parts(self, out, m: np.ndarray, gt=None) -> tuple[float, float, list[float]]:
        """(novelty of the hole against the ring; the same against the ring and, with ``gt``, what the truth shows
        in that part of the hole (NaN without ``gt``); novelty of each ring sector against the sectors beside
        it)."""
        none = (math.nan, math.nan, [])
        if not m.any():
            return none
        width = ring_width(m, lo=8, hi=48, frac=0.5)
        ys, xs = crop_box(m, width + 2 + 4)  # ring + its gap + the gradient filters' reach
        m = m_full = m[ys, xs]
        interior = inside_distance(m) >= 2
        f = self.factor if min(m.shape) >= 32 * self.factor else 1
        h, w = m.shape[0] // f * f, m.shape[1] // f * f

        def small(a: np.ndarray) -> np.ndarray:  # at 1/f resolution, area-averaged
            return a if f == 1 else cv2.resize(a[:h, :w], (w // f, h // f), interpolation=cv2.INTER_AREA)

        rgb = hwc(out[:, ys, xs])
        # a constant fill (flat colour, the blank) is no object: blur's or noop's business (judged once there is
        # context to judge it against)
        constant = np.count_nonzero(interior) >= self.min_pixels and float(
            cv2.meanStdDev(rgb, mask=interior.astype(np.uint8))[1].max()) < FLAT_STD
        if f > 1:  # statistics of colour cells do not need every pixel: analyse at 1/f resolution
            rgb = small(rgb)
            m = _any_pooled(m[:h, :w], f)  # a pixel touching the hole is hole
            width = max(4, width // f)
        hole = inside_distance(m) >= 2
        if np.count_nonzero(hole) * f * f < self.min_pixels:
            return none
        rg = ring(m, width)
        nr = np.count_nonzero(rg)
        if nr * f * f < 4 * self.min_pixels:
            return none
        if constant:
            return 0.0, (0.0 if gt is not None else math.nan), []
        ft = _features(rgb, self.cell)
        shape, sshape = ft.shape, ft.sshape
        ncell = int(np.prod(shape))
        pcell, pscell = int(np.prod(_padded(shape))), int(np.prod(_padded(sshape)))  # the tables' layout
        k = self.n_sectors
        ry, rx = np.nonzero(rg)
        sec = _sector_of(m, ry, rx, k)
        # each fill pixel is judged against the part of the ring it is nearest to (and the sectors beside it)
        _, lbl = cv2.distanceTransformWithLabels((~rg).astype(np.uint8), cv2.DIST_L2, 3,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
        to_sector = np.full(int(lbl.max()) + 1, -1, np.int32)
        to_sector[lbl[ry, rx]] = sec
        hy, hx = np.nonzero(hole)
        hsec = to_sector[lbl[hy, hx]]
        h_cells, h_g, h_lab, h_s = ft.cells[hy, hx], ft.gbins[hy, hx], ft.lab[hy, hx], ft.shapes[hy, hx]
        r_cells, r_g, r_lab, r_s = ft.cells[ry, rx], ft.gbins[ry, rx], ft.lab[ry, rx], ft.shapes[ry, rx]
        # the colour and shape cells' places in the supports' (padded) layout
        h_pc, h_ps, r_pc, r_ps = (_pad_index(h_cells, shape), _pad_index(h_s, sshape), _pad_index(r_cells, shape),
                                  _pad_index(r_s, sshape))

        def tables(cells, shapes, g, sectors, pool, least, kc=(None, None)) -> tuple[np.ndarray, np.ndarray]:
            # per sector: the colour and shape supports (int8 [k, pcell], [k, pscell]) of padded cell indices
            return (_widen_padded(_sector_max_grad(cells, g, sectors, pool, pcell, least, kc[0]), shape),
                    _widen_padded(_sector_max_grad(shapes, g, sectors, pool, pscell, least, kc[1]), sshape))

        counts = np.bincount(sec, minlength=k)
        present = [j for j in range(k) if counts[j] * f * f >= self.min_pixels // 2]
        pool = _pools(present, k)
        # (the ring's counts: pooled twice below)
        r_kc = _key_counts(r_pc, r_g, sec, k, pcell), _key_counts(r_ps, r_g, sec, k, pscell)
        sup, ssup = tables(r_pc, r_ps, r_g, sec, pool, max(2, int(0.001 * nr)), r_kc)
        h_sup, h_ssup = sup[hsec, h_pc], ssup[hsec, h_ps]
        hulls: dict[int, Callable] = {}
        memo: dict = {}  # the hulls' facets by their cells (sectors pooling the same cells, the whole ring's hull)
        distinct = _distinct(sec.astype(np.int64) * ncell + r_cells, k * ncell)  # each sector's distinct colour cells
        d_sec, d_cell = distinct // ncell, distinct % ncell

        def sector_blends(idx: np.ndarray) -> np.ndarray:  # in the hull of the ring colours of the pixel's sector
            blend, lab, at = np.zeros(len(idx), bool), h_lab[idx], hsec[idx]
            for j in np.unique(at):
                if j not in hulls:
                    hulls[j] = _hull(d_cell[pool[j][d_sec]], shape, self.cell, memo=memo)
                here = at == j
                blend[here] = hulls[j](lab[here, :3], _grainless(lab[here]))
            return blend

        new = _novel(h_g, h_lab, h_sup, h_ssup, sector_blends)
        n_free = np.count_nonzero(new)
        ref_new = np.zeros(len(hy), bool)  # new against the ring and the truth
        tf = None
        if gt is not None and n_free:
            tf = _features(small(hwc(gt[:, ys, xs])), self.cell, lab=False)  # the truth's, once some pixel needs them
            # blends may mix colours from anywhere around the hole (one hull of the whole ring, reaching twice as
            # far from the colours' centre: biharmonic fills overshoot the colours of strong edges); the truth's
            # colours count only where the truth shows them, in the same sector of the hole
            ref_hull = _hull(d_cell, shape, self.cell, REF_HULL_SCALE, REF_GRAINLESS_SCALE, memo=memo)
            t_sup, t_ssup = tables(_pad_index(tf.cells[hy, hx], shape), _pad_index(tf.shapes[hy, hx], sshape),
                                   tf.gbins[hy, hx], hsec, None, 1)
            # only pixels new against the ring can be new against the ring and the truth
            i = np.flatnonzero(new)
            lab_i, sec_i = h_lab[i], hsec[i]
            ref_new[i] = _novel(h_g[i], lab_i, np.maximum(h_sup[i], t_sup[sec_i, h_pc[i]]),
                                np.maximum(h_ssup[i], t_ssup[sec_i, h_ps[i]]),
                                lambda j: ref_hull(lab_i[j, :3], _grainless(lab_i[j])))
        base = []
        judged = [j for j in present if pool[j].sum() > 1]  # present sectors with another beside them
        if n_free and judged:  # how new each part of the ring is against the parts beside it
            others = pool & ~np.eye(k, dtype=bool)
            bsup, bssup = tables(r_pc, r_ps, r_g, sec, others, 1, r_kc)
            # (smooth pixels are left out here: the ring's own blends say nothing about its variety)
            rnew = ((r_g > bsup[sec, r_pc]) | (r_g > bssup[sec, r_ps])) & ~_smooth(r_g, r_lab)
            hits = np.bincount(sec, weights=rnew, minlength=k)
            base = [float(hits[j] / counts[j]) for j in judged]
        n = max(1, len(hy))
        if gt is None:
            return n_free / n, math.nan, base
        n_ref = np.count_nonzero(ref_new)
        # departures: smooth content unlike the truth, and cut in or (with grain: not synthesised) unlike the
        # surroundings
        cand = (h_g <= 1) & ~ref_new
        if np.count_nonzero(cand) >= STEP_REGION * len(hy):
            # the truth's lightness: from its features when the sector pass computed them
            tL = tf.lab[..., 0] if tf is not None else _lightness(small(hwc(gt[:, ys, xs])))

            def cut() -> bool:  # the seam is judged at full resolution, on the hole and the filters' reach
                sy, sx = crop_box(m_full, SEAM_REACH)
                lum = [_lightness(hwc(a[:, ys, xs][:, sy, sx])) for a in (out, gt)]
                return _seam(lum[0], lum[1], m_full[sy, sx]) >= SEAM_SHARE

            n_ref += _departures(ft.lab[..., 0], tL, m, hy, hx, cand, cut, ~_grainless(h_lab))
        return n_free / n, n_ref / n, base

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        batch = working_batch(batch, self.work_side)
        b = batch.size
        free, ref, real = nan_array(b), nan_array(b), nan_array(b)
        has_gt = batch.has_gt.bool().cpu().tolist()
        for i in range(b):
            m = mask2d(batch.mask[i])
            n_free, ref[i], base = self.parts(batch.output[i], m, batch.gt[i] if has_gt[i] else None)
            free[i] = max(0.0, n_free - float(np.median(base))) if base else n_free
            if self.head and free[i] > 0:  # (0: no threshold flags it; NaN: not judged)
                x = real_head.features_cached(batch.output[i], m, chroma=self.head_chroma)
                real[i] = real_head.logit(self.head, x, {"replacement_score": free[i]})
        return {"replacement_score": free, "replacement_ref_score": ref, "replacement_real_score": real}

    def margins(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        free = self._margin(scores["replacement_score"])
        real = scores.get("replacement_real_score")
        if real is not None and self.t.get("real_threshold") is not None:
            # both must hold, unless the novelty is plain (over plain_threshold: no second opinion needed); a NaN
            # head score (no head) leaves the novelty alone (np.maximum keeps its NaN), whatever the plain threshold
            agree = margin(real, self.t["real_threshold"], "above")
            if self.t.get("plain_threshold") is not None:
                agree = np.maximum(agree, margin(scores["replacement_score"], self.t["plain_threshold"], "above"))
            free = veto(free, agree)
        ref_score = score_column(scores, "replacement_ref_score", free.shape)
        ref = self._margin(ref_score, "ref_threshold")
        return {"replacement_flag": np.where(np.isnan(ref_score), free, ref), "replacement_free_flag": free,
                "replacement_ref_flag": ref}

    def describe(self) -> str:
        t = self.t
        g = lambda v: "(none)" if v is None else f"{v:g}"  # noqa: E731
        words = (f"replacement_flag = replacement_ref_score > {g(t['ref_threshold'])} where there is ground truth, "
                 f"else replacement_score > {g(t['threshold'])}")
        if t["real_threshold"] is not None:
            words += f" and (replacement_real_score > {t['real_threshold']:g}"
            words += (f" or replacement_score > {t['plain_threshold']:g})" if t["plain_threshold"] is not None
                      else ")")
        return words

    def provenance(self):
        return {**super().provenance(), "variant": "weight-free colour/texture novelty", "cell": self.cell,
                "work_side": self.work_side,
                "n_sectors": self.n_sectors, "min_pixels": self.min_pixels, "factor": self.factor,
                "grainless_hull_scale": GRAINLESS_SCALE, "ref_hull_scale": REF_HULL_SCALE,
                "ref_grainless_hull_scale": REF_GRAINLESS_SCALE,
                "departures": {"lowpass_sigma": STEP_LOWPASS, "delta": STEP_DELTA, "spread": STEP_SPREAD,
                               "min_region": STEP_REGION, "seam_delta": SEAM_DELTA, "seam_share": SEAM_SHARE},
                "hessian_bin_edges": H_EDGES.tolist()}
