"""Classical (weight-free) inpainting backends and the trivial baselines.

These run on the CPU with NumPy; tensors on another device are copied over and the result is returned on the
input's device. They accept any image size (default :class:`Geometry`).

For the OpenCV methods the image is quantised to uint8 (what ``cv2.inpaint`` takes); OpenCV leaves pixels outside
the hole unchanged, so the backend returns the float input there (no quantisation noise outside the hole) and
OpenCV's fill, divided by 255, inside it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .base import Backend


def _to_hwc(image: torch.Tensor) -> np.ndarray:
    """[3, H, W] float tensor -> [H, W, 3] float32 array."""
    return image.detach().float().cpu().permute(1, 2, 0).numpy()


def _from_hwc(arrays: list[np.ndarray], like: torch.Tensor) -> torch.Tensor:
    out = torch.from_numpy(np.stack(arrays).astype(np.float32)).permute(0, 3, 1, 2)
    return out.to(like.device).contiguous()


def to_uint8(image_hwc: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8 by rounding (the conversion the OpenCV backends use)."""
    return np.clip(np.rint(image_hwc * 255.0), 0, 255).astype(np.uint8)


def inpaint_opencv(x: np.ndarray, hole: np.ndarray, method: str = "telea", radius: float = 3) -> np.ndarray:
    """OpenCV's inpainting of one float [H, W, 3] image in [0, 1] (``method``: telea | ns): the 8-bit fill inside
    the hole, the float input outside it. The calibration cases use this same function."""
    import cv2

    flag = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[method]
    filled = cv2.inpaint(to_uint8(x), hole.astype(np.uint8) * 255, float(radius), flag)
    return np.where(hole[..., None], filled.astype(np.float32) / 255.0, x)


def inpaint_biharmonic(x: np.ndarray, hole: np.ndarray, split_into_regions: bool = False) -> np.ndarray:
    """scikit-image's biharmonic inpainting of one float [H, W, 3] image, clipped to [0, 1] (an all-hole image:
    mid-grey, nothing to extrapolate from)."""
    from skimage.restoration import inpaint_biharmonic as _biharmonic

    if hole.any() and not hole.all():
        x = _biharmonic(x, hole, channel_axis=-1, split_into_regions=split_into_regions)
    elif hole.all():
        x = np.full_like(x, 0.5)
    return np.clip(x, 0.0, 1.0).astype(np.float32)


class _OpenCVBackend(Backend):
    flag_name = ""
    method = ""

    def __init__(self, radius: int = 3):
        if radius < 1:
            raise ValueError(f"radius must be >= 1, got {radius}")
        self.radius = radius

    def setup(self, ctx: Any) -> None:
        import cv2  # noqa: F401  (load time: an import on the first call would be timed as that batch's latency)

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> torch.Tensor:
        outs = [inpaint_opencv(_to_hwc(img), m[0].detach().cpu().numpy().astype(bool), self.method, self.radius)
                for img, m in zip(image, mask)]
        return _from_hwc(outs, image)

    def provenance(self) -> dict[str, Any]:
        import cv2

        return {"opencv": cv2.__version__, "method": self.flag_name, "radius": self.radius}


class TeleaBackend(_OpenCVBackend):
    """OpenCV inpainting, Telea's fast marching method (cv2.INPAINT_TELEA)."""

    flag_name = "INPAINT_TELEA"
    method = "telea"


class NSBackend(_OpenCVBackend):
    """OpenCV inpainting, Navier-Stokes based (cv2.INPAINT_NS)."""

    flag_name = "INPAINT_NS"
    method = "ns"


class BiharmonicBackend(Backend):
    """scikit-image biharmonic inpainting (skimage.restoration.inpaint_biharmonic)."""

    def __init__(self, split_into_regions: bool = False):
        self.split_into_regions = split_into_regions

    def setup(self, ctx: Any) -> None:
        # load time: scikit-image's inpainting loads scipy.sparse and more (about 90 modules, 0.1 s here; some only
        # when first run, through scikit-image's lazy loader), which the first batch's latency held when it
        # happened on the first call; one tiny fill here loads them all
        hole = np.zeros((8, 8), dtype=bool)
        hole[3:5, 3:5] = True
        inpaint_biharmonic(np.zeros((8, 8, 3), dtype=np.float32), hole, self.split_into_regions)

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> torch.Tensor:
        outs = [inpaint_biharmonic(_to_hwc(img), m[0].detach().cpu().numpy().astype(bool), self.split_into_regions)
                for img, m in zip(image, mask)]
        return _from_hwc(outs, image)

    def provenance(self) -> dict[str, Any]:
        import skimage

        return {"scikit-image": skimage.__version__, "split_into_regions": self.split_into_regions}


class MeanFillBackend(Backend):
    """Baseline: fills the hole with the mean colour of the image's known (non-hole) pixels."""

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> torch.Tensor:
        known = (~mask).to(image.dtype)  # [B, 1, H, W]
        count = known.sum(dim=(2, 3), keepdim=True)  # [B, 1, 1, 1]
        mean = (image * known).sum(dim=(2, 3), keepdim=True) / count.clamp(min=1)
        mean = torch.where(count > 0, mean, torch.full_like(mean, 0.5))  # all hole: mid-grey
        return torch.where(mask, mean.expand_as(image), image)


class IdentityBackend(Backend):
    """Baseline: returns its input unchanged (scores what the untouched blanked hole scores)."""

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> torch.Tensor:
        return image.clone()
