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


# ------------------------------------------------------------------------------------------------------------------
# dinov2-giant's preprocessor_config.json (BitImageProcessor): what CFD's and PROVE's AutoImageProcessor load
# ------------------------------------------------------------------------------------------------------------------
DINOV2_PREPROCESSOR = dict(do_resize=True, size={"shortest_edge": 256}, resample=3, do_center_crop=True,
                           crop_size={"height": 224, "width": 224}, do_rescale=True, rescale_factor=1 / 255,
                           do_normalize=True, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
                           do_convert_rgb=True)


def tiny_dino():
    from bench.metrics import removal_nets as N

    return N.load("dinov2", "random", seed=0, config=N.TINY["dinov2"])[0]


# ------------------------------------------------------------------------------------------------------------------
# rcs: xiaomi-research/prove @ 7ca299a7a5e12f0fb8285fb58ae744f691607b35
# ------------------------------------------------------------------------------------------------------------------
def prove_find_bounding_square_1_3(binary_image):
    """Transcribed from PROVE utils/bbox.py ``find_bounding_square_1_3`` (commit 7ca299a)."""
    expansion_ratio = 1 / 3
    mask = Image.fromarray(binary_image).convert("L")
    bbox = mask.getbbox()
    if bbox is None:
        return None
    left, upper, right, lower = bbox
    width = right - left
    height = lower - upper
    size = max(width, height)
    cx = (left + right) / 2.0
    cy = (upper + lower) / 2.0
    start_x = int(round(cx - size / 2))
    start_y = int(round(cy - size / 2))
    img_w, img_h = mask.size
    dist_left = start_x
    dist_top = start_y
    dist_right = img_w - (start_x + size)
    dist_bottom = img_h - (start_y + size)
    sub_target = int(round(size * expansion_ratio))
    sub = min(sub_target, dist_left, dist_top, dist_right, dist_bottom, size // 2)
    sub = max(sub, 0)
    top_left_x = start_x - sub
    top_left_y = start_y - sub
    final_size = size + 2 * sub
    max_size = min(img_w, img_h)
    if final_size > max_size:
        final_size = max_size
    top_left_x = max(0, top_left_x)
    top_left_y = max(0, top_left_y)
    top_left_x = min(top_left_x, img_w - final_size)
    top_left_y = min(top_left_y, img_h - final_size)
    top_left_x = max(0, top_left_x)
    top_left_y = max(0, top_left_y)
    return int(top_left_x), int(top_left_y), int(top_left_x + final_size), int(top_left_y + final_size)


class ProveDinoPredictor:
    """Transcribed from PROVE utils/predictors.py ``DinoPredictor`` (``set_image``, ``get_convolutional_metrics``,
    ``compute_rbf_mmd``; commit 7ca299a), on the CPU."""

    def __init__(self, model, processor, target_size=448):
        self.model, self.processor, self.target_size, self.patch_size = model, processor, target_size, 14

    @torch.no_grad()
    def set_image(self, image):
        import cv2

        orig_H, orig_W = image.shape[:2]
        scale = self.target_size / max(orig_H, orig_W)
        new_H, new_W = int(orig_H * scale), int(orig_W * scale)
        self._resize_hw = (new_H, new_W)
        image_resized = cv2.resize(image, (new_W, new_H), interpolation=cv2.INTER_LINEAR)
        pad_h = (self.patch_size - (new_H % self.patch_size)) % self.patch_size
        pad_w = (self.patch_size - (new_W % self.patch_size)) % self.patch_size
        self._pad_hw = (pad_h, pad_w)
        image_padded = cv2.copyMakeBorder(image_resized, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT,
                                          value=(123, 116, 103))
        inputs = self.processor(images=image_padded, return_tensors="pt", do_resize=False, do_center_crop=False)
        outputs = self.model(**inputs)
        self.features = outputs.last_hidden_state
        H_feat = (new_H + pad_h) // self.patch_size
        W_feat = (new_W + pad_w) // self.patch_size
        assert H_feat * W_feat == int(self.features.shape[1] - 1)
        self._feat_hw = (H_feat, W_feat)

    @torch.no_grad()
    def get_convolutional_metrics(self, image, mask, kernel_size=32, stride=16, tau_mmd=0.3):
        import cv2

        self.set_image(image)
        patch_features = self.features[:, 1:, :]
        B, L_tokens, C = patch_features.shape
        H_feat, W_feat = self._feat_hw
        features_spatial = patch_features.permute(0, 2, 1).view(B, C, H_feat, W_feat)
        scale_factor = max(H_feat, W_feat) / 64.0
        adj_kernel_size = max(1, int(kernel_size * scale_factor))
        adj_stride = max(1, int(stride * scale_factor))
        new_H, new_W = self._resize_hw
        pad_h, pad_w = self._pad_hw
        mask_resized = cv2.resize(mask.astype(np.float32), (new_W, new_H), interpolation=cv2.INTER_NEAREST)
        mask_padded = cv2.copyMakeBorder(mask_resized, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0)
        mask_tensor = torch.as_tensor(mask_padded).float()
        if mask_tensor.ndim == 2:
            mask_tensor = mask_tensor[None, None, ...]
        mask_small = torch.nn.functional.adaptive_max_pool2d(mask_tensor, output_size=(H_feat, W_feat))
        features_flat_global = features_spatial.view(C, -1).permute(1, 0)
        global_bg_feats = features_flat_global[(mask_small.view(-1) == 0)]
        feat_patches = torch.nn.functional.unfold(features_spatial, kernel_size=adj_kernel_size, stride=adj_stride)
        mask_patches = torch.nn.functional.unfold(mask_small, kernel_size=adj_kernel_size, stride=adj_stride)
        L_patches = feat_patches.shape[-1]
        K_sq = adj_kernel_size * adj_kernel_size
        feat_flat = feat_patches.view(1, C, K_sq, L_patches).permute(3, 1, 2, 0).squeeze(-1)
        mask_flat = mask_patches.view(1, 1, K_sq, L_patches).permute(3, 1, 2, 0).squeeze(-1).squeeze(1)
        valid_scores = []
        for i in range(L_patches):
            curr_mask = mask_flat[i]
            n_fg = (curr_mask > 0).sum()
            n_bg = (curr_mask == 0).sum()
            if n_fg > 5 and n_bg > 5:
                curr_feat = feat_flat[i]
                X_in = curr_feat[:, curr_mask > 0].T
                X_out = curr_feat[:, curr_mask == 0].T
                valid_scores.append(self.compute_rbf_mmd(X_in, X_out))
            elif n_fg > 5 and n_bg == 0:
                curr_feat = feat_flat[i]
                X_in = curr_feat[:, curr_mask > 0].T
                X_out = global_bg_feats
                if X_out.shape[0] > 0:
                    valid_scores.append(self.compute_rbf_mmd(X_in, X_out))
        if not valid_scores:
            return {"g_mmd": float("nan"), "raw_mmd": float("nan")}
        avg_raw_mmd = sum(valid_scores) / len(valid_scores)
        safe_raw_mmd = max(0.0, avg_raw_mmd)
        g_mmd = math.exp(-safe_raw_mmd / max(1e-12, tau_mmd))
        return {"g_mmd": g_mmd, "raw_mmd": safe_raw_mmd}

    def compute_rbf_mmd(self, X, Y, sigma_list=[10]):  # noqa: B006 (as in the original)
        X = torch.nn.functional.normalize(X, p=2, dim=1)
        Y = torch.nn.functional.normalize(Y, p=2, dim=1)
        XX = torch.cdist(X, X).pow(2)
        YY = torch.cdist(Y, Y).pow(2)
        XY = torch.cdist(X, Y).pow(2)
        mmd_val = 0.0
        for sigma in sigma_list:
            gamma = 1.0 / (2.0 * sigma ** 2)
            K_XX = torch.exp(-gamma * XX).mean()
            K_YY = torch.exp(-gamma * YY).mean()
            K_XY = torch.exp(-gamma * XY).mean()
            mmd_val += K_XX + K_YY - 2 * K_XY
        return mmd_val / len(sigma_list) * 1000


def prove_rc_s(image_path: str, mask_path: str, predictor) -> float | None:
    """Transcribed from PROVE utils/metrics.py ``calculate_rc_s_score`` (commit 7ca299a), with the image and mask
    read as run_prove_metrics.py reads them (utils/media_utils.py ``get_image``: ``np.array(Image.open(path))``)."""
    from skimage.measure import label, regionprops

    image = np.array(Image.open(image_path))
    mask = np.array(Image.open(mask_path))
    temp_mask = np.array(Image.fromarray(mask))
    binary_image_global = (temp_mask > 127).astype(np.uint8) * 255
    lab = label(binary_image_global, connectivity=1)
    regions = regionprops(lab)
    if not regions:
        return None
    min_area = 200
    max_area = max(r.area for r in regions)
    if max_area < min_area:
        min_area = max_area
    comps_data = []
    for r in regions:
        if r.area < min_area:
            continue
        comp_mask = (lab == r.label).astype(np.uint8) * 255
        square_info = prove_find_bounding_square_1_3(comp_mask)
        if square_info:
            comps_data.append(square_info)
    total_score, total_weight = 0.0, 0.0
    for (x1, y1, x2, y2) in comps_data:
        input_img = image[y1:y2, x1:x2]
        crop_mask = mask[y1:y2, x1:x2]
        mask_fg = np.array(Image.fromarray(crop_mask).convert("L"))
        metrics = predictor.get_convolutional_metrics(input_img, mask_fg, kernel_size=16, stride=8, tau_mmd=3)
        total_score += metrics["g_mmd"]
        total_weight += 1
    if total_weight == 0:
        return None
    return total_score / total_weight


def test_rcs_equals_the_original(tmp_path, one_thread):
    from bench.metrics.rcs import RCS

    dino = tiny_dino()
    m = RCS()
    m.use_model(dino)
    predictor = ProveDinoPredictor(dino, transformers.BitImageProcessor(**DINOV2_PREPROCESSOR))
    got = []
    extra = np.zeros((300, 451), np.uint8)
    extra[10:14, 10:14] = 255  # a 16 px component: under PROVE's 200 px floor, dropped by both
    k = cases()[2][1]
    for name, image, mask in [*cases(), ("chelsea-tiny-blob", k, np.maximum(cases()[2][2], extra))]:
        g = m.compute(eval_batch([image], [mask]))
        want = prove_rc_s(*write_pair(tmp_path, name, image, mask), predictor)
        assert close(float(g["rcs"][0]), want), (name, g, want)
        assert 0 < want < 1 and g["rcs_mmd"][0] > 0
        got.append(want)
    assert len(set(np.round(got[:3], 6))) == 3
    assert got[3] == pytest.approx(got[2], rel=1e-6)  # the small component changes nothing


def test_rcs_square_crop_matches_prove():
    from bench.metrics.rcs import square_third

    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = rng.integers(20, 120, size=2)
        m = np.zeros((h, w), np.uint8)
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        m[y0:y0 + rng.integers(1, h), x0:x0 + rng.integers(1, w)] = 255
        assert square_third(m) == prove_find_bounding_square_1_3(m), (h, w)
    assert square_third(np.zeros((5, 5), np.uint8)) is None
