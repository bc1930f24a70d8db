"""The detectors' faster implementations give what the straightforward ones they replaced gave.

The references below are the implementations as they were at commit 18276a7 (bench/detectors/real_head.py:
``_coherence``, ``_continuity``, ``detail_ratios_c``, ``features``; bench/detectors/replacement.py: ``_lab``,
``_features``; bench/detectors/blur.py: ``x[region].mean()``), transcribed. Where the arithmetic is the same the
results must be bitwise equal; where a mean over a region is now accumulated differently (OpenCV's double-precision
mean, a dot product) they must agree to float32 rounding.

A second set of references (``ref5_*`` below) transcribes the implementations at commit 5bfd384 that the next
speed-up replaced (bench/detectors/replacement.py: ``_features``, ``_bin``, ``_key_counts``, ``_widen``,
``_cell_centres`` (now ``_centres`` of ``_distinct``), ``_hull``; bench/detectors/incomplete.py:
``IncompleteDetector.scores`` with ``torch.equal``).
The replacements do the same arithmetic, so they must be bitwise equal.

A third set (``ref6_*``) transcribes the helpers at commit a9e2b0b that the third speed-up replaced (crop boxes from
OpenCV's bounding rectangle, |a - b| in one OpenCV pass, the block-grid share summed only on the residue class it
reads, the hole's centroid from its moments, a table of cell centres, NumPy's short-axis means as whole-plane sums):
bitwise equal too, helper by helper and end to end.
"""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
import torch

from bench.detectors import real_head as rh
from bench.detectors import replacement as rp
from bench.detectors._util import crop_box, hwc, mask2d, masked_mean, masked_median


# -- references (commit 18276a7) ------------------------------------------------------------------------------
def ref_coherence(y, region, s=2.0):
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3)
    w = region.astype(np.float32)
    jxx = cv2.GaussianBlur(gx * gx * w, (0, 0), s)
    jyy = cv2.GaussianBlur(gy * gy * w, (0, 0), s)
    jxy = cv2.GaussianBlur(gx * gy * w, (0, 0), s)
    tr = jxx + jyy
    coh = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / np.maximum(tr, 1e-9)
    e = tr[region]
    if float(e.sum()) <= 1e-9:
        return math.nan
    return float((coh[region] * e).sum() / e.sum())


def ref_continuity(y, m, din, dout, band=4.0):
    gx = cv2.Sobel(cv2.GaussianBlur(y, (0, 0), 1.0), cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(cv2.GaussianBlur(y, (0, 0), 1.0), cv2.CV_32F, 0, 1, ksize=3)
    g2 = gx * gx + gy * gy
    outside = (~m) & (dout > 1) & (dout <= 1 + band)
    inside = m & (din > 1) & (din <= 1 + band)
    if outside.sum() < 8 or inside.sum() < 8:
        return math.nan
    w = outside.astype(np.float32) * g2
    c2 = cv2.GaussianBlur(w * (gx * gx - gy * gy) / np.maximum(g2, 1e-9), (0, 0), band)
    s2 = cv2.GaussianBlur(w * 2 * gx * gy / np.maximum(g2, 1e-9), (0, 0), band)
    den = np.maximum(cv2.GaussianBlur(w, (0, 0), band), 1e-9)
    c2, s2 = c2 / den, s2 / den
    proj = 0.5 * (g2 + (gx * gx - gy * gy) * c2 + 2 * gx * gy * s2)
    e_out, e_in = float(proj[outside].mean()), float(proj[inside].mean())
    eps = 1e-4
    return float(np.clip(math.log((e_in + eps) / (e_out + eps)), -4.0, 4.0))


def ref_detail_ratios_c(img, m, sigmas=rh.SIGMAS, eps=2e-6):
    area = int(m.sum())
    if area < 32 or area == m.size:
        return None
    din = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)
    dout = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3)
    reach = max(3.0, np.sqrt(area) / 3.0)
    ring = (~m) & (dout <= 2 * reach)
    if ring.sum() < 16:
        return None
    w = m.astype(np.float32)
    yw = img * w[..., None]
    smooth = {}

    def means(s):
        if s not in smooth:
            gw, gyw, gy = rh._blur_c(w, s)[..., None], rh._blur_c(yw, s), rh._blur_c(img, s)
            smooth[s] = (gyw / np.maximum(gw, 1e-6), (gy - gyw) / np.maximum(1 - gw, 1e-6))
        return smooth[s]

    wr = ring.astype(np.float32)
    spread_sigma = reach + din.max() / 2
    den = np.maximum(rh._blur_c(wr, spread_sigma), 1e-6)[..., None]
    out = np.empty((img.shape[2], len(sigmas)))
    for k, s in enumerate(sigmas):
        (f1, r1), (f2, r2) = means(s), means(2 * s)
        e_fill = ((f1 - f2)[m] ** 2).mean(0)
        pred = rh._blur_c((r1 - r2) ** 2 * wr[..., None], spread_sigma) / den
        out[:, k] = np.log((e_fill + eps) / (pred[m].mean(0) + eps))
    return out


def ref_features(out_chw, m):
    out = np.full(len(rh.FEATURES), np.nan)
    if not m.any():
        return out
    margin = int(max(16, np.sqrt(m.sum())))
    ys, xs = crop_box(m, margin)
    rgb, mc = rh._work(np.ascontiguousarray(hwc(out_chw[:, ys, xs]), dtype=np.float32), m[ys, xs], rh.WORK_SIDE)
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB) / 255.0
    img[..., 0] = rgb @ np.asarray(rh.LUMA, np.float32)
    r = ref_detail_ratios_c(img, mc)
    if r is None:
        return out
    yc = np.ascontiguousarray(img[..., 0])
    out[:3] = r[0]
    out[5] = float(r[1:].mean())
    din = cv2.distanceTransform(mc.astype(np.uint8), cv2.DIST_L2, 3)
    dout = cv2.distanceTransform((~mc).astype(np.uint8), cv2.DIST_L2, 3)
    reach = max(3.0, math.sqrt(mc.sum()) / 3.0)
    ringr = (~mc) & (dout <= 2 * reach) & (dout > 1)
    inner = mc & (din > 1)
    if inner.sum() >= 16 and ringr.sum() >= 16:
        cf, cr = ref_coherence(yc, inner), ref_coherence(yc, ringr)
        out[3] = cf - cr if not (math.isnan(cf) or math.isnan(cr)) else 0.0
    c = ref_continuity(yc, mc, din, dout)
    out[4] = 0.0 if math.isnan(c) else c
    return out


def ref_lab(rgb):
    lab = cv2.cvtColor((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2Lab).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    return lab


def ref_pixel_features(rgb, cell):
    lab = ref_lab(rgb)
    L = lab[..., 0]
    sm = cv2.GaussianBlur(L, (0, 0), 1.0)
    gx = cv2.Sobel(sm, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(sm, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    g = np.sqrt(gx * gx + gy * gy)
    grain = cv2.blur(np.abs(L - sm), (3, 3))
    nl = int(math.ceil(101 / cell))
    (a0, na), (b0, nb) = rp._ab_cells(cell)
    li = np.clip((L / cell).astype(np.int32), 0, nl - 1)
    ai = np.clip(((lab[..., 1] + 128) / cell).astype(np.int32) - a0, 0, na - 1)
    bi = np.clip(((lab[..., 2] + 128) / cell).astype(np.int32) - b0, 0, nb - 1)
    gi = np.searchsorted(rp.G_EDGES, g)
    hxx = cv2.Sobel(sm, cv2.CV_32F, 2, 0, ksize=3) / 4.0
    hyy = cv2.Sobel(sm, cv2.CV_32F, 0, 2, ksize=3) / 4.0
    hxy = cv2.Sobel(sm, cv2.CV_32F, 1, 1, ksize=3) / 4.0
    half_trace = (hxx + hyy) / 2
    spread = np.sqrt(((hxx - hyy) / 2) ** 2 + hxy * hxy)
    h1, h2 = np.searchsorted(rp.H_EDGES, half_trace + spread), np.searchsorted(rp.H_EDGES, half_trace - spread)
    return ((li * na + ai) * nb + bi, gi, (nl, na, nb), np.concatenate([lab, grain[..., None], g[..., None]], axis=2),
            (li * rp.NH + h1) * rp.NH + h2, (nl, rp.NH, rp.NH))


# -- cases ------------------------------------------------------------------------------------------------------
def masks(size: int, rng) -> list[np.ndarray]:
    """Holes of every kind the detectors meet: touching a border, tiny, huge, thin, scattered, a plain box."""
    out = []
    for kind in range(7):
        m = np.zeros((size, size), bool)
        if kind == 0:
            m[: size // 5, :] = True
        elif kind == 1:
            m[size // 2: size // 2 + 3, size // 3: size // 3 + 4] = True
        elif kind == 2:
            m[2:-2, 3:-1] = True
        elif kind == 3:
            m[:, -size // 4:] = True
        elif kind == 4:
            m[size // 2 - 6: size // 2 + 6, : 2 * size // 3] = True
        elif kind == 5:
            m[:] = rng.random((size, size)) < 0.03
        else:
            m[size // 4: size // 2, size // 3: 3 * size // 4] = True
        out.append(m)
    return out


def calibration_items(size: int, seed: int):
    """(output [3, H, W], hole [H, W], truth or None) of the calibration set's cases (good, blurred, pasted and
    removal fills, several mask strategies), and the first few outputs again with the holes of :func:`masks`."""
    from bench.calibration.cases import build_cases, to_batch

    b = to_batch(build_cases(seed, 2, size))
    items = [(b.output[i], mask2d(b.mask[i]), b.gt[i] if bool(b.has_gt[i]) else None) for i in range(b.size)]
    rng = np.random.default_rng(seed)
    items += [(b.output[i], m, b.gt[i]) for i, m in enumerate(masks(size, rng))]
    return items


ITEMS = [it for size, seed in ((96, 11), (160, 12)) for it in calibration_items(size, seed)]


# -- tests ------------------------------------------------------------------------------------------------------
def test_real_head_features_equal_the_reference_on_varied_cases():
    n_finite = 0
    for out, m, _ in ITEMS:
        got, want = rh.features(out, m), ref_features(out, m)
        assert np.array_equal(np.isnan(got), np.isnan(want))
        # log-ratios: the references' float32 means (accumulated in order) differ from the double-precision ones
        # by float rounding, a few 1e-6 at most
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=3e-5)
        n_finite += int(np.isfinite(got).sum())
    assert n_finite > 100  # the cases are judged, not all NaN


def test_detail_ratios_coherence_and_continuity_equal_the_reference():
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:72, 0:84].astype(np.float32)
    for trial in range(6):
        img = cv2.GaussianBlur(rng.random((72, 84, 3), dtype=np.float32), (0, 0), 0.5 + trial / 2)
        img[..., 0] += (0.3 * np.sin(xx / (2 + trial) + yy / 7)).astype(np.float32)  # oriented structure
        m = (abs(yy - 30 - trial) < 10 + 2 * trial) & (abs(xx - 40) < 14)
        got = rh.detail_ratios_c(img, m)
        np.testing.assert_allclose(got, ref_detail_ratios_c(img, m), rtol=1e-5, atol=2e-5)
        y = np.ascontiguousarray(img[..., 0])
        din, dout = rh._distances(m)
        ring = (~m) & (dout <= 8)
        got = rh._coherences(y, (m, ring))
        np.testing.assert_allclose(got, [ref_coherence(y, m), ref_coherence(y, ring)], rtol=1e-5)
        assert rh._coherence(y, ring) == got[1]
        assert rh._continuity(y, m, din, dout) == pytest.approx(ref_continuity(y, m, din, dout), rel=1e-5, abs=1e-6)
    flat = np.full((40, 40), 0.5, np.float32)
    region = np.zeros((40, 40), bool)
    region[10:30, 10:30] = True
    assert math.isnan(rh._coherence(flat, region)) and math.isnan(ref_coherence(flat, region))


@pytest.mark.parametrize("cell", [6.0, 4.0, 10.0, 2.5])
def test_replacement_pixel_features_are_bitwise_the_reference(cell):
    rng = np.random.default_rng(int(cell * 10))
    images = [rng.random((40, 52, 3), dtype=np.float32),
              cv2.GaussianBlur(rng.random((40, 52, 3), dtype=np.float32), (0, 0), 2.0),
              (rng.random((40, 52, 3)) > 0.5).astype(np.float32),  # saturated colours: the gamut's corners
              rng.normal(0.5, 0.6, (40, 52, 3)).astype(np.float32)]  # out of [0, 1]: clipped
    images += [hwc(out) for out, _, _ in ITEMS[:3]]
    for rgb in images:
        got, want = rp._features(rgb, cell), ref_pixel_features(rgb, cell)
        for g, w in zip(got, want):
            if isinstance(w, tuple):
                assert g == w
            else:
                assert g.dtype == w.dtype and np.array_equal(g, w)


def test_sector_tables_from_shared_counts_equal_those_counted_afresh():
    rng = np.random.default_rng(5)
    k, ncell = 8, 300
    cells, g = rng.integers(0, ncell, 2000), rng.integers(0, rp.NG, 2000)
    sec = rng.integers(0, k, 2000)
    kc = rp._key_counts(cells, g, sec, k)
    pool = rp._pools([0, 1, 2, 4, 5, 7], k)
    for p, least in ((pool, 2), (pool & ~np.eye(k, dtype=bool), 1), (pool, 5)):
        want = rp._sector_max_grad(cells, g, sec, p, ncell, least)
        assert np.array_equal(rp._sector_max_grad(cells, g, sec, p, ncell, least, kc), want)
        assert (want >= 0).any()


def test_masked_mean_is_the_mean_over_the_region():
    rng = np.random.default_rng(6)
    x = rng.random((90, 70), dtype=np.float32)
    big = rng.random((120, 100)) < 0.4
    for region in (rng.random((90, 70)) < 0.3, big[10:100, 5:75], np.eye(90, 70, dtype=bool)):
        assert masked_mean(x, region) == pytest.approx(float(x[region].astype(np.float64).mean()), rel=1e-6)
        assert masked_mean(x, region) == pytest.approx(float(x[region].mean()), rel=1e-6)
    assert math.isnan(masked_mean(x, np.zeros((90, 70), bool)))
    region = np.zeros((90, 70), bool)
    region[10:40, 10:40] = True
    x[60:, 50:] = np.nan  # non-finite values outside the region do not count, inside they do
    x[0, 0] = np.inf
    assert masked_mean(x, region) == pytest.approx(float(x[region].mean()), rel=1e-6)
    x[20, 20] = np.nan
    assert math.isnan(masked_mean(x, region))


def test_masked_median_equals_numpys_median_of_the_region():
    """Odd and even counts, ties (values on a coarse grid), one pixel, float32 precision of the two middle values'
    mean; NaN for an empty region or a NaN inside it, never for a NaN outside."""
    rng = np.random.default_rng(11)
    for t in range(3000):
        n = int(rng.integers(1, 40))
        x = (rng.random((n, 5)) * rng.choice([1e-3, 1.0, 255.0])).astype(np.float32)
        if t % 3 == 0:
            x = np.round(x * 4) / 4  # ties
        region = rng.random((n, 5)) < rng.random()
        if region.any():
            assert masked_median(x, region) == float(np.median(x[region]))
    x = rng.random((20, 20)).astype(np.float32)
    region = np.zeros((20, 20), bool)
    assert math.isnan(masked_median(x, region))
    region[2:6, 2:6] = True
    x[15, 15] = np.nan
    assert masked_median(x, region) == float(np.median(x[region]))
    x[3, 3] = np.nan
    assert math.isnan(masked_median(x, region))


def test_outside_drift_is_the_psnr_over_the_kept_pixels():
    """The score against NumPy's PSNR over every channel of the pixels outside the hole, in double precision;
    a NaN outside the hole gives NaN, one inside does not count."""
    from bench.detectors.outside_drift import OutsideDriftDetector
    from bench.types import EvalBatch

    rng = np.random.default_rng(12)
    h, w = 48, 40
    inp = torch.from_numpy(rng.random((2, 3, h, w), dtype=np.float32))
    raw = (inp + torch.from_numpy(rng.normal(0, 0.02, (2, 3, h, w)).astype(np.float32))).clamp(0, 1)
    mask = torch.zeros(2, 1, h, w, dtype=torch.bool)
    mask[0, 0, 10:30, 5:25] = True
    mask[1, 0, :, :7] = True
    raw[0, :, 12, 12] = float("nan")  # inside the hole: ignored
    b = EvalBatch(sample_ids=["a", "b"], output=raw, raw=raw, input=inp, blanked=inp, mask=mask, gt=inp,
                  has_gt=torch.ones(2, dtype=torch.bool), raw_sizes=[(h, w)] * 2, model_sizes=[(h, w)] * 2)
    got = OutsideDriftDetector(threshold=30.0).scores(b)["outside_drift_score"]
    for i in range(2):
        keep = ~mask[i, 0].numpy()
        d = (raw[i].numpy().astype(np.float64) - inp[i].numpy().astype(np.float64))[:, keep]
        assert got[i] == pytest.approx(10 * math.log10(1 / float((d * d).mean())), abs=1e-5)
    raw[1, 0, 5, 30] = float("nan")  # outside the hole
    assert math.isnan(OutsideDriftDetector(threshold=30.0).scores(b)["outside_drift_score"][1])


@pytest.mark.parametrize("with_chroma", [False, True])
def test_replacement_real_score_is_the_head_on_the_reference_features(monkeypatch, with_chroma):
    """End to end: ``replacement_real_score`` is the head's logit on the reference features and the detector's
    own novelty score (the content-keyed cache between them included), with the shipped head (which does not read
    chroma: not computed) and with one that reads it."""
    from bench.types import EvalBatch

    head = rh.load_head("replacement")
    if not head:
        pytest.skip("no shipped replacement head")
    if with_chroma:
        head = {**head, "features": [*head["features"], "chroma"], "mean": [*head["mean"], 0.0],
                "scale": [*head["scale"], 1.0], "coef": [*head["coef"], 0.5]}
        monkeypatch.setattr(rh, "load_head", lambda name: head)
    assert ("chroma" in head["features"]) == with_chroma
    det = rp.ReplacementDetector()
    assert det.head == head and det.head_chroma == with_chroma
    rh._LAST.clear()
    h = ITEMS[0][0].shape[-1]
    items = [it for it in ITEMS if it[0].shape[-1] == h]
    out = torch.stack([it[0] for it in items])
    mask = torch.from_numpy(np.stack([it[1] for it in items]))[:, None]
    zeros = torch.zeros_like(out)
    batch = EvalBatch(sample_ids=[str(i) for i in range(len(items))], output=out, raw=out, input=out, blanked=out,
                      mask=mask, gt=zeros, has_gt=torch.zeros(len(items), dtype=torch.bool),
                      raw_sizes=[(h, h)] * len(items), model_sizes=[(h, h)] * len(items))
    s = det.scores(batch)
    judged = 0
    for i, (o, m, _) in enumerate(items):
        free = s["replacement_score"][i]
        # no new pixel (novelty 0): no threshold can flag it, and the head is not asked
        want = rh.logit(det.head, ref_features(o, m), {"replacement_score": free}) if free > 0 else math.nan
        got = s["replacement_real_score"][i]
        assert math.isnan(got) == math.isnan(want)
        if not math.isnan(want):
            judged += 1
            assert got == pytest.approx(want, rel=1e-5, abs=1e-4)
    assert judged >= 5


def test_luma_only_features_are_the_full_ones_without_chroma_and_the_cache_serves_both():
    """``features(chroma=False)`` (what the replacement head, which does not read chroma, asks for) gives the
    reference's other features; the cache hands a full result to a luma-only caller, not the other way round."""
    i = rh.FEATURES.index("chroma")
    judged = 0
    for out, m, _ in ITEMS[:10]:
        want = ref_features(out, m)
        got = rh.features(out, m, chroma=False)
        assert math.isnan(got[i])
        keep = np.arange(len(want)) != i
        np.testing.assert_allclose(got[keep], want[keep], rtol=1e-5, atol=3e-5)
        judged += int(np.isfinite(want[i]))
    assert judged >= 5
    out, m, _ = next(it for it in ITEMS if np.isfinite(ref_features(it[0], it[1])).all())
    out = out.clone()  # (memory of its own: no earlier cache entry)
    rh._LAST.clear()
    assert math.isnan(rh.features_cached(out, m, chroma=False)[i])
    full = rh.features_cached(out, m)  # a luma-only entry does not serve a caller that asks for chroma
    assert np.isfinite(full[i])
    np.testing.assert_array_equal(rh.features_cached(out, m, chroma=False), full)  # a full one serves both



# -- references (commit 5bfd384) ------------------------------------------------------------------------------
def ref5_bin(x, edges):
    out = (x > edges[0]).astype(np.intp)
    for e in edges[1:]:
        out += x > e
    return out


def ref5_features(rgb, cell):
    l8, a8, b8 = cv2.split(cv2.cvtColor(rp._bytes(rgb), cv2.COLOR_RGB2Lab))
    t = rp._byte_tables(cell)
    L = t.L[l8]
    sm = cv2.GaussianBlur(L, (0, 0), 1.0)
    gx = cv2.Sobel(sm, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(sm, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    g = np.sqrt(gx * gx + gy * gy)
    grain = cv2.blur(np.abs(L - sm), (3, 3))
    li = t.li[l8]
    gi = ref5_bin(g, rp.G_EDGES)
    hxx = cv2.Sobel(sm, cv2.CV_32F, 2, 0, ksize=3) / 4.0
    hyy = cv2.Sobel(sm, cv2.CV_32F, 0, 2, ksize=3) / 4.0
    hxy = cv2.Sobel(sm, cv2.CV_32F, 1, 1, ksize=3) / 4.0
    half_trace = (hxx + hyy) / 2
    spread = np.sqrt(((hxx - hyy) / 2) ** 2 + hxy * hxy)
    h1, h2 = ref5_bin(half_trace + spread, rp.H_EDGES), ref5_bin(half_trace - spread, rp.H_EDGES)
    lab = cv2.merge([L, t.a[a8], t.b[b8], grain, g]).reshape(*L.shape, 5)
    return ((li * t.na + t.ai[a8]) * t.nb + t.bi[b8], gi, (t.nl, t.na, t.nb), lab, (li * rp.NH + h1) * rp.NH + h2,
            (t.nl, rp.NH, rp.NH))


def ref5_key_counts(cells, gbins, sec, k):
    keys, inv = np.unique(cells * rp.NG + gbins, return_inverse=True)
    return keys, np.bincount(inv.reshape(-1) * k + sec, minlength=len(keys) * k).reshape(len(keys), k)


def ref5_widen(tables, shape):
    k = len(tables)
    nl, na, nb = shape
    if nb + 1 > rp.CV_CHANNELS:
        from scipy.ndimage import maximum_filter

        return maximum_filter(tables.reshape(k, *shape), size=(1, 3, 3, 3), mode="constant", cval=-1).reshape(k, -1)
    g = np.zeros((k, nl + 1, na, nb + 1), np.uint8)
    g[:, :nl, :, :nb] = (tables + 1).view(np.uint8).reshape(k, nl, na, nb)
    g = cv2.dilate(g.reshape(k * (nl + 1), na, nb + 1), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT,
                   borderValue=0)
    g = cv2.dilate(g.reshape(k * (nl + 1), na * (nb + 1)), np.ones((1, 3), np.uint8),
                   borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return g.reshape(k, nl + 1, na, nb + 1)[:, :nl, :, :nb].reshape(k, -1).view(np.int8) - 1


def ref5_cell_centres(cells, shape, cell):
    idx = np.unique(cells)
    _, na, nb = shape
    (a0, _), (b0, _) = rp._ab_cells(cell)
    li, ai, bi = idx // (na * nb), (idx // nb) % na + a0, idx % nb + b0
    return np.stack([(li + 0.5) * cell, (ai + 0.5) * cell - 128.0, (bi + 0.5) * cell - 128.0], 1)


def ref5_hull(ref_cells, shape, cell, scale=1.0, grainless_scale=rp.GRAINLESS_SCALE):
    from scipy.spatial import ConvexHull, QhullError

    pts = ref5_cell_centres(ref_cells, shape, cell)
    if 0 < len(pts) < 4:
        pts = np.concatenate([pts, pts[:1] + np.eye(3) * 1e-3])
    try:
        eq = ConvexHull(pts, qhull_options="QJ").equations if len(pts) else None
    except (QhullError, ValueError, IndexError):
        eq = None

    def inside(points, grainless=None):
        if eq is None:
            return np.zeros(len(points), bool)
        depth = np.maximum(-(pts.mean(0) @ eq[:, :3].T + eq[:, 3]), 0)
        normals, offsets = eq[:, :3].T.copy(), eq[:, 3]
        reach, grainless_reach = cell + (scale - 1) * depth, cell + (max(scale, grainless_scale) - 1) * depth
        proj = points @ normals + offsets
        if grainless is None or not grainless.any():
            return (proj <= reach).all(axis=1)
        return np.where(grainless, (proj <= grainless_reach).all(axis=1), (proj <= reach).all(axis=1))

    return inside


def ref5_incomplete_scores(batch, tol=0.03, min_pixels=16):
    from bench.detectors._util import pushpull

    score = np.full(batch.size, np.nan)
    has_gt = batch.has_gt.bool().cpu().tolist()
    for i in range(batch.size):
        m = mask2d(batch.mask[i])
        if not m.any():
            continue
        ys, xs = crop_box(m, 2 if has_gt[i] else 8)
        m = m[ys, xs]
        if has_gt[i] and torch.equal(batch.gt[i][:, ys, xs], batch.input[i][:, ys, xs]):
            continue
        inp = hwc(batch.input[i][:, ys, xs])
        background = hwc(batch.gt[i][:, ys, xs]) if has_gt[i] else pushpull(inp, (~m).astype(np.float32))
        d_bg = cv2.blur(np.abs(background - inp).mean(2), (3, 3))
        sel = m & (d_bg > 2 * tol)
        if int(sel.sum()) < max(min_pixels, 0.02 * m.sum()):
            continue
        d_out = cv2.blur(np.abs(hwc(batch.output[i][:, ys, xs]) - inp).mean(2), (3, 3))
        score[i] = float((d_out[sel] <= tol).mean())
    return score


# -- tests of the 5bfd384 replacements ------------------------------------------------------------------------
def _images(rng, h=40, w=52):
    return [rng.random((h, w, 3), dtype=np.float32),
            cv2.GaussianBlur(rng.random((h, w, 3), dtype=np.float32), (0, 0), 2.0),
            (rng.random((h, w, 3)) > 0.5).astype(np.float32),  # saturated colours: the gamut's corners
            rng.normal(0.5, 0.6, (h, w, 3)).astype(np.float32),  # out of [0, 1]: clipped
            np.full((h, w, 3), 0.5, np.float32)]  # flat: every Hessian bin the middle one


@pytest.mark.parametrize("cell", [6.0, 4.0, 10.0, 2.5, 1.5])
def test_pixel_features_and_the_truths_lighter_ones_are_bitwise_the_5bfd384_reference(cell):
    rng = np.random.default_rng(int(cell * 100))
    images = _images(rng) + _images(rng, 7, 130) + [hwc(out) for out, _, _ in ITEMS[:4]]
    for rgb in images:
        want = ref5_features(rgb, cell)
        got = rp._features(rgb, cell)
        for g, w in zip(got, want):
            if isinstance(w, tuple):
                assert g == w
            else:
                assert g.dtype == w.dtype and g.shape == w.shape and np.array_equal(g, w)
        light = rp._features(rgb, cell, lab=False)  # the truth's: cells, bins, shapes and L only
        for j in (0, 1, 4):
            assert light[j].dtype == want[j].dtype and np.array_equal(light[j], want[j])
        assert light.lab.shape == (*rgb.shape[:2], 1) and np.array_equal(light.lab[..., 0], want[3][..., 0])
    x = rng.normal(0, 10, (30, 30)).astype(np.float32)
    x[0, :5] = [np.nan, np.inf, -np.inf, 8.0, -8.0]  # non-finite and exactly on an edge
    for edges in (rp.H_EDGES, rp.G_EDGES):
        assert np.array_equal(rp._bin(x, edges), ref5_bin(x, edges))


def test_key_counts_and_distinct_values_from_tables_equal_the_sorted_5bfd384_ones(monkeypatch):
    rng = np.random.default_rng(7)
    for n, ncell, k in ((0, 10, 8), (1, 10, 1), (50, 3, 8), (2000, 300, 8), (9000, 18445, 8), (500, 833, 3)):
        cells, g, sec = rng.integers(0, ncell, n), rng.integers(0, rp.NG, n), rng.integers(0, k, n)
        want = ref5_key_counts(cells, g, sec, k)
        for dense_max in (rp.DENSE_MAX, 0):  # counted in tables, and sorted (key spaces over DENSE_MAX)
            monkeypatch.setattr(rp, "DENSE_MAX", dense_max)
            for got in (rp._key_counts(cells, g, sec, k, ncell), rp._key_counts(cells, g, sec, k)):
                assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
                assert got[1].dtype == want[1].dtype
            assert np.array_equal(rp._distinct(cells, ncell), np.unique(cells))
        monkeypatch.undo()


def test_supports_widened_in_the_padded_layout_equal_the_5bfd384_widening():
    """Tables built on padded cell indices and widened there read back, at each cell's padded index, what the
    5bfd384 widening of the plain tables gives (the shipped grid, odd grids, and more b cells than OpenCV takes as
    channels: SciPy's filter)."""
    (_, na), (_, nb) = rp._ab_cells(6.0)
    rng = np.random.default_rng(8)
    for k, shape in ((8, (17, na, nb)), (8, (17, rp.NH, rp.NH)), (1, (17, na, nb)), (3, (3, 4, 5)), (2, (1, 1, 2)),
                     (2, (2, 3, 200))):
        ncell = int(np.prod(shape))
        cells = np.arange(ncell)
        pcells = rp._pad_index(cells, shape)
        assert len(np.unique(pcells)) == ncell and pcells.max() < np.prod(rp._padded(shape))
        for density in (0.1, 0.6):
            t = rng.integers(-1, 4, (k, ncell)).astype(np.int8)
            t[rng.random(t.shape) > density] = -1
            padded = np.full((k, int(np.prod(rp._padded(shape)))), -1, np.int8)
            padded[:, pcells] = t
            assert np.array_equal(rp._widen_padded(padded, shape)[:, pcells], ref5_widen(t, shape)), (k, shape)
    # the tables of a sector pass, built on padded indices, equal the plain ones read at them
    shape = (17, na, nb)
    cells, g, sec = rng.integers(0, int(np.prod(shape)), 3000), rng.integers(0, rp.NG, 3000), rng.integers(0, 8, 3000)
    pool = rp._pools([0, 1, 3, 4, 5, 7], 8)
    pc, npc, nc = rp._pad_index(cells, shape), int(np.prod(rp._padded(shape))), int(np.prod(shape))
    for p, least in ((pool, 2), (None, 1)):
        want = ref5_widen(rp._sector_max_grad(cells, g, sec, p, nc, least), shape)
        got = rp._widen_padded(rp._sector_max_grad(pc, g, sec, p, npc, least, rp._key_counts(pc, g, sec, 8, npc)
                                                   if p is not None else None), shape)
        assert np.array_equal(got[:, rp._pad_index(np.arange(nc), shape)], want)


def test_hulls_equal_the_5bfd384_ones_with_and_without_the_memo():
    """Hull membership (plain and grainless reach, scaled hulls, tiny and degenerate cell sets) is bitwise the
    5bfd384 test; hulls of the same cells built once (the memo) answer as hulls built afresh; the facets come out of
    Qhull as ConvexHull's."""
    from scipy.spatial import ConvexHull

    cell = 6.0
    (_, na), (_, nb) = rp._ab_cells(cell)
    shape = (17, na, nb)
    rng = np.random.default_rng(9)
    ncell = int(np.prod(shape))
    sets = [rng.integers(0, ncell, n) for n in (1, 2, 3, 5, 40, 300)]
    sets += [np.array([], np.int64), np.array([7, 7, 7]), np.arange(100, 112),  # empty, one cell, a line of cells
             np.concatenate([sets[4], sets[4][::-1]])]  # the same cells again, in another order, with repeats
    memo: dict = {}

    def centres_of(cells):  # the distinct cells' Lab centres, as the hull builds them
        return rp._centres(rp._distinct(cells, ncell), shape, cell)

    for ref_cells in sets:
        centres = centres_of(ref_cells)
        assert np.array_equal(centres, ref5_cell_centres(ref_cells, shape, cell))
        lo, hi = centres.min(0, initial=0) - 3 * cell, centres.max(0, initial=0) + 3 * cell
        pts = (lo + rng.random((700, 3)) * (hi - lo)).astype(np.float32)  # in and around the hull
        grainless = rng.random(700) < 0.4
        for scale, gscale in ((1.0, rp.GRAINLESS_SCALE), (rp.REF_HULL_SCALE, rp.REF_GRAINLESS_SCALE)):
            want = ref5_hull(ref_cells, shape, cell, scale, gscale)
            for new in (rp._hull(ref_cells, shape, cell, scale, gscale),
                        rp._hull(ref_cells, shape, cell, scale, gscale, memo=memo)):
                for g in (None, grainless, np.zeros(700, bool), np.ones(700, bool)):
                    assert np.array_equal(new(pts, g), want(pts, g))
                assert np.array_equal(new(pts[:1]), want(pts[:1]))
    assert len(memo) == len(sets) - 1  # the repeated set was built once
    for ref_cells in sets[2:6]:
        p = rp._build_hull(centres_of(ref_cells))[0]
        assert np.array_equal(rp._hull_equations(p), ConvexHull(p, qhull_options="QJ").equations)


def _masked(size: int, seed: int, first: bool):
    """A batch of calibration cases at ``size`` px, a copy of its mask with the holes of :func:`masks` put into
    its first (or last) samples, and how many were put in."""
    from bench.calibration.cases import build_cases, to_batch

    b = to_batch(build_cases(seed, 2, size))
    ms = masks(size, np.random.default_rng(seed))
    n = min(b.size, len(ms))
    mask = b.mask.clone()
    rows = slice(0, n) if first else slice(b.size - n, b.size)
    mask[rows, 0] = torch.from_numpy(np.stack(ms[:n]))
    return b, mask, n


def _incomplete_batches():
    """Batches of every incomplete case: with truth (some a reconstruction: truth = input under the hole),
    without (push-pull background), empty and full holes, holes on the border, tiny holes, NaN scores (nothing
    under the hole differs from the background)."""
    out = []
    for size, seed in ((64, 3), (96, 4), (150, 5)):
        b, mask, n = _masked(size, seed, first=True)
        mask[n - 1] = False  # an empty hole
        gt = b.gt.clone()
        gt[0] = b.input[0]  # a reconstruction
        out.append(dataclasses.replace(b, mask=mask, gt=gt))
        out.append(dataclasses.replace(b, mask=mask, gt=torch.zeros_like(gt), has_gt=torch.zeros_like(b.has_gt)))
        out.append(dataclasses.replace(b, output=b.input.clone()))  # the object left in place
    return out


def test_incomplete_scores_equal_the_5bfd384_ones():
    from bench.detectors.incomplete import IncompleteDetector

    det = IncompleteDetector()
    judged = nan = 0
    for b in _incomplete_batches():
        got, want = det.scores(b)["incomplete_score"], ref5_incomplete_scores(b)
        assert np.array_equal(got, want, equal_nan=True)
        judged += int(np.isfinite(want).sum())
        nan += int(np.isnan(want).sum())
    assert judged >= 10 and nan >= 3


def test_replacement_scores_equal_those_with_the_5bfd384_helpers(monkeypatch):
    """End to end: the detector's scores with its new helpers equal those with the 5bfd384 ones put back where
    the same job is done (pixel features, sorted counts and distinct cells, ConvexHull's facets, hulls built
    afresh) on calibration cases at several sizes, with and without truth, and with the holes of :func:`masks`."""
    import dataclasses as dc

    batches = []
    for size, seed in ((80, 21), (128, 22), (200, 23)):
        b, mask, _ = _masked(size, seed, first=False)
        batches += [b, dc.replace(b, mask=mask), dc.replace(b, gt=torch.zeros_like(b.gt),
                                                            has_gt=torch.zeros_like(b.has_gt))]
    det = rp.ReplacementDetector()
    got = [det.scores(b) for b in batches]
    from scipy.spatial import ConvexHull

    monkeypatch.setattr(rp, "_features", lambda rgb, cell, lab=True: rp._Feats(*ref5_features(rgb, cell)))
    monkeypatch.setattr(rp, "DENSE_MAX", 0)  # np.unique everywhere
    monkeypatch.setattr(rp, "_hull_equations", lambda p: ConvexHull(p, qhull_options="QJ").equations)
    real_hull = rp._hull
    monkeypatch.setattr(rp, "_hull", lambda *a, memo=None, **kw: real_hull(*a, **kw))  # no memo
    judged = 0
    for b, g in zip(batches, got):
        want = det.scores(b)
        for key in want:
            assert np.array_equal(g[key], want[key], equal_nan=True), key
        judged += int(np.isfinite(want["replacement_ref_score"]).sum())
    assert judged >= 10


# -- references (commit a9e2b0b): helpers a third speed-up replaced ---------------------------------------------
# bench/detectors/_util.py: crop_box, luma; bench/detectors/blur.py: bands, blockiness, _grid_share (with
# _residue_index); bench/detectors/replacement.py: _sector_of, _centres; and the short-axis means of incomplete,
# black and noop (``x.mean(2)``, ``bool_array.mean()``). The replacements do the same arithmetic: bitwise equal.
def ref6_crop_box(m, margin):
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    h, w = m.shape
    return (slice(max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin)),
            slice(max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin)))


def ref6_luma(t):
    x = t.detach().float().cpu().numpy()
    out = np.multiply(x[0], np.float32(0.299))
    out += np.float32(0.587) * x[1]
    out += np.float32(0.114) * x[2]
    return out


def ref6_bands(y):
    from bench.detectors.blur import SCALES

    blurred = [y] + [cv2.GaussianBlur(y, (0, 0), s) for s in SCALES[1:]]
    return [np.abs(blurred[k - 1] - blurred[k]) for k in range(1, len(SCALES))]


def ref6_grid_share(profile, pmin, pmax):
    n = int(np.count_nonzero(profile))
    total = float(profile.sum())
    if total <= 0 or n < 3:
        return math.nan
    idx = np.nonzero(profile)[0]
    span = int(idx[-1] - idx[0] + 1)
    top = int(np.argmax(profile))
    rest = profile.astype(np.float64)
    rest[top] = 0.0
    rest_total = float(rest.sum())
    hi = min(pmax, span // 2)
    if rest_total <= 0 or hi < pmin:
        return math.nan if rest_total <= 0 else 0.0
    ps = np.arange(pmin, hi + 1)
    index = (np.arange(ps.size)[:, None] * (hi + 1) + np.arange(profile.size)[None, :] % ps[:, None]).ravel()
    energy = np.bincount(index, weights=np.tile(rest, ps.size), minlength=ps.size * (hi + 1))
    energy = energy.reshape(ps.size, hi + 1)
    share = energy[np.arange(ps.size), top % ps] / rest_total
    return float(max(0.0, ((share - 1.0 / ps) / (1.0 - 1.0 / ps)).max()))


def ref6_blockiness(y, region, pmin=4, pmax=48):
    from bench.detectors.blur import STEP

    dx = np.abs(y[:, 1:] - y[:, :-1])
    dx[dx < STEP] = 0.0
    dx *= region[:, 1:] & region[:, :-1]
    dy = np.abs(y[1:, :] - y[:-1, :])
    dy[dy < STEP] = 0.0
    dy *= region[1:, :] & region[:-1, :]
    sx = ref6_grid_share(dx.sum(0), pmin, pmax)
    sy = ref6_grid_share(dy.sum(1), pmin, pmax)
    if math.isnan(sx) and math.isnan(sy):
        return 0.0
    return float(np.nanmin([sx, sy]))


def ref6_centres(idx, shape, cell):
    _, na, nb = shape
    (a0, _), (b0, _) = rp._ab_cells(cell)
    li, ai, bi = idx // (na * nb), (idx // nb) % na + a0, idx % nb + b0
    return np.stack([(li + 0.5) * cell, (ai + 0.5) * cell - 128.0, (bi + 0.5) * cell - 128.0], 1)


def ref6_sector_of(m, ry, rx, k):
    ys, xs = np.nonzero(m)
    return ((np.arctan2(ry - ys.mean(), rx - xs.mean()) + np.pi) / (2 * np.pi) * k).astype(np.int32) % k


def _random_masks(rng, n=300):
    out = []
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        m = rng.random((h, w)) < rng.choice([0.0, 0.002, 0.05, 0.5, 1.0])
        if rng.random() < 0.3 and h > 4 and w > 4:
            m = m[2:-1, 1:-2]  # a view: not contiguous
        out.append(m)
    return out


# -- tests of the a9e2b0b replacements ------------------------------------------------------------------------
def test_crop_box_is_the_a9e2b0b_one():
    rng = np.random.default_rng(61)
    for m in _random_masks(rng) + [np.zeros((0, 4), bool), np.ones((1, 1), bool)]:
        margin = int(rng.integers(0, 12))
        got, want = crop_box(m, margin), ref6_crop_box(m, margin) if m.size else (slice(0, 0), slice(0, 0))
        assert got == want, (m.shape, margin)


def test_luma_channel_mean_and_share_are_bitwise_the_a9e2b0b_arithmetic():
    from bench.detectors._util import channel_mean, luma, share

    rng = np.random.default_rng(62)
    for h, w in ((1, 1), (17, 33), (64, 700), (300, 200)):
        x = rng.normal(0.5, 0.7, (3, h, w)).astype(np.float32)
        x[0, 0, 0] = np.nan
        t = torch.from_numpy(x)
        assert np.array_equal(luma(t), ref6_luma(t), equal_nan=True)
        assert np.array_equal(luma(t[:, h // 3:, w // 4:]), ref6_luma(t[:, h // 3:, w // 4:]), equal_nan=True)
        hwc_x = np.ascontiguousarray(x.transpose(1, 2, 0))
        for a in (hwc_x, hwc_x[h // 3:, w // 4:], np.abs(hwc_x) * 1e-30, hwc_x * 3e37):  # views, tiny, huge
            assert channel_mean(a).dtype == np.float32
            assert np.array_equal(channel_mean(a), a.mean(2), equal_nan=True)
        b = x > 0.5
        assert share(b) == float(b.mean()) and share(b[0, :, 0]) == float(b[0, :, 0].mean())
    assert math.isnan(share(np.zeros(0, bool)))


def test_bands_blockiness_and_grid_share_are_bitwise_the_a9e2b0b_ones():
    from bench.detectors import blur as bl

    rng = np.random.default_rng(63)
    shares = 0
    for m in _random_masks(rng, 200):
        h, w = m.shape
        y = rng.random((h, w), dtype=np.float32)
        if rng.random() < 0.4:  # a mosaic: constant tiles, a grid of steps
            p = int(rng.integers(4, 12))
            y = np.kron(rng.random((h // p + 1, w // p + 1)).astype(np.float32), np.ones((p, p), np.float32))[:h, :w]
        if rng.random() < 0.2:
            y = np.round(y * 255) / 255 * 0.02  # steps under and at the STEP floor
        if rng.random() < 0.1:
            y[0, 0] = np.nan
        y = np.ascontiguousarray(y)
        for g, want in zip(bl.bands(y), ref6_bands(y)):
            assert np.array_equal(g, want, equal_nan=True)
        got, want = bl.blockiness(y, m), ref6_blockiness(y, m)
        assert got == want or (math.isnan(got) and math.isnan(want))
        profile = np.abs(rng.normal(0, 1, int(rng.integers(1, 400)))) * (rng.random() < 0.8)
        profile[rng.random(profile.size) < rng.random()] = 0.0
        for pmin, pmax in ((4, 48), (2, 9), (5, 5)):
            g, r = bl._grid_share(profile, pmin, pmax), ref6_grid_share(profile, pmin, pmax)
            assert g == r or (math.isnan(g) and math.isnan(r))
            shares += int(not math.isnan(r) and r > 0)
    assert shares > 50


def test_sector_of_and_centres_are_bitwise_the_a9e2b0b_ones():
    rng = np.random.default_rng(64)
    for m in _random_masks(rng, 200):
        if not m.any():
            continue
        ry, rx = (rng.integers(-20, 120, 50) for _ in range(2))
        for k in (1, 8, 13):
            assert np.array_equal(rp._sector_of(m, ry, rx, k), ref6_sector_of(m, ry, rx, k))
    for cell in (6.0, 4.0, 2.5):
        t = rp._byte_tables(cell)
        shape = (t.nl, t.na, t.nb)
        idx = rng.integers(0, int(np.prod(shape)), 500)
        assert np.array_equal(rp._centres(idx, shape, cell), ref6_centres(idx, shape, cell))


def test_every_weight_free_detector_scores_equal_those_with_the_a9e2b0b_helpers(monkeypatch):
    """End to end: each weight-free detector's scores with its new helpers equal those with the a9e2b0b ones put
    back (every module's own binding), on calibration cases at several sizes, with and without truth, with the
    holes of :func:`masks`, and with the object left in place."""
    import dataclasses as dc

    from bench.detectors import WEIGHT_FREE, black, blur, incomplete, noop, real_head
    from bench.registry import DETECTORS

    batches = _incomplete_batches()
    for size, seed in ((80, 31), (200, 33)):
        b, mask, _ = _masked(size, seed, first=False)
        batches += [b, dc.replace(b, mask=mask), dc.replace(b, gt=torch.zeros_like(b.gt),
                                                            has_gt=torch.zeros_like(b.has_gt))]
    dets = {name: DETECTORS.get(name)() for name in WEIGHT_FREE}
    got = [{k: v for d in dets.values() for k, v in d.scores(b).items()} for b in batches]
    for mod in (blur, rp, incomplete, noop, real_head):
        monkeypatch.setattr(mod, "crop_box", ref6_crop_box)
    monkeypatch.setattr(blur, "luma", ref6_luma)
    monkeypatch.setattr(blur, "bands", ref6_bands)
    monkeypatch.setattr(blur, "blockiness", ref6_blockiness)
    monkeypatch.setattr(rp, "_sector_of", ref6_sector_of)
    monkeypatch.setattr(rp, "_centres", ref6_centres)
    monkeypatch.setattr(incomplete, "channel_mean", lambda a: a.mean(2))
    for mod in (incomplete, noop, black):
        monkeypatch.setattr(mod, "share", lambda a: float(a.mean()))
    judged = 0
    for b, g in zip(batches, got):
        want = {k: v for d in dets.values() for k, v in d.scores(b).items()}
        assert g.keys() == want.keys()
        for key in want:
            assert np.array_equal(g[key], want[key], equal_nan=True), key
        judged += int(np.isfinite(want["blur_mosaic_score"]).sum() + np.isfinite(want["incomplete_score"]).sum())
    assert judged >= 20
