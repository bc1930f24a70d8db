"""Masked pixel metrics: PSNR and SSIM inside the hole (vs ground truth) and outside it (vs the input).

Definitions (docs/metrics.md has the full text):

* ``psnr_in``  = 10 * log10(1 / MSE), MSE = mean of (output - gt)^2 over the hole's pixels and all 3 channels, per
  image. Only rows with ground truth (``batch.has_gt``); others are NaN (absent).
* ``psnr_out`` = the same between ``batch.raw`` (never pasted back) and ``batch.input`` over the complement of the
  hole. MSE == 0 gives ``+inf`` (a pipeline that preserves every pixel); reports show it as infinity.
* ``ssim_in`` / ``ssim_out``: the SSIM map of scikit-image's ``structural_similarity(gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=1, K1=0.01, K2=0.03)`` (11-tap Gaussian, truncate 3.5,
  borders extended by ``scipy.ndimage``'s ``reflect`` mode, i.e. half-sample symmetric), per channel then the
  channel mean per pixel, averaged over the hole's pixels (in) / the other pixels (out).

  Borders: scikit-image's scalar SSIM drops a 5-pixel strip at the image border before averaging. We do **not**
  drop it: holes often touch the border (outpainting, object masks), and dropping pixels would make some holes
  empty. The per-pixel map there is exactly scikit-image's ``full=True`` map (same reflect padding), so the masked
  mean equals the mean of scikit-image's full map over the same pixels; the tests check exactly that (and, for a
  mask equal to skimage's cropped interior, equality with its scalar result).

  Windows near the hole's edge see pixels on both sides, so ``ssim_out`` of a pasted-back output is slightly
  below 1 (the ring just outside the hole "sees" the fill); only an unchanged image scores exactly 1.

Empty regions (no hole pixel, or no pixel outside the hole) give NaN. Images are never zeroed to mask: every value
is the masked mean of a per-pixel map. The mean over images happens at report time.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..types import EvalBatch
from .base import Column, Metric, check_regions

# --------------------------------------------------------------------------------------------------------------
# pure functions


def _as_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if mask.dim() == 3:
        mask = mask[:, None]
    if mask.shape[0] != like.shape[0] or mask.shape[-2:] != like.shape[-2:]:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match image shape {tuple(like.shape)}")
    return mask.to(device=like.device, dtype=torch.bool)


def masked_mse(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image MSE over the pixels where ``mask`` is True (all channels), float64, NaN where the mask is empty."""
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    m = _as_mask(mask, x)
    d = (x.to(torch.float64) - y.to(torch.float64)) ** 2  # [B, C, H, W]
    mf = m.to(torch.float64)
    num = (d * mf).sum(dim=(1, 2, 3))
    den = mf.sum(dim=(1, 2, 3)) * x.shape[1]
    out = num / den
    return torch.where(den > 0, out, torch.full_like(out, float("nan")))


def _check_range(x: torch.Tensor, y: torch.Tensor, data_range: float) -> None:
    """Integer images scored as if in [0, 1] (uint8 with the default ``data_range=1``) give numbers that look
    plausible and are wrong (a 3-level offset read -9.5 dB): refuse them."""
    for t in (x, y):
        if not t.is_floating_point() and data_range <= 1.0:
            raise ValueError(f"{t.dtype} images with data_range {data_range}: pass data_range=255 for 8-bit values, "
                             f"or floats in [0, 1] (bench.pixels.dequantize)")


def masked_psnr(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR over the masked pixels: 10*log10(data_range^2 / MSE); MSE 0 -> +inf; empty mask -> NaN."""
    _check_range(x, y, data_range)
    mse = masked_mse(x, y, mask)
    return 10.0 * torch.log10((data_range ** 2) / mse)  # x/0 = inf -> +inf; NaN stays NaN


def gaussian_kernel1d(sigma: float = 1.5, truncate: float = 3.5, dtype=torch.float64) -> torch.Tensor:
    """scipy.ndimage's Gaussian: radius int(truncate*sigma + 0.5), weights exp(-x^2 / 2 sigma^2), normalised."""
    r = int(truncate * sigma + 0.5)
    xs = torch.arange(-r, r + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (xs / sigma) ** 2)
    return (w / w.sum()).to(dtype)


def _reflect_index(n: int, pad: int, device) -> torch.Tensor:
    """Indices of scipy's 'reflect' (half-sample symmetric, d c b a | a b c d | d c b a) extension, any pad."""
    i = torch.arange(-pad, n + pad, device=device) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def _chunk_size(b: int, planes: int, h: int, w: int, device: torch.device) -> int:
    if device.type != "cpu":
        return b
    # keep a chunk's float64 working set cache-sized (~15 MB): 10x faster than one huge conv on CPU
    return max(1, min(b, int(2_000_000 // max(1, planes * h * w))))


def ssim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    sigma: float = 1.5,
    truncate: float = 3.5,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """scikit-image's Gaussian SSIM map per channel, float64, [B, C, H, W] (population covariance)."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"expected two [B, C, H, W] tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    _check_range(x, y, data_range)
    return _ssim_reduce(x, y, None, sigma, truncate, data_range, k1, k2, full=True)


def masked_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor,
    sigma: float = 1.5,
    truncate: float = 3.5,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Per-image mean of the channel-averaged SSIM map over the pixels where ``mask`` is True (NaN if none)."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"expected two [B, C, H, W] tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    _check_range(x, y, data_range)
    return _ssim_reduce(x, y, _as_mask(mask, x), sigma, truncate, data_range, k1, k2, full=False)


def _sep_filter_cpu(st: torch.Tensor, g: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Valid separable filtering of a padded [n, P, h+2r, w+2r] array by shifted multiply-adds (CPU: faster than
    float64 grouped convolution, which has no optimised kernel)."""
    taps = [float(v) for v in g]
    acc = st[..., 0:w] * taps[0]
    for k in range(1, len(taps)):
        acc.add_(st[..., k:k + w], alpha=taps[k])
    out = acc[..., 0:h, :] * taps[0]
    for k in range(1, len(taps)):
        out.add_(acc[..., k:k + h, :], alpha=taps[k])
    return out


#: the float64 elements one strip's stack of 5 C planes may hold (256 MB): a larger image is filtered in row strips
#: (with the kernel's halo), so a 6000 x 4000 photo no longer needs ~10 GB (a 12 to 48 MP phone photo got no SSIM on
#: a 16 GB machine); smaller images are one strip, as before
STRIP_ELEMENTS = 32_000_000


def _strip_rows(planes: int, h: int, w: int, r: int) -> int:
    """Output rows per strip: all ``h`` when the padded stack fits :data:`STRIP_ELEMENTS`, else as many as do (at
    least 8 times the halo, so the halo's extra work stays small)."""
    per_row = planes * (w + 2 * r)
    if per_row * (h + 2 * r) <= STRIP_ELEMENTS:
        return h
    return max(8 * 2 * r, STRIP_ELEMENTS // per_row - 2 * r, 1)


def _ssim_reduce(x, y, mask, sigma=1.5, truncate=3.5, data_range=1.0, k1=0.01, k2=0.03, full=False,
                 padding: str = "reflect"):
    b, c, h, w = x.shape
    dev = x.device
    dt = torch.float64 if dev.type != "mps" else torch.float32
    g = gaussian_kernel1d(sigma, truncate, dt).to(dev)
    r = (g.numel() - 1) // 2
    iw = _reflect_index(w, r, dev)
    ih = _reflect_index(h, r, dev)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    masks = mask if isinstance(mask, list) else ([mask] if mask is not None else [])
    outs: list[list[torch.Tensor]] = [[] for _ in masks]
    maps = []
    step = _chunk_size(b, 5 * c, h + 2 * r, w + 2 * r, dev)
    rows = _strip_rows(5 * c, h, w, r)
    for s in range(0, b, step):
        xb, yb = x[s:s + step].to(dt), y[s:s + step].to(dt)
        if padding == "zero":  # (LaMa's SSIM: conv2d's zero padding) padded once, sliced per strip
            xz, yz = F.pad(xb, (r, r, r, r)), F.pad(yb, (r, r, r, r))
        num = [torch.zeros(xb.shape[0], dtype=dt, device=dev) for _ in masks]
        cnt = [torch.zeros(xb.shape[0], dtype=dt, device=dev) for _ in masks]
        strips = []
        for t0 in range(0, h, rows):
            t1 = min(h, t0 + rows)
            # pad the images (reflect, as scipy; or zeros) before forming products: padding commutes with
            # pointwise products; a strip takes its output rows plus the kernel's halo of r rows each side
            if padding == "zero":
                xs, ys = xz[:, :, t0:t1 + 2 * r], yz[:, :, t0:t1 + 2 * r]
            else:
                sel = ih[t0:t1 + 2 * r]
                xs = xb.index_select(2, sel).index_select(3, iw)
                ys = yb.index_select(2, sel).index_select(3, iw)
            st = torch.cat([xs, ys, xs * xs, ys * ys, xs * ys], dim=1)  # [n, 5C, rows+2r, W+2r]
            if dev.type == "cpu":
                st = _sep_filter_cpu(st, g, t1 - t0, w)
            else:
                p = 5 * c
                st = F.conv2d(F.conv2d(st, g.view(1, 1, 1, -1).repeat(p, 1, 1, 1), groups=p),
                              g.view(1, 1, -1, 1).repeat(p, 1, 1, 1), groups=p)
            ux, uy, uxx, uyy, uxy = st.split(c, dim=1)
            del st
            uxuy = ux * uy
            nm = (2 * uxuy + c1) * (2 * (uxy - uxuy) + c2)
            ux2 = ux * ux
            uy2 = uy * uy
            den = (ux2 + uy2 + c1) * ((uxx - ux2) + (uyy - uy2) + c2)
            smap = nm / den
            if full:
                strips.append(smap)
                continue
            sm = smap.mean(dim=1)  # channel mean per pixel [n, rows, W]
            for k, m in enumerate(masks):
                mf = m[s:s + step, 0, t0:t1].to(dt)
                cnt[k] += mf.sum(dim=(1, 2))
                num[k] += (sm * mf).sum(dim=(1, 2))
        if full:
            maps.append(strips[0] if len(strips) == 1 else torch.cat(strips, dim=2))
            continue
        for k in range(len(masks)):
            val = num[k] / cnt[k]
            outs[k].append(torch.where(cnt[k] > 0, val, torch.full_like(val, float("nan"))))
    if full:
        return torch.cat(maps)
    res = [torch.cat(o) for o in outs]
    return res if isinstance(mask, list) else res[0]


def masked_ssim_many(x: torch.Tensor, y: torch.Tensor, masks: list[torch.Tensor], **kw: Any) -> list[torch.Tensor]:
    """One SSIM map, several masks: the per-image masked means for each mask (e.g. the hole and its complement)."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"expected two [B, C, H, W] tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    return _ssim_reduce(x, y, [_as_mask(m, x) for m in masks], **kw)


# --------------------------------------------------------------------------------------------------------------
# plug-ins


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def _gt_rows(batch: EvalBatch) -> torch.Tensor:
    return batch.has_gt.to(device=batch.output.device, dtype=torch.bool).reshape(-1)


class PSNR(Metric):
    """Masked PSNR: psnr_in (output vs ground truth in the hole), psnr_out (raw output vs input outside it),
    psnr_full (the composite vs ground truth, whole frame)."""

    version = 2  # 2: psnr_full
    columns = {
        "psnr_in": Column(True, ".2f", True, "PSNR (dB) over the hole's pixels vs ground truth"),
        "psnr_out": Column(True, ".2f", True, "PSNR (dB) outside the hole, raw output vs input; inf = untouched"),
        "psnr_full": Column(True, ".2f", True, "PSNR (dB) of the composite (output in the hole, input outside) vs "
                                               "ground truth, whole frame"),
    }

    def __init__(self, data_range: float = 1.0, regions: list[str] | None = None):
        if data_range <= 0:
            raise ValueError(f"data_range must be > 0, got {data_range}")
        self.data_range = float(data_range)
        self.regions = check_regions(regions)

    def needs_ground_truth(self) -> bool:
        return "in" in self.regions or "full" in self.regions

    def record_keys(self) -> list[str]:
        return [f"psnr_{r}" for r in self.regions]

    def compute(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        hole = batch.mask.to(torch.bool)
        pin = masked_psnr(batch.output, batch.gt, hole, self.data_range)
        pin = torch.where(_gt_rows(batch).to(pin.device), pin, torch.full_like(pin, float("nan")))
        pout = masked_psnr(batch.raw, batch.input, ~hole, self.data_range)
        res = {"psnr_in": _np(pin), "psnr_out": _np(pout)}
        if "full" in self.regions:
            pfull = masked_psnr(batch.composite, batch.gt, torch.ones_like(hole), self.data_range)
            pfull = torch.where(_gt_rows(batch).to(pfull.device), pfull, torch.full_like(pfull, float("nan")))
            res["psnr_full"] = _np(pfull)
        return {k: v for k, v in res.items() if k.rsplit("_", 1)[1] in self.regions}

    def provenance(self) -> dict[str, Any]:
        return {"psnr": {"data_range": self.data_range, "mse": "per image, masked pixels x channels, float64",
                         "zero_mse": "inf", "full": "composite vs ground truth, every pixel"}}


FULL_SSIM = ("skimage", "lama", "both", "none")


def full_ssim_zero_padded(x: torch.Tensor, y: torch.Tensor, sigma: float = 1.5, data_range: float = 1.0,
                          k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Whole-frame SSIM as LaMa's evaluator computes it: the Gaussian window applied by a convolution that pads with
    zeros, the map averaged over every pixel and channel (no border dropped). Per image, float64."""
    m = _ssim_reduce(x, y, None, sigma, 3.5, data_range, k1, k2, full=True, padding="zero")
    return m.mean(dim=(1, 2, 3))


class SSIM(Metric):
    """Masked SSIM (Gaussian 11-tap, sigma 1.5, as scikit-image): ssim_in vs ground truth, ssim_out vs input;
    ssim_full on the composite vs ground truth (scikit-image's scalar SSIM, and/or LaMa's zero-padded one)."""

    version = 2  # 2: ssim_full, ssim_full_lama
    columns = {
        "ssim_in": Column(True, ".4f", True, "SSIM map averaged over the hole's pixels vs ground truth"),
        "ssim_out": Column(True, ".4f", True, "SSIM map averaged outside the hole, raw output vs input"),
        "ssim_full": Column(True, ".4f", True, "whole-frame SSIM of the composite vs ground truth, as scikit-image's "
                                               "structural_similarity (reflect padding, 5-px border dropped)"),
        "ssim_full_lama": Column(True, ".4f", True, "whole-frame SSIM of the composite vs ground truth, as LaMa's "
                                                    "evaluator (zero padding, every pixel averaged)"),
    }

    def __init__(self, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03, data_range: float = 1.0,
                 full: str = "skimage", regions: list[str] | None = None):
        if sigma <= 0 or data_range <= 0:
            raise ValueError(f"sigma and data_range must be > 0, got sigma={sigma}, data_range={data_range}")
        if full not in FULL_SSIM:
            raise ValueError(f"full must be one of {', '.join(FULL_SSIM)}, got {full!r}")
        self.sigma, self.k1, self.k2, self.data_range = float(sigma), float(k1), float(k2), float(data_range)
        self.regions = check_regions(regions)
        self.full = full if "full" in self.regions else "none"

    def record_keys(self) -> list[str]:
        return ([f"ssim_{r}" for r in self.regions if r != "full"] + (["ssim_full"] if self.full in ("skimage", "both")
                else []) + (["ssim_full_lama"] if self.full in ("lama", "both") else []))

    def needs_ground_truth(self) -> bool:
        return "in" in self.regions or self.full != "none"

    @property
    def border(self) -> int:
        """Pixels scikit-image's scalar SSIM drops at each border: (win_size - 1) // 2."""
        return int(3.5 * self.sigma + 0.5)

    def _interior(self, hole: torch.Tensor) -> torch.Tensor:
        m = torch.zeros_like(hole)
        r = self.border
        m[..., r:m.shape[-2] - r, r:m.shape[-1] - r] = True
        return m

    def compute(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        kw = dict(sigma=self.sigma, data_range=self.data_range, k1=self.k1, k2=self.k2)
        hole = batch.mask.to(torch.bool)
        gt_rows = _gt_rows(batch).to(hole.device)
        b = batch.size
        nan = torch.full((b,), float("nan"), dtype=torch.float64, device=hole.device)
        sin, sout, sfull = nan.clone(), nan.clone(), nan.clone()
        want_full = self.full in ("skimage", "both")
        interior = self._interior(hole) if want_full else None
        comp = batch.composite
        # one map serves every key where (output, gt) == (raw, input) == (composite, gt): reconstruction without
        # paste-back by a backend that leaves the outside untouched; rows without ground truth need only "out"
        same = [bool(gt_rows[i]) and torch.equal(batch.output[i], batch.raw[i]) and torch.equal(batch.gt[i],
                                                                                                  batch.input[i])
                for i in range(b)]
        shared = [i for i in range(b) if same[i]]
        full_done = [i for i in shared if torch.equal(batch.raw[i], comp[i])] if want_full else []
        if shared:
            masks = [hole[shared], ~hole[shared]] + ([interior[shared]] if want_full else [])
            got = masked_ssim_many(batch.raw[shared], batch.input[shared], masks, **kw)
            sin[shared], sout[shared] = got[0].to(sin.device), got[1].to(sout.device)
            if full_done:
                pos = [shared.index(i) for i in full_done]
                sfull[full_done] = got[2][pos].to(sfull.device)
        rest = [i for i in range(b) if not same[i]]
        if rest:
            sout[rest] = masked_ssim(batch.raw[rest], batch.input[rest], ~hole[rest], **kw).to(sout.device)
            with_gt = [i for i in rest if bool(gt_rows[i])]
            if with_gt:
                sin[with_gt] = masked_ssim(batch.output[with_gt], batch.gt[with_gt], hole[with_gt], **kw).to(
                    sin.device)
        res = {"ssim_in": _np(sin), "ssim_out": _np(sout)}
        if want_full:
            todo = [i for i in range(b) if bool(gt_rows[i]) and i not in full_done]
            if todo:
                sfull[todo] = masked_ssim(comp[todo], batch.gt[todo], interior[todo], **kw).to(sfull.device)
            res["ssim_full"] = _np(sfull)
        if self.full in ("lama", "both"):
            lama = nan.clone()
            rows = [i for i in range(b) if bool(gt_rows[i])]
            if rows:
                lama[rows] = full_ssim_zero_padded(comp[rows], batch.gt[rows], **kw).to(lama.device)
            res["ssim_full_lama"] = _np(lama)
        return {k: v for k, v in res.items() if not (k in ("ssim_in", "ssim_out") and k[5:] not in self.regions)}

    def provenance(self) -> dict[str, Any]:
        full = {"skimage": "ssim_full: scikit-image structural_similarity(gaussian_weights=True, sigma=1.5, "
                           "use_sample_covariance=False, data_range=1): reflect padding, the 5-px border dropped",
                "lama": "ssim_full_lama: LaMa's evaluator: zero-padded Gaussian convolution, every pixel averaged"}
        return {"ssim": {"window": "gaussian", "sigma": self.sigma, "truncate": 3.5,
                         "win_size": 2 * int(3.5 * self.sigma + 0.5) + 1, "k1": self.k1, "k2": self.k2,
                         "data_range": self.data_range, "covariance": "population",
                         "border": "reflect (scipy), border pixels kept", "reduction": "channel mean, masked mean",
                         "full": {k: v for k, v in full.items() if self.full in (k, "both")},
                         "full_image": "composite (output in the hole, input outside) vs ground truth"}}
