"""The one shared adapter between the runner and every backend: applies a backend's declared :class:`Geometry`,
calls ``inpaint``, checks what came back and maps it to the input's size.

Order of operations for one image (all steps optional, as declared):

1. ``crop_margin``: crop to the hole's bounding box grown by ``crop_margin`` pixels on each side, clamped to the
   image (an image without a hole uses the full frame). Each sample has its own crop, so with a crop margin the
   backend is called once per sample (batch of 1).
2. Resize: ``fixed_size`` S resizes to S x S (aspect not kept); otherwise ``max_side`` resizes the long side down to
   at most ``max_side`` (aspect kept, never up).
3. ``pad_multiple`` m: pad bottom and right up to a multiple of m, filled as ``pad_mode`` says: ``reflect`` (the
   default: the edge pixel not repeated; replicate when the image is too small to reflect) or ``symmetric`` (numpy's:
   the edge pixel repeated, LaMa's and IOPaint's padding). The mask is padded the same way, so mirrored hole pixels
   are holes too.
4. ``backend.inpaint(...)``; the output is checked: a float tensor, batch and channel count as given; an item
   with NaN/inf values is returned entirely NaN (the runner makes an error row for it, the other items are scored).
   A different spatial size is recorded in ``raw_sizes`` and resized to the size the backend was given. A backend
   may return a list of per-sample tensors [3, h, w] (sizes may differ, e.g. an external program's files).
5. Undo 3 (crop the padding away: pixel exact), undo 2 (resize back), clamp to [0, 1], undo 1 (paste the crop's
   result into the full frame; outside the crop the output is the input as given).

Resize rules: images use bilinear interpolation with antialiasing (no overshoot, so no ringing outside [0, 1]).
Masks use the **any-pixel rule**: a resized pixel is a hole when any source pixel its footprint touches is a hole
(``adaptive_max_pool2d``, whose windows ``[floor(i*H/H'), ceil((i+1)*H/H'))`` cover every source pixel). So a
resized mask never shrinks the hole, in either direction: every source hole pixel lies under at least one resized
hole pixel. It may grow by up to one resized pixel at the border, which only hands the model a little more to fill.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import BackendError
from .base import PAD_MODES, Backend, Geometry

Size = tuple[int, int]


@dataclass
class AdapterResult:
    """What the adapter gives the runner for one batch."""

    output: torch.Tensor  # [B, 3, H, W] float32 in [0, 1], at the input's size and device
    raw_sizes: list[Size]  # (h, w) of what the backend actually returned, per sample
    model_sizes: list[Size]  # (h, w) the backend was given (after crop / resize / pad), per sample
    #: (min, max) of each sample's values before the final clamp to [0, 1] (NaN for a non-finite item): the runner
    #: rejects a 0..255 or -1..1 output instead of clamping it into a plausible-looking image
    value_range: list[tuple[float, float]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------------
# elementary operations (public: tests and other rooms may use them)
# ---------------------------------------------------------------------------------------------------------------
def resize_image(x: torch.Tensor, size: Size) -> torch.Tensor:
    """Bilinear, antialiased resize of a float [B, C, H, W] tensor; identity when the size already matches."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=True)


def resize_mask(m: torch.Tensor, size: Size) -> torch.Tensor:
    """Resize a bool [B, 1, H, W] mask by the any-pixel rule (never shrinks the hole); identity for equal size."""
    if tuple(m.shape[-2:]) == tuple(size):
        return m
    return F.adaptive_max_pool2d(m.float(), size) > 0.5


def resized_size(h: int, w: int, geometry: Geometry) -> Size:
    """The size step 2 resizes (h, w) to."""
    if geometry.fixed_size:
        return (geometry.fixed_size, geometry.fixed_size)
    if geometry.max_side and max(h, w) > geometry.max_side:
        s = geometry.max_side / max(h, w)
        return (max(1, round(h * s)), max(1, round(w * s)))
    return (h, w)


def padded_size(h: int, w: int, multiple: int) -> Size:
    m = max(1, int(multiple))
    return (-(-h // m) * m, -(-w // m) * m)


def _symmetric_index(n: int, total: int, device: torch.device) -> torch.Tensor:
    """Source index of each of ``total`` positions when ``n`` are padded at the end as numpy's "symmetric" does
    (the edge repeated, mirrored again as often as needed: period ``2 n``)."""
    i = torch.arange(total, device=device) % (2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


def pad_to(x: torch.Tensor, size: Size, mode: str = "reflect") -> torch.Tensor:
    """Pad [B, C, H, W] bottom/right to ``size``; ``x`` is exactly ``pad_to(x, size, mode)[..., :H, :W]``.

    ``mode`` (:data:`bench.backends.base.PAD_MODES`): ``"reflect"`` mirrors without repeating the edge pixel
    (replicate if the image is too small to reflect); ``"symmetric"`` repeats the edge pixel, as ``numpy.pad(...,
    mode="symmetric")`` (LaMa's and IOPaint's ``pad_img_to_modulo``), for any size. Float and bool tensors alike.
    """
    h, w = x.shape[-2:]
    ph, pw = size[0] - h, size[1] - w
    if ph == 0 and pw == 0:
        return x
    if mode == "symmetric":
        rows = _symmetric_index(h, size[0], x.device)
        cols = _symmetric_index(w, size[1], x.device)
        return x.index_select(-2, rows).index_select(-1, cols)
    if mode != "reflect":
        raise ValueError(f"pad mode must be one of {', '.join(PAD_MODES)}, got {mode!r}")
    mode = "reflect" if ph < h and pw < w else "replicate"
    dtype = x.dtype
    y = F.pad(x.float() if dtype == torch.bool else x, (0, pw, 0, ph), mode=mode)
    return y > 0.5 if dtype == torch.bool else y


def hole_crop_box(mask: torch.Tensor, margin: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the hole's bounding box in a [1, H, W] / [H, W] mask, grown by ``margin``, clamped.

    A mask without a hole gives the full frame.
    """
    m = mask.reshape(mask.shape[-2:])
    h, w = m.shape
    ys = torch.nonzero(m.any(dim=1)).flatten()
    xs = torch.nonzero(m.any(dim=0)).flatten()
    if len(ys) == 0:
        return 0, h, 0, w
    y0 = max(0, int(ys[0]) - margin)
    y1 = min(h, int(ys[-1]) + 1 + margin)
    x0 = max(0, int(xs[0]) - margin)
    x1 = min(w, int(xs[-1]) + 1 + margin)
    return y0, y1, x0, x1


# ---------------------------------------------------------------------------------------------------------------
# the adapter
# ---------------------------------------------------------------------------------------------------------------
def _name(backend: Backend) -> str:
    return getattr(backend, "registry_name", None) or type(backend).__name__


def check_output(backend: Backend, out: object, batch: int, first: int = 0) -> torch.Tensor:
    """Raise :class:`BackendError` unless ``out`` is a float tensor [batch, 3, h, w]; non-finite items -> all NaN.

    ``first``: index of ``out``'s first item in the backend's batch (for messages about per-sample outputs).
    """
    name = _name(backend)
    if not isinstance(out, torch.Tensor):
        raise BackendError(f"backend '{name}': inpaint() returned {type(out).__name__}, expected a torch.Tensor "
                           f"[B, 3, H, W]")
    if out.ndim != 4:
        raise BackendError(f"backend '{name}': output has shape {tuple(out.shape)}, expected 4 dims [B, 3, H, W]")
    if out.shape[0] != batch:
        raise BackendError(f"backend '{name}': output batch size {out.shape[0]} != input batch size {batch}")
    if out.shape[1] != 3:
        raise BackendError(f"backend '{name}': output has {out.shape[1]} channels, expected 3 (RGB)")
    if not out.is_floating_point():
        raise BackendError(f"backend '{name}': output dtype {out.dtype}, expected float in [0, 1]")
    if out.shape[-2] < 1 or out.shape[-1] < 1:
        raise BackendError(f"backend '{name}': output is empty, shape {tuple(out.shape)}")
    finite = torch.isfinite(out).flatten(1).all(dim=1)
    if not bool(finite.all()):
        # Per sample, not per batch: an item with any NaN/inf comes back entirely NaN (clamping would turn inf into
        # a valid-looking 1), the others are kept; the runner records error rows for exactly those items.
        out = out.clone()
        out[~finite] = float("nan")
    return out


def _run_group(backend: Backend, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator],
               sample_ids: list[str] | None = None
               ) -> tuple[torch.Tensor, list[Size], list[Size], list[tuple[float, float]]]:
    """Steps 2-5 for a batch of images that share one size."""
    g = backend.geometry
    b, _, h, w = image.shape
    rs = resized_size(h, w, g)
    ps = padded_size(*rs, g.pad_multiple)
    x = pad_to(resize_image(image, rs), ps, g.pad_mode)
    m = pad_to(resize_mask(mask, rs), ps, g.pad_mode)
    named = {}
    if sample_ids is not None and getattr(backend, "takes_sample_ids", False):
        named["sample_ids"] = list(sample_ids)
    result = backend.inpaint(x.contiguous(), m.contiguous(), generator, **named)
    if isinstance(result, (list, tuple)):  # one tensor per sample, sizes may differ
        if len(result) != b:
            raise BackendError(f"backend '{_name(backend)}': returned {len(result)} outputs for a batch of {b}")
        outs = [check_output(backend, r.unsqueeze(0) if isinstance(r, torch.Tensor) and r.ndim == 3 else r, 1, i)
                for i, r in enumerate(result)]
    else:
        outs = [check_output(backend, result, b)]
    raw = [(int(o.shape[-2]), int(o.shape[-1])) for o in outs for _ in range(o.shape[0])]
    out = torch.cat([resize_image(o.float(), ps).to(image.device) for o in outs])
    out = out[..., : rs[0], : rs[1]]
    out = resize_image(out, (h, w))
    flat = out.flatten(1)
    rng = list(zip(flat.amin(dim=1).tolist(), flat.amax(dim=1).tolist()))
    return out.clamp(0.0, 1.0).to(image.device), raw, [ps] * b, rng


def run_backend(backend: Backend, image: torch.Tensor, mask: torch.Tensor,
                generator: list[torch.Generator], sample_ids: list[str] | None = None) -> AdapterResult:
    """Run ``backend`` on a batch under its declared geometry; the output is at the input's size.

    image: [B, 3, H, W] float in [0, 1] (hole already blanked); mask: [B, 1, H, W] bool, True = hole;
    generator: one torch.Generator per sample; sample_ids: the samples' dataset ids, passed on to a backend that
    declares ``takes_sample_ids`` (for its messages). Raises :class:`BackendError` for an invalid output.
    """
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"image must be [B, 3, H, W], got {tuple(image.shape)}")
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != image.shape[0] or mask.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"mask must be [B, 1, H, W] matching image {tuple(image.shape)}, got {tuple(mask.shape)}")
    if len(generator) != image.shape[0]:
        raise ValueError(f"need one generator per sample: {len(generator)} for batch {image.shape[0]}")
    if sample_ids is not None and len(sample_ids) != image.shape[0]:
        raise ValueError(f"need one sample id per sample: {len(sample_ids)} for batch {image.shape[0]}")
    mask = mask.bool()
    image = image.float()
    with torch.no_grad():
        margin = backend.geometry.crop_margin
        if margin is None:
            out, raw, given, rng = _run_group(backend, image, mask, list(generator), sample_ids)
            return AdapterResult(out, raw, given, rng)
        out = image.clone()
        raw_sizes: list[Size] = []
        model_sizes: list[Size] = []
        ranges: list[tuple[float, float]] = []
        for i in range(image.shape[0]):
            y0, y1, x0, x1 = hole_crop_box(mask[i], int(margin))
            crop, raw, given, rng = _run_group(backend, image[i : i + 1, :, y0:y1, x0:x1],
                                               mask[i : i + 1, :, y0:y1, x0:x1], [generator[i]],
                                               None if sample_ids is None else [sample_ids[i]])
            out[i, :, y0:y1, x0:x1] = crop[0]
            raw_sizes += raw
            model_sizes += given
            ranges += rng
        return AdapterResult(out.clamp(0.0, 1.0), raw_sizes, model_sizes, ranges)
