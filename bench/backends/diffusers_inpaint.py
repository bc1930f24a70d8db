"""Diffusion inpainting pipelines through diffusers' ``AutoPipelineForInpainting``.

Any inpainting pipeline that ``AutoPipelineForInpainting`` resolves works: SD 1.5 / SD 2 inpainting, SDXL
inpainting, Kandinsky 2.2 inpaint, FLUX.1 Fill. The model is a hub id (read from the local Hugging Face cache:
``local_files_only`` is on by default, so a benchmark never downloads in the middle of a run) or a local folder
holding a diffusers pipeline (``model_index.json``).

What is passed to the pipeline, per batch: the blanked image [B, 3, H, W] in [0, 1] and the mask (1 = hole) as
tensors, ``height``/``width`` explicitly (the adapter has already padded them to the VAE's multiple, so the pipeline
never resizes), one CPU ``torch.Generator`` per sample (so a sample's noise does not depend on its batch), and
``output_type="pt"``. Parameters a pipeline does not accept (e.g. ``negative_prompt`` for FLUX Fill) are not
passed; they are listed under ``ignored_params`` in the provenance.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import BenchError, ConfigError, WeightsError
from ..types import RunContext
from .base import Backend, Geometry

#: object-removal defaults: describe the background, push away objects and artefacts
REMOVAL_PROMPT = "empty background, seamless continuation of the surrounding scene, high quality"
REMOVAL_NEGATIVE = ("object, person, animal, text, watermark, logo, frame, border, blurry, artifacts, distorted, "
                    "low quality")

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
           "half": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def require_diffusers(backend: str) -> None:
    """A clear message instead of a bare ModuleNotFoundError when the optional dependencies are missing."""
    try:
        import diffusers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        raise BenchError(f"{backend}: needs diffusers and transformers ({e}); install them with "
                         f"pip install 'inpaint-bench[diffusers]'") from e


def resolve_dtype(name: str, ctx: RunContext) -> torch.dtype:
    """``auto`` = the suite's ``dtype`` (``RunContext.dtype``); else float32/float16/bfloat16 (fp32/fp16/bf16).

    Half precision on the CPU is allowed but slow; the suite decides.
    """
    if name == "auto":
        return ctx.dtype
    return _DTYPES[name]


def check_dtype_name(name: str) -> str:
    if name != "auto" and name not in _DTYPES:
        raise ValueError(f"dtype must be 'auto' or one of {', '.join(sorted(_DTYPES))}, got {name!r}")
    return name


def dtype_kwargs(dtype: torch.dtype, library: str = "diffusers") -> dict[str, torch.dtype]:
    """``{"dtype": d}`` where the library takes it (diffusers >= 0.36-ish, transformers >= 5), else ``torch_dtype``."""
    if library == "diffusers":
        try:
            from diffusers.utils import deprecation_utils

            new = hasattr(deprecation_utils, "_resolve_dtype")
        except ImportError:
            new = False
    else:
        import transformers

        new = int(transformers.__version__.split(".")[0]) >= 5
    return {"dtype": dtype} if new else {"torch_dtype": dtype}


def looks_like_path(model: str) -> bool:
    """A hub id is ``name`` or ``org/name``; anything else with slashes, or starting with / . ~, is a path."""
    return model.startswith(("/", ".", "~")) or model.count("/") >= 2 or "\\" in model


def missing_model_error(backend: str, model: str, local_files_only: bool, err: BaseException) -> WeightsError:
    """The one message for a model that cannot be loaded: what, why, and the three ways to supply it."""
    where = "not in the local Hugging Face cache" if local_files_only else "could not be loaded"
    return WeightsError(
        f"{backend}: model '{model}' {where} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
        f"Fetch it on a machine with internet access with `huggingface-cli download {model}` (or `hf download "
        f"{model}`) and copy the cache over; point HF_HOME (or HF_HUB_CACHE) at the cache that holds it; or give "
        f"`model:` a local folder that holds the diffusers pipeline (model_index.json). Currently HF_HOME="
        f"{os.environ.get('HF_HOME', '~/.cache/huggingface (default)')}.")


def set_scheduler(pipe: Any, name: str | None, backend: str) -> None:
    """Replace the pipeline's scheduler by a diffusers scheduler class name, keeping its config."""
    if not name:
        return
    import diffusers

    cls = getattr(diffusers, name, None)
    if cls is None or not name.endswith("Scheduler"):
        import difflib

        known = [n for n in dir(diffusers) if n.endswith("Scheduler") and not n.startswith("_")]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(known)}"
        raise ConfigError("scheduler", f"{backend}: unknown diffusers scheduler '{name}'{hint}")
    pipe.scheduler = cls.from_config(pipe.scheduler.config)


def call_params(pipe: Any) -> tuple[set[str], bool]:
    """Names ``pipe.__call__`` accepts, and whether it takes ``**kwargs``."""
    params = inspect.signature(pipe.__call__).parameters
    return set(params), any(p.kind == p.VAR_KEYWORD for p in params.values())


def place_pipeline(pipe: Any, device: torch.device, dtype: torch.dtype, cpu_offload: bool) -> str:
    """Move to ``device``/``dtype``; with ``cpu_offload`` on CUDA use model CPU offload. Returns what was done."""
    if cpu_offload and device.type == "cuda":
        if getattr(pipe, "dtype", None) != dtype:
            pipe.to(dtype=dtype)
        pipe.enable_model_cpu_offload(device=device)
        return "model_cpu_offload"
    if getattr(pipe, "dtype", None) != dtype:
        pipe.to(device=device, dtype=dtype)
    else:
        pipe.to(device)
    return "none"


def compile_denoiser(pipe: Any) -> str | None:
    """``torch.compile`` the denoiser (UNet or transformer); returns the name of what was compiled."""
    for name in ("unet", "transformer"):
        mod = getattr(pipe, name, None)
        if mod is not None:
            setattr(pipe, name, torch.compile(mod))
            return name
    return None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def library_versions() -> dict[str, str]:
    out = {"torch": torch.__version__}
    for mod in ("diffusers", "transformers"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            pass
    return out


class DiffusersBackend(Backend):
    """Any diffusers inpainting pipeline (SD/SDXL inpainting, Kandinsky 2.2, FLUX Fill) by hub id or local path."""

    deterministic = False  # uses the per-sample generators

    def __init__(self, model: str = "", pipeline: Any = None, dtype: str = "auto", steps: int = 50,
                 guidance_scale: float | None = None, strength: float | None = None, scheduler: str | None = None,
                 prompt: str = REMOVAL_PROMPT, negative_prompt: str | None = REMOVAL_NEGATIVE,
                 cpu_offload: bool = False, compile: bool = False, local_files_only: bool = True,
                 variant: str | None = None, revision: str | None = None, max_sequence_length: int | None = None,
                 call_kwargs: dict | None = None, pad_multiple: int | None = None, fixed_size: int | None = None,
                 max_side: int | None = None, crop_margin: int | None = None):
        if not model and pipeline is None:
            raise ValueError("give 'model' (a hub id or a local folder)")
        if pipeline is not None and not callable(pipeline):
            raise ValueError("'pipeline' takes a diffusers pipeline object (programmatic use); in YAML use 'model'")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if strength is not None and not 0.0 < strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {strength}")
        self.model = model
        self.pipe = pipeline
        self.dtype_name = check_dtype_name(dtype)
        self.steps = steps
        self.guidance_scale = guidance_scale
        self.strength = strength
        self.scheduler = scheduler
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.cpu_offload = cpu_offload
        self.compile = compile
        self.local_files_only = local_files_only
        self.variant = variant
        self.revision = revision
        self.max_sequence_length = max_sequence_length
        self.call_kwargs = dict(call_kwargs or {})
        self._geometry_overrides = dict(pad_multiple=pad_multiple, fixed_size=fixed_size, max_side=max_side,
                                        crop_margin=crop_margin)
        self.geometry = Geometry(pad_multiple=8).override(**self._geometry_overrides)
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self._ignored: list[str] = []
        self._placement = "none"
        self._compiled: str | None = None

    # -- loading ---------------------------------------------------------------------------------------
    def _load(self) -> Any:
        from diffusers import AutoPipelineForInpainting

        model = self.model
        if Path(model).expanduser().exists():
            model = str(Path(model).expanduser())
        elif looks_like_path(model):
            raise WeightsError(f"diffusers: local model folder '{model}' does not exist; give an existing folder "
                               f"with model_index.json, or a hub id from the local cache")
        kw: dict[str, Any] = {**dtype_kwargs(self.dtype), "local_files_only": self.local_files_only}
        if self.variant:
            kw["variant"] = self.variant
        if self.revision:
            kw["revision"] = self.revision
        try:
            pipe = AutoPipelineForInpainting.from_pretrained(model, **kw)
        except (OSError, ValueError, EnvironmentError) as e:
            raise missing_model_error("diffusers", self.model, self.local_files_only, e) from e
        # the NSFW checker blacks out images it flags: that would corrupt a benchmark silently
        if getattr(pipe, "safety_checker", None) is not None:
            pipe.safety_checker = None
        return pipe

    def setup(self, ctx: RunContext) -> None:
        self.device = torch.device(ctx.device)
        self.dtype = resolve_dtype(self.dtype_name, ctx)
        if self.pipe is None:
            require_diffusers("diffusers")
            self.pipe = self._load()
        pipe = self.pipe
        set_scheduler(pipe, self.scheduler, "diffusers")
        self._placement = place_pipeline(pipe, self.device, self.dtype, self.cpu_offload)
        if self.compile:
            self._compiled = compile_denoiser(pipe)
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        # pad to what the latent space needs: the VAE factor, x2 for FLUX's 2x2 latent packing
        factor = int(getattr(pipe, "vae_scale_factor", 0) or getattr(pipe, "movq_scale_factor", 0) or 8)
        if type(pipe).__name__.startswith("Flux"):
            factor *= 2
        self.geometry = Geometry(pad_multiple=factor).override(**self._geometry_overrides)
        names, any_kw = call_params(pipe)
        self._ignored = []
        for key, value in (("negative_prompt", self.negative_prompt), ("strength", self.strength),
                           ("guidance_scale", self.guidance_scale),
                           ("max_sequence_length", self.max_sequence_length)):
            if value is not None and key not in names and not any_kw:
                self._ignored.append(key)

    # -- inference -------------------------------------------------------------------------------------
    def _kwargs(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> dict[str, Any]:
        b, _, h, w = image.shape
        names, any_kw = call_params(self.pipe)
        kw: dict[str, Any] = dict(prompt=[self.prompt] * b, image=image.to(self.device, torch.float32),
                                  mask_image=mask.to(self.device, torch.float32), height=h, width=w,
                                  num_inference_steps=self.steps, generator=list(generator), output_type="pt")
        optional = {"negative_prompt": [self.negative_prompt] * b if self.negative_prompt is not None else None,
                    "strength": self.strength, "guidance_scale": self.guidance_scale,
                    "max_sequence_length": self.max_sequence_length}
        for key, value in optional.items():
            if value is not None and (key in names or any_kw):
                kw[key] = value
        kw.update(self.call_kwargs)
        return kw

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> torch.Tensor:
        with torch.no_grad():
            result = self.pipe(**self._kwargs(image, mask, generator))
        out = result.images if hasattr(result, "images") else result[0]
        if not isinstance(out, torch.Tensor):  # a pipeline that ignores output_type="pt"
            import numpy as np

            out = torch.from_numpy(np.stack([np.asarray(o, dtype=np.float32) / 255.0 for o in out])).permute(0, 3, 1, 2)
        out = out.float()
        sync(self.device)
        return out

    def teardown(self) -> None:
        self.pipe = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def provenance(self) -> dict[str, Any]:
        pipe = self.pipe
        prov: dict[str, Any] = {
            "model": self.model or "(pipeline object)", "dtype": str(self.dtype).replace("torch.", ""),
            "steps": self.steps, "guidance_scale": self.guidance_scale, "strength": self.strength,
            "prompt": self.prompt, "negative_prompt": self.negative_prompt, "cpu_offload": self._placement,
            "compiled": self._compiled, "ignored_params": self._ignored, "versions": library_versions(),
            "pad_multiple": self.geometry.pad_multiple,
        }
        if pipe is not None:
            prov["pipeline"] = type(pipe).__name__
            prov["scheduler"] = type(pipe.scheduler).__name__ if getattr(pipe, "scheduler", None) else None
            cfg = getattr(pipe, "config", {}) or {}
            prov["name_or_path"] = cfg.get("_name_or_path") if hasattr(cfg, "get") else None
        return prov
