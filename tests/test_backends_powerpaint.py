"""PowerPaint v1 task-token handling, prompt mixing and loading, on tiny random components."""
from __future__ import annotations

import pytest
import torch

from bench.backends.geometry import run_backend
from bench.backends.powerpaint import (PowerPaintBackend, TaskTokens, demo_inputs, demo_sizes,
                                      ensure_text_encoder_rows, task_prompts)
from bench.errors import WeightsError
from bench.registry import BACKENDS
from bench.types import RunContext
from tests import tiny_models as tm

CPU = RunContext(device=torch.device("cpu"))
N = 10  # sub-tokens per task word, as released


def _pipe(seed=0):
    tok = tm.clip_tokenizer(max_length=77)  # byte-level, no merges: a character per token, so prompts are long
    return tm.sd_inpaint_pipeline(seed, tokenizer=tok)


def _official_token_ids(tok, placeholder_tokens=("P_ctxt", "P_shape", "P_obj"), num_vec_per_token=N):
    """The ids open-mmlab/PowerPaint gives the task sub-tokens (commit 5b4c3d5): ``app.py`` calls ``add_tokens``
    with ``placeholder_tokens=["P_ctxt", "P_shape", "P_obj"]``, and ``TokenizerWrapper.add_placeholder_token``
    (``powerpaint/utils/utils.py``) adds ``placeholder_token + f"_{i}"`` one by one; transcribed."""
    token_map = {}
    for placeholder_token in placeholder_tokens:
        output = []
        for i in range(num_vec_per_token):
            ith_token = placeholder_token + f"_{i}"
            assert tok.add_tokens(ith_token) != 0
            output.append(ith_token)
        token_map[placeholder_token] = output
    return {w: tok.convert_tokens_to_ids(names) for w, names in token_map.items()}, token_map


def test_add_tokens_gives_the_official_ids_and_names():
    official_ids, official_names = _official_token_ids(tm.clip_tokenizer(max_length=77))
    tok = tm.clip_tokenizer(max_length=77)
    be = PowerPaintBackend(pipeline=_pipe(), steps=1)  # the default token_order
    tokens = TaskTokens.add(tok, be.token_order, N)
    for w in ("P_ctxt", "P_shape", "P_obj"):
        assert tokens.names[w] == official_names[w] and tokens.ids(tok, w) == official_ids[w]


def test_add_tokens_expand_and_tokenize():
    tok = tm.clip_tokenizer(max_length=77)
    base = len(tok)
    tokens = TaskTokens.add(tok, ["P_obj", "P_ctxt", "P_shape"], N)
    assert len(tok) == base + 3 * N
    assert tokens.ids(tok, "P_obj") == list(range(base, base + N))  # added in the order given: P_obj first
    assert tokens.ids(tok, "P_ctxt") == list(range(base + N, base + 2 * N))
    assert tokens.names["P_ctxt"] == [f"P_ctxt_{i}" for i in range(N)]
    text = tokens.expand("empty scene blur P_ctxt")
    assert text.startswith("empty scene blur P_ctxt_0 P_ctxt_1") and text.endswith("P_ctxt_9")
    assert tokens.expand(text) == text, "sub-tokens are not expanded again"
    ids = tok(text).input_ids
    assert ids[-1 - N: -1] == tokens.ids(tok, "P_ctxt")
    assert tokens.expand("P_obj,P_shape") == " ".join(tokens.names["P_obj"]) + "," + " ".join(tokens.names["P_shape"])


def test_find_recognises_both_namings():
    tok = tm.clip_tokenizer()
    assert TaskTokens.find(tok, N) is None
    tok.add_tokens([f"{w}_{i}" for w in ("P_ctxt", "P_shape", "P_obj") for i in range(N)])  # IOPaint's naming
    found = TaskTokens.find(tok, N)
    assert found.names["P_obj"][0] == "P_obj_0" and found.names["P_obj"][-1] == "P_obj_9"
    assert found.expand("P_obj") == " ".join(f"P_obj_{i}" for i in range(N))
    tok2 = tm.clip_tokenizer()
    tok2.add_tokens([t for w in ("P_ctxt", "P_shape", "P_obj") for t in [w] + [f"{w}_{i}" for i in range(1, N)]])
    assert TaskTokens.find(tok2, N).names["P_shape"][:2] == ["P_shape", "P_shape_1"]
    with pytest.raises(WeightsError, match="num_vectors"):
        tok3 = tm.clip_tokenizer()
        tok3.add_tokens([f"P_ctxt_{i}" for i in range(N)])
        TaskTokens.find(tok3, N)


def test_text_encoder_without_learned_rows_is_rejected_or_initialised():
    tok = tm.clip_tokenizer()
    te = tm.clip_text_model(len(tok))
    tokens = TaskTokens.add(tok, ["P_obj", "P_ctxt", "P_shape"], N)
    with pytest.raises(WeightsError, match="not PowerPaint v1 weights"):
        ensure_text_encoder_rows(tok, te, tokens, init=False)
    ensure_text_encoder_rows(tok, te, tokens, init=True)
    emb = te.get_input_embeddings().weight
    a = tok("a", add_special_tokens=False).input_ids[0]
    assert emb.shape[0] == len(tok) and torch.equal(emb[tokens.ids(tok, "P_shape")[3]], emb[a])


def _official_add_task(prompt, negative_prompt, control_type):
    """``add_task`` of open-mmlab/PowerPaint ``app.py`` (commit 5b4c3d5) for version "ppt-v1", transcribed."""
    if control_type == "object-removal" or control_type == "image-outpainting":
        pos_prefix = "empty scene blur " + prompt
        neg_prefix = negative_prompt
        return pos_prefix + " P_ctxt", pos_prefix + " P_ctxt", neg_prefix + " P_obj", neg_prefix + " P_obj"
    elif control_type == "shape-guided":
        pos_prefix = prompt
        neg_prefix = negative_prompt + ", worst quality, low quality, normal quality, bad quality, blurry "
        return pos_prefix + " P_shape", pos_prefix + " P_ctxt", neg_prefix + "P_shape", neg_prefix + "P_ctxt"
    pos_prefix = prompt
    neg_prefix = negative_prompt + ", worst quality, low quality, normal quality, bad quality, blurry "
    return pos_prefix + " P_obj", pos_prefix + " P_obj", neg_prefix + "P_obj", neg_prefix + "P_obj"


@pytest.mark.parametrize("task", ["object-removal", "image-outpainting", "shape-guided", "text-guided"])
@pytest.mark.parametrize("prompt,negative", [("", ""), ("a red bread", "ugly, text")])
def test_task_prompts_are_the_official_demos(task, prompt, negative):
    """The task word comes after the text (CLIP's causal attention makes the position matter); the text-guided
    negative ends with P_obj. Whitespace is tidied (the CLIP tokenizer collapses it anyway)."""
    ours = task_prompts(task, prompt, negative)
    official = tuple(" ".join(t.split()) for t in _official_add_task(prompt, negative, task))
    assert ours == official


def test_context_aware_is_iopaints_template():
    # IOPaint 1.6 iopaint/model/power_paint/powerpaint_tokenizer.py add_task_to_prompt (context_aware)
    assert task_prompts("context-aware", "a lawn", "people") == ("a lawn P_ctxt", "a lawn P_ctxt", "people", "people")


@pytest.fixture(scope="module")
def removal():
    be = PowerPaintBackend(pipeline=_pipe(), steps=1, init_missing_tokens=True)
    be.setup(CPU)
    # stand-ins for trained task embeddings: distinct per sub-token (init_missing_tokens sets them all to "a")
    emb = be.pipe.text_encoder.get_input_embeddings().weight
    ids = [i for w in ("P_ctxt", "P_shape", "P_obj") for i in be.tokens.ids(be.pipe.tokenizer, w)]
    with torch.no_grad():
        emb[ids] = torch.randn(len(ids), emb.shape[1], generator=torch.Generator().manual_seed(5))
    return be


def test_object_removal_uses_context_prompt_and_object_token_as_negative(removal):
    be = removal
    pos, neg = be.prompt_embeddings()
    assert torch.allclose(pos, be.encode("empty scene blur P_ctxt")) and torch.allclose(neg, be.encode("P_obj"))
    # the object token's learned rows drive the negative embedding only
    emb = be.pipe.text_encoder.get_input_embeddings().weight
    obj_rows = be.tokens.ids(be.pipe.tokenizer, "P_obj")
    with torch.no_grad():
        saved = emb[obj_rows].clone()
        emb[obj_rows] += torch.randn(saved.shape, generator=torch.Generator().manual_seed(0))  # not a constant shift: LayerNorm removes those
    try:
        assert torch.allclose(be.encode("empty scene blur P_ctxt"), pos)
        assert not torch.allclose(be.encode("P_obj"), neg, atol=1e-3)
    finally:
        with torch.no_grad():
            emb[obj_rows] = saved
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 60, 64, generator=g)
    mask = torch.zeros(1, 1, 60, 64, dtype=torch.bool)
    mask[..., 20:40, 20:44] = True
    res = run_backend(be, image, mask, [torch.Generator().manual_seed(1)])
    assert res.model_sizes == [(64, 64)] and res.output.shape == image.shape and torch.isfinite(res.output).all()
    assert be.provenance()["prompts"]["negative_A"] == "P_obj"


def test_fitting_degree_mixes_prompt_a_and_b(removal):
    be = PowerPaintBackend(pipeline=removal.pipe, task="shape-guided", prompt="a cat", fitting_degree=0.3)
    be.pipe, be.tokens = removal.pipe, removal.tokens
    pos, neg = be.prompt_embeddings()
    a, b, na, nb = task_prompts("shape-guided", "a cat", "")
    assert torch.allclose(pos, 0.3 * be.encode(a) + 0.7 * be.encode(b), atol=1e-6)
    assert torch.allclose(neg, 0.3 * be.encode(na) + 0.7 * be.encode(nb), atol=1e-6)
    assert not torch.allclose(pos, be.encode(a), atol=1e-4)


def test_release_layout_loads_on_a_base_and_adds_tokens_in_order(tmp_path):
    pipe = _pipe(seed=1)
    pipe.save_pretrained(tmp_path / "base")
    te = pipe.text_encoder
    te.resize_token_embeddings(len(pipe.tokenizer) + 3 * N)  # the release's text encoder has the learned rows
    te.save_pretrained(tmp_path / "ppt" / "text_encoder")
    pipe.unet.save_pretrained(tmp_path / "ppt" / "unet")
    be = BACKENDS.create({"type": "powerpaint", "model": str(tmp_path / "ppt"), "base": str(tmp_path / "base"),
                          "steps": 1}, "backends[0]")
    be.setup(CPU)
    base = len(tm.clip_tokenizer())
    assert be.tokens.ids(be.pipe.tokenizer, "P_ctxt")[0] == base  # official app.py order: P_ctxt, P_shape, P_obj
    assert be.tokens.ids(be.pipe.tokenizer, "P_obj")[-1] == base + 3 * N - 1
    assert "added in order" in be.provenance()["task_tokens"]
    files = be.weights_files(CPU)  # the base pipeline's components and the release's unet and text encoder
    assert {str(p.relative_to(tmp_path).parent) for p in files} >= {"base/unet", "base/vae", "ppt/unet",
                                                                      "ppt/text_encoder"}


def test_official_release_files_load_with_learned_embeddings_by_name(tmp_path):
    """The release as open-mmlab/PowerPaint ``app.py`` (commit 5b4c3d5) reads it: ``load_model(pipe.unet,
    "unet/unet.safetensors")`` and ``load_model(pipe.text_encoder, "text_encoder/text_encoder.safetensors")`` into a
    text encoder whose token embedding ``add_tokens`` wrapped in ``EmbeddingLayerWithFixes`` (``wrapped`` = the base
    rows, ``trainable_embeddings[P_x]`` = [10, D] learned vectors; ``powerpaint/utils/utils.py``). Saved here with
    the key names that wrapping gives, under transformers 4's ``text_model.`` prefix."""
    from safetensors.torch import save_file

    base = _pipe(seed=1)
    base.save_pretrained(tmp_path / "base")
    trained = _pipe(seed=2)  # the release's unet and text encoder differ from the base's
    g = torch.Generator().manual_seed(7)
    learned = {w: torch.randn(N, tm.TEXT_DIM, generator=g) for w in ("P_ctxt", "P_shape", "P_obj")}
    te_state = {}
    for k, v in trained.text_encoder.state_dict().items():
        k = "text_model." + k.removeprefix("text_model.")
        k = k.replace("embeddings.token_embedding.weight", "embeddings.token_embedding.wrapped.weight")
        te_state[k] = v.contiguous()
    te_state.update({f"text_model.embeddings.token_embedding.trainable_embeddings.{w}": v for w, v in learned.items()})
    te_state["text_model.embeddings.position_ids"] = torch.arange(77)[None]  # saved by transformers 4.28
    (tmp_path / "ppt" / "unet").mkdir(parents=True)
    (tmp_path / "ppt" / "text_encoder").mkdir()
    save_file({k: v.contiguous() for k, v in trained.unet.state_dict().items()}, tmp_path / "ppt/unet/unet.safetensors")
    save_file(te_state, tmp_path / "ppt/text_encoder/text_encoder.safetensors")
    be = BACKENDS.create({"type": "powerpaint", "model": str(tmp_path / "ppt"), "base": str(tmp_path / "base"),
                          "steps": 1}, "backends[0]")
    be.check_weights(CPU)
    be.setup(CPU)
    emb = be.pipe.text_encoder.get_input_embeddings().weight
    for w in ("P_ctxt", "P_shape", "P_obj"):
        assert torch.equal(emb[be.tokens.ids(be.pipe.tokenizer, w)], learned[w]), w
    assert torch.equal(emb[:len(tm.clip_tokenizer())], trained.text_encoder.get_input_embeddings().weight)
    for (k, v), v2 in zip(be.pipe.unet.state_dict().items(), trained.unet.state_dict().values()):
        assert torch.equal(v, v2), k
    assert be.provenance()["task_tokens"].endswith("learned embeddings written by name")
    assert {str(p.relative_to(tmp_path)) for p in be.weights_files(CPU)} >= {"ppt/unet/unet.safetensors",
                                                                             "ppt/text_encoder/text_encoder.safetensors"}


def test_official_release_without_learned_embeddings_names_the_file(tmp_path):
    """A ``text_encoder.safetensors`` that is not PowerPaint v1's (here a plain CLIP text encoder, no
    ``trainable_embeddings``) is a WeightsError that names the file, so a suite with several folders says which."""
    from safetensors.torch import save_file

    base = _pipe(seed=1)
    base.save_pretrained(tmp_path / "base")
    (tmp_path / "ppt" / "unet").mkdir(parents=True)
    (tmp_path / "ppt" / "text_encoder").mkdir()
    save_file({k: v.contiguous() for k, v in base.unet.state_dict().items()}, tmp_path / "ppt/unet/unet.safetensors")
    te = tmp_path / "ppt/text_encoder/text_encoder.safetensors"
    save_file({k: v.contiguous() for k, v in base.text_encoder.state_dict().items()}, te)
    be = BACKENDS.create({"type": "powerpaint", "model": str(tmp_path / "ppt"), "base": str(tmp_path / "base"),
                          "steps": 1}, "backends[0]")
    with pytest.raises(WeightsError, match="learned embeddings") as err:
        be.setup(CPU)
    assert str(te) in str(err.value)


def _official_demo_resize(input_image, task):
    """open-mmlab/PowerPaint ``app.py`` ``PowerPaintController.predict`` (commit 5b4c3d5), the resizing before the
    v1 pipeline, transcribed (no outpainting expansion: ratios None); then the pipeline's mask binarisation
    (``pipeline_PowerPaint.py`` ``prepare_mask_and_masked_image``: ``convert("L")``, / 255, >= 0.5)."""
    import numpy as np

    size1, size2 = input_image["image"].convert("RGB").size
    if task != "image-outpainting":
        if size1 < size2:
            input_image["image"] = input_image["image"].convert("RGB").resize((640, int(size2 / size1 * 640)))
        else:
            input_image["image"] = input_image["image"].convert("RGB").resize((int(size1 / size2 * 640), 640))
    else:
        if size1 < size2:
            input_image["image"] = input_image["image"].convert("RGB").resize((512, int(size2 / size1 * 512)))
        else:
            input_image["image"] = input_image["image"].convert("RGB").resize((int(size1 / size2 * 512), 512))
    img = np.array(input_image["image"].convert("RGB"))
    W = int(np.shape(img)[0] - np.shape(img)[0] % 8)
    H = int(np.shape(img)[1] - np.shape(img)[1] % 8)
    input_image["image"] = input_image["image"].resize((H, W))
    input_image["mask"] = input_image["mask"].resize((H, W))
    mask = np.array(input_image["mask"].convert("RGB").convert("L")).astype(np.float32) / 255.0
    return np.array(input_image["image"].convert("RGB")), mask >= 0.5


@pytest.mark.parametrize("size,task", [((75, 51), "object-removal"), ((51, 75), "text-guided"),
                                       ((2250, 1500), "object-removal"), ((61, 90), "image-outpainting")])
def test_demo_resize_is_the_official_demos(size, task):
    import numpy as np
    from PIL import Image

    w, h = size
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), bool)
    mask[h // 4: h // 2, w // 3: w // 2 + 1] = True
    mask_image = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).convert("RGB")  # gradio's sketch mask
    want_img, want_mask = _official_demo_resize({"image": Image.fromarray(image), "mask": mask_image}, task)
    got_img, got_mask = demo_inputs(image, mask, task)
    assert got_img.shape == want_img.shape and np.array_equal(got_img, want_img)
    assert np.array_equal(got_mask, want_mask)
    assert demo_sizes(w, h, task)[1] == (want_img.shape[1], want_img.shape[0])


def test_demo_sizes_of_the_readme_photo():
    assert demo_sizes(2250, 1500, "object-removal") == ((960, 640), (960, 640))
    assert demo_sizes(1000, 1500, "object-removal") == ((640, 960), (640, 960))
    assert demo_sizes(75, 51, "object-removal") == ((941, 640), (936, 640))


def test_demo_resize_runs_at_the_demos_size_and_is_recorded(removal):
    be = PowerPaintBackend(pipeline=removal.pipe, steps=1, demo_resize=True)
    be.pipe, be.tokens = removal.pipe, removal.tokens
    image = torch.rand(1, 3, 27, 19, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 27, 19, dtype=torch.bool)
    mask[..., 5:15, 4:12] = True
    res = run_backend(be, image, mask, [torch.Generator().manual_seed(1)])
    assert res.model_sizes == [(27, 19)] and res.raw_sizes == [(904, 640)]  # the demo's output size, flagged
    assert res.output.shape == image.shape and be.provenance()["demo_resize"] is True
    with pytest.raises(ValueError, match="demo_resize"):
        PowerPaintBackend(pipeline=removal.pipe, demo_resize=True, pad_multiple=8)


def test_missing_or_wrong_weights_folder(tmp_path):
    be = BACKENDS.create({"type": "powerpaint", "model": str(tmp_path / "nope" / "ppt")}, "backends[0]")
    with pytest.raises(WeightsError, match="git lfs clone https://huggingface.co/JunhaoZhuang/PowerPaint-v1"):
        be.setup(CPU)
    (tmp_path / "junk").mkdir()
    be = BACKENDS.create({"type": "powerpaint", "model": str(tmp_path / "junk")}, "backends[0]")
    with pytest.raises(WeightsError, match="neither a diffusers pipeline folder"):
        be.setup(CPU)
