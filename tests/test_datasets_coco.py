"""COCO-format instance annotations: masks pixel for pixel as pycocotools' COCO.annToMask gives them (and as
closed forms say: a rectangle polygon, a hand-made RLE), the selection rules, and errors that name the key or the
file. Built in the test from scikit-image's photographs; nothing is downloaded."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

mask_utils = pytest.importorskip("pycocotools.mask")
from pycocotools.coco import COCO  # noqa: E402

from bench.errors import ConfigError, DataError  # noqa: E402
from bench.registry import DATASETS  # noqa: E402


def _rle_counts(m: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE, written here from its definition: run lengths over the column-major pixels,
    starting with a run of zeros (possibly empty)."""
    flat = m.astype(np.uint8).flatten(order="F")
    counts, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            counts.append(n)
            cur, n = v, 0
        n += 1
    counts.append(n)
    return counts


def _disk(h, w, cy, cx, r):
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("coco")
    (root / "val").mkdir()
    photos = {1: "coffee", 2: "chelsea", 3: "astronaut", 4: "rocket", 5: "coffee"}
    images = []
    for i, name in photos.items():
        a = getattr(skimage.data, name)()
        h, w = a.shape[:2]
        fname = f"{i:012d}.jpg"
        if i == 5:
            Image.fromarray(a[:, :500]).save(root / "val" / fname, quality=95)  # annotation says 600 wide
        elif i != 4:  # image 4's file is missing
            Image.fromarray(a).save(root / "val" / fname, quality=95)
        images.append({"id": i, "file_name": fname, "height": h, "width": w})
    disk = _disk(300, 451, 150, 220, 60)
    crowd = np.zeros((400, 600), bool)
    crowd[300:380, 20:200] = True
    anns = [
        # coffee 400x600: a rectangle cup (15 % of the image), a tiny spoon (under min_area), a crowd region
        {"id": 11, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 200.0 * 180,
         "segmentation": [[100, 50, 300, 50, 300, 230, 100, 230]]},
        {"id": 12, "image_id": 1, "category_id": 2, "iscrowd": 0, "area": 50.0,
         "segmentation": [[10, 10, 20, 10, 20, 15]]},
        {"id": 13, "image_id": 1, "category_id": 1, "iscrowd": 1, "area": float(crowd.sum()),
         "segmentation": {"counts": _rle_counts(crowd), "size": [400, 600]}},
        # chelsea 300x451: a compressed-RLE cat (a disk) and a polygon cat (a triangle)
        {"id": 21, "image_id": 2, "category_id": 3, "iscrowd": 0, "area": float(disk.sum()),
         "segmentation": {k: (v.decode() if isinstance(v, bytes) else v)
                          for k, v in mask_utils.encode(np.asfortranarray(disk.astype(np.uint8))).items()}},
        {"id": 22, "image_id": 2, "category_id": 3, "iscrowd": 0, "area": 3000.0,
         "segmentation": [[330.4, 40.2, 420.7, 60.9, 360.1, 120.3]]},
        # astronaut 512x512: a person in two parts, with a degenerate two-point polygon left out
        {"id": 31, "image_id": 3, "category_id": 4, "iscrowd": 0, "area": 9000.0,
         "segmentation": [[50.5, 60.5, 150.2, 70.1, 140.8, 170.9, 60.3, 150.4], [300, 300, 310, 300],
                          [200, 220, 260, 230, 230, 290]]},
        {"id": 41, "image_id": 4, "category_id": 4, "iscrowd": 0, "area": 20000.0,
         "segmentation": [[10, 10, 200, 10, 200, 120, 10, 120]]},
        {"id": 51, "image_id": 5, "category_id": 1, "iscrowd": 0, "area": 20000.0,
         "segmentation": [[10, 10, 200, 10, 200, 120, 10, 120]]},
    ]
    cats = [{"id": 1, "name": "cup"}, {"id": 2, "name": "spoon"}, {"id": 3, "name": "cat"}, {"id": 4, "name": "person"}]
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return {"root": root, "ann": path, "images": root / "val", "disk": disk, "crowd": crowd}


def _make(coco, resolution=None, **kw):
    ds = DATASETS.create({"type": "coco", "annotations": str(coco["ann"]), "images": str(coco["images"]), **kw},
                         "datasets[0]")
    ds.bind(resolution=resolution, seed=0)
    return ds


def _mask(sample) -> np.ndarray:
    return sample.mask[0].numpy()


def test_masks_are_what_pycocotools_anntomask_gives(coco):
    api = COCO(str(coco["ann"]))
    ds = _make(coco, select="each", crowd=True, min_area=0.0, max_area=1.0)
    checked = 0
    for sid in ds.ids():
        if sid.startswith(("000000000004", "000000000005")):
            continue
        ann_id = int(sid.rsplit("_", 1)[1])
        ref = api.annToMask(api.loadAnns(ann_id)[0]).astype(bool)
        if ann_id == 31:  # pycocotools reads [300, 300, 310, 300] as a box; we leave a two-point polygon out
            ann = dict(api.loadAnns(31)[0])
            ann["segmentation"] = [p for p in ann["segmentation"] if len(p) >= 6]
            ref = api.annToMask(ann).astype(bool)
        assert np.array_equal(_mask(ds.load(sid)), ref), sid
        checked += 1
    assert checked == 6


def test_closed_forms_rectangle_polygon_and_run_lengths(coco):
    ds = _make(coco, select="each", crowd=True, min_area=0.0, max_area=1.0)
    cup = _mask(ds.load("000000000001_11"))
    want = np.zeros((400, 600), bool)
    want[50:230, 100:300] = True  # pixel i spans [i, i + 1): the polygon's corners are pixel corners
    assert np.array_equal(cup, want)
    assert np.array_equal(_mask(ds.load("000000000001_13")), coco["crowd"])  # uncompressed RLE
    assert np.array_equal(_mask(ds.load("000000000002_21")), coco["disk"])  # compressed RLE


def test_select_largest_each_union_and_ids(coco):
    largest = _make(coco)
    # coffee: the cup (the spoon is under min_area, the crowd region is left out); chelsea: the disk, the larger
    assert largest.ids() == ["000000000001", "000000000002", "000000000003", "000000000004", "000000000005"]
    s = largest.load("000000000002")
    assert np.array_equal(_mask(s), coco["disk"]) and s.meta["annotation_ids"] == [21]
    each = _make(coco, select="each")
    assert [i for i in each.ids() if i.startswith("000000000002")] == ["000000000002_21", "000000000002_22"]
    union = _make(coco, select="union")
    both = _mask(union.load("000000000002"))
    assert np.array_equal(both, _mask(each.load("000000000002_21")) | _mask(each.load("000000000002_22")))
    assert union.load("000000000002").meta["annotation_ids"] == [21, 22]


def test_filters_categories_area_crowd_and_limit(coco):
    assert _make(coco, categories=["cat"]).ids() == ["000000000002"]
    assert _make(coco, categories=[4, "cup"]).ids() == ["000000000001", "000000000003", "000000000004",
                                                         "000000000005"]
    spoon = _make(coco, categories=["spoon"], min_area=0.0)
    assert spoon.ids() == ["000000000001"] and spoon.load("000000000001").meta["annotation_ids"] == [12]
    assert _make(coco, categories=["spoon"]).ids() == []  # 50 px of 240,000: under min_area 0.01
    assert [i for i in _make(coco, select="each", crowd=True).ids() if i.startswith("000000000001")] == [
        "000000000001_11", "000000000001_13"]
    # under 5 % of the image: the triangle on chelsea (2.2 %, the disk is 8.4 %) and the astronaut (3.4 %)
    small = _make(coco, max_area=0.05)
    assert small.ids() == ["000000000002", "000000000003"] and small.load("000000000002").meta["annotation_ids"] == [22]
    assert _make(coco, limit=2).ids() == ["000000000001", "000000000002"]
    with pytest.raises(ConfigError, match=r"categories\[0\].*unknown category 'cta'.*did you mean 'cat'"):
        _make(coco, categories=["cta"])
    with pytest.raises(ConfigError, match=r"categories\[1\].*no category with id 9"):
        _make(coco, categories=["cat", 9])


def test_task_decides_the_ground_truth_and_resize_keeps_mask_and_image_aligned(coco):
    removal = _make(coco)
    s = removal.load("000000000001")
    assert s.gt is None and removal.gt_for_masks is False and removal.provides_masks
    rec = _make(coco, task="reconstruction")
    r = rec.load("000000000001")
    assert rec.gt_for_masks and torch.equal(r.gt, r.image)
    small = _make(coco, resolution=128, resize="suite").load("000000000001")
    assert small.image.shape == (3, 128, 128) and small.mask.shape == (1, 128, 128) and small.mask.dtype == torch.bool
    # centre square crop of 400x600 is columns 100..500; the cup (columns 100..300, rows 50..230) scales by 0.32
    ys, xs = np.nonzero(_mask(small))
    assert abs(ys.min() - 50 * 0.32) <= 1 and abs(ys.max() + 1 - 230 * 0.32) <= 1
    assert xs.min() <= 1 and abs(xs.max() + 1 - 200 * 0.32) <= 1


def test_bad_samples_fail_alone_with_the_file_named(coco):
    ds = _make(coco)
    with pytest.raises(DataError, match=r"000000000004\.jpg: image file missing"):
        ds.load("000000000004")
    with pytest.raises(DataError, match=r"000000000005\.jpg: image is 400x500.*says 400x600"):
        ds.load("000000000005")


def test_configuration_errors_name_the_key(coco, tmp_path):
    with pytest.raises(ConfigError, match="annotations.*does not exist"):
        _make({**coco, "ann": tmp_path / "nope.json"})
    with pytest.raises(ConfigError, match="images.*does not exist"):
        _make({**coco, "images": tmp_path / "nope"})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not readable JSON"):
        _make({**coco, "ann": bad})
    bad.write_text(json.dumps({"images": [], "categories": []}))
    with pytest.raises(ConfigError, match="no 'annotations' list"):
        _make({**coco, "ann": bad})
    with pytest.raises(ConfigError, match="select.*largest, each, union"):
        _make(coco, select="biggest")
    with pytest.raises(ConfigError, match="min_area.*above max_area"):
        _make(coco, min_area=0.6)


def test_lvis_entries_are_found_from_their_url_and_provenance_fingerprints_the_file(coco, tmp_path):
    data = json.loads(coco["ann"].read_text())
    for im in data["images"]:
        im["coco_url"] = "http://images.cocodataset.org/val/" + im.pop("file_name")
    lvis = tmp_path / "lvis.json"
    lvis.write_text(json.dumps(data))
    a = _make({**coco, "ann": lvis}, categories=["cat"])  # images/ holds val/, as the URL says
    b = _make({**coco, "ann": lvis, "images": coco["images"]}, categories=["cat"])
    with_root = DATASETS.create({"type": "coco", "annotations": str(lvis), "images": str(coco["root"]),
                                 "categories": ["cat"]}, "datasets[0]")
    for ds in (a, b, with_root):
        assert np.array_equal(_mask(ds.load("000000000002")), coco["disk"])
    p1, p2 = _make(coco).provenance(), a.provenance()
    assert p1["type"] == "coco" and len(p1["annotations_sha256"]) == 64
    assert p1["annotations_sha256"] != p2["annotations_sha256"] and p2["categories"] == [3]
    assert p1["count"] == 5 and p1["annotation_count"] == 8 and p1["pycocotools"]


def test_a_removal_suite_runs_scores_preservation_and_records_bad_images(coco, tmp_path):
    from bench.config import load_suite, parse_suite
    from bench.runner import Runner
    from bench.store import RunStore

    ds = {"type": "coco", "annotations": str(coco["ann"]), "images": str(coco["images"])}
    with pytest.raises(ConfigError, match="scores against ground truth.*removal dataset without it"):
        parse_suite({"backends": ["opencv-telea"], "datasets": [ds], "masks": ["given"], "metrics": ["psnr"]})
    cfg = tmp_path / "suite.yaml"
    cfg.write_text(json.dumps({
        "output_dir": str(tmp_path / "results"), "device": "cpu", "backends": ["opencv-telea"],
        "datasets": [ds], "masks": ["given", {"type": "dilate", "k": 5, "base": "given"}],
        "metrics": [{"type": "psnr", "regions": ["out"]}], "detectors": ["noop", "outside_drift"],
        "save_inputs": True}))
    run_dir = Runner(load_suite(cfg), progress=False).run()
    from bench.store.run import load_run

    recs = load_run(run_dir).records()  # flags set from the stored scores, as every reader sees them
    by = {(r["cell_key"].split(".")[2], r["sample_id"]): r for r in recs}
    assert len(by) == 10
    for m in ("given", "dilate"):
        assert "image file missing" in by[(m, "000000000004")]["error"]
        assert "says 400x600" in by[(m, "000000000005")]["error"]
        for sid in ("000000000001", "000000000002", "000000000003"):
            r = by[(m, sid)]
            assert r["error"] is None and r["psnr_out"] == float("inf") and r["noop_flag"] == 0
            assert "psnr_in" not in r or r["psnr_in"] is None
    assert by[("dilate", "000000000001")]["hole_fraction"] > by[("given", "000000000001")]["hole_fraction"]
    # the HTML grid has no ground-truth column of empty tiles for removal data; reconstruction has one
    from bench.report.html import render_html

    page = render_html(run_dir, ci=False)
    assert 'class="colhead">input' in page and 'class="colhead">ground truth' not in page
    cfg2 = tmp_path / "rec.yaml"
    cfg2.write_text(json.dumps({
        "output_dir": str(tmp_path / "results"), "device": "cpu", "backends": ["identity"], "save_inputs": True,
        "datasets": [{**ds, "task": "reconstruction", "categories": ["cat"]}], "masks": ["given"],
        "metrics": ["psnr"]}))
    rec_page = render_html(Runner(load_suite(cfg2), progress=False).run(), ci=False)
    assert rec_page.count('class="colhead">ground truth') == 1


def test_absent_lists_the_images_without_the_categories_as_a_reference_set(coco):
    from bench.config import parse_suite

    # cats are on chelsea only; persons on astronaut and rocket; cups on both coffee images
    assert _make(coco, select="absent", categories=["cat"]).ids() == [
        "000000000001", "000000000003", "000000000004", "000000000005"]
    no_cup = _make(coco, select="absent", categories=["cup", "person"])
    assert no_cup.ids() == ["000000000002"] and no_cup.provides_masks is False
    s = no_cup.load("000000000002")
    assert s.mask is None and s.gt is None and s.image.shape == (3, 300, 451)
    with pytest.raises(ConfigError, match="categories.*select: absent"):
        _make(coco, select="absent")
    ds = {"type": "coco", "annotations": str(coco["ann"]), "images": str(coco["images"])}
    ref = {**ds, "select": "absent", "categories": ["cat"]}
    with pytest.raises(ConfigError, match="uses the dataset's own masks.*has none"):
        parse_suite({"backends": ["identity"], "datasets": [ref], "masks": ["given"], "metrics": []})
    parse_suite({"backends": ["identity"], "datasets": [{**ds, "categories": ["cat"]}], "masks": ["given"],
                 "metrics": [{"type": "fid", "crop": False, "reference": ref}]})


def test_compressed_rle_strings_decode_to_the_counts_pycocotools_encoded():
    from bench.coco_format import rle_counts

    rng = np.random.default_rng(3)
    for t in range(100):
        h, w = (int(x) for x in rng.integers(1, 70, 2))
        m = rng.random((h, w)) < rng.random() if t % 4 else np.zeros((h, w), bool)
        encoded = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))["counts"]
        assert rle_counts(encoded) == _rle_counts(m)
    with pytest.raises(ValueError, match="ends inside a count"):
        rle_counts("1a")[0]  # 'a' (49 | 0x20 set): another group promised, none given


@pytest.mark.parametrize("segmentation, why", [
    ({"size": [48, 64], "counts": [100, 200]}, "cover 300 pixels, not the image's 48x64"),
    ({"size": [48, 64], "counts": ""}, "cover 0 pixels"),
    ({"size": [48, 64], "counts": [100, -5, 2977]}, "whole numbers >= 0"),
    ({"counts": [100, 200, 2772]}, "needs 'size'"),
    ([[10, 10, 30, 10, 30, float("nan"), 10, 30]], "not finite"),
    ([[10, 10, 1e8, 10, 30, 30, 10, 30]], "far outside"),
])
def test_segmentations_pycocotools_would_turn_into_noise_or_a_crash_are_refused(segmentation, why):
    """Counts that do not cover the image decoded into uninitialised memory (a different mask each load); a NaN or
    huge polygon coordinate crashed the whole process. Each is now the sample's error naming its annotation."""
    from bench.coco_format import decode

    with pytest.raises(DataError, match=rf"x\.jpg: annotation 7: segmentation cannot be decoded \(.*{why}"):
        decode(mask_utils, {"id": 7, "segmentation": segmentation}, 48, 64, "x.jpg")
    good = mask_utils.encode(np.asfortranarray(_disk(48, 64, 20, 30, 9).astype(np.uint8)))
    assert decode(mask_utils, {"id": 7, "segmentation": {"size": [48, 64], "counts": good["counts"].decode()}},
                  48, 64, "x.jpg").sum() == _disk(48, 64, 20, 30, 9).sum()


def test_an_image_replaced_under_its_name_is_generated_again(coco, tmp_path):
    """The coco dataset's provenance fingerprinted its annotation file only: an image file replaced under its name
    (same size) left the outputs made from the old picture in place. Its listing of the selected images (name,
    size, modification time) now changes, and the run checks the stored outputs and generates that one again."""
    import io
    import os
    import shutil

    from rich.console import Console

    from bench.config import parse_suite
    from bench.runner import Runner

    images = tmp_path / "val"
    shutil.copytree(coco["images"], images)
    ds = {"type": "coco", "annotations": str(coco["ann"]), "images": str(images), "categories": ["cup", "cat"]}
    suite = parse_suite({"output_dir": str(tmp_path / "results"), "device": "cpu", "backends": ["opencv-telea"],
                         "datasets": [ds], "masks": ["given"], "metrics": [{"type": "psnr", "regions": ["out"]}]})
    before = _make({**coco, "images": images}, categories=["cup", "cat"]).provenance()["listing_sha256"]
    Runner(suite, progress=False).run()
    f = images / "000000000002.jpg"
    Image.fromarray(np.asarray(Image.open(f))[::-1].copy()).save(f, quality=95)
    os.utime(f, (1, 1))
    assert _make({**coco, "images": images}, categories=["cup", "cat"]).provenance()["listing_sha256"] != before
    buf = io.StringIO()
    Runner(suite, progress=False, console=Console(file=buf, width=300)).run()
    assert "stored output(s) checked against their inputs, 1 made from inputs that changed" in buf.getvalue()
