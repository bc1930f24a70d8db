"""The mask-strategy protocol, its seeding rule, hole fraction and LaMa's area bins.

A mask is a pure function of (suite seed, dataset label, sample id, strategy and its parameters):
:meth:`MaskStrategy.make` derives the random generator from exactly those, so masks are identical across
backends, batch sizes, sample order, processes and reruns. Parameters are part of the key with their defaults
filled in, so ``{type: box}`` and ``{type: box, count: 1}`` give the same masks.
"""
from __future__ import annotations

import inspect
import json
from typing import Any

import numpy as np

from ..errors import DataError
from ..seeding import rng_for
from ..types import Sample

def canonical(obj: Any) -> Any:
    """A JSON-stable form of a parameter value (tuples as lists, numpy scalars as Python numbers)."""
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


class MaskStrategy:
    """Base class for mask strategies.

    Subclasses take their suite parameters as annotated keyword arguments of ``__init__`` and store each one
    under the same attribute name (that is how :meth:`spec` finds them), and implement ``generate``.
    The runner calls :meth:`make` (never the global RNG); ``generate(sample, rng)`` stays usable on its own.
    """

    registry_name: str = "?"
    #: True when the strategy uses the dataset's own mask (object removal): ground truth is then the dataset's
    #: clean background (``sample.gt``); otherwise it is the image itself (reconstruction).
    uses_dataset_mask: bool = False

    # -- identity ---------------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Every ``__init__`` parameter with its current value (defaults included)."""
        sig = inspect.signature(type(self).__init__)
        out: dict[str, Any] = {}
        for name, p in list(sig.parameters.items())[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            out[name] = canonical(getattr(self, name))
        return out

    def spec(self) -> dict[str, Any]:
        """The canonical suite spec: ``{"type": name, **params}`` with defaults filled in."""
        return {"type": self.registry_name, **self.params()}

    def key(self) -> str:
        """Canonical JSON of :meth:`spec`; part of every mask's seed."""
        return json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))

    def provenance(self) -> dict[str, Any]:
        return self.spec()

    # -- masks ------------------------------------------------------------------------------------------
    def rng(self, sample_id: str, seed: int, dataset: str = "") -> np.random.Generator:
        """The generator of this strategy for one sample: a pure function of (seed, dataset, sample id, key)."""
        return rng_for("mask", int(seed), str(dataset), str(sample_id), self.key())

    def make(self, sample: Sample, seed: int, dataset: str = "") -> np.ndarray:
        """The mask of ``sample`` for this suite: bool [H, W] (True = hole) at the sample's image size."""
        mask = self.generate(sample, self.rng(sample.id, seed, dataset))
        return self._check(mask, sample)

    def generate(self, sample: Sample, rng: np.random.Generator) -> np.ndarray:
        """Return a bool [H, W] array (True = hole) of the sample's image size."""
        raise NotImplementedError

    def _check(self, mask: np.ndarray, sample: Sample) -> np.ndarray:
        mask = np.asarray(mask)
        h, w = image_size(sample)
        if mask.shape != (h, w):
            raise DataError(f"sample '{sample.id}': mask strategy '{self.registry_name}' made a mask of shape "
                            f"{tuple(mask.shape)}, the image is {h}x{w}")
        return mask.astype(bool, copy=False)


def image_size(sample: Sample) -> tuple[int, int]:
    """(H, W) of a sample's image."""
    shape = tuple(sample.image.shape)
    return int(shape[-2]), int(shape[-1])
