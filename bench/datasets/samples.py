"""The RGB photographs that ship inside scikit-image: a tiny, offline, real-photo dataset."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError, suggest
from ..io import fit_square
from ..types import Sample
from .base import Dataset

#: Sample id -> how to get it from ``skimage.data`` (function name, index into a returned tuple or None).
PHOTOS: dict[str, tuple[str, int | None]] = {
    "astronaut": ("astronaut", None),
    "coffee": ("coffee", None),
    "chelsea": ("chelsea", None),
    "rocket": ("rocket", None),
    "hubble_deep_field": ("hubble_deep_field", None),
    "immunohistochemistry": ("immunohistochemistry", None),
    "retina": ("retina", None),
    "stereo_motorcycle": ("stereo_motorcycle", 0),  # the left view of the stereo pair
}

DEFAULT_RESOLUTION = 256


@functools.lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """One scikit-image photograph as a read-only uint8 ``[H, W, 3]`` array (cached)."""
    if name not in PHOTOS:
        raise KeyError(name)
    from skimage import data

    fn, index = PHOTOS[name]
    try:
        a = getattr(data, fn)()
    except Exception as e:  # a broken scikit-image install / missing data file
        raise DataError(f"samples/{name}: cannot load skimage.data.{fn}(): {e}") from e
    if index is not None:
        a = a[index]
    a = np.ascontiguousarray(a[..., :3]).astype(np.uint8, copy=False)
    a.setflags(write=False)
    return a


def photo_tensor(name: str) -> torch.Tensor:
    """A scikit-image photograph at its native size as float32 ``[3, H, W]`` in [0, 1]."""
    a = load_photo(name)
    return torch.from_numpy(a.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0))


class SamplesDataset(Dataset):
    """scikit-image's RGB photographs (astronaut, coffee, ...) centre-cropped to the suite resolution; offline.

    Each photograph is centre-cropped to a square and resized (antialiased) to the suite ``resolution`` (256 when
    the suite gives none). There is no dataset mask and no separate ground truth: mask strategies generate the
    holes and the image itself is the reference (reconstruction).

    Parameters: ``names`` (a subset, in that order; default all of :data:`PHOTOS`), ``limit`` (first N).
    """

    provides_masks = False

    def __init__(self, names: list | None = None, limit: int | None = None):
        if names is not None:
            unknown = [n for n in names if n not in PHOTOS]
            if unknown:
                close = suggest(str(unknown[0]), list(PHOTOS), cutoff=0.5)
                hint = f"; did you mean '{close}'?" if close else f"; known: {', '.join(PHOTOS)}"
                raise ConfigError("names", f"unknown photograph '{unknown[0]}'{hint}")
            if len(set(names)) != len(names):
                raise ConfigError("names", f"duplicate entries in {list(names)}")
        if limit is not None and limit < 0:
            raise ConfigError("limit", f"must be >= 0, got {limit}")
        self.names = list(names) if names is not None else list(PHOTOS)
        self.limit = limit

    @property
    def size(self) -> int:
        return int(self.resolution or DEFAULT_RESOLUTION)

    def ids(self) -> list[str]:
        return self.names[: self.limit] if self.limit is not None else list(self.names)

    def load(self, sample_id: str) -> Sample:
        if sample_id not in self.names:
            raise DataError(f"samples/{sample_id}: no such sample (known: {', '.join(self.names)})")
        full = photo_tensor(sample_id)
        image = fit_square(full, self.size)
        fn, index = PHOTOS[sample_id]
        source = f"skimage.data.{fn}()" + (f"[{index}]" if index is not None else "")
        return Sample(id=sample_id, image=image, meta={"source": source, "native_size": list(full.shape[-2:])})

    def provenance(self) -> dict[str, Any]:
        import skimage

        return {
            "type": "samples",
            "source": "scikit-image data",
            "skimage_version": skimage.__version__,
            "names": self.ids(),
            "count": len(self.ids()),
            "resolution": self.size,
            "preprocess": "centre square crop, antialiased bicubic resize",
        }
