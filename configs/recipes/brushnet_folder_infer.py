"""Folder adapter for BrushNet (TencentARC, ECCV 2024) through IOPaint 1.x, run with IOPaint's own python.

Why an adapter: ``iopaint run`` (iopaint/batch_processing.py) builds ``ModelManager(name=model, device=device)``
with no other arguments; a request with ``enable_brushnet`` then makes the manager build ``BrushNetWrapper``,
whose ``init_model`` reads ``kwargs["disable_nsfw"]`` and ``kwargs["sd_cpu_textencoder"]``: ``iopaint run
--config brushnet.json`` stops with ``KeyError: 'disable_nsfw'`` (seen with IOPaint 1.6.0). This script builds the
same ``ModelManager`` with the arguments BrushNet needs (BrushNet enabled from the start, NSFW checker off, text
encoder on the model's device) and otherwise does what ``iopaint run`` does:

* images are ``*.png|*.jpg|*.jpeg`` of ``--image_dir``; the mask of an image is the file of ``--mask_dir`` with
  the same stem (an image without one is skipped and named on stderr); a mask of another size is resized to the
  image's (nearest), then binarised at 127 (>= 127: hole, 255; else 0);
* each image is inpainted with one ``InpaintRequest`` (``enable_brushnet``, ``brushnet_method``, ``sd_seed``,
  ``sd_steps``, ``sd_guidance_scale``, ``prompt``, ``sd_mask_blur``, ``hd_strategy`` "Original", IOPaint's
  defaults otherwise) and written as ``--output_dir/<stem>.png`` (RGB, 8-bit).
* ``sd_mask_blur`` is 0 here, not IOPaint's 11: IOPaint keeps the unmasked area by blending its input back in
  through the *blurred* mask, which would mix the harness's blanked (grey) hole into the edge of the result.
  With 0 the pixels outside the hole are the input's, the hole is the model's.

IOPaint seeds every image with ``torch.manual_seed(sd_seed)``, so all images of one call share ``--seed``.

    ~/venvs/iopaint/bin/python configs/recipes/brushnet_folder_infer.py \\
        --model stable-diffusion-v1-5/stable-diffusion-v1-5 --brushnet Sanster/brushnet_random_mask \\
        --image_dir IN --mask_dir MASKS --output_dir OUT --device cuda --seed 0

``--model`` is a name IOPaint's model scan knows (iopaint/download.py ``scan_models``: a diffusers pipeline in the
Hugging Face cache, named ``owner/name``, which is what was run; or a folder under
``$XDG_CACHE_HOME/stable_diffusion/``, read from the source only); ``--brushnet`` a Hugging Face id (run) or a
local folder (diffusers' ``from_pretrained`` takes one; not run). Offline, set ``HF_HUB_OFFLINE=1``.

The file reads and writes with numpy and Pillow only, and imports IOPaint only to build the model
(:func:`load_model`), so its folder handling can be tested without IOPaint.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

IMAGE_EXTS = (".png", ".jpg", ".jpeg")
BRUSHNET_METHODS = ("Sanster/brushnet_random_mask", "Sanster/brushnet_segmentation_mask")

# model(image RGB uint8 [H, W, 3], mask uint8 [H, W] in {0, 255}, request fields) -> RGB uint8 [H, W, 3]
Model = Callable[[np.ndarray, np.ndarray, dict], np.ndarray]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="BrushNet through IOPaint 1.x over a folder of images and masks")
    ap.add_argument("--model", default="stable-diffusion-v1-5/stable-diffusion-v1-5",
                    help="SD 1.5 (non-inpainting) base, as IOPaint's model scan names it")
    ap.add_argument("--brushnet", default=BRUSHNET_METHODS[0],
                    help=f"BrushNet weights: {' or '.join(BRUSHNET_METHODS)}, or a local folder")
    ap.add_argument("--image_dir", required=True)
    ap.add_argument("--mask_dir", required=True)
    ap.add_argument("--output_dir", required=True)
    ap.add_argument("--device", default="cuda", choices=("cpu", "cuda", "mps"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--conditioning_scale", type=float, default=1.0)
    ap.add_argument("--prompt", default="")
    ap.add_argument("--negative_prompt", default="")
    ap.add_argument("--mask_blur", type=int, default=0,
                    help="IOPaint's sd_mask_blur (its default 11 blends the given image into the hole's edge; "
                         "the harness gives a blanked image, so 0)")
    ap.add_argument("--no_half", action="store_true", help="float32 on CUDA (IOPaint uses float16 there)")
    return ap.parse_args(argv)


def request_fields(args: argparse.Namespace) -> dict:
    """The ``InpaintRequest`` fields this script sets; IOPaint's defaults stand for the rest."""
    return {"enable_brushnet": True, "brushnet_method": args.brushnet,
            "brushnet_conditioning_scale": args.conditioning_scale, "sd_seed": args.seed, "sd_steps": args.steps,
            "sd_guidance_scale": args.guidance, "prompt": args.prompt, "negative_prompt": args.negative_prompt,
            "sd_mask_blur": args.mask_blur, "hd_strategy": "Original"}


def glob_images(folder: Path) -> dict[str, Path]:
    """``stem -> path`` of the png/jpg/jpeg files of a folder (iopaint/batch_processing.py ``glob_images``)."""
    return {p.stem: p for p in sorted(folder.glob("*.*")) if p.suffix.lower() in IMAGE_EXTS}


def pair(image_dir: Path, mask_dir: Path) -> tuple[list[tuple[str, Path, Path]], list[Path]]:
    """(stem, image, mask) for each image with a same-stem mask, in stem order; and the images without one."""
    images, masks = glob_images(image_dir), glob_images(mask_dir)
    pairs = [(s, p, masks[s]) for s, p in sorted(images.items()) if s in masks]
    return pairs, [p for s, p in sorted(images.items()) if s not in masks]


def binarise(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A grayscale mask resized (nearest) to ``size`` = (H, W) if it differs, then 255 where >= 127, else 0."""
    if mask.shape[:2] != tuple(size):
        mask = np.array(Image.fromarray(mask).resize((size[1], size[0]), Image.NEAREST))
    return np.where(mask >= 127, 255, 0).astype(np.uint8)


def load_model(args: argparse.Namespace) -> Model:
    """IOPaint's ``ModelManager`` with BrushNet enabled, wrapped as a :data:`Model` (RGB in, RGB out)."""
    from iopaint.model_manager import ModelManager
    from iopaint.schema import InpaintRequest

    manager = ModelManager(name=args.model, device=args.device, enable_brushnet=True,
                           brushnet_method=args.brushnet, disable_nsfw=True, sd_cpu_textencoder=False,
                           no_half=args.no_half)

    def model(image: np.ndarray, mask: np.ndarray, fields: dict) -> np.ndarray:
        bgr = manager(image, mask, InpaintRequest(**fields))
        return np.ascontiguousarray(bgr[:, :, ::-1])

    return model


def run(args: argparse.Namespace, model: Model) -> list[Path]:
    """Inpaint every paired image of ``args.image_dir``; returns the files written."""
    pairs, unpaired = pair(Path(args.image_dir), Path(args.mask_dir))
    for p in unpaired:
        print(f"mask for {p} not found (expected {Path(args.mask_dir) / p.stem}.png): skipped", file=sys.stderr)
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fields, written = request_fields(args), []
    for stem, image_path, mask_path in pairs:
        image = np.array(Image.open(image_path).convert("RGB"))
        mask = binarise(np.array(Image.open(mask_path).convert("L")), image.shape[:2])
        result = np.asarray(model(image, mask, dict(fields)))
        if result.shape != image.shape or result.dtype != np.uint8:
            raise ValueError(f"{image_path.name}: the model returned {result.dtype} {result.shape}, "
                             f"expected uint8 {image.shape}")
        Image.fromarray(result, "RGB").save(out_dir / f"{stem}.png")
        written.append(out_dir / f"{stem}.png")
    return written


def main(argv: list[str] | None = None, model_factory: Callable[[argparse.Namespace], Model] = load_model) -> int:
    args = parse_args(argv)
    run(args, model_factory(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
