"""The shared geometry adapter (bench/backends/geometry.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.backends.base import Backend, Geometry
from bench.backends.classical import IdentityBackend
from bench.backends.geometry import (hole_crop_box, pad_to, padded_size, resize_mask, resized_size, run_backend)
from bench.errors import BackendError


def _batch(b=2, h=37, w=53, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, h, w, generator=g)
    mask = torch.zeros(b, 1, h, w, dtype=torch.bool)
    mask[:, :, h // 3: h // 2, w // 4: w // 2] = True
    mask[-1, :, 2:5, 40 % w: 44 % w or w] = True
    image = torch.where(mask, torch.full_like(image, 0.5), image)
    gens = [torch.Generator().manual_seed(i) for i in range(b)]
    return image, mask, gens


class Recorder(Backend):
    """Test backend: records what it was given; returns a function of its input."""

    def __init__(self, geometry=Geometry(), fn=None):
        self.geometry = geometry
        self.fn = fn or (lambda x, m: x.clone())
        self.calls = []

    def inpaint(self, image, mask, generator):
        self.calls.append((image.clone(), mask.clone(), list(generator)))
        return self.fn(image, mask)


@pytest.mark.parametrize("geometry", [
    Geometry(pad_multiple=8), Geometry(pad_multiple=16), Geometry(fixed_size=32), Geometry(fixed_size=64),
    Geometry(max_side=24), Geometry(max_side=24, pad_multiple=8), Geometry(crop_margin=4),
    Geometry(crop_margin=3, pad_multiple=8), Geometry(crop_margin=2, fixed_size=16),
])
def test_round_trip_restores_input_size(geometry):
    image, mask, gens = _batch()
    be = Recorder(geometry)
    res = run_backend(be, image, mask, gens)
    assert res.output.shape == image.shape
    assert res.output.dtype == torch.float32
    assert len(res.raw_sizes) == len(res.model_sizes) == image.shape[0]
    assert res.raw_sizes == res.model_sizes  # the recorder returns what it was given
    for x, m, _ in be.calls:
        h, w = x.shape[-2:]
        assert m.shape[-2:] == (h, w) and m.dtype == torch.bool
        assert h % geometry.pad_multiple == 0 and w % geometry.pad_multiple == 0
        if geometry.fixed_size:
            assert (h, w) == (geometry.fixed_size, geometry.fixed_size)
        if geometry.max_side:
            assert max(h, w) <= geometry.max_side + geometry.pad_multiple - 1


def test_identity_through_pad_adapter_is_pixel_exact():
    image, mask, gens = _batch(h=37, w=53)
    be = IdentityBackend()
    be.geometry = Geometry(pad_multiple=8)
    res = run_backend(be, image, mask, gens)
    assert torch.equal(res.output, image)
    assert res.model_sizes == [(40, 56)] * 2 and res.raw_sizes == [(40, 56)] * 2


def test_pad_is_reflect_and_crop_back_exact():
    x = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).reshape(2, 3, 5, 6)
    y = pad_to(x, (8, 8))
    assert y.shape == (2, 3, 8, 8)
    assert torch.equal(y[..., :5, :6], x)
    assert torch.equal(y[..., 5, :6], x[..., 3, :])  # reflect (not replicate): row 5 mirrors row 3
    m = torch.zeros(1, 1, 5, 6, dtype=torch.bool)
    m[..., 3, 4] = True
    pm = pad_to(m, (8, 8))
    assert pm.dtype == torch.bool and torch.equal(pm[..., :5, :6], m)
    assert bool(pm[0, 0, 5, 4]) and bool(pm[0, 0, 3, 6]) and bool(pm[0, 0, 5, 6])  # the hole's mirror image is a hole too
    tiny = torch.rand(1, 3, 2, 3)  # too small to reflect up to 8: replicate, still exact after crop
    assert torch.equal(pad_to(tiny, (8, 8))[..., :2, :3], tiny)
    assert padded_size(37, 53, 8) == (40, 56) and padded_size(32, 48, 16) == (32, 48)


def test_max_side_keeps_aspect_and_never_upsizes():
    assert resized_size(40, 100, Geometry(max_side=50)) == (20, 50)
    assert resized_size(40, 100, Geometry(max_side=200)) == (40, 100)
    assert resized_size(40, 100, Geometry(fixed_size=64, max_side=50)) == (64, 64)
    image, mask, gens = _batch(b=1, h=40, w=100)
    be = Recorder(Geometry(max_side=50))
    res = run_backend(be, image, mask, gens)
    assert res.model_sizes == [(20, 50)] and res.output.shape == image.shape


@pytest.mark.parametrize("src,dst", [((37, 53), (16, 16)), ((37, 53), (64, 64)), ((50, 50), (7, 13)),
                                     ((9, 11), (40, 30))])
def test_resized_mask_never_shrinks_the_hole(src, dst):
    g = torch.Generator().manual_seed(1)
    m = torch.rand(3, 1, *src, generator=g) > 0.97
    m[0] = False
    m[0, 0, src[0] - 1, 0] = True  # a single-pixel hole in a corner survives
    r = resize_mask(m, dst)
    assert r.shape == (3, 1, *dst) and r.dtype == torch.bool
    assert bool(r[0].any())
    back = resize_mask(r, src)
    assert bool((back | ~m).all()), "every source hole pixel is still a hole after a down/up round trip"
    # and the hole's share of the image grows, it never drops
    assert (r.float().mean((1, 2, 3)) >= m.float().mean((1, 2, 3)) - 1e-6).all()


def test_fixed_size_hands_model_any_pixel_mask():
    image, mask, gens = _batch(b=1, h=37, w=53)
    be = Recorder(Geometry(fixed_size=16))
    run_backend(be, image, mask, gens)
    given = be.calls[0][1]
    assert torch.equal(given, resize_mask(mask, (16, 16)))
    assert given.float().mean() >= mask.float().mean()


def test_crop_strategy_only_touches_the_crop():
    image, mask, gens = _batch(b=2, h=40, w=60)
    margin = 3
    be = Recorder(Geometry(crop_margin=margin), fn=lambda x, m: torch.ones_like(x))
    res = run_backend(be, image, mask, gens)
    assert len(be.calls) == 2  # one call per sample (each has its own box)
    for i in range(2):
        y0, y1, x0, x1 = hole_crop_box(mask[i], margin)
        inside = torch.zeros(40, 60, dtype=torch.bool)
        inside[y0:y1, x0:x1] = True
        assert torch.equal(res.output[i][:, ~inside], image[i][:, ~inside])
        assert bool((res.output[i][:, inside] == 1.0).all())
        assert res.model_sizes[i] == (y1 - y0, x1 - x0)
        assert be.calls[i][2] == [gens[i]]  # the sample's own generator
    # the box: hole bbox grown by the margin, clamped to the image
    m = torch.zeros(1, 10, 10, dtype=torch.bool)
    m[0, 1:3, 6:9] = True
    assert hole_crop_box(m, 2) == (0, 5, 4, 10)
    assert hole_crop_box(torch.zeros(1, 10, 12, dtype=torch.bool), 2) == (0, 10, 0, 12)


def test_crop_result_is_placed_at_the_right_spot():
    image, mask, gens = _batch(b=1, h=40, w=60)
    be = Recorder(Geometry(crop_margin=2, pad_multiple=8), fn=lambda x, m: torch.where(m, 0.0, x))
    res = run_backend(be, image, mask, gens)
    assert bool((res.output[mask.expand_as(image)] == 0.0).all())
    assert torch.equal(res.output[~mask.expand_as(image)], image[~mask.expand_as(image)])


def test_wrong_size_output_is_recorded_and_resized():
    image, mask, gens = _batch(h=37, w=53)
    be = Recorder(Geometry(pad_multiple=8), fn=lambda x, m: torch.full((x.shape[0], 3, 20, 28), 0.25))
    res = run_backend(be, image, mask, gens)
    assert res.model_sizes == [(40, 56)] * 2
    assert res.raw_sizes == [(20, 28)] * 2
    assert res.output.shape == image.shape
    assert torch.allclose(res.output, torch.full_like(image, 0.25))


def test_output_is_clamped():
    image, mask, gens = _batch()
    res = run_backend(Recorder(fn=lambda x, m: x * 3 - 1), image, mask, gens)
    assert res.output.min() >= 0 and res.output.max() <= 1
    assert bool((res.output == 1).any()) and bool((res.output == 0).any())


@pytest.mark.parametrize("fn,msg", [
    (lambda x, m: x[:, :1], "1 channels"),
    (lambda x, m: x[:1], "batch size 1"),
    (lambda x, m: x[0], "4 dims"),
    (lambda x, m: (x * 255).to(torch.uint8), "dtype"),
    (lambda x, m: x.numpy(), "ndarray"),
])
def test_invalid_outputs_raise_backend_error(fn, msg):
    image, mask, gens = _batch()
    be = Recorder(fn=fn)
    be.registry_name = "broken"
    with pytest.raises(BackendError, match=msg) as e:
        run_backend(be, image, mask, gens)
    assert "broken" in str(e.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_items_come_back_all_nan_and_the_others_intact(bad):
    image, mask, gens = _batch(b=3)

    def fn(x, m):
        y = x.clone()
        y[1, 0, 0, 0] = bad
        return y

    res = run_backend(Recorder(fn=fn), image, mask, gens)
    assert torch.isnan(res.output[1]).all()  # never clamped into a valid-looking value
    assert torch.equal(res.output[[0, 2]], image[[0, 2]])


def test_bad_call_arguments_are_rejected():
    image, mask, gens = _batch()
    with pytest.raises(ValueError, match="generator"):
        run_backend(Recorder(), image, mask, gens[:1])
    with pytest.raises(ValueError, match="mask"):
        run_backend(Recorder(), image, mask[..., :5], gens)


class IdRecorder(Recorder):
    """Test backend that takes the samples' ids (as the ``command`` backend does, for its messages)."""

    takes_sample_ids = True

    def __init__(self, geometry=Geometry()):
        super().__init__(geometry)
        self.ids = []

    def inpaint(self, image, mask, generator, sample_ids=None):
        self.ids.append(sample_ids)
        return super().inpaint(image, mask, generator)


def test_sample_ids_reach_only_a_backend_that_takes_them():
    image, mask, gens = _batch(b=3)
    ids = ["cat/a.jpg", "dog/b.jpg", "owl/c.jpg"]
    be = IdRecorder()
    run_backend(be, image, mask, gens, ids)
    assert be.ids == [ids]
    be = IdRecorder(Geometry(crop_margin=2))  # one call per sample: each gets its own id
    run_backend(be, image, mask, gens, ids)
    assert be.ids == [[i] for i in ids]
    run_backend(Recorder(), image, mask, gens, ids)  # inpaint(image, mask, generator): called without them
    with pytest.raises(ValueError, match="one sample id per sample"):
        run_backend(IdRecorder(), image, mask, gens, ids[:2])


def test_per_sample_list_outputs_record_each_size():
    image, mask, gens = _batch(b=2, h=32, w=32)

    def fn(x, m):
        return [torch.full((3, 32, 32), 0.2), torch.full((3, 16, 24), 0.7)]

    res = run_backend(Recorder(fn=fn), image, mask, gens)
    assert res.raw_sizes == [(32, 32), (16, 24)] and res.model_sizes == [(32, 32)] * 2
    assert torch.allclose(res.output[0], torch.full((3, 32, 32), 0.2))
    assert torch.allclose(res.output[1], torch.full((3, 32, 32), 0.7))
    with pytest.raises(BackendError, match="1 outputs for a batch of 2"):
        run_backend(Recorder(fn=lambda x, m: [x[0]]), image, mask, gens)
    res = run_backend(Recorder(fn=lambda x, m: [x[0], torch.full((3, 8, 8), float("nan"))]), image, mask, gens)
    assert torch.isnan(res.output[1]).all() and torch.isfinite(res.output[0]).all()


def test_geometry_validation_and_override():
    with pytest.raises(ValueError, match="pad_multiple"):
        Geometry(pad_multiple=0)
    with pytest.raises(ValueError, match="fixed_size"):
        Geometry(fixed_size=-1)
    g = Geometry(pad_multiple=8).override(fixed_size=512, pad_multiple=None)
    assert g == Geometry(pad_multiple=8, fixed_size=512)


@pytest.mark.parametrize("h,w,size", [(5, 6, (8, 8)), (37, 53, (40, 56)), (3, 2, (8, 8)), (1, 7, (8, 16))])
def test_pad_symmetric_is_numpys_and_crop_back_exact(h, w, size):
    """``pad_mode: symmetric`` fills the padding as ``numpy.pad(mode="symmetric")`` (the edge pixel repeated, LaMa's
    and IOPaint's ``pad_img_to_modulo``), also where the padding is wider than the image; masks alike."""
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h * w))
    want = np.pad(x.numpy(), ((0, 0), (0, 0), (0, size[0] - h), (0, size[1] - w)), mode="symmetric")
    y = pad_to(x, size, "symmetric")
    assert torch.equal(y, torch.from_numpy(want)) and torch.equal(y[..., :h, :w], x)
    m = x[:, :1] > 0.5
    pm = pad_to(m, size, "symmetric")
    assert pm.dtype == torch.bool
    assert np.array_equal(pm.numpy(), np.pad(m.numpy(), ((0, 0), (0, 0), (0, size[0] - h), (0, size[1] - w)),
                                             mode="symmetric"))
    if size[0] - h < h and size[1] - w < w:  # reflect (the default) does not repeat the edge row: they differ
        assert torch.equal(pad_to(x, size)[..., h, :w], x[..., h - 2, :]) and torch.equal(y[..., h, :w], x[..., h - 1, :])


def test_geometry_checks_pad_mode():
    assert Geometry(pad_multiple=8, pad_mode="symmetric").pad_mode == "symmetric"
    with pytest.raises(ValueError, match="pad_mode"):
        Geometry(pad_multiple=8, pad_mode="edge")


def test_adapter_pads_as_the_geometry_says():
    seen = {}

    def fn(x, m):
        seen["x"] = x.clone()
        return x

    image, mask, gens = _batch(h=37, w=53)
    be = Recorder(Geometry(pad_multiple=8, pad_mode="symmetric"), fn=fn)
    run_backend(be, image, mask, gens)
    want = np.pad(image.numpy(), ((0, 0), (0, 0), (0, 3), (0, 3)), mode="symmetric")
    assert torch.equal(seen["x"], torch.from_numpy(want))
