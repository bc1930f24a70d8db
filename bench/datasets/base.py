"""The dataset protocol: a list of stable sample ids, and a loader for one id."""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..types import Sample


class Dataset:
    """Base class for datasets.

    The runner calls ``bind(resolution=..., seed=...)`` once, then ``ids()``; it loads only the samples it still
    has to compute (resume never decodes finished work). ``load`` raises :class:`bench.errors.DataError` naming the
    file for unreadable or inconsistent items; the runner records that as an error row for that sample.
    """

    registry_name: str = "?"
    resolution: int | None = None
    seed: int = 0
    #: Whether samples carry a mask of their own (what the ``given`` strategy needs): True / False, or None when
    #: unknown until files are listed. Lets ``bench validate`` reject ``given`` on a dataset without masks.
    provides_masks: bool | None = None
    #: Whether a sample's own mask has ground truth (reconstruction: the image; removal: a clean background):
    #: True / False, or None when unknown. ``bench validate`` refuses ground-truth metrics where it is False.
    gt_for_masks: bool | None = None

    def bind(self, *, resolution: int | None, seed: int) -> None:
        self.resolution = resolution
        self.seed = seed

    def ids(self) -> list[str]:
        raise NotImplementedError

    def load(self, sample_id: str) -> Sample:
        raise NotImplementedError

    def provenance(self) -> dict[str, Any]:
        """Facts that identify the data (root path, count, generator version...)."""
        return {}


class ResizableDataset(Dataset):
    """A dataset of real images with the folder rules for ``limit`` and ``resize`` (``null`` = native size, an int =
    centre square crop + resize to that side, ``"suite"`` = the suite resolution)."""

    limit: int | None = None
    resize: int | str | None = None

    @staticmethod
    def check_limit_and_resize(limit: Any, resize: Any) -> None:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ConfigError("limit", f"must be an integer >= 0, got {limit!r}")
        if isinstance(resize, str) and resize != "suite":
            raise ConfigError("resize", f"expected an integer, 'suite' or null, got {resize!r}")
        if isinstance(resize, int) and not isinstance(resize, bool) and resize < 1:
            raise ConfigError("resize", f"must be a positive integer, got {resize}")

    @property
    def target_size(self) -> int | None:
        """The square side samples are resized to, or None for native size."""
        if self.resize == "suite":
            return int(self.resolution) if self.resolution else None
        return self.resize if isinstance(self.resize, int) else None


def cropped_hole_note(before, after, target: int | None) -> str | None:
    """Why a dataset mask with a hole in its file has none after loading (for the error message), else None: the
    centre square that ``resize`` keeps left it out, or the nearest-neighbour resize to ``target`` skipped every
    hole pixel (a hole thinner than the resize step)."""
    from ..io import center_crop_square

    if before is None or after is None or target is None or bool(after.any()) or not bool(before.any()):
        return None
    h, w = before.shape[-2:]
    kept = center_crop_square(before)
    if bool(kept.any()):
        side = kept.shape[-1]
        return (f"the file's hole ({int(before.sum())} px at {w}×{h}) is thinner than the resize step: the "
                f"nearest-neighbour resize from {side}×{side} to {target}×{target} skipped every hole pixel (use a "
                f"larger resolution, or thicker masks)")
    return (f"the file's hole ({int(before.sum())} px at {w}×{h}) lies outside the centre square that resize to "
            f"{target} px keeps")


def finish_sample(image, mask, gt, task: str | None, target: int | None):
    """What every dataset with its own masks does last: for ``task: reconstruction`` the image is the ground truth
    of its masks; with a ``target`` size, centre-crop and resize all three together (masks nearest)."""
    from ..io import fit_square

    if mask is not None and task == "reconstruction":
        gt = image  # the image is the original: the ground truth of its masks
    if target is not None:
        image = fit_square(image, target)
        mask = fit_square(mask, target) if mask is not None else None
        gt = image if gt is not None and task == "reconstruction" else (
            fit_square(gt, target) if gt is not None else None)
    return image, mask, gt
