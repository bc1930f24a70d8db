"""Build the :class:`~bench.types.EvalBatch` metrics and detectors see, from prepared items and stored outputs.

The same function serves scoring right after generation (the in-memory ``uint8`` outputs) and scoring later (the
PNGs read back), so both give bit-identical numbers.

Views: ``raw`` is the stored output (never pasted back); ``output`` is what quality metrics score: the composite
(output inside the hole, the input outside) with ``paste_back``, else the raw output.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from ..pixels import blank, dequantize
from ..types import EvalBatch


def eval_batch(items: Sequence[Any], outputs_u8: Sequence[torch.Tensor], infos: Sequence[dict[str, Any]],
               paste_back: bool, device: torch.device) -> EvalBatch:
    """``items``: :class:`bench.inputs.Item`; ``outputs_u8``: uint8 [3, H, W] each, at the input's size;
    ``infos``: the generation rows' ``info`` (``raw_size``, ``model_size``)."""
    image = torch.stack([it.image for it in items]).to(device)
    mask = torch.stack([it.mask for it in items]).to(device)
    raw = dequantize(torch.stack(list(outputs_u8)).to(device))
    blanked = blank(image, mask)
    output = torch.where(mask, raw, image) if paste_back else raw
    has_gt = torch.tensor([it.gt is not None for it in items], device=device)
    gt = torch.stack([it.gt if it.gt is not None else torch.zeros_like(it.image) for it in items]).to(device)
    sizes = [tuple(int(v) for v in it.image.shape[-2:]) for it in items]
    return EvalBatch(
        sample_ids=[it.sample_id for it in items], output=output, raw=raw, input=image, blanked=blanked, mask=mask,
        gt=gt, has_gt=has_gt,
        raw_sizes=[tuple(info.get("raw_size") or s) for info, s in zip(infos, sizes)],
        model_sizes=[tuple(info.get("model_size") or s) for info, s in zip(infos, sizes)],
        input_sizes=sizes, nonfinite=torch.zeros(len(items), device=device),
    )
