"""Classical backends and baselines (bench/backends/classical.py) and their registration."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage.restoration import inpaint_biharmonic

from bench.backends.classical import to_uint8
from bench.backends.geometry import run_backend
from bench.errors import ConfigError
from bench.registry import BACKENDS

NAMES = ["opencv-telea", "opencv-ns", "biharmonic", "mean-fill", "identity"]


def _scene(b=2, h=32, w=40):
    """Smooth colour gradients (something an inpainter can continue) with a blanked box hole."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([yy, xx, (yy + xx) / 2])
    image = torch.stack([base * (0.5 + 0.5 * i / max(1, b - 1)) + 0.1 * i for i in range(b)]).clamp(0, 1)
    mask = torch.zeros(b, 1, h, w, dtype=torch.bool)
    mask[0, :, 10:20, 12:24] = True
    mask[-1, :, 4:9, 25:35] = True
    blanked = torch.where(mask, torch.full_like(image, 0.5), image)
    return image, blanked, mask, [torch.Generator().manual_seed(i) for i in range(b)]


def test_all_registered_with_a_doc_line():
    for name in NAMES:
        assert name in BACKENDS.names()
        assert BACKENDS.doc(name) and not BACKENDS.doc(name).startswith("(unavailable")


def test_create_from_spec_checks_params():
    be = BACKENDS.create({"type": "opencv-telea", "radius": 5}, "backends[0]")
    assert be.radius == 5 and be.provenance()["radius"] == 5
    with pytest.raises(ConfigError, match=r"backends\[0\]\.raduis.*did you mean 'radius'"):
        BACKENDS.create({"type": "opencv-ns", "raduis": 5}, "backends[0]")
    with pytest.raises(ConfigError, match=r"backends\[1\]\.radius: expected int"):
        BACKENDS.create({"type": "opencv-ns", "radius": "big"}, "backends[1]")
    with pytest.raises(ConfigError, match="did you mean 'opencv-telea'"):
        BACKENDS.create({"type": "opencv-telae"}, "backends[2]")


@pytest.mark.parametrize("name", ["opencv-telea", "opencv-ns", "biharmonic", "mean-fill"])
def test_fills_the_hole(name):
    image, blanked, mask, gens = _scene()
    be = BACKENDS.create({"type": name}, "backends[0]")
    out = run_backend(be, blanked, mask, gens).output
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1
    hole = mask.expand_as(image)
    assert (out[hole] - 0.5).abs().mean() > 0.02, "hole pixels changed from the blank"
    assert torch.allclose(out[~hole], blanked[~hole], atol=1e-6), "pixels outside the hole are kept"
    # filling from a smooth neighbourhood lands closer to the truth than the blank does
    assert (out[hole] - image[hole]).abs().mean() < (blanked[hole] - image[hole]).abs().mean()


@pytest.mark.parametrize("name,flag", [("opencv-telea", cv2.INPAINT_TELEA), ("opencv-ns", cv2.INPAINT_NS)])
def test_opencv_matches_cv2_directly(name, flag):
    _, blanked, mask, gens = _scene()
    out = BACKENDS.create({"type": name, "radius": 4}, "b").inpaint(blanked, mask, gens)
    for i in range(blanked.shape[0]):
        x = blanked[i].permute(1, 2, 0).numpy()
        hole = mask[i, 0].numpy()
        ref = cv2.inpaint(to_uint8(x), hole.astype(np.uint8) * 255, 4.0, flag).astype(np.float32) / 255
        got = out[i].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(got[hole], ref[hole])
        np.testing.assert_array_equal(got[~hole], x[~hole])  # float input kept outside (no quantisation)


def test_biharmonic_matches_skimage_directly():
    _, blanked, mask, gens = _scene(b=1)
    out = BACKENDS.create({"type": "biharmonic"}, "b").inpaint(blanked, mask, gens)
    ref = inpaint_biharmonic(blanked[0].permute(1, 2, 0).numpy(), mask[0, 0].numpy(), channel_axis=-1)
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), np.clip(ref, 0, 1), atol=1e-6)


def test_mean_fill_is_the_mean_of_known_pixels():
    image, blanked, mask, gens = _scene()
    out = BACKENDS.create({"type": "mean-fill"}, "b").inpaint(blanked, mask, gens)
    for i in range(2):
        known = ~mask[i, 0]
        expect = blanked[i][:, known].mean(dim=1)
        hole_vals = out[i][:, mask[i, 0]]
        assert torch.allclose(hole_vals, expect[:, None].expand_as(hole_vals), atol=1e-6)
    full = torch.ones(1, 1, 8, 8, dtype=torch.bool)  # nothing known: mid-grey, not NaN
    assert torch.equal(BACKENDS.create({"type": "mean-fill"}, "b").inpaint(torch.rand(1, 3, 8, 8), full, gens[:1]),
                       torch.full((1, 3, 8, 8), 0.5))


def test_identity_returns_the_input_unchanged():
    _, blanked, mask, gens = _scene()
    res = run_backend(BACKENDS.create({"type": "identity"}, "b"), blanked, mask, gens)
    assert torch.equal(res.output, blanked)


def test_the_first_call_imports_nothing_after_setup():
    """``setup`` is load time; an import on the first ``inpaint`` call lands in the first batch's latency (the
    biharmonic backend's first batch read about 3x its later ones: scikit-image's inpainting pulls in scipy.sparse).
    A fresh interpreter, so nothing was imported before."""
    import subprocess
    import sys
    from pathlib import Path

    code = """
import sys, torch
from bench.registry import BACKENDS
from bench.types import RunContext
bad = {}
for name in ("opencv-telea", "opencv-ns", "biharmonic", "mean-fill", "identity"):
    be = BACKENDS.create({"type": name}, "backends[0]")
    be.setup(RunContext(device=torch.device("cpu")))
    image, mask = torch.rand(1, 3, 16, 16), torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    mask[..., 4:9, 4:9] = True
    before = set(sys.modules)
    be.inpaint(image, mask, [torch.Generator().manual_seed(0)])
    new = sorted(set(sys.modules) - before)
    if new:
        bad[name] = new[:5]
print("BAD", bad)
"""
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "BAD {}", r.stdout[-2000:]
