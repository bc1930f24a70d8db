"""The files beside a run's store: one name rule for sample ids, 8-bit PNG outputs, and where each file lives.

Layout of a run folder (``results/<run-id>/``)::

    generations/<generation key>/<file>.png     the model's output (raw: never pasted back), 8-bit RGB PNG
    inputs/<input key>/<file>_input.png         with ``save_inputs``: the image (not blanked), the mask, and the
    inputs/<input key>/<file>_mask.png          ground truth (when the sample has one), for the HTML report
    inputs/<input key>/<file>_gt.png

``<file>`` is :func:`sample_filename` of the sample id: the id itself when it is a plain file name, else a
cleaned-up name plus a short hash (so ``a/b`` or ``<x&y>`` can neither escape the folder nor collide). Every writer
and reader (runner, exports, HTML report, study page, the ``outputs`` backend) uses this one rule; a reader of a
run folder asks :func:`output_path` / :func:`input_path`, never joins the parts itself.

Images are 8-bit (:mod:`bench.pixels` has the one conversion each way); files are written atomically through
:mod:`bench.fsio`.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from ..fsio import confined_dir, sample_filename, write_bytes_atomic

if TYPE_CHECKING:  # pragma: no cover
    import torch

def output_path(run_dir: Path, gen_key: str, sample_id: str, create: bool = False) -> Path:
    """Where a generation's output lives; ``create``: make (and check) its folder for writing."""
    d = confined_dir(run_dir, "generations", gen_key) if create else Path(run_dir) / "generations" / gen_key
    return d / f"{sample_filename(sample_id)}.png"


def input_path(run_dir: Path, input_key: str, sample_id: str, kind: str, create: bool = False) -> Path:
    """``kind``: input, mask or gt; ``create`` as for :func:`output_path`."""
    d = confined_dir(run_dir, "inputs", input_key) if create else Path(run_dir) / "inputs" / input_key
    return d / f"{sample_filename(sample_id)}_{kind}.png"


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
