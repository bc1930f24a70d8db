"""``cfd``: OmniPaint's context-feature distance (Yu et al., ICCV 2025), with its SAM-segment hallucination term.

The original: github.com/yeates/OmniPaint at cdb7c263edbd463ff8df60694fd97f9f43da187b, ``cfd_score/main.py``
(``calculate_objects``, ``calculate``, ``calc_dinov2_score``, ``filter_masks``, ``classify_masks``,
``is_adjacent``, ``crop_masked_region``, ``resize_mask``), networks ``sam_vit_h_4b8939.pth`` (SAM's automatic mask
generator, default settings) and ``facebook/dinov2-giant``. Per image, on the final output (lower = better):

1. the mask (> 127) is split into 8-connected components; the image's score is the **mean over components** of
   ``context + hallucination``;
2. ``context``: ``d(image, hole, image, ring)`` where the ring is the hole's bounding box grown by a third of its
   width / height on each side (clipped; PIL's rectangle, both corners included) minus the hole;
3. ``d(image1, mask1, image2, mask2)`` (``calc_dinov2_score``): each image resized to 224 x 224 (PIL bicubic), through
   dinov2-giant's image processor (shortest edge 256, bicubic; centre crop 224; ImageNet normalisation) as the
   PIL-based ``BitImageProcessor`` of transformers 4 does it (transformers 5 resizes with torchvision), every
   token of the last hidden state L2-normalised; the mask resized to 224 (nearest; the second mask with PIL's
   default, which is bicubic for an 8-bit mask) then to 16 x 16 (nearest) and flattened with ``True`` appended; the
   tokens selected by that array are averaged and normalised; ``d = 1 - cos``. The original's selection is taken
   as it is: the 257 tokens are [CLS, patch 0..255] and the 257 entries [cell 0..255, True], so a binary mask
   selects the token one place before each hole cell's patch, plus the last patch; an 8-bit (0/255) mask, as in
   the hallucination term below, indexes tokens by value (CLS for 0, token 255 for 255, token 1 for the appended
   ``True``). So a component that covers no cell of the 16 x 16 grid (tiny or thin: the nearest sampling misses it)
   pools the last patch alone, as does a ring that covers none (a whole-image hole): ``context`` then measures
   nothing about the fill, and is 0 when both miss. The original does the same; kept (docs/metrics.md);
4. ``hallucination``: SAM's segments of the image, largest first, each dropped when its IoU with a kept one is over
   0.8 or over 90 % of it lies in a kept one; segments inside the hole are *centre* segments, those that overlap it
   otherwise *boundary* segments (cut to the hole); for each centre segment with boundary segments near it (their
   13 x 13 dilations touch), ``d`` between the union of those boundary parts and the centre segment, each cut to
   its bounding box on a white background, weighted by the centre segment's pixel share among all centre segments.

Segments: transformers' SAM mask generation (``pipeline("mask-generation")``, the ``SamModel`` of ``sam-vit-huge``)
with SamAutomaticMaskGenerator's defaults (32 x 32 points, predicted IoU >= 0.88, stability >= 0.95, box NMS 0.7,
one crop layer, no small-region clean-up): the same steps as ``segment_anything``'s generator (point grid, decoding,
upscaling, IoU and stability filters, NMS). Two differences of transformers' SAM are undone: its mask decoder's
attention-block norms use eps 1e-6 where ``segment_anything``'s use 1e-5 (:func:`as_segment_anything` sets 1e-5;
with 1e-6 the tiny test network's low-resolution logits move by about 4e-4 and masks by a few pixels), and the
image is resized with PIL (``SamImageProcessorPil``; transformers 5's ``SamImageProcessor`` resizes with
torchvision, up to one grey level apart when the image is scaled down). With both, on the same tiny random weights,
the masks equal ``SamAutomaticMaskGenerator``'s pixel for pixel (tests). Where it may still differ on real images:
float rounding of other kernels may flip a logit that sits exactly on a threshold; masks of exactly equal area may
come in another order, which decides which of two near-duplicates the filter keeps. The pipeline's stages
(``preprocess``, ``_forward``, ``postprocess``) are called directly, as its ``__call__`` would, without its slow move
of every run-length count to the CPU. :meth:`CFD.score` takes given segments instead (tests do).

Differs from the original: the segments are computed once per image (the original runs the generator once per
component, on the same image); an image without a hole is NaN (the original divides by zero), and so is one too
elongated for SAM's resize (:func:`bench.metrics.remove.sam_resized_hw`; the original crashes) or with a NaN or
infinite value (which the original's 8-bit file cannot hold).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..types import EvalBatch, RunContext
from . import removal_nets as N
from .base import Column, Metric
from .remove import finite_rows, mask_u8, sam_resized_hw, to_uint8

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


#: ``segment_anything``'s two-way transformer normalises with ``nn.LayerNorm``'s default eps (1e-5:
#: ``modeling/transformer.py``, ``norm1`` .. ``norm4``); transformers' ``SamTwoWayAttentionBlock`` takes the mask
#: decoder config's ``layer_norm_eps`` (1e-6 by default). Its final-attention norm and every
#: other norm of the two agree (1e-5 and 1e-6 respectively).
SEGMENT_ANYTHING_DECODER_EPS = 1e-5


def as_segment_anything(sam: Any) -> None:
    """Set the eps of the mask decoder's attention-block norms of a transformers ``SamModel`` to
    ``segment_anything``'s (in place; idempotent). Only the mask decoder changes: the image encoder, whose embeddings
    ``remove`` reads, already agrees."""
    for block in sam.mask_decoder.transformer.layers:
        for name in ("layer_norm1", "layer_norm2", "layer_norm3", "layer_norm4"):
            getattr(block, name).eps = SEGMENT_ANYTHING_DECODER_EPS


def sam_image_processor_class() -> Any:
    """SAM's image processor for the mask generation: the PIL-based one where transformers has it
    (``SamImageProcessorPil``, transformers 5: PIL's bilinear resize, as ``segment_anything``'s ``ResizeLongestSide``),
    else ``SamImageProcessor`` (PIL-based in transformers 4)."""
    import transformers

    return getattr(transformers, "SamImageProcessorPil", None) or transformers.SamImageProcessor


def sam_image_processor(side: int) -> Any:
    return sam_image_processor_class()(size={"longest_edge": side}, pad_size={"height": side, "width": side})


def filter_segments(segments: list[dict[str, Any]], iou_max: float = 0.8, inside_max: float = 0.9) -> list[np.ndarray]:
    """Largest first (stable); drop one whose IoU with a kept segment is over ``iou_max`` or whose share inside a
    kept segment is over ``inside_max`` (``filter_masks``)."""
    kept: list[np.ndarray] = []
    for s in sorted(segments, key=lambda d: -d["area"]):
        seg = s["segmentation"]
        area = seg.sum()
        dup = False
        for k in kept:
            inter = np.logical_and(seg, k).sum()
            union = np.logical_or(seg, k).sum()
            if (union > 0 and inter / union > iou_max) or (area > 0 and inter / area > inside_max):
                dup = True
                break
        if not dup:
            kept.append(seg)
    return kept


def near(a: np.ndarray, b: np.ndarray) -> bool:
    """``is_adjacent``: the 5 x 5 dilation, three times, of either touches the other."""
    import cv2

    kernel = np.ones((5, 5), np.uint8)
    a8, b8 = a.astype(np.uint8) * 255, b.astype(np.uint8) * 255
    return bool(np.any(cv2.dilate(a8, kernel, iterations=3) & b8) or np.any(cv2.dilate(b8, kernel, iterations=3) & a8))


def on_white(region: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image, region) cut to the region's bounding box, the image white outside the region (``crop_masked_region``)."""
    out = image.copy()
    out[region == 0] = 255
    rows, cols = np.nonzero(region)
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    return out[y0:y1, x0:x1], region[y0:y1, x0:x1]


class CFD(N.NetMetric, Metric):
    """OmniPaint's CFD: DINOv2 distance of the hole to its ring + SAM-segment hallucination term; lower = better."""

    columns = {
        "cfd": Column(False, ".4f", True, "OmniPaint CFD: context + hallucination (DINOv2-giant features, SAM "
                                          "segments); lower = better removal"),
        "cfd_context": Column(False, ".4f", True, "CFD's first term: 1 - cos of DINOv2 features of the hole and "
                                                  "its ring (lower = better)"),
        "cfd_hallucination": Column(False, ".4f", True, "CFD's SAM-segment term: segments inside the hole vs the "
                                                        "boundary segments they touch (lower = better)"),
    }
    NETS = ("sam", "dinov2")
    NAME = "cfd"

    def __init__(self, points_per_side: int = 32, points_per_batch: int = 64, pred_iou_thresh: float = 0.88,
                 stability_score_thresh: float = 0.95, config: dict | None = None):
        if points_per_side < 1 or points_per_batch < 1:
            raise ValueError("points_per_side and points_per_batch must be >= 1")
        self.points_per_side = int(points_per_side)
        self.points_per_batch = int(points_per_batch)
        self.pred_iou_thresh = float(pred_iou_thresh)
        self.stability_score_thresh = float(stability_score_thresh)
        self._init_nets(config)
        self.sam = self.dino = self.generator = None
        self.prov: dict[str, dict[str, Any]] = {}

    def setup(self, ctx: RunContext) -> None:
        self.device = ctx.device
        if self.dino is None:
            self.dino, self.prov["dinov2"] = self._load("dinov2", ctx)
        if self.sam is None:
            self.sam, self.prov["sam"] = self._load("sam", ctx)

    def use_models(self, sam=None, dino=None) -> None:
        """Use given transformers models (tests: tiny random ones); ``sam`` may stay None when segments are given."""
        if dino is not None:
            self.dino = dino.eval()
            self.device = next(dino.parameters()).device
            self.prov["dinov2"] = {"given": True}
        if sam is not None:
            self.sam, self.generator = sam.eval(), None
            self.prov["sam"] = {"given": True}

    # -- segments --------------------------------------------------------------------------------------
    def sam_side(self) -> int:
        """SAM's input side (the long side its preprocessing resizes an image to)."""
        return int(self.sam.config.vision_config.image_size)  # type: ignore[union-attr]

    def segment(self, image: np.ndarray) -> list[dict[str, Any]]:
        """SAM's automatic segments of a uint8 image: [{"segmentation": bool [H, W], "area": int}] (module doc)."""
        from PIL import Image

        if self.generator is None:
            from transformers import pipeline

            as_segment_anything(self.sam)
            proc = sam_image_processor(self.sam_side())
            self.generator = pipeline("mask-generation", model=self.sam, image_processor=proc, device=self.device)
        gen, pil = self.generator, Image.fromarray(image)
        # the pipeline's own three stages, driven here: its __call__ walks every run-length count of every mask to
        # move it to the CPU (4 s for a 256 px image on the CPU, more than the networks)
        chunks = []
        with torch.inference_mode():
            for inputs in gen.preprocess(pil, points_per_batch=self.points_per_batch,
                                         points_per_crop=self.points_per_side, crops_n_layers=0):
                got = gen._forward(inputs, pred_iou_thresh=self.pred_iou_thresh,
                                   stability_score_thresh=self.stability_score_thresh)
                chunks.append({k: v.cpu() if torch.is_tensor(v) else v for k, v in got.items()})
        out = gen.postprocess(chunks, crops_nms_thresh=0.7)
        segs = [np.asarray(m.cpu() if torch.is_tensor(m) else m).astype(bool) for m in out["masks"]]
        return [{"segmentation": s, "area": int(s.sum())} for s in segs]

    # -- DINOv2 distance -------------------------------------------------------------------------------
    def tokens(self, image) -> np.ndarray:
        """L2-normalised last-hidden-state tokens [1 + 256, C] of a PIL image (module doc, step 3)."""
        from PIL import Image

        im = image.resize((224, 224), Image.BICUBIC).resize((256, 256), Image.BICUBIC)
        x = np.asarray(im)[16:240, 16:240].astype(np.float64) * (1 / 255)
        x = (x.astype(np.float32) - IMAGENET_MEAN) / IMAGENET_STD
        px = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)
        with torch.inference_mode():
            hs = self.dino(pixel_values=px).last_hidden_state  # type: ignore[misc]
        hs = hs / hs.norm(p=2, dim=-1, keepdim=True)
        return hs[0].float().cpu().numpy()

    @staticmethod
    def pooled(tokens: np.ndarray, mask, resample: int) -> np.ndarray:
        """The normalised mean of the tokens the original selects with ``mask`` (a PIL image; step 3)."""
        from PIL import Image

        cells = np.asarray(mask.resize((224, 224), resample).resize((16, 16), Image.NEAREST)).flatten()
        f = tokens[np.append(cells, True)].mean(axis=0)  # bool -> selection, uint8 -> token indices (as theirs)
        return f / np.linalg.norm(f)

    def distance(self, image1, mask1, image2, mask2, tokens1=None, tokens2=None) -> float:
        """``calc_dinov2_score``: 1 - cos of the pooled features (PIL images; mask2 resized with PIL's default)."""
        from PIL import Image

        t1 = self.tokens(image1) if tokens1 is None else tokens1
        t2 = self.tokens(image2) if tokens2 is None else tokens2
        default2 = Image.NEAREST if mask2.mode in ("1", "P") else Image.BICUBIC
        return float(1 - np.dot(self.pooled(t1, mask1, Image.NEAREST), self.pooled(t2, mask2, default2)))

    # -- one component ---------------------------------------------------------------------------------
    def component(self, image: np.ndarray, hole: np.ndarray, segments: list[np.ndarray],
                  tokens: np.ndarray | None = None) -> tuple[float, float]:
        """(context, hallucination) of one hole component (bool [H, W]) given the filtered segments."""
        from PIL import Image

        h, w = hole.shape
        pil = Image.fromarray(image)
        rows, cols = np.nonzero(hole)
        left, upper, right, lower = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
        bw, bh = right - left, lower - upper
        left, right = max(0, left - bw // 3), min(w, right + bw // 3)
        upper, lower = max(0, upper - bh // 3), min(h, lower + bh // 3)
        box = np.zeros_like(hole)
        box[upper:lower + 1, left:right + 1] = True  # PIL's rectangle includes both corners
        tokens = self.tokens(pil) if tokens is None else tokens
        context = self.distance(pil, Image.fromarray(hole), pil, Image.fromarray(box ^ hole), tokens, tokens)

        inside = [s for s in segments if np.all(s <= hole)]
        boundary = [s & hole for s in segments if not np.all(s <= hole) and np.any(s & hole)]
        total = sum(int(s.sum()) for s in inside)
        hall = 0.0
        for cm in inside:
            merged = np.zeros_like(hole)
            touching = 0
            for bm in boundary:
                if near(bm, cm):
                    merged |= bm
                    touching += 1
            if touching:
                b_img, b_mask = on_white(merged, image)
                c_img, c_mask = on_white(cm, image)
                d = self.distance(Image.fromarray(b_img), Image.fromarray(b_mask).convert("L"),
                                  Image.fromarray(c_img), Image.fromarray(c_mask).convert("L"))
                hall += int(cm.sum()) * d / total
        return context, hall

    def score(self, image: np.ndarray, mask: np.ndarray,
              segments: list[dict[str, Any]] | list[np.ndarray] | None = None) -> tuple[float, float]:
        """(context, hallucination) of one uint8 image and uint8 mask (255 = hole), each the mean over the hole's
        components; ``segments`` (SAM-generator-like dicts or bool arrays) replaces the automatic ones."""
        import cv2

        from PIL import Image

        _, binary = cv2.threshold(mask, 127, 255, cv2.THRESH_BINARY)
        n, labels = cv2.connectedComponents(binary)
        if n < 2:
            return float("nan"), float("nan")
        if segments is None and min(sam_resized_hw(*image.shape[:2], self.sam_side())) < 1:
            return float("nan"), float("nan")  # too elongated for SAM's resize (the original crashes)
        if segments is None:
            segments = self.segment(image)
        segs = [s if isinstance(s, dict) else {"segmentation": np.asarray(s, bool), "area": int(np.sum(s))}
                for s in segments]
        kept = filter_segments(segs)
        tokens = self.tokens(Image.fromarray(image))
        parts = [self.component(image, labels == k, kept, tokens) for k in range(1, n)]
        return float(np.mean([p[0] for p in parts])), float(np.mean([p[1] for p in parts]))

    def compute(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        if self.dino is None or self.sam is None:
            raise RuntimeError("metric 'cfd': setup() was not called")
        images, masks, ok = to_uint8(batch.output), mask_u8(batch.mask), finite_rows(batch.output)
        ctx, hall = np.full(batch.size, np.nan), np.full(batch.size, np.nan)
        for i in np.flatnonzero(ok):  # a NaN or infinite pixel: NaN (finite_rows)
            ctx[i], hall[i] = self.score(images[i], masks[i])
        return {"cfd": ctx + hall, "cfd_context": ctx, "cfd_hallucination": hall}

    def provenance(self) -> dict[str, Any]:
        p: dict[str, Any] = {"sam": dict(self.prov.get("sam", {})), "dinov2": dict(self.prov.get("dinov2", {})),
                             "image": "output", "segments": {
                                 "generator": "transformers pipeline('mask-generation')",
                                 "image_processor": sam_image_processor_class().__name__,
                                 "mask_decoder_layer_norm_eps": SEGMENT_ANYTHING_DECODER_EPS,
                                 "points_per_side": self.points_per_side, "pred_iou_thresh": self.pred_iou_thresh,
                                 "stability_score_thresh": self.stability_score_thresh, "nms": 0.7},
                             "original": "yeates/OmniPaint@cdb7c263edbd463ff8df60694fd97f9f43da187b cfd_score/main.py"}
        p.update(N.noncomparable("cfd", self.prov))
        return p
