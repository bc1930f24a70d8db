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

Images with no instance that passes are left out (their number is in the provenance). Ids are sorted; ``limit``
keeps the first N.

What the masks mean, ``task``: **removal** (default): the photo shows the object and COCO has no clean
background, so nothing inside the hole can be scored: use ``*_out`` metrics, FID/KID on composites and the failure
detectors, with ``select: absent`` as a reference set of photographs free of the class. **reconstruction**: object-shaped
holes over the original photo, which is the ground truth (``*_in`` metrics score how well the object is restored).

Masks are decoded with ``pycocotools`` (``pip install 'inpaint-bench[coco]'``), the library every COCO tool uses, so a
mask is pixel for pixel what ``COCO.annToMask`` gives: polygons (pixel *i* spans [i, i + 1)), uncompressed RLE
(crowd regions) and compressed RLE. Polygons with fewer than three points are ignored, as detectron2 does.

Error policy: a missing annotations file or image folder, a file that is not COCO-format JSON, an unknown category
(with the closest names), or a bad option is a configuration error at construction. An image file that is missing
or unreadable, an image whose size differs from the annotation's ``width``/``height``, or a segmentation that cannot
be decoded is a :class:`~bench.errors.DataError` for that sample, naming the file and the annotation id.
"""
from __future__ import annotations

import difflib
import json
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..io import read_image
from ..types import Sample
from ..weights import file_sha256
from .base import ResizableDataset, finish_sample
from .folder import TASKS, stem_id

SELECT = ("largest", "each", "union", "absent")


def require_pycocotools():
    try:
        from pycocotools import mask as mask_utils
        # pycocotools 2.0.x's decode passes copy=False to its own array class under NumPy 2 (harmless; noisy)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
    except ImportError as e:
        raise ConfigError("type", f"coco datasets need the `pycocotools` package ({e}); install it with "
                                  f"pip install 'inpaint-bench[coco]'") from e
    return mask_utils


def _file_name(im: dict) -> str:
    """An image entry's file, relative to ``images``: ``file_name`` (COCO), else the last two parts of ``coco_url``
    (LVIS v1 gives only the URL, ``http://images.cocodataset.org/val2017/000000397133.jpg``, and draws its images
    from both train2017/ and val2017/)."""
    if "file_name" in im:
        return str(im["file_name"])
    return "/".join(str(im["coco_url"]).rstrip("/").split("/")[-2:])


class CocoDataset(ResizableDataset):
    """Object masks from COCO-format instance annotations (COCO, LVIS): one object per sample, for removal.

    Parameters: ``annotations`` (the instances JSON), ``images`` (the folder of its ``file_name`` entries),
    ``select`` (largest | each | union | absent), ``categories`` (names or ids; default all), ``min_area`` / ``max_area``
    (an instance's area over the image area), ``crowd`` (keep iscrowd regions), ``task`` (removal | reconstruction),
    ``limit``, ``resize`` (as for folders). See the module doc.
    """

    def __init__(self, annotations: str, images: str, select: str = "largest", categories: list | None = None,
                 min_area: float = 0.01, max_area: float = 0.5, crowd: bool = False, task: str = "removal",
                 limit: int | None = None, resize: int | str | None = None):
        self.mask_utils = require_pycocotools()
        self.annotations = Path(annotations).expanduser()
        self.images = Path(images).expanduser()
        if not self.annotations.is_file():
            raise ConfigError("annotations", f"file '{self.annotations}' does not exist (COCO's is "
                                             f"annotations/instances_val2017.json in annotations_trainval2017.zip)")
        if not self.images.is_dir():
            raise ConfigError("images", f"folder '{self.images}' does not exist (the folder the annotations' "
                                        f"file_name entries are in, e.g. val2017/)")
        if select not in SELECT:
            raise ConfigError("select", f"expected one of {', '.join(SELECT)}, got {select!r}")
        if task not in TASKS:
            raise ConfigError("task", f"expected one of {', '.join(TASKS)}, got {task!r}")
        for key, v in (("min_area", min_area), ("max_area", max_area)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise ConfigError(key, f"a fraction of the image area in [0, 1], got {v!r}")
        if select == "absent" and categories is None:
            raise ConfigError("categories", "select: absent lists the images that show none of the given categories "
                                            "(a reference set); say which categories")
        if min_area > max_area:
            raise ConfigError("min_area", f"min_area {min_area} is above max_area {max_area}")
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
        try:
            with open(self.annotations, "rb") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ConfigError("annotations", f"{self.annotations}: not readable JSON ({e})") from None
        if not isinstance(data, dict):
            raise ConfigError("annotations", f"{self.annotations}: expected a COCO mapping with images, "
                                             f"annotations and categories, got {type(data).__name__}")
        for key in ("images", "annotations", "categories"):
            if not isinstance(data.get(key), list):
                raise ConfigError("annotations", f"{self.annotations}: no '{key}' list; this is not a COCO-format "
                                                 f"instances file (keys: {', '.join(map(str, data))[:200]})")
        try:
            cats = {int(c["id"]): str(c["name"]) for c in data["categories"]}
            images = {int(im["id"]): {"file_name": _file_name(im), "height": int(im["height"]),
                                      "width": int(im["width"])} for im in data["images"]}
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError("annotations", f"{self.annotations}: a category or image entry lacks {e} "
                                             f"(needs id and name; id, file_name or coco_url, height and "
                                             f"width)") from None
        self.categories = self._resolve_categories(categories, cats)
        self._images = images
        chosen: dict[int, list[dict]] = {}
        shown: set[int] = set()  # images with any instance of the categories (for select: absent)
        self.n_annotations = len(data["annotations"])
        for a in data["annotations"]:
            try:
                image_id, cat, area = int(a["image_id"]), int(a["category_id"]), float(a["area"])
                a["segmentation"], int(a["id"])
            except (KeyError, TypeError, ValueError) as e:
                raise ConfigError("annotations", f"{self.annotations}: annotation {a.get('id', '?')} lacks {e} "
                                                 f"(needs id, image_id, category_id, segmentation, area)") from None
            if self.categories is not None and cat not in self.categories:
                continue
            shown.add(image_id)
            if a.get("iscrowd", 0) and not self.crowd:
                continue
            im = images.get(image_id)
            if im is None:
                continue
            frac = area / max(1, im["height"] * im["width"])
            if not self.min_area <= frac <= self.max_area:
                continue
            chosen.setdefault(image_id, []).append(a)
        if self.select == "absent":  # every image that shows none of the categories, crowd regions included
            chosen = {i: [] for i in images if i not in shown}
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

    def _resolve_categories(self, wanted: list | None, cats: dict[int, str]) -> set[int] | None:
        if wanted is None:
            return None
        if not isinstance(wanted, list) or not wanted:
            raise ConfigError("categories", f"a non-empty list of category names or ids, got {wanted!r}")
        by_name = {n: i for i, n in cats.items()}
        out: set[int] = set()
        for j, w in enumerate(wanted):
            if isinstance(w, int) and not isinstance(w, bool):
                if w not in cats:
                    raise ConfigError(f"categories[{j}]", f"no category with id {w} in {self.annotations.name}")
                out.add(w)
            elif isinstance(w, str) and w in by_name:
                out.add(by_name[w])
            else:
                close = difflib.get_close_matches(str(w), list(by_name), n=3)
                hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                raise ConfigError(f"categories[{j}]", f"unknown category {w!r} in {self.annotations.name}{hint}")
        return out

    def ids(self) -> list[str]:
        return list(self._ids)

    # -- loading ------------------------------------------------------------------------------------------
    def _decode(self, ann: dict, h: int, w: int, where: str) -> np.ndarray:
        seg = ann["segmentation"]
        try:
            if isinstance(seg, list):  # polygons: [[x0, y0, x1, y1, ...], ...]
                polys = [[float(v) for v in p] for p in seg if isinstance(p, list) and len(p) >= 6]
                if not polys:
                    raise ValueError("no polygon with three points or more")
                polys = [p[: len(p) - len(p) % 2] for p in polys]
                rle = self.mask_utils.merge(self.mask_utils.frPyObjects(polys, h, w))
            elif isinstance(seg, dict) and isinstance(seg.get("counts"), list):  # uncompressed RLE
                rle = self.mask_utils.frPyObjects(seg, h, w)
            elif isinstance(seg, dict) and isinstance(seg.get("counts"), (str, bytes)):  # compressed RLE
                counts = seg["counts"].encode("ascii") if isinstance(seg["counts"], str) else seg["counts"]
                rle = {"size": [int(s) for s in seg["size"]], "counts": counts}
            else:
                raise ValueError(f"neither polygons nor RLE ({type(seg).__name__})")
            if [int(s) for s in rle["size"]] != [h, w]:
                raise ValueError(f"RLE size {list(rle['size'])} is not the image's {h}x{w}")
            m = self.mask_utils.decode(rle)
        except (ValueError, TypeError, KeyError, OverflowError) as e:
            raise DataError(f"{where}: annotation {ann.get('id')}: segmentation cannot be decoded ({e})") from None
        return np.asarray(m, dtype=bool)

    def load(self, sample_id: str) -> Sample:
        if sample_id not in self._samples:
            raise DataError(f"{self.annotations}: no sample '{sample_id}'")
        image_id, anns = self._samples[sample_id]
        info = self._images[image_id]
        path = self.images / info["file_name"]
        if not path.is_file() and (self.images / path.name).is_file():  # LVIS: all images in one folder
            path = self.images / path.name
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
                mask |= self._decode(a, h, w, str(path))
            if not mask.any():
                raise DataError(f"{path}: annotation(s) {[int(a['id']) for a in anns]} give an empty mask")
            mask = torch.from_numpy(mask)[None]
        image, m, gt = finish_sample(image, mask, None, self.task, self.target_size)
        meta: dict[str, Any] = {"path": str(path), "native_size": [h, w], "image_id": image_id,
                                "annotation_ids": [int(a["id"]) for a in anns],
                                "category_ids": sorted({int(a["category_id"]) for a in anns})}
        return Sample(id=sample_id, image=image, mask=m, gt=gt, meta=meta)

    def provenance(self) -> dict[str, Any]:
        if not hasattr(self, "_sha"):
            self._sha = file_sha256(self.annotations)
        return {
            "type": "coco",
            "annotations": str(self.annotations.resolve()),
            "annotations_sha256": self._sha,
            "images": str(self.images.resolve()),
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
