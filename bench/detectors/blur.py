"""``blur``: the hole was filled with a smear or a mosaic.

Three scores per sample (see docs/detectors.md):

* ``blur_score`` (reference-free): the smaller of two log-ratios, so both must hold:

  - *less detail than the context*: ``ctx = ln((E_ring + eps) / (E_fill + eps))``, the largest over three
    band-pass scales (luminance minus its Gaussian blur at sigma 1; sigma 1 minus 2; 2 minus 4), ``E`` = mean
    |band|. ``E_fill`` is measured on the hole's interior (pixels at least max(``depth``, 2 sigma) px from its
    border, so the seam does not count), ``E_ring`` on a band of context around the hole (as far from it, width
    growing with the hole);
  - *a smear's fall-off*: ``steeper = ln(ring_0 / ring_K) - ln(fill_0 / fill_K)``, how much more the fill's
    finest-band energy falls below its coarsest-band energy than the context's does (a blur removes fine detail
    first; smooth true content, such as sky next to a building, has little detail at every scale).

  A fill whose finest band is empty (a constant: flat or blank) is judged on ``ctx`` alone.
* ``blur_mosaic_score`` (reference-free): how much of the fill's gradient energy sits on a regular block grid
  (pixelation), 0 (none) .. 1 (all), the weaker of the horizontal and vertical directions, minus the same
  measure on the context ring (a tiled wall is no mosaic); 0 when the fill has over twice its context's detail
  at every scale (pixelation never adds detail: a pasted checkerboard is a replacement, not a mosaic).
* ``blur_ref_score`` (where ground truth exists): ``ln((E_gt + eps) / (E_fill + eps))`` on the same interiors,
  largest over the scales.

* ``blur_real_score`` (reference-free): the logit of a tiny logistic head fitted on REAL model outputs (the real
  corpus's dev split; :mod:`bench.detectors.real_head`, numbers in ``bench/data/real_heads.json``) on weight-free
  features: detail against what the ring predicts at σ 1, 2, 4, orientation coherence, edge continuity across the
  border, and ``blur_score``. A real smear loses structure at every scale while keeping some grain, which the
  fall-off condition of ``blur_score`` (learned on synthetic smears) misses.

* ``blur_grain_score`` (reference-free): ``ln((median_ring + GRAIN_EPS) / (median_fill + GRAIN_EPS))`` of the finest
  band (|luma - G(1)|) on the same interior and ring: how much less *typical* fine texture (grain, sensor noise,
  JPEG texture) the fill has than its context. The mean of ``blur_score`` is carried by the strongest edges; the
  median is what most pixels show. Real model smears (ProFill's and LaMa's on large holes, a diffusion model's
  ghost) keep edges and lose the grain the photograph has everywhere, at every scale alike, so the fall-off test
  misses them; this one does not need it.
* ``blur_grain_ref_score`` (where ground truth exists): the same with the truth's median on the interior in place
  of the ring's: the truth of a random hole may well be smoother than its surroundings (a cheek inside hair).

* ``blur_fade_score`` (reference-free, since v4; :func:`fade_score`): ``ln((median_band + ε) / (median_core + ε))``
  of the fill's detail (|G(1) − G(3)| of luma filtered within the hole) in its border band and in its core: a
  fill that diffuses its border inwards (LaMa's and ProFill's fills of large holes, classical fills) keeps the
  texture at the border and washes out inside, which the grain deficit, a median over the whole interior, misses
  while the outer part keeps the grain.
* ``blur_fade_ref_score`` (where ground truth exists, since v7): ``blur_fade_score`` minus the same score of the
  truth on the same hole: how much more the fill fades than the truth does. A random hole's truth may itself be
  smooth in its core and detailed at its border (sky inside a roofline, a cheek inside hair); a fill that continues
  it fades as much and is not a smear.

The ring (of every score above that reads one: ``ctx``, ``steeper``, the grain deficit, the mosaic's ring term) is
read from the **raw output** (never pasted back) where that differs from the scored output and is still the input's
picture outside the hole (since v5, ``context="raw"``, :meth:`BlurDetector.context_image`): a pipeline that softens
the whole frame (a VAE round trip, a model run at its own size and mapped back, JPEG) softens the fill with it, and
pasted back into the input's sharper pixels such a fill would read as a smear that the output file does not show.

``blur_flag`` = ``blur_score > threshold`` (and, where there is ground truth, ``blur_ref_score > ref_threshold``:
the fill has less detail than the truth too; a fill as detailed as the truth is the scene's own smoothness, sky
beside a building, not a smear; since v7, a veto on that part alone) or ``blur_mosaic_score > mosaic_threshold``
or the grain deficit > ``grain_threshold`` (``blur_grain_ref_score`` where there is ground truth, else
``blur_grain_score``: a removal's fill should continue the grain of the backdrop the ring shows) or
(``blur_fade_score > fade_threshold`` and that grain deficit > 0: a core smoother than the border but as grainy as
the context is smooth content, not a smear; and, where there is ground truth, ``blur_fade_ref_score >
fade_threshold`` too: a veto, which can only take a fade flag away; ``blur_fade_flag``) or ``blur_real_score >
real_threshold`` (the last three only when the thresholds file sets them; ``grain_threshold`` and
``fade_threshold`` are chosen so that few constructed correct fills reach them: docs/detectors.md);
``blur_mosaic_flag`` = the second part alone (which share of the blur flags are mosaics); ``blur_ref_flag`` =
``blur_ref_score > ref_threshold``. Holes nowhere ``min_width`` (16) px across are not judged (NaN): a smear a few
pixels wide is not a visible failure (and is what classical inpainting of scratches and dots rightly produces).
"""
from __future__ import annotations

import math

import cv2

import numpy as np

from ..types import EvalBatch
from . import real_head as _real_head
from ._util import (MIN_WORK_SIDE, WORK_SIDE, absdiff, check_params, crop_box, inside_distance, luma, mask2d, masked_mean,
                    masked_median, margin, nan_array, outside_distance, ring_width, score_column, veto, working_batch)
from .thresholds import CalibratedDetector

GRAIN_EPS = 0.5 / 255  # the grain median's regulariser: half an 8-bit step (a flat ring and a flat fill: ratio ~1)
EPS = 4e-3  # ~1/255: band-pass energy below this (faint grain, 8-bit quantisation) reads as flat on both sides
RICHER = math.log(2.0)  # blur_score below -ln 2: the fill has over twice its context's detail at every scale
#: the fade (``blur_fade_score``): the crop around the hole is brought to at most this many px (scales relative to
#: the hole), detail = |G(1) - G(3)| of luma filtered within the hole only (normalised convolution: the seam and
#: the context do not count), border band = hole pixels up to FADE_BAND of the deepest pixel's depth from the
#: border, core = deeper than FADE_CORE of it; holes whose deepest pixel is under FADE_MIN_DEPTH px (at that
#: size) from the border have no core: not judged
FADE_SIDE, FADE_SIGMAS, FADE_BAND, FADE_CORE, FADE_MIN_DEPTH = 128, (1.0, 3.0), 0.3, 0.5, 6.0
#: the fade flags only where the grain deficit is above this (the fill has less typical grain than the context)
FADE_GRAIN_FLOOR = 0.0
FADE_EPS = 1e-3  # a quarter of an 8-bit step: the medians' regulariser (a flat band and a flat core: ratio ~1)
#: the raw output's ring stands for the context where the raw output's luma correlates with the input's outside the
#: hole at least this much (Pearson): the same picture, softened, re-encoded or shifted a pixel (a resize to 1/4 and
#: back 0.64-0.99 on scikit-image's photographs at 128 px, the fine textures lowest); a black, blank or noise frame
#: (0 or undefined) or other content is not the input's picture
RAW_CORR = 0.5
STEP = 2.5 / 255  # gradient steps below this (8-bit quantisation of smooth ramps) do not count as block edges


#: band-pass scales: band k = G(s[k-1]) - G(s[k]) of luminance (G(0) = the image itself)
SCALES = (0.0, 1.0, 2.0, 4.0)


def bands(y: np.ndarray) -> list[np.ndarray]:
    """|band-pass| images of luminance at the scales of :data:`SCALES` (a Laplacian pyramid without decimation)."""
    blurred = [y] + [cv2.GaussianBlur(y, (0, 0), s) for s in SCALES[1:]]
    return [absdiff(blurred[k - 1], blurred[k]) for k in range(1, len(SCALES))]


def reach(k: int) -> float:
    """How far (px) band k's filters reach: pixels closer than this to the hole's border mix fill and context."""
    return max(2.0, 2.0 * SCALES[k + 1])


def _residue_class(n: int, ps: np.ndarray, x0: int) -> tuple[np.ndarray, np.ndarray]:
    """For the periods ``ps``: the (row of p, x) pairs of the x < n with x = x0 mod p, p by p and x ascending."""
    return np.nonzero(np.arange(n)[None, :] % ps[:, None] == (x0 % ps)[:, None])


def _grid_share(profile: np.ndarray, pmin: int, pmax: int) -> float:
    """Largest share of ``profile`` energy on one residue class mod p (p in [pmin, pmax]), chance removed.

    The single strongest line is set aside first, so one straight edge in a smooth fill is not a "grid"; the
    grid is the one through that line.
    """
    n = int(np.count_nonzero(profile))
    total = float(profile.sum())
    if total <= 0 or n < 3:
        return math.nan  # no edges across this direction (flat, or 1-D content): no evidence either way
    idx = np.nonzero(profile)[0]
    span = int(idx[-1] - idx[0] + 1)
    top = int(np.argmax(profile))
    rest = profile.astype(np.float64)
    rest[top] = 0.0
    rest_total = float(rest.sum())
    hi = min(pmax, span // 2)
    if rest_total <= 0 or hi < pmin:
        return math.nan if rest_total <= 0 else 0.0
    # per period, the energy on the residue class through the strongest line (summed in x order, as bincount does)
    ps = np.arange(pmin, hi + 1)
    row, col = _residue_class(profile.size, ps, top)
    share = np.bincount(row, weights=rest[col], minlength=ps.size) / rest_total
    return float(max(0.0, ((share - 1.0 / ps) / (1.0 - 1.0 / ps)).max()))


def blockiness(y: np.ndarray, region: np.ndarray, pmin: int = 4, pmax: int = 48) -> float:
    """Share of the region's gradient energy that lies on a regular block grid (0..1).

    The weaker of the x and y directions (a mosaic is blocky both ways; a fence only one way); a direction with
    no edges at all (content that varies along one axis only) gives no evidence and is left out.
    """
    # (steps below STEP and steps leaving the region count 0: one product with the 0/1 of both)
    dx = absdiff(y[:, 1:], y[:, :-1])
    dx *= (dx >= STEP) & region[:, 1:] & region[:, :-1]
    dy = absdiff(y[1:, :], y[:-1, :])
    dy *= (dy >= STEP) & region[1:, :] & region[:-1, :]
    sx = _grid_share(dx.sum(0), pmin, pmax)
    sy = _grid_share(dy.sum(1), pmin, pmax)
    if math.isnan(sx) and math.isnan(sy):
        return 0.0
    return float(np.nanmin([sx, sy]))


FLAT = 0.05 / 255  # finest-band energy below this: the fill is constant (a flat or blank fill)
SLOPE_EPS = 0.1 / 255  # regularises the fine / coarse ratio (8-bit grain is about 0.3 / 255)


def _shape_evidence(fb: list[np.ndarray], rb: list[np.ndarray], interiors: list[tuple[int, np.ndarray, np.ndarray]],
                    min_pixels: int) -> tuple[float, bool]:
    """(steeper, flat). ``steeper`` = how much more the fill's detail falls from the coarsest available band to the
    finest than the context's does, ``ln(ring0 / ringK) - ln(fill0 / fillK)`` on the interior (bands ``fb``) and
    ring (bands ``rb``) of band K (the coarsest band with an interior); ``flat``: the finest band is empty in the
    fill."""
    usable = [(k, inner, rg) for k, inner, rg in interiors if np.count_nonzero(rg) >= min_pixels]
    if not usable:
        return math.nan, False
    k, inner, rg = usable[-1]
    f0, fk = masked_mean(fb[0], inner), masked_mean(fb[k], inner)
    r0, rk = masked_mean(rb[0], rg), masked_mean(rb[k], rg)
    flat = f0 < FLAT
    if k == 0:
        return math.nan, flat
    steeper = math.log((r0 + SLOPE_EPS) / (rk + SLOPE_EPS)) - math.log((f0 + SLOPE_EPS) / (fk + SLOPE_EPS))
    return steeper, flat


def _within(y: np.ndarray, w: np.ndarray, wb: dict, s: float) -> np.ndarray:
    """Gaussian blur of ``y`` at σ ``s`` over the pixels where ``w`` is 1 only (normalised convolution; ``wb``
    keeps the blurred weights per σ)."""
    if s not in wb:
        wb[s] = np.maximum(cv2.GaussianBlur(w, (0, 0), s), 1e-6)
    return cv2.GaussianBlur(y * w, (0, 0), s) / wb[s]


def fade_score(out, m: np.ndarray) -> float:
    """``blur_fade_score`` of one output (RGB tensor [3, H, W]; ``m`` bool hole [H, W]): the fill's detail
    (|G(1) − G(3)| of luma, within the hole) in its border band over that in its core,
    ``ln((median_band + ε) / (median_core + ε))``: a fill that diffuses its border inwards (a smear, LaMa's or
    ProFill's fade-out on a large hole, a classical fill) loses detail with depth, a correct fill has no reason to.
    NaN where the hole has no core (see :data:`FADE_MIN_DEPTH`). Reference-free even where there is ground truth:
    its threshold is a quantile over correct fills, the truth itself, and is as valid for any correct fill of any
    hole; a score against the truth alone would need correct fills other than the truth to set one. The truth's
    own fade enters the flag only as a veto (``blur_fade_ref_score``): it can take a flag away, never add one."""
    return fade_scores([out], m)[0]


def fade_scores(images: list, m: np.ndarray) -> list[float]:
    """:func:`fade_score` of each of ``images`` (RGB tensors [3, H, W]) on the same hole ``m``: the output and its
    truth share the crop, the distance transform, the band, the core and the blurred weights."""
    nan = [math.nan] * len(images)
    if not m.any():
        return nan
    ys, xs = _real_head._crop(m)
    # luma first, then the area resize (both linear: the same as resizing the colours, at a third of the cost)
    first, mc = _real_head._work(luma(images[0][:, ys, xs]), m[ys, xs], FADE_SIDE)
    din = cv2.distanceTransform(mc.astype(np.uint8), cv2.DIST_L2, 3)
    deep = float(din.max(initial=0.0))
    if deep < FADE_MIN_DEPTH:
        return nan
    band = mc & (din > 1) & (din <= max(3.0, FADE_BAND * deep))
    core = mc & (din > FADE_CORE * deep)
    if np.count_nonzero(band) < 8 or np.count_nonzero(core) < 8:
        return nan
    w, wb, out = mc.astype(np.float32), {}, []
    for k, img in enumerate(images):
        y = first if k == 0 else _real_head._work(luma(img[:, ys, xs]), m[ys, xs], FADE_SIDE)[0]
        d = np.abs(_within(y, w, wb, FADE_SIGMAS[0]) - _within(y, w, wb, FADE_SIGMAS[1]))
        out.append(math.log((masked_median(d, band) + FADE_EPS) / (masked_median(d, core) + FADE_EPS)))
    return out


class BlurDetector(CalibratedDetector):
    """Fill is a smear or a mosaic: the hole's high-frequency energy against a ring of context, plus blockiness.

    Parameters: ``threshold`` (``blur_score``), ``mosaic_threshold``, ``ref_threshold`` (all default to the
    shipped thresholds file), ``depth`` (least distance in px from the hole's border where the fill is measured),
    ``min_pixels`` (a band with fewer interior pixels is skipped; no band left: NaN), ``min_width`` (holes
    nowhere this many px across are not judged: NaN), ``context`` (``"raw"``, the default: the context ring is read
    from the raw output where that still shows the input's picture, :meth:`context_image`; ``"output"``: always
    from the scored output, as before v5), ``raw_corr`` (that test's least correlation), ``work_side`` (a frame
    longer than this many px is judged downscaled to it, :func:`bench.detectors._util.working_batch`; None: at its
    own size, as before v6).
    """

    key = "blur"
    # v2: blur_real_score (the head fitted on real outputs); v3: blur_grain_score; v4: blur_fade_score; v5: the
    # ring read from the raw output where it shows the input's picture (context="raw"); v6: a frame longer than
    # work_side px is judged downscaled to it; v7: blur_fade_ref_score (the fade against the truth's,
    # a veto) and blur_ref_score as a veto on the main part, where there is ground truth
    version = 7
    extra_thresholds = ("mosaic_threshold", "ref_threshold", "real_threshold", "grain_threshold", "fade_threshold")
    extra_scores = ("blur_mosaic_score", "blur_ref_score", "blur_real_score", "blur_grain_score",
                    "blur_grain_ref_score", "blur_fade_score", "blur_fade_ref_score")
    extra_flags = ("blur_mosaic_flag", "blur_ref_flag", "blur_real_flag", "blur_grain_flag", "blur_fade_flag")

    def __init__(self, threshold: float | None = None, mosaic_threshold: float | None = None,
                 ref_threshold: float | None = None, depth: float = 4.0, min_pixels: int = 64,
                 min_width: float = 16.0, thresholds: str | None = None,
                 real_threshold: float | None = None, real_head: bool = False,
                 grain_threshold: float | None = None, fade_threshold: float | None = None,
                 context: str = "raw", raw_corr: float = RAW_CORR, work_side: int | None = WORK_SIDE) -> None:
        if context not in ("raw", "output"):
            raise ValueError(f"context must be 'raw' or 'output', got {context!r}")
        check_params(work_side=(work_side, MIN_WORK_SIDE, None), depth=(depth, 1, None), min_pixels=(min_pixels, 1, None),
                     min_width=(min_width, 1, None), raw_corr=(raw_corr, -1, 1))
        self.context = context
        self.raw_corr = float(raw_corr)
        self.work_side = None if work_side is None else int(work_side)
        self.depth = float(depth)
        self.min_width = float(min_width)
        self.min_pixels = int(min_pixels)
        # the head fitted on real outputs is withdrawn from the shipped flag (thresholds v18: it did not reach
        # min(precision, recall) 0.5 on corpus dev) and triples blur's time, so its score is computed on request
        self.real_head = bool(real_head)
        self.head = _real_head.load_head("blur") if self.real_head else None
        self._thresholds(thresholds, threshold=threshold, mosaic_threshold=mosaic_threshold,
                         ref_threshold=ref_threshold, real_threshold=real_threshold, grain_threshold=grain_threshold,
                         fade_threshold=fade_threshold)

    def band_ratios(self, out, m: np.ndarray, gt=None, context=None) -> tuple[list[float], list[float], float,
                                                                               tuple[float, bool], tuple[float, float]]:
        """Per band: ln(E_ring/E_fill) and ln(E_gt/E_fill) (NaN where a band has no interior); blockiness; the
        shape evidence (steeper, flat) of :func:`_shape_evidence`; the grain scores (the finest band's medians,
        ring over fill and truth over fill). The fill is read from ``out``, the ring from ``context`` (default
        ``out``; :meth:`context_image`)."""
        n = len(SCALES) - 1
        none = ([math.nan] * n, [math.nan] * n, math.nan, (math.nan, False), (math.nan, math.nan))
        if not m.any():
            return none
        width = ring_width(m)
        # everything below reaches at most reach + width px from the hole, plus 3 sigma of the widest filter
        ys, xs = crop_box(m, int(reach(n - 1) + width + 3 * SCALES[-1] + 2))
        m = m[ys, xs]
        d_in = inside_distance(m)
        if float(d_in.max(initial=0.0)) < self.min_width / 2:  # no part of the hole is min_width px across
            return none
        d_out = outside_distance(m)
        y = luma(out[:, ys, xs])
        fb = bands(y)
        yr, rb = y, fb  # the ring's luminance and bands
        if context is not None:
            yr = luma(context[:, ys, xs])
            rb = bands(yr)
        # the ground truth is read on the hole's interior only: its bands need the hole's box + the filters' reach
        hy, hx = crop_box(m, int(4 * SCALES[-1] + 2))
        gb = bands(luma(gt[:, ys, xs][:, hy, hx])) if gt is not None else None
        ctx, ref, interiors = [], [], []
        grain = grain_ref = math.nan
        for k in range(len(fb)):
            r = max(self.depth, reach(k))
            inner = d_in >= r
            rg = (d_out > reach(k)) & (d_out <= reach(k) + width)
            if np.count_nonzero(inner) < self.min_pixels:
                ctx.append(math.nan)
                ref.append(math.nan)
                continue
            e_fill = masked_mean(fb[k], inner)
            e_ring = masked_mean(rb[k], rg) if np.count_nonzero(rg) >= self.min_pixels else math.nan
            interiors.append((k, inner, rg))
            if k == 0:  # the grain deficits: the finest band's medians, ring (and truth) over fill
                med_fill = masked_median(fb[0], inner) + GRAIN_EPS
                if not math.isnan(e_ring):
                    grain = math.log((masked_median(rb[0], rg) + GRAIN_EPS) / med_fill)
                if gb is not None:
                    grain_ref = math.log((masked_median(gb[0], inner[hy, hx]) + GRAIN_EPS) / med_fill)
            ctx.append(math.log((e_ring + EPS) / (e_fill + EPS)))
            e_gt = masked_mean(gb[k], inner[hy, hx]) if gb is not None else math.nan
            ref.append(math.log((e_gt + EPS) / (e_fill + EPS)))
        shape = _shape_evidence(fb, rb, interiors, self.min_pixels)
        inner0 = d_in >= self.depth
        mos = math.nan
        if np.count_nonzero(inner0) >= self.min_pixels:
            richer = all(math.isnan(c) or c < -RICHER for c in ctx) and not all(math.isnan(c) for c in ctx)
            if richer:  # pixelation never adds detail: a fill much busier than its context is no mosaic of it
                mos = 0.0
            else:
                ring0 = (d_out > self.depth) & (d_out <= self.depth + width)
                by, bx = crop_box(inner0, 1)  # (the grid share is shift-invariant: the box loses nothing)
                mos = blockiness(y[by, bx], inner0[by, bx])
                if mos > 0:
                    mos = max(0.0, mos - blockiness(yr, ring0))  # tiles in the context are no mosaic
        return ctx, ref, mos, shape, (grain, grain_ref)

    def context_image(self, batch: EvalBatch, i: int, m: np.ndarray):
        """The image whose ring the fill is judged against: the raw output (never pasted back) where it differs
        from the scored output and still shows the input's picture outside the hole (its luma's correlation with
        the input's there at least ``raw_corr``: a VAE round trip, a resize to the model's size and back, a codec),
        else None (the scored output).

        A pipeline that softens the whole frame softens the fill with it; pasted back, that fill sits in the
        input's own, sharper pixels and would read as a smear next to them. Against the raw output's context it
        is judged as sharp as the model renders anything (what a person sees in the output file); a raw output
        that is not the input's picture outside the hole (blank, black, redrawn) says nothing of that, and the
        pasted ring is kept."""
        if self.context != "raw" or batch.raw is None:
            return None
        raw, out = batch.raw[i], batch.output[i]
        if raw.shape != out.shape or (raw.data_ptr() == out.data_ptr() and raw.stride() == out.stride()):
            return None  # (not pasted back: the runner's output is the raw tensor itself)
        if np.array_equal(raw.detach().cpu().numpy(), out.detach().cpu().numpy()):
            return None  # (NumPy's comparison: torch.equal takes several times as long on CPU)
        keep = ~m
        if not keep.any():
            return None
        a, b = luma(raw)[keep].astype(np.float64), luma(batch.input[i])[keep].astype(np.float64)
        a -= a.mean()
        b -= b.mean()
        den = math.sqrt(float(a @ a) * float(b @ b))
        corr = float(a @ b) / den if den > 0 else math.nan
        return raw if math.isfinite(corr) and corr >= self.raw_corr else None

    @staticmethod
    def combine(values: list[float]) -> float:
        v = [x for x in values if not math.isnan(x)]
        return float(max(v)) if v else math.nan

    @staticmethod
    def blur_score(ctx: float, shape: tuple[float, bool]) -> float:
        """The fill has less detail than its context (``ctx``) *and* that loss has a smear's shape: its fine
        detail fell more than its coarse structure (``steeper``), or nothing is left at all (``flat``). A smooth
        true fill beside strong structure (sky next to a building) has little detail but the fall-off of smooth
        content, so it is not blur."""
        steeper, flat = shape
        if math.isnan(ctx):
            return math.nan
        if flat or math.isnan(steeper):
            return ctx
        return min(ctx, steeper)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        batch = working_batch(batch, self.work_side)
        b = batch.size
        s, mos, ref, real = nan_array(b), nan_array(b), nan_array(b), nan_array(b)
        grain, grain_ref, fade, fade_ref = nan_array(b), nan_array(b), nan_array(b), nan_array(b)
        has_gt = batch.has_gt.bool().cpu().tolist()
        for i in range(b):
            m = mask2d(batch.mask[i])
            ctx, rf, mos[i], shape, (grain[i], grain_ref[i]) = self.band_ratios(
                batch.output[i], m, batch.gt[i] if has_gt[i] else None, self.context_image(batch, i, m))
            s[i], ref[i] = self.blur_score(self.combine(ctx), shape), self.combine(rf)
            if not (math.isnan(s[i]) and math.isnan(mos[i])):  # (a hole blur judges)
                f = fade_scores([batch.output[i], batch.gt[i]] if has_gt[i] else [batch.output[i]], m)
                fade[i], fade_ref[i] = f[0], (f[0] - f[1] if has_gt[i] else math.nan)
            if self.head and not math.isnan(s[i]):
                x = _real_head.features_cached(batch.output[i], m)
                real[i] = _real_head.logit(self.head, x, {"blur_score": s[i]})
        return {"blur_score": s, "blur_mosaic_score": mos, "blur_ref_score": ref, "blur_real_score": real,
                "blur_grain_score": grain, "blur_grain_ref_score": grain_ref, "blur_fade_score": fade,
                "blur_fade_ref_score": fade_ref}

    @staticmethod
    def grain_deficit(scores, shape: tuple[int, ...]) -> np.ndarray:
        """The grain deficit the flag reads: ``blur_grain_ref_score`` where it is finite (against the truth: a random
        hole's truth may well be smoother than its surroundings, a cheek inside hair), else ``blur_grain_score``
        (against the ring: a removal's fill replaces an object with the backdrop the ring shows, and should have
        its grain); NaN for scores stored before v3."""
        grain = score_column(scores, "blur_grain_score", shape)
        ref = score_column(scores, "blur_grain_ref_score", shape)
        return np.where(np.isnan(ref), grain, ref)

    @staticmethod
    def fade(scores, shape: tuple[int, ...]) -> np.ndarray:
        """``blur_fade_score`` as an array (NaN for scores stored before v4)."""
        return score_column(scores, "blur_fade_score", shape)

    def margins(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        s = np.asarray(scores["blur_score"], dtype=np.float64)
        mos, ref, real = (score_column(scores, f"blur_{k}_score", s.shape) for k in ("mosaic", "ref", "real"))
        # with ground truth, the main part counts only where the fill also has less detail than the truth: a fill
        # as detailed as the truth is the scene's own smoothness (sky beside a building), not a smear
        m_hf = veto(self._margin(s), self._margin(ref, "ref_threshold", "above"))
        m_mos = self._margin(mos, "mosaic_threshold", "above")
        m_real = self._margin(real, "real_threshold", "above")
        grain = self.grain_deficit(scores, s.shape)
        m_grain = self._margin(grain, "grain_threshold", "above")
        # the fade counts where the fill also has less grain than its context (or the truth): a fill whose core is
        # smoother than its border but as grainy as the context is smooth content (a table top inside a cup's rim);
        # and, with ground truth, where it fades more than the truth does (sky inside a roofline fades by itself)
        fade_ref = score_column(scores, "blur_fade_ref_score", s.shape)
        m_fade = np.minimum(self._margin(self.fade(scores, s.shape), "fade_threshold", "above"),
                            margin(grain, FADE_GRAIN_FLOOR, "above"))
        m_fade = veto(m_fade, self._margin(fade_ref, "fade_threshold", "above"))
        if self.t["threshold"] is None or self.t["mosaic_threshold"] is None:
            combined = np.full(s.shape, np.nan)
        else:  # any part (judged where the main or the mosaic score is)
            combined = np.where(np.isnan(s) & np.isnan(mos), np.nan,
                                np.fmax.reduce([m_hf, m_mos, m_real, m_grain, m_fade]))
        return {"blur_flag": combined, "blur_mosaic_flag": m_mos, "blur_real_flag": m_real,
                "blur_grain_flag": m_grain, "blur_fade_flag": m_fade,
                "blur_ref_flag": self._margin(ref, "ref_threshold", "above")}

    def describe(self) -> str:
        t = self.t
        if t["threshold"] is None or t["mosaic_threshold"] is None:
            return "blur_flag: no threshold"
        words = f"blur_flag = blur_score > {t['threshold']:g}"
        if t["ref_threshold"] is not None:
            words += f" (and blur_ref_score > {t['ref_threshold']:g} with truth)"
        words += f" or blur_mosaic_score > {t['mosaic_threshold']:g}"
        if t["grain_threshold"] is not None:
            words += f" or blur_grain(_ref)_score > {t['grain_threshold']:g}"
        if t["fade_threshold"] is not None:
            words += (f" or (blur_fade_score > {t['fade_threshold']:g} and blur_grain(_ref)_score > "
                      f"{FADE_GRAIN_FLOOR:g} and, with truth, blur_fade_ref_score > {t['fade_threshold']:g})")
        if t["real_threshold"] is not None:
            words += f" or blur_real_score > {t['real_threshold']:g}"
        return words

    def provenance(self):
        return {**super().provenance(), "depth": self.depth, "min_pixels": self.min_pixels,
                "min_width": self.min_width, "eps": EPS, "real_head": self.real_head,
                "context": self.context, "raw_corr": self.raw_corr, "work_side": self.work_side,
                "scales": list(SCALES),
                "grain_eps": GRAIN_EPS,
                "fade": {"side": FADE_SIDE, "sigmas": list(FADE_SIGMAS), "band": FADE_BAND, "core": FADE_CORE,
                         "min_depth": FADE_MIN_DEPTH, "eps": FADE_EPS},
                "measure": "mean |band-pass(luma)| per scale, hole interior vs context ring, and its fine-to-coarse "
                           "fall-off against the ring's; block-grid share; median finest band, fill vs ring; "
                           "median |G1 - G3| within the hole, border band vs core; the ring from the raw output "
                           "where its luma correlates with the input's outside the hole >= raw_corr (context raw); "
                           "with ground truth, the main and fade parts vetoed unless the fill also has less detail "
                           "than the truth (blur_ref_score) and fades more than it (blur_fade_ref_score)"}
