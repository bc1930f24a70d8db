"""configs/recipes/brushnet.yaml and its folder adapter brushnet_folder_infer.py, without IOPaint.

The adapter runs in IOPaint's environment; here its folder handling (arguments, pairing by stem, mask
binarisation, output naming, the request it sends) is driven with a fake model in process. The rules it must follow
are those of ``iopaint run`` (iopaint/batch_processing.py, IOPaint 1.6.0): images ``*.png|*.jpg|*.jpeg`` paired
with the mask of the same stem, a mask of another size resized (nearest) to the image's, then ``mask >= 127`` is a
hole (255) and the rest 0; outputs ``<output>/<stem>.png``.
"""
from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

RECIPES = Path(__file__).parents[1] / "configs" / "recipes"


@pytest.fixture(scope="module")
def adapter():
    spec = importlib.util.spec_from_file_location("brushnet_folder_infer", RECIPES / "brushnet_folder_infer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


class FakeModel:
    """Records each call; fills the hole with the request's seed (mod 256), keeps the rest."""

    def __init__(self):
        self.calls = []

    def __call__(self, image, mask, fields):
        self.calls.append((image.copy(), mask.copy(), fields))
        out = image.copy()
        out[mask == 255] = fields["sd_seed"] % 256
        return out


def test_the_request_carries_brushnet_the_seed_and_the_sampling_settings(adapter):
    args = adapter.parse_args(["--image_dir", "i", "--mask_dir", "m", "--output_dir", "o", "--seed", "7",
                               "--steps", "25", "--guidance", "5", "--prompt", "a wall",
                               "--brushnet", "Sanster/brushnet_segmentation_mask"])
    assert adapter.request_fields(args) == {
        "enable_brushnet": True, "brushnet_method": "Sanster/brushnet_segmentation_mask",
        "brushnet_conditioning_scale": 1.0, "sd_seed": 7, "sd_steps": 25, "sd_guidance_scale": 5.0,
        "prompt": "a wall", "negative_prompt": "", "sd_mask_blur": 0, "hd_strategy": "Original"}


def test_images_pair_with_masks_by_stem_and_masks_are_binarised_at_127(adapter, tmp_path, capsys):
    rng = np.random.default_rng(0)
    img = {s: rng.integers(0, 256, (12, 10, 3), dtype=np.uint8) for s in ("a", "b", "c")}
    _save(tmp_path / "in" / "a.png", img["a"])
    _save(tmp_path / "in" / "b.jpg", img["b"])
    _save(tmp_path / "in" / "c.png", img["c"])  # no mask: skipped, as iopaint run does with a mask folder
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    levels = np.array([0, 126, 127, 128, 255], dtype=np.uint8)
    mask_a = np.resize(levels, (12, 10)).astype(np.uint8)
    _save(tmp_path / "m" / "a.png", mask_a)
    _save(tmp_path / "m" / "b.png", np.full((6, 5), 200, np.uint8))  # half size: resized to the image
    _save(tmp_path / "m" / "d.png", np.zeros((12, 10), np.uint8))  # a mask without an image
    model = FakeModel()
    argv = ["--image_dir", str(tmp_path / "in"), "--mask_dir", str(tmp_path / "m"),
            "--output_dir", str(tmp_path / "out"), "--seed", "300"]
    assert adapter.main(argv, model_factory=lambda args: model) == 0

    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    assert "c.png" in capsys.readouterr().err
    (ia, ma, fa), (ib, mb, _) = model.calls
    np.testing.assert_array_equal(ia, img["a"])
    np.testing.assert_array_equal(ma, np.where(mask_a >= 127, 255, 0))
    assert set(np.unique(ma)) == {0, 255}
    assert ib.shape == (12, 10, 3) and mb.shape == (12, 10) and (mb == 255).all()
    assert fa["sd_seed"] == 300 and fa["enable_brushnet"] is True

    out_a = np.array(Image.open(tmp_path / "out" / "a.png"))
    assert out_a.dtype == np.uint8 and out_a.shape == (12, 10, 3)
    np.testing.assert_array_equal(out_a[ma == 0], img["a"][ma == 0])
    assert (out_a[ma == 255] == 300 % 256).all()


def test_an_output_of_another_size_is_an_error_not_a_silent_file(adapter, tmp_path):
    _save(tmp_path / "in" / "x.png", np.zeros((8, 8, 3), np.uint8))
    _save(tmp_path / "m" / "x.png", np.zeros((8, 8), np.uint8))
    argv = ["--image_dir", str(tmp_path / "in"), "--mask_dir", str(tmp_path / "m"),
            "--output_dir", str(tmp_path / "out")]
    with pytest.raises(ValueError, match=r"x.png: the model returned uint8 \(16, 16, 3\)"):
        adapter.main(argv, model_factory=lambda args: lambda image, mask, fields: np.zeros((16, 16, 3), np.uint8))


def test_the_recipe_calls_the_adapter_with_arguments_it_accepts(adapter):
    from bench.config import load_suite

    suite = load_suite(RECIPES / "brushnet.yaml")
    (spec,) = suite.backends
    be = spec.create()
    args = shlex.split(be.command)
    script = next(i for i, a in enumerate(args) if a.endswith("brushnet_folder_infer.py"))
    assert (Path(__file__).parents[1] / args[script]).is_file()
    values = {"{input_dir}": "/i", "{mask_dir}": "/m", "{output_dir}": "/o", "{device}": "cuda", "{seed}": "5"}
    parsed = adapter.parse_args([values.get(a, a) for a in args[script + 1:]])
    assert (parsed.image_dir, parsed.mask_dir, parsed.output_dir, parsed.device, parsed.seed) == \
           ("/i", "/m", "/o", "cuda", 5)
    assert parsed.model == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert parsed.brushnet in adapter.BRUSHNET_METHODS
    assert suite.paste_back is True
