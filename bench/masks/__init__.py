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
MASKS.lazy("comodgan", "bench.masks.freeform:CoModGANMask",
           "CoModGAN's free-form masks (boxes + brush strokes); hole_range [lo, hi] for its -h0..-h4 buckets.")
MASKS.lazy("mat-large", "bench.masks.freeform:MatLargeMask",
           "MAT's large free-form masks (mask_generator_512 / _256 by image size); optional hole_range.")
MASKS.lazy("mat-small", "bench.masks.freeform:MatSmallMask",
           "MAT's small free-form masks (mask_generator_512_small / _256_small by image size); optional hole_range.")
MASKS.lazy("outpaint", "bench.masks.freeform:OutpaintMask",
           "Outpainting bands along the chosen sides (all four by default), a fraction of the image side each.")
MASKS.lazy("object", "bench.masks.object:ObjectMask",
           "Object-shaped holes: real objects' outlines from a COCO-format file, at their own share of the image.")
