"""Diffusion inpainting pipelines of diffusers: SD 1.5 / SD 2 inpainting, SDXL inpainting, Kandinsky 2.2, FLUX.1 Fill.

The model is a hub id (read from the local Hugging Face cache: ``local_files_only`` is on by default, so a benchmark
never downloads in the middle of a run) or a local folder holding a diffusers pipeline (``model_index.json``). The
pipeline class is the one ``model_index.json`` names (``_class_name``) when it is an inpainting pipeline (its name
ends in ``InpaintPipeline`` or ``FillPipeline``: ``FluxFillPipeline``, ``StableDiffusionXLInpaintPipeline``...);
otherwise ``AutoPipelineForInpainting`` maps it (a text-to-image checkpoint to its inpainting variant; Kandinsky 2.2's
decoder to the combined prior + decoder pipeline). ``AutoPipelineForInpainting`` alone would load FLUX.1 Fill as
``FluxInpaintPipeline`` (img2img-style inpainting with the base model's 64-channel transformer), which cannot run
the Fill checkpoint.

What is passed to the pipeline, per batch: the blanked image [B, 3, H, W] in [0, 1] and the mask (1 = hole) as
tensors, ``height``/``width`` explicitly (the adapter has already padded them to the latent space's multiple, so the
pipeline never resizes), one CPU ``torch.Generator`` per sample (so a sample's noise does not depend on its batch),
and ``output_type="pt"``. Parameters a pipeline does not name in its ``__call__`` (e.g. ``negative_prompt`` for
FLUX Fill) are not passed; they are listed under ``ignored_params`` in the provenance. With ``padding_mask_crop`` in
``call_kwargs`` (SD / SDXL inpainting: diffusers crops around the hole, inpaints the crop and pastes it back into the
input, and accepts only PIL images for it) each sample is passed alone as a model card passes it: an 8-bit RGB PIL
image, an ``L`` mask (255 = hole), ``output_type="pil"``, and no ``height``/``width`` (the crop is then inpainted at
the pipeline's default size, the UNet's ``sample_size`` times the VAE factor, unless ``call_kwargs`` sets them).

Family conventions (:func:`convention`): FLUX pads to 16 (x8 VAE, 2x2 packing). Kandinsky 2.2 takes image tensors in
[-1, 1], returns its ``"pt"`` output unnormalised (so ``"np"`` is asked for), computes its latent size with the
MoVQ factor squared (so it pads to 64 for the released model), and pastes the first sample's latents into every
output of a batch (diffusers 0.42, ``mask_image[:1] * image[:1]``), so it is called one sample at a time.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import os
import warnings
from dataclasses import dataclass
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
        f"`model:` a local folder that holds the diffusers pipeline (model_index.json; there is no folder '{model}' "
        f"under {Path.cwd()}). Currently HF_HOME={os.environ.get('HF_HOME', '~/.cache/huggingface (default)')}.")


@contextlib.contextmanager
def quiet_hub_deprecations():
    """Hide the deprecation warning huggingface_hub raises at diffusers' own calls (``local_dir_use_symlinks``, an
    argument diffusers still passes): it names nothing a user of this harness can change, and it came before every
    message of ``bench validate`` and ``bench run`` about a hub id."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
        yield


def check_cached(backend: str, model: str, revision: str | None = None) -> None:
    """Raise :func:`missing_model_error` unless the local Hugging Face cache holds ``model``'s pipeline index
    (``model_index.json``), and check its snapshot's component weights as a local folder's
    (:func:`check_pipeline_files`); nothing is downloaded or loaded."""
    try:
        from diffusers import DiffusionPipeline
    except ImportError:
        return  # setup says what to install
    try:
        with quiet_hub_deprecations():
            DiffusionPipeline.load_config(model, local_files_only=True, **({"revision": revision} if revision else {}))
    except (OSError, ValueError, EnvironmentError) as e:
        raise missing_model_error(backend, model, True, e) from e
    snap = cached_folder(model, revision)
    if snap is not None and (snap / "model_index.json").is_file():
        check_pipeline_files(snap, backend)


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def check_weights_file(p: Path, backend: str) -> None:
    """A weights file that cannot be loaded, said before any work: a Git LFS pointer (a clone without ``git lfs
    pull``), or a safetensors file shorter than its header says (an interrupted copy or download)."""
    try:
        with open(p, "rb") as f:
            head = f.read(8)
            if head.startswith(b"version "):
                f.seek(0)
                if f.read(40).startswith(b"version https://git-lfs"):
                    raise WeightsError(f"{backend}: {p} is a Git LFS pointer, not the weights: run `git lfs pull` "
                                       f"in the clone (or download the file)")
            if p.suffix == ".safetensors" and len(head) == 8:
                n = int.from_bytes(head, "little")
                header = json.loads(f.read(n)) if 0 < n < 100_000_000 else None
                if not isinstance(header, dict):
                    raise WeightsError(f"{backend}: {p} is not a safetensors file (its header cannot be read)")
                end = max((int(v["data_offsets"][1]) for k, v in header.items()
                           if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v), default=0)
                size = p.stat().st_size
                if size < 8 + n + end:
                    raise WeightsError(f"{backend}: {p} is truncated ({size:,} of {8 + n + end:,} bytes): copy or "
                                       f"download it again")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise WeightsError(f"{backend}: {p} cannot be read as weights ({type(e).__name__}: {e})") from e


def folder_weight_files(folder: Path) -> list[Path]:
    """The weights files of one model folder (sorted; none when the folder is not there)."""
    if not folder.is_dir():
        return []
    return sorted(q for q in folder.iterdir() if q.suffix in WEIGHT_SUFFIXES and q.is_file())


def pipeline_weight_files(folder: Path) -> list[Path]:
    """The weights files of every model component a pipeline folder's ``model_index.json`` lists (those that are
    here), for :meth:`bench.backends.base.Backend.weights_files`."""
    try:
        components = _components(folder)
    except (OSError, ValueError):
        return []
    return [q for name in sorted(components) for q in folder_weight_files(folder / name)]


def _components(folder: Path) -> dict[str, Any]:
    """The components a pipeline folder's ``model_index.json`` lists: name -> [library, class] (a ``None`` class:
    left out). OSError / ValueError when the file cannot be read."""
    index = json.loads((folder / "model_index.json").read_text())
    if not isinstance(index, dict):
        raise ValueError("not a JSON object")
    return {name: spec for name, spec in index.items()
            if not name.startswith("_") and isinstance(spec, list) and len(spec) == 2 and spec[1]}


def check_folder_weights(folder: Path, backend: str, remedy: str) -> None:
    """A model folder (one with a config.json) holds at least one weights file, and each can be read
    (:func:`check_weights_file`); ``remedy`` says how to get them."""
    files = folder_weight_files(folder)
    if not files:
        raise WeightsError(f"{backend}: '{folder}' has a config.json but no weights file ({', '.join(WEIGHT_SUFFIXES)}"
                           f"): {remedy}")
    for q in files:
        check_weights_file(q, backend)


def check_pipeline_files(folder: Path, backend: str) -> None:
    """Every model component a pipeline folder's ``model_index.json`` lists has its folder and a readable weights
    file (:func:`check_weights_file`); components without weights (tokenizer, scheduler, feature extractor: no
    ``config.json``) are not asked. Nothing is loaded: a missing ``unet/`` or a truncated ``vae`` was found only
    when the backend's turn came."""
    try:
        components = _components(folder)
    except (OSError, ValueError) as e:
        raise WeightsError(f"{backend}: {folder / 'model_index.json'} cannot be read ({e})") from e
    for name, spec in components.items():
        sub = folder / name
        if not sub.is_dir():
            raise WeightsError(f"{backend}: '{folder}' lists the component '{name}' ({spec[1]}) in model_index.json "
                               f"but has no {name}/ folder: copy or download the whole pipeline")
        if (sub / "config.json").is_file():
            check_folder_weights(sub, backend, "copy or download the whole pipeline")


def cached_folder(model: str, revision: str | None = None) -> Path | None:
    """The local Hugging Face cache's snapshot folder of a hub id (nothing downloaded), None when not found."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, revision=revision, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, or an old/odd cache layout: setup will say
        return None


def local_or_cached(model: str, revision: str | None = None) -> Path | None:
    """A model's folder: ``model`` itself when it is a local folder, else its hub id's cached snapshot (None when
    neither is here)."""
    local = Path(model).expanduser()
    return local if local.is_dir() else cached_folder(model, revision)


def check_scheduler_name(name: str | None, backend: str) -> None:
    """An unknown diffusers scheduler class name, said when the suite is read (it failed only at setup, after the
    other backends had run); not checked without diffusers (setup says what to install)."""
    if not name:
        return
    try:
        import diffusers
    except ImportError:
        return
    if getattr(diffusers, name, None) is None or not name.endswith("Scheduler"):
        from ..errors import suggest

        known = [n for n in dir(diffusers) if n.endswith("Scheduler") and not n.startswith("_")]
        close = suggest(name, known)
        hint = f"; did you mean '{close}'?" if close else f"; known: {', '.join(known)}"
        raise ConfigError("scheduler", f"{backend}: unknown diffusers scheduler '{name}'{hint}")


def set_scheduler(pipe: Any, name: str | None, backend: str) -> None:
    """Replace the pipeline's scheduler by a diffusers scheduler class name, keeping its config."""
    if not name:
        return
    import diffusers

    check_scheduler_name(name, backend)
    pipe.scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config)


def call_params(pipe: Any) -> set[str]:
    """Names ``pipe.__call__`` accepts by name. A ``**kwargs`` is not counted: in diffusers it collects deprecated
    callback arguments, and passing ``strength`` through it would be silently dropped or fail late."""
    params = inspect.signature(pipe.__call__).parameters
    return {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


@dataclass(frozen=True)
class Convention:
    """How a pipeline family takes and returns tensors, and the size multiple its latent space needs."""

    pad_multiple: int = 8
    signed_input: bool = False  # image tensors in [-1, 1] (Kandinsky 2.2) rather than [0, 1] (VaeImageProcessor)
    output_type: str = "pt"  # Kandinsky's "pt" is the raw decoder output in [-1, 1]; its "np" is in [0, 1]
    one_per_call: bool = False  # Kandinsky 2.2's inpaint pastes the first sample's latents into every output


def convention(pipe: Any) -> Convention:
    """The :class:`Convention` of a loaded pipeline, read from its class and scale factors."""
    name = type(pipe).__name__
    if name.startswith("KandinskyV22"):
        decoder = getattr(pipe, "decoder_pipe", pipe)
        factor = int(getattr(decoder, "movq_scale_factor", 0) or 8)
        # latents are (size // factor**2) * factor: pad to factor**2 so the pipeline never rounds the size up
        return Convention(pad_multiple=factor * factor, signed_input=True, output_type="np", one_per_call=True)
    factor = int(getattr(pipe, "vae_scale_factor", 0) or 8)
    if name.startswith("Flux"):
        factor *= 2  # 2x2 latent packing
    return Convention(pad_multiple=factor)


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


def _pil_inputs(image: torch.Tensor, mask: torch.Tensor) -> tuple[list[Any], list[Any]]:
    """The batch as a model card gives it: 8-bit RGB images and ``L`` masks (255 = hole), one PIL image each."""
    from PIL import Image

    from ..pixels import quantize

    images = [Image.fromarray(u8.permute(1, 2, 0).numpy()) for u8 in quantize(image).cpu()]
    masks = [Image.fromarray(m[0].numpy().astype("uint8") * 255, "L") for m in mask.bool().cpu()]
    return images, masks


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
        check_scheduler_name(scheduler, "diffusers")
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
        self.pipeline_class: str | None = None
        self.convention = Convention()
        self._call_names: set[str] = set()
        # diffusers' padding_mask_crop (SD / SDXL inpainting) takes PIL images only and pastes its crop back into
        # them: it is given what a model card gives it (see _pil_inputs)
        self._pil_io = self.call_kwargs.get("padding_mask_crop") is not None

    @property
    def warmup_needed(self) -> bool:  # type: ignore[override]
        return self.compile  # the first batch of each shape compiles

    # -- loading ---------------------------------------------------------------------------------------
    def _load(self) -> Any:
        import diffusers
        from diffusers import AutoPipelineForInpainting, DiffusionPipeline

        model = self._model_location()
        local = Path(model)
        kw: dict[str, Any] = {**dtype_kwargs(self.dtype), "local_files_only": self.local_files_only}
        if self.variant:
            kw["variant"] = self.variant
        if self.revision:
            kw["revision"] = self.revision
        try:
            with quiet_hub_deprecations():
                config = DiffusionPipeline.load_config(model, local_files_only=self.local_files_only,
                                                       **({"revision": self.revision} if self.revision else {}))
            class_name = str(config.get("_class_name", ""))
            cls = getattr(diffusers, class_name, None)
            direct = cls is not None and class_name.endswith(("InpaintPipeline", "FillPipeline")) \
                and not class_name.startswith("KandinskyV22")  # its decoder needs the prior: the combined one
            self.pipeline_class = class_name if direct else f"AutoPipelineForInpainting({class_name})"
            with quiet_hub_deprecations():
                pipe = (cls if direct else AutoPipelineForInpainting).from_pretrained(model, **kw)
        except (OSError, ValueError, EnvironmentError) as e:
            if local.exists():
                raise WeightsError(f"diffusers: cannot load the pipeline in '{model}' ({type(e).__name__}: "
                                   f"{str(e).splitlines()[0] if str(e) else ''})") from e
            raise missing_model_error("diffusers", self.model, self.local_files_only, e) from e
        # the NSFW checker blacks out images it flags: that would corrupt a benchmark silently
        if getattr(pipe, "safety_checker", None) is not None:
            pipe.safety_checker = None
        return pipe

    def _model_location(self) -> str:
        """``model`` as a local folder (checked: it holds model_index.json) or a hub id."""
        local = Path(self.model).expanduser()
        if local.exists():
            if not (local / "model_index.json").is_file():
                raise WeightsError(f"diffusers: '{local}' has no model_index.json: give the folder a diffusers "
                                   f"pipeline was saved to (pipeline.save_pretrained(folder))")
            return str(local)
        if looks_like_path(self.model):
            raise WeightsError(f"diffusers: local model folder '{self.model}' does not exist; give an existing "
                               f"folder with model_index.json, or a hub id from the local cache")
        return self.model

    def check_weights(self, ctx: RunContext) -> None:
        """A local folder with model_index.json and every component's weights (:func:`check_pipeline_files`), or
        (``local_files_only``) a hub id whose pipeline is in the local cache, checked the same way in its snapshot;
        with downloads allowed a hub id is left to :meth:`setup`. A pipeline object given in code has nothing to
        check."""
        if self.pipe is not None:
            return
        model = self._model_location()
        if Path(model).exists():
            check_pipeline_files(Path(model), "diffusers")
        elif self.local_files_only:
            check_cached("diffusers", model, self.revision)

    def weights_files(self, ctx: RunContext) -> list[Any]:
        """The pipeline's component weights in the local folder, or in the cached snapshot of the hub id (a
        different ``revision`` is another snapshot); none for a pipeline object given in code."""
        if not self.model:
            return []
        folder = local_or_cached(self._model_location(), self.revision)
        return pipeline_weight_files(folder) if folder is not None else []

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
        self.convention = convention(pipe)
        self.geometry = Geometry(pad_multiple=self.convention.pad_multiple).override(**self._geometry_overrides)
        self._call_names = call_params(pipe)  # read once: the signature does not change between batches
        unknown = [k for k in self.call_kwargs if k not in self._call_names]
        if unknown:  # a pipeline's **kwargs would swallow them: a typo would change nothing, silently
            from ..errors import suggest

            k = unknown[0]
            close = suggest(k, sorted(self._call_names))
            raise ConfigError(f"call_kwargs.{k}", f"diffusers: {type(pipe).__name__} takes no argument {k!r}"
                                                  + (f"; did you mean '{close}'?" if close else ""))
        self._ignored = [key for key, value in self._optional(1).items()
                         if value is not None and key not in self._call_names]

    # -- inference -------------------------------------------------------------------------------------
    def _optional(self, b: int) -> dict[str, Any]:
        return {"negative_prompt": [self.negative_prompt] * b if self.negative_prompt is not None else None,
                "strength": self.strength, "guidance_scale": self.guidance_scale,
                "max_sequence_length": self.max_sequence_length}

    def _kwargs(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> dict[str, Any]:
        b, _, h, w = image.shape
        pixels: Any
        mask_image: Any
        if self._pil_io:
            (pixels,), (mask_image,) = _pil_inputs(image, mask)  # one sample per call (inpaint)
            output_type = "pil"
        else:
            pixels = image.to(self.device, torch.float32)
            if self.convention.signed_input:
                pixels = pixels * 2.0 - 1.0
            mask_image = mask.to(self.device, torch.float32)
            output_type = self.convention.output_type
        kw: dict[str, Any] = dict(prompt=[self.prompt] * b, image=pixels, mask_image=mask_image, height=h, width=w,
                                  num_inference_steps=self.steps, generator=list(generator), output_type=output_type)
        if self._pil_io:  # the crop is inpainted at the pipeline's default size, as a model card's call does it
            # (the output is pasted back into the PIL input at the input's own size whatever height/width are)
            del kw["height"], kw["width"]
        names = self._call_names
        kw.update({key: value for key, value in self._optional(b).items() if value is not None and key in names})
        kw.update(self.call_kwargs)
        return kw

    def _call(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> torch.Tensor:
        with torch.no_grad():
            result = self.pipe(**self._kwargs(image, mask, generator))
        out = result.images if hasattr(result, "images") else result[0]
        if isinstance(out, torch.Tensor):
            return out.float()
        import numpy as np

        arr = np.stack([np.asarray(o) for o in out])
        if arr.dtype == np.uint8:  # PIL images: a pipeline that ignores output_type
            arr = arr.astype(np.float32) / 255.0
        return torch.from_numpy(arr.astype(np.float32)).permute(0, 3, 1, 2)

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> torch.Tensor:
        if (self.convention.one_per_call or self._pil_io) and image.shape[0] > 1:
            out = torch.cat([self._call(image[i:i + 1], mask[i:i + 1], [generator[i]])
                             for i in range(image.shape[0])])
        else:
            out = self._call(image, mask, generator)
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
            prov["loaded_as"] = self.pipeline_class
            prov["scheduler"] = type(pipe.scheduler).__name__ if getattr(pipe, "scheduler", None) else None
            cfg = getattr(pipe, "config", {}) or {}
            prov["name_or_path"] = cfg.get("_name_or_path") if hasattr(cfg, "get") else None
        return prov
