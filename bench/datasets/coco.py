"""Object masks from COCO-format instance annotations (COCO, LVIS, or your own in that format).

    datasets:
      - type: coco
        annotations: data/coco/annotations/instances_val2017.json
        images: data/coco/val2017            # the folder the annotations' file_name entries are in
        select: largest                      # largest | each | union | absent (below)
        categories: [dog, cat]               # names or ids; default: every category
        min_area: 0.01                       # an instance's area (the annotation's `area`) over the image's w x h
        max_area: 0.5
        crowd: false                         # iscrowd annotations (crowd regions) are left out unless true
        task: removal                        # removal (default) | reconstruction
        # limit: N, resize: null | INT | suite (as for folders)

LVIS v1 entries have no ``file_name``: the image is found at ``images/<folder>/<name>`` from its ``coco_url``
(``images`` is then the folder holding train2017/ and val2017/), or at ``images/<name>``.

Each sample is an image with one object mask, for the ``given`` strategy (and ``dilate`` over it):

* ``select: largest``: one sample per image, its largest instance that passes the filters; id = the file's stem.
* ``select: each``: one sample per instance that passes; id = ``<stem>_<annotation id>``.
* ``select: union``: one sample per image, the union of every instance that passes; id = the file's stem.
* ``select: absent``: the images that show **none** of ``categories`` (no instance of any size, crowd regions
  included), without a mask: a reference set for FID/KID (``metrics: [{type: fid, reference: {type: coco, ...,
  select: absent}}]``), the comparison Oh et al. (arXiv 2404.11104) propose for class-wise removal on COCO.

Images with no instance that passes are left out (the provenance counts the images selected,
``images_selected``). Ids are sorted; ``limit`` keeps the first N.

What the masks mean, ``task``: **removal** (default): the photo shows the object and COCO has no clean
background, so nothing inside the hole can be scored: use ``*_out`` metrics, FID/KID on composites and the failure
detectors, with ``select: absent`` as a reference set of photographs free of the class. **reconstruction**:
object-shaped holes over the original photo, which is the ground truth (``*_in`` metrics score how well the object
is restored; the ``object`` mask strategy puts such outlines on any photograph).

Masks are decoded with ``pycocotools`` (``pip install 'inpaint-bench[coco]'``), the library every COCO tool uses, so a
mask is pixel for pixel what ``COCO.annToMask`` gives: polygons (pixel *i* spans [i, i + 1)), uncompressed RLE
(crowd regions) and compressed RLE. Polygons with fewer than three points are ignored, as detectron2 does.

Error policy: a missing annotations file or image folder, a file that is not COCO-format JSON, an unknown category
(with the closest names), or a bad option is a configuration error at construction. An image file that is missing
or unreadable, an image whose size differs from the annotation's ``width``/``height``, or a segmentation that cannot
be decoded is a :class:`~bench.errors.DataError` for that sample, naming the file and the annotation id.
"""
from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..coco_format import check_area_range, decode, read_instances, require_pycocotools
from ..errors import ConfigError, DataError
from ..io import read_image
from ..types import Sample
from ..fsio import file_sha256
from .base import ResizableDataset, finish_sample
from .folder import TASKS, stem_id

SELECT = ("largest", "each", "union", "absent")


class CocoDataset(ResizableDataset):
    """Object masks from COCO-format instance annotations (COCO, LVIS): one object per sample, for removal.

    Parameters: ``annotations`` (the instances JSON), ``images`` (the folder of its ``file_name`` entries),
    ``select`` (largest | each | union | absent), ``categories`` (names or ids; default all), ``min_area`` /
    ``max_area`` (an instance's area over the image area), ``crowd`` (keep iscrowd regions), ``task`` (removal |
    reconstruction), ``limit``, ``resize`` (as for folders). See the module doc.
    """

    def __init__(self, annotations: str, images: str, select: str = "largest", categories: list | None = None,
                 min_area: float = 0.01, max_area: float = 0.5, crowd: bool = False, task: str = "removal",
                 limit: int | None = None, resize: int | str | None = None):
        self.mask_utils = require_pycocotools()
        self.annotations = Path(annotations).expanduser()
        self.images = Path(images).expanduser()
        if not self.images.is_dir():
            raise ConfigError("images", f"folder '{self.images}' does not exist (the folder the annotations' "
                                        f"file_name entries are in, e.g. val2017/)")
        if select not in SELECT:
            raise ConfigError("select", f"expected one of {', '.join(SELECT)}, got {select!r}")
        if task not in TASKS:
            raise ConfigError("task", f"expected one of {', '.join(TASKS)}, got {task!r}")
        check_area_range(min_area, max_area)
        if select == "absent" and categories is None:
            raise ConfigError("categories", "select: absent lists the images that show none of the given categories "
                                            "(a reference set); say which categories")
        self.check_limit_and_resize(limit, resize)
        self.select, self.task, self.crowd = select, task, bool(crowd)
        self.min_area, self.max_area = float(min_area), float(max_area)
        self.limit, self.resize = limit, resize
        self._read_annotations(categories)

    @property
    def provides_masks(self) -> bool:  # type: ignore[override]
        return self.select != "absent"

    @property
    def gt_for_masks(self) -> bool:  # type: ignore[override]
        return self.task == "reconstruction"

    # -- listing ------------------------------------------------------------------------------------------
    def _read_annotations(self, categories: list | None) -> None:
        data = read_instances(self.annotations)
        self.categories = data.resolve_categories(categories)
        images = self._images = data.images
        self.n_annotations = len(data.annotations)
        chosen: dict[int, list[dict]] = {}
        if self.select == "absent":  # every image that shows none of the categories (any size, crowd regions too)
            shown = {int(a["image_id"]) for a in data.annotations if int(a["category_id"]) in self.categories}
            chosen = {i: [] for i in images if i not in shown}
        else:
            for a in data.select(self.categories, self.min_area, self.max_area, crowd=self.crowd):
                chosen.setdefault(int(a["image_id"]), []).append(a)
        samples: dict[str, tuple[int, list[dict]]] = {}
        stems: dict[str, int] = {}
        for image_id, anns in chosen.items():
            stem = stem_id(Path(images[image_id]["file_name"]))
            if stems.setdefault(stem, image_id) != image_id:
                raise ConfigError("annotations", f"{self.annotations}: images {stems[stem]} and {image_id} have "
                                                 f"the same file stem '{stem}' (sample ids are stems)")
            if self.select == "each":
                for a in anns:
                    samples[f"{stem}_{int(a['id'])}"] = (image_id, [a])
            elif self.select == "absent":
                samples[stem] = (image_id, [])
            elif self.select == "largest":
                samples[stem] = (image_id, [max(anns, key=lambda a: (float(a["area"]), -int(a["id"])))])
            else:
                samples[stem] = (image_id, sorted(anns, key=lambda a: int(a["id"])))
        self._samples = samples
        self.n_images_kept = len(chosen)
        ids = sorted(samples)
        self._ids = ids[: self.limit] if self.limit is not None else ids

    def ids(self) -> list[str]:
        return list(self._ids)

    # -- loading ------------------------------------------------------------------------------------------
    def _image_path(self, image_id: Any) -> Path:
        path = self.images / self._images[image_id]["file_name"]
        if not path.is_file() and (self.images / path.name).is_file():  # LVIS: all images in one folder
            path = self.images / path.name
        return path

    def _listing_sha256(self) -> str:
        """A fingerprint of the selected samples' image files (name, size and modification time, as the folder
        dataset's): an image replaced under its name changes it, and a run then checks its stored outputs again."""
        h = hashlib.sha256()
        for sid in self._ids:
            path = self._image_path(self._samples[sid][0])
            try:
                st = path.stat()
                h.update(f"{sid}\x00{path.name}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
            except OSError:
                h.update(f"{sid}\x00missing\n".encode("utf-8", "surrogateescape"))
        return h.hexdigest()

    def load(self, sample_id: str) -> Sample:
        if sample_id not in self._samples:
            raise DataError(f"{self.annotations}: no sample '{sample_id}'")
        image_id, anns = self._samples[sample_id]
        info = self._images[image_id]
        path = self._image_path(image_id)
        if not path.is_file():
            raise DataError(f"{path}: image file missing (image id {image_id} of {self.annotations.name})")
        image = read_image(path)
        h, w = info["height"], info["width"]
        if tuple(image.shape[-2:]) != (h, w):
            raise DataError(f"{path}: image is {image.shape[-2]}x{image.shape[-1]} (HxW) but "
                            f"{self.annotations.name} says {h}x{w} for image id {image_id}")
        mask = None
        if anns:
            mask = np.zeros((h, w), dtype=bool)
            for a in anns:
                mask |= decode(self.mask_utils, a, h, w, str(path))
            if not mask.any():
                raise DataError(f"{path}: annotation(s) {[int(a['id']) for a in anns]} give an empty mask")
            mask = torch.from_numpy(mask)[None]
        image, m, gt = finish_sample(image, mask, None, self.task, self.target_size)
        meta: dict[str, Any] = {"path": str(path), "native_size": [h, w], "image_id": image_id,
                                "annotation_ids": [int(a["id"]) for a in anns],
                                "category_ids": sorted({int(a["category_id"]) for a in anns})}
        return Sample(id=sample_id, image=image, mask=m, gt=gt, meta=meta)

    def provenance(self) -> dict[str, Any]:
        return {
            "type": "coco",
            "annotations": str(self.annotations.resolve()),
            "annotations_sha256": file_sha256(self.annotations),  # (hashed once per file version)
            "images": str(self.images.resolve()),
            "listing_sha256": self._listing_sha256(),
            "select": self.select,
            "categories": sorted(self.categories) if self.categories is not None else None,
            "min_area": self.min_area,
            "max_area": self.max_area,
            "crowd": self.crowd,
            "task": self.task,
            "annotation_count": self.n_annotations,
            "images_selected": self.n_images_kept,
            "count": len(self._ids),
            "limit": self.limit,
            "resize": self.resize,
            "resolution": self.target_size,
            "pycocotools": metadata.version("pycocotools"),
        }
