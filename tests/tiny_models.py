"""Tiny random diffusers pipelines and tokenizers, built from configs in memory (offline, CPU, fast).

Shared test helpers (others may reuse them). Every builder is seeded, so two calls give identical weights.

* :func:`clip_tokenizer`: a CLIP tokenizer from a byte-level vocab with no merges (every byte is a token).
* :func:`t5_tokenizer`: a T5 (Unigram) tokenizer from an in-memory vocab of single characters.
* :func:`sd_inpaint_pipeline`, :func:`sdxl_inpaint_pipeline`, :func:`flux_fill_pipeline`: inpainting pipelines
  with a UNet/transformer of blocks (32, 64) and a 4-block x8 VAE (latent 8x8 at 64 px). diffusers' own
  fast-test VAE only downsamples x2, which makes the UNet run at full resolution (30x slower).
"""
from __future__ import annotations

import torch

TEXT_DIM = 32  # hidden size of every tiny text encoder
MAX_LEN = 16  # tokenizer / text model sequence length


def _byte_chars() -> list[str]:
    """GPT-2's byte -> printable unicode table (what CLIP's byte-level BPE uses), in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def clip_tokenizer(max_length: int = MAX_LEN):
    """A CLIPTokenizer with 514 tokens: 256 bytes, 256 end-of-word bytes, start and end of text; no merges."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    chars = _byte_chars()
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def t5_tokenizer(max_length: int = MAX_LEN):
    """A T5Tokenizer (Unigram) over printable ASCII characters, built in memory."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(chr(c), -2.0) for c in range(33, 127)]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=max_length)


def clip_text_model(vocab_size: int, seed: int = 0, projection: bool = False, max_length: int = MAX_LEN):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    cfg = CLIPTextConfig(vocab_size=vocab_size, hidden_size=TEXT_DIM, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=max_length, projection_dim=TEXT_DIM,
                         bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1,
                         layer_norm_eps=1e-5, hidden_act="gelu")
    model = (CLIPTextModelWithProjection if projection else CLIPTextModel)(cfg)
    return model.eval()


def vae(latent_channels: int = 4, seed: int = 0, flux: bool = False):
    """AutoencoderKL with 4 blocks: x8 spatial downsampling, like the real SD/FLUX VAEs."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    kw = dict(shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False, use_post_quant_conv=False) if flux else {}
    return AutoencoderKL(block_out_channels=(8, 8, 16, 16), in_channels=3, out_channels=3,
                         down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                         latent_channels=latent_channels, norm_num_groups=8, layers_per_block=1,
                         sample_size=64, **kw).eval()


def sd_unet(seed: int = 0, xl: bool = False):
    """UNet2DConditionModel with in_channels 9 (latents 4 + mask 1 + masked-image latents 4), blocks (32, 64)."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    kw = {}
    if xl:  # SDXL: conditioning on the pooled text embedding and 6 size/crop ids
        kw = dict(addition_embed_type="text_time", addition_time_embed_dim=8,
                  projection_class_embeddings_input_dim=TEXT_DIM + 6 * 8, transformer_layers_per_block=(1, 2))
    return UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=9,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=2 * TEXT_DIM if xl else TEXT_DIM, attention_head_dim=(2, 4),
                                norm_num_groups=32, **kw).eval()


def sd_inpaint_pipeline(seed: int = 0, tokenizer=None, text_encoder=None):
    """A tiny StableDiffusionInpaintPipeline (SD1.5-inpaint shape) with a DDIM scheduler."""
    from diffusers import DDIMScheduler, StableDiffusionInpaintPipeline

    tok = tokenizer or clip_tokenizer()
    te = text_encoder or clip_text_model(len(tok), seed, max_length=tok.model_max_length)
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionInpaintPipeline(vae=vae(seed=seed), text_encoder=te, tokenizer=tok, unet=sd_unet(seed),
                                          scheduler=sched, safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sdxl_inpaint_pipeline(seed: int = 0):
    """A tiny StableDiffusionXLInpaintPipeline: two CLIP text encoders (the second with projection)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline

    tok, tok2 = clip_tokenizer(), clip_tokenizer()
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                   steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionXLInpaintPipeline(
        vae=vae(seed=seed), text_encoder=clip_text_model(len(tok), seed), tokenizer=tok,
        text_encoder_2=clip_text_model(len(tok2), seed + 1, projection=True), tokenizer_2=tok2,
        unet=sd_unet(seed, xl=True), scheduler=sched, requires_aesthetics_score=False, force_zeros_for_empty_prompt=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def flux_fill_pipeline(seed: int = 0):
    """A tiny FluxFillPipeline: CLIP + T5 (from T5Config) text encoders, a 1+1-layer transformer, a x8 VAE."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxFillPipeline, FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    latent = 4
    tok, tok2 = clip_tokenizer(), t5_tokenizer()
    torch.manual_seed(seed)
    t5 = T5EncoderModel(T5Config(vocab_size=len(tok2), d_model=TEXT_DIM, d_ff=37, d_kv=8, num_layers=2,
                                 num_heads=4, relative_attention_num_buckets=8, decoder_start_token_id=0)).eval()
    # transformer input per packed 2x2 token: noisy latents (4*latent) + masked-image latents (4*latent)
    # + the mask at full resolution folded into the token (4 * 8 * 8)
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=8 * latent + 4 * 64, out_channels=4 * latent,
                                         num_layers=1, num_single_layers=1, attention_head_dim=16,
                                         num_attention_heads=2, joint_attention_dim=TEXT_DIM,
                                         pooled_projection_dim=TEXT_DIM, axes_dims_rope=[4, 4, 8]).eval()
    pipe = FluxFillPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae(latent, seed, flux=True),
                            text_encoder=clip_text_model(len(tok), seed), tokenizer=tok, text_encoder_2=t5,
                            tokenizer_2=tok2, transformer=transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


PIPELINES = {"sd": sd_inpaint_pipeline, "sdxl": sdxl_inpaint_pipeline, "flux": flux_fill_pipeline}


def tiny_backend(kind: str = "sd", steps: int = 1, seed: int = 0, dtype: str = "auto"):
    """A ``diffusers`` backend around a tiny pipeline; usable as ``{type: python, target:
    "tests.tiny_models:tiny_backend", kwargs: {kind: sdxl}}`` in a suite (runner tests, benchmarks/gpu_check.py)."""
    from bench.backends.diffusers_inpaint import DiffusersBackend

    extra = {"max_sequence_length": MAX_LEN} if kind == "flux" else {}
    be = DiffusersBackend(pipeline=PIPELINES[kind](seed), steps=steps, dtype=dtype, **extra)
    be.registry_name = f"diffusers-tiny-{kind}"
    return be


def kandinsky22_inpaint_pipeline(seed: int = 0):
    """A tiny KandinskyV22InpaintCombinedPipeline: a CLIP prior (text + vision encoders with projection, a 1-layer
    prior transformer) and a decoder (an image-conditioned UNet with in_channels 9, a x2 MoVQ)."""
    from diffusers import (DDPMScheduler, KandinskyV22InpaintCombinedPipeline, PriorTransformer, UNet2DConditionModel,
                           UnCLIPScheduler, VQModel)
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    tok = clip_tokenizer()
    text = clip_text_model(len(tok), seed, projection=True)
    torch.manual_seed(seed)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=TEXT_DIM, image_size=32, projection_dim=TEXT_DIM, intermediate_size=37, num_attention_heads=4,
        num_channels=3, num_hidden_layers=2, patch_size=16)).eval()
    processor = CLIPImageProcessor(crop_size=32, do_center_crop=True, do_normalize=True, do_resize=True,
                                   image_mean=[0.48145466, 0.4578275, 0.40821073],
                                   image_std=[0.26862954, 0.26130258, 0.27577711], resample=3, size=32)
    torch.manual_seed(seed)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=16, embedding_dim=TEXT_DIM,
                             num_layers=1, num_embeddings=tok.model_max_length).eval()
    prior_sched = UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="sample", num_train_timesteps=1000,
                                  clip_sample=True, clip_sample_range=10.0)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        in_channels=9, out_channels=8, addition_embed_type="image", encoder_hid_dim=TEXT_DIM,
        encoder_hid_dim_type="image_proj", cross_attention_dim=32, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", attention_head_dim=4, resnet_time_scale_shift="scale_shift",
        class_embed_type=None).eval()
    torch.manual_seed(seed)
    movq = VQModel(block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
                   up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"],
                   in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
                   norm_type="spatial", num_vq_embeddings=12, vq_embed_dim=4).eval()
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.00085, beta_end=0.012,
                          clip_sample=False, steps_offset=1, prediction_type="epsilon", thresholding=False)
    pipe = KandinskyV22InpaintCombinedPipeline(
        unet=unet, scheduler=sched, movq=movq, prior_prior=prior, prior_image_encoder=vision,
        prior_text_encoder=text, prior_tokenizer=tok, prior_scheduler=prior_sched, prior_image_processor=processor)
    pipe.set_progress_bar_config(disable=True)
    return pipe


PIPELINES["kandinsky"] = kandinsky22_inpaint_pipeline
