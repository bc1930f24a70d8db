"""Mask strategies: where the hole is. Built-ins are registered lazily (imported on first use)."""
from ..registry import MASKS

MASKS.lazy("given", "bench.masks.basic:GivenMask",
           "The dataset's own mask (object removal; ground truth is the dataset's clean image when it has one).")
MASKS.lazy("box", "bench.masks.basic:BoxMask",
           "Axis-aligned rectangles; each side a uniform fraction of the image side in [min_size, max_size].")
MASKS.lazy("dilate", "bench.masks.basic:DilateMask",
           "Grows another strategy's mask by k pixels (Euclidean disk), e.g. object masks that miss edges/shadows.")
MASKS.lazy("lama-thin", "bench.masks.lama:LamaThin",
           "LaMa's thin irregular strokes (random_thin_256/512), hole area capped at 50 %.")
MASKS.lazy("lama-medium", "bench.masks.lama:LamaMedium",
           "LaMa's medium strokes or boxes (random_medium_256/512), hole area capped at 50 %.")
MASKS.lazy("lama-thick", "bench.masks.lama:LamaThick",
           "LaMa's thick strokes or boxes (random_thick_256/512), hole area capped at 50 %.")
