"""LaMa TorchScript backend with a LaMa-shaped module scripted in the test."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.backends.geometry import run_backend
from bench.backends.lama import LAMA_FILE, LAMA_URL, md5sum
from bench.errors import BackendError, ConfigError, WeightsError
from bench.pixels import blank, dequantize, quantize
from bench.registry import BACKENDS
from bench.types import RunContext


class FakeLama(torch.nn.Module):
    """Same call signature as big-lama.pt: (image [B,3,H,W] in [0,1], mask [B,1,H,W] float) -> [B,3,H,W]."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        assert image.shape[-2] % 8 == 0 and image.shape[-1] % 8 == 0
        masked = image * (1 - mask)
        pred = torch.sigmoid(self.conv(torch.cat([masked, mask], dim=1)))
        return mask * pred + (1 - mask) * image


@pytest.fixture
def lama_file(tmp_path):
    path = tmp_path / "w" / LAMA_FILE
    path.parent.mkdir()
    torch.jit.script(FakeLama()).save(str(path))
    return path


def _batch(b=2, h=60, w=52):
    """What the runner gives a backend: an 8-bit image (on the grid) with the hole blanked."""
    g = torch.Generator().manual_seed(0)
    image = dequantize(quantize(torch.rand(b, 3, h, w, generator=g)))
    mask = torch.zeros(b, 1, h, w, dtype=torch.bool)
    mask[:, :, 10:30, 12:40] = True
    return blank(image, mask), mask


def test_runs_padded_and_matches_the_module(lama_file):
    be = BACKENDS.create({"type": "lama", "path": str(lama_file)}, "backends[0]")
    be.setup(RunContext(device=torch.device("cpu")))
    image, mask = _batch()
    res = run_backend(be, image, mask, [torch.Generator() for _ in range(2)])
    assert res.model_sizes == [(64, 56)] * 2 and res.output.shape == image.shape
    # reference: the module on the input padded as numpy's "symmetric" (edge repeated), cropped back, truncated
    x = torch.cat([image, image.flip(-2)[..., :4, :]], dim=-2)
    x = torch.cat([x, x.flip(-1)[..., :4]], dim=-1)
    m = torch.cat([mask, mask.flip(-2)[..., :4, :]], dim=-2)
    m = torch.cat([m, m.flip(-1)[..., :4]], dim=-1).float()
    ref = torch.floor(FakeLama()(x, m)[..., :60, :52] * 255) / 255
    assert torch.allclose(res.output, ref, atol=1e-6)
    hole = mask.expand_as(image)
    assert torch.equal(res.output[~hole], image[~hole]) and (res.output[hole] - 0.5).abs().max() > 0.01
    assert be.provenance()["origin"] == LAMA_URL


def test_found_in_weights_dir_or_env(lama_file, tmp_path, monkeypatch):
    be = BACKENDS.create({"type": "lama"}, "backends[0]")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("INPAINT_BENCH_WEIGHTS", raising=False)
    be.setup(RunContext(device=torch.device("cpu"), weights_dir=lama_file.parent))
    assert be.resolved == lama_file
    monkeypatch.setenv("INPAINT_BENCH_WEIGHTS", str(lama_file.parent))
    assert BACKENDS.create({"type": "lama"}, "b").resolve(RunContext(device=torch.device("cpu"))) == lama_file


def test_missing_file_names_file_origin_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("INPAINT_BENCH_WEIGHTS", raising=False)
    be = BACKENDS.create({"type": "lama"}, "backends[0]")
    with pytest.raises(WeightsError) as e:
        be.setup(RunContext(device=torch.device("cpu"), weights_dir=tmp_path / "nothing-here"))
    msg = str(e.value)
    assert LAMA_FILE in msg and LAMA_URL in msg and str(tmp_path / "nothing-here") in msg and "hub" in msg
    with pytest.raises(WeightsError, match="not found"):
        BACKENDS.create({"type": "lama", "path": str(tmp_path / "x.pt")}, "b").setup(
            RunContext(device=torch.device("cpu")))


def test_md5_and_format_checks(lama_file, tmp_path):
    cpu = RunContext(device=torch.device("cpu"))
    BACKENDS.create({"type": "lama", "path": str(lama_file), "md5": md5sum(lama_file)}, "b").setup(cpu)
    with pytest.raises(WeightsError, match="md5"):
        BACKENDS.create({"type": "lama", "path": str(lama_file), "md5": "0" * 32}, "b").setup(cpu)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torchscript archive")
    with pytest.raises(WeightsError, match="TorchScript"):
        BACKENDS.create({"type": "lama", "path": str(junk)}, "b").setup(cpu)
    with pytest.raises(ConfigError, match="pad_multiple"):
        BACKENDS.create({"type": "lama", "pad_multiple": 16}, "backends[0]")  # LaMa's padding is fixed at 8


def test_output_scale_for_0_255_exports(tmp_path):
    class Lama255(torch.nn.Module):
        def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return image * 255.0

    path = tmp_path / "lama255.pt"
    torch.jit.script(Lama255()).save(str(path))
    cpu = RunContext(device=torch.device("cpu"))
    image, mask = _batch(b=1)
    be = BACKENDS.create({"type": "lama", "path": str(path)}, "b")
    be.setup(cpu)
    with pytest.raises(BackendError, match="output_scale: 255"):
        run_backend(be, image, mask, [torch.Generator()])
    be = BACKENDS.create({"type": "lama", "path": str(path), "output_scale": 255}, "b")
    be.setup(cpu)
    assert torch.allclose(run_backend(be, image, mask, [torch.Generator()]).output, image, atol=1e-6)


class PositionalLama(torch.nn.Module):
    """LaMa-shaped (the hole zeroed and the mask concatenated, the prediction composited into the hole only, as
    advimman/lama's ``DefaultInpaintingTrainingModule.forward``) and position dependent: two convolutions and a
    global mean, so every hole pixel depends on what the padding holds."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.c1 = torch.nn.Conv2d(4, 8, 5, padding=2)
        self.c2 = torch.nn.Conv2d(8, 3, 3, padding=1)
        self.lin = torch.nn.Linear(8, 3)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        assert image.shape[-2] % 8 == 0 and image.shape[-1] % 8 == 0
        h = torch.relu(self.c1(torch.cat([image * (1 - mask), mask], dim=1)))
        pred = torch.sigmoid(3 * self.c2(h) + 20 * self.lin(h.mean(dim=(2, 3)))[:, :, None, None])
        return mask * pred + (1 - mask) * image


def original_lama(model, image_u8: np.ndarray, mask_u8: np.ndarray) -> np.ndarray:
    """LaMa's own pre- and post-processing, transcribed: advimman/lama @ 786f5936b27fb3dacd2b1ad799e4de968ea697e7
    ``saicinpainting/evaluation/data.py`` (``load_image``: /255 float32; ``pad_img_to_modulo``: np.pad bottom/right
    to a multiple of 8, mode "symmetric", image and mask alike) and ``bin/predict.py`` (``mask > 0``; crop to
    ``unpad_to_size``; ``np.clip(x * 255, 0, 255).astype("uint8")``). IOPaint 1.6.0 does the same
    (``iopaint/helper.py`` ``pad_img_to_modulo``, ``norm_img``; ``iopaint/model/lama.py`` ``LaMa.forward``;
    ``iopaint/model/base.py`` ``_pad_forward`` with ``hd_strategy: Original``). image_u8 [H, W, 3], mask_u8 [H, W]
    (255 = hole); returns uint8 [H, W, 3] RGB."""
    h, w = mask_u8.shape
    ph, pw = (8 - h % 8) % 8, (8 - w % 8) % 8
    img = np.pad(np.transpose(image_u8, (2, 0, 1)).astype("float32") / 255, ((0, 0), (0, ph), (0, pw)),
                 mode="symmetric")
    msk = np.pad(mask_u8[None].astype("float32") / 255, ((0, 0), (0, ph), (0, pw)), mode="symmetric")
    msk = (msk > 0) * 1
    with torch.no_grad():
        out = model(torch.from_numpy(img)[None], torch.from_numpy(msk)[None].float())
    res = out[0].permute(1, 2, 0).numpy()[:h, :w]
    return np.clip(res * 255, 0, 255).astype("uint8")


@pytest.mark.parametrize("h,w", [(37, 53), (61, 90), (3, 5)])
def test_matches_lamas_own_pre_and_post_processing(tmp_path, h, w):
    """What the runner stores (the adapter's output, quantized) is, pixel for pixel, what LaMa's predict.py and
    IOPaint write for the same photograph and mask: padding (symmetric: the edge repeated), mask, truncation."""
    path = tmp_path / LAMA_FILE
    torch.jit.script(PositionalLama()).save(str(path))
    model = torch.jit.load(str(path)).eval()
    rng = np.random.default_rng(h * w)
    image_u8 = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask_u8 = np.zeros((h, w), np.uint8)
    mask_u8[h // 3 : h // 2 + 1, w // 4 : w // 2 + 1] = 255
    mask_u8[h - 2 :, w - 3 :] = 255  # a hole on the bottom/right border: the padding holds its mirror image
    want = original_lama(model, image_u8, mask_u8)

    be = BACKENDS.create({"type": "lama", "path": str(path)}, "backends[0]")
    be.setup(RunContext(device=torch.device("cpu")))
    image = dequantize(torch.from_numpy(image_u8).permute(2, 0, 1)[None])
    mask = torch.from_numpy(mask_u8 > 127)[None, None]
    res = run_backend(be, blank(image, mask), mask, [torch.Generator()])  # the runner blanks; LaMa zeroes the hole
    got = quantize(res.output)[0].permute(1, 2, 0).numpy()  # the runner's 8-bit conversion (generate.py)
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() == 0, f"{int((diff > 0).sum())} values differ, up to {diff.max()} levels"
    assert (want[mask_u8 > 0] != image_u8[mask_u8 > 0]).any()  # the hole was filled: the comparison means something
