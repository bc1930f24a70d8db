"""The 8-bit pixel grid every stage shares, and what a backend is given.

* Inputs, ground truth and outputs are stored and scored as 8-bit images, as published evaluations read PNGs:
  :func:`quantize` (round half to even of ``x * 255`` after clamping to [0, 1]) and :func:`dequantize`
  (``u8 / 255`` in float32) are the only conversions, so scoring right after generation (from the in-memory
  ``uint8``) and later (from the PNG) see bit-identical pixels. :func:`truncate` is for a backend whose original
  code writes its 8-bit output by truncation (``np.clip(x * 255, 0, 255).astype(uint8)``: LaMa, IOPaint): it puts the
  float output on that grid point, which :func:`quantize` then keeps.
* A backend never sees the pixels under the hole: :func:`blank` sets them to :data:`BLANK_VALUE` (128/255). The
  runner, the scoring stage, exports, the ``outputs`` backend's input check and the calibration cases all blank
  through this one function. :func:`blanked_digests` hashes exactly what a backend is given, so outputs made
  elsewhere are never scored against another mask.

Ground floor: imports nothing from the package.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: the value of every hole pixel a backend is given (mid-grey on the 8-bit grid)
BLANK_VALUE = 128 / 255
#: how inputs, ground truth and outputs are stored (part of every generation's identity)
PIXELS = "uint8"
#: the values a mask file written for another program may give the hole: 255 (white = hole, the harness's own
#: convention) or 0 (black = hole: MAT's, CoModGAN's scripts); the kept pixels get the other one
MASK_HOLE_VALUES = (255, 0)


def check_mask_hole_value(value: object, key: str) -> int:
    """``value`` if it is one of :data:`MASK_HOLE_VALUES`, else a ValueError naming ``key``."""
    if isinstance(value, bool) or value not in MASK_HOLE_VALUES:
        raise ValueError(f"{key} must be 255 (white = hole) or 0 (black = hole), got {value!r}")
    return int(value)  # type: ignore[call-overload]


def mask_file_u8(holes: np.ndarray, hole_value: int = 255) -> np.ndarray:
    """The 8-bit mask file content of a boolean hole mask (True = hole): ``hole_value`` on the hole, the other of
    :data:`MASK_HOLE_VALUES` elsewhere. The one rule the ``command`` backend and ``bench export --inputs`` write."""
    hole_value = check_mask_hole_value(hole_value, "mask hole value")
    return np.where(np.asarray(holes, dtype=bool), hole_value, 255 - hole_value).astype(np.uint8)


#: how far outside [0, 1] float pixels may stray (a resize's overshoot, an unclamped VAE decode: clamped when
#: quantized) before they are a mistake: a 0..255 or -1..1 convention, from a backend or a dataset
RANGE_TOL = 0.05


def quantize(x: "torch.Tensor") -> "torch.Tensor":
    """Float images in [0, 1] (any shape) -> uint8 (clamped, ``round(x * 255)``, ties to even)."""
    import torch

    return torch.round(x.detach().float().clamp(0.0, 1.0) * 255.0).to(torch.uint8)


def truncate(x: "torch.Tensor") -> "torch.Tensor":
    """Float images -> the 8-bit grid point that ``np.clip(x * 255, 0, 255).astype(uint8)`` (truncation) gives, as
    float ``floor(x * 255) / 255``; :func:`quantize` of the result is that uint8. Not clamped, so that values outside
    [0, 1] still show in the adapter's range check (``quantize`` clamps them as the original's ``clip`` does)."""
    import torch

    return torch.floor(x.float() * 255.0) / 255.0


#: an image is colourless when every pixel's channels lie within this many 8-bit levels of each other
GREY_SPREAD_U8 = 2
#: ... and its reference is in colour when at least this share of its pixels has a channel spread above 16 levels
COLOUR_SHARE = 0.05


def lost_colour(x: "torch.Tensor", ref: "torch.Tensor") -> bool:
    """``x`` (an output or a ground truth, [3, H, W], uint8 or float in [0, 1]) is grey while ``ref`` (the colour
    input it belongs to, float in [0, 1]) is in colour: a file read or saved as greyscale. Not when ``x`` is mostly
    black (the ``black`` detector's case) nor when ``ref`` is itself a greyscale photograph."""
    import torch

    o = (x if x.dtype == torch.uint8 else quantize(x)).to(torch.int16)
    if int((o.amax(0) - o.amin(0)).max()) > GREY_SPREAD_U8:
        return False
    if float((o.amax(0) <= 4).float().mean()) > 0.5:
        return False
    r = ref.float()
    return float(((r.amax(0) - r.amin(0)) > 16 / 255).float().mean()) >= COLOUR_SHARE


def dequantize(u8: "torch.Tensor") -> "torch.Tensor":
    """uint8 -> float32 in [0, 1] (``u8 / 255``)."""
    return u8.float() / 255.0


def blank(image, mask):
    """The image with the hole set to :data:`BLANK_VALUE`: torch tensors ([..., 3, H, W] with a [..., 1, H, W]
    mask) or numpy arrays (HWC float with an HW mask). Same type and dtype as ``image``."""
    if isinstance(image, np.ndarray):
        m = np.asarray(mask, dtype=bool)
        if m.ndim == image.ndim - 1:
            m = m[..., None]
        return np.where(m, np.asarray(BLANK_VALUE, dtype=image.dtype), image)
    import torch

    return torch.where(mask.bool(), torch.full_like(image, BLANK_VALUE), image)


def blanked_u8(image: "torch.Tensor", mask: "torch.Tensor") -> "torch.Tensor":
    """What a backend is given, as 8 bits: the image with the hole set to the blank value (128)."""
    return quantize(blank(image, mask))


def output_digest(u8: "torch.Tensor") -> str:
    """SHA-256 of a stored output's 8-bit pixels (with their shape): recorded in its generation row, so scoring it
    later from its PNG notices a file replaced since (whatever its encoding: the pixels are hashed, not the file)."""
    a = u8.detach().cpu().contiguous().numpy()
    return hashlib.sha256(f"u8{a.shape}".encode() + a.tobytes()).hexdigest()


def blanked_digests(image: "torch.Tensor", mask: "torch.Tensor") -> dict[str, str]:
    """SHA-256 of exactly what a backend is given (the blanked 8-bit image) and of the mask, with their shapes:
    outputs made elsewhere are checked against them, so they are never scored against another mask."""
    img = blanked_u8(image, mask).cpu().contiguous().numpy()
    m = np.packbits(mask.detach().cpu().bool().numpy().ravel())
    h_img = hashlib.sha256(f"u8{img.shape}".encode() + img.tobytes()).hexdigest()
    h_mask = hashlib.sha256(f"mask{tuple(mask.shape)}".encode() + m.tobytes()).hexdigest()
    return {"input_sha256": h_img, "mask_sha256": h_mask}
