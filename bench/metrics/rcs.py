"""``rcs``: PROVE's RC-S (Removal Coherence, Spatial): kernel MMD between DINOv2 patch features in and around the hole.

The original: github.com/xiaomi-research/prove at 7ca299a7a5e12f0fb8285fb58ae744f691607b35, ``utils/metrics.py``
(``calculate_rc_s_score``), ``utils/bbox.py`` (``find_bounding_square_1_3``) and ``utils/predictors.py``
(``DinoPredictor.set_image``, ``get_convolutional_metrics``, ``compute_rbf_mmd``), weights ``facebook/dinov2-giant``.
Per image, on the final output:

1. the hole's 4-connected components (mask > 127); those under 200 px are dropped (all kept when every one is);
2. per component, a square around it: its bounding box's long side centred on the box, grown by a third on each
   side as far as the borders allow, at most the image's short side, shifted inside the image; the image and the
   **whole** mask (all components) are cut to it;
3. the crop is resized (cv2 bilinear) so its long side is 448 (``int(side * scale)``), padded at the bottom and
   right to a multiple of 14 with RGB (123, 116, 103), rescaled by 1/255 and normalised with ImageNet's mean/std;
   DINOv2's last hidden state without the CLS token gives a grid of patch features; the mask is resized (cv2
   nearest) the same way, padded with 0 and max-pooled to that grid;
4. windows of ``int(16 * g / 64)`` patches with stride ``int(8 * g / 64)`` (g = the grid's long side: 8 and 4 at
   448 px) slide over the grid; a window with more than 5 hole and more than 5 context patches scores the MMD of its
   hole patches against its context patches, a window of more than 5 hole patches and no context scores them
   against every context patch of the crop; MMD: features L2-normalised, Gaussian kernel exp(-d^2 / (2 * 10^2)),
   biased estimate K_XX + K_YY - 2 K_XY (means over all pairs, diagonals included), times 1000;
5. ``rcs`` = exp(-max(0, mean window MMD) / 3) (τ = 3, higher = the fill is coherent with its surroundings), averaged
   over the components; ``rcs_mmd`` the mean window MMD likewise (lower = better).

A component without a scoring window makes the sample NaN (the original's ``nan``, which its averaging skips), as
does an image without a hole, or one with a NaN or infinite value (which the original's 8-bit file cannot hold).
Differs from the original: nothing known; the DINOv2 is transformers' (as PROVE's).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..types import EvalBatch, RunContext
from . import removal_nets as N
from .base import Column, Metric
from .remove import finite_rows, mask_u8, to_uint8

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TARGET = 448  # DinoPredictor's target_size
KERNEL, STRIDE, TAU, SIGMA = 16, 8, 3.0, 10.0  # calculate_rc_s_score's call; compute_rbf_mmd's sigma_list
MIN_AREA = 200
PAD_RGB = (123, 116, 103)


def square_third(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """PROVE's ``find_bounding_square_1_3`` (step 2 of the module doc): (x1, y1, x2, y2) or None for an empty mask."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    left, upper, right, lower = int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1
    size = max(right - left, lower - upper)
    x0 = int(round((left + right) / 2.0 - size / 2))
    y0 = int(round((upper + lower) / 2.0 - size / 2))
    h, w = mask.shape
    grow = max(min(int(round(size / 3)), x0, y0, w - (x0 + size), h - (y0 + size), size // 2), 0)
    x0, y0, side = x0 - grow, y0 - grow, min(size + 2 * grow, min(w, h))
    x0 = max(0, min(max(0, x0), w - side))
    y0 = max(0, min(max(0, y0), h - side))
    return x0, y0, x0 + side, y0 + side


def rbf_mmd(x: torch.Tensor, y: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """Biased Gaussian-kernel MMD^2 of L2-normalised rows, times 1000 (PROVE's ``compute_rbf_mmd``)."""
    x, y = F.normalize(x, p=2, dim=1), F.normalize(y, p=2, dim=1)
    gamma = 1.0 / (2.0 * sigma ** 2)
    k = [torch.exp(-gamma * torch.cdist(a, b).pow(2)).mean() for a, b in ((x, x), (y, y), (x, y))]
    return (k[0] + k[1] - 2 * k[2]) * 1000


class RCS(N.NetMetric, Metric):
    """PROVE's RC-S: exp(-MMD/3) of DINOv2-giant patch features in vs around the hole; higher = better."""

    columns = {
        "rcs": Column(True, ".4f", True, "PROVE RC-S: exp(-MMD/3), Gaussian-kernel MMD of DINOv2 patch features "
                                         "inside vs around the hole in sliding windows (higher = better removal)"),
        "rcs_mmd": Column(False, ".3f", True, "the mean window MMD (x1000) behind rcs (lower = better)"),
    }
    NETS = ("dinov2",)
    NAME = "rcs"

    def __init__(self, config: dict | None = None):
        self._init_nets(config)
        self.dino = None
        self.prov: dict[str, Any] = {}

    def setup(self, ctx: RunContext) -> None:
        self.device = ctx.device
        if self.dino is None:
            self.dino, self.prov = self._load("dinov2", ctx)

    def use_model(self, dino, prov: dict[str, Any] | None = None) -> None:
        """Use a given transformers ``Dinov2Model`` (tests: tiny random models)."""
        self.dino = dino.eval()
        self.device = next(dino.parameters()).device
        self.prov = prov or {"given": True}

    # -- one crop --------------------------------------------------------------------------------------
    def grid_features(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [C, gh, gw], hole [1, 1, gh, gw] 0/255 max-pooled) of a uint8 crop and its uint8 mask."""
        import cv2

        p = int(self.dino.config.patch_size)  # type: ignore[union-attr]
        h, w = image.shape[:2]
        scale = TARGET / max(h, w)
        nh, nw = int(h * scale), int(w * scale)
        ph, pw = (p - nh % p) % p, (p - nw % p) % p
        im = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        im = cv2.copyMakeBorder(im, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=PAD_RGB)
        # rescaled in float64, then float32, as transformers' image processors do (BaseImageProcessor.rescale)
        x = torch.from_numpy((im.astype(np.float64) * (1 / 255)).astype(np.float32)).permute(2, 0, 1)[None]
        x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        gh, gw = (nh + ph) // p, (nw + pw) // p
        with torch.inference_mode():
            hs = self.dino(pixel_values=x.to(self.device)).last_hidden_state  # type: ignore[misc]
        feats = hs[0, hs.shape[1] - gh * gw:, :].T.reshape(-1, gh, gw)  # patch tokens (after CLS)
        m = cv2.resize(mask.astype(np.float32), (nw, nh), interpolation=cv2.INTER_NEAREST)
        m = cv2.copyMakeBorder(m, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0)
        small = F.adaptive_max_pool2d(torch.from_numpy(m)[None, None].to(self.device), (gh, gw))
        return feats, small

    def crop_score(self, image: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
        """(exp(-MMD/τ), mean window MMD) of one crop (module doc, steps 3-5); NaNs without a scoring window."""
        feats, small = self.grid_features(image, mask)
        c, gh, gw = feats.shape
        f = max(gh, gw) / 64.0
        k, s = max(1, int(KERNEL * f)), max(1, int(STRIDE * f))
        context = feats.reshape(c, -1).T[small.reshape(-1) == 0]
        fw = F.unfold(feats[None], kernel_size=k, stride=s)[0].reshape(c, k * k, -1)  # [C, k*k, windows]
        mw = F.unfold(small, kernel_size=k, stride=s)[0]  # [k*k, windows]
        scores = []
        with torch.inference_mode():
            for i in range(mw.shape[1]):
                hole = mw[:, i] > 0
                n_in, n_out = int(hole.sum()), int((~hole).sum())
                if n_in > 5 and n_out > 5:
                    scores.append(rbf_mmd(fw[:, hole, i].T, fw[:, ~hole, i].T))
                elif n_in > 5 and n_out == 0 and context.shape[0] > 0:
                    scores.append(rbf_mmd(fw[:, hole, i].T, context))
        if not scores:
            return math.nan, math.nan
        mmd = max(0.0, float(sum(scores) / len(scores)))
        return math.exp(-mmd / max(1e-12, TAU)), mmd

    def score(self, image: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
        """(rcs, rcs_mmd) of one uint8 image and its uint8 mask (255 = hole): the mean over the hole's components."""
        from skimage.measure import label, regionprops

        lab = label(mask > 127, connectivity=1)
        regions = regionprops(lab)
        if not regions:
            return math.nan, math.nan
        least = min(MIN_AREA, max(r.area for r in regions))
        got = []
        for r in regions:
            if r.area < least:
                continue
            box = square_third(lab == r.label)
            if box is None:
                continue
            x1, y1, x2, y2 = box
            got.append(self.crop_score(image[y1:y2, x1:x2], mask[y1:y2, x1:x2]))
        if not got:
            return math.nan, math.nan
        return float(np.mean([g[0] for g in got])), float(np.mean([g[1] for g in got]))

    def compute(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        if self.dino is None:
            raise RuntimeError("metric 'rcs': setup() was not called")
        images, masks, ok = to_uint8(batch.output), mask_u8(batch.mask), finite_rows(batch.output)
        out = np.full((2, batch.size), np.nan)
        for i in np.flatnonzero(ok):  # a NaN or infinite pixel: NaN (finite_rows)
            out[:, i] = self.score(images[i], masks[i])
        return {"rcs": out[0], "rcs_mmd": out[1]}

    def provenance(self) -> dict[str, Any]:
        p: dict[str, Any] = {"dinov2": dict(self.prov), "image": "output", "target_size": TARGET,
                             "kernel": KERNEL, "stride": STRIDE, "tau": TAU, "sigma": SIGMA, "min_area": MIN_AREA,
                             "original": "xiaomi-research/prove@7ca299a7a5e12f0fb8285fb58ae744f691607b35"}
        p.update(N.noncomparable("rcs", {"dinov2": self.prov}))
        return p
