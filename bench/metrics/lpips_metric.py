"""Masked LPIPS on top of the ``lpips`` package (v0.1 linear heads; AlexNet by default, VGG-16 on request).

* ``lpips_in``:   the spatial LPIPS map (``lpips.LPIPS(spatial=True)``: each layer's linear-head output upsampled
  bilinearly to the image size, summed over layers) between the final output and the ground truth, averaged over
  the hole's pixels. Rows without ground truth: NaN.
* ``lpips_out``:  the same map between the raw output (never pasted back) and the input, averaged over the pixels
  outside the hole.
* ``lpips_crop``: LPIPS (the package's scalar: spatial mean per layer, summed) between the hole crops of output and
  ground truth (:func:`bench.metrics.features.crop_box`), resized bilinearly (antialiased) to ``crop_size`` px.
* ``lpips_full``: the package's scalar between the composite (output in the hole, input outside) and the ground
  truth, whole frame: LaMa's LPIPS (with ``net: vgg``), PowerPaint's and most papers'.

Backbone features of an image that appears twice (ground truth == input for reconstruction; output == raw without
paste-back) are computed once per batch, and the reference side's (input, ground truth) are kept in a bounded
in-memory LRU (on the CPU: no GPU memory held between batches) keyed by pixel content, so later cells of the same
samples reuse them.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, WeightsError
from ..types import EvalBatch, RunContext
from .base import Column, Metric, check_regions
from .features import LRU, content_hash, crop_boxes, take_crops

BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
#: the shortest image side each backbone reads (AlexNet's strided first convolution and two 3-px poolings; VGG-16's
#: four 2-px poolings): a smaller image has no feature map, so no LPIPS map or scalar of the whole frame
MIN_SIDE = {"alex": 31, "vgg": 16}


def build_lpips(net: str = "alex", weights: str = "pretrained", weights_dir=None, seed: int = 0):
    """An ``lpips.LPIPS`` module with its weights resolved by :mod:`bench.weights` (nothing downloaded).

    ``weights == "random"``: the v0.1 linear heads (they ship with the package) on a randomly initialised
    backbone (seeded). Returns (model, provenance dict).
    """
    import lpips

    from .. import weights as W

    if net not in BACKBONE_FILES:
        raise ConfigError("net", f"unknown LPIPS net '{net}'; choose 'alex' or 'vgg'")
    if weights not in ("pretrained", "random"):
        raise ConfigError("weights", f"expected 'pretrained' or 'random', got {weights!r}")
    heads = W.resolve(f"lpips-v0.1-{net}.pth", weights_dir)  # resolve every file before building anything
    backbone = W.resolve(BACKBONE_FILES[net], weights_dir) if weights == "pretrained" else None
    import warnings

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision's deprecated `pretrained=` inside lpips
        torch.manual_seed(int(seed))
        model = lpips.LPIPS(pretrained=False, net=net, version="0.1", pnet_rand=True, verbose=False)
    model.load_state_dict(torch.load(str(heads), map_location="cpu", weights_only=True), strict=False)
    prov: dict[str, Any] = {"net": net, "version": "0.1", "heads": W.describe(heads)}
    if weights == "random":
        prov["backbone"] = {"random": True, "seed": int(seed)}
    else:
        path = backbone
        try:
            load_backbone(model, torch.load(str(path), map_location="cpu", weights_only=True))
        except Exception as e:  # noqa: BLE001
            raise WeightsError(f"weights file {path}: cannot be loaded as the torchvision {net} backbone ({e}); "
                               f"download it again from {W.KNOWN[path.name].url}") from e
        prov["backbone"] = W.describe(path)
    return model.eval(), prov


def load_backbone(model, state: dict[str, torch.Tensor]) -> None:
    """Load a torchvision classifier state dict's ``features.<i>.*`` into lpips' sliced backbone (lpips names each
    slice's layers by their index in ``features``). Every ``features`` tensor must be used."""
    used = set()
    for slice_name in [n for n, _ in model.net.named_children() if n.startswith("slice")]:
        for idx, layer in getattr(model.net, slice_name).named_children():
            prefix = f"features.{idx}."
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if sub or any(True for _ in layer.parameters()):
                layer.load_state_dict(sub)
                used.update(prefix + k for k in sub)
    unused = [k for k in state if k.startswith("features.") and k not in used]
    if unused:
        raise ValueError(f"backbone tensors not used: {unused[:4]}")


class LPIPS(Metric):
    """Masked LPIPS: lpips_in (hole vs ground truth), lpips_out (outside vs input), lpips_crop (hole crop),
    lpips_full (the composite vs ground truth, whole frame)."""

    version = 2  # 2: lpips_full
    columns = {
        "lpips_full": Column(False, ".4f", True, "LPIPS of the composite (output in the hole, input outside) vs "
                                                 "ground truth, whole frame (the lpips package's scalar)"),
        "lpips_in": Column(False, ".4f", True, "spatial LPIPS map averaged over the hole vs ground truth"),
        "lpips_out": Column(False, ".4f", True, "spatial LPIPS map averaged outside the hole, raw vs input"),
        "lpips_crop": Column(False, ".4f", True, "LPIPS of the hole crop (square with context) vs ground truth"),
    }

    def __init__(self, net: str = "alex", crop: bool = True, crop_size: int = 128, crop_context: float = 0.1,
                 crop_min: int = 32, cache_mb: int = 1024, batch_size: int = 16, regions: list[str] | None = None):
        self.regions = check_regions(regions)
        if net not in BACKBONE_FILES:
            raise ConfigError("net", f"unknown LPIPS net '{net}'; choose 'alex' or 'vgg'")
        if crop_size < 64:
            raise ValueError(f"crop_size must be >= 64 (LPIPS needs it), got {crop_size}")
        self.net_name = net
        self.crop = crop
        self.crop_size = int(crop_size)
        self.crop_context = float(crop_context)
        self.crop_min = int(crop_min)
        self.batch_size = int(batch_size)
        self.lru = LRU(int(cache_mb) * 2**20)
        self.model = None
        self.prov: dict[str, Any] = {}
        self.device = torch.device("cpu")
        self.counts = {"backbone_images": 0, "reused": 0}

    def needs_ground_truth(self) -> bool:
        return "in" in self.regions or "full" in self.regions or self.crop

    def record_keys(self) -> list[str]:
        return [f"lpips_{r}" for r in self.regions] + (["lpips_crop"] if self.crop else [])

    def packages(self) -> list[tuple[str, str]]:
        return [("lpips", "metrics")]

    def weights_files(self, weights: str = "pretrained") -> list[str]:
        heads = f"lpips-v0.1-{self.net_name}.pth"
        return [heads, BACKBONE_FILES[self.net_name]] if weights == "pretrained" else [heads]

    def setup(self, ctx: RunContext) -> None:
        """Build the network; weights resolved now (a missing file fails before any work)."""
        if self.model is None:
            self.model, self.prov = build_lpips(self.net_name, ctx.weights, ctx.weights_dir, ctx.seed)
        self.device = ctx.device
        self.model = self.model.to(ctx.device)

    def set_model(self, model, prov: dict[str, Any] | None = None) -> None:
        """Use a given ``lpips.LPIPS`` module (tests); ``setup`` then keeps it."""
        self.model = model.eval()
        self.prov = prov or {"net": self.net_name, "given": True}

    # -- network pieces (exactly lpips.LPIPS.forward, split so features can be shared) -----------------
    def _backbone(self, x01: torch.Tensor) -> list[torch.Tensor]:
        import lpips

        m = self.model
        outs = []
        for s in range(0, x01.shape[0], self.batch_size):
            x = m.scaling_layer(2 * x01[s:s + self.batch_size].to(self.device).float() - 1)
            outs.append([lpips.normalize_tensor(o) for o in m.net.forward(x)])
        self.counts["backbone_images"] += int(x01.shape[0])
        return [torch.cat([o[k] for o in outs]) for k in range(len(outs[0]))]

    def _spatial(self, f0: list[torch.Tensor], f1: list[torch.Tensor], hw: tuple[int, int]) -> torch.Tensor:
        m = self.model
        val = 0
        for k in range(len(f0)):
            val = val + F.interpolate(m.lins[k]((f0[k] - f1[k]) ** 2), size=hw, mode="bilinear",
                                      align_corners=False)
        return val  # [N, 1, H, W]

    def _scalar(self, f0: list[torch.Tensor], f1: list[torch.Tensor]) -> torch.Tensor:
        m = self.model
        val = 0
        for k in range(len(f0)):
            val = val + m.lins[k]((f0[k] - f1[k]) ** 2).mean(dim=(2, 3), keepdim=True)
        return val.reshape(-1)

    def _ref_feats(self, x: torch.Tensor, tag: str) -> list[torch.Tensor]:
        """Backbone features of reference-side images (input / gt), reusing the content-keyed LRU."""
        keys = [content_hash("lpips", self.net_name, tag, x[i]) for i in range(x.shape[0])]
        got = [self.lru.get(k) for k in keys]
        missing = [i for i, g in enumerate(got) if g is None]
        self.counts["reused"] += x.shape[0] - len(missing)
        if missing:
            f = self._backbone(x[missing])
            for j, i in enumerate(missing):
                per = [t[j:j + 1].to("cpu", copy=True) for t in f]  # kept on the CPU: no GPU memory held
                got[i] = per
                self.lru.put(keys[i], per, sum(t.numel() * t.element_size() for t in per))
        return [torch.cat([g[k] for g in got]).to(self.device) for k in range(len(got[0]))]

    def compute(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return self._compute(batch)

    def _compute(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        if self.model is None:
            raise RuntimeError("metric 'lpips': setup() was not called")
        b = batch.size
        hw = tuple(batch.input.shape[-2:])
        need = MIN_SIDE[self.net_name]
        if min(hw) < need:
            raise ValueError(f"the image is {hw[0]}x{hw[1]} px, and LPIPS ({self.net_name}) reads images of at least "
                             f"{need} px a side: lpips_in, lpips_out and lpips_full are undefined for it")
        hole = batch.mask.to(torch.bool).to(self.device)
        has_gt = batch.has_gt.reshape(-1).to("cpu", torch.bool)
        f_in = self._ref_feats(batch.input, "full")
        same_gt = [bool(has_gt[i]) and torch.equal(batch.gt[i], batch.input[i]) for i in range(b)]
        if all(same_gt[i] or not bool(has_gt[i]) for i in range(b)):
            f_gt = f_in
        else:
            f_gt = self._ref_feats(batch.gt, "full")
        f_raw = self._backbone(batch.raw)
        if batch.output is batch.raw or torch.equal(batch.output, batch.raw):
            f_out = f_raw
        else:
            f_out = self._backbone(batch.output)
        nan = torch.full((b,), float("nan"), dtype=torch.float64)
        m_in = self._spatial(f_out, f_gt, hw).double()
        m_out = m_in if f_out is f_raw and f_gt is f_in else self._spatial(f_raw, f_in, hw).double()
        hf = hole.double()
        cnt_in = hf.sum(dim=(1, 2, 3))
        cnt_out = (1 - hf).sum(dim=(1, 2, 3))
        v_in = ((m_in * hf).sum(dim=(1, 2, 3)) / cnt_in).cpu()
        v_out = ((m_out * (1 - hf)).sum(dim=(1, 2, 3)) / cnt_out).cpu()
        v_in = torch.where((cnt_in.cpu() > 0) & has_gt, v_in, nan)
        v_out = torch.where(cnt_out.cpu() > 0, v_out, nan)
        res = {"lpips_in": v_in.numpy(), "lpips_out": v_out.numpy()}
        # whole frame on the composite: its features are the output's or the raw output's when they are equal
        comp = batch.composite
        if torch.equal(comp, batch.output):
            f_comp = f_out
        elif torch.equal(comp, batch.raw):
            f_comp = f_raw
        else:
            f_comp = self._backbone(comp)
        v_full = self._scalar(f_comp, f_gt).double().cpu()
        res["lpips_full"] = torch.where(has_gt, v_full, nan).numpy()
        res = {k: v for k, v in res.items() if k.rsplit("_", 1)[1] in self.regions}
        if self.crop:
            boxes = crop_boxes(batch.mask.to(torch.bool), self.crop_context, self.crop_min)
            rows = [i for i in range(b) if boxes[i] is not None and bool(has_gt[i])]
            v_crop = nan.clone()
            if rows:
                sel = [boxes[i] for i in rows]
                co = torch.stack(take_crops(batch.output[rows], sel, self.crop_size))
                cg = torch.stack(take_crops(batch.gt[rows], sel, self.crop_size))
                v = self._scalar(self._backbone(co), self._backbone(cg)).double().cpu()
                v_crop[rows] = v
            res["lpips_crop"] = v_crop.numpy()
        return res

    def provenance(self) -> dict[str, Any]:
        p: dict[str, Any] = {"lpips": dict(self.prov), "map": "spatial (lpips spatial=True), masked mean",
                             "crop": ({"size": self.crop_size, "context": self.crop_context, "min_px": self.crop_min,
                                       "resize": "bilinear, antialias"} if self.crop else None)}
        bb = self.prov.get("backbone", {})
        if isinstance(bb, dict) and bb.get("random"):
            p["comparable"] = False
            p["noncomparable_reason"] = (f"LPIPS with a random {self.net_name} backbone (seed {bb.get('seed')}): "
                                         f"not comparable with published numbers")
        return p
