"""Datasets: folder pairing and its errors, the scikit-image samples, and the synthetic scene generator."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from bench.datasets.folder import FolderDataset
from bench.datasets.samples import PHOTOS, SamplesDataset
from bench.datasets.synthetic import SHAPES, TEXTURES, SyntheticDataset, make_scene
from bench.errors import ConfigError, DataError
from bench.io import read_image, read_mask
from bench.registry import DATASETS
from bench.seeding import rng_for

REPO = Path(__file__).resolve().parents[1]


def _make(spec: dict, *, resolution: int | None = None, seed: int = 0):
    """A dataset from a spec. Folders here are removal sets unless a test says otherwise: with masks/ and no gt/ a
    folder must say what its masks are (tests of that rule pass task explicitly or use DATASETS.create)."""
    if spec.get("type") == "folder" and "task" not in spec and "root" in spec:
        from pathlib import Path

        root = Path(spec["root"])
        if (root / "masks").is_dir() and any((root / "masks").iterdir()) and not (root / "gt").is_dir():
            spec = {**spec, "task": "removal"}
    ds = DATASETS.create(spec, "datasets[0]")
    ds.bind(resolution=resolution, seed=seed)
    return ds


def _noise(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _mask(h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[h // 4: h // 2, w // 4: w // 2] = 255
    return m


def _save(path: Path, a: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """images/ (png + jpg + 16-bit png), masks/ and gt/ paired by stem; extensions differ between folders."""
    root = tmp_path / "ds"
    _save(root / "images" / "a.png", _noise(12, 16, 1))
    _save(root / "images" / "b.jpg", _noise(10, 10, 2))
    b16 = np.random.default_rng(3).integers(0, 65536, (8, 14, 3), dtype=np.uint16)
    (root / "images").mkdir(exist_ok=True)
    cv2.imwrite(str(root / "images" / "c.png"), b16[:, :, ::-1])
    for stem, (h, w) in {"a": (12, 16), "b": (10, 10), "c": (8, 14)}.items():
        _save(root / "masks" / f"{stem}.png", _mask(h, w))
        _save(root / "gt" / f"{stem}.png", _noise(h, w, 10 + ord(stem)))
    # things the listing must ignore
    (root / "images" / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "images" / "notes.txt").write_text("not an image")
    (root / "images" / "nested").mkdir()
    _save(root / "images" / "nested" / "z.png", _noise(4, 4, 9))
    return root


# ---------------------------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------------------------
def test_registered_lazily_with_one_line_docs():
    for name in ("folder", "samples", "synthetic"):
        assert name in DATASETS.names()
        assert DATASETS.doc(name) and "\n" not in DATASETS.doc(name)


def test_provides_masks_says_whether_given_can_work(folder: Path, tmp_path: Path):
    assert _make({"type": "samples"}).provides_masks is False
    assert _make({"type": "synthetic"}).provides_masks is True
    assert _make({"type": "folder", "root": str(folder)}).provides_masks is True
    _save(tmp_path / "plain" / "images" / "x.png", _noise(4, 4, 0))
    assert _make({"type": "folder", "root": str(tmp_path / "plain")}).provides_masks is False


# ---------------------------------------------------------------------------------------------------------------
# folder
# ---------------------------------------------------------------------------------------------------------------
def test_folder_pairs_by_stem_and_loads_files_as_read(folder: Path):
    ds = _make({"type": "folder", "root": str(folder)})
    assert ds.ids() == ["a", "b", "c"]
    for sid, ext in (("a", "png"), ("b", "jpg"), ("c", "png")):
        s = ds.load(sid)
        assert s.id == sid
        assert torch.equal(s.image, read_image(folder / "images" / f"{sid}.{ext}"))
        assert torch.equal(s.mask, read_mask(folder / "masks" / f"{sid}.png"))
        assert torch.equal(s.gt, read_image(folder / "gt" / f"{sid}.png"))
        assert s.mask.dtype == torch.bool and s.mask.shape[-2:] == s.image.shape[-2:]
        assert s.meta["path"].endswith(f"{sid}.{ext}")
    assert ds.load("c").image.shape == (3, 8, 14)  # native size by default, whatever the suite resolution


def test_folder_without_masks_gives_no_mask_and_no_gt(tmp_path: Path):
    _save(tmp_path / "images" / "x.png", _noise(6, 6, 0))
    s = _make({"type": "folder", "root": str(tmp_path)}).load("x")
    assert s.mask is None and s.gt is None


def test_folder_limit_and_resize(folder: Path):
    assert _make({"type": "folder", "root": str(folder), "limit": 2}).ids() == ["a", "b"]
    s = _make({"type": "folder", "root": str(folder), "resize": 6}, resolution=32).load("a")
    assert s.image.shape == (3, 6, 6) and s.mask.shape == (1, 6, 6) and s.gt.shape == (3, 6, 6)
    assert s.mask.dtype == torch.bool and s.mask.any()
    s = _make({"type": "folder", "root": str(folder), "resize": "suite"}, resolution=8).load("a")
    assert s.image.shape == (3, 8, 8) and s.mask.shape == (1, 8, 8)
    with pytest.raises(ConfigError, match="resize"):
        _make({"type": "folder", "root": str(folder), "resize": "half"})


def test_folder_missing_root_fails_at_construction_naming_key_and_path(tmp_path: Path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError) as e:
        _make({"type": "folder", "root": str(missing)})
    assert "datasets[0]" in str(e.value) and "root" in str(e.value) and str(missing) in str(e.value)
    (tmp_path / "flat").mkdir()
    _save(tmp_path / "flat" / "x.png", _noise(4, 4, 0))
    with pytest.raises(ConfigError, match="no images/ folder"):
        _make({"type": "folder", "root": str(tmp_path / "flat")})
    with pytest.raises(ConfigError, match="unknown key.*did you mean 'root'"):
        _make({"type": "folder", "rot": str(tmp_path)})


def test_folder_gt_without_masks_is_a_config_error(tmp_path: Path):
    _save(tmp_path / "images" / "x.png", _noise(4, 4, 0))
    _save(tmp_path / "gt" / "x.png", _noise(4, 4, 1))
    with pytest.raises(ConfigError, match="gt"):
        _make({"type": "folder", "root": str(tmp_path)})


def _load_error(ds, sid: str) -> str:
    with pytest.raises(DataError) as e:
        ds.load(sid)
    return str(e.value)


def test_folder_pairing_errors_surface_per_sample(folder: Path):
    (folder / "masks" / "b.png").unlink()  # image without mask
    _save(folder / "masks" / "orphan.png", _mask(12, 16))  # mask without image
    _save(folder / "images" / "d.png", _noise(12, 16, 4))
    _save(folder / "masks" / "d.png", _mask(12, 16))  # d has a mask but no gt
    _save(folder / "gt" / "lonely.png", _noise(12, 16, 5))  # gt without image
    ds = _make({"type": "folder", "root": str(folder)})
    assert ds.ids() == ["a", "b", "c", "d", "lonely", "orphan"]  # construction and listing still work

    msg = _load_error(ds, "b")
    assert str(folder / "images" / "b.jpg") in msg and "no mask" in msg and str(folder / "masks") in msg
    msg = _load_error(ds, "orphan")
    assert str(folder / "masks" / "orphan.png") in msg and "no image" in msg
    msg = _load_error(ds, "lonely")
    assert str(folder / "gt" / "lonely.png") in msg and "no image" in msg
    msg = _load_error(ds, "d")
    assert str(folder / "images" / "d.png") in msg and "no ground truth" in msg
    assert "no sample" in _load_error(ds, "zzz")
    assert ds.load("a").image.shape == (3, 12, 16)  # the others are unaffected


def test_folder_missing_partner_names_the_entry_that_is_there_but_not_read(folder: Path):
    """A mask saved as .jfif, a mask path that is a folder, a hidden mask and an image in a format the readers do
    not take all read 'has no mask' / 'has no image' with no hint that the file is there: now the message names it
    and says why it was not read."""
    (folder / "masks" / "a.png").unlink()
    (folder / "masks" / "a.png").mkdir()  # a folder where the file should be
    (folder / "masks" / "b.png").rename(folder / "masks" / "b.jfif")  # an extension the readers do not take
    (folder / "gt" / "c.png").rename(folder / "gt" / ".c.png")  # hidden
    (folder / "images" / "e.heic").write_bytes(b"not read")
    _save(folder / "masks" / "e.png", _mask(12, 16))
    ds = _make({"type": "folder", "root": str(folder)})
    msg = _load_error(ds, "a")
    assert "image has no mask" in msg and "a.png is a folder, not a file" in msg
    msg = _load_error(ds, "b")
    assert "image has no mask" in msg and "b.jfif is there, but .jfif is not read" in msg and ".png" in msg
    msg = _load_error(ds, "c")
    assert "no ground truth" in msg and ".c.png is hidden" in msg
    msg = _load_error(ds, "e")
    assert "mask file has no image" in msg and "e.heic is there, but .heic is not read" in msg
    (folder / "masks" / "d.png").write_bytes((folder / "masks" / "e.png").read_bytes())  # no note where none applies
    _save(folder / "images" / "d.png", _noise(12, 16, 4))
    assert _load_error(_make({"type": "folder", "root": str(folder)}), "d").endswith("every image needs one)")


def test_folder_size_mismatch_names_both_files(folder: Path):
    _save(folder / "masks" / "a.png", _mask(12, 15))
    _save(folder / "gt" / "b.png", _noise(10, 11, 0))
    ds = _make({"type": "folder", "root": str(folder)})
    msg = _load_error(ds, "a")
    assert str(folder / "masks" / "a.png") in msg and str(folder / "images" / "a.png") in msg
    assert "12x15" in msg and "12x16" in msg
    msg = _load_error(ds, "b")
    assert str(folder / "gt" / "b.png") in msg and "10x11" in msg and "10x10" in msg


def test_folder_mask_made_from_the_stored_pixels_of_an_exif_turned_photo_says_why(tmp_path: Path):
    """A phone photo stored 12 x 16 with EXIF orientation 6 is read upright (16 x 12); its mask, drawn by a tool
    that ignores EXIF, is 12 x 16: the error said only that the sizes differ, now it names the orientation."""
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_noise(12, 16, 1)).save(root / "images" / "phone.jpg", exif=exif)
    _save(root / "masks" / "phone.png", _mask(12, 16))
    _save(root / "images" / "plain.png", _noise(12, 16, 2))
    _save(root / "masks" / "plain.png", _mask(16, 12))  # swapped too, but no orientation explains it
    ds = _make({"type": "folder", "root": str(root), "task": "reconstruction"})
    msg = _load_error(ds, "phone")
    assert "mask is 12x16 (HxW) but its image" in msg and "is 16x12 (HxW)" in msg
    assert "height and width swapped: phone.jpg has EXIF orientation 6" in msg
    msg = _load_error(ds, "plain")
    assert msg.endswith("is 12x16 (HxW)") and "swapped" not in msg


def test_folder_unreadable_file_fails_only_its_sample(folder: Path):
    (folder / "images" / "a.png").write_bytes(b"")
    (folder / "masks" / "c.png").write_bytes((folder / "masks" / "b.png").read_bytes()[:30])
    ds = _make({"type": "folder", "root": str(folder)})
    assert ds.ids() == ["a", "b", "c"]
    assert str(folder / "images" / "a.png") in _load_error(ds, "a")
    assert str(folder / "masks" / "c.png") in _load_error(ds, "c")
    assert ds.load("b").mask is not None


def test_folder_links_to_missing_files_are_samples_that_fail_not_gone(folder: Path, tmp_path: Path):
    """Images on an unmounted drive (links whose target is not there) are listed and fail with the link's target
    named; before, they vanished from the dataset without a word."""
    (folder / "images" / "d.png").symlink_to(tmp_path / "unmounted" / "d.png")
    for sub in ("masks", "gt"):
        (folder / sub / "d.png").write_bytes((folder / sub / "b.png").read_bytes())
    ds = _make({"type": "folder", "root": str(folder)})
    assert ds.ids() == ["a", "b", "c", "d"]
    assert f"a link to {tmp_path / 'unmounted' / 'd.png'}, which is not there" in _load_error(ds, "d")


def test_folder_duplicate_stems_are_reported(folder: Path):
    _save(folder / "images" / "a.jpg", _noise(12, 16, 7))
    msg = _load_error(_make({"type": "folder", "root": str(folder)}), "a")
    assert "a.jpg" in msg and "a.png" in msg and "stem" in msg


def test_folder_provenance_counts_and_fingerprint(folder: Path):
    ds = _make({"type": "folder", "root": str(folder)})
    p = ds.provenance()
    assert (p["images"], p["masks"], p["gt"], p["count"]) == (3, 3, 3, 3)
    assert p["root"] == str(folder.resolve())
    _save(folder / "gt" / "a.png", _noise(12, 16, 99))
    _save(folder / "gt" / "a.png", np.zeros((12, 16, 3), np.uint8))  # same name, different size on disk
    assert _make({"type": "folder", "root": str(folder)}).provenance()["listing_sha256"] != p["listing_sha256"]


def test_tiny_sample_set_matches_manifest_and_loads():
    root = REPO / "datasets" / "tiny"
    manifest = json.loads((root / "manifest.json").read_text())
    total = 0
    for rel, entry in manifest["files"].items():
        data = (root / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], rel
        total += len(data)
    assert total <= 200 * 1024
    ds = _make({"type": "folder", "root": str(root)})
    assert len(ds.ids()) == manifest["count"]
    for sid in ds.ids():
        s = ds.load(sid)
        assert s.mask.any() and s.gt is not None
        outside = ~s.mask.expand(3, -1, -1)
        assert torch.equal(s.image[outside], s.gt[outside])  # lossless: the background is untouched


# ---------------------------------------------------------------------------------------------------------------
# samples
# ---------------------------------------------------------------------------------------------------------------
def test_samples_shapes_range_and_determinism():
    ds = _make({"type": "samples"}, resolution=32)
    assert ds.ids() == list(PHOTOS)
    for sid in ds.ids():
        s = ds.load(sid)
        assert s.image.dtype == torch.float32 and s.image.shape == (3, 32, 32)
        assert 0.0 <= s.image.min().item() and s.image.max().item() <= 1.0 and s.image.std().item() > 0.02
        assert s.mask is None and s.gt is None
    again = _make({"type": "samples"}, resolution=32)
    assert torch.equal(again.load("rocket").image, ds.load("rocket").image)


def test_samples_are_the_scikit_image_photographs():
    from skimage import data

    s = _make({"type": "samples", "names": ["coffee", "stereo_motorcycle"]}, resolution=48)
    for name, raw in (("coffee", data.coffee()), ("stereo_motorcycle", data.stereo_motorcycle()[0])):
        h, w = raw.shape[:2]
        k = min(h, w)
        crop = raw[(h - k) // 2:(h - k) // 2 + k, (w - k) // 2:(w - k) // 2 + k]
        ref = np.asarray(Image.fromarray(crop).resize((48, 48), Image.BICUBIC), np.float32) / 255
        got = s.load(name).image.numpy().transpose(1, 2, 0)
        assert np.abs(got - ref).mean() < 5e-3, name


def test_samples_default_resolution_names_limit_and_errors():
    ds = _make({"type": "samples", "names": ["chelsea", "astronaut"], "limit": 1})
    assert ds.ids() == ["chelsea"]
    assert ds.load("chelsea").image.shape == (3, 256, 256)  # no suite resolution: 256
    with pytest.raises(DataError, match="no such sample"):
        ds.load("camera")
    with pytest.raises(ConfigError, match="did you mean 'astronaut'"):
        _make({"type": "samples", "names": ["astronot"]})
    with pytest.raises(ConfigError, match="names"):
        _make({"type": "samples", "names": "astronaut"})
    prov = _make({"type": "samples"}, resolution=64).provenance()
    assert prov["names"] == list(PHOTOS) and prov["resolution"] == 64 and prov["skimage_version"]


# ---------------------------------------------------------------------------------------------------------------
# synthetic
# ---------------------------------------------------------------------------------------------------------------
def test_synthetic_same_id_same_scene_and_seed_changes_it():
    a = _make({"type": "synthetic", "n": 3}, resolution=48, seed=7)
    b = _make({"type": "synthetic", "n": 3}, resolution=48, seed=7)
    c = _make({"type": "synthetic", "n": 3}, resolution=48, seed=8)
    assert a.ids() == ["syn-0000", "syn-0001", "syn-0002"]
    for sid in a.ids():
        x, y, z = a.load(sid), b.load(sid), c.load(sid)
        assert torch.equal(x.image, y.image) and torch.equal(x.mask, y.mask) and torch.equal(x.gt, y.gt)
        assert not torch.equal(x.image, z.image)
    # loading order does not matter: a sample is a function of (seed, id) only
    assert torch.equal(a.load("syn-0002").image, b.load("syn-0002").image)
    assert not torch.equal(a.load("syn-0000").gt, a.load("syn-0001").gt)
    # an explicit dataset seed wins over the suite seed
    d = _make({"type": "synthetic", "n": 3, "seed": 7}, resolution=48, seed=123)
    assert torch.equal(d.load("syn-0001").image, a.load("syn-0001").image)


def test_synthetic_ground_truth_and_mask_are_exact():
    """Every family, shadows and soft edges on: gt == image outside the mask, the mask covers every change."""
    for i, fam in enumerate(TEXTURES * 2):
        rng = rng_for("test", fam, i)
        s = make_scene(rng, (40, 56), objects=(1, 3), textures=[fam], shadows=1.0, soft_edges=0.5 * (i % 3))
        assert s.image.dtype == torch.float32 and s.image.shape == (3, 40, 56) and s.gt.shape == (3, 40, 56)
        assert s.mask.dtype == torch.bool and s.mask.shape == (1, 40, 56)
        for t in (s.image, s.gt):
            assert torch.isfinite(t).all() and t.min() >= 0 and t.max() <= 1
        outside = ~s.mask.expand(3, -1, -1)
        assert torch.equal(s.image[outside], s.gt[outside]), fam
        changed = (s.image != s.gt).any(0, keepdim=True)
        assert not (changed & ~s.mask).any(), fam
        assert s.mask.any()
        # the mask is tight: most of it really changed (objects contrast with their background)
        assert changed[s.mask].float().mean().item() > 0.5, fam
        assert torch.equal(s.object_masks.any(0), s.mask)
        assert s.object_alphas.shape == s.object_masks.shape
        assert ((s.object_alphas > 0) <= s.object_masks).all()


def test_synthetic_object_count_and_size_within_ranges():
    side = 64
    for i in range(8):
        s = make_scene(rng_for("sizes", i), side, objects=(2, 4), object_size=(0.2, 0.3), shadows=0.0,
                       soft_edges=0.0)
        k = s.object_masks.shape[0]
        assert 2 <= k <= 4 and len(s.info["objects"]) == k
        for m in s.object_masks[:, 0]:
            ys, xs = torch.nonzero(m, as_tuple=True)
            extent = max(int(ys.max() - ys.min()), int(xs.max() - xs.min())) + 1
            assert extent <= 0.3 * side + 3  # anti-aliased edge: at most a pixel each side
            assert extent >= 0.2 * side * 0.4 - 1  # the narrowest shapes are 0.4 as wide as long


def test_synthetic_families_differ_and_empty_scene():
    stds = {}
    for fam in TEXTURES:
        s = make_scene(rng_for("fam", fam), 48, textures=[fam])
        assert s.info["background"]["family"] == fam
        stds[fam] = s.gt.std().item()
    assert all(v > 0.01 for v in stds.values()), stds
    for shape in SHAPES:
        s = make_scene(rng_for("shape", shape), 48, shapes=[shape])
        assert all(o["shape"] == shape for o in s.info["objects"])
    empty = make_scene(rng_for("empty"), 32, objects=(0, 0))
    assert not empty.mask.any() and torch.equal(empty.image, empty.gt) and empty.object_masks.shape[0] == 0


def test_synthetic_dataset_params_ids_and_provenance():
    ds = _make({"type": "synthetic", "n": 2, "objects": 1, "textures": ["stripes"]})  # an int: exactly that many
    s = ds.load("syn-0001")
    assert s.image.shape == (3, 256, 256)  # no suite resolution: 256
    assert s.meta["background"] == "stripes" and s.meta["n_objects"] == 1
    with pytest.raises(DataError, match="no such sample"):
        ds.load("syn-0002")
    with pytest.raises(DataError, match="no such sample"):
        ds.load("astronaut")
    prov = ds.provenance()
    assert prov["version"] and prov["seed"] == 0 and prov["n"] == 2 and prov["textures"] == ["stripes"]
    assert len(_make({"type": "synthetic", "n": 10001}).ids()[-1]) == len("syn-10000")
    assert _make({"type": "synthetic", "n": 0}).ids() == []


@pytest.mark.parametrize("spec,match", [
    ({"objects": [3, 1]}, "objects"),
    ({"objects": [0, 2]}, "objects"),
    ({"objects": [1]}, "objects"),
    ({"objects": 0}, "objects"),
    ({"object_size": [0.2, 1.5]}, "object_size"),
    ({"textures": ["strips"]}, "did you mean 'stripes'"),
    ({"shapes": ["circle"]}, "shapes"),
    ({"shadows": 1.5}, "shadows"),
    ({"n": -1}, "n"),
    ({"n": "many"}, "expected int"),
])
def test_synthetic_bad_params_name_the_key(spec: dict, match: str):
    with pytest.raises(ConfigError, match=match) as e:
        _make({"type": "synthetic", **spec})
    assert str(e.value).startswith("datasets[0]")


# ---------------------------------------------------------------------------------------------------------------
# datasets/prepare.py: other layouts -> the folder layout
# ---------------------------------------------------------------------------------------------------------------
def _prepare_module():
    from tests.scripts import load

    return load("datasets/prepare.py", "bench_prepare")


def test_prepare_lama_layout_one_sample_per_mask(tmp_path: Path):
    src = tmp_path / "lama" / "random_thick_512"
    _save(src / "x.png", _noise(8, 8, 1))
    _save(src / "x_mask000.png", _mask(8, 8))
    _save(src / "x_mask001.png", 255 - _mask(8, 8))
    _save(src / "y.png", _noise(6, 9, 2))
    _save(src / "y_mask000.png", _mask(6, 9))
    _save(src / "z_mask000.png", _mask(5, 5))  # no image: skipped
    counts = _prepare_module().prepare_lama(tmp_path / "lama", tmp_path / "out")
    assert counts == {"samples": 3, "masks_without_image": 1}
    ds = _make({"type": "folder", "root": str(tmp_path / "out")})
    assert ds.ids() == ["random_thick_512__x_mask000", "random_thick_512__x_mask001", "random_thick_512__y_mask000"]
    s0, s1 = ds.load("random_thick_512__x_mask000"), ds.load("random_thick_512__x_mask001")
    assert torch.equal(s0.image, read_image(src / "x.png")) and torch.equal(s0.image, s1.image)
    assert torch.equal(s0.mask, ~s1.mask)


def test_prepare_pairs_with_key_patterns(tmp_path: Path):
    for i in range(3):
        _save(tmp_path / "raw" / "photos" / f"IMG_{i:03d}.jpg", _noise(8, 8, i))
        _save(tmp_path / "raw" / "clean" / f"IMG_{i:03d}_bg.png", _noise(8, 8, 10 + i))
    for i in range(2):  # IMG_002 has no mask: skipped, so the prepared folder has no pairing errors
        _save(tmp_path / "raw" / "objmask" / f"mask_IMG_{i:03d}.png", _mask(8, 8))
    counts = _prepare_module().prepare_pairs(
        tmp_path / "out", tmp_path / "raw" / "photos", tmp_path / "raw" / "objmask", tmp_path / "raw" / "clean",
        mask_key=r"^mask_(.+)\.png$", gt_key=r"^(.+)_bg\.png$", copy=True)
    assert counts["samples"] == 2 and counts["skipped"] == 1
    ds = _make({"type": "folder", "root": str(tmp_path / "out")})
    assert ds.ids() == ["IMG_000", "IMG_001"]
    s = ds.load("IMG_001")
    assert torch.equal(s.gt, read_image(tmp_path / "raw" / "clean" / "IMG_001_bg.png"))
    assert not (tmp_path / "out" / "images" / "IMG_001.jpg").is_symlink()


def test_folder_odd_file_names(tmp_path: Path):
    names = ["ünï cødé (1)", "-leading-dash", "UPPER", "a.b.c"]
    for i, stem in enumerate(names):
        ext = ".PNG" if stem == "UPPER" else ".png"
        _save(tmp_path / "images" / f"{stem}{ext}", _noise(5, 7, i))
        _save(tmp_path / "masks" / f"{stem}.png", _mask(5, 7))
    ds = _make({"type": "folder", "root": str(tmp_path)})
    assert ds.ids() == sorted(names)
    for stem in names:
        s = ds.load(stem)
        assert s.id == stem and s.image.shape == (3, 5, 7) and s.mask.any()
