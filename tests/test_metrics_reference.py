"""FID / KID against a named reference dataset (the fid metric's ``reference:``): clean-fid equality, caching,
config errors with key paths, and a real run through the Runner and the report."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from bench.errors import ConfigError
from bench.metrics.features import Extractor
from bench.scoring.reference import prepare_reference
from bench.pixels import quantize
from bench.metrics.fid import InceptionFeatures
from bench.metrics.setlevel import set_level_bootstrap, set_level_metrics
from bench.store import RunStore
from bench.types import RunContext
from tests.test_metrics_fid import TinyNet, _batch, _scenes, _store_cell, _write

pytestmark = pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Networks run single-threaded here (see conftest.one_thread)."""


def _ref_folder(root, seed: int = 21):
    """A folder dataset (root/images/) of reference images in two sizes (neither the outputs' size)."""
    (root / "images").mkdir(parents=True)
    imgs = [_scenes(seed, 9, 44, 60, style=0), _scenes(seed + 1, 8, 36, 36, style=3)]
    k = 0
    for x in imgs:
        q = quantize(x).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for i in range(q.shape[0]):
            Image.fromarray(q[i]).save(root / "images" / f"r{k:03d}.png")
            k += 1
    return k


def _counted(net, calls):
    def fn(x):
        calls["n"] += int(x.shape[0])
        return net(x)

    return fn


def _metric(tmp_path, net, calls=None, run_dir=None, **kw) -> InceptionFeatures:
    m = InceptionFeatures(mode="clean", **kw)
    fn = _counted(net, calls) if calls is not None else (lambda x: net(x))
    m.set_extractor(Extractor(fn, "tiny", "clean", dim=8, weights={"sha256": "tiny-ref"}))
    ctx = RunContext(device=torch.device("cpu"), weights="random", cache_dir=tmp_path / "cache", run_dir=run_dir,
                     extra={"resolution": None})
    m.setup(ctx)
    if m.needs_reference():  # what the scoring stage does once the metric is set up
        prepare_reference(m, ctx)
    return m


def test_fid_kid_against_named_reference_equal_cleanfid(tmp_path, monkeypatch):
    import cleanfid.fid as cf

    n_ref = _ref_folder(tmp_path / "places")
    n, h, w = 12, 40, 52
    out = _scenes(1, n, h, w, style=1)
    gt = _scenes(2, n, h, w, style=0)
    _write(tmp_path / "out", _batch(out, gt).composite)  # fid scores the composite
    net = TinyNet(seed=7)
    run_dir = tmp_path / "run"
    m = _metric(tmp_path, net, run_dir=run_dir, reference={"type": "folder", "root": str(tmp_path / "places")})
    prov = m.provenance()
    rs = prov["reference_set"]
    assert rs["count"] == n_ref and rs["spec"]["type"] == "folder" and rs["dataset"]
    assert (run_dir / rs["file"]).is_file() and len(rs["features_sha256"]) == 64
    feats = m.compute(_batch(out, gt))
    manifest = {"metrics": {"fid": prov}}
    with RunStore(run_dir / "records.sqlite") as st:
        _store_cell(st, "c", _batch(out, gt), feats)
        ours = set_level_metrics(st, "c", manifest)
        plain = set_level_metrics(st, "c")  # no manifest: the per-sample ground truth, as before
        ci = set_level_bootstrap(st, "c", manifest, n_boot=10)

    def fx(x):
        with torch.no_grad():
            return net(x)

    kw = dict(mode="clean", num_workers=0, batch_size=5, device=torch.device("cpu"), verbose=False)
    ref_dir = str(tmp_path / "places" / "images")
    ref_fid = cf.compute_fid(str(tmp_path / "out"), ref_dir, custom_feat_extractor=fx, **kw)
    monkeypatch.setattr(cf, "build_feature_extractor", lambda *a, **k: fx)
    np.random.seed(0)
    ref_kid = cf.compute_kid(str(tmp_path / "out"), ref_dir, **kw)
    assert ours["fid"] == pytest.approx(ref_fid, rel=1e-4)
    assert ours["kid"] == pytest.approx(ref_kid, rel=1e-4)
    assert abs(ours["fid"] - plain["fid"]) > 1e-3 * max(1.0, plain["fid"])  # the reference really changed
    # crops and P-IDS / U-IDS keep the per-sample ground truth
    for k in ("fid_crop", "kid_crop", "p_ids", "u_ids"):
        assert ours[k] == pytest.approx(plain[k], rel=1e-12, nan_ok=True)
    assert ci["fid"][0] == pytest.approx(ours["fid"]) and ci["fid"][1] <= ci["fid"][2]
    # the .npy is found from the store's folder even when the recorded absolute path is gone
    moved = tmp_path / "moved"
    run_dir.rename(moved)
    with RunStore(moved / "records.sqlite") as st:
        again = set_level_metrics(st, "c", manifest)
    assert again["fid"] == pytest.approx(ours["fid"], rel=1e-12)


def test_second_run_computes_no_reference_features(tmp_path):
    n_ref = _ref_folder(tmp_path / "ref")
    net = TinyNet(seed=3)
    calls = {"n": 0}
    spec = {"type": "folder", "root": str(tmp_path / "ref")}
    m1 = _metric(tmp_path, net, calls, run_dir=tmp_path / "r1", reference=spec, reference_limit=12)
    assert calls["n"] == 12 and m1.counts["refset_computed"] == 12
    m1.cache.close()
    calls["n"] = 0
    m2 = _metric(tmp_path, net, calls, run_dir=tmp_path / "r2", reference=spec)  # a new run, more images
    assert calls["n"] == n_ref - 12 and m2.counts["refset_cached"] == 12
    m2.cache.close()
    calls["n"] = 0
    m3 = _metric(tmp_path, net, calls, run_dir=tmp_path / "r3", reference=spec)
    assert calls["n"] == 0 and m3.counts["refset_computed"] == 0 and m3.counts["refset_cached"] == n_ref
    np.testing.assert_array_equal(m2.reference_feats, m3.reference_feats)
    assert m2.provenance()["reference_set"]["features_sha256"] == m3.provenance()["reference_set"]["features_sha256"]
    # setup again in the same process (another cell) computes nothing either
    m3.setup(RunContext(device=torch.device("cpu"), weights="random", cache_dir=tmp_path / "cache",
                        run_dir=tmp_path / "r3"))
    assert calls["n"] == 0


def test_reference_config_errors_carry_key_paths(tmp_path):
    from bench.config import parse_suite

    def suite(metric):
        return parse_suite({"output_dir": str(tmp_path / "res"), "backends": ["mean-fill"],
                            "datasets": [{"type": "samples", "limit": 2}], "masks": ["box"],
                            "metrics": ["psnr", "ssim", metric], "device": "cpu"})

    cases = [
        ({"type": "fid", "reference": {"type": "folder", "root": str(tmp_path / "nope")}},
         "metrics[2].reference.root", "does not exist"),
        ({"type": "fid", "reference": {"type": "foldr", "root": "x"}}, "metrics[2].reference.type", "folder"),
        ({"type": "fid", "reference": {"type": "folder", "roots": "x"}}, "metrics[2].reference.roots", "root"),
        ({"type": "fid", "reference": "data/places"}, "metrics[2].reference", "dict"),
        ({"type": "fid", "reference_limit": 5}, "metrics[2].reference_limit", "reference"),
    ]
    for metric, path, text in cases:
        with pytest.raises(ConfigError) as e:
            s = suite(metric)
            for sp in s.metrics:  # parse_suite may validate lazily: create every metric as the runner does
                sp.create()
        assert e.value.path == path, (metric, str(e.value))
        assert text in e.value.message


def test_run_with_named_reference_through_runner_and_report(tmp_path, monkeypatch):
    import bench.metrics.fid as fidmod
    from bench.config import parse_suite
    from bench.report.aggregate import summarize
    from bench.runner import Runner

    net = TinyNet(seed=11)
    calls = {"n": 0}
    monkeypatch.setattr(fidmod, "build_inception", lambda mode, *a, **k: Extractor(
        _counted(net, calls), "tiny", mode, dim=8, weights={"sha256": "tiny-runner"}))
    n_ref = _ref_folder(tmp_path / "ref")
    data = {
        "output_dir": str(tmp_path / "results"), "cache_dir": str(tmp_path / "cache"),
        "backends": ["mean-fill", "opencv-telea"], "datasets": [{"type": "samples", "limit": 6}], "masks": ["box"],
        "metrics": ["psnr", {"type": "fid", "crop": False, "reference": {"type": "folder",
                                                                          "root": str(tmp_path / "ref")}}],
        "resolution": 48, "batch_size": 3, "device": "cpu", "weights": "random",
    }
    run_dir = Runner(parse_suite(data), progress=False).run()
    man = json.loads((run_dir / "manifest.json").read_text())
    rs = next(p["reference_set"] for p in man["metrics"].values() if "reference_set" in p)
    assert rs["count"] == n_ref and rs["resolution"] == 48 and (run_dir / rs["file"]).is_file()
    df = summarize(run_dir, ci=False)
    assert "fid" in df.columns and np.isfinite(df.fid).all() and len(df) == 2
    assert "p_ids" in df.columns
    # the same numbers by hand: outputs' stored features vs the reference .npy
    from bench.stats import frechet_distance_from_features

    ref = np.load(run_dir / rs["file"]).astype(np.float64)
    with RunStore(run_dir / "records.sqlite") as st:
        for row in df.itertuples():
            ck = next(c["cell_key"] for c in st.cells() if c["backend"] == row.backend)
            _, f = st.features(ck, "feat_inception")
            assert row.fid == pytest.approx(frechet_distance_from_features(f.astype(np.float64), ref), rel=1e-9)
    # a second run of the suite (fresh run id) extracts no reference image again
    calls["n"] = 0
    Runner(parse_suite(data), progress=False, run_id="again").run()
    assert calls["n"] == 2 * 6  # only the two backends' outputs
