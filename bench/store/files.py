"""The files beside a run's store: one name rule for sample ids, 8-bit PNG outputs, and where each file lives.

Layout of a run folder (``results/<run-id>/``)::

    generations/<generation key>/<file>.png     the model's output (raw: never pasted back), 8-bit RGB PNG
    inputs/<input key>/<file>_input.png         with ``save_inputs``: the image (not blanked), the mask, and the
    inputs/<input key>/<file>_mask.png          ground truth (when the sample has one), for the HTML report
    inputs/<input key>/<file>_gt.png

``<file>`` is :func:`sample_filename` of the sample id: the id itself when it is a plain file name, else a
cleaned-up name plus a short hash (so ``a/b`` or ``<x&y>`` can neither escape the folder nor collide). Every writer
and reader (runner, exports, HTML report, the ``outputs`` backend) uses this one rule.

Outputs are stored and scored as 8-bit images, as published evaluations read PNGs: :func:`quantize` (round half
to even of ``x * 255`` after clamping to [0, 1]) and :func:`dequantize` (``u8 / 255`` in float32) are the only
conversions, so scoring right after generation (from the in-memory ``uint8``) and later (from the PNG) see
bit-identical pixels.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import torch

_PLAIN = re.compile(r"^[A-Za-z0-9_+=-][A-Za-z0-9_.+=-]{0,119}$")


def sample_filename(sample_id: str) -> str:
    """A file-name stem for a sample id that cannot leave its folder; ids that needed changes get a hash suffix."""
    s = str(sample_id)
    if _PLAIN.match(s):
        return s
    safe = re.sub(r"[^A-Za-z0-9_.+=-]", "_", s).lstrip(".")[:100] or "_"
    return f"{safe}-{hashlib.sha256(s.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


def output_path(run_dir: Path, gen_key: str, sample_id: str, create: bool = False) -> Path:
    """Where a generation's output lives; ``create``: make (and check) its folder for writing."""
    d = confined_dir(run_dir, "generations", gen_key) if create else Path(run_dir) / "generations" / gen_key
    return d / f"{sample_filename(sample_id)}.png"


def input_path(run_dir: Path, input_key: str, sample_id: str, kind: str, create: bool = False) -> Path:
    """``kind``: input, mask or gt; ``create`` as for :func:`output_path`."""
    d = confined_dir(run_dir, "inputs", input_key) if create else Path(run_dir) / "inputs" / input_key
    return d / f"{sample_filename(sample_id)}_{kind}.png"


def quantize(x: "torch.Tensor") -> "torch.Tensor":
    """Float images in [0, 1] (any shape) -> uint8 (clamped, ``round(x * 255)``, ties to even)."""
    import torch

    return torch.round(x.detach().float().clamp(0.0, 1.0) * 255.0).to(torch.uint8)


def dequantize(u8: "torch.Tensor") -> "torch.Tensor":
    """uint8 -> float32 in [0, 1] (``u8 / 255``)."""
    return u8.float() / 255.0


def confined_dir(root: Path, *parts: str) -> Path:
    """``root/parts...``, each part created when missing; a part that is a symbolic link is refused, so nothing is
    ever written through a link planted inside a run folder (the run folder itself may be a link you made)."""
    from ..errors import BenchError

    d = Path(root)
    for part in parts:
        d = d / part
        if d.is_symlink():
            raise BenchError(f"{d} is a symbolic link; inpaint-bench never writes through links inside a run folder "
                             f"(remove the link, or start over with --fresh, which removes links, not their targets)")
        d.mkdir(exist_ok=True)
    return d


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to a fresh temporary file in the same folder, then rename it over ``path``: never half a
    file, and a link planted at ``path`` is replaced, not written through."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_png(path: Path, u8: "torch.Tensor | np.ndarray") -> Path:
    """Write a uint8 image ``[3, H, W]`` (RGB) or ``[1, H, W]`` / ``[H, W]`` (grey, e.g. a mask as 0/255) as a PNG:
    to a temporary file in the same folder, then renamed (never half a file, never through a planted link)."""
    import cv2

    a = u8.detach().cpu().numpy() if hasattr(u8, "detach") else np.asarray(u8)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 pixels, got {a.dtype}")
    if a.ndim == 3 and a.shape[0] == 3:
        a = np.ascontiguousarray(a.transpose(1, 2, 0)[:, :, ::-1])  # RGB CHW -> BGR HWC
    elif a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(a))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    return write_bytes_atomic(Path(path), buf.tobytes())


def read_png_u8(path: Path) -> "torch.Tensor":
    """An 8-bit RGB PNG as uint8 ``[3, H, W]`` (grey files are repeated to 3 channels; alpha is dropped).

    Raises :class:`DataError` naming the file when it is missing, not an 8-bit image, or unreadable."""
    import cv2
    import torch

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    a = cv2.imdecode(np.fromfile(str(p), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if a is None:
        raise DataError(f"{p}: not a readable image")
    if a.dtype != np.uint8:
        raise DataError(f"{p}: expected 8 bits per channel, the file has {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    elif a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(a[:, :, ::-1].transpose(2, 0, 1)))


def blanked_u8(image: "torch.Tensor", mask: "torch.Tensor") -> "torch.Tensor":
    """What a backend is given, as 8 bits: the image with the hole set to the blank value (128)."""
    import torch

    from ..runner.plan import BLANK_VALUE

    return quantize(torch.where(mask.bool(), torch.full_like(image, BLANK_VALUE), image))


def blanked_digests(image: "torch.Tensor", mask: "torch.Tensor") -> dict[str, str]:
    """SHA-256 of exactly what a backend is given (the blanked 8-bit image) and of the mask, with their shapes:
    outputs made elsewhere are checked against them, so they are never scored against another mask."""
    img = blanked_u8(image, mask).cpu().contiguous().numpy()
    m = np.packbits(mask.detach().cpu().bool().numpy().ravel())
    h_img = hashlib.sha256(f"u8{img.shape}".encode() + img.tobytes()).hexdigest()
    h_mask = hashlib.sha256(f"mask{tuple(mask.shape)}".encode() + m.tobytes()).hexdigest()
    return {"input_sha256": h_img, "mask_sha256": h_mask}


def read_manifest(run_dir: Path) -> "dict | None":
    """A run folder's ``manifest.json`` as a dict; None when there is none; a :class:`~bench.errors.BenchError`
    naming the file when it is not a file, not JSON, or not a JSON object."""
    import json

    from ..errors import BenchError

    mp = Path(run_dir) / "manifest.json"
    if not mp.exists():
        return None
    if not mp.is_file():
        raise BenchError(f"{mp}: not a file")
    try:
        m = json.loads(mp.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise BenchError(f"{mp}: invalid JSON ({str(e)[:200]})") from None
    if not isinstance(m, dict):
        raise BenchError(f"{mp}: not a run manifest (expected a JSON object, got {type(m).__name__})")
    return m
