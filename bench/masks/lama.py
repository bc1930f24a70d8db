"""LaMa's irregular evaluation masks: ``lama-thin``, ``lama-medium``, ``lama-thick``.

A re-implementation of the generator behind LaMa's evaluation sets (advimman/lama:
``saicinpainting/training/data/masks.py`` ``MixedMaskGenerator`` driven by ``bin/gen_mask_dataset.py`` with
``configs/data_gen/random_{thin,medium,thick}_{256,512}.yaml``), written from its description:

* one generator per mask: irregular strokes with probability ``1 / (1 + box_proba)``, else boxes;
* irregular: ``n`` strokes, each from a uniform random start with ``1 + randint(5)`` segments; a segment turns by
  ``0.01 + randint(max_angle)`` radians (mirrored on even strokes), is ``10 + randint(max_len)`` px long and
  ``5 + randint(max_width)`` px wide (``cv2.line``), its end clipped to the frame;
* LaMa's generator without a ramp draws ``n`` from ``min_times`` to ``max_times + 1`` inclusive (its
  ``cur_max_times`` adds one before ``randint``'s exclusive upper bound); we reproduce that, because its
  published masks have that distribution;
* boxes: ``randint(min_times, max_times + 1)`` rectangles, each side ``bbox_min_size .. bbox_max_size`` (again
  inclusive, through the same ``+ 1``) and at most ``side - 2 * margin``, placed ``margin`` px inside the frame;
* a mask covering more than ``max_tamper_area`` (50 %) is discarded and drawn again (``gen_mask_dataset.py``
  draws 5 variants, drops those above the cap and keeps one at random: the same distribution as redrawing).

At 256 and 512 px (the short side) the configs apply exactly. At other sizes the 256 (short side <= 362 px, the
geometric middle) or 512 config is scaled by ``short side / reference``: lengths, widths, box sizes and margins are
drawn in the reference's pixels and multiplied, positions are drawn in the image's own pixels, so the hole-fraction
distribution is (nearly) size-independent. LaMa resizes an image's short side to 256/512 and crops a square around
the mask; we draw on the whole frame, which for non-square images counts the area of the full frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import DataError
from ..types import Sample
from .base import MaskStrategy, image_size

REFERENCE_SIZES = (256, 512)


@dataclass(frozen=True)
class LamaConfig:
    """One ``configs/data_gen/random_<variant>_<size>.yaml`` of advimman/lama (pixel values at ``size``)."""

    size: int
    min_times: int
    max_times: int
    max_width: int
    max_len: int
    max_angle: int = 4
    box_proba: float = 0.0
    box_margin: int = 0
    box_min_size: int = 0
    box_max_size: int = 0
    box_min_times: int = 0
    box_max_times: int = 0
    max_tamper_area: float = 0.5


#: LaMa's published parameters (checked against advimman/lama configs/data_gen/*.yaml).
LAMA_CONFIGS: dict[tuple[str, int], LamaConfig] = {
    ("thin", 256): LamaConfig(256, min_times=4, max_times=50, max_width=10, max_len=40),
    ("thin", 512): LamaConfig(512, min_times=4, max_times=70, max_width=20, max_len=100),
    ("medium", 256): LamaConfig(256, min_times=4, max_times=5, max_width=50, max_len=100, box_proba=0.3,
                                box_margin=0, box_min_size=10, box_max_size=50, box_min_times=1, box_max_times=5),
    ("medium", 512): LamaConfig(512, min_times=4, max_times=10, max_width=100, max_len=200, box_proba=0.3,
                                box_margin=0, box_min_size=30, box_max_size=150, box_min_times=1, box_max_times=5),
    ("thick", 256): LamaConfig(256, min_times=1, max_times=5, max_width=100, max_len=200, box_proba=0.3,
                               box_margin=10, box_min_size=30, box_max_size=150, box_min_times=1, box_max_times=3),
    ("thick", 512): LamaConfig(512, min_times=1, max_times=5, max_width=250, max_len=450, box_proba=0.3,
                               box_margin=10, box_min_size=30, box_max_size=300, box_min_times=1, box_max_times=4),
}


def pick_reference(short_side: int) -> int:
    """256 for short sides up to 362 px (sqrt(256 * 512)), else 512."""
    return 256 if short_side * short_side <= 256 * 512 else 512


@dataclass(frozen=True)
class Line:
    """One stroke segment: drawn with ``cv2.line`` from (x0, y0) to (x1, y1), ``thickness`` px wide.

    ``stroke`` is the index of its stroke; ``width`` and ``length`` are the drawn values in the reference's pixels
    (before scaling and clipping), kept so tests can check LaMa's parameter ranges.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    thickness: int
    stroke: int
    width: int
    length: int


@dataclass(frozen=True)
class Rect:
    """One box, ``w`` x ``h`` px with its top-left corner at (x, y); ``w_ref``/``h_ref`` in reference pixels."""

    x: int
    y: int
    w: int
    h: int
    w_ref: int
    h_ref: int


def plan_irregular(cfg: LamaConfig, h: int, w: int, rng: np.random.Generator, scale: float = 1.0) -> list[Line]:
    lines: list[Line] = []
    n_strokes = int(rng.integers(cfg.min_times, cfg.max_times + 2))  # LaMa: min_times .. max_times + 1
    for i in range(n_strokes):
        x0, y0 = int(rng.integers(w)), int(rng.integers(h))
        for _ in range(1 + int(rng.integers(5))):
            angle = 0.01 + int(rng.integers(cfg.max_angle))
            if i % 2 == 0:
                angle = 2 * math.pi - angle
            length = 10 + int(rng.integers(cfg.max_len))
            width = 5 + int(rng.integers(cfg.max_width))
            thickness = max(1, int(round(width * scale)))
            # truncation toward 0, then clip to [0, w] / [0, h], as LaMa does
            x1 = min(max(int(x0 + length * scale * math.sin(angle)), 0), w)
            y1 = min(max(int(y0 + length * scale * math.cos(angle)), 0), h)
            lines.append(Line(x0, y0, x1, y1, thickness, i, width, length))
            x0, y0 = x1, y1
    return lines


def plan_boxes(cfg: LamaConfig, h: int, w: int, rng: np.random.Generator, scale: float = 1.0) -> list[Rect]:
    rects: list[Rect] = []
    # sizes are drawn in the reference's pixels: at scale 1 this is LaMa's min(max + 1, h - 2m, w - 2m)
    hi = min(cfg.box_max_size + 1, int(h / scale) - 2 * cfg.box_margin, int(w / scale) - 2 * cfg.box_margin)
    hi = max(hi, cfg.box_min_size + 1)
    margin = int(round(cfg.box_margin * scale))
    for _ in range(int(rng.integers(cfg.box_min_times, cfg.box_max_times + 1))):
        bw_ref = int(rng.integers(cfg.box_min_size, hi))
        bh_ref = int(rng.integers(cfg.box_min_size, hi))
        bw = min(max(1, int(round(bw_ref * scale))), max(1, w - 2 * margin))
        bh = min(max(1, int(round(bh_ref * scale))), max(1, h - 2 * margin))
        x = int(rng.integers(margin, max(margin, w - margin - bw) + 1))
        y = int(rng.integers(margin, max(margin, h - margin - bh) + 1))
        rects.append(Rect(x, y, bw, bh, bw_ref, bh_ref))
    return rects


def plan_mask(cfg: LamaConfig, h: int, w: int, rng: np.random.Generator,
              scale: float = 1.0) -> list[Line] | list[Rect]:
    """One draw of LaMa's MixedMaskGenerator (irregular w.p. 1 / (1 + box_proba), else boxes), as primitives."""
    if cfg.box_proba > 0 and rng.random() >= 1.0 / (1.0 + cfg.box_proba):
        return plan_boxes(cfg, h, w, rng, scale)
    return plan_irregular(cfg, h, w, rng, scale)


def render(prims: list, h: int, w: int) -> np.ndarray:
    canvas = np.zeros((h, w), dtype=np.uint8)
    for p in prims:
        if isinstance(p, Line):
            cv2.line(canvas, (p.x0, p.y0), (p.x1, p.y1), 1, p.thickness)
        else:
            canvas[p.y:p.y + p.h, p.x:p.x + p.w] = 1
    return canvas.astype(bool)


class LamaMask(MaskStrategy):
    """LaMa's irregular masks (base class; use lama-thin / lama-medium / lama-thick)."""

    variant: str = "?"

    def __init__(self, reference: int | None = None, max_hole: float = 0.5, max_tries: int = 200) -> None:
        if reference is not None and reference not in REFERENCE_SIZES:
            raise ValueError(f"reference must be one of {', '.join(map(str, REFERENCE_SIZES))} (LaMa's configs) "
                             f"or omitted to follow the image size, got {reference}")
        if not 0.0 < float(max_hole) <= 1.0:
            raise ValueError(f"max_hole must be in (0, 1], got {max_hole}")
        if max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {max_tries}")
        self.reference = reference
        self.max_hole = float(max_hole)
        self.max_tries = int(max_tries)

    def config(self, h: int, w: int) -> tuple[LamaConfig, float]:
        """The LaMa config for an image of h x w and the scale applied to its pixel lengths."""
        short = min(h, w)
        ref = self.reference or pick_reference(short)
        return LAMA_CONFIGS[(self.variant, ref)], short / ref

    def generate(self, sample: Sample, rng: np.random.Generator) -> np.ndarray:
        h, w = image_size(sample)
        return self.draw(h, w, rng, sample.id)

    def draw(self, h: int, w: int, rng: np.random.Generator, sample_id: str = "?") -> np.ndarray:
        cfg, scale = self.config(h, w)
        for _ in range(self.max_tries):
            mask = render(plan_mask(cfg, h, w, rng, scale), h, w)
            if mask.mean() <= self.max_hole:
                return mask
        raise DataError(f"sample '{sample_id}': {self.registry_name} drew {self.max_tries} masks, all above "
                        f"max_hole={self.max_hole}; raise max_hole or max_tries")


class LamaThin(LamaMask):
    """LaMa's thin irregular strokes (random_thin_256/512), hole area capped at 50 %."""

    variant = "thin"


class LamaMedium(LamaMask):
    """LaMa's medium strokes or boxes (random_medium_256/512), hole area capped at 50 %."""

    variant = "medium"


class LamaThick(LamaMask):
    """LaMa's thick strokes or boxes (random_thick_256/512), hole area capped at 50 %."""

    variant = "thick"
