"""diffusers backend on tiny random SD1.5-inpaint, SDXL-inpaint and FLUX Fill pipelines (CPU, offline)."""
from __future__ import annotations

import warnings

import pytest
import torch

from bench.backends.diffusers_inpaint import DiffusersBackend, looks_like_path
from bench.backends.geometry import run_backend
from bench.errors import ConfigError, WeightsError
from bench.registry import BACKENDS
from bench.types import RunContext
from tests import tiny_models as tm

CPU = RunContext(device=torch.device("cpu"))


def _batch(b=2, h=64, w=64):
    g = torch.Generator().manual_seed(7)
    image = torch.rand(b, 3, h, w, generator=g)
    mask = torch.zeros(b, 1, h, w, dtype=torch.bool)
    mask[:, :, h // 4: h // 2, w // 4: w // 2] = True
    image = torch.where(mask, torch.full_like(image, 0.5), image)
    return image, mask


def _gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


@pytest.fixture(scope="module")
def sd():
    be = tm.tiny_backend("sd")
    be.setup(CPU)
    return be


def test_sd_inpaint_runs_pads_and_is_seeded_per_sample(sd):
    image, mask = _batch(h=60, w=52)  # not multiples of 8: the adapter pads to 64 x 56
    res = run_backend(sd, image, mask, _gens(1, 2))
    assert res.output.shape == image.shape and torch.isfinite(res.output).all()
    assert res.model_sizes == [(64, 56)] * 2 and res.raw_sizes == res.model_sizes
    assert 0 <= res.output.min() and res.output.max() <= 1
    again = run_backend(sd, image, mask, _gens(1, 2)).output
    assert torch.equal(again, res.output), "same seeds, same output"
    other = run_backend(sd, image, mask, _gens(3, 4)).output
    assert (other - res.output).abs().max() > 1e-3, "different seeds, different output"
    alone = run_backend(sd, image[1:], mask[1:], _gens(2)).output
    assert torch.allclose(alone[0], res.output[1], atol=1e-4), "a sample's output does not depend on its batch"


def test_prompts_and_params_reach_the_pipeline(sd, monkeypatch):
    seen = {}
    real = sd.pipe.__class__.__call__

    def spy(self, **kw):
        seen.update(kw)
        return real(self, **kw)

    monkeypatch.setattr(sd.pipe.__class__, "__call__", spy)
    image, mask = _batch(b=1)
    sd.inpaint(image, mask, _gens(0))
    assert seen["height"] == 64 and seen["width"] == 64 and seen["num_inference_steps"] == 1
    assert seen["prompt"] == [sd.prompt] and seen["negative_prompt"] == [sd.negative_prompt]
    assert "empty background" in sd.prompt and "object" in sd.negative_prompt  # object-removal defaults
    assert seen["output_type"] == "pt" and len(seen["generator"]) == 1
    assert "guidance_scale" not in seen and "strength" not in seen  # unset: the pipeline's own defaults


def test_sdxl_inpaint_runs():
    be = tm.tiny_backend("sdxl", steps=2)  # SDXL strength 0.9999 x 1 step would leave 0 steps
    be.setup(CPU)
    image, mask = _batch(b=1)
    res = run_backend(be, image, mask, _gens(0))
    assert res.output.shape == image.shape and torch.isfinite(res.output).all()
    assert be.provenance()["pipeline"] == "StableDiffusionXLInpaintPipeline"


def test_flux_fill_pads_to_16_and_ignores_negative_prompt():
    be = tm.tiny_backend("flux")
    be.setup(CPU)
    assert be.geometry.pad_multiple == 16  # x8 VAE, x2 latent packing
    image, mask = _batch(b=1, h=56, w=40)
    res = run_backend(be, image, mask, _gens(0))
    assert res.model_sizes == [(64, 48)] and res.output.shape == image.shape
    assert torch.isfinite(res.output).all()
    prov = be.provenance()
    assert prov["pipeline"] == "FluxFillPipeline" and "negative_prompt" in prov["ignored_params"]


def test_local_folder_loads_through_auto_pipeline(tmp_path):
    tm.sd_inpaint_pipeline(seed=3).save_pretrained(tmp_path / "tiny-sd")
    be = BACKENDS.create({"type": "diffusers", "model": str(tmp_path / "tiny-sd"), "steps": 1,
                          "scheduler": "EulerDiscreteScheduler", "guidance_scale": 3.0}, "backends[0]")
    be.setup(CPU)
    assert type(be.pipe).__name__ == "StableDiffusionInpaintPipeline"
    assert type(be.pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    image, mask = _batch(b=1)
    out = run_backend(be, image, mask, _gens(0)).output
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert be.provenance()["guidance_scale"] == 3.0


def test_a_folder_with_missing_or_broken_component_weights_stops_the_run_before_any_work(tmp_path, capsys):
    """Only model_index.json was looked for: a folder without unet weights, a truncated vae or a Git LFS pointer
    passed the check and failed at the backend's turn, after the other backends had run (exit 3)."""
    import shutil

    import yaml

    from bench.cli import main

    good = tmp_path / "tiny-sd"
    tm.sd_inpaint_pipeline(seed=3).save_pretrained(good)
    be = BACKENDS.create({"type": "diffusers", "model": str(good)}, "backends[0]")
    be.check_weights(CPU)  # whole: no complaint
    # call_kwargs from the suite file reach the same check (a typo was swallowed by the pipeline's **kwargs)
    typo = BACKENDS.create({"type": "diffusers", "model": str(good), "steps": 1,
                            "call_kwargs": {"eta": 0.0, "num_inference_step": 2}}, "backends[0]")
    with pytest.raises(ConfigError, match=r"call_kwargs\.num_inference_step.*did you mean 'num_inference_steps'"):
        typo.setup(CPU)

    def broken(name, how):
        d = tmp_path / name
        shutil.copytree(good, d)
        how(d)
        return BACKENDS.create({"type": "diffusers", "model": str(d)}, "backends[0]")

    def unweighted(d):
        for f in (d / "unet").glob("*.safetensors"):
            f.unlink()

    def truncated(d):
        f = next((d / "vae").glob("*.safetensors"))
        f.write_bytes(f.read_bytes()[:-100])

    def pointer(d):
        f = next((d / "text_encoder").glob("*.safetensors"))
        f.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1234\n")

    for name, how, msg in (("nounet", unweighted, r"unet' has a config.json but no weights file"),
                           ("novae", lambda d: shutil.rmtree(d / "vae"), r"component 'vae'.*no vae/ folder"),
                           ("short", truncated, r"vae.*is truncated"),
                           ("lfs", pointer, r"text_encoder.*Git LFS pointer.*git lfs pull")):
        with pytest.raises(WeightsError, match=msg):
            broken(name, how).check_weights(CPU)
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"name": "s", "output_dir": str(tmp_path / "r"), "device": "cpu", "resolution": 32,
                                 "backends": ["opencv-telea", {"type": "diffusers", "model": str(tmp_path / "nounet"),
                                                               "steps": 1}],
                                 "datasets": [{"type": "synthetic", "n": 2}], "masks": ["box"], "metrics": ["psnr"]}))
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 2  # before Telea's work
    assert "no weights file" in capsys.readouterr().err and not (tmp_path / "r" / "s" / "generations").exists()


def test_missing_model_names_it_and_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf" / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    be = BACKENDS.create({"type": "diffusers", "model": "someorg/no-such-inpainting"}, "backends[0]")
    with warnings.catch_warnings(record=True) as seen:  # (huggingface_hub's deprecation of diffusers' call: hidden)
        warnings.simplefilter("always")
        with pytest.raises(WeightsError, match="someorg/no-such-inpainting") as e:
            be.setup(CPU)
        with pytest.raises(WeightsError):
            be.check_weights(CPU)
    assert not [w for w in seen if "local_dir_use_symlinks" in str(w.message)]
    assert "huggingface-cli download someorg/no-such-inpainting" in str(e.value) and "HF_HOME" in str(e.value)
    be = BACKENDS.create({"type": "diffusers", "model": str(tmp_path / "nowhere" / "model")}, "backends[0]")
    with pytest.raises(WeightsError, match="does not exist"):
        be.setup(CPU)


def test_config_errors():
    with pytest.raises(ConfigError, match="dtype"):
        BACKENDS.create({"type": "diffusers", "model": "x/y", "dtype": "float8"}, "backends[0]")
    with pytest.raises(ConfigError, match=r"backends\[0\]\.stpes.*did you mean 'steps'"):
        BACKENDS.create({"type": "diffusers", "model": "x/y", "stpes": 3}, "backends[0]")
    with pytest.raises(ConfigError, match="pipeline object"):
        BACKENDS.create({"type": "diffusers", "pipeline": "x/y"}, "backends[0]")
    # a scheduler typo is said when the suite is read (it was found at setup, after the other backends had run)
    with pytest.raises(ConfigError, match=r"backends\[0\]\.scheduler.*did you mean 'EulerDiscreteScheduler'"):
        BACKENDS.create({"type": "diffusers", "model": "x/y", "scheduler": "EulerDiscreteSchedular"}, "backends[0]")
    with pytest.raises(ConfigError, match="did you mean 'EulerDiscreteScheduler'"):
        DiffusersBackend(pipeline=tm.sd_inpaint_pipeline(), scheduler="EulerDiscreteSchedular")
    # call_kwargs a pipeline does not take (its **kwargs swallowed them: a typo changed nothing, silently)
    be = DiffusersBackend(pipeline=tm.sd_inpaint_pipeline(), call_kwargs={"eta": 0.5, "num_inference_step": 2})
    with pytest.raises(ConfigError, match=r"call_kwargs\.num_inference_step.*did you mean 'num_inference_steps'"):
        be.setup(CPU)
    assert looks_like_path("./models/sd") and looks_like_path("/abs/x") and looks_like_path("a/b/c")
    assert not looks_like_path("runwayml/stable-diffusion-inpainting")


def test_through_the_runner_at_64px(tmp_path):
    from bench.config import parse_suite
    from bench.runner import Runner
    from bench.store import RunStore

    suite = parse_suite({
        "output_dir": str(tmp_path / "results"), "device": "cpu", "batch_size": 2, "resolution": 64,
        "backends": [{"type": "python", "name": "tiny-sd", "target": "tests.tiny_models:tiny_backend",
                      "kwargs": {"kind": "sd", "steps": 1}}],
        "datasets": [{"type": "synthetic", "n": 2}],
        "masks": [{"type": "box", "min_size": 0.2, "max_size": 0.4}],
        "metrics": ["psnr"],
    })
    run_dir = Runner(suite, progress=False).run()
    with RunStore(run_dir / "records.sqlite") as s:
        recs = s.records()
    assert len(recs) == 2 and all(r["error"] is None for r in recs)
    assert all(r["latency_ms"] > 0 for r in recs)


def test_dtype_auto_follows_the_suite_and_explicit_overrides():
    be = DiffusersBackend(pipeline=tm.sd_inpaint_pipeline(), steps=1)
    be.setup(RunContext(device=torch.device("cpu"), dtype=torch.bfloat16))
    assert be.dtype == torch.bfloat16 and be.pipe.unet.dtype == torch.bfloat16
    be = DiffusersBackend(pipeline=tm.sd_inpaint_pipeline(), steps=1, dtype="float32")
    be.setup(RunContext(device=torch.device("cpu"), dtype=torch.bfloat16))
    assert be.pipe.unet.dtype == torch.float32 and be.provenance()["dtype"] == "float32"


def test_compile_wraps_the_denoiser_and_offload_needs_cuda():
    be = DiffusersBackend(pipeline=tm.flux_fill_pipeline(), steps=1, compile=True, cpu_offload=True)
    be.setup(CPU)
    prov = be.provenance()
    assert prov["compiled"] == "transformer" and hasattr(be.pipe.transformer, "_orig_mod")
    assert prov["cpu_offload"] == "none"  # model CPU offload only applies on CUDA


FAMILIES = {  # tiny pipeline, the class model_index.json names, the class it must load as, extra YAML keys
    "sd": ("StableDiffusionInpaintPipeline", "StableDiffusionInpaintPipeline", {}),
    "sdxl": ("StableDiffusionXLInpaintPipeline", "StableDiffusionXLInpaintPipeline", {}),
    "flux": ("FluxFillPipeline", "FluxFillPipeline", {}),
    "kandinsky": ("KandinskyV22InpaintCombinedPipeline", "KandinskyV22InpaintCombinedPipeline",
                  {"call_kwargs": {"prior_num_inference_steps": 2}}),
}


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_saved_folder_runs_through_the_yaml_path_offline(kind, tmp_path, monkeypatch):
    """Each family is saved with save_pretrained and loaded by ``{type: diffusers, model: DIR}``, offline, as the
    class its model_index.json names (FLUX.1 Fill as FluxFillPipeline, not AutoPipeline's FluxInpaintPipeline)."""
    import json

    saved_as, loads_as, extra = FAMILIES[kind]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / f"tiny-{kind}"
    tm.PIPELINES[kind](seed=1).save_pretrained(folder)
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == saved_as
    be = BACKENDS.create({"type": "diffusers", "model": str(folder), "steps": 2, **extra}, "backends[0]")
    be.setup(CPU)
    assert type(be.pipe).__name__ == loads_as
    image, mask = _batch(b=2, h=60, w=52)  # not a multiple of any family's latent factor
    res = run_backend(be, image, mask, _gens(5, 6))
    out = res.output
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert 0 <= out.min() and out.max() <= 1
    assert all(h % be.geometry.pad_multiple == 0 and w % be.geometry.pad_multiple == 0 for h, w in res.model_sizes)
    assert res.raw_sizes == res.model_sizes, "the pipeline returned the size it was given: it did not resize"
    alone = run_backend(be, image[1:], mask[1:], _gens(6)).output
    assert torch.allclose(alone[0], out[1], atol=1e-4), "a sample's output does not depend on its batch"
    assert (out[0] - out[1]).abs().max() > 1e-3, "two samples of a batch are not the same image"
    prov = be.provenance()
    assert prov["pipeline"] == loads_as and loads_as in prov["loaded_as"]


def test_kandinsky_gets_signed_images_and_pads_to_the_squared_movq_factor(monkeypatch):
    pipe = tm.kandinsky22_inpaint_pipeline()
    be = DiffusersBackend(pipeline=pipe, steps=1, call_kwargs={"prior_num_inference_steps": 2})
    be.setup(CPU)
    assert be.geometry.pad_multiple == pipe.decoder_pipe.movq_scale_factor ** 2
    seen = {}
    real = pipe.__class__.__call__

    def spy(self, **kw):
        seen.update(kw)
        return real(self, **kw)

    monkeypatch.setattr(pipe.__class__, "__call__", spy)
    image, mask = _batch(b=1)
    out = be.inpaint(image, mask, _gens(0))
    assert seen["image"].min() < -0.5 and seen["image"].max() <= 1  # [0, 1] mapped to [-1, 1]
    assert torch.allclose((seen["image"].cpu() + 1) / 2, image, atol=1e-6)
    assert seen["output_type"] == "np" and 0 <= out.min() and out.max() <= 1
    assert "strength" not in seen


def test_missing_local_folder_is_about_the_path_not_the_hub(tmp_path):
    be = BACKENDS.create({"type": "diffusers", "model": str(tmp_path / "models" / "flux-fill")}, "backends[0]")
    with pytest.raises(WeightsError) as e:
        be.setup(CPU)
    msg = str(e.value)
    assert "does not exist" in msg and str(tmp_path / "models" / "flux-fill") in msg
    assert "huggingface-cli" not in msg
    (tmp_path / "empty").mkdir()
    be = BACKENDS.create({"type": "diffusers", "model": str(tmp_path / "empty")}, "backends[0]")
    with pytest.raises(WeightsError, match="model_index.json") as e:
        be.setup(CPU)
    assert "huggingface-cli" not in str(e.value)


def test_a_saved_pipelines_weights_are_fingerprinted_by_content_and_a_swapped_unet_changes_it(tmp_path):
    """``weights_files`` lists every component's weights of a saved folder; the fingerprint ignores where the folder
    is and when it was copied, and changes when one component holds other weights."""
    import shutil

    from bench.weights import content_fingerprint

    folder = tmp_path / "tiny-sd"
    tm.sd_inpaint_pipeline(seed=3).save_pretrained(folder)
    be = BACKENDS.create({"type": "diffusers", "model": str(folder), "steps": 1}, "backends[0]")
    files = be.weights_files(CPU)
    assert {p.parent.name for p in files} >= {"unet", "vae", "text_encoder"}
    fp = content_fingerprint(files)
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(folder, moved)  # a copy: new paths, new modification times, same weights
    copy = BACKENDS.create({"type": "diffusers", "model": str(moved), "steps": 1}, "backends[0]")
    assert content_fingerprint(copy.weights_files(CPU)) == fp
    tm.sd_inpaint_pipeline(seed=4).unet.save_pretrained(moved / "unet")  # another unet behind the same path
    assert content_fingerprint(copy.weights_files(CPU)) != fp


# -- the backend against a plain diffusers call ----------------------------------------------------------------------
# What a model card does: ``pipe(prompt=..., image=PIL, mask_image=PIL, generator=torch.Generator("cpu").manual_seed(s))
# .images[0]`` (SD / SDXL inpainting leave height/width to the pipeline, FLUX.1 Fill and Kandinsky 2.2 pass them), on
# an image whose sides are already a multiple of every family's factor (64 x 64: no padding, no resize on either side),
# with the sample's seed as the runner derives it (bench/runner/generate.py: torch.Generator().manual_seed(derive_seed(
# ...))). The only difference measured (diffusers 0.42.1, torch 2.14.1, CPU) is float noise: the image tensor
# diffusers makes from a PIL image is channels-last in memory (numpy HWC transposed), the backend's is contiguous, and
# the convolutions then round differently: at most 4e-6 in float, which moves at most a handful of the 12,288 8-bit
# values by one level. A real departure (value range, mask polarity or threshold, seed, a setting not passed) moves
# most of the hole by many levels; the tolerance below (one level, at most 1% of the values) lets only the noise pass.
CARD_PASSES_SIZE = {"sd": False, "sdxl": False, "flux": True, "kandinsky": True}


def _card_inputs(b=2, size=64):
    """8-bit images with the hole blanked as the runner blanks it, two different holes, and the runner's seeds."""
    from bench.pixels import blank
    from bench.seeding import derive_seed

    g = torch.Generator().manual_seed(11)
    image = torch.randint(0, 256, (b, 3, size, size), generator=g).float() / 255
    mask = torch.zeros(b, 1, size, size, dtype=torch.bool)
    mask[0, :, 16:37, 21:41] = True
    mask[1:, :, 30:60, 5:30] = True
    seeds = [derive_seed(0, "backend", "ds", "mask-key", f"id{i}") for i in range(b)]
    return blank(image, mask), mask, seeds


def _model_card_call(pipe, image, mask, seed, **settings):
    """One sample through the pipeline as a model card calls it: PIL image and mask, PIL output (8-bit HWC)."""
    import numpy as np
    from PIL import Image

    from bench.pixels import quantize

    pil = Image.fromarray(quantize(image).permute(1, 2, 0).numpy())
    pil_mask = Image.fromarray(mask[0].numpy().astype(np.uint8) * 255, "L")
    out = pipe(image=pil, mask_image=pil_mask, generator=torch.Generator("cpu").manual_seed(seed), **settings)
    return torch.from_numpy(np.asarray(out.images[0]).copy()).permute(2, 0, 1).to(torch.int16)


def _assert_same_up_to_float_noise(ours, card, mask, what):
    d = (ours - card).abs()
    frac = float((d > 0).float().mean())
    assert int(d.max()) <= 1 and frac <= 0.01, (
        f"{what}: the backend differs from the plain diffusers call by up to {int(d.max())} levels "
        f"(hole {int(d[:, mask[0]].max())}, outside {int(d[:, ~mask[0]].max())}) in {frac:.2%} of the values")


@pytest.mark.parametrize("kind,settings", [
    ("sd", {}), ("sd", {"strength": 0.6, "guidance_scale": 5.0}), ("sdxl", {}), ("flux", {"guidance_scale": 10.0}),
    ("flux", {"strength": 0.6}),
    ("kandinsky", {"call_kwargs": {"prior_num_inference_steps": 2}})])
def test_the_backend_gives_what_a_plain_diffusers_call_gives(kind, settings):
    """Backend (through the adapter, a batch of two) == a model card's call per sample, same seed and settings."""
    from bench.pixels import quantize

    extra = {"max_sequence_length": tm.MAX_LEN} if kind == "flux" else {}
    be = DiffusersBackend(pipeline=tm.PIPELINES[kind](0), steps=2, **extra, **settings)
    be.setup(CPU)
    image, mask, seeds = _card_inputs()
    with torch.inference_mode():  # as the runner calls it
        ours = quantize(run_backend(be, image, mask, _gens(*seeds)).output).to(torch.int16)
    assert be.geometry.pad_multiple <= 64 and 64 % be.geometry.pad_multiple == 0, "no padding in this comparison"
    pipe = tm.PIPELINES[kind](0)  # a fresh copy with the same weights: nothing the backend set up carries over
    card = {"prompt": be.prompt, "num_inference_steps": 2, **extra, **settings.get("call_kwargs", {}),
            **{k: v for k, v in settings.items() if k != "call_kwargs"}}
    if kind != "flux":  # FLUX.1 Fill takes no negative prompt
        card["negative_prompt"] = be.negative_prompt
    if CARD_PASSES_SIZE[kind]:
        card.update(height=64, width=64)
    for i, seed in enumerate(seeds):
        plain = _model_card_call(pipe, image[i], mask[i], seed, **card)
        _assert_same_up_to_float_noise(ours[i], plain, mask[i], f"{kind} sample {i}")
    other = _model_card_call(pipe, image[0], mask[0], seeds[0] + 1, **card)
    assert (other - ours[0]).abs()[:, mask[0, 0]].float().mean() > 2, "another seed gives another fill: the check bites"


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_padding_mask_crop_gives_what_diffusers_gives(kind):
    """``call_kwargs: {padding_mask_crop: N}`` (SD / SDXL inpainting: inpaint a crop around the hole at full size,
    paste it back) needs PIL images in diffusers, which refuses tensors with a ValueError: the backend hands it PIL
    images one sample at a time. Both sides then start from the same PIL images, so the 8-bit results are identical
    (measured: 0 levels apart), and outside the hole they are the input (diffusers pastes the crop back)."""
    from bench.pixels import quantize

    be = DiffusersBackend(pipeline=tm.PIPELINES[kind](0), steps=2, call_kwargs={"padding_mask_crop": 8})
    be.setup(CPU)
    image, mask, seeds = _card_inputs()
    with torch.inference_mode():
        ours = quantize(run_backend(be, image, mask, _gens(*seeds)).output).to(torch.int16)
    pipe = tm.PIPELINES[kind](0)
    card = {"prompt": be.prompt, "negative_prompt": be.negative_prompt, "num_inference_steps": 2,
            "padding_mask_crop": 8}
    for i, seed in enumerate(seeds):
        plain = _model_card_call(pipe, image[i], mask[i], seed, **card)
        assert torch.equal(ours[i], plain), f"{kind} padding_mask_crop sample {i}: {int((ours[i] - plain).abs().max())}"
        keep = ~mask[i, 0]
        assert torch.equal(ours[i][:, keep], quantize(image[i]).to(torch.int16)[:, keep]), "outside the hole: input"


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_padding_mask_crop_at_another_size_than_the_pipelines_default(kind):
    """With ``padding_mask_crop`` diffusers crops a region around the hole with the aspect of ``width`` x ``height``
    and inpaints it resized to that size, then pastes it back into the PIL input at the input's own size. A model
    card's call gives no ``height``/``width``, so the crop is inpainted at the pipeline's default size (the UNet's
    ``sample_size`` times the VAE factor: 512 for SD 1.5 inpainting); the backend gives none either. Here the image
    (64 x 128) is not the tiny pipelines' default size (64 x 64), where passing the image's size made up to 198
    levels of difference in the hole."""
    from bench.pixels import blank, quantize
    from bench.seeding import derive_seed

    g = torch.Generator().manual_seed(5)
    image = torch.randint(0, 256, (1, 3, 64, 128), generator=g).float() / 255
    mask = torch.zeros(1, 1, 64, 128, dtype=torch.bool)
    mask[0, :, 20:36, 30:50] = True
    image, seed = blank(image, mask), derive_seed(0, "backend", "ds", "mask-key", "wide")
    pipe = tm.PIPELINES[kind](0)
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor != 128, "the test needs a non-default size"
    be = DiffusersBackend(pipeline=tm.PIPELINES[kind](0), steps=2, call_kwargs={"padding_mask_crop": 8})
    be.setup(CPU)
    with torch.inference_mode():
        ours = quantize(run_backend(be, image, mask, _gens(seed)).output).to(torch.int16)[0]
    card = {"prompt": be.prompt, "negative_prompt": be.negative_prompt, "num_inference_steps": 2,
            "padding_mask_crop": 8}
    plain = _model_card_call(pipe, image[0], mask[0], seed, **card)
    assert tuple(ours.shape) == tuple(plain.shape) == (3, 64, 128)
    assert torch.equal(ours, plain), f"{kind}: {int((ours - plain).abs().max())} levels from the model card's call"
