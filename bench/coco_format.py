"""COCO-format instance annotations (COCO, LVIS): reading the file and decoding one instance's mask.

Shared by the ``coco`` dataset (objects in their own photographs) and the ``object`` mask strategy (object outlines
as holes in any photograph). Masks are decoded by ``pycocotools`` (``pip install 'inpaint-bench[coco]'``), the
library every COCO tool uses, so an instance's mask is pixel for pixel what ``COCO.annToMask`` gives: polygons
(pixel *i* spans [i, i + 1)), uncompressed RLE (crowd regions) and compressed RLE. Polygons with fewer than three
points are ignored, as detectron2 does.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, DataError, suggestions


def require_pycocotools(what: str = "coco datasets"):
    try:
        from pycocotools import mask as mask_utils
        # pycocotools 2.0.x's decode passes copy=False to its own array class under NumPy 2 (harmless; noisy)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
    except ImportError as e:
        raise ConfigError("type", f"{what} need the `pycocotools` package ({e}); install it with "
                                  f"pip install 'inpaint-bench[coco]'") from e
    return mask_utils


def file_name(im: dict) -> str:
    """An image entry's file, relative to the image folder: ``file_name`` (COCO), else the last two parts of
    ``coco_url`` (LVIS v1 gives only the URL, ``http://images.cocodataset.org/val2017/000000397133.jpg``, and
    draws its images from both train2017/ and val2017/)."""
    if "file_name" in im:
        return str(im["file_name"])
    return "/".join(str(im["coco_url"]).rstrip("/").split("/")[-2:])


@dataclass
class Instances:
    """A COCO-format file, read and checked: ``images`` (id -> file_name, height, width), ``annotations`` (each
    checked to have id, image_id, category_id, segmentation and area) and ``categories`` (id -> name)."""

    path: Path
    images: dict[int, dict[str, Any]]
    annotations: list[dict]
    categories: dict[int, str]

    def resolve_categories(self, wanted: list | None) -> set[int] | None:
        """Category names or ids -> ids (None = every category); unknown ones are a ConfigError naming
        ``categories[j]`` with the closest names."""
        if wanted is None:
            return None
        if not isinstance(wanted, list) or not wanted:
            raise ConfigError("categories", f"a non-empty list of category names or ids, got {wanted!r}")
        by_name = {n: i for i, n in self.categories.items()}
        out: set[int] = set()
        for j, w in enumerate(wanted):
            if isinstance(w, int) and not isinstance(w, bool):
                if w not in self.categories:
                    raise ConfigError(f"categories[{j}]", f"no category with id {w} in {self.path.name}")
                out.add(w)
            elif isinstance(w, str) and w in by_name:
                out.add(by_name[w])
            else:
                close = suggestions(str(w), list(by_name), n=3)
                hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                raise ConfigError(f"categories[{j}]", f"unknown category {w!r} in {self.path.name}{hint}")
        return out

    def select(self, categories: set[int] | None, min_area: float, max_area: float,
               crowd: bool = False) -> list[dict]:
        """The annotations of ``categories`` (None: every one) whose :meth:`area_fraction` is in [``min_area``,
        ``max_area``], crowd regions only with ``crowd``, in file order."""
        out = []
        for a in self.annotations:
            if categories is not None and int(a["category_id"]) not in categories:
                continue
            if a.get("iscrowd", 0) and not crowd:
                continue
            frac = self.area_fraction(a)
            if frac is not None and min_area <= frac <= max_area:
                out.append(a)
        return out

    def area_fraction(self, ann: dict) -> float | None:
        """The annotation's ``area`` over its image's width x height (None when the image is not listed)."""
        im = self.images.get(int(ann["image_id"]))
        if im is None:
            return None
        return float(ann["area"]) / max(1, im["height"] * im["width"])


def check_area_range(min_area: Any, max_area: Any) -> None:
    """``min_area`` and ``max_area``: fractions of the image area in [0, 1], in order."""
    for key, v in (("min_area", min_area), ("max_area", max_area)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
            raise ConfigError(key, f"a fraction of the image area in [0, 1], got {v!r}")
    if min_area > max_area:
        raise ConfigError("min_area", f"min_area {min_area} is above max_area {max_area}")


def read_instances(path: str | Path, key: str = "annotations") -> Instances:
    """Read a COCO-format instances file; anything that is not one is a ConfigError naming ``key``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(key, f"file '{path}' does not exist (COCO's is annotations/instances_val2017.json in "
                               f"annotations_trainval2017.zip)")
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(key, f"{path}: not readable JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(key, f"{path}: expected a COCO mapping with images, annotations and categories, got "
                               f"{type(data).__name__}")
    for k in ("images", "annotations", "categories"):
        if not isinstance(data.get(k), list):
            raise ConfigError(key, f"{path}: no '{k}' list; this is not a COCO-format instances file (keys: "
                                   f"{', '.join(map(str, data))[:200]})")
    try:
        cats = {int(c["id"]): str(c["name"]) for c in data["categories"]}
        images = {int(im["id"]): {"file_name": file_name(im), "height": int(im["height"]), "width": int(im["width"])}
                  for im in data["images"]}
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(key, f"{path}: a category or image entry lacks {e} (needs id and name; id, file_name or "
                               f"coco_url, height and width)") from None
    for a in data["annotations"]:
        try:
            int(a["image_id"]), int(a["category_id"]), float(a["area"]), a["segmentation"], int(a["id"])
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(key, f"{path}: annotation {a.get('id', '?') if isinstance(a, dict) else '?'} lacks "
                                   f"{e} (needs id, image_id, category_id, segmentation, area)") from None
    return Instances(path, images, data["annotations"], cats)


#: polygon coordinates this many image sides beyond the image are refused (pycocotools rasterises the whole
#: polygon: a coordinate of 1e8, or NaN, crashes the process)
POLYGON_REACH = 4


def rle_counts(counts: str | bytes) -> list[int]:
    """The run lengths of a compressed COCO RLE string (the format of pycocotools' ``rleToString``: each count in
    5-bit groups, least significant first, as characters from '0' (48), bit 0x20 saying another group follows,
    the last group's bit 0x10 its sign; from the third count on, each is stored as its difference to the count two
    before). A ValueError for a character outside that alphabet or a string that ends inside a count."""
    text = counts.decode("ascii") if isinstance(counts, bytes) else counts
    out: list[int] = []
    pos = 0
    while pos < len(text):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(text):
                raise ValueError("the RLE string ends inside a count")
            c = ord(text[pos]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {text[pos]!r} is not in the RLE alphabet")
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            pos += 1
            shift += 5
            if not more and c & 0x10:
                value -= 1 << shift  # the sign bit of the last group: a negative number
        if len(out) > 2:
            value += out[-2]
        out.append(value)
    return out


def _check_runs(counts: list[int], h: int, w: int) -> None:
    """Run lengths must be whole, not negative, and cover the image exactly: pycocotools decodes short counts into
    uninitialised memory (a mask that changes from one load to the next) and never says so."""
    if any(not isinstance(c, int) or isinstance(c, bool) or c < 0 for c in counts):
        raise ValueError("RLE counts must be whole numbers >= 0")
    if sum(counts) != h * w:
        raise ValueError(f"RLE counts cover {sum(counts)} pixels, not the image's {h}x{w} = {h * w}")


def decode(mask_utils: Any, ann: dict, h: int, w: int, where: str) -> np.ndarray:
    """One instance's bool [h, w] mask, as ``COCO.annToMask`` gives it; a DataError naming ``where`` and the
    annotation id when its segmentation cannot be decoded (also RLE counts that do not cover the image, and
    polygon coordinates that are not finite or lie far outside it, which pycocotools would turn into noise or a
    crash)."""
    seg = ann["segmentation"]
    try:
        if isinstance(seg, list):  # polygons: [[x0, y0, x1, y1, ...], ...]
            polys = [[float(v) for v in p] for p in seg if isinstance(p, list) and len(p) >= 6]
            if not polys:
                raise ValueError("no polygon with three points or more")
            polys = [p[: len(p) - len(p) % 2] for p in polys]
            reach = POLYGON_REACH * max(h, w)
            bad = next((v for p in polys for v in p if not (np.isfinite(v) and -reach <= v <= reach)), None)
            if bad is not None:
                raise ValueError(f"polygon coordinate {bad!r} is not finite or lies far outside the {w}x{h} image")
            rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
        elif isinstance(seg, dict) and isinstance(seg.get("counts"), (list, str, bytes)):
            if not isinstance(seg.get("size"), list) or len(seg["size"]) != 2:
                raise ValueError("an RLE needs 'size': [height, width]")
            if [int(s) for s in seg["size"]] != [h, w]:
                raise ValueError(f"RLE size {list(seg['size'])} is not the image's {h}x{w}")
            if isinstance(seg["counts"], list):  # uncompressed RLE
                _check_runs(seg["counts"], h, w)
                rle = mask_utils.frPyObjects({"size": [h, w], "counts": seg["counts"]}, h, w)
            else:  # compressed RLE
                counts = seg["counts"].encode("ascii") if isinstance(seg["counts"], str) else seg["counts"]
                _check_runs(rle_counts(counts), h, w)
                rle = {"size": [h, w], "counts": counts}
        else:
            raise ValueError(f"neither polygons nor RLE ({type(seg).__name__})")
        m = mask_utils.decode(rle)
    except Exception as e:  # noqa: BLE001 - pycocotools raises bare Exception ("input type is not supported")
        raise DataError(f"{where}: annotation {ann.get('id')}: segmentation cannot be decoded ({e})") from None
    return np.asarray(m, dtype=bool)
