"""Masked PSNR / SSIM against scikit-image on exactly the same pixels, plus closed-form cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bench.metrics.pixel import PSNR, SSIM, masked_psnr, masked_ssim, ssim_map
from bench.registry import METRICS
from bench.types import EvalBatch

SIZES = [(64, 64), (48, 80), (33, 57), (71, 40)]


def _images(seed: int, b: int, h: int, w: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, h, w, generator=g)
    # y: x plus structured noise and a blur-ish shift so SSIM is neither ~0 nor ~1
    y = (0.7 * x + 0.3 * torch.roll(x, shifts=(1, 2), dims=(2, 3)) + 0.05 * torch.randn(b, 3, h, w, generator=g))
    y = y.clamp(0, 1)
    m = torch.rand(b, 1, h, w, generator=g) < torch.rand(b, 1, 1, 1, generator=g).clamp(0.1, 0.9)
    return x, y, m


def _sk_ssim_full(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """skimage's per-pixel SSIM map, channel-averaged; inputs [3, H, W] float64."""
    _, s = structural_similarity(a.transpose(1, 2, 0), b.transpose(1, 2, 0), gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0, channel_axis=2, full=True)
    return s.mean(axis=2)


@pytest.mark.parametrize("h,w", SIZES)
def test_masked_psnr_matches_skimage_on_same_pixels(h, w):
    x, y, m = _images(h * 1000 + w, 3, h, w)
    ours = masked_psnr(x, y, m).numpy()
    for i in range(3):
        sel = m[i, 0].numpy()
        a = x[i].numpy().astype(np.float64)[:, sel]  # [3, n]: exactly the hole's pixels, all channels
        b = y[i].numpy().astype(np.float64)[:, sel]
        ref = peak_signal_noise_ratio(a, b, data_range=1.0)
        assert ours[i] == pytest.approx(ref, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("h,w", SIZES)
def test_masked_ssim_matches_skimage_full_map_on_same_pixels(h, w):
    x, y, m = _images(7 + h + w, 3, h, w)
    ours_in = masked_ssim(x, y, m).numpy()
    ours_out = masked_ssim(x, y, ~m).numpy()
    full = ssim_map(x, y).numpy()
    for i in range(3):
        ref_map = _sk_ssim_full(x[i].numpy().astype(np.float64), y[i].numpy().astype(np.float64))
        np.testing.assert_allclose(full[i].mean(axis=0), ref_map, rtol=1e-5, atol=1e-6)
        sel = m[i, 0].numpy()
        assert ours_in[i] == pytest.approx(ref_map[sel].mean(), rel=1e-5, abs=1e-6)
        assert ours_out[i] == pytest.approx(ref_map[~sel].mean(), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("h,w", [(64, 64), (45, 77)])
def test_ssim_on_skimage_interior_equals_its_scalar(h, w):
    """A mask equal to skimage's cropped interior (5 px border dropped) gives skimage's scalar SSIM exactly."""
    x, y, _ = _images(h - w, 2, h, w)
    m = torch.zeros(2, 1, h, w, dtype=torch.bool)
    m[:, :, 5:-5, 5:-5] = True
    ours = masked_ssim(x, y, m).numpy()
    for i in range(2):
        ref = structural_similarity(x[i].numpy().astype(np.float64).transpose(1, 2, 0),
                                    y[i].numpy().astype(np.float64).transpose(1, 2, 0), gaussian_weights=True,
                                    sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=2)
        assert ours[i] == pytest.approx(ref, rel=1e-5, abs=1e-6)


def test_ssim_batch_chunking_independent():
    x, y, m = _images(3, 9, 40, 40)
    whole = masked_ssim(x, y, m)
    one_by_one = torch.cat([masked_ssim(x[i:i + 1], y[i:i + 1], m[i:i + 1]) for i in range(9)])
    torch.testing.assert_close(whole, one_by_one, rtol=0, atol=1e-12)


def test_psnr_constant_offset_closed_form():
    x = torch.full((2, 3, 32, 48), 0.5)
    m = torch.zeros(2, 1, 32, 48, dtype=torch.bool)
    m[0, :, 4:20, 10:30] = True
    m[1, :, :, :7] = True
    for d in (0.1, 0.01, 0.25):
        got = masked_psnr(x + d, x, m).numpy()
        np.testing.assert_allclose(got, [20 * math.log10(1 / d)] * 2, rtol=1e-6)


def test_8bit_values_need_their_range():
    """uint8 images with the default data_range 1 read a 3-level offset as -9.5 dB; they are refused, and with
    data_range=255 they equal scikit-image's PSNR of the same uint8 arrays."""
    rng = np.random.default_rng(5)
    a = rng.integers(0, 252, (1, 3, 20, 24), dtype=np.uint8)
    b = a + 3
    m = torch.ones(1, 1, 20, 24, dtype=torch.bool)
    with pytest.raises(ValueError, match="data_range=255"):
        masked_psnr(torch.from_numpy(b), torch.from_numpy(a), m)
    with pytest.raises(ValueError, match="data_range=255"):
        masked_ssim(torch.from_numpy(b), torch.from_numpy(a), m)
    got = masked_psnr(torch.from_numpy(b), torch.from_numpy(a), m, data_range=255).item()
    assert got == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), rel=1e-9)


def test_identical_gives_inf_and_empty_region_gives_nan():
    x = torch.rand(2, 3, 32, 32)
    m = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    m[0, :, 3:9, 3:9] = True  # image 1 has an empty hole
    p = masked_psnr(x, x.clone(), m).numpy()
    assert p[0] == math.inf and math.isnan(p[1])
    s = masked_ssim(x, x.clone(), m).numpy()
    assert s[0] == pytest.approx(1.0, abs=1e-12) and math.isnan(s[1])


def _batch(x_out, x_raw, x_in, gt, mask, has_gt):
    b, _, h, w = x_in.shape
    return EvalBatch(sample_ids=[f"s{i}" for i in range(b)], output=x_out, raw=x_raw, input=x_in,
                     blanked=torch.where(mask, torch.zeros_like(x_in), x_in), mask=mask, gt=gt, has_gt=has_gt,
                     raw_sizes=[(h, w)] * b, model_sizes=[(h, w)] * b)


def test_plugins_in_out_semantics():
    g = torch.Generator().manual_seed(0)
    inp = torch.rand(3, 3, 40, 56, generator=g)
    mask = torch.zeros(3, 1, 40, 56, dtype=torch.bool)
    mask[:, :, 10:25, 5:30] = True
    raw = (inp + 0.05 * torch.randn(inp.shape, generator=g)).clamp(0, 1)
    out = torch.where(mask, raw, inp)  # pasted back
    gt = torch.rand(3, 3, 40, 56, generator=g)
    has_gt = torch.tensor([True, False, True])
    gt[1] = 0
    batch = _batch(out, raw, inp, gt, mask, has_gt)
    p = METRICS.get("psnr")().compute(batch)
    s = METRICS.get("ssim")().compute(batch)
    assert set(p) == {"psnr_in", "psnr_out", "psnr_full"} and set(s) == {"ssim_in", "ssim_out", "ssim_full"}
    assert math.isnan(p["psnr_in"][1]) and math.isnan(s["ssim_in"][1])
    for i in (0, 2):
        assert p["psnr_in"][i] == pytest.approx(masked_psnr(out[i:i + 1], gt[i:i + 1], mask[i:i + 1]).item())
        assert s["ssim_in"][i] == pytest.approx(masked_ssim(out[i:i + 1], gt[i:i + 1], mask[i:i + 1]).item())
    # outside metrics read the raw output (finite), not the pasted-back one (which would be inf)
    np.testing.assert_allclose(p["psnr_out"], masked_psnr(raw, inp, ~mask).numpy())
    assert np.all(np.isfinite(p["psnr_out"]))
    np.testing.assert_allclose(s["ssim_out"], masked_ssim(raw, inp, ~mask).numpy())
    # an untouched raw output scores inf outside
    p2 = PSNR().compute(_batch(out, out, inp, gt, mask, has_gt))
    assert np.all(np.isinf(p2["psnr_out"]))
    # SSIM windows straddle the hole border, so a pasted-back output is not exactly 1 outside; an unchanged one is
    assert SSIM().compute(_batch(out, inp.clone(), inp, gt, mask, has_gt))["ssim_out"] == pytest.approx([1.0] * 3)
    assert np.all(SSIM().compute(_batch(out, out, inp, gt, mask, has_gt))["ssim_out"] < 1.0)


def test_ssim_shared_map_path_equals_separate_maps():
    """Rows where (output, gt) == (raw, input) reuse one map for both keys; mixed batches give the same values."""
    g = torch.Generator().manual_seed(4)
    inp = torch.rand(4, 3, 36, 44, generator=g)
    mask = torch.rand(4, 1, 36, 44, generator=g) < 0.3
    raw = (inp + 0.1 * torch.randn(inp.shape, generator=g)).clamp(0, 1)
    out = raw.clone()
    out[1] = torch.where(mask[1], raw[1], inp[1])  # row 1 pasted back: output != raw
    gt = inp.clone()
    gt[2] = torch.rand(3, 36, 44, generator=g)  # row 2: removal-style ground truth != input
    has_gt = torch.tensor([True, True, True, False])
    gt[3] = 0
    r = SSIM().compute(_batch(out, raw, inp, gt, mask, has_gt))
    for i in range(3):
        assert r["ssim_in"][i] == pytest.approx(masked_ssim(out[i:i + 1], gt[i:i + 1], mask[i:i + 1]).item(),
                                                rel=1e-12)
    assert math.isnan(r["ssim_in"][3])
    np.testing.assert_allclose(r["ssim_out"], masked_ssim(raw, inp, ~mask).numpy(), rtol=1e-12)


def _independent_zero_padded_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM the way pytorch-ssim / LaMa's evaluator compute it, written out with scipy: Gaussian window 11,
    sigma 1.5, zero padding ("constant" 0), C1 = 0.01^2, C2 = 0.03^2, mean over every pixel and channel."""
    from scipy import ndimage

    xs = np.arange(11) - 5
    g = np.exp(-(xs ** 2) / (2 * 1.5 ** 2))
    g = g / g.sum()
    w = np.outer(g, g)

    def filt(a):
        return ndimage.correlate(a, w, mode="constant", cval=0.0)

    vals = []
    for c in range(x.shape[0]):
        a, b = x[c].astype(np.float64), y[c].astype(np.float64)
        mu1, mu2 = filt(a), filt(b)
        s11, s22, s12 = filt(a * a) - mu1 ** 2, filt(b * b) - mu2 ** 2, filt(a * b) - mu1 * mu2
        c1, c2 = 0.01 ** 2, 0.03 ** 2
        vals.append(((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s11 + s22 + c2)))
    return float(np.mean(vals))


def test_full_image_metrics_on_the_composite_equal_scikit_image_and_lamas_convention():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    g = torch.Generator().manual_seed(11)
    inp = torch.rand(3, 3, 48, 64, generator=g)
    gt = inp.clone()
    gt[2] = torch.rand(3, 48, 64, generator=g)  # a removal-style ground truth
    mask = torch.zeros(3, 1, 48, 64, dtype=torch.bool)
    mask[:, :, 8:30, 10:40] = True
    raw = (inp + 0.08 * torch.randn(inp.shape, generator=g)).clamp(0, 1)  # a VAE-like change everywhere
    has_gt = torch.tensor([True, True, True])
    for out in (raw, torch.where(mask, raw, inp)):  # without and with paste-back: the composite is the same
        b = _batch(out, raw, inp, gt, mask, has_gt)
        comp = torch.where(mask, raw, inp)
        assert torch.equal(b.composite, comp)
        p = PSNR().compute(b)
        s = SSIM(full="both").compute(b)
        for i in range(3):
            c, t = comp[i].numpy().astype(np.float64), gt[i].numpy().astype(np.float64)
            assert p["psnr_full"][i] == pytest.approx(peak_signal_noise_ratio(t, c, data_range=1.0), rel=1e-9)
            ref = structural_similarity(t, c, data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False)
            assert s["ssim_full"][i] == pytest.approx(ref, abs=1e-6)
            assert s["ssim_full_lama"][i] == pytest.approx(_independent_zero_padded_ssim(c, t), abs=1e-9)
    # the two conventions differ visibly at three decimals on such images: why both are offered
    assert np.max(np.abs(s["ssim_full"] - s["ssim_full_lama"])) > 1e-3


@pytest.mark.parametrize("padding", ["reflect", "zero"])
def test_ssim_in_row_strips_equals_one_piece(monkeypatch, padding):
    """Large images are filtered in row strips (with the kernel's halo) to bound memory; the values must not move:
    the strips' maps and masked means equal the one-piece computation (and scikit-image's map for reflect)."""
    import bench.metrics.pixel as P

    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.random((2, 3, 203, 53)))
    y = (x + 0.1 * torch.from_numpy(rng.standard_normal((2, 3, 203, 53)))).clamp(0, 1)
    m = torch.from_numpy(rng.random((2, 1, 203, 53)) > 0.6)
    whole_map = P._ssim_reduce(x, y, None, full=True, padding=padding)
    whole = P._ssim_reduce(x, y, [m, ~m], padding=padding)
    monkeypatch.setattr(P, "STRIP_ELEMENTS", 15 * 63 * 20)  # strips of the least height (80 rows): three
    assert P._strip_rows(15, 203, 53, 5) == 80
    strip_map = P._ssim_reduce(x, y, None, full=True, padding=padding)
    strips = P._ssim_reduce(x, y, [m, ~m], padding=padding)
    torch.testing.assert_close(strip_map, whole_map, rtol=0, atol=1e-12)
    for a, b in zip(strips, whole):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    if padding == "reflect":
        _, ref = structural_similarity(x[0].numpy(), y[0].numpy(), channel_axis=0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, data_range=1, full=True)
        np.testing.assert_allclose(strip_map[0].numpy(), ref, atol=1e-9)
