"""Simple mask strategies: the dataset's own mask (``given``), rectangles (``box``) and ``dilate``."""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import DataError
from ..types import Sample
from .base import MaskStrategy, image_size


class GivenMask(MaskStrategy):
    """The dataset's own mask (object removal; ground truth is the dataset's clean image when it has one)."""

    uses_dataset_mask = True

    def __init__(self) -> None:
        pass

    def generate(self, sample: Sample, rng: np.random.Generator) -> np.ndarray:
        if sample.mask is None:
            raise DataError(f"sample '{sample.id}' has no mask of its own: the 'given' mask strategy needs a dataset "
                            "that provides masks (e.g. 'folder' with a masks/ directory, or 'synthetic')")
        m = sample.mask
        m = m.detach().cpu().numpy() if hasattr(m, "detach") else np.asarray(m)
        if m.ndim == 3 and m.shape[0] == 1:
            m = m[0]
        h, w = image_size(sample)
        if m.shape != (h, w):
            raise DataError(f"sample '{sample.id}': its mask is {'x'.join(map(str, m.shape))}, "
                            f"its image is {h}x{w}")
        return m.astype(bool)


class BoxMask(MaskStrategy):
    """Axis-aligned rectangles; each side a uniform fraction of the image side in [min_size, max_size]."""

    def __init__(self, min_size: float = 0.25, max_size: float = 0.5, count: int = 1, center: bool = False) -> None:
        if not 0.0 < float(min_size) <= 1.0:
            raise ValueError(f"min_size must be in (0, 1] (a fraction of the image side), got {min_size}")
        if not 0.0 < float(max_size) <= 1.0:
            raise ValueError(f"max_size must be in (0, 1] (a fraction of the image side), got {max_size}")
        if min_size > max_size:
            raise ValueError(f"min_size ({min_size}) must be <= max_size ({max_size})")
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self.min_size = float(min_size)
        self.max_size = float(max_size)
        self.count = int(count)
        self.center = bool(center)

    def generate(self, sample: Sample, rng: np.random.Generator) -> np.ndarray:
        h, w = image_size(sample)
        mask = np.zeros((h, w), dtype=bool)
        for _ in range(self.count):
            bh = min(h, max(1, int(round(rng.uniform(self.min_size, self.max_size) * h))))
            bw = min(w, max(1, int(round(rng.uniform(self.min_size, self.max_size) * w))))
            if self.center:
                y, x = (h - bh) // 2, (w - bw) // 2
            else:
                y = int(rng.integers(0, h - bh + 1))
                x = int(rng.integers(0, w - bw + 1))
            mask[y:y + bh, x:x + bw] = True
        return mask


def dilate_mask(mask: np.ndarray, k: int) -> np.ndarray:
    """Grow a hole by ``k`` pixels: a pixel joins the hole when its Euclidean distance to the hole is <= k."""
    mask = np.asarray(mask, dtype=bool)
    if k <= 0 or not mask.any():
        return mask.copy()
    if mask.all():
        return mask.copy()
    dist = ndimage.distance_transform_edt(~mask)
    return dist <= k


class DilateMask(MaskStrategy):
    """Grows another strategy's mask by k pixels (Euclidean disk), e.g. object masks that miss edges/shadows."""

    #: ``base`` is a mask strategy's spec: its params at their default are left out of every key, as at top level
    nested_specs = {"base": "masks"}

    def __init__(self, base: dict | str, k: int = 5) -> None:
        from ..registry import MASKS

        if k < 0:
            raise ValueError(f"k must be >= 0 pixels, got {k}")
        inner = MASKS.create({"type": base} if isinstance(base, str) else dict(base), "base")  # ConfigError paths are prefixed by the registry: masks[i].base.x
        self.inner: MaskStrategy = inner
        self.k = int(k)
        self.uses_dataset_mask = inner.uses_dataset_mask

    @property
    def base(self) -> dict[str, Any]:  # the canonical spec of the inner strategy, defaults filled in
        return self.inner.spec()

    def make(self, sample: Sample, seed: int, dataset: str = "") -> np.ndarray:
        # dilate(X) grows exactly the mask X gives this sample in the same suite (same seed derivation)
        return self._check(dilate_mask(self.inner.make(sample, seed, dataset), self.k), sample)

    def generate(self, sample: Sample, rng: np.random.Generator) -> np.ndarray:
        return dilate_mask(self.inner.generate(sample, rng), self.k)
