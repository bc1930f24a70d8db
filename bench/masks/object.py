"""``object``: object-shaped holes, from the outlines of real objects in a COCO-format annotation file.

Boxes and strokes are not the shape of what people erase. This strategy cuts holes shaped like objects into any
dataset, so a reconstruction set (the photo is the ground truth) is scored on object-shaped holes::

    masks:
      - type: object
        annotations: data/coco/annotations/instances_val2017.json
        categories: null          # names or ids; default: every category
        min_area: 0.05            # the instances drawn from: area (the annotation's `area`) over their image's area
        max_area: 0.3
        flip: true                # mirror the outline left-right half of the time

For each sample, from its seed (as every strategy): draw one instance of the pool (non-crowd instances of the
categories whose area fraction is in [min_area, max_area]), decode its outline (pycocotools, as ``COCO.annToMask``),
crop it to its bounding box, scale it (bilinear, then half the range) by ``sqrt(H W / (h w))`` so it covers the
same share of this image as of its own, but never beyond this image's sides (a wide object in a tall image is
shrunk until it fits), optionally mirror it, and place it at a uniformly random position where it lies wholly inside
the image. The hole's share of the image is therefore the instance's own (up to rescaling), so ``min_area`` and
``max_area`` choose the hole sizes and LaMa's area bins apply as usual.

Only the outline file is needed, not the COCO photographs. The pool is read when the suite is built (a missing or
malformed file, an unknown category or an empty pool is a configuration error naming the key); the file's SHA-256
and the pool size are in the provenance.
"""
from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from ..coco_format import check_area_range, decode, read_instances, require_pycocotools
from ..errors import ConfigError
from ..types import Sample
from ..fsio import file_sha256
from .base import MaskStrategy, image_size


def place_outline(outline: np.ndarray, source_hw: tuple[int, int], size: tuple[int, int], rng: np.random.Generator,
                  flip: bool = False) -> np.ndarray:
    """Scale a bool outline cropped to its bounding box from a ``source_hw`` image so it covers the same share of a
    ``size`` image (never beyond its sides), optionally mirror it, and place it at a random position inside."""
    (h0, w0), (h, w) = source_hw, size
    bh, bw = outline.shape
    s = min(math.sqrt(h * w / (h0 * w0)), h / bh, w / bw)
    nh, nw = max(1, min(h, int(round(bh * s)))), max(1, min(w, int(round(bw * s))))
    if (nh, nw) == (bh, bw):
        shape = outline
    else:
        shape = cv2.resize(outline.astype(np.uint8) * 255, (nw, nh), interpolation=cv2.INTER_LINEAR) >= 128
        if not shape.any():  # a sliver thinner than a pixel after scaling: keep it visible
            shape = cv2.resize(outline.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST) > 0
    if flip:
        shape = shape[:, ::-1]
    y, x = int(rng.integers(0, h - nh + 1)), int(rng.integers(0, w - nw + 1))
    mask = np.zeros((h, w), dtype=bool)
    mask[y:y + nh, x:x + nw] = shape
    return mask


class ObjectMask(MaskStrategy):
    """Object-shaped holes: real objects' outlines from a COCO-format file, at their own share of the image."""

    def __init__(self, annotations: str, categories: list | None = None, min_area: float = 0.05,
                 max_area: float = 0.3, flip: bool = True) -> None:
        self.mask_utils = require_pycocotools("object masks")
        check_area_range(min_area, max_area)
        self.annotations = str(annotations)
        self.categories = categories
        self.min_area, self.max_area, self.flip = float(min_area), float(max_area), bool(flip)
        data = read_instances(annotations)
        cats = data.resolve_categories(categories)
        pool = []
        for a in sorted(data.select(cats, self.min_area, self.max_area), key=lambda a: int(a["id"])):
            im = data.images[int(a["image_id"])]
            pool.append((a, im["height"], im["width"]))
        if not pool:
            which = " of those categories" if cats else ""
            raise ConfigError("annotations", f"{data.path}: no non-crowd instance{which} covers between "
                                             f"{self.min_area:g} and {self.max_area:g} of its image")
        self._pool = pool
        self._path = data.path

    def generate(self, sample: Sample, rng: np.random.Generator) -> np.ndarray:
        ann, h0, w0 = self._pool[int(rng.integers(len(self._pool)))]
        full = decode(self.mask_utils, ann, h0, w0, str(self._path))
        ys, xs = np.nonzero(full)
        if not len(ys):
            return np.zeros(image_size(sample), dtype=bool)  # an empty outline: the runner's no-hole error row
        outline = full[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        flip = self.flip and bool(rng.random() < 0.5)
        return place_outline(outline, (h0, w0), image_size(sample), rng, flip=flip)

    def provenance(self) -> dict[str, Any]:
        return {**self.spec(), "annotations_sha256": file_sha256(self._path), "pool": len(self._pool)}
