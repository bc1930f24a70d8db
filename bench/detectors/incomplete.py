"""``incomplete``: object removal left (part of) the object in place."""
from __future__ import annotations

import cv2
import numpy as np

from ..types import EvalBatch
from ._util import crop_box, hwc, mask2d, nan_array, pushpull
from .thresholds import CalibratedDetector


class IncompleteDetector(CalibratedDetector):
    """Object still there after removal: share of the hole where the fill still shows the input's pixels.

    The input (not blanked) holds the object to remove under the mask. ``incomplete_score`` = the fraction of
    the hole's *object* pixels where the fill matches the input within ``tol`` (mean absolute difference over a
    3x3 neighbourhood and the channels). The object pixels are those where the input differs by more than
    ``2 tol`` from the background:

    * with ground truth, the truth (a grey object on a grey wall leaves nothing to detect there); a sample whose
      ground truth *is* the input under the mask (reconstruction: generated masks) is not judged (NaN): there,
      reproducing the input is the right answer;
    * without it (object removal photographed once), the surroundings' smooth interpolation into the hole
      (push-pull, :func:`bench.detectors._util.pushpull`): an object mask is drawn with a margin, and a good fill
      reproduces the backdrop of that margin (sky around a bird, a wall around a lamp) as the input shows it, which
      is no object left behind. Where the backdrop is textured, its pixels count too (they stand out from a smooth
      interpolation), and a new texture does not match them: they only dilute the score of a fill that kept the
      object.

    Fewer than ``max(min_pixels, 2 %)`` of the hole's pixels standing out: nothing to remove there, NaN.
    """

    version = 2  # 2: without ground truth, only the pixels that stand out from the surroundings count

    key = "incomplete"

    def __init__(self, threshold: float | None = None, tol: float = 0.03, min_pixels: int = 16,
                 thresholds: str | None = None) -> None:
        self.tol = float(tol)
        self.min_pixels = int(min_pixels)
        self._thresholds(thresholds, threshold=threshold)

    def scores(self, batch: EvalBatch) -> dict[str, np.ndarray]:
        b = batch.size
        score = nan_array(b)
        has_gt = batch.has_gt.bool().cpu().tolist()
        for i in range(b):
            m = mask2d(batch.mask[i])
            if not m.any():
                continue
            ys, xs = crop_box(m, 2 if has_gt[i] else 8)  # without truth, a ring to interpolate from
            m = m[ys, xs]
            # (NumPy's comparison, not torch.equal: torch's thread pool costs milliseconds on a busy machine)
            if has_gt[i] and np.array_equal(batch.gt[i][:, ys, xs].detach().cpu().numpy(),
                                            batch.input[i][:, ys, xs].detach().cpu().numpy()):
                continue  # reconstruction: the truth is the input under the hole (the rule below, without the work)
            inp = hwc(batch.input[i][:, ys, xs])
            if has_gt[i]:
                background = hwc(batch.gt[i][:, ys, xs])
            else:
                background = pushpull(inp, (~m).astype(np.float32))
            d_bg = cv2.blur(np.abs(background - inp).mean(2), (3, 3))
            sel = m & (d_bg > 2 * self.tol)  # where there was an object to remove
            if int(sel.sum()) < max(self.min_pixels, 0.02 * m.sum()):
                continue  # nothing under the hole differs from the background (with truth: reconstruction)
            d_out = cv2.blur(np.abs(hwc(batch.output[i][:, ys, xs]) - inp).mean(2), (3, 3))
            score[i] = float((d_out[sel] <= self.tol).mean())
        return {"incomplete_score": score}

    def provenance(self):
        return {**super().provenance(), "tol": self.tol, "min_pixels": self.min_pixels}
