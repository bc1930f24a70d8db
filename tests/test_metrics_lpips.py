"""Masked LPIPS against the lpips package with the same weights (random AlexNet backbone, shipped linear heads)."""
from __future__ import annotations

import math

import lpips
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.metrics.lpips_metric import LPIPS, build_lpips
from bench.types import EvalBatch, RunContext
from tests.scripts import bench_without

# lpips builds torchvision nets with the deprecated `pretrained=` argument
pytestmark = pytest.mark.filterwarnings("ignore:.*(pretrained|weight enum).*:UserWarning")


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Networks run single-threaded here (see conftest.one_thread)."""


@pytest.fixture(scope="module")
def nets():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    ours, prov = build_lpips("alex", weights="random", seed=3)
    # the reference: the package's own construction (linear heads loaded by lpips itself from its package files),
    # with our random backbone copied in (the pretrained AlexNet would need a download)
    ref = lpips.LPIPS(pretrained=True, net="alex", pnet_rand=True, spatial=True, verbose=False)
    ref.net.load_state_dict(ours.net.state_dict())
    ref_scalar = lpips.LPIPS(pretrained=True, net="alex", pnet_rand=True, spatial=False, verbose=False)
    ref_scalar.net.load_state_dict(ours.net.state_dict())
    yield ours, prov, ref.eval(), ref_scalar.eval()
    torch.set_num_threads(n)


def _metric(nets, **kw) -> LPIPS:
    ours, prov, _, _ = nets
    m = LPIPS(**kw)
    m.set_model(ours, prov)
    m.setup(RunContext(device=torch.device("cpu"), weights="random"))
    return m


def _data(seed, b=3, h=64, w=80):
    g = torch.Generator().manual_seed(seed)
    inp = torch.rand(b, 3, h, w, generator=g)
    raw = (inp + 0.2 * torch.randn(inp.shape, generator=g)).clamp(0, 1)
    gt = torch.rand(b, 3, h, w, generator=g)
    mask = torch.zeros(b, 1, h, w, dtype=torch.bool)
    mask[0, :, 10:30, 20:50] = True
    if b > 1:
        mask[1, :, 40:64, 0:12] = True  # touches the border
        mask[2, :, ::3, ::5] = True  # scattered pixels
    return inp, raw, gt, mask


def _batch(out, raw, inp, gt, mask, has_gt=None):
    b, _, h, w = inp.shape
    return EvalBatch([f"s{i}" for i in range(b)], out, raw, inp, inp, mask, gt,
                     has_gt if has_gt is not None else torch.ones(b, dtype=torch.bool), [(h, w)] * b, [(h, w)] * b)


def test_heads_are_the_packaged_ones(nets):
    ours, _, ref, _ = nets
    for k in range(5):
        torch.testing.assert_close(ours.lins[k].model[1].weight, ref.lins[k].model[1].weight, rtol=0, atol=0)


def test_full_image_equals_package(nets):
    _, _, ref, ref_scalar = nets
    inp, raw, gt, mask = _data(0)
    m = _metric(nets, crop=False)
    empty = torch.zeros_like(mask)
    # an empty hole makes lpips_out the mean of the whole spatial map
    got = m.compute(_batch(raw, raw, inp, gt, empty))["lpips_out"]
    with torch.no_grad():
        want = ref(raw, inp, normalize=True).mean(dim=(1, 2, 3)).double().numpy()
        scalar = ref_scalar(raw, inp, normalize=True).reshape(-1).double().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # the spatial mean is close to (not identical with) the package's scalar: upsampling then averaging
    np.testing.assert_allclose(got, scalar, rtol=0.05)


def test_masked_definition_on_hand_made_masks(nets):
    _, _, ref, _ = nets
    inp, raw, gt, mask = _data(1)
    out = torch.where(mask, raw, inp)  # pasted back
    r = _metric(nets, crop=False).compute(_batch(out, raw, inp, gt, mask))
    with torch.no_grad():
        map_in = ref(out, gt, normalize=True)[:, 0].double()
        map_out = ref(raw, inp, normalize=True)[:, 0].double()
    for i in range(3):
        sel = mask[i, 0]
        assert r["lpips_in"][i] == pytest.approx(map_in[i][sel].mean().item(), rel=1e-6)
        assert r["lpips_out"][i] == pytest.approx(map_out[i][~sel].mean().item(), rel=1e-6)


def test_crop_equals_package_on_the_crop(nets):
    _, _, _, ref_scalar = nets
    inp, raw, gt, mask = _data(2, b=1)
    mask[:] = False
    mask[0, :, 10:30, 20:50] = True  # crop box (2, 38, 17, 53): see test_crop_box_geometry
    r = _metric(nets, crop=True, crop_size=64).compute(_batch(raw, raw, inp, gt, mask))
    co = F.interpolate(raw[:, :, 2:38, 17:53], size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
    cg = F.interpolate(gt[:, :, 2:38, 17:53], size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        want = ref_scalar(co, cg, normalize=True).item()
    assert r["lpips_crop"][0] == pytest.approx(want, rel=1e-6)


def test_absent_rows_and_reuse(nets):
    inp, raw, gt, mask = _data(3)
    m = _metric(nets, crop=True)
    has = torch.tensor([True, False, True])
    r = m.compute(_batch(raw, raw, inp, gt, mask, has))
    assert math.isnan(r["lpips_in"][1]) and math.isnan(r["lpips_crop"][1])
    assert np.isfinite(r["lpips_out"]).all() and np.isfinite(r["lpips_in"][[0, 2]]).all()
    n0 = m.counts["backbone_images"]
    # a second cell on the same samples: input / gt features come from the cache; only the outputs, their
    # composites (the raw output changed outside the hole, so they differ) and the crops run
    raw2 = (raw * 0.9).clamp(0, 1)
    m.compute(_batch(raw2, raw2, inp, gt, mask, has))
    assert m.counts["backbone_images"] - n0 == 3 + 3 + 2 * 2
    assert m.counts["reused"] == 6


def test_random_backbone_flagged(nets):
    p = _metric(nets).provenance()
    assert p["comparable"] is False and "random" in p["noncomparable_reason"]


def test_pretrained_path_loads_a_torchvision_backbone_file(tmp_path, monkeypatch):
    """The `weights: pretrained` route: a torchvision AlexNet state dict in weights_dir becomes lpips' backbone."""
    import hashlib

    import torchvision

    from bench import weights as W

    torch.manual_seed(11)
    tv = torchvision.models.alexnet()
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    # torchvision's file holds features.* and classifier.*; the backbone needs only features.* (keeps the test small)
    torch.save({k: v for k, v in tv.state_dict().items() if k.startswith("features.")}, path)
    spec = W.KNOWN[path.name]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(W.KNOWN, path.name, W.WeightFile(path.name, spec.url, spec.what, sha256_prefix=digest[:8]))
    m = LPIPS(crop=False)
    m.setup(RunContext(device=torch.device("cpu"), weights="pretrained", weights_dir=tmp_path))
    assert m.provenance()["lpips"]["backbone"]["sha256"] == digest and "comparable" not in m.provenance()
    ref = lpips.LPIPS(pretrained=True, net="alex", pnet_rand=True, spatial=True, verbose=False).eval()
    for sl in [c for n, c in ref.net.named_children() if n.startswith("slice")]:
        for idx, layer in sl.named_children():
            layer.load_state_dict(tv.features[int(idx)].state_dict())
    inp, raw, gt, mask = _data(4)
    got = m.compute(_batch(raw, raw, inp, gt, mask))["lpips_in"]
    with torch.no_grad():
        full = ref(raw, gt, normalize=True)[:, 0].double()
    want = [full[i][mask[i, 0]].mean().item() for i in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_lpips_full_is_the_packages_scalar_on_the_composite(nets):
    _, _, _, ref_scalar = nets
    inp, raw, gt, mask = _data(21)
    comp = torch.where(mask, raw, inp)
    m = _metric(nets, crop=False)
    for out in (raw, comp):  # with or without paste-back, lpips_full sees the composite
        r = m.compute(_batch(out, raw, inp, gt, mask))
        with torch.no_grad():
            want = ref_scalar(comp, gt, normalize=True).reshape(-1).double().numpy()
        np.testing.assert_allclose(r["lpips_full"], want, rtol=1e-5, atol=1e-7)
    r = m.compute(_batch(raw, raw, inp, gt, mask, has_gt=torch.tensor([True, False, True])))
    assert math.isnan(r["lpips_full"][1])


def test_without_the_lpips_package_the_run_names_the_package_and_its_extra(tmp_path):
    """A core install (no `lpips` package) was told its LPIPS *weights file* was missing and to run `bench weights
    fetch`, which cannot help; a `weights: random` suite was told to set `weights: random`. A fresh process where
    the package cannot be imported, as on that install."""
    import yaml

    spec = {"name": "nolp", "output_dir": str(tmp_path / "out"), "device": "cpu", "resolution": 32,
            "weights": "random", "backends": ["mean-fill"], "datasets": [{"type": "synthetic", "n": 2}],
            "masks": ["box"], "metrics": ["psnr", "lpips"]}
    p = tmp_path / "s.yaml"

    def bench(*args):
        return bench_without("lpips", *args)

    p.write_text(yaml.safe_dump(spec))
    for cmd in (["validate", str(p)], ["run", str(p), "--no-progress", "--no-report"]):
        r = bench(*cmd)
        assert r.returncode == 2 and "pip install 'inpaint-bench[metrics]'" in r.stderr, r.stderr[-2000:]
        assert "weights: random" not in r.stderr.split("\n")[0]
    spec["metrics"] = ["psnr", {"type": "lpips", "optional": True}]
    p.write_text(yaml.safe_dump(spec))
    r = bench("run", str(p), "--no-progress", "--no-report")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "left out lpips: the `lpips` package is not installed (pip install 'inpaint-bench[metrics]')" in r.stdout
    assert "bench weights fetch" not in r.stdout


def test_an_image_smaller_than_the_backbone_reads_says_so(nets):
    """A 9 x 13 image failed with the network's own 'Kernel size can't be greater than actual input size' (or
    'Output size is too small'): the error now says the image is too small for LPIPS and from which side length
    it is read; 31 px (AlexNet's shortest) still scores."""
    for h, w in ((9, 13), (30, 64), (1, 2)):
        inp, raw, gt, mask = _data(2, b=1, h=h, w=w)
        mask[0, 0, 0, 0] = True
        with pytest.raises(ValueError, match=rf"the image is {h}x{w} px, and LPIPS \(alex\) reads images of at "
                                             r"least 31 px a side"):
            _metric(nets).compute(_batch(raw, raw, inp, gt, mask))
    inp, raw, gt, mask = _data(2, b=1, h=31, w=40)
    mask[0, 0, 5:9, 5:9] = True
    r = _metric(nets).compute(_batch(raw, raw, inp, gt, mask))
    assert np.isfinite(r["lpips_in"]).all() and np.isfinite(r["lpips_crop"]).all()
