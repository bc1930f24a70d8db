"""Image and mask files <-> tensors, and the one crop-and-resize helper every dataset uses.

Conventions (DESIGN.md): an image is float32 RGB ``[3, H, W]`` in [0, 1]; a mask is bool ``[1, H, W]``,
**True = the hole to fill**.

Reading rules (the same for every dataset, so a number never depends on which room opened the file):

* **Bit depth.** 8-bit files are divided by 255, 16-bit files (PNG, TIFF; grey or colour) by 65535 at full precision
  (Pillow truncates 16-bit colour PNGs to 8 bits, so those are decoded with OpenCV). A 32-bit integer image is
  treated as 16-bit when its values fit, otherwise divided by its type's maximum. A float image must already be in
  [0, 1]: values within :data:`FLOAT_TOLERANCE` of it are clipped, anything further out (a 0..255 or -1..1 image)
  or NaN / inf raises :class:`~bench.errors.DataError` naming the file and the range found, never clipped in
  silence. A dataset whose float images use another range declares it (``value_range: [0, 255]``,
  ``[-1, 1]``): ``value_range=(lo, hi)`` maps ``lo..hi`` linearly onto 0..1 before that check (float data only).
* **Signed integer samples** (a TIFF of int8 / int16 / int32) raise :class:`~bench.errors.DataError`: no image
  range convention covers them (Pillow would read int8 as unsigned and int16 as a 32-bit integer).
* **Channels.** Grayscale (and 1-bit) images are repeated to three channels; palette images are expanded through
  their palette; CMYK / YCbCr / LAB / HSV are converted to RGB.
* **Alpha is dropped**, not composited: the stored colour is used as is. This is what ``cv2.imread`` (LaMa's and
  most published evaluation code) and Pillow's ``convert("RGB")`` do, so scores stay comparable with theirs.
  Pass ``alpha="white"`` or ``alpha="black"`` to :func:`read_image` to composite instead.
* **EXIF orientation** is applied (the image comes out the way a viewer shows it), for masks too; a TIFF's
  orientation tag likewise, once, whatever its sample format (decoders disagree on TIFF: the stored pixels are
  decoded and turned here).
* **Multi-frame files** (animated GIF / WebP / PNG, multi-page TIFF) are read by their first frame, as
  ``cv2.imread`` and Pillow read them; a TIFF whose first page is smaller than a later one (a preview stored first)
  raises :class:`~bench.errors.DataError` instead of being read as a thumbnail.
* Anything that cannot be decoded (missing, zero-byte, truncated, corrupt, not an image, a decompression bomb)
  raises :class:`bench.errors.DataError` whose message starts with the file's path. PNG chunk checksums are
  verified (Pillow skips them, so a damaged PNG could otherwise decode as silent garbage); JPEG has no checksum,
  so only truncation and undecodable streams are caught there.

Masks (:func:`read_mask`) are read the same way and reduced to one channel: the **maximum over the colour channels**
(so a hole painted in any bright colour counts), except that an RGBA/LA mask whose colour is uniform but whose alpha
varies (a hole painted on a transparent layer) uses its alpha, and so does one whose opaque pixels are all bright (a
stroke on a layer whose clear pixels store some other colour: that colour is not seen). A mask with transparent
pixels whose colour draws another hole than its transparency (a photo whose transparent pixels are the hole, as
image-editing APIs take masks) raises :class:`~bench.errors.DataError`: which one is the hole is not knowable.
A pixel is a hole when that value is **above half the range** (8-bit: >= 128; 16-bit: >= 32768; float: > 0.5; a NaN
or infinite value in a float mask raises :class:`~bench.errors.DataError`), so anti-aliased or JPEG-compressed masks
become binary; except that an integer mask whose largest value is 1 is a {0, 1} mask (as many published data sets
store them): there 1 is the hole.
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DataError
from .fsio import write_bytes_atomic

PathLike = Union[str, os.PathLike]

#: File extensions the readers accept (lower case, with the dot). Datasets use this to pick image files.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif")

_EXIF_ORIENTATION = 0x0112
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # little / big endian; classic / BigTIFF

#: How far a float image may stray outside [0, 1] (after its ``value_range`` mapping) before it is an error: the
#: rounding of whatever wrote it, not a different convention.
FLOAT_TOLERANCE = 1e-3


# ---------------------------------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------------------------------
def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation ``1..8`` to an ``[H, W, ...]`` array (same result as ``ImageOps.exif_transpose``)."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:  # transpose
        a = np.swapaxes(a, 0, 1)
    elif orientation == 6:  # rotate 90 degrees clockwise
        a = np.rot90(a, -1)
    elif orientation == 7:  # transverse
        a = np.swapaxes(a[::-1, ::-1], 0, 1)
    elif orientation == 8:  # rotate 90 degrees counter-clockwise
        a = np.rot90(a, 1)
    return np.ascontiguousarray(a)


def _png_bit_depth(head: bytes) -> int | None:
    if len(head) >= 25 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return head[24]
    return None


def _check_png_chunks(data: bytes, name: str) -> None:
    """Verify every PNG chunk's CRC: Pillow skips them, so a damaged IDAT could otherwise decode as garbage."""
    pos, n = 8, len(data)
    while pos + 12 <= n:
        length = int.from_bytes(data[pos:pos + 4], "big")
        ctype = data[pos + 4:pos + 8]
        end = pos + 8 + length
        if end + 4 > n:
            raise DataError(f"{name}: truncated PNG (chunk {ctype!r} runs past the end of the file)")
        crc = int.from_bytes(data[end:end + 4], "big")
        if zlib.crc32(data[pos + 4:end]) & 0xFFFFFFFF != crc:
            raise DataError(f"{name}: corrupt PNG (checksum mismatch in chunk {ctype!r} at byte {pos})")
        if ctype == b"IEND":
            return
        pos = end + 4
    raise DataError(f"{name}: truncated PNG (no IEND chunk)")


def _is_16bit_colour(im, head: bytes) -> bool:
    """Pillow decodes these to 8 bits (losing precision): PNG/TIFF with 16 bits per colour sample."""
    if im.mode not in ("RGB", "RGBA"):
        return False
    if im.format == "PNG":
        return _png_bit_depth(head) == 16
    if im.format == "TIFF":
        bits = getattr(im, "tag_v2", {}).get(258)
        bits = bits if isinstance(bits, tuple) else (bits,)
        return any(b == 16 for b in bits if b is not None)
    return False


def _decode(path: PathLike) -> tuple[np.ndarray, int, bool]:
    """Decode a file to ``(array [H, W, C], max_value, has_alpha)`` with C in {1, 3, 4, 2}, EXIF-oriented.

    ``max_value`` is what full intensity reads as (255, 65535, or 1.0 for float data).
    """
    p = Path(path)
    if not p.exists():
        if p.is_symlink():
            raise DataError(f"{p}: a link to {os.readlink(p)}, which is not there (a drive not mounted?)")
        raise DataError(f"{p}: file not found")
    if p.is_dir():
        raise DataError(f"{p}: is a directory, not an image file")
    if p.stat().st_size == 0:
        raise DataError(f"{p}: empty file (0 bytes)")

    def head() -> bytes:
        with open(p, "rb") as f:
            return f.read(26)

    return _decode_stream(p, str(p), head, p.read_bytes, size_note=lambda: _size_note(p))


def _decode_bytes(data: bytes, name: str) -> tuple[np.ndarray, int, bool]:
    """:func:`_decode` for an encoded image held in memory (a Hugging Face ``datasets`` Image cell)."""
    import io

    if not data:
        raise DataError(f"{name}: empty image (0 bytes)")
    return _decode_stream(io.BytesIO(data), name, lambda: data[:26], lambda: data)


def _decode_stream(source, name: str, head, read_all, size_note=lambda: "",
                   turned: bool = False) -> tuple[np.ndarray, int, bool]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as im:
            orientation = _orientation_tag(im)
            if im.format == "TIFF" and orientation != 1:
                if turned:  # (the copy tagged 1 still reads as turned: two tags? never loop)
                    raise DataError(f"{name}: cannot read this TIFF upright (its orientation tag cannot be followed)")
                return _turned_tiff(read_all(), name)
            _check_first_page(im, name)
            _check_unsigned(im, name)
            im.load()  # decodes the whole stream: truncation and corruption surface here
            if im.format == "PNG":
                _check_png_chunks(read_all(), name)
            if _is_16bit_colour(im, head()):
                a = _decode_cv2(read_all(), name)
                maxv: float = 65535
            else:
                a, maxv = _pil_to_array(im)
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise DataError(f"{name}: image too large to decode safely ({e})") from e
    except MemoryError as e:
        raise DataError(f"{name}: not enough memory to decode this image{size_note()}") from e
    except PermissionError as e:
        raise DataError(f"{name}: cannot read file: permission denied") from e
    except UnidentifiedImageError as e:
        if head()[:4] not in _TIFF_MAGIC:
            raise DataError(f"{name}: not a readable image (unknown or corrupt format)") from e
        data = read_all()
        if _tiff_orientation(data)[0] != 1 and not turned:
            return _turned_tiff(data, name)
        a, maxv, orientation = _decode_float_tiff(data, name), 1.0, 1  # Pillow reads no float RGB TIFF
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e) or type(e).__name__
        raise DataError(f"{name}: cannot decode image (corrupt or truncated?): {msg}") from e
    if a.ndim == 2:
        a = a[:, :, None]
    has_alpha = a.shape[2] in (2, 4)
    return _orient(a, orientation), maxv, has_alpha


def _tiff_orientation(data: bytes) -> tuple[int, int | None, str]:
    """A TIFF's orientation tag (274) in its first directory, the byte offset of its value and that value's struct
    format (SHORT ``H`` or LONG ``I``): (1, None, "") when it has none (or the header cannot be followed)."""
    if data[:4] not in _TIFF_MAGIC:
        return 1, None, ""
    e = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    try:
        if big:
            (pos,) = struct.unpack_from(e + "Q", data, 8)
            (n,) = struct.unpack_from(e + "Q", data, pos)
            pos, size = pos + 8, 20
        else:
            (pos,) = struct.unpack_from(e + "I", data, 4)
            (n,) = struct.unpack_from(e + "H", data, pos)
            pos, size = pos + 2, 12
        for i in range(min(int(n), 4096)):
            at = pos + i * size
            tag, typ = struct.unpack_from(e + "HH", data, at)
            if tag == _EXIF_ORIENTATION and typ in (3, 4):  # SHORT or LONG, stored in the entry itself
                value_at, fmt = at + (12 if big else 8), "H" if typ == 3 else "I"
                (o,) = struct.unpack_from(e + fmt, data, value_at)
                return (o if 1 <= o <= 8 else 1), value_at, fmt
    except struct.error:
        pass
    return 1, None, ""


def _turned_tiff(data: bytes, name: str) -> tuple[np.ndarray, float, bool]:
    """A TIFF with an orientation tag, read upright: its stored pixels (decoded from a copy whose tag says 1, since
    decoders disagree: a recent Pillow turns some TIFFs itself and scrambles single-band ones, OpenCV turns them
    and premultiplies alpha) turned by :func:`_orient`, as for every other format."""
    import io

    orientation, at, fmt = _tiff_orientation(data)
    if at is None or orientation == 1:  # (a tag the decoder sees and this reader cannot follow: never loop)
        raise DataError(f"{name}: cannot read this TIFF upright (its orientation tag is not where the first "
                        f"directory says)")
    e = "<" if data[:2] == b"II" else ">"
    data = data[:at] + struct.pack(e + fmt, 1) + data[at + struct.calcsize(fmt):]
    a, maxv, has_alpha = _decode_stream(io.BytesIO(data), name, lambda: data[:26], lambda: data, turned=True)
    return _orient(a, orientation), maxv, has_alpha


def _orientation_tag(im) -> int:
    """The EXIF (or TIFF) orientation 1..8 an opened image still carries; 1 when it has none or it is malformed."""
    try:
        o = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # a malformed EXIF block does not make the pixels unreadable
        return 1
    return o if 1 <= o <= 8 else 1


def _stored_size(im) -> tuple[int, int] | None:
    """``(width, height)`` of a TIFF's stored pixels from its tags (Pillow reports the turned size for some)."""
    if im.format != "TIFF":
        return None
    try:
        return int(im.tag_v2[256]), int(im.tag_v2[257])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _check_unsigned(im, name: str) -> None:
    """A TIFF of signed integer samples (SampleFormat 2) has no image range convention (Pillow reads int8 as
    unsigned, so -100 became 156, and int16 as a 32-bit integer, so every value came out near black): refused."""
    if im.format != "TIFF":
        return
    fmt = getattr(im, "tag_v2", {}).get(339)
    fmts = fmt if isinstance(fmt, tuple) else (fmt,)
    if 2 in fmts:
        bits = im.tag_v2.get(258)
        bits = bits[0] if isinstance(bits, tuple) else bits
        raise DataError(f"{name}: signed {bits}-bit integer samples (TIFF SampleFormat 2): an image has no range "
                        f"convention for them; store unsigned 8- or 16-bit samples, or float in [0, 1] (another "
                        f"float range can be declared with value_range)")


def _check_first_page(im, name: str) -> None:
    """A multi-frame file (animated GIF / WebP / PNG, multi-page TIFF) is read by its first frame, as ``cv2.imread``
    and Pillow read it; a TIFF whose first page is smaller than another (a preview stored first) is refused rather
    than read as a thumbnail. (GIF, WebP and PNG frames share one canvas size, so only TIFF pages are looked at.)"""
    n = int(getattr(im, "n_frames", 1) or 1)
    if n < 2 or im.format != "TIFF":
        return
    first = im.size
    for k in range(1, min(n, 64)):
        im.seek(k)
        if im.size[0] * im.size[1] > first[0] * first[1]:
            big = im.size
            im.seek(0)
            raise DataError(f"{name}: a TIFF of {n} pages whose first page ({first[0]} x {first[1]}) is smaller than "
                            f"page {k + 1} ({big[0]} x {big[1]}): the first page is read, and here it looks like a "
                            f"preview; save the image you mean as a file of its own")
    im.seek(0)


def _size_note(p: Path) -> str:
    """`` (W x H pixels, N MB as float32 RGB)`` from the header, or '' when the header cannot be read."""
    try:
        from PIL import Image

        with Image.open(p) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001
        return ""
    return f" ({w} x {h} pixels, {3 * 4 * w * h / 1e6:.0f} MB as float32 RGB)"


def _decode_cv2(data: bytes, name: str) -> np.ndarray:
    import cv2

    a = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if a is None:
        raise DataError(f"{name}: cannot decode 16-bit image (corrupt or truncated?)")
    if a.ndim == 3 and a.shape[2] == 3:
        a = a[:, :, ::-1]  # BGR -> RGB
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, [2, 1, 0, 3]]  # BGRA -> RGBA
    if a.dtype != np.uint16:
        raise DataError(f"{name}: expected 16-bit samples, decoder gave {a.dtype}")
    return np.ascontiguousarray(a)


def _decode_float_tiff(data: bytes, name: str) -> np.ndarray:
    """A multi-channel float TIFF (Pillow reads only single-channel ones), decoded by OpenCV as float32 RGB(A)."""
    import cv2

    a = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if a is None or not np.issubdtype(a.dtype, np.floating):
        raise DataError(f"{name}: not a readable image (unknown or corrupt TIFF)")
    if a.ndim == 3 and a.shape[2] == 3:
        a = a[:, :, ::-1]
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, [2, 1, 0, 3]]
    return np.ascontiguousarray(a, dtype=np.float32)


def _pil_to_array(im) -> tuple[np.ndarray, float]:
    mode = im.mode
    if mode == "1":
        return np.asarray(im.convert("L")), 255
    if mode == "P":
        has_alpha = "transparency" in im.info or (im.palette is not None and im.palette.mode == "RGBA")
        return np.asarray(im.convert("RGBA" if has_alpha else "RGB")), 255
    if mode == "PA":
        return np.asarray(im.convert("RGBA")), 255
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(im), 255
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
        return np.asarray(im.convert("RGBA" if mode in ("RGBa", "La") else "RGB")), 255
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), 65535
    if mode == "I":
        a = np.asarray(im)
        if a.size and a.min() >= 0 and a.max() <= 65535:
            return a.astype(np.uint16), 65535  # 16-bit data Pillow widened to int32 (e.g. old Pillow, PNM)
        return a, float(np.iinfo(np.int32).max)
    if mode == "F":
        return np.asarray(im, dtype=np.float32), 1.0
    return np.asarray(im.convert("RGB")), 255


def _to_float(a: np.ndarray, maxv: float, name: str, value_range=None) -> np.ndarray:
    out = a.astype(np.float32) if a.dtype != np.float32 else a.copy()
    if maxv != 1.0:
        out /= np.float32(maxv)
        return np.clip(out, 0.0, 1.0)
    return _float_to_unit(torch.from_numpy(out), name, value_range).numpy()


def check_value_range(value_range, key: str = "value_range") -> tuple[float, float] | None:
    """A dataset's ``value_range`` (``[lo, hi]``, e.g. ``[0, 255]`` or ``[-1, 1]``) as a tuple, or a ConfigError."""
    from .errors import ConfigError

    if value_range is None:
        return None
    ok = isinstance(value_range, (list, tuple)) and len(value_range) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value_range)
    if not ok or not value_range[0] < value_range[1]:
        raise ConfigError(key, f"expected [low, high] with low < high (the range of the dataset's float images, "
                               f"e.g. [0, 255] or [-1, 1]), got {value_range!r}")
    return float(value_range[0]), float(value_range[1])


def _float_to_unit(t: torch.Tensor, name: str, value_range) -> torch.Tensor:
    """Float pixel data (in place) to [0, 1]: mapped from ``value_range`` when given, then checked, never clipped
    by more than :data:`FLOAT_TOLERANCE`. NaN / inf or values out of range raise a DataError naming ``name``."""
    lo, hi = (0.0, 1.0) if value_range is None else (float(value_range[0]), float(value_range[1]))
    declared = "" if value_range is None else f" (declared value_range [{value_range[0]}, {value_range[1]}])"
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise DataError(f"{name}: float image has {bad} NaN or infinite values (of {t.numel()}){declared}; "
                        f"inputs are never repaired in silence: fix or drop this image")
    if t.numel() == 0:
        return t
    vmin, vmax = float(t.min()), float(t.max())
    tol = FLOAT_TOLERANCE * (hi - lo)
    if vmin < lo - tol or vmax > hi + tol:
        hint = ("declare the range in the dataset (value_range: [0, 255] or [-1, 1]) to map it linearly to 0..1"
                if value_range is None else "values outside the declared range are not clipped")
        raise DataError(f"{name}: float image values span [{vmin:.6g}, {vmax:.6g}], outside [{lo:g}, {hi:g}]"
                        f"{declared}; {hint}")
    if (lo, hi) != (0.0, 1.0):
        t.sub_(lo).div_(hi - lo)
    return t.clamp_(0.0, 1.0)


# ---------------------------------------------------------------------------------------------------------------
# public readers
# ---------------------------------------------------------------------------------------------------------------
def read_image(path: PathLike, *, alpha: str = "drop", value_range=None) -> torch.Tensor:
    """Read an image file as float32 RGB ``[3, H, W]`` in [0, 1] (see the module doc for the rules).

    ``alpha``: ``"drop"`` (default: keep the stored colour, ignore transparency), ``"white"`` or ``"black"``
    (composite over that background). ``value_range``: ``(lo, hi)`` of float data (default [0, 1]). Raises
    :class:`DataError` naming the file when it cannot be read or a float image is out of range.
    """
    if alpha not in ("drop", "white", "black"):
        raise ValueError(f"alpha must be 'drop', 'white' or 'black', got {alpha!r}")
    a, maxv, has_alpha = _decode(path)
    try:
        return _to_rgb_tensor(a, maxv, has_alpha, alpha, str(path), value_range)
    except MemoryError as e:
        raise DataError(f"{path}: not enough memory for this image as float32 RGB{_size_note(Path(path))}") from e
    except RuntimeError as e:  # torch's allocator: "DefaultCPUAllocator: can't allocate memory"
        if "allocate" not in str(e):
            raise
        raise DataError(f"{path}: not enough memory for this image as float32 RGB{_size_note(Path(path))}") from e


def _to_rgb_tensor(a: np.ndarray, maxv: float, has_alpha: bool, alpha: str, name: str,
                   value_range=None) -> torch.Tensor:
    if not np.issubdtype(a.dtype, np.floating):
        value_range = None  # a declared range is the float data's; integer data keeps its bit-depth rule
    if has_alpha and alpha != "drop":
        f = _to_float(a, maxv, name, value_range)
        colour, al = f[:, :, :-1], f[:, :, -1:]
        bg = 1.0 if alpha == "white" else 0.0
        f = colour * al + bg * (1.0 - al)
        if f.shape[2] == 1:
            f = np.repeat(f, 3, axis=2)
        return torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1), dtype=np.float32))
    # common path: one float allocation, converted and scaled in place (an 8000 x 8000 photo stays affordable)
    colour = a[:, :, :-1] if has_alpha else a
    h, w = colour.shape[:2]
    if colour.shape[2] == 1:
        colour = np.broadcast_to(colour, (h, w, 3))
    out = torch.empty((3, h, w), dtype=torch.float32)
    out.numpy()[...] = colour.transpose(2, 0, 1)
    if maxv != 1.0:
        return out.div_(float(maxv)).clamp_(0.0, 1.0)
    return _float_to_unit(out, name, value_range)


def read_mask(path: PathLike) -> torch.Tensor:
    """Read a mask file as bool ``[1, H, W]``, True = hole (above half the range; see the module doc)."""
    return _mask_from(*_decode(path), name=str(path))


def mask_value_note(path: PathLike) -> str | None:
    """Why a mask file that is not all black reads as having no hole (for an error message), else None."""
    try:
        a, maxv, has_alpha = _decode(path)
    except DataError:
        return None
    colour = a[:, :, :-1] if has_alpha else a
    top = float(colour.max()) if colour.size else 0.0
    if top <= 0:
        return None
    return (f"its largest value is {top:g} of {maxv:g}: a hole is a value above half the range ({maxv / 2:g}), "
            f"or 1 in a {{0, 1}} mask; rescale the file")


def image_from_bytes(data: bytes, name: str, *, alpha: str = "drop", value_range=None) -> torch.Tensor:
    """:func:`read_image` for an encoded image in memory (PNG/JPEG/... bytes); ``name`` labels errors."""
    return _to_rgb_tensor(*_decode_bytes(data, name), alpha, name, value_range)


def mask_from_bytes(data: bytes, name: str) -> torch.Tensor:
    """:func:`read_mask` for an encoded mask in memory; ``name`` labels errors."""
    return _mask_from(*_decode_bytes(data, name), name=name)


def image_from_array(a: np.ndarray, name: str, *, value_range=None) -> torch.Tensor:
    """An ``[H, W]`` / ``[H, W, C]`` array (C in 1, 3, 4) as an image, by the file rules: uint8 / 255,
    uint16 / 65535, float in [0, 1] (or ``value_range``, checked); alpha dropped."""
    a, maxv, has_alpha = _array_parts(a, name)
    return _to_rgb_tensor(a, maxv, has_alpha, "drop", name, value_range)


def mask_from_array(a: np.ndarray, name: str) -> torch.Tensor:
    """An ``[H, W]`` / ``[H, W, C]`` array as a mask, by the file rules (bool: True = hole)."""
    return _mask_from(*_array_parts(a, name), name=name)


def _array_parts(a: np.ndarray, name: str) -> tuple[np.ndarray, float, bool]:
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"{name}: expected an [H, W] or [H, W, C] array with C in 1..4, got shape {a.shape}")
    if a.dtype == np.bool_:
        return a.astype(np.uint8), 1.0, a.shape[2] in (2, 4)
    if a.dtype == np.uint8:
        maxv: float = 255
    elif a.dtype == np.uint16:
        maxv = 65535
    elif np.issubdtype(a.dtype, np.floating):
        maxv = 1.0
        a = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.integer):
        if a.size and (a.min() < 0 or a.max() > 255):
            raise DataError(f"{name}: integer array with values in [{a.min()}, {a.max()}]: store 8-bit (0..255) "
                            f"or 16-bit (uint16) data")
        a, maxv = a.astype(np.uint8), 255
    else:
        raise DataError(f"{name}: cannot read an array of {a.dtype} as an image")
    return a, maxv, a.shape[2] in (2, 4)


def _hole(value: np.ndarray, maxv: float) -> np.ndarray:
    """The hole of one mask channel: above half the range, or 1 in a {0, 1} integer mask."""
    if maxv == 1.0:
        return value.astype(np.float32) > 0.5
    if value.size and int(value.max()) == 1:
        return value >= 1  # a {0, 1} mask (common in published data sets), not a nearly black 0..255 one
    return value.astype(np.float64) > maxv / 2.0


def _mask_from(a: np.ndarray, maxv: float, has_alpha: bool, name: str = "mask") -> torch.Tensor:
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise DataError(f"{name}: float mask has {bad} NaN or infinite values (of {a.size}): whether those pixels "
                        f"are hole is not knowable; masks are never repaired in silence")
    colour = a[:, :, :-1] if has_alpha else a
    hole = _hole(colour.max(axis=2), maxv)
    if has_alpha:
        al = a[:, :, -1]
        if al.size and al.min() != al.max():
            opaque = _hole(al, maxv)
            if colour.min() == colour.max():
                hole = opaque  # uniform colour, varying alpha: the hole is painted on a transparent layer
            elif (~opaque).any() and (opaque != hole).any():
                # some pixels are clear, and the colour and the transparency draw two different holes
                if hole[opaque].all():
                    hole = opaque  # bright paint wherever the layer is opaque: what lies under the clear part is
                    # not seen (a red stroke on a transparent layer whose clear pixels store white)
                else:
                    raise DataError(
                        f"{name}: the mask's colour and its transparency mark different holes ({int(hole.sum())} "
                        f"bright pixels, {int((~opaque).sum())} transparent ones, and opaque pixels that are not "
                        f"bright): a photo with transparent parts (a mask whose transparent pixels are the hole, "
                        f"as image-editing APIs take) or an edited layer? Save the hole as white on black, without "
                        f"transparency")
    return torch.from_numpy(np.ascontiguousarray(hole))[None]


def orientation(path: PathLike) -> int:
    """The EXIF (or TIFF) orientation 1..8 of an image file, which the readers apply; 1 when it has none or the
    file cannot be opened (for messages: why an image and its mask disagree)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return _orientation_tag(im)
    except Exception:  # noqa: BLE001
        return 1


def image_size(path: PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image file as :func:`read_image` would return it (EXIF orientation applied), cheaply."""
    from PIL import Image

    p = Path(path)
    try:
        with Image.open(p) as im:
            w, h = _stored_size(im) or im.size  # (Pillow reports some TIFFs' turned size already)
            o = _orientation_tag(im)
    except Exception as e:
        raise DataError(f"{p}: not a readable image: {e}") from e
    return (w, h) if o in (5, 6, 7, 8) else (h, w)


# ---------------------------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------------------------
def _as_hwc(t: torch.Tensor | np.ndarray, path: Path) -> tuple[np.ndarray, bool]:
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        raise ValueError(f"{path}: save_png expects [3,H,W], [1,H,W] or [H,W], got shape {tuple(a.shape)}")
    is_mask = a.dtype == np.bool_
    if not is_mask and not np.isfinite(a).all():
        raise ValueError(f"{path}: refusing to save an image with NaN or inf values")
    return a.transpose(1, 2, 0), is_mask


def save_png(path: PathLike, tensor: torch.Tensor | np.ndarray, *, bits: int = 8) -> Path:
    """Write an image ``[3,H,W]`` / ``[1,H,W]`` float in [0, 1] (clipped, rounded) or a bool mask (0 / max) as PNG.

    ``bits`` is 8 or 16. The file is written to a temporary name and renamed, so a crash never leaves a half
    file. Returns the path.
    """
    import cv2

    p = Path(path)
    if bits not in (8, 16):
        raise ValueError(f"{p}: bits must be 8 or 16, got {bits}")
    a, is_mask = _as_hwc(tensor, p)
    maxv = 255 if bits == 8 else 65535
    dtype = np.uint8 if bits == 8 else np.uint16
    if is_mask:
        out = a.astype(dtype) * dtype(maxv)
    else:
        # float32 and ties to even, as bench.pixels.quantize rounds what a run stores (float64 put 639 of 3570 values
        # near (k + 0.5) / 255 one level away from the stored ones)
        out = np.rint(np.clip(a.astype(np.float32), np.float32(0), np.float32(1)) * np.float32(maxv)).astype(dtype)
    if out.shape[2] == 3:
        out = out[:, :, ::-1]  # RGB -> BGR for OpenCV
    else:
        out = out[:, :, 0]
    p.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(out))
    if not ok:
        raise OSError(f"{p}: PNG encoding failed")
    return write_bytes_atomic(p, buf.tobytes())


# ---------------------------------------------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------------------------------------------
def center_crop_square(t: torch.Tensor) -> torch.Tensor:
    """The largest centred square of ``[..., H, W]`` (the odd pixel, if any, is dropped from the bottom/right)."""
    h, w = t.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return t[..., top:top + s, left:left + s]


def resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``[C,H,W]`` or ``[B,C,H,W]`` to ``size = (H, W)``.

    Float images: bicubic with antialiasing (Pillow-like when shrinking), clipped to [0, 1]. Bool masks: nearest
    (``nearest-exact``, pixel centres), so a mask stays binary and aligned with its image.
    """
    size = (int(size[0]), int(size[1]))
    if tuple(t.shape[-2:]) == size:
        return t.clone()
    squeeze = t.dim() == 3
    x = t[None] if squeeze else t
    if t.dtype == torch.bool:
        y = F.interpolate(x.to(torch.uint8), size=size, mode="nearest-exact").bool()
    else:
        y = F.interpolate(x.float(), size=size, mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
        y = y.to(t.dtype) if t.dtype.is_floating_point else y
    return y[0] if squeeze else y


def fit_square(t: torch.Tensor, size: int) -> torch.Tensor:
    """Centre-crop ``[C,H,W]`` / ``[B,C,H,W]`` to a square and resize it to ``size x size``.

    Images are resized with antialiased bicubic interpolation, bool masks with nearest, so an image and its mask
    passed through ``fit_square`` separately stay aligned.
    """
    if int(size) < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return resize(center_crop_square(t), (int(size), int(size)))


__all__ = [
    "IMAGE_EXTENSIONS",
    "read_image",
    "read_mask",
    "orientation",
    "image_size",
    "save_png",
    "center_crop_square",
    "resize",
    "fit_square",
]
