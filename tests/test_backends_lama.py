"""LaMa TorchScript backend with a LaMa-shaped module scripted in the test."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.backends.geometry import run_backend
from bench.backends.lama import LAMA_FILE, LAMA_URL, md5sum
from bench.errors import BackendError, ConfigError, WeightsError
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
    g = torch.Generator().manual_seed(0)
    image = torch.rand(b, 3, h, w, generator=g)
    mask = torch.zeros(b, 1, h, w, dtype=torch.bool)
    mask[:, :, 10:30, 12:40] = True
    return torch.where(mask, 0.5, image), mask


def test_runs_padded_and_matches_the_module(lama_file):
    be = BACKENDS.create({"type": "lama", "path": str(lama_file)}, "backends[0]")
    be.setup(RunContext(device=torch.device("cpu")))
    image, mask = _batch()
    res = run_backend(be, image, mask, [torch.Generator() for _ in range(2)])
    assert res.model_sizes == [(64, 56)] * 2 and res.output.shape == image.shape
    # reference: the module on the reflect-padded input, cropped back
    x = F.pad(image, (0, 4, 0, 4), mode="reflect")
    m = F.pad(mask.float(), (0, 4, 0, 4), mode="reflect")
    ref = FakeLama()(x, m)[..., :60, :52]
    assert torch.allclose(res.output, ref, atol=1e-5)
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
