"""Float inputs are never clipped in silence (issue 27): a float image outside [0, 1] (beyond a tiny tolerance) or
with NaN is that sample's error, naming the file / row and the range found, unless the dataset declares its
``value_range`` (then it is mapped linearly). Checked on in-memory Hugging Face rows and on float TIFF folders."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.config import parse_suite
from bench.errors import ConfigError, DataError
from bench.io import FLOAT_TOLERANCE, read_image
from bench.registry import DATASETS
from bench.runner import Runner
from bench.store import RunStore

datasets = pytest.importorskip("datasets")
tifffile = pytest.importorskip("tifffile")


def _make(spec: dict):
    ds = DATASETS.create(spec, "datasets[0]")
    ds.bind(resolution=None, seed=0)
    return ds


def _float_rows(tmp_path: Path, arrays: list[np.ndarray]) -> Path:
    """A save_to_disk folder whose image column holds float32 [H, W, 3] arrays (Array3D)."""
    h, w, _ = arrays[0].shape
    feats = datasets.Features({"image": datasets.Array3D(shape=(h, w, 3), dtype="float32")})
    datasets.Dataset.from_dict({"image": arrays}, features=feats).save_to_disk(str(tmp_path / "hf"))
    return tmp_path / "hf"


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


# -- hf rows ------------------------------------------------------------------------------------------------
def test_hf_float_0_255_rows_are_an_error_naming_the_row_and_range(tmp_path: Path):
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 255, (8, 10, 3)).astype(np.float32)
    ds = _make({"type": "hf", "path": str(_float_rows(tmp_path, [a]))})
    with pytest.raises(DataError) as e:
        ds.load("00000")
    msg = str(e.value)
    assert "row 0" in msg and "column 'image'" in msg
    assert f"[{a.min():.6g}, {a.max():.6g}]" in msg and "value_range" in msg


def test_hf_declared_0_255_maps_linearly(tmp_path: Path):
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, (8, 10, 3)).astype(np.float32)
    s = _make({"type": "hf", "path": str(_float_rows(tmp_path, [a])), "value_range": [0, 255]}).load("00000")
    expected = _chw(a.astype(np.float64) / 255.0)
    torch.testing.assert_close(s.image.double(), expected, atol=1e-6, rtol=0)
    # the mean is the data's (about 0.5), not the 0.998 that clipping a 0..255 image to [0, 1] gives
    assert abs(s.image.mean().item() - a.mean() / 255) < 1e-5


def test_hf_minus_one_to_one_rows_error_or_map(tmp_path: Path):
    rng = np.random.default_rng(2)
    a = rng.uniform(-1, 1, (8, 10, 3)).astype(np.float32)
    root = str(_float_rows(tmp_path, [a]))
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        _make({"type": "hf", "path": root}).load("00000")
    s = _make({"type": "hf", "path": root, "value_range": [-1, 1]}).load("00000")
    torch.testing.assert_close(s.image.double(), _chw((a.astype(np.float64) + 1) / 2), atol=1e-6, rtol=0)
    assert (s.image == 0).float().mean().item() < 0.01  # clipping used to zero every negative pixel (~half)


def test_hf_nan_is_an_error_even_with_a_declared_range(tmp_path: Path):
    a = np.full((6, 6, 3), 0.5, np.float32)
    a[2, 3, 1] = np.nan
    root = str(_float_rows(tmp_path, [a]))
    for extra in ({}, {"value_range": [0, 255]}):
        with pytest.raises(DataError, match=r"row 0 .*1 NaN or infinite"):
            _make({"type": "hf", "path": root, **extra}).load("00000")


def test_hf_in_range_floats_and_rounding_within_tolerance_load_unchanged(tmp_path: Path):
    a = np.random.default_rng(3).uniform(0, 1, (6, 7, 3)).astype(np.float32)
    a[0, 0, 0], a[1, 1, 1] = 1 + FLOAT_TOLERANCE / 2, -FLOAT_TOLERANCE / 2
    s = _make({"type": "hf", "path": str(_float_rows(tmp_path, [a]))}).load("00000")
    torch.testing.assert_close(s.image, _chw(np.clip(a, 0, 1)), atol=0, rtol=0)


def test_value_range_must_be_low_high():
    for bad in ([255], [1, 0], ["0", "255"], [0, float("nan")]):
        with pytest.raises(ConfigError, match="value_range"):
            _make({"type": "hf", "path": "someorg/x", "value_range": bad})


# -- float TIFFs in a folder ---------------------------------------------------------------------------------
def _folder(tmp_path: Path, images: dict[str, np.ndarray]) -> Path:
    root = tmp_path / "folder"
    (root / "images").mkdir(parents=True)
    for stem, a in images.items():
        tifffile.imwrite(root / "images" / f"{stem}.tif", a, photometric="rgb")
    return root


def test_float_tiff_folder_out_of_range_names_file_and_range(tmp_path: Path):
    a = np.random.default_rng(4).uniform(0, 255, (9, 7, 3)).astype(np.float32)
    root = _folder(tmp_path, {"a": a})
    with pytest.raises(DataError) as e:
        _make({"type": "folder", "root": str(root)}).load("a")
    assert str(e.value).startswith(str(root / "images" / "a.tif"))
    assert f"[{a.min():.6g}, {a.max():.6g}]" in str(e.value)
    s = _make({"type": "folder", "root": str(root), "value_range": [0, 255]}).load("a")
    torch.testing.assert_close(s.image.double(), _chw(a.astype(np.float64) / 255), atol=1e-6, rtol=0)


def test_single_channel_float_tiff_pil_mode_f(tmp_path: Path):
    f = np.array([[-0.5, 0.0, 0.25], [0.5, 1.0, 0.75]], np.float32)
    Image.fromarray(f, mode="F").save(tmp_path / "f.tif")
    with pytest.raises(DataError, match=r"f\.tif: float image values span \[-0\.5, 1\]"):
        read_image(tmp_path / "f.tif")
    g = read_image(tmp_path / "f.tif", value_range=(-1, 1))
    for c in range(3):
        np.testing.assert_allclose(g[c].numpy(), (f + 1) / 2, atol=1e-7)


def test_declared_range_applies_to_float_data_only(tmp_path: Path):
    a8 = np.random.default_rng(5).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    Image.fromarray(a8).save(tmp_path / "a.png")
    torch.testing.assert_close(read_image(tmp_path / "a.png", value_range=(-1, 1)), _chw(a8.astype(np.float32) / 255))


def test_out_of_range_tiff_is_that_samples_error_row_and_the_run_goes_on(tmp_path: Path):
    rng = np.random.default_rng(6)
    good = rng.uniform(0, 1, (16, 16, 3)).astype(np.float32)
    bad = rng.uniform(0, 255, (16, 16, 3)).astype(np.float32)
    root = _folder(tmp_path, {"good": good, "bad": bad})
    suite = parse_suite({
        "output_dir": str(tmp_path / "results"), "backends": ["opencv-telea"],
        "datasets": [{"type": "folder", "root": str(root)}],
        "masks": [{"type": "box", "min_size": 0.3, "max_size": 0.5}], "metrics": ["psnr"], "device": "cpu"})
    run_dir = Runner(suite, progress=False).run()
    with RunStore(run_dir / "records.sqlite") as s:
        recs = {r["sample_id"]: r for r in s.records()}
    assert recs["good"]["error"] is None and np.isfinite(recs["good"]["psnr_in"])
    assert "bad.tif" in recs["bad"]["error"] and "outside [0, 1]" in recs["bad"]["error"]
