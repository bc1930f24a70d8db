"""Data that crosses room boundaries.

Conventions (DESIGN.md): images are float32 RGB in [0, 1]; a single image is [3, H, W], a batch [B, 3, H, W].
Masks are bool, [1, H, W] / [B, 1, H, W], **True = the hole to fill**.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass
class Sample:
    """One dataset item, as a dataset yields it.

    ``mask`` is the dataset's own mask (e.g. an object mask), used by the ``given`` strategy; ``gt`` is the clean
    ground truth for that mask when the dataset has one (object removal). Generated masks use ``image`` itself as
    ground truth (reconstruction).
    """

    id: str
    image: torch.Tensor  # [3, H, W] float32 in [0, 1]
    mask: torch.Tensor | None = None  # [1, H, W] bool, True = hole
    gt: torch.Tensor | None = None  # [3, H, W] float32, ground truth for ``mask``
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalBatch:
    """What metrics and detectors see for one batch of one cell.

    * ``output``: the final output at the input's size (after ``paste_back`` when the suite enables it).
    * ``composite``: the raw output inside the hole, the input outside (whole-frame metrics, FID/KID/IDS).
    * ``raw``: the backend's output mapped back to the input's size, never pasted back. Outside-mask metrics and
      drift detectors read this one.
    * ``input``: the original image (not blanked): the reference for preservation (``*_out``).
    * ``gt`` / ``has_gt``: ground truth for the hole; rows where ``has_gt`` is False hold zeros and must not be
      scored (their ``*_in`` values are absent, NaN).
    * ``blanked``: exactly what the backend was given (hole set to a constant).
    * ``mask``: bool, True = the hole; a mask of 0s and 1s of another dtype is taken as that bool mask, one with
      other (soft) values is a ``ValueError``: detectors and metrics would each draw its hole elsewhere.
    * ``raw_sizes``: (H, W) of each raw output before it was mapped back; ``model_sizes``: (H, W) the backend was
      asked to produce (after the geometry adapter). They differ when a backend silently resizes.
    """

    sample_ids: list[str]
    output: torch.Tensor
    raw: torch.Tensor
    input: torch.Tensor
    blanked: torch.Tensor
    mask: torch.Tensor
    gt: torch.Tensor
    has_gt: torch.Tensor
    raw_sizes: list[tuple[int, int]]
    model_sizes: list[tuple[int, int]]
    input_sizes: list[tuple[int, int]] = field(default_factory=list)
    #: [B] fraction of non-finite values in the backend's output before the runner sanitised it (NaN/inf -> 0/1);
    #: such samples are also error rows
    nonfinite: torch.Tensor | None = None
    #: the raw output inside the hole, the input outside: what papers score whole-frame metrics and FID on (LaMa,
    #: MAT, CoModGAN); filled in from ``raw``, ``input`` and ``mask`` when not given
    composite: torch.Tensor | None = None

    def __post_init__(self) -> None:
        for name in ("output", "raw", "input", "blanked", "gt"):
            t = getattr(self, name)
            if torch.is_tensor(t) and (t.dim() != 4 or t.shape[1] != 3):
                raise ValueError(f"EvalBatch.{name} is {tuple(t.shape)}: images are RGB, [B, 3, H, W] in [0, 1] "
                                 f"(repeat a grey image's channel: x.expand(-1, 3, -1, -1); drop alpha: x[:, :3])")
        out = self.output if torch.is_tensor(self.output) else None
        if self.mask.dim() != 4 or self.mask.shape[1] != 1 or (
                out is not None and (self.mask.shape[0], *self.mask.shape[2:]) != (out.shape[0], *out.shape[2:])):
            want = f"[{out.shape[0]}, 1, {out.shape[2]}, {out.shape[3]}]" if out is not None else "[B, 1, H, W]"
            raise ValueError(f"EvalBatch.mask is {tuple(self.mask.shape)}: a mask is {want}, one channel per image "
                             f"at the images' size (a [B, H, W] mask: mask[:, None])")
        if self.mask.dtype != torch.bool:  # (a 0/1 mask of another dtype is the same hole)
            if bool(((self.mask != 0) & (self.mask != 1)).any()):
                top = float(self.mask.max())
                kind = (f"values up to {top:g}, not only 0 and 1 (a 0..{top:g} mask file's levels?)" if top > 1
                        else "soft values, not only 0 and 1")
                raise ValueError(f"EvalBatch.mask holds {kind} ({self.mask.dtype}): a mask is bool, True = the "
                                 f"hole; make it one first (e.g. mask > 0.5 of a 0..1 mask, mask > 127 of a 0..255 "
                                 f"one, as mask files are read: above half their range)")
            self.mask = self.mask.bool()
        if self.composite is None and self.raw is not None and self.input is not None:
            self.composite = torch.where(self.mask.bool(), self.raw, self.input)

    @property
    def size(self) -> int:
        return len(self.sample_ids)

    def one(self, i: int) -> "EvalBatch":
        """The batch of sample ``i`` alone (each tensor's row ``i``, each list's item ``i``)."""
        from dataclasses import fields

        def pick(v: Any) -> Any:
            if torch.is_tensor(v):
                return v[i:i + 1]
            if isinstance(v, list):
                return v[i:i + 1]
            return v

        return EvalBatch(**{f.name: pick(getattr(self, f.name)) for f in fields(self)})


@dataclass
class RunContext:
    """What ``setup()`` of a backend, metric or detector may need from the suite and the run."""

    device: torch.device
    dtype: torch.dtype = torch.float32
    seed: int = 0
    weights: str = "pretrained"  # "pretrained" | "random" (random weights: results marked non-comparable)
    weights_dir: Path | None = None  # where offline weights live (also $INPAINT_BENCH_WEIGHTS)
    cache_dir: Path | None = None  # reference-statistics cache etc.
    run_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
