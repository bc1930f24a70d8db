"""A dataset from a folder of files: ``images/``, optional ``masks/`` and ``gt/``, matched by file stem.

Layout::

    root/
      images/   0001.png  0002.jpg ...     required: the inputs (for removal: the photo WITH the object)
      masks/    0001.png  0002.png ...     optional: the dataset's own masks (white / True = hole)
      gt/       0001.png  0002.png ...     optional, needs masks/: the ground truth for the hole (clean background)

What the masks mean, ``task``: **reconstruction** (masks over original photos: the image is the ground truth;
LaMa's, MAT's and CelebA-HQ evaluation sets) or **removal** (masks over an object to remove: ``gt/`` holds the clean
background; without ``gt/`` nothing inside the hole can be scored). A folder with ``gt/`` is removal; one with
``masks/`` and no ``gt/`` must say which, in the suite (``task: reconstruction``) or in a ``dataset.json`` beside
``images/`` (``{"task": "reconstruction"}``, which ``datasets/prepare.py`` writes).

Files pair up by stem (``images/0001.jpg`` <-> ``masks/0001.png``); extensions may differ. Only files whose
extension is in :data:`bench.io.IMAGE_EXTENSIONS` count; hidden files (``.DS_Store``) and sub-folders are ignored.

Error policy: a missing root or ``images/`` folder (or ``gt/`` without ``masks/``) is a configuration error at
construction. Everything about one sample is raised as :class:`~bench.errors.DataError` from ``load(id)`` so the
runner records it for that sample and goes on: unreadable files, an image without its mask (when ``masks/`` has
files), a mask or gt file without an image (listed as its own id, whose ``load`` fails), two files with one stem,
and size mismatches between an image and its mask or gt.

Resolution: by default images load at their **native size** (``resize: null``); the suite ``resolution`` applies
to generated datasets, and to a folder only when it asks: ``resize: 512`` (centre square crop + antialiased resize
to 512, masks nearest) or ``resize: suite`` (the same, to the suite ``resolution``).

Float files (TIFF): values must be in [0, 1]; one outside it or with NaN is that sample's error (never clipped).
``value_range: [0, 255]`` (or ``[-1, 1]``, any ``[low, high]``) declares another range, mapped linearly to [0, 1].
"""
from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..io import IMAGE_EXTENSIONS, check_value_range, mask_value_note, orientation, read_image, read_mask
from ..types import Sample
from .base import ResizableDataset, cropped_hole_note, finish_sample

_KINDS = ("images", "masks", "gt")
TASKS = ("reconstruction", "removal")


def stem_id(path: Path) -> str:
    """The sample id of a file: its stem, with bytes that are not UTF-8 (a Latin-1 name on a Linux disk) written
    as ``\\xe9``: ids are stored, printed and used as file names, so they must be text. Unicode is normalised to
    NFC, so ``crème.png`` under images/ and the same name under masks/ in the decomposed form a macOS copy writes
    (NFD) are one sample, not two each missing its partner."""
    text = path.stem.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return unicodedata.normalize("NFC", text)


def _list_images(folder: Path) -> dict[str, list[Path]]:
    """stem -> files with that stem (more than one = ambiguous), for image files directly inside ``folder``."""
    out: dict[str, list[Path]] = {}
    if not folder.is_dir():
        return out
    for p in folder.iterdir():
        dangling = p.is_symlink() and not p.exists()  # (a link to an unmounted drive: an error row, not silence)
        if p.name.startswith(".") or not (p.is_file() or dangling) or p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        out.setdefault(stem_id(p), []).append(p)
    for files in out.values():
        files.sort()
    return out


def _unread(folder: Path) -> dict[str, list[str]]:
    """stem -> why an entry of ``folder`` with that stem is not read (a folder, an extension the readers do not
    take, a hidden name): said when a sample misses its partner, so the message points at the file that is there."""
    out: dict[str, list[str]] = {}
    if not folder.is_dir():
        return out
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            out.setdefault(stem_id(Path(p.name[1:])), []).append(
                f"{p.name} is hidden (a name starting with '.' is never read)")
        elif p.is_dir():
            out.setdefault(stem_id(p), []).append(f"{p.name} is a folder, not a file")
        elif p.suffix.lower() not in IMAGE_EXTENSIONS:
            out.setdefault(stem_id(p), []).append(
                f"{p.name} is there, but {p.suffix or 'a name without an extension'} is not read (read: "
                f"{' '.join(IMAGE_EXTENSIONS)})")
    return out


class FolderDataset(ResizableDataset):
    """Your images from a folder: images/, optional masks/ and gt/, paired by file stem; native size by default.

    Parameters: ``root`` (the folder), ``limit`` (first N ids in sorted order), ``resize`` (``null`` = native
    size, an int = centre-crop to a square of that side, ``"suite"`` = the suite resolution). Sample ids are the
    file stems. See the module doc for the layout and the error policy.
    """

    def __init__(self, root: str, limit: int | None = None, resize: int | str | None = None,
                 task: str | None = None, value_range: list | None = None):
        self.value_range = check_value_range(value_range)
        self.root = Path(root).expanduser()
        if not self.root.exists():
            raise ConfigError("root", f"folder '{self.root}' does not exist")
        if not self.root.is_dir():
            raise ConfigError("root", f"'{self.root}' is a file, expected a folder with images/ (and masks/, gt/)")
        if not (self.root / "images").is_dir():
            found = ", ".join(sorted(p.name for p in self.root.iterdir() if p.is_dir())[:8]) or "no folders"
            raise ConfigError("root", f"'{self.root}' has no images/ folder (found: {found}); "
                                      "expected images/, optional masks/ and gt/")
        self.check_limit_and_resize(limit, resize)
        self.limit = limit
        self.resize = resize
        self._files: dict[str, dict[str, list[Path]]] | None = None
        self._ids: list[str] | None = None
        self._unread_files: dict[str, dict[str, list[str]]] | None = None
        if self._listing()["gt"] and not self._listing()["masks"]:
            raise ConfigError("root", f"'{self.root / 'gt'}' has files but there is no masks/ folder with files; "
                                      "gt/ is the ground truth for the dataset's masks")
        self.task = self._resolve_task(task)

    def _resolve_task(self, task: str | None) -> str | None:
        """What the folder's own masks mean: ``reconstruction`` (masks over original photos: the image is the
        ground truth) or ``removal`` (masks over the object to remove: ``gt/`` is the clean background, if any).
        From the suite's ``task:``, else the folder's ``dataset.json`` (``datasets/prepare.py`` writes one)."""
        if task is None:
            task = self._folder_task()
        if task is not None and task not in TASKS:
            raise ConfigError("task", f"expected one of {', '.join(TASKS)}, got {task!r}")
        if not self.has_masks:
            return task
        if task is None:
            if self.has_gt:
                return "removal"
            raise ConfigError("task", f"'{self.root}' has masks/ but no gt/: say what its masks are: task: "
                                      f"reconstruction (the images are originals, their own ground truth: LaMa's, "
                                      f"MAT's, CelebA-HQ evaluation sets) or task: removal (the images show the "
                                      f"object to remove; without gt/ nothing inside the hole can be scored)")
        if task == "reconstruction" and self.has_gt:
            raise ConfigError("task", f"'{self.root}' has gt/ (clean backgrounds: object removal) but task is "
                                      f"reconstruction; use task: removal, or remove gt/")
        return task

    def _folder_task(self) -> str | None:
        p = self.root / "dataset.json"
        if not p.is_file():
            return None
        try:
            t = json.loads(p.read_text()).get("task")
        except (OSError, ValueError, AttributeError) as e:
            raise ConfigError("root", f"{p}: not a readable dataset description ({e})") from None
        return t

    @property
    def gt_for_masks(self) -> bool:
        """Whether a sample's own mask has ground truth: reconstruction (the image) or removal with gt/."""
        return self.task == "reconstruction" or self.has_gt

    # -- listing ------------------------------------------------------------------------------------------
    def _listing(self) -> dict[str, dict[str, list[Path]]]:
        if self._files is None:
            self._files = {k: _list_images(self.root / k) for k in _KINDS}
        return self._files

    def _unread_note(self, kind: str, stem: str) -> str:
        """'; <why masks/<stem>.x was not read>' for a missing-partner message, or ''."""
        if self._unread_files is None:
            self._unread_files = {}
        if kind not in self._unread_files:
            self._unread_files[kind] = _unread(self.root / kind)
        notes = self._unread_files[kind].get(stem)
        return f"; {'; '.join(notes)}" if notes else ""

    @property
    def has_masks(self) -> bool:
        return bool(self._listing()["masks"])

    @property
    def provides_masks(self) -> bool:  # type: ignore[override]
        return self.has_masks

    @property
    def has_gt(self) -> bool:
        return bool(self._listing()["gt"])

    def ids(self) -> list[str]:
        if self._ids is None:
            files = self._listing()
            stems = set(files["images"]) | set(files["masks"]) | set(files["gt"])  # orphans get ids: load says why
            if not stems:
                raise DataError(f"{self.root}: no samples: images/ holds no image files (read: "
                                f"{', '.join(e.lstrip('.') for e in IMAGE_EXTENSIONS)})")
            ids = sorted(stems)
            self._ids = ids[: self.limit] if self.limit is not None else ids
        return list(self._ids)

    def _one(self, kind: str, stem: str) -> Path | None:
        files = self._listing()[kind].get(stem)
        if not files:
            return None
        if len(files) > 1:
            names = ", ".join(str(f) for f in files)
            what = {"images": "image", "masks": "mask", "gt": "ground-truth"}[kind]
            raise DataError(f"{names}: several {what} files share the stem '{stem}'; keep one")
        return files[0]

    # -- loading ------------------------------------------------------------------------------------------
    def load(self, sample_id: str) -> Sample:
        files = self._listing()
        if sample_id not in files["images"] and sample_id not in files["masks"] and sample_id not in files["gt"]:
            raise DataError(f"{self.root}: no sample '{sample_id}' (no images/{sample_id}.* file)")
        img_path = self._one("images", sample_id)
        mask_path = self._one("masks", sample_id)
        gt_path = self._one("gt", sample_id)
        if img_path is None:
            orphan = mask_path or gt_path
            kind = "mask" if mask_path is not None else "gt"
            raise DataError(f"{orphan}: {kind} file has no image (expected {self.root / 'images' / sample_id}.<ext>"
                            f"{self._unread_note('images', sample_id)})")
        if self.has_masks and mask_path is None:
            raise DataError(f"{img_path}: image has no mask (expected {self.root / 'masks' / sample_id}.<ext>; "
                            f"masks/ has {len(files['masks'])} files, so every image needs one"
                            f"{self._unread_note('masks', sample_id)})")
        if self.has_gt and gt_path is None:
            raise DataError(f"{img_path}: image has no ground truth (expected {self.root / 'gt' / sample_id}.<ext>; "
                            f"gt/ has {len(files['gt'])} files, so every image needs one"
                            f"{self._unread_note('gt', sample_id)})")

        image = read_image(img_path, value_range=self.value_range)
        size = tuple(image.shape[-2:])
        mask = gt = None
        if mask_path is not None:
            mask = read_mask(mask_path)
            if tuple(mask.shape[-2:]) != size:
                raise DataError(f"{mask_path}: mask is {_hw(mask)} but its image {img_path} is {_hw(image)}"
                                f"{_turned_note(img_path, mask_path, mask, image)}")
        if gt_path is not None:
            gt = read_image(gt_path, value_range=self.value_range)
            if tuple(gt.shape[-2:]) != size:
                raise DataError(f"{gt_path}: ground truth is {_hw(gt)} but its image {img_path} is {_hw(image)}"
                                f"{_turned_note(img_path, gt_path, gt, image)}")

        native_mask = mask
        image, mask, gt = finish_sample(image, mask, gt, self.task, self.target_size)
        meta: dict[str, Any] = {"path": str(img_path), "native_size": list(size)}
        if mask_path is not None:
            meta["mask_path"] = str(mask_path)
            note = (mask_value_note(mask_path) if not bool(native_mask.any()) else
                    cropped_hole_note(native_mask, mask, self.target_size))
            if note:
                meta["mask_note"] = note  # (said when the sample is found to have no hole)
        if gt_path is not None:
            meta["gt_path"] = str(gt_path)
        return Sample(id=sample_id, image=image, mask=mask, gt=gt, meta=meta)

    def provenance(self) -> dict[str, Any]:
        files = self._listing()
        h = hashlib.sha256()
        for kind in _KINDS:
            for stem in sorted(files[kind]):
                for p in files[kind][stem]:
                    st = p.stat()  # name, size and modification time: a file replaced under its name changes it
                    h.update(f"{kind}/{p.name}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode("utf-8",
                                                                                           "surrogateescape"))
        return {
            "type": "folder",
            "root": str(self.root.resolve()),
            "images": len(files["images"]),
            "masks": len(files["masks"]),
            "gt": len(files["gt"]),
            "count": len(self.ids()),
            "limit": self.limit,
            "resize": self.resize,
            "task": self.task,
            "resolution": self.target_size,
            "listing_sha256": h.hexdigest(),
            **({"value_range": list(self.value_range)} if self.value_range is not None else {}),
        }


def _turned_note(img_path: Path, other_path: Path, other, image) -> str:
    """Why a mask or gt has its image's height and width swapped, when an EXIF orientation explains it."""
    if tuple(other.shape[-2:]) != tuple(image.shape[-2:])[::-1]:
        return ""
    turned = [(p, o) for p in (img_path, other_path) if (o := orientation(p)) in (5, 6, 7, 8)]
    if not turned:
        return ""
    which = ", ".join(f"{p.name} has EXIF orientation {o}" for p, o in turned)
    return (f" (height and width swapped: {which}, which turns it upright as a viewer shows it; the other file "
            f"was made from the stored, unturned pixels: make both upright)")


def _hw(t) -> str:
    return f"{t.shape[-2]}x{t.shape[-1]} (HxW)"
