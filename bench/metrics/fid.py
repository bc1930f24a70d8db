"""Inception features per sample for FID / KID (full image and hole crop) and P-IDS / U-IDS.

``compute`` returns 2-D arrays (stored per (cell, sample) by the runner; nothing is aggregated here):

* ``feat_inception``           the composite (output in the hole, input outside), full image [B, 2048]
* ``feat_inception_ref``       the sample's ground truth, full image     [B, 2048] (NaN rows: no ground truth)
* ``feat_inception_crop``      the composite's hole crop                 [B, 2048] (NaN rows: empty hole)

With ``image: raw`` the outputs' features come from the raw output (never pasted back) and the key is
``inception_raw``: ``fid_raw``, ``kid_raw``, ``fid_crop_raw``... (preservation analysis: a VAE's damage outside the
hole counts there, as it does not in the papers' numbers).
* ``feat_inception_ref_crop``  the ground truth's crop, same box         [B, 2048]

The reference set of a cell is the ground truth of the same samples (for reconstruction the runner passes the
original image as ground truth). With ``reference:`` (a dataset spec, as in a suite's ``datasets:``) full-image FID
/ KID use that **named reference dataset** instead: ``setup`` extracts the full-image features of every reference
image once (through the same content cache), writes them to ``<run_dir>/reference_<hash>.npy`` and records that
file, the dataset's spec and provenance, its image count and the features' SHA-256 in ``provenance()``; report time
reads them back (:mod:`bench.metrics.setlevel`). Crop metrics and P-IDS / U-IDS keep the per-sample ground truth.
Reference features are cached by content (the quantized pixels, the crop box's pixels) plus the extractor's
identity (name, mode, weights hash) under ``ctx.cache_dir``: every other cell with the same samples and every later
run finds them there and computes none. Set-level numbers come from
:mod:`bench.metrics.setlevel` at report time.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..pixels import quantize
from ..types import EvalBatch, RunContext
from .base import Column, Metric
from .features import MODES, Extractor, FeatureCache, build_inception, crop_boxes, resize_for_mode


def default_cache_dir(ctx: RunContext | None) -> Path:
    if ctx is not None and ctx.cache_dir:
        return Path(ctx.cache_dir).expanduser()
    env = os.environ.get("INPAINT_BENCH_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.path.expanduser("~/.cache/inpaint-bench"))


#: which image the outputs' features come from: the composite (output in the hole, input outside; what LaMa, MAT,
#: CoModGAN and PowerPaint score), or the raw output (preservation analysis: VAE damage outside the hole counts)
IMAGES = ("composite", "raw")


class InceptionFeatures(Metric):
    """Inception features per sample (output, ground truth; full image and hole crop) for FID/KID/IDS."""

    columns: dict[str, Column] = {}  # set-level keys are declared by bench.metrics.setlevel

    version = 2  # 2: the composite by default (image: composite | raw)

    #: ``reference`` is a dataset's spec: its params at their default are left out of the scorer key, as at top level
    nested_specs = {"reference": "datasets"}

    def __init__(self, mode: str = "clean", crop: bool = True, crop_context: float = 0.1, crop_min: int = 32,
                 quantize: bool = True, batch_size: int = 32, key: str | None = None, cache: bool = True,
                 reference: dict | None = None, reference_limit: int | None = None, image: str = "composite"):
        if mode not in MODES:
            raise ConfigError("mode", f"unknown resize mode '{mode}'; choose one of {', '.join(MODES)}")
        if image not in IMAGES:
            raise ConfigError("image", f"expected one of {', '.join(IMAGES)}, got {image!r}")
        self.image = image
        if key is None:
            key = "inception" if image == "composite" else f"inception_{image}"
        if crop_context < 0 or crop_min < 1 or batch_size < 1:
            raise ValueError("crop_context must be >= 0, crop_min and batch_size >= 1")
        if not key.isidentifier():
            raise ValueError(f"key must be an identifier, got {key!r}")
        self.mode = mode
        self.crop = crop
        self.crop_context = float(crop_context)
        self.crop_min = int(crop_min)
        self.quantize = quantize
        self.batch_size = int(batch_size)
        self.key = key
        self.use_cache = cache
        self.extractor: Extractor | None = None
        self.cache: FeatureCache | None = None
        self._weights_mode = "pretrained"
        self.counts = {"ref_computed": 0, "ref_cached": 0, "out_computed": 0,
                       "refset_computed": 0, "refset_cached": 0}
        # a named reference dataset for full-image FID / KID (validated now: errors carry key paths)
        if reference_limit is not None and reference_limit < 1:
            raise ConfigError("reference_limit", f"must be >= 1 (or null = every image), got {reference_limit}")
        if reference_limit is not None and reference is None:
            raise ConfigError("reference_limit", "needs 'reference' (a dataset spec)")
        self.reference_spec = dict(reference) if reference is not None else None
        self.reference_limit = reference_limit
        self.reference_ds = None
        if reference is not None:
            from ..registry import DATASETS

            self.reference_ds = DATASETS.create(reference, "reference")
        self.reference_feats: np.ndarray | None = None  # [N, D] float32, after setup
        self.reference_info: dict[str, Any] | None = None

    # -- set-up --------------------------------------------------------------------------------------
    def setup(self, ctx: RunContext) -> None:
        """Build the extractor (weights resolved now: a missing file fails before any work) and open the cache."""
        if self.extractor is None:
            self.extractor = build_inception(self.mode, ctx.weights, ctx.weights_dir, ctx.device, ctx.seed)
        self._weights_mode = ctx.weights
        self.cache = FeatureCache(default_cache_dir(ctx) if self.use_cache else None)

    def needs_reference(self) -> bool:
        """Whether this metric compares with a named reference dataset whose features are not set yet (the
        scoring stage builds them: :func:`bench.scoring.reference.prepare_reference`)."""
        return self.reference_ds is not None and self.reference_feats is None

    def full_image_features(self, images: list[torch.Tensor]) -> tuple[np.ndarray, int]:
        """Full-image features of [3, h, w] images in [0, 1], read from and added to the feature cache under the
        same key as a ground truth's (so a reference image that is also a sample is extracted once): ([N, D],
        how many were computed rather than read)."""
        assert self.extractor is not None and self.cache is not None
        ident = self.extractor.identity()
        imgs = [self._prep(x) for x in images]
        keys = [_key(ident, "full", img, self.quantize) for img in imgs]
        cached = self.cache.get_many(keys)
        todo = [i for i, k in enumerate(keys) if k not in cached]
        new = dict(zip([keys[i] for i in todo], self._extract([imgs[i] for i in todo]))) if todo else {}
        if new:
            self.cache.put_many(new)
        return np.stack([cached[k] if k in cached else new[k] for k in keys]), len(todo)

    def set_reference(self, feats: np.ndarray, info: dict[str, Any]) -> None:
        """The named reference set's features and where they came from (its provenance)."""
        self.reference_feats = feats
        self.reference_info = info

    def set_extractor(self, extractor: Extractor) -> None:
        """Use a given extractor (tests, custom networks); ``setup`` then keeps it."""
        if extractor.mode != self.mode:
            raise ValueError(f"extractor mode {extractor.mode!r} differs from the metric's mode {self.mode!r}")
        self.extractor = extractor

    def packages(self) -> list[tuple[str, str]]:
        return [("cleanfid", "metrics")] if self.mode == "legacy_pytorch" else []

    def weights_files(self, weights: str = "pretrained") -> list[str]:
        if weights != "pretrained" or self.extractor is not None:
            return []
        return ["pt_inception-2015-12-05-6726825d.pth" if self.mode == "legacy_pytorch" else "inception-2015-12-05.pt"]

    def needs_ground_truth(self) -> bool:
        return self.reference_spec is None or self.crop  # crops and P-IDS/U-IDS pair outputs with ground truth

    def reference_features(self) -> set[str]:
        keys = self.feature_keys()
        return {v for k, v in keys.items() if k.startswith("ref")}

    def feature_keys(self) -> dict[str, str]:
        k = self.key
        keys = {"out": f"feat_{k}", "ref": f"feat_{k}_ref"}
        if self.crop:
            keys.update(out_crop=f"feat_{k}_crop", ref_crop=f"feat_{k}_ref_crop")
        return keys

    # -- extraction ----------------------------------------------------------------------------------
    def _prep(self, x01: torch.Tensor) -> torch.Tensor:
        return quantize(x01).float() if self.quantize else x01.detach().float().clamp(0, 1) * 255.0

    def _extract(self, images: list[torch.Tensor]) -> np.ndarray:
        """Features of a list of [3, h, w] images in [0, 255] (any sizes), via the mode's resize."""
        assert self.extractor is not None
        n = len(images)
        out = np.full((n, self.extractor.dim), np.nan, dtype=np.float32)
        if not n:
            return out
        # group by size so each network call gets one stacked batch (crops differ in size)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            groups.setdefault(tuple(im.shape[-2:]), []).append(i)
        ready: list[tuple[int, torch.Tensor]] = []
        for idx in groups.values():
            x = resize_for_mode(torch.stack([images[i] for i in idx]), self.mode)
            if self.mode == "legacy_tensorflow":
                for s in range(0, len(idx), self.batch_size):
                    f = self.extractor(x[s:s + self.batch_size]).cpu().numpy()
                    out[idx[s:s + self.batch_size]] = f
            else:
                ready.extend(zip(idx, x))
        for s in range(0, len(ready), self.batch_size):
            part = ready[s:s + self.batch_size]
            f = self.extractor(torch.stack([t for _, t in part])).cpu().numpy()
            out[[i for i, _ in part]] = f
        return out

    def compute(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        if self.extractor is None or self.cache is None:
            raise RuntimeError(f"metric '{getattr(self, 'registry_name', 'fid')}': setup() was not called")
        ident = self.extractor.identity()
        b = batch.size
        q_out = self._prep(batch.composite if self.image == "composite" else batch.raw)
        q_gt = self._prep(batch.gt)
        has_gt = batch.has_gt.reshape(-1).to("cpu", torch.bool).tolist()
        boxes = crop_boxes(batch.mask.to(torch.bool), self.crop_context, self.crop_min) if self.crop else [None] * b

        jobs: list[torch.Tensor] = []  # images to extract, in one pass
        slots: list[tuple[str, int, str | None]] = []  # (role, row, cache key)
        for i in range(b):
            jobs.append(q_out[i])
            slots.append(("out", i, None))
            if self.crop and boxes[i] is not None:
                y0, y1, x0, x1 = boxes[i]
                jobs.append(q_out[i, :, y0:y1, x0:x1])
                slots.append(("out_crop", i, None))
        # reference side: look up the cache first
        ref_wanted: list[tuple[str, int, str, torch.Tensor]] = []
        for i in range(b):
            if not has_gt[i]:
                continue
            img = q_gt[i]
            ref_wanted.append(("ref", i, _key(ident, "full", img, self.quantize), img))
            if self.crop and boxes[i] is not None:
                y0, y1, x0, x1 = boxes[i]
                c = img[:, y0:y1, x0:x1]
                ref_wanted.append(("ref_crop", i, _key(ident, "crop", c, self.quantize), c))
        cached = self.cache.get_many([k for _, _, k, _ in ref_wanted])
        for role, i, k, img in ref_wanted:
            if k not in cached:
                jobs.append(img)
                slots.append((role, i, k))
        self.counts["ref_cached"] += sum(1 for _, _, k, _ in ref_wanted if k in cached)

        feats = self._extract(jobs)
        d = feats.shape[1] if len(jobs) else self.extractor.dim
        keys = self.feature_keys()
        res = {role: np.full((b, d), np.nan, dtype=np.float32) for role in keys}
        new: dict[str, np.ndarray] = {}
        for (role, i, k), f in zip(slots, feats):
            res[role][i] = f
            if k is not None:
                new[k] = f
                self.counts["ref_computed"] += 1
            else:
                self.counts["out_computed"] += 1
        for role, i, k, _ in ref_wanted:
            if k in cached:
                res[role][i] = cached[k]
        if new:
            self.cache.put_many(new)
        return {keys[role]: arr for role, arr in res.items()}

    def provenance(self) -> dict[str, Any]:
        ex = self.extractor
        p: dict[str, Any] = {
            "features": "inception pool3 (2048-d), per sample",
            "image": ("the composite: output in the hole, input outside" if self.image == "composite" else
                      "the raw output (never pasted back)"),
            "mode": self.mode,
            "extractor": ex.name if ex else None,
            "weights": dict(ex.weights) if ex else None,
            "quantize": "uint8 (round(x*255)), as clean-fid reads PNGs" if self.quantize else "none (float)",
            "reference": ("ground truth of the same samples (gt; the original image for reconstruction)"
                          if self.reference_spec is None else
                          "full-image fid/kid: the named reference dataset (reference_set); fid_crop/kid_crop and "
                          "p_ids/u_ids: ground truth of the same samples"),
            "feature_keys": self.feature_keys(),
            "crop": ({"box": "hole bounding box, long side * (1 + 2*context), square, shifted inside the image",
                      "context": self.crop_context, "min_px": self.crop_min,
                      "resize": f"clean-fid mode {self.mode}"} if self.crop else None),
            "cache": "content hash of quantized pixels + extractor name, mode, weights hash",
        }
        if self.reference_spec is not None:
            p["reference_set"] = (dict(self.reference_info) if self.reference_info is not None
                                  else {"spec": self.reference_spec, "limit": self.reference_limit})
        if ex is not None and not ex.comparable:
            p["comparable"] = False
            p["noncomparable_reason"] = (f"random-weight Inception ({ex.name}, seed {ex.weights.get('seed')}): "
                                         f"FID/KID/IDS not comparable with published numbers")
        return p


def _key(ident: str, kind: str, img: torch.Tensor, quantized: bool) -> str:
    from .features import content_hash

    t = img.to(torch.uint8) if quantized else img
    return content_hash("inception-ref-v1", ident, kind, t)


def features_sha256(arr: np.ndarray) -> str:
    """SHA-256 of a reference feature matrix (float32 bytes, dtype and shape): names its file, checked on read."""
    from .features import content_hash

    return content_hash("inception-refset-v1", np.ascontiguousarray(arr, dtype=np.float32))
