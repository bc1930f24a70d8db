"""``remove``: ReMOVE's reference-free object-removal score (Chandrasekar et al., CVPR-W 2024).

The original: github.com/chandrasekaraditya/ReMOVE at b29742650671091370eefea9209d3ff886f9ed2c, ``main.py``
(``get_score``), ``crop.py`` (``find_smallest_bounding_square``) and ``segment_anything/predictor.py``
(``get_aggregate_features``). Per image, on the final output (8-bit, as the original reads it from a file):

1. the image goes through SAM's predictor preprocessing: PIL bilinear resize so the long side is the encoder's
   input side (1024 for ViT-H; ``int(side * scale + 0.5)``), ``(x - [123.675, 116.28, 103.53]) / [58.395, 57.12,
   57.375]`` on 0..255 values, zero padding at the bottom and right to a square; SAM's image encoder gives a
   [256, 64, 64] embedding;
2. the mask (an 8-bit image, 255 = hole) is resized with PIL's default for 8-bit images (bicubic) to 64 x 64 **over
   the whole image** and integer-divided by 255: the hole cells are those that stay exactly 255, the context is all
   the others. (For a non-square image the 64 x 64 mask is stretched over the image while the embedding grid covers
   the padded square: the original does this, so we do too);
3. the mean embedding over hole cells and over context cells; ``remove`` = their cosine similarity (higher = the
   fill looks like its context: a better removal).

``crop: true`` is the original's ``--crop``: first cut the smallest bounding square around the hole, grown by 16 px
on each side when that fits, else by the smallest distance to the border (numpy slicing: a square that runs past
the image is cut short), then the same on the crop. The key is then ``remove_crop``.

Differs from the original: a sample without a hole cell on the 64 x 64 grid (or without context) gets NaN where
the original prints NaN (or, with ``--crop`` and an empty mask, crashes), and so does one too elongated for SAM's
resize (:func:`sam_resized_hw`, where the original crashes) or with a NaN or infinite value (:func:`finite_rows`);
SAM is transformers' port
(``facebook/sam-vit-huge``), not the ``segment_anything`` module (same weights; the encoder is the same network).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..types import EvalBatch, RunContext
from . import removal_nets as N
from .base import Column, Metric
from ..pixels import quantize

SAM_MEAN = (123.675, 116.28, 103.53)
SAM_STD = (58.395, 57.12, 57.375)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[B, 3, H, W] in [0, 1] -> uint8 [B, H, W, 3] (what an 8-bit PNG of it holds)."""
    return quantize(x).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def finite_rows(x: torch.Tensor) -> np.ndarray:
    """[B] bool: the samples of ``x`` ([B, 3, H, W]) whose every value is finite. The three removal metrics give the
    others NaN: :func:`to_uint8` would quietly turn a NaN into a grey level and score that picture instead. (In a
    ``bench run`` such an output is an error row before scoring; this is for batches built in Python.)"""
    return torch.isfinite(x).flatten(1).all(1).cpu().numpy()


def sam_resized_hw(h: int, w: int, side: int) -> tuple[int, int]:
    """The (height, width) SAM's preprocessing resizes an image to (long side ``side``, ``int(x * scale + 0.5)``):
    ``segment_anything``'s ``ResizeLongestSide`` and transformers' ``SamImageProcessor`` alike. One of them is 0 for
    an image whose long side is more than ``2 * side`` times its short side (2048 : 1 at SAM ViT-H's 1024), which no
    network can read: ``remove`` and ``cfd`` give such an image NaN (the originals crash)."""
    scale = side / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def mask_u8(mask: torch.Tensor) -> np.ndarray:
    """[B, 1, H, W] bool -> uint8 [B, H, W], 255 = hole (a mask file as the originals read it)."""
    return (mask[:, 0].to(torch.bool).cpu().numpy().astype(np.uint8) * 255)


def bounding_square(mask: np.ndarray) -> tuple[int, int, int] | None:
    """ReMOVE's crop (``crop.py``): (x, y, side) of the smallest square at the hole's top-left corner that holds its
    bounding box, grown by 16 px on each side where the box is 16 px from every border, else by the smallest
    distance to a border (never negative). ``None``: no hole pixel (255)."""
    rows, cols = np.nonzero(mask == 255)
    if rows.size == 0:
        return None
    r0, r1, c0, c1 = int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())
    h, w = mask.shape
    side = max(c1 - c0 + 1, r1 - r0 + 1)
    if c0 >= 16 and r0 >= 16 and r1 + 16 <= h and c1 + 16 <= w:
        grow = 16
    else:
        grow = max(min(c0, r0, h - r1, w - c1), 0)
    return c0 - grow, r0 - grow, side + 2 * grow


def sam_pixels(image: np.ndarray, side: int) -> torch.Tensor:
    """SAM predictor preprocessing of a uint8 HWC image: [3, side, side] float32 (see the module doc, step 1)."""
    from PIL import Image

    nh, nw = sam_resized_hw(*image.shape[:2], side)
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.BILINEAR))
    x = torch.from_numpy(resized.copy()).permute(2, 0, 1)
    x = (x - torch.tensor(SAM_MEAN).view(3, 1, 1)) / torch.tensor(SAM_STD).view(3, 1, 1)
    return F.pad(x, (0, side - nw, 0, side - nh))


def hole_cells(mask: np.ndarray, grid: int) -> np.ndarray:
    """The mask (uint8, 255 = hole) on the ``grid`` x ``grid`` embedding grid: PIL's default resize of an 8-bit
    image (bicubic), then ``// 255`` (module doc, step 2). Bool [grid, grid]."""
    from PIL import Image

    return (np.asarray(Image.fromarray(mask).resize((grid, grid), Image.BICUBIC)) // 255).astype(bool)


class ReMOVE(N.NetMetric, Metric):
    """ReMOVE (CVPR-W 2024): cosine similarity of SAM ViT-H embeddings in the hole vs outside; higher = better."""

    columns = {
        "remove": Column(True, ".4f", True, "ReMOVE: cosine similarity of mean SAM ViT-H embeddings inside vs "
                                            "outside the hole (whole output; higher = better removal)"),
        "remove_crop": Column(True, ".4f", True, "ReMOVE --crop: the same on the smallest bounding square around "
                                                 "the hole (higher = better removal)"),
    }
    NETS = ("sam",)
    NAME = "remove"

    def __init__(self, crop: bool = False, batch_size: int = 4, config: dict | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.crop = bool(crop)
        self.key = "remove_crop" if self.crop else "remove"
        self.columns = {self.key: type(self).columns[self.key]}  # what this entry writes (the class lists both)
        self.batch_size = int(batch_size)
        self._init_nets(config)
        self.sam = None
        self.prov: dict[str, Any] = {}

    def setup(self, ctx: RunContext) -> None:
        self.device = ctx.device
        if self.sam is None:
            self.sam, self.prov = self._load("sam", ctx)

    def use_model(self, sam, prov: dict[str, Any] | None = None) -> None:
        """Use a given transformers ``SamModel`` (tests: tiny random models)."""
        self.sam = sam.eval()
        self.device = next(sam.parameters()).device
        self.prov = prov or {"given": True}

    # -- per image -------------------------------------------------------------------------------------
    def prepare(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, np.ndarray] | None:
        """(encoder input, hole cells) of one uint8 image and its uint8 mask; None (the sample's NaN) when ``crop``
        finds no hole or the image (or crop) is too elongated for SAM's resize (:func:`sam_resized_hw`)."""
        vc = self.sam.config.vision_config  # type: ignore[union-attr]
        side, grid = int(vc.image_size), int(vc.image_size) // int(vc.patch_size)
        if self.crop:
            box = bounding_square(mask)
            if box is None:
                return None
            x, y, s = box
            image, mask = image[y:y + s, x:x + s], mask[y:y + s, x:x + s]
        if min(sam_resized_hw(*image.shape[:2], side)) < 1:
            return None
        return sam_pixels(image, side), hole_cells(mask, grid)

    @staticmethod
    def score(emb: torch.Tensor, cells: np.ndarray) -> float:
        """Cosine similarity of the mean embedding over hole cells and over the others; ``emb`` [C, g, g]."""
        sel = torch.from_numpy(cells).to(emb.device)
        if not bool(sel.any()) or bool(sel.all()):
            return float("nan")
        inside = emb[:, sel].mean(1)
        outside = emb[:, ~sel].mean(1)
        return float(F.cosine_similarity(inside[None], outside[None]).item())

    def compute(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        if self.sam is None:
            raise RuntimeError("metric 'remove': setup() was not called")
        images, masks, ok = to_uint8(batch.output), mask_u8(batch.mask), finite_rows(batch.output)
        out = np.full(batch.size, np.nan)
        prepared = [(i, p) for i in range(batch.size)
                    if ok[i] and (p := self.prepare(images[i], masks[i])) is not None]
        with torch.inference_mode():
            for s in range(0, len(prepared), self.batch_size):
                part = prepared[s:s + self.batch_size]
                px = torch.stack([p[0] for _, p in part]).to(self.device)
                emb = self.sam.get_image_embeddings(px)  # type: ignore[union-attr]
                for j, (i, p) in enumerate(part):
                    out[i] = self.score(emb[j].float(), p[1])
        return {self.key: out}

    def provenance(self) -> dict[str, Any]:
        p: dict[str, Any] = {"sam": dict(self.prov), "crop": self.crop, "image": "output",
                             "original": "chandrasekaraditya/ReMOVE@b29742650671091370eefea9209d3ff886f9ed2c"}
        p.update(N.noncomparable("remove", {"sam": self.prov}))
        return p
