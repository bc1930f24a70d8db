"""Hugging Face ``datasets``: save_to_disk folders, data-file folders, streaming, hub ids from the cache (offline),
and every cell read with the file rules; built in the test, never downloaded."""
from __future__ import annotations

import glob
import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

datasets = pytest.importorskip("datasets")

from bench.errors import ConfigError, DataError  # noqa: E402
from bench.io import image_from_bytes, read_image  # noqa: E402
from bench.registry import DATASETS  # noqa: E402


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _rows(n: int = 4, h: int = 24, w: int = 32, seed: int = 0) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    masks = []
    for i in range(n):
        m = np.zeros((h, w), np.uint8)
        m[4 + i: 12 + i, 6: 14 + 2 * i] = 255
        masks.append(m)
    backgrounds = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    return {"image": images, "mask": masks, "background": backgrounds, "name": [f"img-{i}" for i in range(n)]}


FEATURES = {"image": "Image", "mask": "Image", "background": "Image", "name": "string"}


def _dataset(rows: dict[str, list]):
    feats = datasets.Features({k: datasets.Image() if v == "Image" else datasets.Value(v)
                               for k, v in FEATURES.items() if k in rows})
    cells = {k: ([{"bytes": _png(a), "path": None} for a in v] if FEATURES[k] == "Image" else v)
             for k, v in rows.items()}
    return datasets.Dataset.from_dict(cells, features=feats)


def _make(spec: dict, resolution: int | None = None):
    ds = DATASETS.create({"type": "hf", **spec}, "datasets[0]")
    ds.bind(resolution=resolution, seed=0)
    return ds


@pytest.fixture(scope="module")
def rows():
    return _rows()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, rows) -> Path:
    """A DatasetDict (train, test) written by save_to_disk."""
    root = tmp_path_factory.mktemp("hf") / "removal-set"
    datasets.DatasetDict({"test": _dataset(rows), "train": _dataset(_rows(2, seed=9))}).save_to_disk(str(root))
    return root


def test_save_to_disk_folder_reads_every_cell_by_the_file_rules(saved, rows):
    ds = _make({"path": str(saved), "split": "test", "mask_column": "mask", "gt_column": "background",
                "id_column": "name"})
    assert ds.ids() == rows["name"]
    assert ds.provides_masks and ds.gt_for_masks and ds.task == "removal"
    for i, sid in enumerate(ds.ids()):
        s = ds.load(sid)
        assert s.id == sid
        assert torch.equal(s.image, torch.from_numpy(rows["image"][i]).permute(2, 0, 1).float() / 255)
        assert torch.equal(s.mask[0], torch.from_numpy(rows["mask"][i] > 127))
        assert torch.equal(s.gt, torch.from_numpy(rows["background"][i]).permute(2, 0, 1).float() / 255)
    prov = ds.provenance()
    assert prov["type"] == "hf" and prov["source"] == "save_to_disk" and prov["count"] == 4
    assert prov["fingerprint"] and prov["columns"]["gt"] == "background"


def test_row_index_ids_limit_resize_and_reconstruction(saved):
    ds = _make({"path": str(saved), "split": "test", "mask_column": "mask", "task": "reconstruction", "limit": 3,
                "resize": 16})
    assert ds.ids() == ["00000", "00001", "00002"]
    s = ds.load("00001")
    assert s.image.shape == (3, 16, 16) and s.mask.shape == (1, 16, 16) and s.gt is s.image
    train = _make({"path": str(saved), "split": "train"})
    assert train.ids() == ["00000", "00001"] and train.load("00000").mask is None


def test_sixteen_bit_and_array_cells_keep_their_precision(tmp_path):
    rng = np.random.default_rng(3)
    deep = rng.integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    import cv2

    ok, enc = cv2.imencode(".png", deep[:, :, ::-1])
    assert ok
    ref = tmp_path / "deep.png"
    ref.write_bytes(enc.tobytes())
    table = datasets.Dataset.from_dict(
        {"image": [{"bytes": enc.tobytes(), "path": None}], "arr": [np.full((10, 12), 1, np.uint8)]},
        features=datasets.Features({"image": datasets.Image(), "arr": datasets.Array2D((10, 12), "uint8")}))
    table.save_to_disk(str(tmp_path / "deep"))
    ds = _make({"path": str(tmp_path / "deep"), "mask_column": "arr", "task": "reconstruction"})
    s = ds.load("00000")
    assert torch.equal(s.image, read_image(ref))  # 16-bit PNG bytes: same as the file reader, not 8-bit Pillow
    assert torch.allclose(s.image, torch.from_numpy(deep.astype(np.float32) / 65535).permute(2, 0, 1))
    assert s.mask.all()  # a {0, 1} uint8 array: 1 is the hole, as for mask files


def test_streaming_a_data_file_folder_matches_the_table(tmp_path, rows):
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    _dataset(rows).to_parquet(str(repo / "data" / "test-00000-of-00001.parquet"))
    table = _make({"path": str(repo), "mask_column": "mask", "task": "removal", "id_column": "name"})
    stream = _make({"path": str(repo), "mask_column": "mask", "task": "removal", "id_column": "name",
                    "streaming": True})
    assert stream.ids() == table.ids() == rows["name"]
    for sid in ["img-2", "img-0", "img-3", "img-1"]:  # out of order: the stream restarts when it must
        a, b = stream.load(sid), table.load(sid)
        assert torch.equal(a.image, b.image) and torch.equal(a.mask, b.mask)
    assert table.provenance()["source"] == "folder"
    assert _make({"path": str(repo), "streaming": True, "limit": 2}).ids() == ["00000", "00001"]


def _cache_hub_dataset(cache: Path, repo_id: str, rows) -> None:
    """Lay a hub dataset out in a datasets cache the way load_dataset leaves it after a download."""
    from datasets.packaged_modules.parquet.parquet import Parquet

    org, name = repo_id.split("/")
    src = cache / "src.parquet"
    _dataset(rows).to_parquet(str(src))
    Parquet(cache_dir=str(cache), dataset_name=name, data_files={"test": str(src)}, hash="0123abcd") \
        .download_and_prepare()
    built = glob.glob(str(cache / name / "default-*"))
    assert len(built) == 1, built
    (cache / f"{org}___{name}").mkdir()
    os.rename(built[0], cache / f"{org}___{name}" / "default")


def test_hub_id_offline_from_the_cache_and_a_clear_error_when_missing(tmp_path, rows, monkeypatch):
    monkeypatch.setenv("INPAINT_BENCH_OFFLINE", "1")
    cache = tmp_path / "hf-datasets"
    cache.mkdir()
    _cache_hub_dataset(cache, "someorg/removal-set", rows)
    before = datasets.config.HF_HUB_OFFLINE
    ds = _make({"path": "someorg/removal-set", "cache_dir": str(cache), "mask_column": "mask", "task": "removal",
                "id_column": "name"})
    assert ds.ids() == rows["name"]
    assert torch.equal(ds.load("img-3").mask[0], torch.from_numpy(rows["mask"][3] > 127))
    assert datasets.config.HF_HUB_OFFLINE == before, "the offline switch is put back"
    missing = _make({"path": "someorg/not-cached", "cache_dir": str(cache)})
    with pytest.raises(DataError) as e:
        missing.ids()
    msg = str(e.value)
    assert "someorg/not-cached" in msg and "offline" in msg and "save_to_disk" in msg and "HF_DATASETS_CACHE" in msg


def test_configuration_errors_name_the_key(saved, tmp_path):
    with pytest.raises(ConfigError, match=r"datasets\[0\]\.task.*reconstruction"):
        _make({"path": str(saved), "mask_column": "mask"})
    with pytest.raises(ConfigError, match=r"gt_column.*mask_column"):
        _make({"path": str(saved), "gt_column": "background"})
    with pytest.raises(ConfigError, match=r"unknown key.*did you mean 'image_column'"):
        _make({"path": str(saved), "image_colum": "image"})
    with pytest.raises(ConfigError, match=r"no column 'imgae'.*did you mean 'image'.*columns: image, mask"):
        _make({"path": str(saved), "image_column": "imgae"}).ids()
    with pytest.raises(ConfigError, match=r"splits test, train, not 'tset'.*did you mean 'test'"):
        _make({"path": str(saved), "split": "tset"}).ids()
    with pytest.raises(ConfigError, match="does not exist"):
        _make({"path": str(tmp_path / "nowhere" / "set")}).ids()
    dup = datasets.Dataset.from_dict({"image": [{"bytes": _png(np.zeros((4, 4, 3), np.uint8)), "path": None}] * 2,
                                      "name": ["x", "x"]},
                                     features=datasets.Features({"image": datasets.Image(),
                                                                 "name": datasets.Value("string")}))
    dup.save_to_disk(str(tmp_path / "dup"))
    with pytest.raises(ConfigError, match=r"rows 0 and 1 share the id 'x'"):
        _make({"path": str(tmp_path / "dup"), "id_column": "name"}).ids()


def test_a_bad_row_is_that_samples_error(tmp_path, rows):
    good = _png(rows["image"][0])
    small_mask = _png(np.full((5, 5), 255, np.uint8))
    cells = {"image": [{"bytes": good, "path": None}, {"bytes": good[:40], "path": None},
                       {"bytes": good, "path": None}],
             "mask": [{"bytes": _png(rows["mask"][0]), "path": None}] * 2 + [{"bytes": small_mask, "path": None}]}
    datasets.Dataset.from_dict(cells, features=datasets.Features({"image": datasets.Image(),
                                                                  "mask": datasets.Image()})) \
        .save_to_disk(str(tmp_path / "bad"))
    ds = _make({"path": str(tmp_path / "bad"), "mask_column": "mask", "task": "reconstruction"})
    assert ds.load("00000").image.shape == (3, 24, 32)
    with pytest.raises(DataError, match=r"row 1 \(id 00001\) column 'image'.*truncated|row 1 .*column 'image'"):
        ds.load("00001")
    with pytest.raises(DataError, match=r"row 2 .*mask \('mask'\) is 5x5"):
        ds.load("00002")


def test_image_from_bytes_is_read_image_on_the_same_bytes(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (9, 7, 4), dtype=np.uint8)
    Image.fromarray(a, "RGBA").save(tmp_path / "x.png")
    assert torch.equal(image_from_bytes((tmp_path / "x.png").read_bytes(), "x"), read_image(tmp_path / "x.png"))


def test_a_suite_runs_on_a_saved_dataset_and_keeps_going_past_a_bad_row(tmp_path, rows):
    from bench.config import load_suite
    from bench.runner import Runner
    from bench.store import RunStore

    cells = {"image": [{"bytes": _png(a), "path": None} for a in rows["image"]],
             "mask": [{"bytes": _png(m), "path": None} for m in rows["mask"]],
             "name": rows["name"]}
    cells["image"][2] = {"bytes": b"not an image", "path": None}
    datasets.Dataset.from_dict(cells, features=datasets.Features({
        "image": datasets.Image(), "mask": datasets.Image(), "name": datasets.Value("string")})) \
        .save_to_disk(str(tmp_path / "set"))
    cfg = tmp_path / "suite.yaml"
    cfg.write_text(f"""
output_dir: {tmp_path / 'results'}
device: cpu
backends: [opencv-telea]
datasets:
  - {{type: hf, path: {tmp_path / 'set'}, mask_column: mask, task: reconstruction, id_column: name}}
masks: [given]
metrics: [psnr]
""")
    suite = load_suite(cfg)
    run_dir = Runner(suite, progress=False).run()
    with RunStore(run_dir / "records.sqlite") as s:
        recs = {r["sample_id"]: r for r in s.records()}
    assert sorted(recs) == sorted(rows["name"])
    assert recs["img-2"]["error"] and "img-2" in recs["img-2"]["error"] and "column 'image'" in recs["img-2"]["error"]
    assert all(recs[k]["error"] is None and recs[k]["psnr_in"] > 5 for k in ("img-0", "img-1", "img-3"))


def test_validate_lists_the_datasets_as_a_run_would(saved, tmp_path, capsys):
    """`bench validate` opens every dataset (an unknown split was found only by `bench run`, which skipped the
    dataset's cells and exited 0) and asks every backend for its weights without loading them."""
    from bench.cli import main

    good = {"type": "hf", "name": "ok", "path": str(saved), "mask_column": "mask", "task": "reconstruction"}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"backends": ["opencv-telea"], "masks": ["given"], "metrics": ["psnr"],
                                 "datasets": [good, {**good, "name": "typo", "split": "tset"}]}))
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "datasets[1] (typo): cannot list its samples" in err and "did you mean 'test'" in err
    assert "datasets[0]" not in err and "1 problem(s)" in err
    p.write_text(yaml.safe_dump({"backends": ["opencv-telea", {"type": "lama", "path": str(tmp_path / "big-lama.pt")}],
                                 "masks": ["given"], "metrics": ["psnr"], "datasets": [good]}))
    assert main(["validate", str(p)]) == 2
    assert "backends[1] (lama)" in capsys.readouterr().err
    p.write_text(yaml.safe_dump({"backends": ["opencv-telea"], "masks": ["given"], "metrics": ["psnr"],
                                 "datasets": [good]}))
    assert main(["validate", str(p)]) == 0
    assert "samples per dataset: ok 4" in capsys.readouterr().out


def test_run_exits_3_when_a_dataset_cannot_be_listed(saved, tmp_path, capsys):
    """The run goes on without the dataset (its other cells are computed and stored), but its exit status says it is
    incomplete: a job script or CI step took a run with a typo'd split for a whole one (exit 0, an empty table)."""
    from bench.cli import main

    good = {"type": "hf", "name": "ok", "path": str(saved), "mask_column": "mask", "task": "reconstruction"}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"name": "s", "output_dir": str(tmp_path / "r"), "device": "cpu",
                                 "backends": ["opencv-telea"], "masks": ["given"], "metrics": ["psnr"],
                                 "datasets": [good, {**good, "name": "typo", "split": "tset"}]}))
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 3
    out = capsys.readouterr().out
    assert "incomplete: dataset typo could not run" in out and "exit status 3" in out
    from bench.report.aggregate import load_run

    recs = load_run(tmp_path / "r" / "s").records()
    assert {r["dataset"] for r in recs} == {"ok"} and len(recs) == 4 and all(r["error"] is None for r in recs)
    p.write_text(yaml.safe_dump({"name": "s", "output_dir": str(tmp_path / "r"), "device": "cpu",
                                 "backends": ["opencv-telea"], "masks": ["given"], "metrics": ["psnr"],
                                 "datasets": [good]}))
    assert main(["run", str(p), "--no-progress", "--no-report"]) == 0
    assert "incomplete" not in capsys.readouterr().out


def test_a_saved_single_split_must_be_the_split_asked_for(tmp_path, rows):
    """A DatasetDict's split is checked; one saved Dataset (``ds['train'].save_to_disk``) carries its split too, and
    its train rows were scored (and recorded) as the split the suite asked for."""
    table = _dataset(rows)
    one = datasets.Dataset(table.data, info=table.info, split=datasets.NamedSplit("train"))
    assert str(one.split) == "train"
    one.save_to_disk(str(tmp_path / "train-only"))
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"holds one saved split, 'train', not 'validation'.*set split: train"):
        _make({"path": str(tmp_path / "train-only"), "split": "validation", "task": "reconstruction"}).ids()
    ds = _make({"path": str(tmp_path / "train-only"), "split": "train", "task": "reconstruction"})
    assert len(ds.ids()) == len(rows["image"]) and ds.provenance()["split"] == "train"
    _dataset(rows).save_to_disk(str(tmp_path / "no-split"))  # a table that never had a split: taken as asked
    assert len(_make({"path": str(tmp_path / "no-split"), "task": "reconstruction"}).ids()) == len(rows["image"])
