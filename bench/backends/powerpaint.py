"""PowerPaint v1 (Zhuang et al., ECCV 2024): SD 1.5 inpainting whose text encoder learned three task prompts.

How PowerPaint v1 works (open-mmlab/PowerPaint at commit 5b4c3d5: ``app.py``,
``powerpaint/pipelines/pipeline_PowerPaint.py``, ``powerpaint/utils/utils.py``; IOPaint's ``powerpaint_tokenizer.py``):

* Three task tokens, ``P_ctxt`` (context / background), ``P_shape`` (shape-guided object), ``P_obj`` (text-guided
  object), each made of ``num_vectors`` (10) learned sub-token embeddings. In a prompt the task word is expanded to
  its sub-tokens (``P_ctxt`` -> ``P_ctxt_0 P_ctxt_1 ... P_ctxt_9``, the naming of the official TokenizerWrapper
  ``add_placeholder_token`` and of IOPaint's conversion; a tokenizer naming them ``P_ctxt P_ctxt_1 ... P_ctxt_9`` is
  recognised too).
* Two prompts A and B are encoded and mixed with the *fitting degree* t: ``emb = t * emb(A) + (1 - t) * emb(B)``;
  the negative prompts likewise. The task word comes last, after the text, as in the official ``app.py``: for
  object removal A = B = ``"empty scene blur {prompt} P_ctxt"`` and the negative is ``"{negative_prompt} P_obj"``
  (the object token as negative), so t does not matter there; it matters for shape-guided insertion (A ends with
  ``P_shape``, B with ``P_ctxt``). (Version 1 of this backend put the task word first: other embeddings.)
* The mixed embeddings go into an ordinary SD 1.5 inpainting pipeline (diffusers' StableDiffusionInpaintPipeline
  with ``prompt_embeds`` / ``negative_prompt_embeds``). PowerPaint's own v1 pipeline (``pipeline_PowerPaint.py``)
  does each step the same way (mask binarised at 0.5, hole = 1; masked image ``image * (mask < 0.5)``; noise drawn
  before the masked image's latents; unconditional half first; eta 0); on the same tiny random weights the two give
  identical prompt embeddings and images within one 8-bit level (docs/backends.md).
* Around the pipeline the official demo (``app.py``) resizes the input to a short side of 640 and multiples of 8
  and returns the result at that size, without paste-back. Not done by default (pad to 8, the input's size);
  ``demo_resize: true`` does it (:func:`demo_inputs`), recorded in provenance and flagged as ``resized``.

Weights (local, nothing is downloaded):

* a full diffusers pipeline folder (``model_index.json``) whose tokenizer already holds the task tokens, e.g. a
  snapshot of ``Sanster/PowerPaint-V1-stable-diffusion-inpainting`` (IOPaint's conversion); or
* the official release ``JunhaoZhuang/PowerPaint-v1`` (``git lfs clone`` into a folder) on top of an SD 1.5
  inpainting ``base``, read as the official ``app.py`` reads it: ``unet/unet.safetensors`` (a state dict of the
  base's UNet) and ``text_encoder/text_encoder.safetensors`` (a CLIPTextModel whose token embedding is wrapped by
  ``EmbeddingLayerWithFixes``: ``...token_embedding.wrapped.weight`` and the learned
  ``...token_embedding.trainable_embeddings.P_ctxt`` / ``P_shape`` / ``P_obj``, [num_vectors, 768] each). The
  tokens are added to the base's tokenizer and each learned embedding is written to its own token's rows, by
  name; or
* a release folder in diffusers' layout (``unet/config.json``, ``text_encoder/config.json``) whose text encoder
  already has the rows 49408.. : the task tokens are added in ``token_order`` (``P_ctxt, P_shape, P_obj``, as the
  official ``app.py`` adds them) and must land on them: a text encoder without those rows is rejected
  (WeightsError).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError
from ..pixels import quantize
from ..types import RunContext
from .base import Backend, Geometry
from .diffusers_inpaint import (check_cached, check_dtype_name, check_folder_weights, check_pipeline_files,
                                check_scheduler_name, check_weights_file, compile_denoiser, dtype_kwargs,
                                folder_weight_files, library_versions, local_or_cached, looks_like_path,
                                missing_model_error, pipeline_weight_files, place_pipeline, require_diffusers,
                                resolve_dtype, set_scheduler, sync)

TASK_WORDS = ("P_ctxt", "P_shape", "P_obj")
#: the official v1 release's files, as ``app.py`` loads them (``load_model(pipe.unet, ...)``, open-mmlab/PowerPaint
#: commit 5b4c3d5)
RELEASE_FILES = ("unet/unet.safetensors", "text_encoder/text_encoder.safetensors")
_WRAPPED = "embeddings.token_embedding.wrapped.weight"
_LEARNED = "embeddings.token_embedding.trainable_embeddings."
_QUALITY_NEG = "worst quality, low quality, normal quality, bad quality, blurry"

#: task -> (prompt A, prompt B, negative A, negative B); "{p}" = prompt, "{n}" = negative prompt. The task word comes
#: LAST, after the user's text, as in ``add_task`` of open-mmlab/PowerPaint ``app.py`` (commit 5b4c3d5, version
#: "ppt-v1"); "context-aware" is not a task of that demo: its templates are IOPaint's (``add_task_to_prompt``).
TASK_PROMPTS: dict[str, tuple[str, str, str, str]] = {
    "object-removal": ("empty scene blur {p} P_ctxt", "empty scene blur {p} P_ctxt", "{n} P_obj", "{n} P_obj"),
    "image-outpainting": ("empty scene blur {p} P_ctxt", "empty scene blur {p} P_ctxt", "{n} P_obj", "{n} P_obj"),
    "context-aware": ("{p} P_ctxt", "{p} P_ctxt", "{n}", "{n}"),
    "text-guided": ("{p} P_obj", "{p} P_obj", "{n}, " + _QUALITY_NEG + " P_obj", "{n}, " + _QUALITY_NEG + " P_obj"),
    "shape-guided": ("{p} P_shape", "{p} P_ctxt",
                     "{n}, " + _QUALITY_NEG + " P_shape", "{n}, " + _QUALITY_NEG + " P_ctxt"),
}


def task_prompts(task: str, prompt: str, negative_prompt: str) -> tuple[str, str, str, str]:
    """The four prompts of ``task`` with the user's prompt and negative prompt filled in (whitespace tidied)."""
    return tuple(" ".join(t.format(p=prompt, n=negative_prompt).split()) for t in TASK_PROMPTS[task])  # type: ignore


class TaskTokens:
    """The mapping task word -> its sub-token names in a tokenizer, and prompt expansion."""

    def __init__(self, names: dict[str, list[str]]):
        self.names = names
        self._patterns = {w: re.compile(rf"(?<![\w]){re.escape(w)}(?![\w])") for w in names}

    @staticmethod
    def _vocab(tokenizer: Any) -> dict[str, int]:
        return dict(tokenizer.get_vocab())

    @classmethod
    def find(cls, tokenizer: Any, num_vectors: int) -> "TaskTokens | None":
        """Recognise task tokens already in ``tokenizer`` (either naming); None when none are there."""
        vocab = cls._vocab(tokenizer)
        names: dict[str, list[str]] = {}
        for w in TASK_WORDS:
            zero = [f"{w}_{i}" for i in range(num_vectors)]
            first = [w] + [f"{w}_{i}" for i in range(1, num_vectors)]
            for cand in (zero, first):
                if all(c in vocab for c in cand):
                    names[w] = cand
                    break
        if not names:
            return None
        missing = [w for w in TASK_WORDS if w not in names]
        if missing:
            raise WeightsError(f"powerpaint: the tokenizer has some task tokens but not {missing} with "
                               f"{num_vectors} vectors each; is num_vectors right?")
        return cls(names)

    @classmethod
    def add(cls, tokenizer: Any, order: list[str], num_vectors: int) -> "TaskTokens":
        """Add the task tokens in ``order`` with the official naming (``P_x_0`` ... ``P_x_{n-1}``: open-mmlab/PowerPaint
        ``powerpaint/utils/utils.py`` ``TokenizerWrapper.add_placeholder_token``, commit 5b4c3d5)."""
        if sorted(order) != sorted(TASK_WORDS):
            raise ValueError(f"token_order must be a permutation of {list(TASK_WORDS)}, got {order}")
        names = {}
        for w in order:
            toks = [f"{w}_{i}" for i in range(num_vectors)] if num_vectors > 1 else [w]
            added = tokenizer.add_tokens(toks)
            if added != num_vectors:
                raise ValueError(f"powerpaint: tokenizer already contains some of {toks}")
            names[w] = toks
        return cls(names)

    def ids(self, tokenizer: Any, word: str) -> list[int]:
        vocab = self._vocab(tokenizer)
        return [vocab[n] for n in self.names[word]]

    def expand(self, text: str) -> str:
        """Replace each task word by its sub-tokens, separated by spaces. Idempotent: an already expanded run of
        sub-tokens is left as it is (with the other naming the first sub-token is the task word itself)."""
        for w, pat in self._patterns.items():
            full = " ".join(self.names[w])
            text = pat.sub(full, text.replace(full, w))
        return text


def ensure_text_encoder_rows(tokenizer: Any, text_encoder: Any, tokens: TaskTokens, init: bool) -> None:
    """The text encoder must have an embedding row for every task sub-token.

    With ``init`` (random-weight tests only), missing rows are created and set to the embedding of "a", as
    PowerPaint initialised them before training.
    """
    rows = text_encoder.get_input_embeddings().weight.shape[0]
    top = max(i for w in TASK_WORDS for i in tokens.ids(tokenizer, w))
    if top < rows:
        return
    if not init:
        raise WeightsError(
            f"powerpaint: the text encoder has {rows} token embeddings but the task tokens need ids up to {top}: "
            f"these are not PowerPaint v1 weights (the learned P_ctxt/P_shape/P_obj embeddings are missing). Use "
            f"the released text_encoder (JunhaoZhuang/PowerPaint-v1 or Sanster/PowerPaint-V1-stable-diffusion-"
            f"inpainting)")
    text_encoder.resize_token_embeddings(len(tokenizer))
    emb = text_encoder.get_input_embeddings().weight
    a_id = tokenizer("a", add_special_tokens=False).input_ids[0]
    with torch.no_grad():
        for w in TASK_WORDS:
            for i in tokens.ids(tokenizer, w):
                emb[i] = emb[a_id]


#: the official demo's short side (``app.py`` ``predict``: 512 for image-outpainting, 640 for every other task)
DEMO_SHORT_SIDE = {"image-outpainting": 512}
DEMO_SHORT_SIDE_DEFAULT = 640


def demo_sizes(width: int, height: int, task: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """((w1, h1), (w, h)): the sizes the official demo (open-mmlab/PowerPaint ``app.py`` ``predict``, commit 5b4c3d5)
    gives an input of ``width`` x ``height``: the short side scaled to 640 (512 for image-outpainting), the long
    side ``int(long / short * 640)``; then each side cut down to a multiple of 8 (by resizing, not cropping)."""
    short = DEMO_SHORT_SIDE.get(task, DEMO_SHORT_SIDE_DEFAULT)
    w1, h1 = (short, int(height / width * short)) if width < height else (int(width / height * short), short)
    return (w1, h1), (w1 - w1 % 8, h1 - h1 % 8)


def demo_inputs(image_u8: Any, mask: Any, task: str) -> tuple[Any, Any]:
    """The official demo's resizing of one input, in PIL as the demo does it: the image (uint8 [H, W, 3]) is resized
    (PIL's default filter, bicubic) to the short-side size, then to multiples of 8; the mask (bool [H, W], True =
    hole) goes from its own size straight to the final size (the demo resizes only the image in its first step),
    and the pipeline binarises it at 0.5 (``mask >= 128`` in 8 bits). Returns (uint8 [h, w, 3], bool [h, w])."""
    import numpy as np
    from PIL import Image

    height, width = image_u8.shape[:2]
    first, final = demo_sizes(width, height, task)
    img = Image.fromarray(image_u8).resize(first, Image.BICUBIC).resize(final, Image.BICUBIC)
    m = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).convert("RGB").resize(final, Image.BICUBIC)
    return np.asarray(img), np.asarray(m.convert("L")) >= 128


def split_release_text_encoder(state: dict[str, torch.Tensor], model_keys: Any, num_vectors: int,
                                source: str = "the release's text encoder",
                                ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The official release's ``text_encoder.safetensors`` -> (a plain CLIPTextModel state dict with ``model_keys``'
    naming, {task word: learned [num_vectors, D] embedding}).

    The release was saved from a CLIPTextModel whose token embedding ``add_tokens`` (open-mmlab/PowerPaint
    ``powerpaint/utils/utils.py``, commit 5b4c3d5) had wrapped in ``EmbeddingLayerWithFixes``: the base rows are
    ``...token_embedding.wrapped.weight`` and each task word's vectors ``...token_embedding.trainable_embeddings.P_x``.
    Key prefixes (``text_model.``) follow the loading library's naming; a saved ``position_ids`` buffer that the
    model does not hold is dropped. ``source`` (the file) is named in the error when the learned embeddings are not
    PowerPaint v1's.
    """
    model_keys = set(model_keys)
    prefixed = any(k.startswith("text_model.") for k in model_keys)
    plain: dict[str, torch.Tensor] = {}
    learned: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        bare = key[len("text_model."):] if key.startswith("text_model.") else key
        if bare.startswith(_LEARNED):
            learned[bare[len(_LEARNED):]] = value
            continue
        if bare == _WRAPPED:
            bare = "embeddings.token_embedding.weight"
        name = "text_model." + bare if prefixed else bare
        if name.endswith("position_ids") and name not in model_keys:
            continue
        plain[name] = value
    bad = {w: tuple(v.shape) for w, v in learned.items() if v.ndim != 2 or v.shape[0] != num_vectors}
    if sorted(learned) != sorted(TASK_WORDS) or bad:
        raise WeightsError(f"powerpaint: {source} holds learned embeddings {sorted(learned)} "
                           f"{bad or ''}; PowerPaint v1 has {list(TASK_WORDS)} with {num_vectors} vectors each")
    return plain, learned


def write_learned_rows(tokenizer: Any, text_encoder: Any, tokens: TaskTokens, learned: dict[str, torch.Tensor]) -> None:
    """Give every task sub-token its learned embedding (by task word, so the order the tokens were added in does not
    matter), growing the text encoder's embedding to the tokenizer's length first."""
    if text_encoder.get_input_embeddings().weight.shape[0] < len(tokenizer):
        text_encoder.resize_token_embeddings(len(tokenizer))
    emb = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        for w, vectors in learned.items():
            emb[tokens.ids(tokenizer, w)] = vectors.to(emb.dtype)


class PowerPaintBackend(Backend):
    """PowerPaint v1: SD1.5 inpainting with learned task tokens (object removal by default)."""

    deterministic = False
    version = 2  # 2: the official prompt templates (task word last; text-guided negative ends with P_obj)

    def __init__(self, model: str = "", base: str = "stable-diffusion-v1-5/stable-diffusion-inpainting",
                 pipeline: Any = None, task: str = "object-removal", prompt: str = "", negative_prompt: str = "",
                 fitting_degree: float = 1.0, steps: int = 45, guidance_scale: float = 10.0,
                 strength: float | None = None, scheduler: str | None = None, dtype: str = "auto",
                 cpu_offload: bool = False, compile: bool = False, local_files_only: bool = True,
                 num_vectors: int = 10, token_order: list | None = None, init_missing_tokens: bool = False,
                 pad_multiple: int | None = None, fixed_size: int | None = None, max_side: int | None = None,
                 crop_margin: int | None = None, demo_resize: bool = False):
        if not model and pipeline is None:
            raise ValueError("give 'model': a local PowerPaint v1 folder")
        if pipeline is not None and not callable(pipeline):
            raise ValueError("'pipeline' takes a diffusers pipeline object (programmatic use); in YAML use 'model'")
        if task not in TASK_PROMPTS:
            raise ValueError(f"task must be one of {', '.join(TASK_PROMPTS)}, got {task!r}")
        if not 0.0 <= fitting_degree <= 1.0:
            raise ValueError(f"fitting_degree must be in [0, 1], got {fitting_degree}")
        if steps < 1 or num_vectors < 1:
            raise ValueError("steps and num_vectors must be >= 1")
        self.model, self.base, self.pipe = model, base, pipeline
        self.task, self.prompt, self.negative_prompt = task, prompt, negative_prompt
        self.fitting_degree = fitting_degree
        self.steps, self.guidance_scale, self.strength = steps, guidance_scale, strength
        check_scheduler_name(scheduler, "powerpaint")
        self.scheduler = scheduler
        self.dtype_name = check_dtype_name(dtype)
        self.cpu_offload, self.compile, self.local_files_only = cpu_offload, compile, local_files_only
        self.num_vectors = num_vectors
        self.token_order = list(token_order) if token_order else ["P_ctxt", "P_shape", "P_obj"]  # app.py's order
        if sorted(self.token_order) != sorted(TASK_WORDS):
            raise ValueError(f"token_order must be a permutation of {list(TASK_WORDS)}, got {self.token_order}")
        self.init_missing_tokens = init_missing_tokens
        self.demo_resize = demo_resize
        if demo_resize and any(v is not None for v in (pad_multiple, fixed_size, max_side, crop_margin)):
            raise ValueError("demo_resize sets the size as the official demo does: leave out pad_multiple, "
                             "fixed_size, max_side and crop_margin")
        pad = 1 if demo_resize else 8
        self.geometry = Geometry(pad_multiple=pad).override(pad_multiple=pad_multiple, fixed_size=fixed_size,
                                                          max_side=max_side, crop_margin=crop_margin)
        self.device, self.dtype = torch.device("cpu"), torch.float32
        self.tokens: TaskTokens | None = None
        self._token_source = ""
        self._embeds: tuple[torch.Tensor, torch.Tensor] | None = None
        self._learned: dict[str, torch.Tensor] | None = None  # the official release's task embeddings, by word

    # -- loading ---------------------------------------------------------------------------------------
    @property
    def warmup_needed(self) -> bool:  # type: ignore[override]
        return self.compile  # the first batch of each shape compiles

    def _locate(self) -> tuple[str, str]:
        """(kind, where) of ``model``: ``("pipeline", folder)`` (model_index.json), ``("official", folder)`` (the
        release's ``unet/unet.safetensors`` and ``text_encoder/text_encoder.safetensors``), ``("release", folder)``
        (PowerPaint v1: unet/ and text_encoder/, on the ``base`` pipeline) or ``("hub", id)``; a path that is none
        of them is a :class:`WeightsError` saying how to get the weights."""
        path = Path(self.model).expanduser()
        if path.is_dir() and (path / "model_index.json").exists():
            return "pipeline", str(path)
        if path.is_dir() and all((path / f).is_file() for f in RELEASE_FILES):
            return "official", str(path)
        if path.is_dir() and (path / "unet" / "config.json").exists() and \
                (path / "text_encoder" / "config.json").exists():
            return "release", str(path)
        if path.exists():
            raise WeightsError(
                f"powerpaint: '{path}' is neither a diffusers pipeline folder (model_index.json) nor a PowerPaint "
                f"v1 release folder (unet/unet.safetensors and text_encoder/text_encoder.safetensors, or "
                f"unet/config.json and text_encoder/config.json). Get the release with `git "
                f"lfs clone https://huggingface.co/JunhaoZhuang/PowerPaint-v1 {path}`")
        if looks_like_path(self.model):
            raise WeightsError(
                f"powerpaint: folder '{self.model}' does not exist. Get the weights with `git lfs clone "
                f"https://huggingface.co/JunhaoZhuang/PowerPaint-v1 {self.model}` (plus an SD 1.5 inpainting "
                f"base in the HF cache), or `huggingface-cli download "
                f"Sanster/PowerPaint-V1-stable-diffusion-inpainting`")
        return "hub", self.model

    def check_weights(self, ctx: RunContext) -> None:
        """The folder's weights files (a pipeline folder's components, a release's unet/ and text_encoder/), and
        with ``local_files_only`` the cached base or hub pipeline, checked as :func:`check_pipeline_files` does."""
        if getattr(self, "pipe", None) is not None:
            return
        kind, where = self._locate()
        if kind == "pipeline":
            check_pipeline_files(Path(where), "powerpaint")
            return
        if kind == "official":
            for f in RELEASE_FILES:
                check_weights_file(Path(where) / f, "powerpaint")
        if kind == "release":
            for sub in ("unet", "text_encoder"):
                check_folder_weights(Path(where) / sub, "powerpaint", f"get the release with `git lfs clone "
                                     f"https://huggingface.co/JunhaoZhuang/PowerPaint-v1 {where}`")
        if self.local_files_only:
            on_base = kind in ("release", "official")
            check_cached("powerpaint (base)" if on_base else "powerpaint", self.base if on_base else where)

    def weights_files(self, ctx: RunContext) -> list[Any]:
        """A pipeline folder's (or the hub id's cached snapshot's) component weights; a release's unet/ and
        text_encoder/ with the cached base pipeline's."""
        if not self.model:
            return []
        kind, where = self._locate()
        folder = local_or_cached(self.base if kind in ("release", "official") else where)
        files = pipeline_weight_files(folder) if folder is not None else []
        if kind == "official":
            files += [Path(where) / f for f in RELEASE_FILES]
        if kind == "release":
            files += [*folder_weight_files(Path(where) / "unet"), *folder_weight_files(Path(where) / "text_encoder")]
        return files

    def _load(self) -> Any:
        from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel
        from transformers import CLIPTextModel

        kw: dict[str, Any] = dict(**dtype_kwargs(self.dtype), local_files_only=self.local_files_only,
                                  safety_checker=None, requires_safety_checker=False)
        kind, where = self._locate()
        self._learned = None
        try:
            if kind == "official":
                from safetensors.torch import load_file

                try:
                    pipe = StableDiffusionInpaintPipeline.from_pretrained(self.base, **kw)
                except (OSError, ValueError) as e:
                    raise missing_model_error("powerpaint (base)", self.base, self.local_files_only, e) from e
                unet_file, te_file = (Path(where) / f for f in RELEASE_FILES)
                try:
                    pipe.unet.load_state_dict(load_file(str(unet_file)))
                    plain, self._learned = split_release_text_encoder(
                        load_file(str(te_file)), pipe.text_encoder.state_dict().keys(), self.num_vectors,
                        source=str(te_file))
                    pipe.text_encoder.load_state_dict(plain)
                except RuntimeError as e:  # keys or shapes that are not the base's
                    raise WeightsError(f"powerpaint: {where} does not fit the base '{self.base}' (an SD 1.5 "
                                       f"inpainting pipeline): {str(e)[:300]}") from e
                return pipe
            if kind == "release":
                unet = UNet2DConditionModel.from_pretrained(where, subfolder="unet", **dtype_kwargs(self.dtype))
                te = CLIPTextModel.from_pretrained(where, subfolder="text_encoder",
                                                   **dtype_kwargs(self.dtype, "transformers"))
                try:
                    return StableDiffusionInpaintPipeline.from_pretrained(self.base, unet=unet, text_encoder=te, **kw)
                except (OSError, ValueError) as e:
                    raise missing_model_error("powerpaint (base)", self.base, self.local_files_only, e) from e
            return StableDiffusionInpaintPipeline.from_pretrained(where, **kw)  # a folder, or a hub id in the cache
        except (OSError, ValueError) as e:
            raise missing_model_error("powerpaint", self.model, self.local_files_only, e) from e

    def setup(self, ctx: RunContext) -> None:
        self.device = torch.device(ctx.device)
        self.dtype = resolve_dtype(self.dtype_name, ctx)
        if self.pipe is None:
            require_diffusers("powerpaint")
            self.pipe = self._load()
        pipe = self.pipe
        if getattr(pipe, "safety_checker", None) is not None:
            pipe.safety_checker = None
        tokens = TaskTokens.find(pipe.tokenizer, self.num_vectors)
        self._token_source = "tokenizer"
        if tokens is None:
            tokens = TaskTokens.add(pipe.tokenizer, self.token_order, self.num_vectors)
            self._token_source = f"added in order {self.token_order}"
        if getattr(self, "_learned", None):
            write_learned_rows(pipe.tokenizer, pipe.text_encoder, tokens, self._learned)
            self._token_source += ", learned embeddings written by name"
        ensure_text_encoder_rows(pipe.tokenizer, pipe.text_encoder, tokens, self.init_missing_tokens)
        self.tokens = tokens
        set_scheduler(pipe, self.scheduler, "powerpaint")
        self._placement = place_pipeline(pipe, self.device, self.dtype, self.cpu_offload)
        self._compiled = compile_denoiser(pipe) if self.compile else None
        pipe.set_progress_bar_config(disable=True)
        self._embeds = None

    # -- prompts ---------------------------------------------------------------------------------------
    def encode(self, text: str) -> torch.Tensor:
        """[1, L, D] text-encoder hidden states of ``text`` with task words expanded to their sub-tokens."""
        tok, te = self.pipe.tokenizer, self.pipe.text_encoder
        ids = tok([self.tokens.expand(text)], padding="max_length", max_length=tok.model_max_length,
                  truncation=True, return_tensors="pt").input_ids
        dev = next(te.parameters()).device
        with torch.no_grad():
            return te(ids.to(dev))[0]

    def prompt_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(positive, negative) embeddings, each mixed as t * A + (1 - t) * B with t = fitting_degree."""
        if self._embeds is None:
            a, b, na, nb = task_prompts(self.task, self.prompt, self.negative_prompt)
            t = self.fitting_degree
            pos = t * self.encode(a) + (1 - t) * self.encode(b)
            neg = t * self.encode(na) + (1 - t) * self.encode(nb)
            self._embeds = (pos, neg)
        return self._embeds

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, generator: list[torch.Generator]) -> torch.Tensor:
        if self.demo_resize:  # the official demo's input sizes; its output is returned at that size, as the demo does
            import numpy as np

            pairs = [demo_inputs(quantize(image[i]).permute(1, 2, 0).cpu().numpy(), mask[i, 0].cpu().numpy(),
                                 self.task) for i in range(image.shape[0])]
            image = torch.stack([torch.from_numpy(np.array(p[0])).permute(2, 0, 1) for p in pairs]) / 255.0
            mask = torch.stack([torch.from_numpy(np.array(p[1]))[None] for p in pairs])
        b, _, h, w = image.shape
        pos, neg = self.prompt_embeddings()
        kw: dict[str, Any] = dict(prompt_embeds=pos.repeat(b, 1, 1), negative_prompt_embeds=neg.repeat(b, 1, 1),
                                  image=image.to(self.device, torch.float32),
                                  mask_image=mask.to(self.device, torch.float32), height=h, width=w,
                                  num_inference_steps=self.steps, guidance_scale=self.guidance_scale,
                                  generator=list(generator), output_type="pt")
        if self.strength is not None:
            kw["strength"] = self.strength
        with torch.no_grad():
            out = self.pipe(**kw).images.float()
        sync(self.device)
        return out

    def teardown(self) -> None:
        self.pipe = None
        self._embeds = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def provenance(self) -> dict[str, Any]:
        a, b, na, nb = task_prompts(self.task, self.prompt, self.negative_prompt)
        return {"model": self.model or "(pipeline object)", "base": self.base, "task": self.task,
                "prompts": {"A": a, "B": b, "negative_A": na, "negative_B": nb},
                "fitting_degree": self.fitting_degree, "steps": self.steps, "guidance_scale": self.guidance_scale,
                "strength": self.strength, "demo_resize": self.demo_resize,
                "num_vectors": self.num_vectors, "task_tokens": self._token_source,
                "scheduler": type(self.pipe.scheduler).__name__ if self.pipe is not None else self.scheduler,
                "dtype": str(self.dtype).replace("torch.", ""), "versions": library_versions()}
