"""``replacement-features``: the replacement test on a vision transformer's patch features (DINOv2 or CLIP).

The idea of ReMOVE and OmniPaint's CFD, with the same ring baseline as the weight-free ``replacement``: the mean
patch feature of the hole against the mean feature of a ring of context patches (cosine distance), minus how far
ring sectors typically are from the rest of the ring:

    replacement_features_score = (1 - cos(mean f[hole], mean f[ring])) - median_k (1 - cos(mean f[sector k],
                                                                                        mean f[ring minus k]))

Weights load offline from a local folder (``save_pretrained`` layout: ``config.json`` + ``model.safetensors``):
``weights:`` in the suite, else ``<weights_dir>/<model>``, else ``$INPAINT_BENCH_WEIGHTS/<model>``, else the
Hugging Face cache (``local_files_only``). Nothing is downloaded; a ``weights: random`` suite without local weights gets a small
random ViT (provenance ``weights: random``; its scores mean nothing). No threshold ships for it (the calibration runs
offline, without these weights): ``replacement_features_flag`` is NaN unless the suite gives ``threshold:``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import WeightsError
from ..types import EvalBatch, RunContext
from ._util import nan_array
from .thresholds import CalibratedDetector

#: short name -> (Hugging Face id, family)
MODELS: dict[str, tuple[str, str]] = {
    "dinov2-small": ("facebook/dinov2-small", "dinov2"),
    "dinov2-base": ("facebook/dinov2-base", "dinov2"),
    "dinov2-large": ("facebook/dinov2-large", "dinov2"),
    "clip-vit-base-patch16": ("openai/clip-vit-base-patch16", "clip"),
    "clip-vit-large-patch14": ("openai/clip-vit-large-patch14", "clip"),
}
NORM = {"dinov2": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))}


def _family_of(config: Any) -> str:
    mt = getattr(config, "model_type", "")
    if "dinov2" in mt:
        return "dinov2"
    if "clip" in mt:
        return "clip"
    raise ValueError(f"unsupported model type {mt!r}: use a DINOv2 or CLIP vision model")


def _load(path: str | Path, family_hint: str | None = None):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    family = _family_of(config) if family_hint is None else family_hint
    if family == "dinov2":
        from transformers import Dinov2Model

        net = Dinov2Model.from_pretrained(str(path), local_files_only=True)
    else:
        from transformers import CLIPVisionModel

        net = CLIPVisionModel.from_pretrained(str(path), local_files_only=True)
    return net, family


class FeatureReplacementDetector(CalibratedDetector):
    """Fill is foreign to its surroundings, on DINOv2/CLIP patch features (ReMOVE/CFD idea; needs local weights).

    Parameters: ``model`` (a name of :data:`MODELS` or a Hugging Face id), ``weights`` (a local model folder),
    ``threshold`` (none ships: flags are NaN without it), ``image_size`` (DINOv2 input side; CLIP uses its own),
    ``ring_patches`` (ring width in patches), ``n_sectors``, ``batch_size``.
    """

    key = "replacement_features"

    def __init__(self, model: str = "dinov2-small", weights: str | None = None, threshold: float | None = None,
                 image_size: int = 224, ring_patches: int = 2, n_sectors: int = 6, batch_size: int = 16,
                 thresholds: str | None = None) -> None:
        self.model = model
        self.weights = weights
        self.image_size = int(image_size)
        self.ring_patches = int(ring_patches)
        self.n_sectors = int(n_sectors)
        self.batch_size = int(batch_size)
        self.net: torch.nn.Module | None = None
        self.family: str | None = None
        self.source: str | None = None
        self.device = torch.device("cpu")
        self._thresholds(thresholds, threshold=threshold)

    # -- weights ------------------------------------------------------------------------------------------
    def candidates(self, ctx: RunContext | None) -> list[Path]:
        name = self.model.split("/")[-1]
        out = []
        if self.weights:
            out.append(Path(self.weights).expanduser())
        if ctx is not None and ctx.weights_dir:
            out.append(Path(ctx.weights_dir).expanduser() / name)
        if os.environ.get("INPAINT_BENCH_WEIGHTS"):
            out.append(Path(os.environ["INPAINT_BENCH_WEIGHTS"]).expanduser() / name)
        return out

    def check_weights(self, ctx: RunContext) -> None:
        """Raise :meth:`setup`'s :class:`WeightsError` when no local folder and no Hugging Face cache entry holds
        the model (only its config is looked at; nothing loaded): the runner asks before any output is generated.
        Nothing to check with ``weights: random`` (a random network stands in)."""
        if self.net is not None or ctx.weights == "random":
            return
        from transformers import AutoConfig

        hub_id, _ = MODELS.get(self.model, (self.model, None))
        tried = self.candidates(ctx)
        if any((c / "config.json").is_file() for c in tried):
            return
        try:
            AutoConfig.from_pretrained(hub_id, local_files_only=True)
        except (OSError, ValueError) as e:
            raise self._missing(hub_id, tried, e) from e

    def _missing(self, hub_id: str, tried: list[Path], e: BaseException) -> WeightsError:
        return WeightsError(
            f"replacement-features: weights for '{self.model}' ({hub_id}) not found locally. Put a "
            f"save_pretrained folder (config.json + model.safetensors) at "
            f"{' or '.join(str(c) for c in tried) or '<weights_dir>/' + hub_id.split('/')[-1]}, "
            f"e.g. `huggingface-cli download {hub_id} --local-dir <that folder>` on a machine "
            f"online, or name it with `weights:`. ({type(e).__name__})")

    def setup(self, ctx: RunContext) -> None:
        self.device = ctx.device
        if self.net is None:
            hub_id, family = MODELS.get(self.model, (self.model, None))
            tried = self.candidates(ctx)
            for c in tried:
                if (c / "config.json").is_file():
                    self.net, self.family = _load(c, family)
                    self.source = str(c)
                    break
            else:
                try:  # the Hugging Face cache, offline
                    self.net, self.family = _load(hub_id, family)
                    self.source = f"hf-cache:{hub_id}"
                except (OSError, ValueError) as e:
                    if ctx.weights == "random":  # the suite accepts random weights: a small random ViT, marked so
                        self.net, self.family = self._random(family or "dinov2", ctx.seed)
                        self.source = "random"
                        self.net = self.net.to(self.device).eval()
                        return
                    raise self._missing(hub_id, tried, e) from e
        self.net = self.net.to(self.device).eval()

    @staticmethod
    def _random(family: str, seed: int):
        """A DINOv2-small-shaped (or CLIP-B/16-shaped) network with random weights (``weights: random`` suites)."""
        from transformers import CLIPVisionConfig, CLIPVisionModel, Dinov2Config, Dinov2Model

        dims = dict(hidden_size=384, num_hidden_layers=4, num_attention_heads=6, intermediate_size=1536,
                    image_size=224)
        with torch.random.fork_rng(devices=[]):  # transformers initialises from the global generator: isolate it
            torch.manual_seed(seed)
            if family == "clip":
                return CLIPVisionModel(CLIPVisionConfig(patch_size=16, **dims)), "clip"
            return Dinov2Model(Dinov2Config(patch_size=14, **dims)), "dinov2"

    def use_model(self, net: torch.nn.Module, family: str | None = None, source: str = "in-memory") -> None:
        """Use an already built model (tests: tiny random models from configs)."""
        self.net = net.eval()
        self.family = family or _family_of(net.config)
        self.source = source

    # -- features -----------------------------------------------------------------------------------------
    def _side(self) -> tuple[int, int]:
        cfg = self.net.config  # type: ignore[union-attr]
        p = int(cfg.patch_size)
        if self.family == "clip":
            return int(cfg.image_size), p
        return max(p, self.image_size // p * p), p

    @torch.no_grad()
    def patch_features(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> L2-normalised patch features [B, g, g, D]."""
        side, p = self._side()
        mean, std = NORM[self.family or "dinov2"]
        dev = next(self.net.parameters()).device  # type: ignore[union-attr]
        g = side // p
        out = []
        for i in range(0, images.shape[0], self.batch_size):  # resized and normalised where the network runs
            x = F.interpolate(images[i:i + self.batch_size].to(dev).float(), size=(side, side), mode="bilinear",
                              align_corners=False, antialias=True)
            x = (x - torch.tensor(mean, device=dev).view(1, 3, 1, 1)) / torch.tensor(std, device=dev).view(1, 3, 1, 1)
            hs = self.net(pixel_values=x).last_hidden_state  # type: ignore[misc]
            tok = F.normalize(hs[:, -g * g:, :].float(), dim=-1).cpu()
            out.append(tok.reshape(tok.shape[0], g, g, -1))
        return torch.cat(out)

    def score_one(self, feats: torch.Tensor, mask: torch.Tensor) -> float:
        """``feats`` [g, g, D] normalised; ``mask`` [1, H, W] bool."""
        g = feats.shape[0]
        cov = F.adaptive_avg_pool2d(mask.float()[None], (g, g))[0, 0]  # share of each patch in the hole
        hole = cov >= 0.5
        if not bool(hole.any()):
            return math.nan
        near = F.max_pool2d((cov > 0).float()[None, None], 2 * self.ring_patches + 1, 1, self.ring_patches)[0, 0]
        ring = (near > 0) & (cov == 0)
        if int(ring.sum()) < 2:
            return math.nan
        h = F.normalize(feats[hole].mean(0), dim=0)
        r_feats = feats[ring]
        r = F.normalize(r_feats.mean(0), dim=0)
        d_hole = 1.0 - float(h @ r)
        ys, xs = torch.nonzero(hole, as_tuple=True)
        cy, cx = ys.float().mean(), xs.float().mean()
        ry, rx = torch.nonzero(ring, as_tuple=True)
        sec = ((torch.atan2(ry.float() - cy, rx.float() - cx) + math.pi) / (2 * math.pi) * self.n_sectors).long()
        sec = sec.clamp_max(self.n_sectors - 1)
        base = []
        for k in range(self.n_sectors):
            sel = sec == k
            if int(sel.sum()) == 0 or int((~sel).sum()) == 0:
                continue
            a = F.normalize(r_feats[sel].mean(0), dim=0)
            b = F.normalize(r_feats[~sel].mean(0), dim=0)
            base.append(1.0 - float(a @ b))
        return d_hole - (float(np.median(base)) if base else 0.0)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        if self.net is None:
            raise RuntimeError("replacement-features: setup() was not called (no model loaded)")
        feats = self.patch_features(batch.output.detach())
        s = nan_array(batch.size)
        for i in range(batch.size):
            s[i] = self.score_one(feats[i], batch.mask[i].detach().cpu().bool())
        return {"replacement_features_score": s}

    def provenance(self) -> dict[str, Any]:
        side = self._side()[0] if self.net is not None else None
        p = {**super().provenance(), "model": self.model, "family": self.family, "weights": self.source,
             "input_side": side, "ring_patches": self.ring_patches, "n_sectors": self.n_sectors}
        if self.source == "random":  # the run is marked non-comparable (like random-backbone LPIPS and FID)
            p["comparable"] = False
            p["noncomparable_reason"] = (f"replacement-features on a random {self.family} network (weights: random): "
                                         f"its scores mean nothing")
        return p
