"""The reference-free removal metrics ``remove``, ``cfd`` and ``rcs`` against transcriptions of their original code.

Each exactness test transcribes the original repository's computation (file and commit cited at the function) and
runs it on the same tiny random-weight network (built from a config with a fixed seed) and the same images
(scikit-image's bundled photos written as PNG files, read back as the originals read theirs) as the project's
metric: equal to 1e-5 relative.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from bench.types import EvalBatch, RunContext
from tests.scripts import bench_without

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


# ------------------------------------------------------------------------------------------------------------------
# cfd: yeates/OmniPaint @ cdb7c263edbd463ff8df60694fd97f9f43da187b, cfd_score/main.py
# ------------------------------------------------------------------------------------------------------------------
class omnipaint:  # noqa: N801 - a namespace for the transcribed functions
    """Transcribed from OmniPaint cfd_score/main.py (commit cdb7c26): the functions ``calculate_objects`` calls, with
    ``.to("cuda")`` dropped and the DINOv2 processor / model / mask generator passed in."""

    @staticmethod
    def compute_iou(mask1, mask2):
        intersection = np.logical_and(mask1, mask2).sum()
        union = np.logical_or(mask1, mask2).sum()
        return intersection / union if union > 0 else 0

    @staticmethod
    def is_mask_mostly_contained(mask_a, mask_b, contain_threshold=0.9):
        intersection = np.logical_and(mask_a, mask_b).sum()
        area_a = mask_a.sum()
        return (intersection / area_a) > contain_threshold if area_a > 0 else False

    @staticmethod
    def filter_masks(masks, iou_threshold=0.8, contain_threshold=0.9, mask_ratio=0.00):
        filtered_masks = []
        masks = sorted(masks, key=lambda x: -x["area"])
        for mask in masks:
            if mask["area"] / (mask["segmentation"].shape[0] * mask["segmentation"].shape[1]) < mask_ratio:
                continue
            keep = True
            for filtered_mask in filtered_masks:
                iou = omnipaint.compute_iou(mask["segmentation"], filtered_mask)
                if iou > iou_threshold or omnipaint.is_mask_mostly_contained(mask["segmentation"], filtered_mask,
                                                                             contain_threshold):
                    keep = False
                    break
            if keep:
                filtered_masks.append(mask["segmentation"])
        return filtered_masks

    @staticmethod
    def classify_masks(mask_list, reference_mask):
        masks_intersect = []
        masks_contained = []
        for i, mask in enumerate(mask_list):
            intersection = np.logical_and(np.array(mask), np.array(reference_mask))
            if np.all(np.array(mask) <= np.array(reference_mask)):
                masks_contained.append(i)
            elif np.any(intersection):
                masks_intersect.append(i)
        return masks_intersect, masks_contained

    @staticmethod
    def is_adjacent(mask1, mask2):
        import cv2

        kernel = np.ones((5, 5), np.uint8)
        mask1 = mask1.astype(np.uint8) * 255
        mask2 = mask2.astype(np.uint8) * 255
        mask1_dilated = cv2.dilate(mask1, kernel, iterations=3)
        mask2_dilated = cv2.dilate(mask2, kernel, iterations=3)
        return np.any(mask1_dilated & mask2) or np.any(mask2_dilated & mask1)

    @staticmethod
    def crop_masked_region(mask, image):
        import cv2

        result = image.copy()
        result[mask == 0] = [255, 255, 255]
        coords = cv2.findNonZero(mask.astype(np.uint8) * 255)
        x, y, w, h = cv2.boundingRect(coords)
        return result[y:y + h, x:x + w], mask[y:y + h, x:x + w]

    @staticmethod
    def resize_mask(mask):
        mask = np.array(mask.resize((16, 16), Image.NEAREST)).flatten()
        mask = np.append(mask, True)
        return mask

    @staticmethod
    def calc_dinov2_score(image1, mask1, image2, mask2, processor, model):
        with torch.no_grad():
            image1 = image1.resize((224, 224))
            mask1 = mask1.resize((224, 224), Image.NEAREST)
            inputs1 = processor(images=image1, return_tensors="pt")
            outputs1 = model(**inputs1)
            last_hidden_states1 = outputs1.last_hidden_state
            img_features1 = last_hidden_states1 / last_hidden_states1.norm(p=2, dim=-1, keepdim=True)
            img_features1 = img_features1.squeeze(0).cpu().numpy()
            mask1_resized = omnipaint.resize_mask(mask1)
            valid_patches1 = img_features1[mask1_resized.flatten()]
            final_feature1 = np.mean(valid_patches1, axis=0)
            final_feature1 = final_feature1 / np.linalg.norm(final_feature1)

            image2 = image2.resize((224, 224))
            mask2 = mask2.resize((224, 224))
            inputs2 = processor(images=image2, return_tensors="pt")
            outputs2 = model(**inputs2)
            last_hidden_states2 = outputs2.last_hidden_state
            img_features2 = last_hidden_states2 / last_hidden_states2.norm(p=2, dim=-1, keepdim=True)
            img_features2 = img_features2.squeeze(0).cpu().numpy()
            mask2_resized = omnipaint.resize_mask(mask2)
            valid_patches2 = img_features2[mask2_resized.flatten()]
            final_feature2 = np.mean(valid_patches2, axis=0)
            final_feature2 = final_feature2 / np.linalg.norm(final_feature2)

            cos_sim = np.dot(final_feature1, final_feature2)
            return 1 - cos_sim

    @staticmethod
    def calculate(image_path, ref_mask, mask_generator, processor, model):
        image = Image.open(image_path).convert('RGB')
        ref_mask = (ref_mask.convert("1") if isinstance(ref_mask, Image.Image)
                    else Image.fromarray(ref_mask).convert("1"))
        masks = mask_generator.generate(np.array(image))
        masks = omnipaint.filter_masks(masks)

        bound_mask_index_li, center_mask_index_li = omnipaint.classify_masks(masks, ref_mask)
        bound_mask_li = [masks[b] for b in bound_mask_index_li]
        center_mask_li = [masks[c] for c in center_mask_index_li]
        bound_mask_cropped_li = [b & np.array(ref_mask) for b in bound_mask_li]

        center_mask_pixel_li = [np.sum(np.array(cm)) for cm in center_mask_li]
        final_score = 0
        remove_score = 0

        left, upper, right, lower = ref_mask.getbbox()
        width, height = right - left, lower - upper
        left, right = max(0, left - width // 3), min(image.width, right + width // 3)
        upper, lower = max(0, upper - height // 3), min(image.height, lower + height // 3)
        bbox_mask = Image.new("1", (image.width, image.height), 0)
        ImageDraw.Draw(bbox_mask).rectangle([left, upper, right, lower], fill=1)
        bbox_mask = Image.fromarray(np.array(bbox_mask) ^ np.array(ref_mask))
        score = omnipaint.calc_dinov2_score(image, ref_mask, image, bbox_mask, processor, model)
        remove_score += score
        final_score += score

        for j, cm in enumerate(center_mask_li):
            cm = np.array(cm)
            merged_bm = np.zeros_like(cm).astype(bool)
            total = 0
            for bm in bound_mask_cropped_li:
                bm = np.array(bm)
                if omnipaint.is_adjacent(bm, cm):
                    merged_bm |= bm
                    total += 1
            if total != 0:
                bm_img_cropped, bm_mask_cropped = omnipaint.crop_masked_region(merged_bm, np.array(image))
                cm_img_cropped, cm_mask_cropped = omnipaint.crop_masked_region(cm, np.array(image))
                bm_image, bm_mask = Image.fromarray(bm_img_cropped), Image.fromarray(bm_mask_cropped).convert("L")
                cm_image, cm_mask = Image.fromarray(cm_img_cropped), Image.fromarray(cm_mask_cropped).convert("L")
                dinov2_score = omnipaint.calc_dinov2_score(bm_image, bm_mask, cm_image, cm_mask, processor, model)
                final_score += (center_mask_pixel_li[j] * dinov2_score / sum(center_mask_pixel_li))

        return final_score

    @staticmethod
    def calculate_objects(image_path, mask_path, mask_generator, processor, model):
        import cv2

        mask = cv2.imread(mask_path, cv2.IMREAD_GRAYSCALE)
        _, binary_mask = cv2.threshold(mask, 127, 255, cv2.THRESH_BINARY)
        num_labels, labels = cv2.connectedComponents(binary_mask)
        masks = []
        for i in range(1, num_labels):
            single_mask = np.zeros_like(mask)
            single_mask[labels == i] = 255
            masks.append(single_mask)
        total_score = 0
        for m in masks:
            total_score += omnipaint.calculate(image_path, Image.fromarray(m).convert("1"), mask_generator, processor,
                                               model)
        return total_score, len(masks)


class GivenSegments:
    """A stand-in for SamAutomaticMaskGenerator: ``generate`` returns the given segments (dicts as SAM's)."""

    def __init__(self, segments):
        self.segments = segments

    def generate(self, image):
        return [dict(s) for s in self.segments]


def cfd_original(image_path, mask_path, segments, dino) -> float:
    """OmniPaint's per-image CFD: ``calculate_objects`` -> score / nums (``main``), with dinov2-giant's processor as
    OmniPaint's environment loaded it (PIL-based BitImageProcessor)."""
    pil_based = getattr(transformers, "BitImageProcessorPil", None) or transformers.BitImageProcessor  # 5.x / 4.x
    processor = pil_based(**DINOV2_PREPROCESSOR)
    score, nums = omnipaint.calculate_objects(image_path, mask_path, GivenSegments(segments), processor, dino)
    return score / nums


def strips_and_disks(image: np.ndarray, mask: np.ndarray) -> list[dict]:
    """Segments with every case of the hallucination term: vertical strips over the image without the hole's core
    (boundary segments where they reach into the hole), disks inside the hole near its edge (centre segments next
    to boundary parts) and one at its deepest point (a centre segment no boundary part touches), a near-duplicate
    strip (IoU > 0.8) and a segment 95 % inside a strip (both filtered out)."""
    from scipy.ndimage import distance_transform_edt

    h, w = mask.shape
    hole = mask > 127
    depth = distance_transform_edt(hole)
    core = depth > 8
    segs = []
    for k in range(4):
        s = np.zeros((h, w), bool)
        s[:, k * w // 4:(k + 1) * w // 4] = True
        segs.append(s & ~core)
    segs.append(np.roll(segs[1], 2, axis=1) & ~core)
    small = np.zeros((h, w), bool)
    small[: h // 3, w // 4: w // 4 + w // 16] = True
    small[:2, :3] = True  # a few pixels outside strip 1
    segs.append(small)
    yy, xx = np.mgrid[:h, :w]
    rng = np.random.default_rng(0)
    rows, cols = np.nonzero((depth > 10) & (depth < 13))
    centres = [(rows[i], cols[i]) for i in rng.choice(rows.size, 3, replace=False)]
    centres.append(np.unravel_index(np.argmax(depth), depth.shape))
    for y, x in centres:
        segs.append(((yy - y) ** 2 + (xx - x) ** 2 <= 25) & hole)
    return [{"segmentation": s, "area": int(s.sum())} for s in segs]


def test_cfd_equals_the_original_on_given_segments(tmp_path, one_thread):
    from bench.metrics.cfd import CFD

    dino = tiny_dino()
    m = CFD()
    m.use_models(dino=dino)
    got = []
    for name, image, mask in cases():
        segs = strips_and_disks(image, mask)
        ctx, hall = m.score(image, mask, segments=segs)
        want = cfd_original(*write_pair(tmp_path, name, image, mask), segs, dino)
        assert close(ctx + hall, want), (name, ctx, hall, want)
        assert hall > 0 and ctx > 0  # both terms are exercised
        # the context term alone: the original with no segments
        assert close(ctx, cfd_original(str(tmp_path / f"{name}.png"), str(tmp_path / f"{name}_mask.png"), [], dino))
        got.append(want)
    assert len(set(np.round(got, 6))) == len(got)


def test_cfd_segment_filter_and_adjacency_match_the_original():
    from bench.metrics.cfd import filter_segments, near

    image, mask = cases()[1][1], cases()[1][2]
    segs = strips_and_disks(image, mask)
    ours = filter_segments([dict(s) for s in segs])
    theirs = omnipaint.filter_masks([dict(s) for s in segs])
    assert len(ours) == len(theirs) < len(segs) and all(np.array_equal(a, b) for a, b in zip(ours, theirs))
    a = np.zeros((40, 40), bool)
    a[10:12, 10:12] = True
    for gap in range(3, 12):
        b = np.zeros((40, 40), bool)
        b[10:12, 12 + gap:14 + gap] = True
        assert near(a, b) == bool(omnipaint.is_adjacent(a, b)), gap
    assert near(a, np.roll(a, 7, axis=1)) and not near(a, np.roll(a, 8, axis=1))  # 13 x 13 dilation: 6 px reach


def test_cfd_automatic_segments_through_transformers(tmp_path, one_thread):
    """The automatic path: transformers' mask generation on a tiny SAM (thresholds lowered so a random network's
    masks pass), then the same arithmetic as the original on exactly those segments."""
    from bench.metrics import removal_nets as N
    from bench.metrics.cfd import CFD

    sam = N.load("sam", "random", seed=0, config=N.TINY["sam"])[0]
    dino = tiny_dino()
    m = CFD(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    m.use_models(sam=sam, dino=dino)
    name, image, mask = cases()[0]
    segs = m.segment(image)
    assert segs and all(s["segmentation"].shape == mask.shape and s["segmentation"].dtype == bool for s in segs)
    assert all(s["area"] == int(s["segmentation"].sum()) > 0 for s in segs)
    got = m.compute(eval_batch([image], [mask]))
    want = cfd_original(*write_pair(tmp_path, name, image, mask), segs, dino)
    assert close(float(got["cfd"][0]), want)
    assert close(float(got["cfd_context"][0] + got["cfd_hallucination"][0]), float(got["cfd"][0]))


# ------------------------------------------------------------------------------------------------------------------
# through the harness: YAML suite, weights, provenance, records and leaderboard
# ------------------------------------------------------------------------------------------------------------------
def tiny_suite(tmp_path, **extra) -> dict:
    from bench.metrics import removal_nets as N

    cfd = {"type": "cfd", "points_per_side": 4, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0,
           "config": {"sam": N.TINY["sam"], "dinov2": N.TINY["dinov2"]}}
    return {"name": "rm", "output_dir": str(tmp_path / "res"), "device": "cpu", "resolution": 96, "batch_size": 2,
            "weights": "random", "seed": 3, "backends": ["opencv-telea", "mean-fill"],
            "datasets": [{"type": "synthetic", "n": 3}], "masks": ["given"],
            "metrics": ["psnr", {"type": "remove", "crop": True, "config": {"sam": N.TINY["sam"]}}, cfd,
                        {"type": "rcs", "config": {"dinov2": N.TINY["dinov2"]}}], **extra}


def test_a_suite_scores_them_per_sample_with_leaderboard_intervals(tmp_path, capsys, one_thread):
    import json

    import yaml

    from bench.cli import main
    from bench.report.aggregate import summarize
    from bench.store.sqlite import RunStore

    p = tmp_path / "rm.yaml"
    p.write_text(yaml.safe_dump(tiny_suite(tmp_path)))
    assert main(["run", str(p), "--no-progress"]) == 0
    run_dir = tmp_path / "res" / "rm"
    man = json.loads((run_dir / "manifest.json").read_text())
    assert man["comparable"] is False
    reasons = " ".join(man["noncomparable_reasons"])
    assert all(k in reasons for k in ("remove", "cfd", "rcs"))
    store = RunStore(run_dir / "records.sqlite")
    frame = store.frame()
    store.close()
    keys = ["remove_crop", "cfd", "cfd_context", "cfd_hallucination", "rcs", "rcs_mmd"]
    assert len(frame) == 6 and all(np.isfinite(frame[k]).all() for k in keys)
    assert (frame["remove_crop"].abs() <= 1).all() and ((frame["rcs"] > 0) & (frame["rcs"] <= 1)).all()
    assert np.allclose(frame["cfd"], frame["cfd_context"] + frame["cfd_hallucination"])
    assert frame.groupby("backend")["rcs"].nunique().min() > 1  # per-sample values, not one per cell
    df = summarize(run_dir).set_index("backend")
    for k in ("remove_crop", "cfd", "rcs"):
        for b in ("opencv-telea", "mean-fill"):
            mean = frame.loc[frame["backend"] == b, k].mean()
            assert df.loc[b, k] == pytest.approx(mean)
            assert df.loc[b, f"{k}_lo"] <= mean <= df.loc[b, f"{k}_hi"] and df.loc[b, f"{k}_lo"] < df.loc[b, f"{k}_hi"]
    cols = df.attrs["columns"]
    assert cols["remove_crop"]["higher_is_better"] and cols["rcs"]["higher_is_better"]
    assert not cols["cfd"]["higher_is_better"]
    # plain per-sample score columns in the export a labels file joins onto (cell, sample_id), as detectors' scores
    import pandas as pd

    assert main(["export", str(run_dir), "--per-sample", str(tmp_path / "scores.csv")]) == 0
    exported = pd.read_csv(tmp_path / "scores.csv")
    assert {"cell_key", "sample_id", *keys} <= set(exported.columns) and len(exported) == 6  # labels: cell, sample_id
    merged = exported.merge(frame, on=["sample_id", "backend"], suffixes=("", "_db"))
    assert np.allclose(merged["rcs"], merged["rcs_db"]) and np.allclose(merged["cfd"], merged["cfd_db"])
    # each metric's provenance names its networks and the original it follows
    prov = man["metrics"]
    assert prov["remove"]["sam"]["random"] and prov["remove"]["crop"] is True
    assert "OmniPaint" in prov["cfd"]["original"] and "prove" in prov["rcs"]["original"]


def test_offline_without_weights_fails_at_once_naming_the_file_or_is_left_out(tmp_path, monkeypatch, capsys):
    import json

    import torch.hub
    import yaml

    from bench import weights as W
    from bench.cli import main
    from bench.errors import WeightsError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.delenv(W.ENV_VAR, raising=False)
    from bench.metrics.rcs import RCS

    with pytest.raises(WeightsError, match=r"dinov2-giant\.config\.json.*huggingface\.co/facebook/dinov2-giant"):
        RCS().setup(RunContext(device=torch.device("cpu"), weights_dir=tmp_path / "w"))
    from bench.metrics.remove import ReMOVE

    with pytest.raises(WeightsError, match=r"sam-vit-huge\.config\.json.*bench weights fetch"):
        ReMOVE().setup(RunContext(device=torch.device("cpu"), weights_dir=tmp_path / "w"))
    d = {"name": "q", "output_dir": str(tmp_path / "res"), "device": "cpu", "resolution": 32,
         "backends": ["identity"], "datasets": [{"type": "synthetic", "n": 2}], "masks": ["box"],
         "metrics": ["psnr", {"type": "remove", "optional": True}, {"type": "cfd", "optional": True},
                     {"type": "rcs", "optional": True}]}
    p = tmp_path / "q.yaml"
    p.write_text(yaml.safe_dump(d))
    assert main(["run", str(p), "--no-progress"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if "left out" in ln]
    assert len(lines) == 1 and "remove, cfd, rcs" in lines[0] and "sam-vit-huge.config.json" in lines[0]
    man = json.loads((tmp_path / "res" / "q" / "manifest.json").read_text())
    assert set(man["left_out"]) == {"remove", "cfd", "rcs"}
    # not optional: the run stops before any work (no output generated, no run folder), naming the metric, the file,
    # where it comes from and how to supply it or run without it
    d["metrics"] = ["psnr", "rcs"]
    d["name"] = "q2"
    p.write_text(yaml.safe_dump(d))
    assert main(["run", str(p), "--no-progress"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "weights missing for metrics[1] (rcs); nothing was run." in err
    assert "dinov2-giant.config.json" in err and "huggingface.co/facebook/dinov2-giant" in err
    assert "weights: random" in err and "optional: true" in err
    assert not (tmp_path / "res" / "q2").exists()


def test_bad_config_is_a_clear_error():
    from bench.config import parse_suite
    from bench.errors import ConfigError

    base = {"name": "x", "backends": ["identity"], "datasets": [{"type": "synthetic", "n": 1}], "masks": ["box"]}
    with pytest.raises(ConfigError, match=r"config\.clip.*networks: dinov2"):
        parse_suite({**base, "metrics": [{"type": "rcs", "config": {"clip": {}}}]})
    with pytest.raises(ConfigError, match="crop"):
        parse_suite({**base, "metrics": [{"type": "remove", "crop": "yes"}]})
    from bench.metrics import removal_nets as N

    with pytest.raises(ConfigError, match="needs `weights: random`"):
        N.load("dinov2", "pretrained", config=N.TINY["dinov2"], metric="rcs")


def test_weights_list_names_the_hub_files(capsys):
    from bench.cli import main

    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    for f in ("sam-vit-huge.model.safetensors", "dinov2-giant.pytorch_model.bin", "sam-vit-huge.config.json"):
        assert f in out
    assert "https://huggingface.co/facebook/sam-vit-huge/resolve/main/model.safetensors" in out


def test_pretrained_files_load_through_the_weights_resolver(tmp_path, one_thread):
    """The pretrained path: hub files under their bench.weights names in ``weights_dir`` (here a tiny network saved
    by transformers) are resolved, loaded and described in the provenance, and score as the network itself does."""
    from bench.metrics import removal_nets as N
    from bench.metrics.rcs import RCS
    from bench.metrics.remove import ReMOVE

    wdir = tmp_path / "weights"
    wdir.mkdir()
    sam = N.load("sam", "random", seed=5, config=N.TINY["sam"])[0]
    dino = N.load("dinov2", "random", seed=5, config=N.TINY["dinov2"])[0]
    sam.save_pretrained(tmp_path / "sam")
    (wdir / "sam-vit-huge.config.json").write_bytes((tmp_path / "sam" / "config.json").read_bytes())
    (wdir / "sam-vit-huge.model.safetensors").write_bytes((tmp_path / "sam" / "model.safetensors").read_bytes())
    dino.config.to_json_file(wdir / "dinov2-giant.config.json")
    torch.save(dino.state_dict(), wdir / "dinov2-giant.pytorch_model.bin")
    ctx = RunContext(device=torch.device("cpu"), weights="pretrained", weights_dir=wdir)
    image, mask = cases()[0][1], cases()[0][2]
    b = eval_batch([image], [mask])
    for cls, net, key in ((ReMOVE, sam, "remove"), (RCS, dino, "rcs")):
        loaded, given = cls(), cls()
        loaded.setup(ctx)
        given.use_model(net)
        assert loaded.compute(b)[key][0] == pytest.approx(given.compute(b)[key][0], rel=1e-6)
        prov = loaded.provenance()
        files = prov["sam" if key == "remove" else "dinov2"]["files"]
        assert {f["file"] for f in files} == set(loaded.weights_files()) and all(len(f["sha256"]) == 64 for f in files)
        assert "comparable" not in prov


def segment_anything_encoder(sam):
    """segment_anything's own ``ImageEncoderViT`` (the module ReMOVE and OmniPaint run) with the weights of the
    given transformers SAM's vision encoder, mapped key by key."""
    from functools import partial

    sa = pytest.importorskip("segment_anything.modeling")
    vc = sam.config.vision_config
    enc = sa.ImageEncoderViT(img_size=vc.image_size, patch_size=vc.patch_size, embed_dim=vc.hidden_size,
                             depth=vc.num_hidden_layers, num_heads=vc.num_attention_heads,
                             mlp_ratio=vc.mlp_dim / vc.hidden_size, out_chans=vc.output_channels, qkv_bias=True,
                             use_rel_pos=True, window_size=vc.window_size,
                             global_attn_indexes=tuple(vc.global_attn_indexes),
                             norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)).eval()  # as build_sam.py builds it
    names = {"neck.conv1.": "neck.0.", "neck.layer_norm1.": "neck.1.", "neck.conv2.": "neck.2.",
             "neck.layer_norm2.": "neck.3.", "patch_embed.projection.": "patch_embed.proj.", "layers.": "blocks.",
             "layer_norm1": "norm1", "layer_norm2": "norm2"}  # in this order
    state = {}
    for k, v in sam.vision_encoder.state_dict().items():
        for a, b in names.items():
            k = k.replace(a, b)
        state[k] = v
    enc.load_state_dict(state)  # strict: every tensor of both sides is used
    return enc


def test_the_transformers_sam_encoder_is_segment_anythings(one_thread):
    """The transformers port computes what segment_anything's encoder computes with the same weights, so the
    metrics' use of ``facebook/sam-vit-huge`` equals the originals' use of ``sam_vit_h_4b8939.pth``."""
    from bench.metrics import removal_nets as N
    from bench.metrics.remove import sam_pixels

    sam = N.load("sam", "random", seed=1, config=N.TINY["sam"])[0]
    enc = segment_anything_encoder(sam)
    x = torch.stack([sam_pixels(image, 256) for _, image, _ in cases()])
    with torch.no_grad():
        ours, theirs = sam.get_image_embeddings(x), enc(x)
    assert ours.shape == theirs.shape == (3, 32, 64, 64)
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-5), (ours - theirs).abs().max()


def test_remove_equals_the_original_on_segment_anythings_encoder(tmp_path, one_thread):
    """ReMOVE's transcription running segment_anything's encoder (not transformers') agrees with the metric."""
    from types import SimpleNamespace

    from bench.metrics.remove import ReMOVE

    sam = tiny_sam_for_remove()
    enc = segment_anything_encoder(sam)
    shim = SimpleNamespace(config=sam.config, get_image_embeddings=enc)
    m = ReMOVE()
    m.use_model(sam)
    for name, image, mask in cases():
        got = float(m.compute(eval_batch([image], [mask]))["remove"][0])
        want = remove_original(shim, *write_pair(tmp_path, name, image, mask), crop=False)
        assert close(got, want), (name, got, want)


def segment_anything_sam(sam):
    """segment_anything's whole ``Sam`` (encoder, prompt encoder, mask decoder) with the given transformers SAM's
    weights, mapped key by key (strict load: every tensor used)."""
    import re

    sa = pytest.importorskip("segment_anything.modeling")
    pc, mc, vc = sam.config.prompt_encoder_config, sam.config.mask_decoder_config, sam.config.vision_config
    grid = vc.image_size // vc.patch_size
    model = sa.Sam(image_encoder=segment_anything_encoder(sam),
                   prompt_encoder=sa.PromptEncoder(embed_dim=pc.hidden_size, image_embedding_size=(grid, grid),
                                                   input_image_size=(vc.image_size, vc.image_size),
                                                   mask_in_chans=pc.mask_input_channels),
                   mask_decoder=sa.MaskDecoder(num_multimask_outputs=3, transformer=sa.TwoWayTransformer(
                       depth=mc.num_hidden_layers, embedding_dim=mc.hidden_size, mlp_dim=mc.mlp_dim,
                       num_heads=mc.num_attention_heads), transformer_dim=mc.hidden_size,
                       iou_head_depth=mc.iou_head_depth, iou_head_hidden_dim=mc.iou_head_hidden_dim),
                   pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375]).eval()
    rules = [(r"^shared_image_embedding\.positional_embedding$",
              "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"),
             (r"\.mask_embed\.conv1\.", ".mask_downscaling.0."),
             (r"\.mask_embed\.layer_norm1\.", ".mask_downscaling.1."),
             (r"\.mask_embed\.conv2\.", ".mask_downscaling.3."),
             (r"\.mask_embed\.layer_norm2\.", ".mask_downscaling.4."),
             (r"\.mask_embed\.conv3\.", ".mask_downscaling.6."), (r"\.point_embed\.", ".point_embeddings."),
             (r"\.layer_norm(\d)\.", r".norm\1."), (r"layer_norm_final_attn", "norm_final_attn"),
             (r"\.upscale_conv1\.", ".output_upscaling.0."), (r"\.upscale_layer_norm\.", ".output_upscaling.1."),
             (r"\.upscale_conv2\.", ".output_upscaling.3.")]
    mlp = [(r"\.layers\.0\.", ".layers.1."), (r"\.proj_in\.", ".layers.0."), (r"\.proj_out\.", ".layers.2.")]
    state = {"image_encoder." + k: v for k, v in model.image_encoder.state_dict().items()}
    for k, v in sam.state_dict().items():
        if k.startswith("vision_encoder.") or k == "prompt_encoder.shared_embedding.positional_embedding":
            continue  # the encoder is mapped above; the prompt encoder's table is the shared one
        for a, b in rules + (mlp if "hypernetworks" in k or "iou_prediction_head" in k else []):
            k = re.sub(a, b, k)
        state[k] = v
    model.load_state_dict(state)
    return model


def _random_scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colour blobs plus noise: a random network's masks then vary from point to point."""
    small = rng.integers(0, 256, (max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC)).astype(np.int16)
    return np.clip(big + rng.integers(-20, 21, big.shape), 0, 255).astype(np.uint8)


def _sa_masks(sam, image: np.ndarray, points: int) -> list[np.ndarray]:
    amg = pytest.importorskip("segment_anything").SamAutomaticMaskGenerator
    got = amg(segment_anything_sam(sam), points_per_side=points, pred_iou_thresh=0.0,
              stability_score_thresh=0.0).generate(image)
    return [d["segmentation"] for d in sorted(got, key=lambda d: -d["area"])]


def test_cfd_segments_match_segment_anythings_generator(one_thread):
    """transformers' mask generation as ``cfd`` drives it against segment_anything's SamAutomaticMaskGenerator on
    the same tiny weights, points and thresholds: the same masks, pixel for pixel, on a photograph, an image the
    processor scales down (400 x 300 for a 256 px encoder) and one it scales up. A random network's masks overlap so
    much that NMS keeps few per image: this checks the shared steps (resize, grid, decoding, upscaling, filters,
    NMS), not how real SAM masks near a threshold behave."""
    from bench.metrics import removal_nets as N
    from bench.metrics.cfd import CFD

    rng = np.random.default_rng(7)
    images = [cases()[1][1], _random_scene(rng, 300, 400), _random_scene(rng, 120, 180)]
    for seed in (0, 1):
        sam = N.load("sam", "random", seed=seed, config=N.TINY["sam"])[0]
        for image in images:
            theirs = _sa_masks(sam, image, 16)
            m = CFD(points_per_side=16, pred_iou_thresh=0.0, stability_score_thresh=0.0)
            m.use_models(sam=sam)
            ours = [d["segmentation"] for d in sorted(m.segment(image), key=lambda d: -d["area"])]
            assert len(ours) == len(theirs) >= 1
            for a, b in zip(ours, theirs):
                assert a.shape == b.shape == image.shape[:2]
                assert int((a ^ b).sum()) == 0


def test_cfd_undoes_transformers_sam_differences(one_thread):
    """The two things :func:`bench.metrics.cfd.segment` changes are what made the masks differ: with transformers'
    decoder eps (1e-6) and its torchvision resize, the same tiny network's masks move by some pixels on the
    scaled-down image; the eps change touches only the decoder's attention-block norms, not the image encoder
    ``remove`` reads."""
    transformers = pytest.importorskip("transformers")
    from bench.metrics import removal_nets as N
    from bench.metrics.cfd import SEGMENT_ANYTHING_DECODER_EPS, CFD, as_segment_anything

    sam = copy.deepcopy(N.load("sam", "random", seed=0, config=N.TINY["sam"])[0])  # the shared one may be set
    hf_eps = sam.config.mask_decoder_config.layer_norm_eps
    assert hf_eps != SEGMENT_ANYTHING_DECODER_EPS
    for block in sam.mask_decoder.transformer.layers:  # as transformers builds it
        for k in ("layer_norm1", "layer_norm2", "layer_norm3", "layer_norm4"):
            getattr(block, k).eps = hf_eps
    eps_before = {n: mod.eps for n, mod in sam.named_modules() if hasattr(mod, "eps")}
    image = _random_scene(np.random.default_rng(7), 300, 400)
    theirs = _sa_masks(sam, image, 16)
    m = CFD(points_per_side=16, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    m.use_models(sam=sam)
    m.segment(image)  # builds the generator: eps set
    after = {n: mod.eps for n, mod in sam.named_modules() if hasattr(mod, "eps")}
    changed = {n for n in after if after[n] != eps_before[n]}
    assert changed and all(".transformer.layers." in n and n.split(".")[-1].startswith("layer_norm") for n in changed)
    assert all(after[n] == SEGMENT_ANYTHING_DECODER_EPS for n in changed)
    assert m.provenance()["segments"]["mask_decoder_layer_norm_eps"] == SEGMENT_ANYTHING_DECODER_EPS
    # transformers' own settings back: eps 1e-6 and, where transformers 5 has both, the torchvision resize
    for n, mod in sam.named_modules():
        if n in changed:
            mod.eps = eps_before[n]
    proc = transformers.SamImageProcessor(size={"longest_edge": 256}, pad_size={"height": 256, "width": 256})
    m.generator = transformers.pipeline("mask-generation", model=sam, image_processor=proc, device="cpu")
    plain = [d["segmentation"] for d in sorted(m.segment(image), key=lambda d: -d["area"])]
    assert sum(int((a ^ b).sum()) for a, b in zip(plain, theirs)) > 0 or len(plain) != len(theirs)
    as_segment_anything(sam)
    assert {n: mod.eps for n, mod in sam.named_modules() if hasattr(mod, "eps")} == after


# ------------------------------------------------------------------------------------------------------------------
# what a user may hand them: NaN pixels, images too elongated for SAM's resize
# ------------------------------------------------------------------------------------------------------------------
def the_four_metrics():
    """(metric, key) for remove, remove --crop, rcs and cfd on tiny random networks."""
    from bench.metrics import removal_nets as N
    from bench.metrics.cfd import CFD
    from bench.metrics.rcs import RCS
    from bench.metrics.remove import ReMOVE

    sam, dino = tiny_sam_for_remove(), tiny_dino()
    rm, rmc, rc = ReMOVE(), ReMOVE(crop=True), RCS()
    rm.use_model(sam)
    rmc.use_model(sam)
    rc.use_model(dino)
    cf = CFD(points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    cf.use_models(sam=N.load("sam", "random", seed=0, config=N.TINY["sam"])[0], dino=dino)
    return [(rm, "remove"), (rmc, "remove_crop"), (rc, "rcs"), (cf, "cfd")]


def test_a_non_finite_output_is_nan_not_the_grey_it_would_quantize_to(one_thread):
    """A NaN (or infinity) in a sample's output is NaN for that sample, never a number computed on the grey level the
    8-bit conversion makes of it; the other samples of the batch keep their own values."""
    name, image, mask = cases()[0]
    alone = eval_batch([image], [mask])
    hurt = eval_batch([image, image], [mask, mask])
    hurt.output[0, :, 100:104, 100:104] = float("nan")  # inside the ellipse
    inf = eval_batch([image], [mask])
    inf.output[0, 0, 0, 0] = float("inf")
    for m, key in the_four_metrics():
        want = float(m.compute(alone)[key][0])
        assert np.isfinite(want), key
        got = m.compute(hurt)[key]
        assert np.isnan(got[0]), (key, got)
        assert close(float(got[1]), want), (key, got, want)
        assert np.isnan(m.compute(inf)[key][0]), key


def test_an_image_too_elongated_for_sams_resize_is_nan_not_a_crash(one_thread):
    """SAM's resize makes the short side of a 3000 x 4 image 0 px at the tiny SAM's 256 px input (the originals crash
    there): ``remove`` and ``cfd`` give it NaN; ``remove --crop`` (its crop is 402 x 4) and ``rcs`` (its crops are
    squares) score it."""
    rng = np.random.default_rng(0)
    thin = rng.integers(0, 256, (3000, 4, 3), dtype=np.uint8)
    mask = np.zeros((3000, 4), np.uint8)
    mask[1000:1400, 1:3] = 255
    for m, key in the_four_metrics():
        got = m.compute(eval_batch([thin], [mask]))[key]
        if key in ("rcs", "remove_crop"):
            assert np.isfinite(got[0]), (key, got)
            continue
        assert np.isnan(got[0]), (key, got)
    # a crop too elongated (a one-row hole on the bottom border: the crop keeps two rows of 1,162 px): NaN for
    # remove --crop, and the other sample of the batch (a hole away from the border) its value
    wide = rng.integers(0, 256, (40, 1200, 3), dtype=np.uint8)
    bottom, middle = np.zeros((40, 1200), np.uint8), np.zeros((40, 1200), np.uint8)
    bottom[39, 20:1180] = 255
    middle[10:30, 500:560] = 255
    rmc = the_four_metrics()[1][0]
    got = rmc.compute(eval_batch([wide, wide], [bottom, middle]))["remove_crop"]
    assert np.isnan(got[0]) and np.isfinite(got[1])
    from bench.metrics.remove import sam_resized_hw  # the one rule of both (SAM ViT-H: 2048 : 1 still scores)

    assert sam_resized_hw(3000, 4, 256) == (256, 0) and sam_resized_hw(3000, 4, 1024) == (1024, 1)


def test_without_transformers_the_run_names_the_package_and_its_extra(tmp_path):
    """Without the `transformers` package, a run went on and made every sample an error row ("setup failed:
    ModuleNotFoundError"), `optional: true` included: it stops before any work naming the package and its extra, or
    leaves each metric out with one line (as for lpips). A fresh process where the package cannot be imported."""
    import yaml

    from bench.metrics import removal_nets as N

    spec = {"name": "notr", "output_dir": str(tmp_path / "out"), "device": "cpu", "resolution": 32,
            "weights": "random", "backends": ["mean-fill"], "datasets": [{"type": "synthetic", "n": 2}],
            "masks": ["box"], "metrics": ["psnr", {"type": "rcs", "config": {"dinov2": N.TINY["dinov2"]}}]}
    p = tmp_path / "s.yaml"

    def bench(*args):
        return bench_without("transformers", *args)

    p.write_text(yaml.safe_dump(spec))
    r = bench("run", str(p), "--no-progress", "--no-report")
    assert r.returncode == 2 and "pip install 'inpaint-bench[diffusers]'" in r.stderr, (r.returncode, r.stderr[-2000:])
    assert not (tmp_path / "out" / "notr").exists()
    spec["metrics"] = ["psnr", *({"type": t, "optional": True} for t in ("remove", "cfd", "rcs"))]
    p.write_text(yaml.safe_dump(spec))
    r = bench("run", str(p), "--no-progress", "--no-report")
    assert r.returncode == 0, r.stderr[-2000:]
    for name in ("remove", "cfd", "rcs"):  # one line each, as the runner says a missing package
        assert (f"left out {name}: the `transformers` package is not installed (pip install "
                f"'inpaint-bench[diffusers]')") in " ".join(r.stdout.split()), r.stdout
