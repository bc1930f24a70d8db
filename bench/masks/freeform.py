"""Free-form masks of CoModGAN and MAT (``comodgan``, ``mat-large``, ``mat-small``) and outpainting bands.

A re-implementation, written from a reading of zsyzzsoft/co-mod-gan ``training/mask_generator.py`` (c8b9ffe) and
fenglinglwb/MAT ``datasets/mask_generator_{512,512_small,256,256_small}.py`` (d273d89). The two files are the same
algorithm with different counts (docs/masks.md has the table):

* ``RandomMask(s, hole_range)``: start from an all-known s × s canvas; ``coef = min(lo + hi, 1)``; punch
  ``randint(int(A * coef))`` "small" boxes (sides ``randint(s // 2)``), ``randint(int(B * coef))`` "large" boxes
  (sides ``randint(s)``), each placed so it may stick out by up to half its size; then ``randint(int(C * coef))``
  brush strokes; accept when ``lo < hole fraction < hi`` (strictly), else draw everything again.
* a brush stroke: 4..17 vertices; turning angles around 2π/5 (spread up to 2π/15, alternate vertices mirrored);
  segment lengths ``normal(r, r // 2)`` clipped to [0, 2r] with ``r = sqrt(h² + w²) / 8``; one width
  ``uniform(12, 48)`` px for the whole stroke, drawn as a polyline of that width with discs of ``width // 2`` at
  every vertex (Pillow's ``ImageDraw``, as the originals); then the whole brush mask may be flipped up-down and
  left-right (probability 1/2 each).

Differences from the originals, on purpose: the random numbers come from the sample's own generator (masks are a
pure function of the suite seed and the sample id) instead of numpy's global state; a count that rounds to zero
draws no item (the originals call ``randint(0)`` and crash: MAT's 512 generator with ``hole_range: [0, 0.2]``);
non-square images and other sizes are supported: box sides are drawn per axis (``randint(w // 2)``,
``randint(h // 2)``...), the stroke radius from the diagonal as in the original, and the stroke width (absolute
pixels in the original, the same at 256 and 512) is scaled by ``short side / reference`` where the reference is
256 or 512 (the nearer, as for ``lama-*``). At 256 × 256 and 512 × 512 this is the original algorithm exactly.
``tests/test_masks_freeform.py`` compares the hole-fraction distributions with a plain transcription of the
originals (numpy's legacy ``RandomState``, Pillow) by KS tests.
"""
from __future__ import annotations

import math
import numpy as np

from ..errors import DataError
from ..types import Sample
from .base import MaskStrategy, image_size
from .lama import pick_reference

#: (small boxes A, large boxes B, brush strokes C): each count is drawn as randint(int(X * coef))
COUNTS: dict[str, tuple[int, int, int]] = {
    "comodgan": (10, 5, 20),
    "mat-large-512": (5, 3, 9),
    "mat-small-512": (3, 2, 4),
    "mat-large-256": (4, 2, 8),
    "mat-small-256": (2, 2, 3),
}


def _randint(rng: np.random.Generator, high: int) -> int:
    """``np.random.randint(high)``; 0 when ``high`` < 1 (where the original would raise)."""
    return int(rng.integers(high)) if high >= 1 else 0


def brush_strokes(rng: np.random.Generator, h: int, w: int, n_max: int, width_scale: float = 1.0) -> np.ndarray:
    """The brush part: ``randint(n_max)`` strokes on an h × w canvas; uint8, 1 = stroke."""
    from PIL import Image, ImageDraw

    avg_r = math.sqrt(h * h + w * w) / 8
    mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(_randint(rng, n_max)):
        n_vertex = int(rng.integers(4, 18))
        a_min = mean_angle - rng.uniform(0, angle_range)
        a_max = mean_angle + rng.uniform(0, angle_range)
        angles = [2 * math.pi - rng.uniform(a_min, a_max) if i % 2 == 0 else rng.uniform(a_min, a_max)
                  for i in range(n_vertex)]
        verts = [(int(rng.integers(0, w)), int(rng.integers(0, h)))]
        for a in angles:
            r = float(np.clip(rng.normal(loc=avg_r, scale=avg_r // 2), 0, 2 * avg_r))
            x = int(np.clip(verts[-1][0] + r * math.cos(a), 0, w))
            y = int(np.clip(verts[-1][1] + r * math.sin(a), 0, h))
            verts.append((x, y))
        width = max(1, int(int(rng.uniform(12, 48)) * width_scale))
        draw.line(verts, fill=1, width=width)
        for x, y in verts:
            draw.ellipse((x - width // 2, y - width // 2, x + width // 2, y + width // 2), fill=1)
        rng.random()  # the originals draw two flips per stroke whose results they discard: keep the sequence
        rng.random()
    m = np.asarray(canvas, dtype=np.uint8)
    if rng.random() > 0.5:
        m = m[::-1]
    if rng.random() > 0.5:
        m = m[:, ::-1]
    return np.ascontiguousarray(m)


def _boxes(rng: np.random.Generator, known: np.ndarray, n_max: int, div: int) -> None:
    """``randint(n_max)`` boxes, sides ``randint(w // div)`` × ``randint(h // div)``, punched into ``known``."""
    h, w = known.shape
    for _ in range(_randint(rng, n_max)):
        bw, bh = _randint(rng, w // div), _randint(rng, h // div)
        x = int(rng.integers(-(bw // 2), w - bw + bw // 2))  # a box may stick out by up to half its size
        y = int(rng.integers(-(bh // 2), h - bh + bh // 2))
        known[max(y, 0):min(y + bh, h), max(x, 0):min(x + bw, w)] = 0


def free_form_mask(rng: np.random.Generator, h: int, w: int, counts: tuple[int, int, int],
                   hole_range: tuple[float, float] = (0.0, 1.0), width_scale: float = 1.0,
                   max_tries: int = 1000) -> np.ndarray:
    """CoModGAN / MAT ``RandomMask``: bool [h, w], True = hole, with ``lo < hole fraction < hi``."""
    lo, hi = hole_range
    coef = min(lo + hi, 1.0)
    a, b, c = (int(x * coef) for x in counts)
    if max(a, b, c) <= 1:  # randint(0) and randint(1) draw nothing: no hole could ever be made
        raise DataError(f"hole_range ({lo}, {hi}) scales the counts {counts} by {coef:g} to {(a, b, c)}: no box and "
                        f"no stroke is ever drawn (the original generator crashes here); use a wider hole_range")
    for _ in range(max_tries):
        known = np.ones((h, w), np.uint8)
        _boxes(rng, known, a, 2)
        _boxes(rng, known, b, 1)
        known = np.logical_and(known, 1 - brush_strokes(rng, h, w, c, width_scale))
        ratio = 1.0 - float(known.mean())
        if lo < ratio < hi:
            return ~known
    raise DataError(f"no free-form mask with a hole fraction in ({lo}, {hi}) after {max_tries} draws")


class FreeFormMask(MaskStrategy):
    """Free-form masks of CoModGAN / MAT (base class)."""

    family = "comodgan"

    def __init__(self, hole_range: list[float] | None = None, reference: int | None = None,
                 max_tries: int = 1000) -> None:
        hr = [0.0, 1.0] if hole_range is None else list(hole_range)
        if len(hr) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in hr) \
                or not 0 <= hr[0] < hr[1] <= 1:
            raise ValueError(f"hole_range must be [lo, hi] with 0 <= lo < hi <= 1, got {hole_range!r}")
        if reference not in (None, 256, 512):
            raise ValueError(f"reference must be 256, 512 or null (by image size), got {reference!r}")
        if max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {max_tries}")
        self.hole_range = [float(hr[0]), float(hr[1])]
        self.reference = reference
        self.max_tries = int(max_tries)

    def counts(self, short_side: int) -> tuple[tuple[int, int, int], int]:
        ref = self.reference or pick_reference(short_side)
        key = self.family if self.family == "comodgan" else f"{self.family}-{ref}"
        return COUNTS[key], ref

    def generate(self, sample: Sample, rng: np.random.Generator) -> np.ndarray:
        h, w = image_size(sample)
        counts, ref = self.counts(min(h, w))
        try:
            return free_form_mask(rng, h, w, counts, tuple(self.hole_range), min(h, w) / ref, self.max_tries)
        except DataError as e:
            raise DataError(f"sample '{sample.id}': {self.registry_name}: {e}") from None


class CoModGANMask(FreeFormMask):
    """CoModGAN's free-form masks (boxes + brush strokes); hole_range [lo, hi] as in its -h0..-h4 buckets."""

    family = "comodgan"


class MatLargeMask(FreeFormMask):
    """MAT's large free-form masks (datasets/mask_generator_512.py / _256.py by image size)."""

    family = "mat-large"


class MatSmallMask(FreeFormMask):
    """MAT's small free-form masks (datasets/mask_generator_512_small.py / _256_small.py by image size)."""

    family = "mat-small"


SIDES = ("left", "right", "top", "bottom")


class OutpaintMask(MaskStrategy):
    """Outpainting: bands along the chosen sides (all four by default), each a fraction of the image side."""

    def __init__(self, sides: str | list[str] = "all", fraction: float | list[float] = 0.25) -> None:
        chosen = list(SIDES) if sides == "all" else ([sides] if isinstance(sides, str) else list(sides))
        bad = [s for s in chosen if s not in SIDES]
        if bad or not chosen:
            raise ValueError(f"sides must be 'all' or a list of {', '.join(SIDES)}; got {sides!r}")
        fr = [fraction, fraction] if isinstance(fraction, (int, float)) and not isinstance(fraction, bool) \
            else list(fraction)
        if len(fr) != 2 or not all(isinstance(v, (int, float)) for v in fr) or not 0 < fr[0] <= fr[1] < 1:
            raise ValueError(f"fraction must be in (0, 1), or [lo, hi] drawn per sample; got {fraction!r}")
        if (("left" in chosen and "right" in chosen) or ("top" in chosen and "bottom" in chosen)) and fr[1] >= 0.5:
            raise ValueError(f"two opposite bands of {fr[1]} would cover the whole image; use a fraction < 0.5")
        self.sides = "all" if sides == "all" else chosen
        self.fraction = fraction if isinstance(fraction, (int, float)) else fr

    def generate(self, sample: Sample, rng: np.random.Generator) -> np.ndarray:
        h, w = image_size(sample)
        fr = self.fraction if isinstance(self.fraction, (int, float)) else list(self.fraction)
        f = float(fr) if isinstance(fr, (int, float)) else float(rng.uniform(fr[0], fr[1]))
        sides = list(SIDES) if self.sides == "all" else self.sides
        m = np.zeros((h, w), bool)
        bw, bh = max(1, round(f * w)), max(1, round(f * h))
        if "left" in sides:
            m[:, :bw] = True
        if "right" in sides:
            m[:, w - bw:] = True
        if "top" in sides:
            m[:bh] = True
        if "bottom" in sides:
            m[h - bh:] = True
        return m
