"""The labelled calibration set: fills whose failure (or not) is known by construction.

Scenes come from :mod:`bench.datasets.synthetic` (object-removal scenes with a clean background; the background
families include crops of the ``samples`` photographs). Two settings:

* removal: the mask is an object's footprint dilated by a few pixels, ``gt`` is the clean background and the
  ``input`` still shows the object (the ``incomplete`` detector applies);
* reconstruction: a generated mask (``box``, ``lama-thin/medium/thick``) on a background; ``gt`` = ``input``.

Each case carries ``labels``: detector key -> 1 (failure), 0 (correct) or absent (not judged for that detector, e.g.
a pasted flat shape is a replacement whatever the blur detector says). Label rules are documented in
docs/detectors.md and in :func:`build_cases`.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from typing import Any, Iterator

import cv2
import numpy as np
import torch

from ..backends.classical import inpaint_opencv
from ..pixels import BLANK_VALUE, blank
from ..types import EvalBatch

FILL_KINDS = ("good_gt", "good_classical", "blur_gauss", "blur_box", "blur_median", "mosaic",
              "repl_object", "repl_patch", "repl_shapes", "incomplete", "noop")
OUTPUT_KINDS = ("resized", "drift", "black", "nan", "dark_ok", "quantised_ok")


@dataclass
class Case:
    kind: str
    setting: str  # "removal" | "reconstruction"
    strategy: str
    input: np.ndarray  # [H, W, 3] float32
    gt: np.ndarray
    mask: np.ndarray  # [H, W] bool
    output: np.ndarray
    raw: np.ndarray
    labels: dict[str, int]
    raw_size: tuple[int, int]
    model_size: tuple[int, int]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def hole_fraction(self) -> float:
        return float(self.mask.mean())


# ------------------------------------------------------------------------------------------------------------
# masks and scenes
# ------------------------------------------------------------------------------------------------------------
def _box(rng, size: int, lo: float, hi: float) -> np.ndarray:
    m = np.zeros((size, size), bool)
    bh, bw = (max(2, int(rng.uniform(lo, hi) * size)) for _ in range(2))
    y, x = int(rng.integers(0, size - bh + 1)), int(rng.integers(0, size - bw + 1))
    m[y:y + bh, x:x + bw] = True
    return m


def _lama(variant: str, rng, size: int) -> np.ndarray:
    from ..masks.lama import LamaMedium, LamaThick, LamaThin

    cls = {"thin": LamaThin, "medium": LamaMedium, "thick": LamaThick}[variant]
    return cls().draw(size, size, rng)


def _dots(rng, size: int) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, 12))):
        r = int(rng.integers(2, 6))
        cv2.circle(m, (int(rng.integers(0, size)), int(rng.integers(0, size))), r, 1, -1)
    return m.astype(bool)


def _scratches(rng, size: int) -> np.ndarray:
    """Thin scratches / wires / text-like strokes 2-6 px wide: what classical inpainting is good at."""
    m = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, 8))):
        pts = [rng.uniform(0, size, 2)]
        for _ in range(int(rng.integers(1, 5))):
            pts.append(np.clip(pts[-1] + rng.normal(0, size / 5, 2), 0, size - 1))
        w = int(rng.integers(2, 7))
        cv2.polylines(m, [np.asarray(pts, np.int32)], False, 1, w)
    return m.astype(bool)


def small_mask(rng, size: int) -> tuple[np.ndarray, str]:
    """Holes classical inpainting fills acceptably: scratches 2-6 px wide, dots up to 11 px, boxes up to 10 px."""
    u = rng.random()
    if u < 0.5:
        return _scratches(rng, size), "scratches"
    if u < 0.75:
        return _dots(rng, size), "dots"
    m = np.zeros((size, size), bool)
    for _ in range(int(rng.integers(1, 6))):
        bh, bw = int(rng.integers(3, 11)), int(rng.integers(3, 11))
        y, x = int(rng.integers(0, size - bh)), int(rng.integers(0, size - bw))
        m[y:y + bh, x:x + bw] = True
    return m, "box-tiny"


def big_mask(rng, size: int) -> tuple[np.ndarray, str]:
    """Holes with an interior, at several sizes and strategies."""
    u = rng.random()
    if u < 0.25:
        return _box(rng, size, 0.12, 0.3), "box-small"
    if u < 0.45:
        return _box(rng, size, 0.3, 0.6), "box-large"
    if u < 0.75:
        return _lama("medium", rng, size), "lama-medium"
    return _lama("thick", rng, size), "lama-thick"


def _background(rng, size: int, info: dict | None = None) -> np.ndarray:
    from ..datasets.synthetic import make_background

    fam = "photo" if rng.random() < 0.5 else None  # half the photographs of ``samples``, half any family
    img, bg_info = make_background(rng, size, family=fam)
    if info is not None:
        info["background"] = bg_info["family"]
    return img


def _removal_scene(rng, size: int, info: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(input with one object, clean gt, hole = object footprint dilated, object coverage)."""
    from ..datasets.synthetic import make_scene

    for _ in range(20):
        sc = make_scene(rng, size, objects=(1, 1), object_size=(0.15, 0.45))
        obj = sc.mask[0].numpy()
        if obj.mean() > 0.01:
            break
    if info is not None:
        info["background"] = sc.info["background"]["family"]
    img = sc.image.permute(1, 2, 0).numpy().copy()
    gt = sc.gt.permute(1, 2, 0).numpy().copy()
    k = int(rng.integers(2, 8))
    hole = cv2.dilate(obj.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1,) * 2)) > 0
    return img, gt, hole, obj


def _q8(x: np.ndarray) -> np.ndarray:
    """8-bit round trip (every real output is stored as 8-bit)."""
    return (np.clip(x, 0, 1) * 255.0 + 0.5).astype(np.uint8).astype(np.float32) / 255.0


def _paste(base: np.ndarray, fill: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask[..., None], fill, base).astype(np.float32)


def _psnr(a, b, sel) -> float:
    mse = float(((a - b) ** 2)[sel].mean())
    return 99.0 if mse == 0 else 10 * np.log10(1 / mse)


# ------------------------------------------------------------------------------------------------------------
# fills
# ------------------------------------------------------------------------------------------------------------
def _odd(k: int) -> int:
    return k if k % 2 else k + 1


def _foreign(rng, size: int) -> np.ndarray:
    from ..datasets.synthetic import make_background

    return make_background(rng, size)[0]


def _shape_mask(rng, size: int, hole: np.ndarray, cover: tuple[float, float]) -> np.ndarray:
    """A random ellipse/polygon/rectangle inside the hole's bounding box covering ``cover`` of the hole."""
    ys, xs = np.nonzero(hole)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    best = None
    for _ in range(12):
        m = np.zeros((size, size), np.uint8)
        cy, cx = rng.uniform(y0, y1), rng.uniform(x0, x1)
        ry, rx = rng.uniform(0.3, 0.7) * (y1 - y0 + 1), rng.uniform(0.3, 0.7) * (x1 - x0 + 1)
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.ellipse(m, (int(cx), int(cy)), (max(2, int(rx)), max(2, int(ry))), float(rng.uniform(0, 180)), 0,
                        360, 1, -1)
        elif kind == 1:
            n = int(rng.integers(3, 8))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            rad = rng.uniform(0.5, 1.0, n)
            pts = np.stack([cx + rx * rad * np.cos(ang), cy + ry * rad * np.sin(ang)], 1).astype(np.int32)
            cv2.fillPoly(m, [pts], 1)
        else:
            cv2.rectangle(m, (int(cx - rx), int(cy - ry)), (int(cx + rx), int(cy + ry)), 1, -1)
        m = m.astype(bool) & hole
        c = m.sum() / max(1, hole.sum())
        if cover[0] <= c <= cover[1]:
            return m
        if best is None or abs(c - np.mean(cover)) < abs(best[0] - np.mean(cover)):
            best = (c, m)
    return best[1] if best[0] > 0.1 else hole.copy()


def _colour(rng) -> np.ndarray:
    """A random colour from HSV: any hue, moderate saturation, not pitch black."""
    h, s, v = rng.random(), rng.uniform(0.15, 0.9), rng.uniform(0.2, 0.95)
    return np.asarray(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32)


def _shape_fill(rng, size: int) -> np.ndarray:
    """What a pasted synthetic shape looks like: flat, gradient, checkerboard or a foreign texture."""
    u = rng.random()
    c0, c1 = _colour(rng), _colour(rng)
    if u < 0.3:
        return np.broadcast_to(c0, (size, size, 3)).astype(np.float32).copy()
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if u < 0.55:
        a = rng.uniform(0, 2 * np.pi)
        f = (np.cos(a) * xx + np.sin(a) * yy)
        f = (f - f.min()) / (f.max() - f.min())
        return (c0 * (1 - f[..., None]) + c1 * f[..., None]).astype(np.float32)
    if u < 0.75:
        p = int(rng.integers(4, 24))
        f = ((xx // p + yy // p) % 2).astype(np.float32)
        return (c0 * (1 - f[..., None]) + c1 * f[..., None]).astype(np.float32)
    return _foreign(rng, size)


def make_fill(kind: str, rng, size: int, inp, gt, hole, obj) -> tuple[np.ndarray | None, dict]:
    """The filled hole for ``kind`` (whole image; only the hole is used) or None when the case is unusable."""
    meta: dict[str, Any] = {}
    if kind == "good_gt":
        return gt, meta
    if kind == "good_classical":
        method = "telea" if rng.random() < 0.5 else "ns"
        meta["method"] = method
        return inpaint_opencv(blank(inp, hole), hole, method, 3), meta
    if kind == "blur_gauss":
        s = float(rng.uniform(2, 8))
        meta["sigma"] = s
        return cv2.GaussianBlur(gt, (0, 0), s), meta
    if kind == "blur_box":
        k = int(rng.integers(5, 26))
        meta["k"] = k
        return cv2.blur(gt, (k, k)), meta
    if kind == "blur_median":
        k = _odd(int(rng.integers(7, 22)))
        meta["k"] = k
        return cv2.medianBlur((gt * 255 + 0.5).astype(np.uint8), k).astype(np.float32) / 255.0, meta
    if kind == "mosaic":
        b = int(rng.integers(8, 33))
        oy, ox = int(rng.integers(0, b)), int(rng.integers(0, b))
        pad = np.pad(gt, ((oy, b), (ox, b), (0, 0)), mode="edge")
        H, W = pad.shape[0] // b * b, pad.shape[1] // b * b
        pad = pad[:H, :W]
        small = pad.reshape(H // b, b, W // b, b, 3).mean(axis=(1, 3))
        big = np.repeat(np.repeat(small, b, 0), b, 1)
        meta["block"] = b
        return big[oy:oy + size, ox:ox + size].astype(np.float32), meta
    if kind == "repl_object":
        sm = _shape_mask(rng, size, hole, (0.35, 0.9))
        tex = _shape_fill(rng, size) if rng.random() < 0.5 else _foreign(rng, size)
        return _paste(gt, tex, sm), meta
    if kind == "repl_patch":
        return _foreign(rng, size), meta
    if kind == "repl_shapes":
        out = gt.copy()
        for _ in range(int(rng.integers(1, 4))):
            sm = _shape_mask(rng, size, hole, (0.2, 0.7))
            out = _paste(out, _shape_fill(rng, size), sm)
        return out, meta
    if kind == "incomplete":
        if obj is None:
            return None, meta
        # keep the part of the object on one side of a random line through it
        ys, xs = np.nonzero(obj)
        a = rng.uniform(0, 2 * np.pi)
        proj = (xs - xs.mean()) * np.cos(a) + (ys - ys.mean()) * np.sin(a)
        keep_frac = float(rng.uniform(0.3, 0.9))
        cut = np.quantile(proj, 1 - keep_frac)
        keep = np.zeros_like(obj)
        keep[ys[proj >= cut], xs[proj >= cut]] = True
        meta["kept"] = keep_frac
        return _paste(gt, inp, keep), meta
    if kind == "noop":
        return np.full_like(gt, BLANK_VALUE), meta
    raise ValueError(kind)


def _labels_for(kind: str, setting: str, changed_db: float, hole: np.ndarray) -> dict[str, int] | None:
    """Labels per detector; None drops an ambiguous case."""
    lab: dict[str, int] = {"resized": 0, "outside_drift": 0, "black": 0, "nan": 0}
    if setting == "removal":
        lab["incomplete"] = 1 if kind == "incomplete" else 0
    if kind in ("good_gt", "good_classical"):
        lab.update(blur=0, replacement=0, noop=0)
    elif kind.startswith("blur_") or kind == "mosaic":
        if changed_db > 45:  # blurring a flat area changes nothing (RMS < 1.4/255): that fill is correct
            lab.update(blur=0, replacement=0, noop=0)
        elif changed_db > 30:  # faint grain lost, barely visible: not a clear case either way
            return None
        else:
            lab.update(blur=1, noop=0)
            if kind != "mosaic":
                lab["replacement"] = 0
    elif kind.startswith("repl_"):
        if changed_db > 25:  # the pasted content happens to match the background
            return None
        lab.update(replacement=1, noop=0)
    elif kind == "incomplete":
        lab.update(noop=0)
    elif kind == "noop":
        lab.update(noop=1)
        lab.pop("incomplete", None)
    return lab


# ------------------------------------------------------------------------------------------------------------
# output-level failures (on top of a correct fill)
# ------------------------------------------------------------------------------------------------------------
def _jpeg(x: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0


def drift(rng, x: np.ndarray) -> tuple[np.ndarray, str]:
    """A whole-frame change of the kind a VAE round trip / a redraw / a re-encode causes."""
    u = rng.random()
    h, w = x.shape[:2]
    if u < 0.25:  # VAE-like: detail lost at x8 latent scale, slight noise and colour shift
        small = cv2.resize(x, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        y = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        y = y * rng.uniform(0.97, 1.03, 3) + rng.normal(0, rng.uniform(1, 4) / 255, y.shape)
        return y.astype(np.float32), "vae-like"
    if u < 0.45:
        return _jpeg(x, int(rng.integers(10, 50))), "jpeg"
    if u < 0.6:
        return cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.8, 2.0))), "blur"
    if u < 0.8:
        return (x * rng.uniform(0.85, 0.95) + rng.uniform(-0.06, 0.06, 3)).astype(np.float32), "colour"
    d = int(rng.integers(1, 4))
    return np.roll(x, d, axis=int(rng.integers(0, 2))), "shift"


def build_cases(seed: int, n: int, size: int = 256) -> list[Case]:
    """``n`` scenes, each expanded into fill cases and one output-level case (about 13 cases per scene).

    Scene ``i`` of seed ``s`` is a pure function of (s, i): a fresh seed is a fresh, independent set.
    """
    from ..seeding import rng_for

    cases: list[Case] = []
    for i in range(n):
        removal = i % 2 == 0
        # a fresh scene and mask per fill kind keeps the cases independent
        for kind in FILL_KINDS:
            if kind == "incomplete" and not removal:
                continue
            r = rng_for("calibrate", seed, i, kind)
            src: dict[str, Any] = {}
            if removal and kind != "good_classical":
                inp, gt, hole, obj = _removal_scene(r, size, src)
                strategy, setting = "object", "removal"
            else:
                bg = _background(r, size, src)
                inp = gt = _q8(bg)
                obj = None
                hole, strategy = small_mask(r, size) if kind == "good_classical" else big_mask(r, size)
                setting = "reconstruction"
            if hole.sum() == 0 or hole.all():
                continue
            inp, gt = _q8(inp), _q8(gt)
            fill, meta = make_fill(kind, r, size, inp, gt, hole, obj)
            if fill is None:
                continue
            out = _paste(inp, _q8(fill), hole)
            changed = _psnr(out, gt, hole)
            labels = _labels_for(kind, setting, changed, hole)
            if labels is None:
                continue
            cases.append(Case(kind, setting, strategy, inp, gt, hole, out, out, labels, (size, size), (size, size),
                              {"hole_psnr": round(changed, 2), **src, **meta}))
        # one output-level case per scene (cycled), on top of a correct reconstruction fill
        for okind in (OUTPUT_KINDS[(2 * i) % len(OUTPUT_KINDS)], OUTPUT_KINDS[(2 * i + 1) % len(OUTPUT_KINDS)]):
            cases.append(_output_case(okind, rng_for("calibrate", seed, i, "output", okind), size))
    return cases


def _output_case(okind: str, r, size: int) -> Case:
    """A correct reconstruction fill with an output-level failure (or a benign look-alike) on top."""
    bg = _q8(_background(r, size))
    hole, strategy = big_mask(r, size)
    out = bg.copy()
    raw = bg.copy()
    labels = {"resized": 0, "outside_drift": 0, "black": 0, "nan": 0}
    rs, ms = (size, size), (size, size)
    meta = {}
    inp = bg
    if okind == "resized":
        f = float(r.choice([r.uniform(0.3, 0.95), r.uniform(1.05, 2.0)]))
        rs = (max(8, int(round(size * f))), max(8, int(round(size * f * r.uniform(0.9, 1.1)))))
        if rs == ms:
            rs = (size - 1, size)
        small = cv2.resize(bg, (rs[1], rs[0]), interpolation=cv2.INTER_AREA)
        raw = _q8(cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC))
        out = _paste(bg, raw, hole)
        labels = {"resized": 1, "black": 0, "nan": 0}
        meta["factor"] = f
    elif okind == "drift":
        d, how = drift(r, bg)
        raw = _q8(d)
        out = _paste(bg, raw, hole) if r.random() < 0.5 else raw
        db = _psnr(raw, bg, ~hole)
        # blurring or shifting a smooth frame changes nothing visible: such a "drift" is no failure
        labels["outside_drift"] = 1 if db < 38 else 0
        if 38 <= db <= 45:
            labels.pop("outside_drift")
        meta.update(drift=how, psnr_out=round(db, 2))
    elif okind == "black":
        raw = (r.random(bg.shape) * r.uniform(0, 3 / 255)).astype(np.float32)
        out = _paste(bg, raw, hole) if r.random() < 0.5 else raw
        labels = {"black": 1, "resized": 0, "nan": 0}
    elif okind == "nan":
        raw = bg.copy()
        frac = float(10 ** r.uniform(-4, 0))
        bad = r.random(raw.shape) < frac
        bad.flat[int(r.integers(0, bad.size))] = True
        raw[bad] = np.nan if r.random() < 0.8 else np.inf
        out = _paste(bg, raw, hole)
        labels = {"nan": 1, "resized": 0}
        meta["nan_fraction"] = frac
    elif okind == "dark_ok":  # a dark photograph correctly filled is not black
        inp = _q8(bg * r.uniform(0.03, 0.3))
        out = raw = inp.copy()
    elif okind == "quantised_ok":  # a model that re-renders the frame losslessly but for 8-bit / tiny noise
        raw = _q8(bg + r.normal(0, r.uniform(0, 1.0) / 255, bg.shape).astype(np.float32))
        out = _paste(bg, raw, hole) if r.random() < 0.5 else raw
    return Case(okind, "reconstruction", strategy, inp, inp, hole, out, raw, labels, rs, ms, meta)


def to_batch(cases: list[Case], truth: bool = True) -> EvalBatch:
    """Stack cases into an :class:`EvalBatch` the way the runner does (non-finite values sanitised, their
    fraction passed as ``nonfinite``); ``truth=False``: as an object-removal set photographed once, without ground
    truth (``has_gt`` False, ``gt`` zeros, as the runner leaves them)."""

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float()

    inp = torch.stack([t(c.input) for c in cases])
    mask = torch.stack([torch.from_numpy(c.mask)[None] for c in cases])
    raw = torch.stack([t(c.raw) for c in cases])
    out = torch.stack([t(c.output) for c in cases])
    nonfinite = torch.maximum((~torch.isfinite(raw)).flatten(1).float().mean(1),
                              (~torch.isfinite(out)).flatten(1).float().mean(1))
    raw = torch.nan_to_num(raw, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1)
    out = torch.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1)
    gt = torch.stack([t(c.gt) for c in cases]) if truth else torch.zeros_like(inp)
    blanked = blank(inp, mask)
    b = EvalBatch(sample_ids=[f"{c.kind}-{j}" for j, c in enumerate(cases)], output=out, raw=raw, input=inp,
                  blanked=blanked, mask=mask, gt=gt, has_gt=torch.full((len(cases),), truth, dtype=torch.bool),
                  raw_sizes=[c.raw_size for c in cases], model_sizes=[c.model_size for c in cases],
                  input_sizes=[c.mask.shape for c in cases])
    b.nonfinite = nonfinite  # type: ignore[attr-defined]  (proposed EvalBatch field, see nan.py)
    return b


def batches(cases: list[Case], bs: int = 16, truth: bool = True) -> Iterator[tuple[list[Case], EvalBatch]]:
    for j in range(0, len(cases), bs):
        chunk = cases[j:j + bs]
        yield chunk, to_batch(chunk, truth)


#: scikit-image's grayscale photographs: never used by :func:`build_cases`, so a held-out check on real pictures
HELDOUT_PHOTOS = ("camera", "brick", "grass", "gravel", "moon", "coins", "clock", "text", "page", "cell")
HELDOUT_KINDS = ("good_gt", "blur_gauss", "blur_box", "blur_median", "mosaic", "repl_patch", "repl_shapes",
                 "repl_object")


def build_heldout_cases(seed: int, n: int, size: int = 256) -> list[Case]:
    """Reconstruction cases on held-out real photographs (grayscale, randomly tinted, random crops).

    Same fill kinds and label rules as :func:`build_cases` (no removal: these photos have no object masks).
    """
    from skimage import data

    from ..seeding import rng_for

    photos = [getattr(data, name)().astype(np.float32) / 255.0 for name in HELDOUT_PHOTOS]
    cases: list[Case] = []
    for i in range(n):
        r = rng_for("calibrate-heldout", seed, i)
        a = photos[i % len(photos)]
        h, w = a.shape
        s = int(min(h, w) * r.uniform(0.5, 1.0))
        y, x = int(r.integers(0, h - s + 1)), int(r.integers(0, w - s + 1))
        g = cv2.resize(a[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA)
        bg = _q8(np.clip(g[..., None] * r.uniform(0.7, 1.0, 3).astype(np.float32), 0, 1))
        for kind in HELDOUT_KINDS:
            rr = rng_for("calibrate-heldout", seed, i, kind)
            hole, strategy = big_mask(rr, size)
            fill, meta = make_fill(kind, rr, size, bg, bg, hole, None)
            out = _paste(bg, _q8(fill), hole)
            changed = _psnr(out, bg, hole)
            labels = _labels_for(kind, "reconstruction", changed, hole)
            if labels is None:
                continue
            cases.append(Case(kind, "reconstruction", strategy, bg, bg, hole, out, out, labels, (size, size),
                              (size, size), {"photo": HELDOUT_PHOTOS[i % len(photos)], "hole_psnr": round(changed, 2),
                                             **meta}))
    return cases
