"""The reference-free removal metrics ``remove``, ``cfd`` and ``rcs`` against transcriptions of their original code.

Each exactness test transcribes the original repository's computation (file and commit cited at the function) and
runs it on the same tiny random-weight network (built from a config with a fixed seed) and the same images
(scikit-image's bundled photos written as PNG files, read back as the originals read theirs) as the project's
metric: equal to 1e-5 relative.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from bench.types import EvalBatch, RunContext

transformers = pytest.importorskip("transformers")
skdata = pytest.importorskip("skimage.data")

CPU = RunContext(device=torch.device("cpu"), weights="random", seed=0)
REL = 1e-5


def photos() -> dict[str, np.ndarray]:
    """uint8 RGB photos shipped with scikit-image (square, landscape, small)."""
    return {"astronaut": skdata.astronaut()[::2, ::2].copy(), "coffee": skdata.coffee()[::2, ::2].copy(),
            "chelsea": skdata.chelsea().copy()}


def ellipse_mask(h: int, w: int, box: tuple[float, float, float, float]) -> np.ndarray:
    """uint8 mask (255 = hole): an ellipse in the box (fractions x0, y0, x1, y1 of the image)."""
    m = Image.new("L", (w, h), 0)
    ImageDraw.Draw(m).ellipse([box[0] * w, box[1] * h, box[2] * w, box[3] * h], fill=255)
    return np.asarray(m).copy()


def two_blobs(h: int, w: int) -> np.ndarray:
    """Two separate holes: an ellipse and a rectangle."""
    m = Image.fromarray(ellipse_mask(h, w, (0.15, 0.2, 0.45, 0.55)))
    ImageDraw.Draw(m).rectangle([int(0.6 * w), int(0.55 * h), int(0.85 * w), int(0.8 * h)], fill=255)
    return np.asarray(m).copy()


def cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    p = photos()
    a, c, k = p["astronaut"], p["coffee"], p["chelsea"]
    return [("astronaut", a, ellipse_mask(*a.shape[:2], (0.3, 0.25, 0.65, 0.7))),
            ("coffee", c, two_blobs(*c.shape[:2])),
            ("chelsea-edge", k, ellipse_mask(*k.shape[:2], (0.0, 0.5, 0.3, 1.0)))]  # touches two borders


def eval_batch(images: list[np.ndarray], masks: list[np.ndarray]) -> EvalBatch:
    x = torch.stack([torch.from_numpy(i).permute(2, 0, 1).float() / 255 for i in images])
    m = torch.stack([torch.from_numpy(k > 127)[None] for k in masks])
    b = x.shape[0]
    sizes = [tuple(i.shape[:2]) for i in images]
    return EvalBatch(sample_ids=[str(i) for i in range(b)], output=x, raw=x, input=x, blanked=x, mask=m, gt=x,
                     has_gt=torch.zeros(b, dtype=torch.bool), raw_sizes=sizes, model_sizes=sizes)


def write_pair(tmp_path, name: str, image: np.ndarray, mask: np.ndarray) -> tuple[str, str]:
    ip, mp = tmp_path / f"{name}.png", tmp_path / f"{name}_mask.png"
    Image.fromarray(image).save(ip)
    Image.fromarray(mask).save(mp)
    return str(ip), str(mp)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-7)


# ------------------------------------------------------------------------------------------------------------------
# remove: chandrasekaraditya/ReMOVE @ b29742650671091370eefea9209d3ff886f9ed2c
# ------------------------------------------------------------------------------------------------------------------
def tiny_sam_for_remove():
    """The tiny SAM with ReMOVE's 256 embedding channels (its code hard-codes them) and a 64 x 64 grid."""
    from bench.metrics import removal_nets as N

    cfg = N._merge(N.TINY["sam"], {"vision_config": {"output_channels": 256}})
    return N.load("sam", "random", seed=0, config=cfg)[0]


def remove_find_smallest_bounding_square(binary_image):
    """Transcribed from ReMOVE crop.py ``find_smallest_bounding_square`` (commit b297426)."""
    if len(binary_image.shape) == 3:
        binary_image = np.array(Image.fromarray(binary_image).convert("L"))
    white_pixels = np.argwhere(binary_image == 255)
    if not white_pixels.any():
        return None
    min_row = np.min(white_pixels[:, 0])
    max_row = np.max(white_pixels[:, 0])
    min_col = np.min(white_pixels[:, 1])
    max_col = np.max(white_pixels[:, 1])
    width = max_col - min_col + 1
    height = max_row - min_row + 1
    size = max(width, height)
    sub = 16 if (min_col - 16 >= 0 and min_row - 16 >= 0 and max_row + 16 <= binary_image.shape[0]
                 and max_col + 16 <= binary_image.shape[1]) else max(min(min_col, min_row, binary_image.shape[0] -
                                                                         max_row, binary_image.shape[1] - max_col), 0)
    top_left_x = min_col - sub
    top_left_y = min_row - sub
    return top_left_x, top_left_y, size + 2 * sub


def remove_original(sam, image_path: str, mask_path: str, crop: bool) -> float:
    """Transcribed from ReMOVE main.py ``get_score`` and segment_anything/predictor.py ``get_aggregate_features``
    (+ utils/transforms.py ``ResizeLongestSide``, modeling/sam.py ``preprocess``) at commit b297426; the image
    encoder is the given transformers SAM's (``get_image_embeddings``), its input side the config's."""
    from torchvision.transforms.functional import resize, to_pil_image

    img_size = sam.config.vision_config.image_size
    if crop:
        binary_image = np.array(Image.open(mask_path))
        x, y, size = remove_find_smallest_bounding_square(binary_image)
        input_img = np.array(Image.open(image_path).convert("RGB"))[y:y + size, x:x + size]
        mask_fg = np.array(Image.fromarray(np.array(Image.open(mask_path).convert("L"))[y:y + size, x:x + size])
                           .resize((64, 64))).reshape((1, 1, 64, 64)) // 255
        mask_bg = 1 - mask_fg
    else:
        input_img = np.array(Image.open(image_path).convert("RGB"))
        mask_fg = np.array(Image.open(mask_path).resize((64, 64))).reshape((1, 1, 64, 64)) // 255
        mask_bg = 1 - mask_fg
    # predictor.get_aggregate_features
    h, w = input_img.shape[:2]
    scale = img_size * 1.0 / max(h, w)
    target_size = (int(h * scale + 0.5), int(w * scale + 0.5))
    input_image = np.array(resize(to_pil_image(input_img), target_size))
    input_image_torch = torch.as_tensor(input_image).permute(2, 0, 1).contiguous()[None, :, :, :]
    pixel_mean = torch.Tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
    pixel_std = torch.Tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)
    x = (input_image_torch - pixel_mean) / pixel_std
    hh, ww = x.shape[-2:]
    x = F.pad(x, (0, img_size - ww, 0, img_size - hh))
    with torch.no_grad():
        features = sam.get_image_embeddings(x)
    emb = []
    for mask in [mask_fg, mask_bg]:
        mask = torch.as_tensor(mask).bool()  # the original indexes with the uint8 0/1 array (a boolean mask)
        active_features = features[mask.repeat((1, 256, 1, 1))].reshape((1, 256, -1))
        emb.append(active_features.mean(2))
    return F.cosine_similarity(emb[0], emb[1]).item()


@pytest.mark.parametrize("crop", [False, True])
def test_remove_equals_the_original(tmp_path, crop, one_thread):
    from bench.metrics.remove import ReMOVE

    sam = tiny_sam_for_remove()
    m = ReMOVE(crop=crop)
    m.use_model(sam)
    key = "remove_crop" if crop else "remove"
    got = []
    for name, image, mask in cases():
        g = float(m.compute(eval_batch([image], [mask]))[key][0])
        want = remove_original(sam, *write_pair(tmp_path, name, image, mask), crop=crop)
        assert close(g, want), (name, g, want)
        got.append(g)
    assert len(set(np.round(got, 6))) == len(got)  # different numbers, not one constant
    # a batch of two (same image, two masks) gives each sample its own value
    image, mask = cases()[0][1], cases()[0][2]
    both = m.compute(eval_batch([image, image], [mask, mask[::-1].copy()]))[key]
    assert close(float(both[0]), got[0])
    assert close(float(both[1]), remove_original(sam, *write_pair(tmp_path, "flip", image, mask[::-1].copy()), crop))


def test_remove_crop_box_runs_past_the_border_as_the_original_does():
    """A wide hole at the bottom edge: the square runs past the image; numpy slicing cuts it short (both)."""
    from bench.metrics.remove import bounding_square

    mask = np.zeros((100, 200), np.uint8)
    mask[90:99, 20:180] = 255
    assert bounding_square(mask) == tuple(int(v) for v in remove_find_smallest_bounding_square(mask))
    x, y, s = bounding_square(mask)
    assert (x, y, s) == (18, 88, 164)  # grown by 2 px: the hole ends 2 px above the bottom border
    assert bounding_square(np.zeros((8, 8), np.uint8)) is None
