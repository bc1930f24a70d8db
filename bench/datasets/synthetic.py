"""Seeded object-removal scenes with exact ground truth.

A scene is a textured background (the ground truth) with 1..N objects composited on top. Because the background
is known, a removal model's fill can be scored against the true clean pixels, which no photographed dataset offers
so cheaply. Everything is a pure function of the ``numpy.random.Generator`` passed in; the dataset derives that
generator from (seed, sample id) with :func:`bench.seeding.rng_for`, so a sample id always gives the same scene.

Guarantees (tested):

* ``gt`` equals ``image`` exactly wherever ``mask`` is False;
* ``mask`` covers every pixel where ``image`` differs from ``gt`` (object bodies, anti-aliased and soft edges,
  shadows), and is the union of ``object_masks``.

Reuse it (failure detectors, calibration) through :func:`make_scene` / :func:`make_background`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from ..errors import ConfigError, DataError, suggest
from ..seeding import rng_for
from ..types import Sample
from .base import Dataset

#: Bump when a change alters the pixels a (seed, id) produces; recorded in provenance.
GENERATOR_VERSION = "1"

#: Background families. ``photo`` crops the scikit-image photographs.
TEXTURES = ("gradient", "noise", "stripes", "fractal", "photo")
SHAPES = ("ellipse", "polygon", "blob", "box")
FILLS = ("flat", "gradient", "shaded", "textured")

DEFAULT_RESOLUTION = 256
_ALPHA_FLOOR = 1.0 / 512.0  # soft tails below this are cut to 0 (invisible after 8-bit quantisation)


@dataclass
class Scene:
    """One generated scene. Tensors are float32 ``[3,H,W]`` in [0, 1] / bool ``[1,H,W]`` (True = object)."""

    image: torch.Tensor  # the scene with its objects
    mask: torch.Tensor  # union of object_masks: every pixel the objects (and their shadows) changed
    gt: torch.Tensor  # the clean background
    object_masks: torch.Tensor  # [K, 1, H, W] bool: object k's full footprint (body, soft edge, shadow), unoccluded
    object_alphas: torch.Tensor  # [K, 1, H, W] float32: object k's coverage (body only, no shadow)
    info: dict[str, Any] = field(default_factory=dict)  # JSON-friendly description (background, objects)


# ---------------------------------------------------------------------------------------------------------------
# colours and scalar fields
# ---------------------------------------------------------------------------------------------------------------
def _colour(rng: np.random.Generator) -> np.ndarray:
    """A random colour from HSV (varied hue, moderate saturation, not pitch black)."""
    h, s, v = rng.random(), rng.uniform(0.15, 0.9), rng.uniform(0.2, 0.95)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.asarray(rgb, dtype=np.float32)


def _lerp(field_: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    f = field_[..., None].astype(np.float32)
    return (c0 * (1 - f) + c1 * f).astype(np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return ((x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)).astype(np.float32)


def _coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy, xx


def _linear_field(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = _coords(h, w)
    a = rng.uniform(0, 2 * math.pi)
    return _normalise(np.cos(a) * xx + np.sin(a) * yy)


def _value_noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Smooth random field with features about ``scale`` pixels wide, in [0, 1]."""
    gh, gw = max(2, int(round(h / scale)) + 2), max(2, int(round(w / scale)) + 2)
    grid = rng.random((gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (int(gw * scale), int(gh * scale)), interpolation=cv2.INTER_CUBIC)
    oy = int(rng.integers(0, max(1, big.shape[0] - h + 1)))
    ox = int(rng.integers(0, max(1, big.shape[1] - w + 1)))
    out = big[oy:oy + h, ox:ox + w]
    if out.shape != (h, w):  # tiny sizes: fall back to a plain resize
        out = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return _normalise(out)


def _fractal_field(rng: np.random.Generator, h: int, w: int, beta: float) -> np.ndarray:
    """1/f^beta noise (fractional-Brownian-like): natural-looking clouds, terrain, foliage; in [0, 1]."""
    white = rng.standard_normal((h, w)).astype(np.float32)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fy * fy + fx * fx)
    f[0, 0] = 1.0
    spec = np.fft.rfft2(white) / f ** (beta / 2.0)
    spec[0, 0] = 0.0
    return _normalise(np.fft.irfft2(spec, s=(h, w)).astype(np.float32))


def _periodic_field(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, dict[str, Any]]:
    yy, xx = _coords(h, w)
    side = min(h, w)
    period = float(rng.uniform(max(4.0, side / 40), max(6.0, side / 5)))
    a = rng.uniform(0, math.pi)
    kind = str(rng.choice(["sine", "square", "checker", "grid"]))
    u = (np.cos(a) * xx + np.sin(a) * yy) * (2 * math.pi / period)
    v = (-np.sin(a) * xx + np.cos(a) * yy) * (2 * math.pi / period)
    if kind == "sine":
        f = 0.5 + 0.5 * np.sin(u)
    elif kind == "square":
        f = 0.5 + 0.5 * np.tanh(4.0 * np.sin(u))
    elif kind == "checker":
        f = 0.5 + 0.5 * np.tanh(4.0 * np.sin(u) * np.sin(v))
    else:
        f = np.maximum(0.5 + 0.5 * np.tanh(6.0 * (np.cos(u) - 0.8)), 0.5 + 0.5 * np.tanh(6.0 * (np.cos(v) - 0.8)))
    return _normalise(f), {"kind": kind, "period": round(period, 3), "angle": round(float(a), 4)}


# ---------------------------------------------------------------------------------------------------------------
# backgrounds
# ---------------------------------------------------------------------------------------------------------------
def make_background(rng: np.random.Generator, size: int | tuple[int, int], family: str | None = None,
                    textures: Sequence[str] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """A background ``[H, W, 3]`` float32 in [0, 1] and its description. ``family`` or a draw from ``textures``."""
    h, w = _hw(size)
    if family is None:
        fams = list(textures) if textures else list(TEXTURES)
        family = str(fams[int(rng.integers(0, len(fams)))])
    info: dict[str, Any] = {"family": family}
    if family == "gradient":
        c0, c1 = _colour(rng), _colour(rng)
        img = _lerp(_linear_field(rng, h, w), c0, c1)
        if rng.random() < 0.5:  # a second, radial component (vignette / light falloff)
            yy, xx = _coords(h, w)
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / math.hypot(h, w)
            img = img * (1.0 - rng.uniform(0.2, 0.6) * r[..., None])
            info["radial"] = True
        if rng.random() < 0.5:  # fine grain, as on real sensors
            sigma = float(rng.uniform(0.003, 0.02))
            img = img + rng.normal(0.0, sigma, img.shape).astype(np.float32)
            info["grain"] = round(sigma, 4)
    elif family == "noise":
        scale = float(rng.choice([2.0, 4.0, 8.0, 16.0, 32.0]) * max(1.0, min(h, w) / 256))
        f = _value_noise(rng, h, w, scale)
        if rng.random() < 0.5:  # a second octave
            f = _normalise(0.65 * f + 0.35 * _value_noise(rng, h, w, max(1.5, scale / 2)))
        img = _lerp(f, _colour(rng), _colour(rng))
        tint = _value_noise(rng, h, w, max(8.0, 4 * scale))[..., None] * rng.uniform(-0.15, 0.15, 3)
        img = img + tint.astype(np.float32)
        info["scale"] = scale
    elif family == "stripes":
        f, extra = _periodic_field(rng, h, w)
        img = _lerp(f, _colour(rng), _colour(rng))
        info.update(extra)
    elif family == "fractal":
        beta = float(rng.uniform(1.6, 2.8))
        f = _fractal_field(rng, h, w, beta)
        c0, c1, c2 = _colour(rng), _colour(rng), _colour(rng)
        img = np.where(f[..., None] < 0.5, _lerp(np.clip(2 * f, 0, 1), c0, c1), _lerp(np.clip(2 * f - 1, 0, 1), c1, c2))
        img = img + 0.08 * (_fractal_field(rng, h, w, beta)[..., None] - 0.5) * rng.uniform(-1, 1, 3)
        info["beta"] = round(beta, 4)
    elif family == "photo":
        from .samples import PHOTOS, load_photo

        names = list(PHOTOS)
        name = names[int(rng.integers(0, len(names)))]
        photo = load_photo(name)
        ph, pw = photo.shape[:2]
        aspect = w / h
        ch = int(min(ph, pw / aspect) * rng.uniform(0.35, 1.0))
        ch = max(2, min(ch, ph))
        cw = max(2, min(int(round(ch * aspect)), pw))
        y0 = int(rng.integers(0, ph - ch + 1))
        x0 = int(rng.integers(0, pw - cw + 1))
        crop = photo[y0:y0 + ch, x0:x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        interp = cv2.INTER_AREA if ch >= h else cv2.INTER_CUBIC
        img = cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=interp).astype(np.float32) / 255.0
        info.update({"photo": name, "crop": [y0, x0, ch, cw]})
    else:
        raise ValueError(f"unknown background family {family!r}; known: {', '.join(TEXTURES)}")
    return np.clip(img, 0.0, 1.0).astype(np.float32), info


# ---------------------------------------------------------------------------------------------------------------
# objects
# ---------------------------------------------------------------------------------------------------------------
def _hw(size: int | tuple[int, int] | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(s) for s in size)
    if h < 8 or w < 8:
        raise ValueError(f"scene size must be at least 8x8, got {h}x{w}")
    return h, w


_SHIFT = 4  # cv2 fixed-point sub-pixel bits
_ONE = 1 << _SHIFT


def _footprint(rng: np.random.Generator, h: int, w: int, diameter: float, shape: str) -> tuple[np.ndarray, dict]:
    """Anti-aliased coverage in [0, 1] of one shape of the given diameter at a random place."""
    r = diameter / 2.0
    cy = rng.uniform(min(r, h / 2), max(h - r, h / 2))
    cx = rng.uniform(min(r, w / 2), max(w - r, w / 2))
    angle = rng.uniform(0, 2 * math.pi)
    canvas = np.zeros((h, w), np.uint8)
    if shape == "ellipse":
        ratio = rng.uniform(0.4, 1.0)
        axes = (int(r * _ONE), int(r * ratio * _ONE))
        cv2.ellipse(canvas, (int(cx * _ONE), int(cy * _ONE)), axes, math.degrees(angle), 0, 360, 255,
                    thickness=-1, lineType=cv2.LINE_AA, shift=_SHIFT)
        extra = {"ratio": round(float(ratio), 4)}
    else:
        if shape == "polygon":
            n = int(rng.integers(3, 10))
            thetas = np.sort(rng.uniform(0, 2 * math.pi, n))
            radii = r * rng.uniform(0.55, 1.0, n)
            extra = {"vertices": n}
        elif shape == "blob":
            n = 64
            thetas = np.linspace(0, 2 * math.pi, n, endpoint=False)
            radii = np.ones(n)
            for k in range(2, 6):
                radii += rng.uniform(0, 0.35 / k * 2) * np.cos(k * thetas + rng.uniform(0, 2 * math.pi))
            radii = r * radii / radii.max()
            extra = {}
        elif shape == "box":
            ratio = rng.uniform(0.3, 1.0)
            half = math.atan(ratio)
            thetas = np.array([half, math.pi - half, math.pi + half, 2 * math.pi - half])
            radii = np.full(4, r)
            extra = {"ratio": round(float(ratio), 4)}
        else:
            raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
        xs = cx + radii * np.cos(thetas + angle)
        ys = cy + radii * np.sin(thetas + angle)
        pts = np.round(np.stack([xs, ys], 1) * _ONE).astype(np.int32)[None]
        cv2.fillPoly(canvas, pts, 255, lineType=cv2.LINE_AA, shift=_SHIFT)
    info = {"shape": shape, "diameter": round(float(diameter), 3), "centre": [round(float(cy), 2), round(float(cx), 2)],
            **extra}
    return canvas.astype(np.float32) / 255.0, info


def _soften(alpha: np.ndarray, sigma: float) -> np.ndarray:
    k = 2 * int(math.ceil(3 * sigma)) + 1
    out = cv2.GaussianBlur(alpha, (k, k), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_CONSTANT)
    out = out.astype(np.float32)
    out[out < _ALPHA_FLOOR] = 0.0
    return np.clip(out, 0.0, 1.0)


def _contrasting(rng: np.random.Generator, ref: np.ndarray, tries: int = 12) -> np.ndarray:
    """A colour at least ~0.3 (RGB distance) from ``ref``, so objects are visible against their background."""
    best, best_d = None, -1.0
    for _ in range(tries):
        c = _colour(rng)
        d = float(np.linalg.norm(c - ref))
        if d > best_d:
            best, best_d = c, d
        if d >= 0.3:
            break
    return best  # type: ignore[return-value]


def _object_fill(rng: np.random.Generator, h: int, w: int, ref: np.ndarray, info: dict) -> tuple[np.ndarray, str]:
    kind = str(FILLS[int(rng.integers(0, len(FILLS)))])
    c0 = _contrasting(rng, ref)
    if kind == "flat":
        fill = np.broadcast_to(c0, (h, w, 3)).astype(np.float32)
    elif kind == "gradient":
        c1 = np.clip(c0 + rng.uniform(-0.3, 0.3, 3), 0, 1).astype(np.float32)
        fill = _lerp(_linear_field(rng, h, w), c0, c1)
    elif kind == "shaded":  # a lit, rounded object: highlight towards one side
        cy, cx = info["centre"]
        r = max(1.0, info["diameter"] / 2)
        yy, xx = _coords(h, w)
        a = rng.uniform(0, 2 * math.pi)
        ly, lx = cy + 0.4 * r * math.sin(a), cx + 0.4 * r * math.cos(a)
        d = np.sqrt((yy - ly) ** 2 + (xx - lx) ** 2) / (1.6 * r)
        light = np.clip(1.15 - d, 0.35, 1.15)[..., None]
        fill = np.clip(c0 * light, 0, 1).astype(np.float32)
    else:  # textured: the object carries its own texture
        c1 = _contrasting(rng, ref)
        if rng.random() < 0.5:
            f, _ = _periodic_field(rng, h, w)
        else:
            f = _value_noise(rng, h, w, float(rng.choice([2.0, 4.0, 8.0])))
        fill = _lerp(f, c0, c1)
    return fill, kind


def _shift(a: np.ndarray, dy: float, dx: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(a, m, (a.shape[1], a.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def _bbox(m: np.ndarray) -> tuple[slice, slice] | None:
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if not rows.size:
        return None
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def make_scene(rng: np.random.Generator, size: int | tuple[int, int] = DEFAULT_RESOLUTION, *,
               objects: Sequence[int] = (1, 3), object_size: Sequence[float] = (0.1, 0.35),
               textures: Sequence[str] | None = None, shadows: float = 0.3, soft_edges: float = 0.4,
               shapes: Sequence[str] | None = None) -> Scene:
    """Generate one object-removal scene from ``rng`` (a ``numpy.random.Generator``).

    * ``size``: side (int) or ``(H, W)``.
    * ``objects``: inclusive range ``[lo, hi]`` of the number of objects (``lo`` may be 0: an empty mask).
    * ``object_size``: range of an object's diameter as a fraction of the shorter side.
    * ``textures``: background families to draw from (default all of :data:`TEXTURES`).
    * ``shadows``: probability that an object casts a soft drop shadow (part of its mask).
    * ``soft_edges``: probability that an object has a blurred (feathered) edge rather than an anti-aliased one.
    * ``shapes``: object shapes to draw from (default all of :data:`SHAPES`).

    Objects are composited back to front; ``object_masks[k]`` is object k's own footprint even where a later
    object covers it. The same generator state always gives the same scene.
    """
    h, w = _hw(size)
    lo, hi = _check_range("objects", objects, integer=True, minimum=0)
    slo, shi = _check_range("object_size", object_size, minimum=1e-6)
    _check_names("textures", textures, TEXTURES)
    _check_names("shapes", shapes, SHAPES)
    shape_pool = list(shapes) if shapes else list(SHAPES)

    gt, bg_info = make_background(rng, (h, w), textures=textures)
    canvas = gt.copy()
    k = int(rng.integers(lo, hi + 1))
    side = min(h, w)
    masks, alphas, objs = [], [], []
    for _ in range(k):
        diameter = max(3.0, float(rng.uniform(slo, shi)) * side)
        shape = shape_pool[int(rng.integers(0, len(shape_pool)))]
        alpha, info = _footprint(rng, h, w, diameter, shape)
        if rng.random() < soft_edges:
            sigma = float(rng.uniform(0.8, max(1.0, 0.5 + 0.04 * diameter)))
            alpha = _soften(alpha, sigma)
            info["soft_sigma"] = round(sigma, 3)
        footprint = alpha > 0
        ref = canvas[footprint].mean(axis=0) if footprint.any() else canvas.reshape(-1, 3).mean(axis=0)
        fill, fill_kind = _object_fill(rng, h, w, ref, info)
        info["fill"] = fill_kind
        shadow = np.zeros((h, w), np.float32)
        if rng.random() < shadows:
            a = rng.uniform(0, 2 * math.pi)
            dist = diameter * rng.uniform(0.05, 0.15)
            strength = float(rng.uniform(0.25, 0.6))
            sigma = max(1.0, diameter * rng.uniform(0.03, 0.08))
            shadow = _soften(_shift(alpha, dist * math.sin(a), dist * math.cos(a)), sigma) * strength
            shadow[shadow < _ALPHA_FLOOR] = 0.0
            info["shadow"] = {"strength": round(strength, 3), "offset": round(float(dist), 2)}
            sl = _bbox(shadow > 0)
            if sl is not None:  # outside its support a shadow multiplies by exactly 1: skip those pixels
                canvas[sl] = canvas[sl] * (1.0 - shadow[sl][..., None])
        sl = _bbox(footprint)
        if sl is not None:
            a3 = alpha[sl][..., None]
            canvas[sl] = canvas[sl] * (1.0 - a3) + fill[sl] * a3
        masks.append((alpha > 0) | (shadow > 0))
        alphas.append(alpha)
        objs.append(info)

    if masks:
        obj_masks = np.stack(masks)
        union = obj_masks.any(axis=0)
    else:
        obj_masks = np.zeros((0, h, w), bool)
        union = np.zeros((h, w), bool)
    image = np.clip(canvas, 0.0, 1.0).astype(np.float32)
    image[~union] = gt[~union]  # exact by construction already; this makes it a guarantee
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))  # noqa: E731
    return Scene(
        image=to_t(image),
        mask=torch.from_numpy(union)[None],
        gt=to_t(gt),
        object_masks=torch.from_numpy(obj_masks)[:, None],
        object_alphas=torch.from_numpy(np.stack(alphas) if alphas else np.zeros((0, h, w), np.float32))[:, None],
        info={"background": bg_info, "objects": objs, "size": [h, w], "version": GENERATOR_VERSION},
    )


# ---------------------------------------------------------------------------------------------------------------
# parameter checks (ValueError "key: ..." for library callers; the dataset turns them into ConfigError(key, ...))
# ---------------------------------------------------------------------------------------------------------------
def _check_range(key: str, value: Sequence, *, integer: bool = False, minimum: float = 0.0,
                 maximum: float | None = None) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{key}: expected a range [lo, hi], got {value!r}")
    lo, hi = value
    types_ok = all(isinstance(v, (int, np.integer)) if integer else isinstance(v, (int, float, np.number))
                   for v in (lo, hi)) and not any(isinstance(v, bool) for v in (lo, hi))
    if not types_ok:
        raise ValueError(f"{key}: expected two {'integers' if integer else 'numbers'}, got {value!r}")
    if lo > hi or lo < minimum or (maximum is not None and hi > maximum):
        bound = f"{minimum} <= lo <= hi" + (f" <= {maximum}" if maximum is not None else "")
        raise ValueError(f"{key}: expected {bound}, got {list(value)!r}")
    return (int(lo), int(hi)) if integer else (float(lo), float(hi))


def _check_names(key: str, value: Sequence[str] | None, known: Sequence[str]) -> None:
    if value is None:
        return
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{key}: expected a non-empty list of names from {', '.join(known)}, got {value!r}")
    for v in value:
        if v not in known:
            close = suggest(str(v), list(known), cutoff=0.5)
            hint = f"; did you mean '{close}'?" if close else f"; known: {', '.join(known)}"
            raise ValueError(f"{key}: unknown name '{v}'{hint}")


# ---------------------------------------------------------------------------------------------------------------
# the dataset
# ---------------------------------------------------------------------------------------------------------------
class SyntheticDataset(Dataset):
    """Generated object-removal scenes (textured background + objects) with the clean background as ground truth.

    Each sample (id ``syn-0000``...) is a pure function of (seed, id): the suite seed from ``bind`` unless this
    dataset sets its own ``seed``. ``image`` holds the objects, ``mask`` is the union of the objects' footprints
    (True = object = the hole for the ``given`` strategy) and ``gt`` the clean background. Size: the suite
    ``resolution`` (256 when none).
    """

    provides_masks = True

    def __init__(self, n: int = 16, objects: int | list = [1, 3], object_size: list = [0.1, 0.35],  # noqa: B006
                 textures: list | None = None, shapes: list | None = None, shadows: float = 0.3,
                 soft_edges: float = 0.4, seed: int | None = None):
        try:  # the checks are shared with make_scene (ValueError "key: ..."); a suite gets the key path
            if n < 0:
                raise ValueError(f"n: must be >= 0, got {n}")
            if isinstance(objects, int) and not isinstance(objects, bool):
                objects = [objects, objects]  # exactly that many
            self.objects = list(_check_range("objects", objects, integer=True, minimum=1))
            self.object_size = list(_check_range("object_size", object_size, minimum=0.01, maximum=1.0))
            _check_names("textures", textures, TEXTURES)
            _check_names("shapes", shapes, SHAPES)
            for key, p in (("shadows", shadows), ("soft_edges", soft_edges)):
                if not 0.0 <= p <= 1.0:
                    raise ValueError(f"{key}: a probability in [0, 1], got {p}")
        except ValueError as e:
            key, _, msg = str(e).partition(": ")
            raise ConfigError(key, msg) from None
        self.n = int(n)
        self.textures = list(textures) if textures else None
        self.shapes = list(shapes) if shapes else None
        self.shadows = float(shadows)
        self.soft_edges = float(soft_edges)
        self.own_seed = seed
        self._width = max(4, len(str(max(0, self.n - 1))))

    @property
    def size(self) -> int:
        return int(self.resolution or DEFAULT_RESOLUTION)

    @property
    def effective_seed(self) -> int:
        return int(self.own_seed if self.own_seed is not None else self.seed)

    def ids(self) -> list[str]:
        return [f"syn-{i:0{self._width}d}" for i in range(self.n)]

    def _index(self, sample_id: str) -> int:
        prefix, _, num = str(sample_id).partition("-")
        if prefix != "syn" or not num.isdigit() or int(num) >= self.n:
            ids = self.ids()
            known = f"ids are {ids[0]} .. {ids[-1]}" if ids else "n is 0"
            raise DataError(f"synthetic/{sample_id}: no such sample ({known})")
        return int(num)

    def scene(self, sample_id: str) -> Scene:
        """The full :class:`Scene` of one sample (with per-object masks), as ``load`` sees it."""
        self._index(sample_id)
        rng = rng_for(self.effective_seed, "synthetic", sample_id)
        return make_scene(rng, self.size, objects=self.objects, object_size=self.object_size, textures=self.textures,
                          shapes=self.shapes, shadows=self.shadows, soft_edges=self.soft_edges)

    def load(self, sample_id: str) -> Sample:
        s = self.scene(sample_id)
        meta = {"background": s.info["background"]["family"], "n_objects": len(s.info["objects"]),
                "objects": s.info["objects"]}
        return Sample(id=sample_id, image=s.image, mask=s.mask, gt=s.gt, meta=meta)

    def provenance(self) -> dict[str, Any]:
        return {
            "type": "synthetic",
            "generator": "bench.datasets.synthetic.make_scene",
            "version": GENERATOR_VERSION,
            "seed": self.effective_seed,
            "n": self.n,
            "resolution": self.size,
            "objects": self.objects,
            "object_size": self.object_size,
            "textures": self.textures or list(TEXTURES),
            "shapes": self.shapes or list(SHAPES),
            "shadows": self.shadows,
            "soft_edges": self.soft_edges,
        }
