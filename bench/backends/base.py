"""The backend protocol and the geometry a backend declares.

A backend implements only ``inpaint``; all geometry (pad to a multiple, fixed square size, long-side resize,
crop around the hole) is declared in ``geometry`` and applied by one shared adapter
(:mod:`bench.backends.geometry`), which maps the output back to the input's size.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from ..types import RunContext

#: how :class:`Geometry` may fill the padding (numpy's names; applied by :func:`bench.backends.geometry.pad_to`)
PAD_MODES = ("reflect", "symmetric")


@dataclass(frozen=True)
class Geometry:
    """Input constraints of a model. All ``None``/1 means: any size is fine.

    * ``pad_multiple``: H and W are padded (bottom and right) up to a multiple of this (LaMa: 8, SD: 8, FLUX: 16).
    * ``pad_mode``: how the padding is filled, image and mask alike: ``"reflect"`` (torch's and numpy's reflect: the
      edge pixel is not repeated, ``d c b | a b c d | c b a``) or ``"symmetric"`` (numpy's symmetric: the edge pixel
      is repeated, ``c b a | a b c d | d c b``, what LaMa's ``pad_img_to_modulo`` and IOPaint's use).
    * ``fixed_size``: the model only takes ``fixed_size × fixed_size`` (PixelHacker, MAT: 512); the image is resized.
    * ``max_side``: the long side is resized down to at most this (aspect kept).
    * ``crop_margin``: run on a crop around the hole's bounding box, grown by this many pixels (IOPaint's crop
      strategy), then paste the result into the full frame.
    """

    pad_multiple: int = 1
    pad_mode: str = "reflect"
    fixed_size: int | None = None
    max_side: int | None = None
    crop_margin: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pad_multiple, int) or self.pad_multiple < 1:
            raise ValueError(f"pad_multiple must be an integer >= 1, got {self.pad_multiple!r}")
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {', '.join(PAD_MODES)}, got {self.pad_mode!r}")
        for key in ("fixed_size", "max_side"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ValueError(f"{key} must be a positive integer or null, got {v!r}")
        if self.crop_margin is not None and (not isinstance(self.crop_margin, int) or self.crop_margin < 0):
            raise ValueError(f"crop_margin must be an integer >= 0 or null, got {self.crop_margin!r}")

    def override(self, *, pad_multiple: int | None = None, fixed_size: int | None = None,
                 max_side: int | None = None, crop_margin: int | None = None) -> "Geometry":
        """This geometry with the given fields replaced; ``None`` keeps the current value.

        Backends that expose geometry as suite parameters (``diffusers``, ``command``...) build theirs with it.
        """
        changes = {k: v for k, v in dict(pad_multiple=pad_multiple, fixed_size=fixed_size, max_side=max_side,
                                          crop_margin=crop_margin).items() if v is not None}
        return replace(self, **changes)


class Backend:
    """Base class for inpainting backends.

    Subclasses take their suite parameters as keyword arguments of ``__init__`` (validated from the YAML by the
    registry), load weights in ``setup`` and fill holes in ``inpaint``.
    """

    registry_name: str = "?"
    geometry: Geometry = Geometry()
    #: the backend is deterministic (no use of the generators); informational, recorded in provenance
    deterministic: bool = True
    #: where the model's memory lives: ``"process"`` (this one: the runner measures it per cell), ``"subprocess"``
    #: (another program: the backend measures it, :meth:`memory_peak`), ``"none"`` (nothing runs: stored outputs)
    memory_scope: str = "process"
    #: ``inpaint`` also takes ``sample_ids=`` (the batch's dataset ids, in order), for messages only: a backend that
    #: cannot read the images it is given can then say *which* item failed (the ``command`` backend's missing files)
    takes_sample_ids: bool = False
    #: the first call of a new input shape does work later calls skip (``torch.compile``, weights loaded on first
    #: use): the runner then warms up one batch per new shape on CPU too (where the default is none), unless the
    #: suite sets ``warmup``
    warmup_needed: bool = False
    #: bump when a change to the backend's code changes the outputs it makes for the same suite: the version is
    #: part of the generation key (from 2 on; 1 leaves the key as it was), so outputs an older version made are
    #: generated again instead of being scored as this version's
    version: int = 1

    def setup(self, ctx: RunContext) -> None:
        """Load weights / move to ``ctx.device``. Called once per run before any batch; timed as load time.

        A missing weights file raises :class:`bench.errors.WeightsError` naming the file and how to supply it.
        """

    def check_weights(self, ctx: RunContext) -> None:
        """Raise :class:`bench.errors.WeightsError` (the file, where it comes from, how to supply it) when the
        weights :meth:`setup` would load are not here, without loading anything: the runner asks every backend with
        work before the run starts, so a missing model stops the run at once instead of after the others' hours.
        The default has nothing to check (classical backends, programs that find their own weights)."""

    def weights_files(self, ctx: RunContext) -> list[Any]:
        """The local files of the weights :meth:`setup` loads (or has loaded), as far as they are here; nothing is
        loaded. The runner fingerprints their content (:func:`bench.weights.content_fingerprint`) into every
        output's generation row, so outputs made with other weights behind the same ``model:`` are generated again.
        The default has none (classical backends, programs that find their own weights)."""
        return []

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> torch.Tensor:
        """Fill the holes.

        image: [B, 3, H, W] float32 in [0, 1], the hole already blanked to a constant (the answer is never given).
        mask: [B, 1, H, W] bool, True = hole.  generator: one seeded CPU ``torch.Generator`` per sample.
        Returns [B, 3, H', W'] float in [0, 1]; H', W' should equal H, W (a different size is recorded and resized
        back by the adapter, and the ``resized`` detector flags it). A backend whose outputs may differ in size per
        sample (an external program) may instead return a list of B tensors [3, h_i, w_i].
        Work must be finished when this returns (on CUDA: synchronise; no asynchronous leftovers), and tensors
        live on the device given to ``setup``.
        """
        raise NotImplementedError

    def teardown(self) -> None:
        """Release memory (called after the backend's last cell)."""

    def reset_memory_peak(self) -> None:
        """``memory_scope: subprocess`` backends: forget the peak (called at the start of each cell)."""

    def memory_peak(self) -> dict[str, Any]:
        """``memory_scope: subprocess`` backends: the cell's peak, as ``peak_rss`` / ``peak_mem_allocated`` /
        ``peak_mem_reserved`` bytes (None where it could not be measured), plus a ``memory_source``."""
        return {}

    def provenance(self) -> dict[str, Any]:
        """Facts that change the numbers: weights id/hash, library versions, scheduler, steps..."""
        return {}
