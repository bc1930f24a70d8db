"""FID / KID / IDS: against clean-fid on the same folders with the same extractor, sqrtm, caches, batch sizes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn as nn
from PIL import Image

from bench.metrics.features import Extractor, build_inception, crop_box
from bench.pixels import quantize
from bench.metrics.fid import InceptionFeatures
from bench.metrics.setlevel import set_level_bootstrap, set_level_metrics
from bench.metrics.setlevel import inception_discriminative_scores
from bench.stats import (frechet_distance, frechet_distance_from_features,
                                 kernel_inception_distance)
from bench.store import RunStore
from bench.types import EvalBatch, RunContext
from tests.store_helpers import add_cell, write_records

# clean-fid calls scipy's sqrtm(disp=False), deprecated in SciPy 1.16
pytestmark = pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Networks run single-threaded here (see conftest.one_thread)."""


class TinyNet(nn.Module):
    """A small random conv net: [N,3,S,S] in [0,255] -> 8-d (full-rank covariances for small sets)."""

    def __init__(self, seed: int = 0, dim: int = 8):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.c1 = nn.Conv2d(3, 12, 5, stride=3)
        self.c2 = nn.Conv2d(12, dim, 3, stride=2)
        with torch.no_grad():
            for c in (self.c1, self.c2):
                c.weight.copy_(torch.randn(c.weight.shape, generator=g) / math.sqrt(c.weight[0].numel()))
                c.bias.copy_(torch.randn(c.bias.shape, generator=g) * 0.1)
        self.eval()

    def forward(self, x):
        h = torch.relu(self.c1((x - 128) / 64))
        h = self.c2(h)
        return torch.cat([h.mean(dim=(2, 3))[:, :4], h.amax(dim=(2, 3))[:, 4:]], dim=1)


def _scenes(seed: int, n: int, h: int, w: int, style: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, h // 8 + 1, w // 8 + 1, generator=g)
    x = torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)
    if style:
        x = x + 0.15 * torch.rand(n, 3, h, w, generator=g) + 0.1 * style
    return x.clamp(0, 1)


def _write(folder, x: torch.Tensor):
    folder.mkdir()
    q = quantize(x).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for i in range(q.shape[0]):
        Image.fromarray(q[i]).save(folder / f"{i:03d}.png")


def _batch(out: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None, ids=None):
    b, _, h, w = out.shape
    if mask is None:
        mask = torch.zeros(b, 1, h, w, dtype=torch.bool)
        mask[:, :, h // 4: h // 2, w // 3: w // 2] = True
    return EvalBatch(sample_ids=ids or [f"s{i:03d}" for i in range(b)], output=out, raw=out, input=gt, blanked=gt,
                     mask=mask, gt=gt, has_gt=torch.ones(b, dtype=torch.bool), raw_sizes=[(h, w)] * b,
                     model_sizes=[(h, w)] * b)


def _store_cell(store: RunStore, cell: str, batch: EvalBatch, feats: dict[str, np.ndarray]):
    add_cell(store, cell, "b", "d", "m", {})
    rows = [{"sample_id": s, "values": {}} for s in batch.sample_ids]
    fl = [(s, k, v[i]) for k, v in feats.items() for i, s in enumerate(batch.sample_ids)]
    write_records(store, cell, rows, fl)


def _metric(mode: str, tmp_path, net=None, **kw) -> InceptionFeatures:
    m = InceptionFeatures(mode=mode, **kw)
    net = net or TinyNet()
    m.set_extractor(Extractor(lambda x: net(x), "tiny", mode, dim=8, weights={"sha256": "tiny-0"}))
    m.setup(RunContext(device=torch.device("cpu"), weights="random", cache_dir=tmp_path / "cache"))
    return m


@pytest.mark.parametrize("mode,image", [("clean", "composite"), ("legacy_pytorch", "composite"),
                                        ("legacy_tensorflow", "composite"), ("clean", "raw")])
def test_fid_kid_equal_cleanfid_on_same_folders(mode, image, tmp_path, monkeypatch):
    """FID/KID on the composite (the default) equal clean-fid on a folder of composited PNGs; with image: raw, on
    a folder of the raw outputs."""
    import cleanfid.fid as cf

    n, h, w = 14, 40, 52
    out = _scenes(1, n, h, w, style=1)
    gt = _scenes(2, n, h, w, style=0)
    batch = _batch(out, gt)
    _write(tmp_path / "out", batch.composite if image == "composite" else out)
    _write(tmp_path / "gt", gt)
    net = TinyNet()
    m = _metric(mode, tmp_path, net, crop=False, batch_size=5, image=image)
    feats = m.compute(batch)
    if image == "raw":
        feats = {k.replace("_raw", ""): v for k, v in feats.items()}  # feat_inception_raw -> the plain names
    with RunStore(tmp_path / "r.sqlite") as st:
        _store_cell(st, "c", _batch(out, gt), feats)
        ours = set_level_metrics(st, "c")

    def fx(x):
        with torch.no_grad():
            return net(x)

    kw = dict(mode=mode, num_workers=0, batch_size=4, device=torch.device("cpu"), verbose=False)
    ref_fid = cf.compute_fid(str(tmp_path / "out"), str(tmp_path / "gt"), custom_feat_extractor=fx, **kw)
    monkeypatch.setattr(cf, "build_feature_extractor", lambda *a, **k: fx)  # compute_kid takes no custom extractor
    np.random.seed(0)
    ref_kid = cf.compute_kid(str(tmp_path / "out"), str(tmp_path / "gt"), **kw)
    assert ours["fid"] == pytest.approx(ref_fid, rel=1e-4)
    assert ours["kid"] == pytest.approx(ref_kid, rel=1e-4)
    assert ref_fid > 0.01 and abs(ref_kid) > 1e-5  # the sets differ: the comparison is not between zeros


def test_crop_features_equal_cleanfid_on_crop_folders(tmp_path):
    import cleanfid.fid as cf

    n, h, w = 12, 48, 64
    out = _scenes(3, n, h, w, style=2)
    gt = _scenes(4, n, h, w, style=0)
    g = torch.Generator().manual_seed(5)
    mask = torch.zeros(n, 1, h, w, dtype=torch.bool)
    for i in range(n):
        y, x = int(torch.randint(0, h - 12, (1,), generator=g)), int(torch.randint(0, w - 12, (1,), generator=g))
        mask[i, :, y:y + 6 + i % 5, x:x + 10] = True
    boxes = [crop_box(mask[i], 0.1, 32) for i in range(n)]
    comp = torch.where(mask, out, gt)  # hole crops of the composite (the crop box has context around the hole)
    for name, src in (("oc", comp), ("gc", gt)):
        (tmp_path / name).mkdir()
        for i, (y0, y1, x0, x1) in enumerate(boxes):
            q = quantize(src[i, :, y0:y1, x0:x1]).to(torch.uint8).permute(1, 2, 0).numpy()
            Image.fromarray(q).save(tmp_path / name / f"{i:03d}.png")
    net = TinyNet(seed=3)
    m = _metric("clean", tmp_path, net, crop=True)
    feats = m.compute(_batch(out, gt, mask))
    with RunStore(tmp_path / "r.sqlite") as st:
        _store_cell(st, "c", _batch(out, gt, mask), feats)
        ours = set_level_metrics(st, "c")

    def fx(x):
        with torch.no_grad():
            return net(x)

    ref = cf.compute_fid(str(tmp_path / "oc"), str(tmp_path / "gc"), custom_feat_extractor=fx, mode="clean",
                         num_workers=0, batch_size=8, device=torch.device("cpu"), verbose=False)
    assert ours["fid_crop"] == pytest.approx(ref, rel=1e-4)
    assert set(ours) >= {"fid", "kid", "fid_crop", "kid_crop", "p_ids", "u_ids"}


def test_crop_box_geometry():
    m = torch.zeros(1, 64, 80, dtype=torch.bool)
    m[0, 10:30, 20:50] = True  # 20 x 30 box -> side ceil(30 * 1.2) = 36, centred on (20, 35)
    assert crop_box(m, 0.1, 32) == (2, 38, 17, 53)
    m2 = torch.zeros(1, 64, 80, dtype=torch.bool)
    m2[0, 0:3, 78:80] = True  # tiny hole in a corner: min size 32, shifted inside
    assert crop_box(m2, 0.1, 32) == (0, 32, 48, 80)
    assert crop_box(torch.zeros(1, 8, 8, dtype=torch.bool)) is None


def _sqrtm_fid(x, y):
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n1,n2,d", [(300, 250, 64), (500, 500, 32)])
def test_frechet_distance_matches_sqrtm(n1, n2, d):
    rng = np.random.default_rng(n1 + d)
    a = rng.standard_normal((d, d)) / math.sqrt(d)
    x = rng.standard_normal((n1, d)) @ a + 0.3
    y = rng.standard_normal((n2, d)) @ (a + 0.2 * rng.standard_normal((d, d)) / math.sqrt(d))
    ref = _sqrtm_fid(x, y)
    assert frechet_distance_from_features(x, y) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)) == \
        pytest.approx(ref, rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero():
    rng = np.random.default_rng(0)
    for n, d in ((40, 128), (300, 64)):  # rank-deficient and full-rank covariance
        x = rng.standard_normal((n, d)) * 3 + 1
        scale = np.trace(np.cov(x, rowvar=False))
        assert abs(frechet_distance_from_features(x, x)) < 1e-9 * scale


def test_kid_subsets_match_cleanfid_kernel_distance():
    import cleanfid.fid as cf

    rng = np.random.default_rng(1)
    f1 = rng.standard_normal((70, 16))
    f2 = rng.standard_normal((55, 16)) + 0.2
    np.random.seed(0)
    ref = cf.kernel_distance(f1, f2, num_subsets=20, max_subset_size=30)
    assert kernel_inception_distance(f1, f2, num_subsets=20, max_subset_size=30, seed=0) == pytest.approx(ref,
                                                                                                         rel=1e-9)


def test_batch_size_independence(tmp_path):
    out = _scenes(7, 9, 40, 40, style=1)
    gt = _scenes(8, 9, 40, 40, style=0)
    net = TinyNet(seed=5)
    a = _metric("clean", tmp_path / "a", net, batch_size=2, cache=False).compute(_batch(out, gt))
    b = _metric("clean", tmp_path / "b", net, batch_size=9, cache=False).compute(_batch(out, gt))
    m = _metric("clean", tmp_path / "c", net, batch_size=4, cache=False)
    c1 = m.compute(_batch(out[:4], gt[:4]))
    c2 = m.compute(_batch(out[4:], gt[4:]))
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a[k], np.concatenate([c1[k], c2[k]]), rtol=1e-5, atol=1e-6)


def test_reference_features_cached_across_cells_and_runs(tmp_path):
    gt = _scenes(9, 6, 40, 48, style=0)
    out1 = _scenes(10, 6, 40, 48, style=1)
    out2 = _scenes(11, 6, 40, 48, style=2)
    net = TinyNet(seed=2)
    calls = {"n": 0}

    def counted(x):
        calls["n"] += int(x.shape[0])
        return net(x)

    def metric():
        m = InceptionFeatures(mode="clean")
        m.set_extractor(Extractor(counted, "tiny", "clean", dim=8, weights={"sha256": "tiny-2"}))
        m.setup(RunContext(device=torch.device("cpu"), weights="random", cache_dir=tmp_path / "cache"))
        return m

    m = metric()
    first = m.compute(_batch(out1, gt))
    assert calls["n"] == 6 * 4 and m.counts["ref_computed"] == 12  # outputs + crops, refs + ref crops
    calls["n"] = 0
    second = m.compute(_batch(out2, gt))  # a second cell: same samples, another backend
    assert calls["n"] == 12 and m.counts["ref_computed"] == 12 and m.counts["ref_cached"] == 12
    m.cache.close()
    calls["n"] = 0
    m2 = metric()  # a second run: a new process would open the same cache directory
    third = m2.compute(_batch(out1, gt))
    assert calls["n"] == 12 and m2.counts["ref_computed"] == 0 and m2.counts["ref_cached"] == 12
    for k in ("feat_inception_ref", "feat_inception_ref_crop"):
        np.testing.assert_array_equal(first[k], second[k])
        np.testing.assert_array_equal(first[k], third[k])
    np.testing.assert_array_equal(first["feat_inception"], third["feat_inception"])
    # a different extractor identity (mode / weights) never reads those entries
    m3 = InceptionFeatures(mode="clean")
    m3.set_extractor(Extractor(counted, "tiny", "clean", dim=8, weights={"sha256": "other"}))
    m3.setup(RunContext(device=torch.device("cpu"), weights="random", cache_dir=tmp_path / "cache"))
    m3.compute(_batch(out1, gt))
    assert m3.counts["ref_computed"] == 12


def test_no_ground_truth_rows_are_absent(tmp_path):
    out = _scenes(12, 4, 32, 32, style=1)
    gt = _scenes(13, 4, 32, 32, style=0)
    b = _batch(out, gt)
    b.has_gt = torch.tensor([True, False, True, False])
    b.gt[~b.has_gt] = 0
    f = _metric("clean", tmp_path, TinyNet()).compute(b)
    assert np.isnan(f["feat_inception_ref"][[1, 3]]).all() and np.isfinite(f["feat_inception_ref"][[0, 2]]).all()
    assert np.isfinite(f["feat_inception"]).all()


def test_ids_extremes():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((60, 10))
    p, u = inception_discriminative_scores(real, real + 5.0)  # trivially separable fakes
    assert p == 0.0 and u == 0.0
    p2, u2 = inception_discriminative_scores(real, real.copy())  # indistinguishable: chance
    assert u2 == pytest.approx(0.5, abs=0.05) and p2 == 0.0


def test_set_level_bootstrap_brackets_value(tmp_path):
    out = _scenes(14, 16, 32, 32, style=1)
    gt = _scenes(15, 16, 32, 32, style=0)
    feats = _metric("clean", tmp_path, TinyNet(), crop=False).compute(_batch(out, gt))
    with RunStore(tmp_path / "r.sqlite") as st:
        _store_cell(st, "c", _batch(out, gt), feats)
        ci = set_level_bootstrap(st, "c", n_boot=40)
        point = set_level_metrics(st, "c")
    v, lo, hi = ci["fid"]
    assert v == pytest.approx(point["fid"]) and lo <= hi and lo < v * 1.5 and hi > 0
    assert math.isnan(ci["p_ids"][1])


def test_set_level_intervals_bracket_their_value_and_cover_the_truth(tmp_path):
    """Two sets drawn from one distribution: KID's true value is 0. A bootstrap resample repeats about a third of its
    rows, which raised FID and KID in every resample: the plain percentile interval lay wholly above the value (KID's
    missed 0 in 56 of 60 trials of an audit). The reported interval brackets the value and KID's covers 0 near the
    nominal 95 %."""
    from tests.store_helpers import add_cell, write_records

    covered, trials = 0, 40
    for t in range(trials):
        rng = np.random.default_rng(1000 + t)
        n, d = 80, 16
        o = np.abs(rng.normal(0.4, 0.3, (n, d))).astype(np.float32)
        r = np.abs(rng.normal(0.4, 0.3, (n, d))).astype(np.float32)
        ids = [f"s{i:03d}" for i in range(n)]
        with RunStore(tmp_path / f"r{t}.sqlite") as st:
            add_cell(st, "c", "b", "d", "m", {})
            write_records(st, "c", [{"sample_id": s, "values": {}} for s in ids],
                          [(s, "feat_inception", o[i]) for i, s in enumerate(ids)]
                          + [(s, "feat_inception_ref", r[i]) for i, s in enumerate(ids)])
            ci = set_level_bootstrap(st, "c", n_boot=100, seed=t)
            point = set_level_metrics(st, "c")
        for k in ("fid", "kid"):
            v, lo, hi = ci[k]
            assert v == pytest.approx(point[k]) and lo <= v <= hi and lo < hi, (k, ci[k])
        assert ci["fid"][1] >= 0.0
        covered += ci["kid"][1] <= 0.0 <= ci["kid"][2]
    assert covered >= 0.8 * trials, covered


def test_random_inception_is_not_degenerate_and_flagged(tmp_path):
    ex = build_inception("clean", weights="random", seed=0)
    x = torch.rand(3, 3, 299, 299) * 255
    f = ex(x).numpy()
    assert f.shape == (3, 2048) and np.isfinite(f).all()
    assert f.std(axis=0).mean() > 1e-3  # PyTorch's default init gives ~1e-8
    m = InceptionFeatures()
    m.set_extractor(ex)
    m.setup(RunContext(device=torch.device("cpu"), weights="random", cache_dir=tmp_path))
    p = m.provenance()
    assert p["comparable"] is False and "random" in p["noncomparable_reason"]
    assert p["mode"] == "clean"


def test_set_level_on_a_subset_of_samples(tmp_path):
    """Mask-area bins / shards: set-level numbers on chosen sample ids equal the direct computation on those rows."""
    out = _scenes(16, 12, 32, 32, style=1)
    gt = _scenes(17, 12, 32, 32, style=0)
    b = _batch(out, gt)
    feats = _metric("clean", tmp_path, TinyNet(seed=4), crop=False).compute(b)
    keep = [f"s{i:03d}" for i in (0, 2, 3, 5, 8, 9, 11)]
    rows = [i for i, s in enumerate(b.sample_ids) if s in keep]
    with RunStore(tmp_path / "r.sqlite") as st:
        _store_cell(st, "c", b, feats)
        sub = set_level_metrics(st, "c", sample_ids=keep)
        full = set_level_metrics(st, "c")
    o, r = feats["feat_inception"][rows], feats["feat_inception_ref"][rows]
    assert sub["fid"] == pytest.approx(frechet_distance_from_features(o, r), rel=1e-9)
    assert sub["kid"] == pytest.approx(kernel_inception_distance(o, r), rel=1e-9)
    assert sub["fid"] != pytest.approx(full["fid"], rel=1e-6)
