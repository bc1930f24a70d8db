"""Five further families of weight-free evidence probed on the real-output corpus, against the shipped scores.

Do they rank real failures above clean fills better than the shipped scores? (Nothing here is shipped, fitted or
thresholded.)

    python benchmarks/detectors_real_probes.py --corpus /tmp/real-corpus [--max-side 512]

* **Patch self-similarity** (for ``replacement``): a correct removal is made of the scene around it, so every patch
  of the fill has a close match among the context's patches; an invented object is not. On the crop around the hole
  (the hole's extent on every side) brought to ``SIDE`` px, 5 x 5 patches of CIE Lab: ``patch_novelty`` = ln(1 +
  median distance of a fill patch to its nearest context patch) - ln(1 + the same between two random halves of the
  context's patches), and ``patch_share`` = the share of fill patches farther from the context than 90 % of the
  context's patches are from the other half. Unlike ``replacement_score`` (colour and local-shape cells) it sees
  texture *arrangements*, not just which colours occur.
* **Natural-scene statistics** (for both): the MSCN coefficients of luma (local mean subtracted, divided by the
  local spread; Gaussian window σ 7/6, as in BRISQUE and NIQE) on the fill's interior and on a ring around the
  hole, both at least 4 px from the border: ``mscn_alpha`` (the fitted generalised-Gaussian shape, moment
  matching), ``mscn_lvar`` (ln of the variance ratio) and ``mscn_corr`` (the mean normalised product with the four
  neighbours), each fill minus ring, and ``local_spread`` (ln of the median local spread, fill over ring: a detail
  measure, for comparison with the shipped ones). Smears and GAN artefacts are said to disturb these statistics.
* **Visual saliency** (for ``replacement``): an object a model paints into the hole draws the eye; the background
  a correct removal continues does not. On the whole output brought to ``SAL_SIDE`` px on its long side:
  ``sr_contrast`` = ln(mean spectral-residual saliency in the hole / the same on a ring around it) (Hou & Zhang,
  CVPR 2007: the log amplitude spectrum of luma minus its 3 x 3 local mean, back with the phase, squared, Gaussian
  σ ``SAL_SIGMA`` px), and ``ft_contrast`` the same for frequency-tuned saliency (Achanta et al., CVPR 2009: the
  distance of each slightly blurred Lab pixel from the image's mean Lab colour, computed at 4 x ``SAL_SIDE`` and
  brought down). The ring is as wide as half the square root of the hole's area (at least 2 px).

* **Colour-matched context** (for ``blur``, round 9): a correct fill continues *one* surface of its context (the
  blurred background behind a bird, the grass behind a player), and its detail should match that surface's, not
  that of whatever else borders the hole (the sharp post the bird sat on). ``blur``'s detail deficits with each
  ring pixel weighted by how common its CIE Lab cell (``CM_STEP`` units a side, a neighbouring cell counting too)
  is among the fill's interior pixels: ``cm_ctx`` = the largest over ``blur``'s three bands of ln((weighted mean
  ring energy + eps) / (fill energy + eps)) (``blur_score``'s ``ctx`` so weighted), ``cm_grain`` = the same with
  the finest band's weighted median against the fill's median (the grain deficit so weighted); NaN where fewer
  than 32 ring pixels have the fill's colours.
* **An object's silhouette** (for ``replacement``, round 10): a model that paints a new object into an object's
  hole often gives it the hole's shape (the removed object's silhouette), so the fill has an outline that follows the
  hole's border just inside it, where a continued background has edges that cross the border or none. On the crop
  around the hole (0.6 x the square root of its area on every side) brought to ``SIL_SIDE`` px, luma (CIE L,
  Gaussian σ 1) and the border's normal (the gradient of the signed distance to the border, Gaussian σ 2):
  ``silhouette`` = ln((mean (∇L · n)² on a band inside the hole + 1) / (the same on a band outside + 1)), both bands
  from ``SIL_GAP`` px to ``SIL_GAP`` + max(6, 0.25 x the square root of the hole's area) px from the border (a
  narrower band, 3 px to 3 + max(4, 0.15 x that root), scored with it, ranked a little worse on dev's removals and
  is not kept); NaN where
  either band has under 32 pixels.

Each is computed on the pasted-back output exactly as ``detectors_real.py`` scores the corpus (same loading, same
downscaling), and printed per split as the AUROC of the label against ``ok`` (NaN ranks as least suspicious; a
score for which "more" means "less suspicious" shows as AUROC below 0.5), next to the shipped scores.
Output: ``benchmarks/results/detectors_real_probes.json``.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))  # real_corpus (the split order)

SIDE = 64  # px: the crop around the hole is brought to at most this size for the patch search
PATCH = 5
MAX_FILL, MAX_CONTEXT = 800, 1500  # patches sampled (fixed seed) for the nearest-neighbour search
MSCN_SIGMA = 7 / 6
MSCN_C = 1.0  # the spread's regulariser, in 8-bit luma units (BRISQUE's C = 1)
MARGIN = 4  # px from the hole's border: fill interior and ring both keep this far from the seam
MIN_PIXELS = 200
SAL_SIDE, SAL_SIGMA = 64, 2.5  # px: the saliency maps' long side and their smoothing there
CM_STEP = 12.0  # Lab units: the colour cells of the colour-matched ring (about 20 per axis)
CM_COVER = 0.05  # a ring pixel counts for the fill where its cell (or a neighbour) holds this share of the peak
SIL_SIDE, SIL_GAP = 256, 6  # px: the silhouette's crop side, and its bands' distance from the border there

#: (column, label it should rank above ok) printed per split, shipped scores first
PROBES = (("replacement_score", "replacement"), ("replacement_real_score", "replacement"),
          ("patch_novelty", "replacement"), ("patch_share", "replacement"), ("mscn_alpha", "replacement"),
          ("mscn_corr", "replacement"), ("sr_contrast", "replacement"), ("ft_contrast", "replacement"),
          ("silhouette", "replacement"),
          ("blur_grain", "blur"), ("blur_fade_score", "blur"), ("mscn_alpha", "blur"), ("mscn_lvar", "blur"),
          ("mscn_corr", "blur"), ("local_spread", "blur"), ("blur_score", "blur"), ("cm_ctx", "blur"),
          ("cm_grain", "blur"))


def _patches(img: np.ndarray) -> np.ndarray:
    """Every PATCH x PATCH patch of an [H, W, C] array, flattened: [H - PATCH + 1, W - PATCH + 1, PATCH² C]."""
    v = np.lib.stride_tricks.sliding_window_view(img, (PATCH, PATCH, img.shape[2]))[:, :, 0]
    return v.reshape(v.shape[0], v.shape[1], -1)


def _nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row of ``a`` to its nearest row of ``b``."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(d2.min(1), 0.0))


def patch_scores(rgb: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    """(``patch_novelty``, ``patch_share``) of a float32 RGB [H, W, 3] image in [0, 1] and its bool hole [H, W];
    NaNs when the crop has too few context or fill patches."""
    import cv2

    from bench.detectors._util import crop_box
    from bench.detectors.real_head import _work

    if not m.any():
        return math.nan, math.nan
    ext = int(max(np.count_nonzero(m, axis=0).max(), np.count_nonzero(m, axis=1).max()))
    ys, xs = crop_box(m, max(8, ext // 2))
    small, mc = _work(np.ascontiguousarray(rgb[ys, xs]), m[ys, xs], SIDE)
    lab = cv2.cvtColor(np.clip(small, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    pv = _patches(lab)
    cover = _patches(mc[..., None].astype(np.float32)).mean(-1)  # the share of each patch inside the hole
    h = PATCH // 2
    centre_in = mc[h:mc.shape[0] - h, h:mc.shape[1] - h]
    context, fill = pv[cover == 0], pv[centre_in & (cover > 0.5)]
    if len(context) < 30 or len(fill) < 10:
        return math.nan, math.nan
    rng = np.random.default_rng(0)
    if len(context) > MAX_CONTEXT:
        context = context[rng.choice(len(context), MAX_CONTEXT, replace=False)]
    if len(fill) > MAX_FILL:
        fill = fill[rng.choice(len(fill), MAX_FILL, replace=False)]
    context, fill = context.astype(np.float32), fill.astype(np.float32)
    d_fill = _nearest(fill, context)
    half = rng.permutation(len(context))
    d_ctx = _nearest(context[half[: len(context) // 2]], context[half[len(context) // 2:]])
    novelty = math.log1p(float(np.median(d_fill))) - math.log1p(float(np.median(d_ctx)))
    return novelty, float(np.mean(d_fill > np.quantile(d_ctx, 0.9)))


def ggd_alpha(x: np.ndarray) -> float:
    """The shape α of the zero-mean generalised Gaussian with the moments of ``x`` (moment matching on
    E[x²] / E[|x|]² = Γ(1/α) Γ(3/α) / Γ(2/α)², on a grid of step 0.001 in [0.2, 10]); NaN for fewer than 50 values."""
    from scipy.special import gammaln

    x = np.asarray(x, np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size < 50 or not np.any(x):
        return math.nan
    rho = float(np.mean(x * x) / np.mean(np.abs(x)) ** 2)
    a = np.arange(0.2, 10.0, 0.001)
    r = np.exp(gammaln(1 / a) + gammaln(3 / a) - 2 * gammaln(2 / a))
    return float(a[np.argmin((r - rho) ** 2)])


def _mscn(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    mu = cv2.GaussianBlur(y, (7, 7), MSCN_SIGMA)
    sd = np.sqrt(np.abs(cv2.GaussianBlur(y * y, (7, 7), MSCN_SIGMA) - mu * mu))
    return (y - mu) / (sd + MSCN_C), sd


def _stats(c: np.ndarray, sd: np.ndarray, region: np.ndarray) -> dict:
    v = c[region]
    var = float(np.var(v))
    corr = [float(np.mean((c * np.roll(c, s, axis=(0, 1)))[region])) / max(var, 1e-6)
            for s in ((0, 1), (1, 0), (1, 1), (1, -1))]
    return {"alpha": ggd_alpha(v), "var": var, "corr": float(np.mean(corr)), "spread": float(np.median(sd[region]))}


def mscn_scores(rgb: np.ndarray, m: np.ndarray) -> dict:
    """``mscn_alpha``, ``mscn_lvar``, ``mscn_corr`` and ``local_spread`` (fill minus ring; see the module doc) of a
    float32 RGB [H, W, 3] image in [0, 1] and its bool hole; NaNs when either region has under 200 pixels."""
    from bench.detectors._util import crop_box, inside_distance, outside_distance

    nan = {k: math.nan for k in ("mscn_alpha", "mscn_lvar", "mscn_corr", "local_spread")}
    if not m.any():
        return nan
    width = max(8, int(math.sqrt(np.count_nonzero(m)) * 0.3))
    ys, xs = crop_box(m, width + 2 * MARGIN)
    din, dout = inside_distance(m)[ys, xs], outside_distance(m)[ys, xs]
    fill = m[ys, xs] & (din > MARGIN)
    ring = ~m[ys, xs] & (dout > MARGIN) & (dout <= width + MARGIN)
    if np.count_nonzero(fill) < MIN_PIXELS or np.count_nonzero(ring) < MIN_PIXELS:
        return nan
    y = (rgb[ys, xs] @ np.asarray((0.299, 0.587, 0.114), np.float32)) * 255.0
    c, sd = _mscn(np.ascontiguousarray(y, dtype=np.float32))
    f, r = _stats(c, sd, fill), _stats(c, sd, ring)
    return {"mscn_alpha": f["alpha"] - r["alpha"], "mscn_lvar": math.log((f["var"] + 1e-3) / (r["var"] + 1e-3)),
            "mscn_corr": f["corr"] - r["corr"],
            "local_spread": math.log((f["spread"] + MSCN_C) / (r["spread"] + MSCN_C))}


def spectral_residual(gray: np.ndarray, sigma: float = SAL_SIGMA) -> np.ndarray:
    """Spectral-residual saliency of a float32 [H, W] image (see the module doc), same shape, >= 0."""
    import cv2

    f = np.fft.fft2(gray.astype(np.float64))
    log_amp = np.log(np.abs(f) + 1e-9)
    residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REFLECT)
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(f)))) ** 2
    return cv2.GaussianBlur(sal.astype(np.float32), (0, 0), sigma)


def frequency_tuned(rgb: np.ndarray) -> np.ndarray:
    """Frequency-tuned saliency of a float32 RGB [H, W, 3] image in [0, 1]: the Lab distance of each pixel, blurred
    5 x 5, from the image's mean Lab colour."""
    import cv2

    lab = cv2.cvtColor(np.clip(rgb, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    mean = lab.reshape(-1, 3).mean(0)
    return np.linalg.norm(cv2.GaussianBlur(lab, (5, 5), 0) - mean, axis=2)


def saliency_scores(rgb: np.ndarray, m: np.ndarray) -> dict:
    """``sr_contrast`` and ``ft_contrast`` (see the module doc) of a float32 RGB [H, W, 3] image in [0, 1] and its
    bool hole [H, W]; NaNs when the hole or the ring has under 4 pixels at the maps' size."""
    import cv2

    from bench.detectors._util import outside_distance

    nan = {"sr_contrast": math.nan, "ft_contrast": math.nan}
    h, w = m.shape
    k = SAL_SIDE / max(h, w)
    size = (max(8, round(w * k)), max(8, round(h * k)))
    small = cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), size, interpolation=cv2.INTER_AREA)
    hole = cv2.resize(m.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
    ring = ~hole & (outside_distance(hole) <= max(2.0, 0.5 * math.sqrt(np.count_nonzero(hole))))
    if np.count_nonzero(hole) < 4 or np.count_nonzero(ring) < 4:
        return nan
    big = cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), (size[0] * 4, size[1] * 4),
                     interpolation=cv2.INTER_AREA)
    maps = {"sr_contrast": spectral_residual(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)),
            "ft_contrast": cv2.resize(frequency_tuned(big), size, interpolation=cv2.INTER_AREA)}
    return {k: math.log((float(s[hole].mean()) + 1e-9) / (float(s[ring].mean()) + 1e-9)) for k, s in maps.items()}


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    o = np.argsort(x, kind="stable")
    c = np.cumsum(w[o])
    return float(x[o][np.searchsorted(c, 0.5 * c[-1])])


def colour_matched_scores(rgb: np.ndarray, m: np.ndarray) -> dict:
    """``cm_ctx`` and ``cm_grain`` (see the module doc) of a float32 RGB [H, W, 3] image in [0, 1] and its bool hole
    [H, W]: ``blur``'s detail deficits (its bands, interiors and ring) with each ring pixel weighted by how common
    its Lab colour cell is in the fill's interior."""
    from scipy.ndimage import uniform_filter

    from bench.detectors._util import (crop_box, inside_distance, masked_mean, masked_median, outside_distance,
                                       ring_width)
    from bench.detectors.blur import EPS, GRAIN_EPS, SCALES, bands, reach

    nan = {"cm_ctx": math.nan, "cm_grain": math.nan}
    if not m.any():
        return nan
    width = ring_width(m)
    ys, xs = crop_box(m, int(reach(len(SCALES) - 2) + width + 3 * SCALES[-1] + 2))
    m, rgb = m[ys, xs], np.ascontiguousarray(rgb[ys, xs], dtype=np.float32)
    d_in, d_out = inside_distance(m), outside_distance(m)
    if float(d_in.max(initial=0.0)) < 8:
        return nan
    import cv2

    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    nb = int(math.ceil(256 / CM_STEP)) + 2
    q = np.floor((lab + np.array([0.0, 128.0, 128.0], np.float32)) / CM_STEP).astype(np.int64)
    key = (q[..., 0] * nb + q[..., 1]) * nb + q[..., 2]
    hist = np.bincount(key[d_in >= 4], minlength=nb ** 3).astype(np.float64).reshape(nb, nb, nb)
    hist = uniform_filter(hist, 3, mode="constant").ravel()  # a neighbouring cell counts too
    hist /= hist.max()
    fb = bands(rgb @ np.array([0.299, 0.587, 0.114], np.float32))
    ctx, grain = [], math.nan
    for k in range(len(fb)):
        inner = d_in >= max(4.0, reach(k))
        rg = (d_out > reach(k)) & (d_out <= reach(k) + width)
        if np.count_nonzero(inner) < 64 or np.count_nonzero(rg) < 64:
            continue
        w = hist[key[rg]]
        if np.count_nonzero(w >= CM_COVER) < 32:  # hardly any of the ring has the fill's colours
            continue
        e_ring = float((fb[k][rg] * w).sum() / w.sum())
        ctx.append(math.log((e_ring + EPS) / (masked_mean(fb[k], inner) + EPS)))
        if k == 0:
            grain = math.log((_weighted_median(fb[0][rg], w) + GRAIN_EPS) / (masked_median(fb[0], inner) + GRAIN_EPS))
    return {"cm_ctx": max(ctx) if ctx else math.nan, "cm_grain": grain}


def silhouette_score(rgb: np.ndarray, m: np.ndarray) -> float:
    """``silhouette`` (see the module doc) of a float32 RGB [H, W, 3] image in [0, 1] and its bool hole [H, W]: how
    much more the luma changes across the border's direction just inside the hole than just outside it."""
    import cv2

    from bench.detectors._util import crop_box, inside_distance, outside_distance
    from bench.detectors.real_head import _work

    if not m.any():
        return math.nan
    root = math.sqrt(np.count_nonzero(m))
    ys, xs = crop_box(m, int(0.6 * root) + 8)
    small, mc = _work(np.ascontiguousarray(rgb[ys, xs]), m[ys, xs], SIL_SIDE)
    lum = cv2.GaussianBlur(cv2.cvtColor(np.clip(small, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)[..., 0],
                           (0, 0), 1.0)
    d_in, d_out = inside_distance(mc), outside_distance(mc)
    signed = cv2.GaussianBlur(np.where(mc, -d_in, d_out).astype(np.float32), (0, 0), 2.0)
    grad = [cv2.Sobel(a, cv2.CV_32F, *o) for a in (lum, signed) for o in ((1, 0), (0, 1))]
    across = (grad[0] * grad[2] + grad[1] * grad[3]) ** 2 / (grad[2] ** 2 + grad[3] ** 2 + 1e-12) / 64.0
    reach = SIL_GAP + max(6.0, 0.25 * math.sqrt(np.count_nonzero(mc)))
    inner, outer = (d_in >= SIL_GAP) & (d_in < reach), (d_out >= SIL_GAP) & (d_out < reach)
    if np.count_nonzero(inner) < 32 or np.count_nonzero(outer) < 32:
        return math.nan
    return math.log((float(across[inner].mean()) + 1.0) / (float(across[outer].mean()) + 1.0))


class Probes:
    """The probes as a detector-shaped object (``detect(batch)`` -> columns), run by ``detectors_real.score``."""

    def detect(self, b) -> dict:
        from bench.detectors._util import hwc, mask2d

        cols: dict[str, list] = {}
        for i in range(b.output.shape[0]):
            rgb, m = hwc(b.output[i]), mask2d(b.mask[i])
            nov, share = patch_scores(rgb, m)
            for k, v in ({"patch_novelty": nov, "patch_share": share} | mscn_scores(rgb, m)
                         | saliency_scores(rgb, m) | colour_matched_scores(rgb, m)
                         | {"silhouette": silhouette_score(rgb, m)}).items():
                cols.setdefault(k, []).append(v)
        return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


def table(recs: list[dict]) -> dict:
    """Per split, the AUROC of each of :data:`PROBES` for its label against ``ok``, with the counts
    (``detectors_real.aurocs``), keyed ``"label: column"``."""
    from detectors_real import aurocs
    from real_corpus import SPLITS

    out: dict = {}
    for split in [s for s in SPLITS if any(r["split"] == s for r in recs)]:
        sub = [r for r in recs if r["split"] == split]
        for label in dict.fromkeys(lab for _, lab in PROBES):
            got = aurocs(sub, tuple((label, col, False) for col, lab in PROBES if lab == label))
            out.setdefault(split, {}).update({f"{label}: {col}": v for col, v in got.items()})
    return {k: v for k, v in out.items() if v}


def correlations(recs: list[dict], against: str = "replacement_score") -> dict:
    """Spearman's rank correlation of each ``replacement`` probe with ``against`` over every output where both are
    finite (does the probe see something the shipped score does not?)."""
    from scipy.stats import spearmanr

    out = {}
    for col in dict.fromkeys(c for c, lab in PROBES if lab == "replacement" and c != against):
        a = np.asarray([r.get(against, np.nan) for r in recs], float)
        b = np.asarray([r.get(col, np.nan) for r in recs], float)
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() >= 3:
            out[col] = round(float(spearmanr(a[ok], b[ok])[0]), 3)
    return out


def main() -> int:
    from detectors_real import corpus_args, load_rows, score

    args = corpus_args(__doc__)
    from _common import Printer, save

    print = Printer()  # noqa: A001
    rows = load_rows(args.corpus)
    t0 = time.perf_counter()
    recs = score(args.corpus, rows, args.max_side, extra={"probes": Probes()})
    print(f"probes on {len(recs)} labelled real outputs (ambiguous left out), max side {args.max_side} px, "
          f"{time.perf_counter() - t0:.0f} s; AUROC of the label against ok (pos/ok)")
    res = table(recs)
    names = list(dict.fromkeys(k for s in res.values() for k in s))
    for name in names:
        cells = [f"{sp} {res[sp][name]['auroc']:.2f} ({res[sp][name]['pos']}/{res[sp][name]['ok']})"
                 for sp in res if name in res[sp]]
        print(f"  {name:34s} " + ", ".join(cells))
    corr = correlations(recs)
    print("  rank correlation with replacement_score over all outputs: "
          + ", ".join(f"{k} {v:.2f}" for k, v in corr.items()))
    path = save("detectors_real_probes", {"max_side": args.max_side, "aurocs": res, "correlations": corr},
                print.lines)
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
