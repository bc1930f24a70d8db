"""LaMa (Suvorov et al., WACV 2022) as the TorchScript ``big-lama.pt`` that IOPaint / lama-cleaner distribute.

The scripted module is called as ``model(image, mask)`` with image [B, 3, H, W] RGB in [0, 1] and mask
[B, 1, H, W] float (1 = hole), H and W multiples of 8, and returns [B, 3, H, W] RGB in [0, 1]: the
``JITWrapper`` of advimman/lama's ``bin/to_jit.py`` returns ``model(batch)["inpainted"]``, and IOPaint's
``iopaint/model/lama.py`` multiplies that by 255 for its own uint8 output. Some re-exports return 0..255 instead;
``output_scale: 255`` handles those (an output above 2 without it is an error, never silently rescaled).

Pre- and post-processing are the original's (advimman/lama ``saicinpainting/evaluation/data.py`` and
``bin/predict.py``; IOPaint 1.6 ``iopaint/helper.py`` and ``iopaint/model/lama.py``): the image and the mask are
padded bottom/right to a multiple of 8 with numpy's ``symmetric`` mode (the edge pixel repeated: the geometry's
``pad_mode``), the hole is the mask's nonzero pixels (the runner's bool mask), and the output is made 8-bit by
truncation, ``np.clip(x * 255, 0, 255).astype("uint8")`` (:func:`bench.pixels.truncate`; the runner's
``quantize`` then keeps it), then cropped back. So without ``fixed_size``/``max_side``/``crop_margin`` an output is
pixel for pixel what LaMa's ``predict.py`` and IOPaint's ``hd_strategy: Original`` write for the same image and mask
(``tests/test_backends_lama.py``).

The file is looked up, first hit wins: ``path`` if given; ``RunContext.weights_dir``; ``$INPAINT_BENCH_WEIGHTS``;
torch hub's cache ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch/hub/checkpoints``, where IOPaint downloads it).
Nothing is downloaded.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import BackendError, WeightsError
from ..pixels import truncate
from ..types import RunContext
from .base import Backend, Geometry

LAMA_FILE = "big-lama.pt"
LAMA_URL = "https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt"
LAMA_MD5 = "e3aa4aaa15225a33ec84f9f4bc47e500"  # IOPaint's LAMA_MODEL_MD5


def candidate_dirs(ctx: RunContext | None) -> list[Path]:
    dirs: list[Path] = []
    if ctx is not None and ctx.weights_dir:
        dirs.append(Path(ctx.weights_dir))
    if os.environ.get("INPAINT_BENCH_WEIGHTS"):
        dirs.append(Path(os.environ["INPAINT_BENCH_WEIGHTS"]))
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    dirs.append(torch_home / "hub" / "checkpoints")
    return [d.expanduser() for d in dirs]


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class LamaBackend(Backend):
    """LaMa big-lama, the TorchScript file IOPaint distributes (big-lama.pt); pads to a multiple of 8."""

    #: LaMa's own padding (``pad_img_to_modulo``: numpy "symmetric", bottom/right, image and mask alike)
    geometry = Geometry(pad_multiple=8, pad_mode="symmetric")
    #: 2: symmetric padding and truncation to 8 bits, as LaMa's and IOPaint's code (1: reflect, rounding)
    version = 2

    def __init__(self, path: str | None = None, md5: str | None = None, output_scale: float = 1.0,
                 fixed_size: int | None = None, max_side: int | None = None, crop_margin: int | None = None):
        if output_scale <= 0:
            raise ValueError(f"output_scale must be > 0, got {output_scale}")
        self.path = path
        self.md5 = md5
        self.output_scale = float(output_scale)
        self.geometry = type(self).geometry.override(fixed_size=fixed_size, max_side=max_side,
                                                          crop_margin=crop_margin)
        self.model: Any = None
        self.device = torch.device("cpu")
        self.resolved: Path | None = None

    def resolve(self, ctx: RunContext | None) -> Path:
        if self.path:
            p = Path(self.path).expanduser()
            if p.is_file():
                return p
            raise WeightsError(f"lama: weights file '{p}' not found. It is {LAMA_FILE} from {LAMA_URL} "
                               f"(md5 {LAMA_MD5}); download it and set path: to where you put it")
        dirs = candidate_dirs(ctx)
        for d in dirs:
            if (d / LAMA_FILE).is_file():
                return d / LAMA_FILE
        raise WeightsError(
            f"lama: {LAMA_FILE} not found in {', '.join(str(d) for d in dirs)}. Download it from {LAMA_URL} "
            f"(md5 {LAMA_MD5}) and put it in one of those folders (the suite's weights_dir, $INPAINT_BENCH_WEIGHTS "
            f"or torch hub's checkpoints folder), or set path: to the file")

    def check_weights(self, ctx: RunContext) -> None:
        self.resolve(ctx)  # the md5 (a full read) is checked at setup

    def weights_files(self, ctx: RunContext) -> list[Any]:
        return [self.resolve(ctx)]

    def setup(self, ctx: RunContext) -> None:
        self.device = torch.device(ctx.device)
        path = self.resolve(ctx)
        if self.md5 and md5sum(path) != self.md5.lower():
            raise WeightsError(f"lama: '{path}' has md5 {md5sum(path)}, expected {self.md5} ({LAMA_URL})")
        try:
            self.model = torch.jit.load(str(path), map_location=self.device).eval()
        except RuntimeError as e:
            raise WeightsError(f"lama: '{path}' is not a TorchScript module ({e}); expected {LAMA_FILE} from "
                               f"{LAMA_URL}") from e
        self.resolved = path

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> torch.Tensor:
        x = image.to(self.device, torch.float32)
        m = mask.to(self.device).float()
        with torch.no_grad():
            out = self.model(x, m).float() / self.output_scale
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        top = float(out.max()) if out.numel() else 0.0
        if top > 2.0:  # never rescale silently: some exports return 0..255 (lama's to_jit.py variants differ)
            raise BackendError(f"lama: the module returned values up to {top:.1f}, expected [0, 1]; if this export "
                               f"returns 0..255, set output_scale: 255")
        return truncate(out)  # the original's astype("uint8") truncates; the runner's quantize keeps this grid point

    def teardown(self) -> None:
        self.model = None

    def provenance(self) -> dict[str, Any]:
        prov: dict[str, Any] = {"file": str(self.resolved) if self.resolved else self.path, "origin": LAMA_URL,
                                "torch": torch.__version__}
        if self.resolved is not None:
            try:
                prov["size_bytes"] = self.resolved.stat().st_size
            except OSError:
                pass
        if self.md5:
            prov["md5"] = self.md5
        return prov
