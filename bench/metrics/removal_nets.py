"""The networks of the reference-free removal metrics (``remove``, ``cfd``, ``rcs``): SAM ViT-H and DINOv2 ViT-g/14.

Both come from the Hugging Face hub as files of :mod:`bench.weights` (``bench weights list`` names them), so they
follow the same search order, download-on-first-use, SHA-256 check, mirror and offline rules as every other
metric network:

* ``sam-vit-huge``: ``facebook/sam-vit-huge`` (``sam-vit-huge.config.json`` + ``sam-vit-huge.model.safetensors``),
  the transformers port of ``sam_vit_h_4b8939.pth``, the checkpoint ReMOVE and OmniPaint's CFD load;
* ``dinov2-giant``: ``facebook/dinov2-giant`` (``dinov2-giant.config.json`` + ``dinov2-giant.pytorch_model.bin``),
  what CFD (``AutoModel.from_pretrained("facebook/dinov2-giant")``) and PROVE (``DINO_PATH``) load.

``weights: random`` (the suite's) builds the same architecture from its configuration with random weights (seeded
by the suite's seed); the metric's provenance then says ``comparable: false``. A metric's ``config:`` parameter
overrides fields of that configuration (``{sam: {vision_config: {hidden_size: 16}}, dinov2: {...}}``), only with
random weights: tests and smoke runs use tiny networks that way (:data:`TINY`).

Networks are shared within a process: ``remove`` and ``cfd`` use one SAM, ``cfd`` and ``rcs`` one DINOv2.
"""
from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, WeightsError

#: name -> (hub id, family, weights files {role: bench.weights name})
NETS: dict[str, tuple[str, str, dict[str, str]]] = {
    "sam": ("facebook/sam-vit-huge", "sam",
            {"config": "sam-vit-huge.config.json", "weights": "sam-vit-huge.model.safetensors"}),
    "dinov2": ("facebook/dinov2-giant", "dinov2",
               {"config": "dinov2-giant.config.json", "weights": "dinov2-giant.pytorch_model.bin"}),
}

#: the architectures of the hub checkpoints (what ``weights: random`` builds when no config file is here)
ARCH: dict[str, dict[str, Any]] = {
    "sam": {"vision_config": {"hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16,
                              "global_attn_indexes": [7, 15, 23, 31], "mlp_dim": 5120, "image_size": 1024,
                              "patch_size": 16, "output_channels": 256}},
    "dinov2": {"hidden_size": 1536, "num_hidden_layers": 40, "num_attention_heads": 24, "mlp_ratio": 4,
               "use_swiglu_ffn": True, "image_size": 518, "patch_size": 14, "layerscale_value": 1.0},
}

#: tiny configurations for tests and smoke runs (``config: <one of these>``; random weights only)
TINY: dict[str, dict[str, Any]] = {
    # 256 px input, patch 4: the 64 x 64 embedding grid of the real SAM (ReMOVE resizes masks to 64 x 64)
    "sam": {"vision_config": {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                              "global_attn_indexes": [], "mlp_dim": 32, "image_size": 256, "patch_size": 4,
                              "window_size": 8, "output_channels": 32, "num_pos_feats": 16},
            "prompt_encoder_config": {"hidden_size": 32, "image_size": 256, "patch_size": 4,
                                      "image_embedding_size": 64},
            "mask_decoder_config": {"hidden_size": 32, "mlp_dim": 64, "iou_head_hidden_dim": 32,
                                    "num_hidden_layers": 2, "num_attention_heads": 2}},
    "dinov2": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "mlp_ratio": 2,
               "use_swiglu_ffn": False, "image_size": 518, "patch_size": 14},
}

_SHARED: dict[tuple, tuple[torch.nn.Module, dict[str, Any]]] = {}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def check_config(config: Any, nets: tuple[str, ...], metric: str) -> dict[str, dict[str, Any]]:
    """A metric's ``config:`` parameter: {network: {config field: value}} for networks the metric uses."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError("config", f"metric '{metric}': expected a mapping {{{', '.join(nets)}: {{...}}}}, got "
                                    f"{config!r}")
    bad = [k for k in config if k not in nets]
    if bad:
        raise ConfigError(f"config.{bad[0]}", f"metric '{metric}' has no network '{bad[0]}'; its networks: "
                                              f"{', '.join(nets)}")
    for k, v in config.items():
        if not isinstance(v, dict):
            raise ConfigError(f"config.{k}", f"expected a mapping of config fields, got {v!r}")
    return {k: dict(v) for k, v in config.items()}


def weights_files(nets: tuple[str, ...], weights: str) -> list[str]:
    """The :mod:`bench.weights` files the networks need (none with random weights)."""
    if weights == "random":
        return []
    return [f for n in nets for f in NETS[n][2].values()]


def _classes(family: str):
    if family == "sam":
        from transformers import SamConfig, SamModel

        return SamConfig, SamModel
    from transformers import Dinov2Config, Dinov2Model

    return Dinov2Config, Dinov2Model


def load(net: str, weights: str = "pretrained", weights_dir: str | Path | None = None, seed: int = 0,
         config: dict[str, Any] | None = None, device: torch.device | str = "cpu",
         metric: str = "?") -> tuple[torch.nn.Module, dict[str, Any]]:
    """(model in eval mode on ``device``, provenance). Pretrained: the files resolved by :mod:`bench.weights`
    (missing offline: :class:`WeightsError` naming the file); random: built from :data:`ARCH` + ``config``."""
    hub_id, family, files = NETS[net]
    device = torch.device(device)
    if weights not in ("pretrained", "random"):
        raise ConfigError("weights", f"expected 'pretrained' or 'random', got {weights!r}")
    if weights == "pretrained" and config:
        raise ConfigError("config", f"metric '{metric}': `config:` changes the {net} architecture, so it needs "
                                    f"`weights: random` (the pretrained {hub_id} has its own)")
    key = (net, weights, str(weights_dir), int(seed) if weights == "random" else None,
           json.dumps(config or {}, sort_keys=True), str(device))
    if key in _SHARED:
        return _SHARED[key]
    cfg_cls, model_cls = _classes(family)
    if weights == "random":
        cfg = cfg_cls(**_merge(ARCH[net], config or {}))
        with torch.random.fork_rng(devices=[]):  # transformers initialises from the global generator: isolate it
            torch.manual_seed(int(seed))
            model = model_cls(cfg)
        reinit(model, int(seed))
        prov: dict[str, Any] = {"hub_id": hub_id, "random": True, "seed": int(seed),
                                "config": config or "full-size architecture"}
    else:
        from .. import weights as W

        paths = {role: W.resolve(name, weights_dir) for role, name in files.items()}  # all before building
        with tempfile.TemporaryDirectory(prefix="inpaint-bench-") as tmp:  # a save_pretrained folder of links
            (Path(tmp) / "config.json").symlink_to(paths["config"].resolve())
            target = files["weights"].split(".", 1)[1]  # model.safetensors / pytorch_model.bin
            (Path(tmp) / target).symlink_to(paths["weights"].resolve())
            try:
                model = model_cls.from_pretrained(tmp, local_files_only=True)
            except Exception as e:  # noqa: BLE001
                raise WeightsError(f"weights files {', '.join(str(p) for p in paths.values())}: cannot be loaded as "
                                   f"{hub_id} ({type(e).__name__}: {e}); download them again with `bench weights "
                                   f"fetch {' '.join(files.values())}`") from e
        prov = {"hub_id": hub_id, "files": [W.describe(p) for p in paths.values()]}
    model = model.to(device).eval()
    _SHARED[key] = (model, prov)
    return model, prov


_SMALL = ("pos_embed", "position_embeddings", "cls_token", "mask_token", "rel_pos", "register_tokens")


@torch.no_grad()
def reinit(model: torch.nn.Module, seed: int) -> None:
    """Seeded, non-degenerate random weights (transformers' own initialisation leaves some of these networks'
    weights at ~1e-10 and their norms at 0, so every embedding would be 0): matrices and kernels normal with std
    1/sqrt(fan-in), position tables and tokens std 0.02, norm scales and layer scales 1, biases 0."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if any(k in name for k in _SMALL):
            p.copy_(torch.randn(p.shape, generator=g) * 0.02)
        elif leaf == "bias":
            p.zero_()
        elif p.ndim >= 2:
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
        else:  # norm weights, layer scales
            p.fill_(1.0)


def noncomparable(metric: str, provs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``comparable: false`` and why, when any of the metric's networks has random weights (else {})."""
    rnd = [n for n, p in provs.items() if p.get("random")]
    if not rnd:
        return {}
    return {"comparable": False,
            "noncomparable_reason": f"{metric} on random-weight {' and '.join(NETS[n][0] for n in rnd)} "
                                    f"(weights: random): not comparable with published numbers"}


class NetMetric:
    """What the three removal metrics share (a mixin for :class:`bench.metrics.base.Metric`): which networks they
    use (``NETS``), their ``config:`` override, the package and weights files they need, and loading one network
    for a run."""

    NETS: tuple[str, ...] = ()
    NAME = "?"

    def _init_nets(self, config: dict | None) -> None:
        self.config = check_config(config, self.NETS, self.NAME)
        self.device = torch.device("cpu")

    def weights_files(self, weights: str = "pretrained") -> list[str]:
        return weights_files(self.NETS, weights)

    def packages(self) -> list[tuple[str, str]]:
        """SAM and DINOv2 are transformers' models (the ``diffusers`` extra installs it): without it a run stops
        before any work naming it, or leaves an ``optional:`` metric out with one line."""
        return [("transformers", "diffusers")]

    def _load(self, net: str, ctx: Any):
        """(model, provenance) of ``net`` for the run's weights mode, seed and device."""
        self.device = ctx.device
        return load(net, ctx.weights, ctx.weights_dir, ctx.seed, self.config.get(net), ctx.device, self.NAME)
