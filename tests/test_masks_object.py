"""The ``object`` mask strategy: real objects' outlines (COCO-format) as holes in any photograph, at their own share
of the image, wholly inside it, seeded like every strategy."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

mask_utils = pytest.importorskip("pycocotools.mask")

from bench.errors import ConfigError  # noqa: E402
from bench.masks.object import place_outline  # noqa: E402
from bench.registry import MASKS  # noqa: E402
from bench.types import Sample  # noqa: E402


def _triangle(h, w):
    yy, xx = np.mgrid[:h, :w]
    return xx <= (w - 1) * (1 - yy / max(1, h - 1))  # right angle at the top left: not mirror-symmetric


@pytest.fixture(scope="module")
def ann_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("objects")
    tri = np.zeros((400, 600), bool)
    tri[100:180, 200:320] = _triangle(80, 120)
    anns = [
        # a 100 x 50 (w x h) rectangle on a 400 x 600 photo: 2.1 % of it
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 5000.0,
         "segmentation": [[100, 100, 200, 100, 200, 150, 100, 150]]},
        # a full-width band, 25 % of its photo
        {"id": 2, "image_id": 1, "category_id": 2, "iscrowd": 0, "area": 60000.0,
         "segmentation": [[0, 0, 600, 0, 600, 100, 0, 100]]},
        # a right triangle (compressed RLE), 2 % of its photo
        {"id": 3, "image_id": 1, "category_id": 3, "iscrowd": 0, "area": float(tri.sum()),
         "segmentation": {k: (v.decode() if isinstance(v, bytes) else v)
                          for k, v in mask_utils.encode(np.asfortranarray(tri.astype(np.uint8))).items()}},
        # a crowd region: never drawn
        {"id": 4, "image_id": 1, "category_id": 1, "iscrowd": 1, "area": 20000.0,
         "segmentation": [[0, 200, 200, 200, 200, 300, 0, 300]]},
    ]
    cats = [{"id": 1, "name": "box"}, {"id": 2, "name": "band"}, {"id": 3, "name": "wedge"}]
    path = root / "instances.json"
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "height": 400, "width": 600}],
                                "annotations": anns, "categories": cats}))
    return {"path": path, "tri": tri[100:180, 200:320]}


def _strategy(ann_file, **kw):
    return MASKS.create({"type": "object", "annotations": str(ann_file["path"]), "min_area": 0.0, "max_area": 1.0,
                         **kw}, "masks[0]")


def _sample(sid="s", h=400, w=600):
    return Sample(id=sid, image=torch.zeros(3, h, w))


def _bbox(m):
    ys, xs = np.nonzero(m)
    return ys.min(), ys.max() + 1, xs.min(), xs.max() + 1


def test_an_outline_keeps_its_share_of_the_image_and_its_shape(ann_file):
    box = _strategy(ann_file, categories=["box"])
    same = box.make(_sample(), seed=0)
    y0, y1, x0, x1 = _bbox(same)
    assert (y1 - y0, x1 - x0) == (50, 100) and same.sum() == 5000  # same size: the rectangle itself
    half = box.make(_sample(h=200, w=300), seed=0)
    y0, y1, x0, x1 = _bbox(half)
    assert (y1 - y0, x1 - x0) == (25, 50) and half.sum() == 25 * 50  # half the sides: the same 2.1 %
    assert abs(box.make(_sample(h=256, w=256), seed=0).mean() - 5000 / 240000) < 0.002


def test_an_outline_that_would_not_fit_is_shrunk_until_it_does(ann_file):
    band = _strategy(ann_file, categories=["band"])
    m = band.make(_sample(h=600, w=200), seed=1)  # a tall photo: the full-width band must narrow to 200
    y0, y1, x0, x1 = _bbox(m)
    assert (x0, x1) == (0, 200) and y1 - y0 == round(100 * 200 / 600) and m.all(axis=1).sum() == y1 - y0


def test_the_outline_itself_is_placed_mirrored_half_of_the_time(ann_file):
    wedge = _strategy(ann_file, categories=["wedge"])
    tri = ann_file["tri"]
    seen = set()
    for i in range(24):
        m = wedge.make(_sample(f"s{i}"), seed=3)
        y0, y1, x0, x1 = _bbox(m)
        crop = m[y0:y1, x0:x1]
        assert crop.shape == tri.shape and m.sum() == tri.sum()
        if np.array_equal(crop, tri):
            seen.add("as is")
        else:
            assert np.array_equal(crop, tri[:, ::-1])
            seen.add("mirrored")
        seen.add((y0, x0))
    assert {"as is", "mirrored"} <= seen and len(seen) > 10  # both orientations, many positions
    no_flip = _strategy(ann_file, categories=["wedge"], flip=False)
    for i in range(8):
        m = no_flip.make(_sample(f"s{i}"), seed=3)
        y0, y1, x0, x1 = _bbox(m)
        assert np.array_equal(m[y0:y1, x0:x1], tri)


def test_masks_are_a_function_of_seed_and_sample(ann_file):
    s = _strategy(ann_file)
    a, b = s.make(_sample("x"), seed=0), s.make(_sample("x"), seed=0)
    assert np.array_equal(a, b)
    assert any(not np.array_equal(a, s.make(_sample(f"y{i}"), seed=0)) for i in range(5))
    assert any(not np.array_equal(a, s.make(_sample("x"), seed=k)) for k in range(1, 6))


def test_the_pool_follows_categories_area_and_crowd(ann_file):
    # min_area 0.1 keeps only the band (25 %): every hole is a full-width band on a same-shaped photo
    band_only = _strategy(ann_file, min_area=0.1)
    for i in range(5):
        m = band_only.make(_sample(f"s{i}"), seed=0)
        assert m.sum() == 60000
    assert len(_strategy(ann_file)._pool) == 3  # the crowd region is never drawn
    with pytest.raises(ConfigError, match=r"no non-crowd instance of those categories covers between 0\.5 and 1"):
        _strategy(ann_file, categories=["box"], min_area=0.5)
    with pytest.raises(ConfigError, match=r"categories\[0\].*unknown category 'bx'.*did you mean 'box'"):
        _strategy(ann_file, categories=["bx"])
    with pytest.raises(ConfigError, match="annotations.*does not exist"):
        MASKS.create({"type": "object", "annotations": str(ann_file["path"]) + ".nope"}, "masks[0]")
    p = band_only.provenance()
    assert p["type"] == "object" and p["pool"] == 1 and len(p["annotations_sha256"]) == 64


def test_place_outline_never_leaves_the_image():
    rng = np.random.default_rng(0)
    for _ in range(200):
        bh, bw = rng.integers(1, 60, 2)
        h0, w0 = int(rng.integers(bh, 200)), int(rng.integers(bw, 200))
        h, w = (int(v) for v in rng.integers(8, 300, 2))
        m = place_outline(np.ones((bh, bw), bool), (h0, w0), (h, w), rng, flip=bool(rng.integers(2)))
        assert m.shape == (h, w) and m.any()


def test_a_suite_scores_object_shaped_holes_on_photographs(ann_file, tmp_path):
    from bench.config import parse_suite
    from bench.runner import Runner
    from bench.store import RunStore

    d = {"output_dir": str(tmp_path / "results"), "device": "cpu", "resolution": 96, "backends": ["opencv-telea"],
         "datasets": [{"type": "samples", "limit": 4}],
         "masks": [{"type": "object", "annotations": str(ann_file["path"]), "min_area": 0.01, "max_area": 0.3}],
         "metrics": ["psnr"]}
    run_dir = Runner(parse_suite(d), progress=False).run()
    with RunStore(run_dir / "records.sqlite") as s:
        recs = list(s.records())
    assert len(recs) == 4 and all(r["error"] is None and np.isfinite(r["psnr_in"]) for r in recs)
    assert all(0.005 < r["hole_fraction"] < 0.3 for r in recs)
