"""Labelled failure cases on real photographs, in two disjoint splits: ``dev`` (tune on these) and ``test`` (never).

Independent of :mod:`bench.calibration.cases` (which draws synthetic scenes, boxes and LaMa masks): here every case
is a random crop of a real photograph, a hole of a shape the calibration set does not use, and a fill of a known
kind. The splits share no photograph:

* ``dev``: the eight photographs of the ``samples`` dataset (scikit-image); ``dev-gray``: the same photographs
  converted to gray (their luma in all three channels; other crops, other holes);
* ``test``: ``china.jpg`` and ``flower.jpg`` (scikit-learn), ``grace_hopper.jpg`` (Matplotlib), the *right* view of
  scikit-image's stereo motorcycle pair (``samples`` uses the left) and Matplotlib's ``Minduka_Present_Blue_Pack``;
* ``fresh``: scikit-image's grayscale photographs (camera, coins, moon, brick, grass, gravel, clock) as
  three equal channels: chosen (2026-11-30) after ``test`` had been measured several times while the detectors
  changed, and measured once, after the detectors were frozen. Gray photographs are the hard case for a colour
  detector: only structure and gradient strength can tell foreign content apart there. (``bench calibrate
  --heldout`` has shown synthetic fills on some of these photographs; nothing was fitted on them.)
* ``fresh2``: four captured images from two more packages, in gray: PyWavelets' ``ascent`` and ``aero`` (gray
  already), Mahotas' ``luispedro`` (a portrait) and ``nuclear`` (a fluorescence micrograph), converted like
  ``dev-gray``. Chosen (2026-12-01) after ``fresh`` had been measured nine times while the replacement detector
  changed, and frozen before any case of it was built: the split for a detector change made after ``fresh``
  had been looked at (Mahotas' two other demo images are a drawing and a picture the field has retired).

Holes (``hole_kinds``): ``object`` (a union of one to three random ellipses / smoothed polygons, 3-30 % of the
frame: the footprint of a removed object), ``strokes`` (MAT-style brush strokes 12-48 px wide), and, for the
classical-backend check that uses the suite's own strategies, ``box`` and ``lama``.

Fills and their labels. "Detail" is the mean absolute band-pass energy of luminance at three scales (the blur
detector's bands) in the hole's interior; ``D = max over scales of ln(E_truth / E_fill)``.

* ``good``: the true pixels. blur 0, replacement 0.
* ``blur_gauss`` / ``blur_box`` / ``blur_median`` / ``blur_down`` (x4-x12 down and bicubic up) / ``mosaic`` (blocks
  of 8-32 px): blur 1 when the fill kept less than half the truth's detail (D > ln 2), 0 when it kept most of it
  (D < ln 1.25: blurring a smooth area changes nothing), else dropped. replacement 0 (mosaics: not judged).
* ``telea`` / ``ns`` / ``biharmonic`` / ``flat`` (the ring's mean colour) / ``blank`` (the runner's grey): smooth
  fills. The same blur rule; replacement 0 (a smear is not a new object).
* ``foreign`` (a crop of another photograph of the split fills the whole hole), ``object`` (a random shape cut from
  another photograph covering 35-90 % of the hole, the rest true), ``matched`` (a foreign crop whose Lab mean and
  spread are matched to the context ring's, so its colours occur around the hole while its structure does not):
  replacement 1 when the hole's PSNR against the truth is below 20 dB and the pasted content is plainly foreign:
  new colours (mean Lab distance to the truth above 12) or new structure (twice the truth's detail at some scale);
  other cases are dropped (a smoother patch in the right colours is a plausible fill, or a smear). blur not judged.

Everything is a pure function of ``(split, seed, n, size)``.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import cv2
import numpy as np

from ..backends.classical import inpaint_biharmonic, inpaint_opencv
from ..pixels import BLANK_VALUE, blank
from .cases import Case, _lama, _paste, _psnr, _q8, _shape_mask

DEV_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
              "stereo_motorcycle")
TEST_PHOTOS = ("china", "flower", "grace_hopper", "motorcycle_right", "present")
FRESH_PHOTOS = ("camera", "coins", "moon", "brick", "grass", "gravel", "clock")
FRESH2_PHOTOS = ("ascent", "aero", "luispedro", "nuclear")
SPLITS = {"dev": DEV_PHOTOS, "dev-gray": DEV_PHOTOS, "test": TEST_PHOTOS, "fresh": FRESH_PHOTOS,
          "fresh2": FRESH2_PHOTOS}
#: splits whose photographs are converted to gray (Rec. 601 luma in all three channels) before cropping
GRAY_SPLITS = frozenset({"dev-gray", "fresh2"})
BLUR_KINDS = ("blur_gauss", "blur_box", "blur_median", "blur_down", "mosaic")
SMOOTH_KINDS = ("telea", "ns", "biharmonic", "flat", "blank")
REPL_KINDS = ("foreign", "object", "matched")
KINDS = ("good",) + BLUR_KINDS + SMOOTH_KINDS + REPL_KINDS


#: the distribution names of the packages the splits' photographs come from (by import name)
_PIP = {"pywt": "PyWavelets", "sklearn": "scikit-learn", "skimage": "scikit-image"}


@functools.lru_cache(maxsize=None)
def load_photo(name: str, gray: bool = False) -> np.ndarray:
    """A photograph as float32 [H, W, 3] in [0, 1] (read-only); ``gray``: its Rec. 601 luma in all three channels."""
    from pathlib import Path

    if gray:
        luma = load_photo(name) @ np.float32([0.299, 0.587, 0.114])
        out = np.ascontiguousarray(np.repeat(luma[..., None], 3, axis=2), dtype=np.float32)
        out.setflags(write=False)
        return out

    try:  # (each split's photographs come from a package of the test extra)
        if name in DEV_PHOTOS:
            from ..datasets.samples import load_photo as samples_photo

            a = samples_photo(name)
        elif name in ("china", "flower"):
            from sklearn.datasets import load_sample_image

            a = load_sample_image(f"{name}.jpg")
        elif name in ("grace_hopper", "present"):
            import matplotlib
            from PIL import Image

            f = {"grace_hopper": "grace_hopper.jpg", "present": "Minduka_Present_Blue_Pack.png"}[name]
            p = Path(matplotlib.get_data_path()) / "sample_data" / f
            a = np.asarray(Image.open(p).convert("RGB"))
        elif name == "motorcycle_right":
            from skimage import data

            a = data.stereo_motorcycle()[1]
        elif name in FRESH_PHOTOS:
            from skimage import data

            a = np.repeat(getattr(data, name)()[..., None], 3, axis=2)
        elif name in ("ascent", "aero"):
            import pywt.data

            a = np.repeat(getattr(pywt.data, name)()[..., None], 3, axis=2)
        elif name in ("luispedro", "nuclear"):
            import mahotas.demos
            from PIL import Image

            f = {"luispedro": "luispedro.jpg", "nuclear": "nuclear.png"}[name]
            a = np.asarray(Image.open(Path(mahotas.demos.__file__).parent / "data" / f).convert("RGB"))
        else:
            raise KeyError(name)
    except ImportError as e:
        from ..errors import DataError

        top = (e.name or "?").split(".")[0]
        raise DataError(f"photograph {name!r} comes from the {_PIP.get(top, top)} package (`import {top}`), which "
                        f"is not installed: `pip install 'inpaint-bench[test]'` installs every package the photo "
                        f"splits read") from e
    out = np.ascontiguousarray(a[..., :3]).astype(np.float32) / 255.0
    out.setflags(write=False)
    return out


def crop(rng: np.random.Generator, photo: np.ndarray, size: int) -> np.ndarray:
    """A random square crop (40-100 % of the short side), resized to ``size``, maybe mirrored; 8-bit."""
    h, w = photo.shape[:2]
    s = int(min(h, w) * rng.uniform(0.4, 1.0))
    y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    c = cv2.resize(photo[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        c = c[:, ::-1]
    return _q8(np.ascontiguousarray(c))


# ------------------------------------------------------------------------------------------------------------
# holes
# ------------------------------------------------------------------------------------------------------------
def object_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """The footprint of a removed object: 1-3 overlapping ellipses / smoothed polygons, 3-30 % of the frame."""
    for _ in range(50):
        m = np.zeros((size, size), np.uint8)
        cy, cx = rng.uniform(0.2, 0.8, 2) * size
        for _ in range(int(rng.integers(1, 4))):
            oy, ox = rng.normal(0, size * 0.08, 2)
            ry, rx = rng.uniform(0.06, 0.22, 2) * size
            if rng.random() < 0.5:
                cv2.ellipse(m, (int(cx + ox), int(cy + oy)), (int(rx), int(ry)), float(rng.uniform(0, 180)), 0, 360,
                            1, -1)
            else:
                n = int(rng.integers(5, 10))
                ang = np.sort(rng.uniform(0, 2 * np.pi, n))
                rad = rng.uniform(0.6, 1.0, n)
                pts = np.stack([cx + ox + rx * rad * np.cos(ang), cy + oy + ry * rad * np.sin(ang)], 1)
                cv2.fillPoly(m, [pts.astype(np.int32)], 1)
        m = cv2.GaussianBlur(m.astype(np.float32), (0, 0), 3.0) > 0.5  # a silhouette, not a polygon
        if 0.03 <= m.mean() <= 0.30:
            return m
    return m


def stroke_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """MAT / CoModGAN-style brush strokes (12-48 px wide at 256 px), 5-40 % of the frame."""
    from ..masks.freeform import brush_strokes

    for _ in range(50):
        m = brush_strokes(rng, size, size, 5, width_scale=size / 256).astype(bool)
        if 0.05 <= m.mean() <= 0.40:
            return m
    return m


def box_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    m = np.zeros((size, size), bool)
    bh, bw = (int(rng.uniform(0.2, 0.5) * size) for _ in range(2))
    y, x = int(rng.integers(0, size - bh + 1)), int(rng.integers(0, size - bw + 1))
    m[y:y + bh, x:x + bw] = True
    return m


HOLES = {"object": object_mask, "strokes": stroke_mask, "box": box_mask,
         "lama": lambda rng, size: _lama("medium" if rng.random() < 0.5 else "thick", rng, size)}


# ------------------------------------------------------------------------------------------------------------
# fills
# ------------------------------------------------------------------------------------------------------------
def _ring(hole: np.ndarray, width: int = 12) -> np.ndarray:
    d = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
    return (d > 1) & (d <= 1 + width)


def classical(kind: str, img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Telea / Navier-Stokes (OpenCV, radius 3) or biharmonic (scikit-image) from the blanked image."""
    blanked = blank(img, hole)
    if kind in ("telea", "ns"):
        return inpaint_opencv(blanked, hole, kind, 3)
    return inpaint_biharmonic(blanked, hole)


def _mosaic(gt: np.ndarray, b: int, rng) -> np.ndarray:
    size = gt.shape[0]
    oy, ox = int(rng.integers(0, b)), int(rng.integers(0, b))
    pad = np.pad(gt, ((oy, b), (ox, b), (0, 0)), mode="edge")
    H, W = pad.shape[0] // b * b, pad.shape[1] // b * b
    small = pad[:H, :W].reshape(H // b, b, W // b, b, 3).mean(axis=(1, 3))
    return np.repeat(np.repeat(small, b, 0), b, 1)[oy:oy + size, ox:ox + size].astype(np.float32)


def _match_lab(src: np.ndarray, ref_pixels: np.ndarray) -> np.ndarray:
    """``src`` with its Lab mean and standard deviation per channel set to those of ``ref_pixels`` ([N, 3])."""
    lab = cv2.cvtColor(src, cv2.COLOR_RGB2Lab)
    ref = cv2.cvtColor(ref_pixels[None].astype(np.float32), cv2.COLOR_RGB2Lab)[0]
    mu, sd = lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0) + 1e-3
    out = (lab - mu) / sd * ref.std(0) + ref.mean(0)
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_Lab2RGB), 0, 1)


def warped(img: np.ndarray, amplitude: float, rng, smoothness: float = 24.0) -> np.ndarray:
    """``img`` resampled through a smooth random displacement field of at most ``amplitude`` px (Gaussian-smoothed
    noise, ``smoothness`` px): the same content, every pixel somewhere else. A stand-in for a plausible fill that
    is not the truth (a model's version of the same grass, wall or sky), for the look-alike check."""
    s = img.shape[:2]
    d = [cv2.GaussianBlur(rng.normal(0, 1, s).astype(np.float32), (0, 0), smoothness) for _ in range(2)]
    d = [x * (amplitude / max(float(np.abs(x).max()), 1e-9)) for x in d]
    yy, xx = np.mgrid[0:s[0], 0:s[1]].astype(np.float32)
    return cv2.remap(img, xx + d[0], yy + d[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def lightness_shifted(img: np.ndarray, delta: float) -> np.ndarray:
    """``img`` with its CIE L raised by ``delta`` units (negative: lowered), clipped: a fill whose brightness drifted
    (a VAE round trip pasted back drifts a few units)."""
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2Lab)
    lab[..., 0] = np.clip(lab[..., 0] + delta, 0, 100)
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1)


def make_fill(kind: str, rng, img: np.ndarray, hole: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The whole frame as the fill would leave it (only the hole is used). ``other``: a crop of another photo."""
    if kind == "good":
        return img
    if kind == "blur_gauss":
        return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(2, 8)))
    if kind == "blur_box":
        k = int(rng.integers(5, 26))
        return cv2.blur(img, (k, k))
    if kind == "blur_median":
        k = int(rng.integers(3, 11)) * 2 + 1
        return cv2.medianBlur((img * 255 + 0.5).astype(np.uint8), k).astype(np.float32) / 255.0
    if kind == "blur_down":
        f = int(rng.integers(4, 13))
        s = img.shape[0]
        small = cv2.resize(img, (max(2, s // f),) * 2, interpolation=cv2.INTER_AREA)
        return np.clip(cv2.resize(small, (s, s), interpolation=cv2.INTER_CUBIC), 0, 1)
    if kind == "mosaic":
        return _mosaic(img, int(rng.integers(8, 33)), rng)
    if kind in ("telea", "ns", "biharmonic"):
        return classical(kind, img, hole)
    if kind == "flat":
        return np.broadcast_to(img[_ring(hole)].mean(0), img.shape).astype(np.float32)
    if kind == "blank":
        return np.full_like(img, BLANK_VALUE)
    if kind == "foreign":
        return other
    if kind == "object":
        return _paste(img, other, _shape_mask(rng, hole.shape[0], hole, (0.35, 0.9)))
    if kind == "matched":
        return _match_lab(other, img[_ring(hole)])
    raise ValueError(kind)


def detail_loss(fill: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """max over the blur bands of ln(E_truth / E_fill) on the hole's interior (NaN: no interior)."""
    from ..detectors.blur import EPS, SCALES, bands, reach

    d_in = cv2.distanceTransform(np.pad(hole.astype(np.uint8), 1, mode="edge"), cv2.DIST_L2, 3)[1:-1, 1:-1]
    lum = np.float32([0.299, 0.587, 0.114])
    fb, tb = bands(fill @ lum), bands(truth @ lum)
    out = []
    for k in range(len(SCALES) - 1):
        inner = d_in >= max(4.0, reach(k))
        if inner.sum() >= 64:
            out.append(math.log((float(tb[k][inner].mean()) + EPS) / (float(fb[k][inner].mean()) + EPS)))
    return max(out) if out else math.nan


def labels_for(kind: str, fill_frame: np.ndarray, img: np.ndarray, hole: np.ndarray) -> dict[str, int] | None:
    lab: dict[str, int] = {"resized": 0, "outside_drift": 0, "black": 0, "nan": 0}
    if kind == "good":
        return {**lab, "blur": 0, "replacement": 0, "noop": 0}
    if kind in BLUR_KINDS or kind in SMOOTH_KINDS:
        d = detail_loss(fill_frame, img, hole)
        if math.isnan(d):
            return None
        if d > math.log(2.0):
            lab["blur"] = 1
        elif d < math.log(1.25):
            lab["blur"] = 0
        else:
            return None
        if kind != "mosaic":
            lab["replacement"] = 0
        lab["noop"] = 1 if kind == "blank" else 0
        return lab
    if kind in REPL_KINDS:
        out = _paste(img, fill_frame, hole)
        if _psnr(out, img, hole) >= 20.0:
            return None
        # plainly foreign: new colours (the Lab means differ by > 12) or new structure (twice the truth's detail
        # at some scale); a smoother patch in the right colours is a plausible fill, or a smear: not judged
        lab_f = cv2.cvtColor(fill_frame, cv2.COLOR_RGB2Lab)[hole].mean(0)
        lab_t = cv2.cvtColor(img, cv2.COLOR_RGB2Lab)[hole].mean(0)
        busier = -detail_loss(fill_frame, img, hole) > math.log(2.0)
        if float(np.linalg.norm(lab_f - lab_t)) <= 12.0 and not busier:
            return None
        return {**lab, "replacement": 1, "noop": 0}
    raise ValueError(kind)


def _pair(split: str, seed: int, i: int, size: int) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Crop ``i`` of the split's photographs and a crop of another photograph of the split (with their names)."""
    from ..seeding import rng_for

    photos = SPLITS[split]
    gray = split in GRAY_SPLITS
    r = rng_for("photo-cases", split, seed, i)
    name = photos[i % len(photos)]
    img = crop(r, load_photo(name, gray), size)
    other_name = photos[(i + 1 + int(r.integers(0, len(photos) - 1))) % len(photos)]
    return img, crop(r, load_photo(other_name, gray), size), name, other_name


def _case(split: str, seed: int, i: int, kind: str, pair: tuple[np.ndarray, np.ndarray, str, str], size: int,
          hole_kinds: tuple[str, ...]) -> Case | None:
    from ..seeding import rng_for

    img, other, name, other_name = pair
    rr = rng_for("photo-cases", split, seed, i, kind)
    hk = hole_kinds[int(rr.integers(0, len(hole_kinds)))]
    hole = HOLES[hk](rr, size)
    if not hole.any() or hole.all():
        return None
    fill = _q8(make_fill(kind, rr, img, hole, other))
    labels = labels_for(kind, fill, img, hole)
    if labels is None:
        return None
    out = _paste(img, fill, hole)
    return Case(kind, "reconstruction", hk, img, img, hole, out, out, labels, (size, size), (size, size),
                {"photo": name, "other": other_name, "hole_psnr": round(_psnr(out, img, hole), 2), "index": i})


def photo_case(split: str, seed: int, i: int, kind: str, size: int = 256,
               hole_kinds: tuple[str, ...] = ("object", "strokes")) -> Case | None:
    """Crop ``i``'s case of fill ``kind`` in ``build_photo_cases(split, seed, n > i)`` (None where it drops it)."""
    return _case(split, seed, i, kind, _pair(split, seed, i, size), size, hole_kinds)


def build_photo_cases(split: str, seed: int, n: int, size: int = 256, hole_kinds: tuple[str, ...] = ("object",
                      "strokes"), kinds: tuple[str, ...] = KINDS) -> list[Case]:
    """``n`` crops of the split's photographs, each with every fill kind (a fresh hole per kind)."""
    cases: list[Case] = []
    for i in range(n):
        pair = _pair(split, seed, i, size)
        cases += [c for kind in kinds if (c := _case(split, seed, i, kind, pair, size, hole_kinds)) is not None]
    return cases


#: the classical fills (:func:`classical`) and the two flat ones, as fill kinds
CLASSICAL_KINDS = ("telea", "ns", "biharmonic", "flat", "blank")
#: the holes the classical-backend check uses (the suites' own strategies)
CLASSICAL_HOLES = ("box", "lama")


def classical_cases(split: str, seed: int, n: int, size: int = 256, kinds: tuple[str, ...] = CLASSICAL_KINDS,
                    hole_kinds: tuple[str, ...] = CLASSICAL_HOLES, stream: str = "classical",
                    gray: bool | None = None) -> list[Case]:
    """``n`` crops of the split's photographs, each with one hole per ``hole_kinds`` filled by every fill of
    ``kinds``: smooth fills, never a new object (labels: ``replacement`` 0; blur not judged). ``gray`` (default: the
    split's own) decides whether the photographs are converted to gray."""
    from ..seeding import rng_for

    photos = SPLITS[split]
    gray = split in GRAY_SPLITS if gray is None else gray
    cases: list[Case] = []
    for i in range(n):
        r = rng_for(stream, split, seed, i)
        name = photos[i % len(photos)]
        img = crop(r, load_photo(name, gray), size)
        for hk in hole_kinds:
            hole = HOLES[hk](r, size)
            for kind in kinds:
                out = _paste(img, _q8(make_fill(kind, r, img, hole, img)), hole)
                cases.append(Case(kind, "reconstruction", hk, img, img, hole, out, out, {"replacement": 0},
                                  (size, size), (size, size), {"photo": name}))
    return cases


def evaluate_photos(split: str, seed: int, n: int, size: int = 256, thresholds: dict | None = None) -> dict[str, Any]:
    """Precision / recall / AUROC of the blur and replacement flags on a split (the shipped thresholds unless
    ``thresholds`` is a ``detectors`` section)."""
    from .measure import apply, evaluate, score_cases
    from ..detectors.thresholds import load_thresholds

    cases = build_photo_cases(split, seed, n, size)
    th = thresholds if thresholds is not None else load_thresholds()["detectors"]
    return evaluate(apply(score_cases(cases), th))
