"""A Hugging Face ``datasets`` dataset: a hub id (offline from the local cache when offline), a folder written by
``save_to_disk``, or a folder of data files (parquet, an imagefolder) that ``load_dataset`` reads.

    datasets:
      - type: hf
        path: someorg/object-removal-bench       # or a folder: ./my_set (save_to_disk) or ./parquet_repo
        split: test
        image_column: image                      # the input (for removal: the photo WITH the object)
        mask_column: mask                        # optional: the dataset's own masks (white / True = hole)
        gt_column: background                    # optional, needs mask_column: the clean background
        task: removal                            # reconstruction | removal (needed with mask_column, no gt_column)
        id_column: id                            # optional; default: the row index, 00000, 00001, ...
        streaming: false

Cells are read with the same rules as files (:mod:`bench.io`): an ``Image`` feature is read from its encoded
bytes (so 16-bit PNGs keep their precision, EXIF orientation applies and a corrupt cell is a
:class:`~bench.errors.DataError` for that sample, not for the run); arrays (``Array2D``/``Array3D``, nested lists)
follow the array rules (uint8 / 255, uint16 / 65535, float as [0, 1], bool masks); a string is a path to an image
file. A float image outside [0, 1] or with NaN is an error for that row (never clipped); a dataset whose float
images use another range declares it: ``value_range: [0, 255]`` or ``[-1, 1]`` (mapped linearly to [0, 1]).

Sample ids come from ``id_column`` (each value as text; duplicates are an error that names them) or the row index,
zero-padded to five digits. They follow row order. ``limit`` keeps the first N rows.

Offline: ``INPAINT_BENCH_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) keeps ``datasets`` and the hub client off the
network while this dataset is opened; a hub id is then read from the ``datasets`` cache (``HF_DATASETS_CACHE``,
``HF_HOME``), and one that is not cached fails with a message that says how to fetch it. Online, ``load_dataset``
downloads a hub dataset once, into that cache, the first time the run lists it (before any model runs).

Streaming (``streaming: true``) never stores the dataset: ids are read in one pass over the id column (or the
image column, to count rows), and samples are read in order; reading an earlier sample again restarts the stream,
so each cell streams the data once. For repeated runs, download it instead.
"""
from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..errors import ConfigError, DataError, suggest
from ..io import (check_value_range, image_from_array, image_from_bytes, mask_from_array, mask_from_bytes, read_image,
                  read_mask)
from ..types import Sample
from .base import ResizableDataset, finish_sample
from .folder import TASKS

ID_WIDTH = 5


def require_datasets():
    try:
        import datasets
    except ImportError as e:
        raise ConfigError("type", f"hf datasets need the `datasets` package ({e}); install it with "
                                  f"pip install 'inpaint-bench[hf]'") from e
    return datasets


@contextlib.contextmanager
def hub_offline(on: bool) -> Iterator[None]:
    """Keep ``datasets`` and ``huggingface_hub`` off the network (both read their flag at call time)."""
    if not on:
        yield
        return
    import datasets.config as dconf

    patched: list[tuple[Any, str, Any]] = [(dconf, "HF_HUB_OFFLINE", True)]
    try:
        import huggingface_hub.constants as hconst

        patched.append((hconst, "HF_HUB_OFFLINE", True))
    except ImportError:  # pragma: no cover - datasets depends on it
        pass
    saved = [(mod, name, getattr(mod, name, None)) for mod, name, _ in patched]
    try:
        for mod, name, value in patched:
            setattr(mod, name, value)
        yield
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)


def is_saved_folder(p: Path) -> bool:
    """A folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``."""
    return p.is_dir() and ((p / "dataset_dict.json").is_file() or (p / "state.json").is_file())


class HFDataset(ResizableDataset):
    """Rows of a Hugging Face dataset: an image column, optional mask and ground-truth columns (see the module doc).

    Parameters: ``path`` (hub id or folder), ``split`` (default ``test``), ``name`` (the dataset's configuration),
    ``image_column``, ``mask_column``, ``gt_column``, ``task``, ``id_column``, ``streaming``, ``limit``,
    ``resize`` (``null`` = native size, an int, or ``"suite"``, as for folders), ``revision``, ``cache_dir``.
    """

    def __init__(self, path: str, split: str = "test", name: str | None = None, image_column: str = "image",
                 mask_column: str | None = None, gt_column: str | None = None, task: str | None = None,
                 id_column: str | None = None, streaming: bool = False, limit: int | None = None,
                 resize: int | str | None = None, revision: str | None = None, cache_dir: str | None = None,
                 value_range: list | None = None):
        self.value_range = check_value_range(value_range)
        if not isinstance(path, str) or not path.strip():
            raise ConfigError("path", f"expected a hub id (org/name) or a folder, got {path!r}")
        for key, value in (("split", split), ("image_column", image_column)):
            if not isinstance(value, str) or not value:
                raise ConfigError(key, f"expected a non-empty string, got {value!r}")
        self.check_limit_and_resize(limit, resize)
        if task is not None and task not in TASKS:
            raise ConfigError("task", f"expected one of {', '.join(TASKS)}, got {task!r}")
        if gt_column is not None and mask_column is None:
            raise ConfigError("gt_column", "is the ground truth for the dataset's own masks: give mask_column too")
        if mask_column is not None and task is None:
            if gt_column is None:
                raise ConfigError("task", "the dataset has masks (mask_column) but no gt_column: say what its masks "
                                          "are: task: reconstruction (the images are originals, their own ground "
                                          "truth) or task: removal (the images show the object to remove; without "
                                          "ground truth nothing inside the hole can be scored)")
            task = "removal"
        if task == "reconstruction" and gt_column is not None:
            raise ConfigError("task", "gt_column holds clean backgrounds (object removal) but task is "
                                      "reconstruction; use task: removal, or drop gt_column")
        self.path = path
        self.local = Path(path).expanduser()
        self.split = split
        self.name = name
        self.image_column = image_column
        self.mask_column = mask_column
        self.gt_column = gt_column
        self.task = task if mask_column is not None else None
        self.id_column = id_column
        self.streaming = bool(streaming)
        self.limit = limit
        self.resize = resize
        self.revision = revision
        self.cache_dir = cache_dir
        self._ds: Any = None
        self._ids: list[str] | None = None
        self._index: dict[str, int] = {}
        self._lock = threading.RLock()
        self._stream: Iterator[dict[str, Any]] | None = None
        self._stream_pos = 0
        self._source = "hub"

    # -- what validate can know without opening --------------------------------------------------------
    @property
    def provides_masks(self) -> bool:  # type: ignore[override]
        return self.mask_column is not None

    @property
    def gt_for_masks(self) -> bool:  # type: ignore[override]
        return self.task == "reconstruction" or self.gt_column is not None

    # -- opening ---------------------------------------------------------------------------------------
    def _label(self) -> str:
        return f"{self.path}[{self.split}]"

    def _open(self) -> Any:
        if self._ds is not None:
            return self._ds
        datasets = require_datasets()
        from ..weights import offline

        with hub_offline(offline()):
            ds = self._load(datasets)
        self._check_columns(ds)
        for col in (self.image_column, self.mask_column, self.gt_column):
            if col is not None and isinstance((ds.features or {}).get(col), datasets.Image):
                ds = ds.cast_column(col, datasets.Image(decode=False))  # read bytes with the file rules
        if self.limit is not None:
            ds = ds.take(self.limit) if self.streaming else ds.select(range(min(self.limit, len(ds))))
        self._ds = ds
        return ds

    def _load(self, datasets: Any) -> Any:
        if is_saved_folder(self.local):
            self._source = "save_to_disk"
            try:
                obj = datasets.load_from_disk(str(self.local))
            except Exception as e:  # noqa: BLE001 - a damaged folder: name it
                raise DataError(f"{self.local}: cannot read this save_to_disk folder ({type(e).__name__}: {e})") \
                    from e
            if isinstance(obj, datasets.DatasetDict):
                if self.split not in obj:
                    raise ConfigError("split", f"{self.local} has splits {', '.join(sorted(obj))}, not "
                                               f"'{self.split}'{_close(self.split, list(obj))}")
                obj = obj[self.split]
            elif getattr(obj, "split", None) is not None and str(obj.split) != self.split:
                raise ConfigError("split", f"{self.local} holds one saved split, '{obj.split}', not '{self.split}' "
                                           f"(the rows of another split would be scored and recorded as "
                                           f"'{self.split}'): set split: {obj.split}")
            return obj.to_iterable_dataset() if self.streaming else obj
        if self.local.exists() and not self.local.is_dir():
            raise ConfigError("path", f"'{self.local}' is a file; give a folder (save_to_disk or data files) or a "
                                      f"hub id")
        if not self.local.exists() and (self.path.startswith(("/", ".", "~")) or self.path.count("/") >= 2):
            raise ConfigError("path", f"folder '{self.local}' does not exist (and '{self.path}' is not a hub id)")
        self._source = "folder" if self.local.is_dir() else "hub"
        kw: dict[str, Any] = {"split": self.split, "streaming": self.streaming}
        for key in ("name", "revision", "cache_dir"):
            if getattr(self, key) is not None:
                kw[key] = getattr(self, key)
        try:
            return datasets.load_dataset(str(self.local) if self.local.is_dir() else self.path, **kw)
        except ValueError as e:
            if "split" in str(e).lower():
                raise ConfigError("split", f"{self.path}: {str(e).splitlines()[0]}") from e
            raise DataError(f"{self.path}: cannot load ({e})") from e
        except Exception as e:  # noqa: BLE001 - DatasetNotFoundError, ConnectionError, FileNotFoundError...
            raise DataError(self._missing_message(e)) from e

    def _missing_message(self, e: BaseException) -> str:
        from ..weights import offline

        first = str(e).splitlines()[0] if str(e) else ""
        if self._source == "folder":
            return f"{self.local}: cannot load this folder with datasets.load_dataset ({type(e).__name__}: {first})"
        where = "not in the local datasets cache (offline)" if offline() else "could not be loaded"
        return (f"hf dataset '{self.path}' {where} ({type(e).__name__}: {first}). On a machine with internet, run "
                f"python -c \"import datasets; datasets.load_dataset('{self.path}', split='{self.split}')"
                f".save_to_disk('DIR')\" and give path: DIR; or copy the datasets cache over and point "
                f"HF_DATASETS_CACHE (or HF_HOME) at it.")

    def _check_columns(self, ds: Any) -> None:
        columns = list(ds.features) if getattr(ds, "features", None) else list(getattr(ds, "column_names", None) or [])
        if not columns:
            return  # a stream that does not declare its columns: a missing one surfaces per sample
        for key in ("image_column", "mask_column", "gt_column", "id_column"):
            col = getattr(self, key)
            if col is not None and col not in columns:
                raise ConfigError(key, f"{self._label()} has no column '{col}'{_close(col, columns)}; its columns: "
                                       f"{', '.join(columns)}")

    # -- ids -------------------------------------------------------------------------------------------
    def ids(self) -> list[str]:
        with self._lock:
            if self._ids is None:
                ds = self._open()
                if self.id_column is not None:
                    if self.streaming:
                        values = [row[self.id_column] for row in ds.select_columns([self.id_column])]
                    else:
                        values = list(ds[self.id_column])
                    ids = [str(v) for v in values]
                    seen: dict[str, int] = {}
                    for i, sid in enumerate(ids):
                        if sid in seen:
                            raise ConfigError("id_column", f"{self._label()}: rows {seen[sid]} and {i} share the id "
                                                           f"'{sid}' in column '{self.id_column}'; ids must be unique")
                        seen[sid] = i
                else:
                    n = sum(1 for _ in ds.select_columns([self.image_column])) if self.streaming else len(ds)
                    ids = [f"{i:0{ID_WIDTH}d}" for i in range(n)]
                self._ids = ids
                self._index = {sid: i for i, sid in enumerate(ids)}
            return list(self._ids)

    # -- loading ---------------------------------------------------------------------------------------
    def _row(self, index: int) -> dict[str, Any]:
        ds = self._open()
        if not self.streaming:
            return ds[index]
        if self._stream is None or index < self._stream_pos:
            self._stream, self._stream_pos = iter(ds), 0
        while True:
            try:
                row = next(self._stream)
            except StopIteration:
                self._stream = None
                raise DataError(f"{self._label()}: the stream ended before row {index}") from None
            self._stream_pos += 1
            if self._stream_pos - 1 == index:
                return row

    def load(self, sample_id: str) -> Sample:
        with self._lock:
            self.ids()
            if sample_id not in self._index:
                raise DataError(f"{self._label()}: no sample '{sample_id}'")
            index = self._index[sample_id]
            row = self._row(index)
        where = f"{self._label()} row {index} (id {sample_id})"
        image = _cell(_get(row, self.image_column, where), f"{where} column '{self.image_column}'", mask=False,
                      value_range=self.value_range)
        size = tuple(image.shape[-2:])
        mask = gt = None
        if self.mask_column is not None:
            mask = _cell(_get(row, self.mask_column, where), f"{where} column '{self.mask_column}'", mask=True)
            if tuple(mask.shape[-2:]) != size:
                raise DataError(f"{where}: mask ('{self.mask_column}') is {_hw(mask)} but the image is {_hw(image)}")
        if self.gt_column is not None:
            gt = _cell(_get(row, self.gt_column, where), f"{where} column '{self.gt_column}'", mask=False,
                       value_range=self.value_range)
            if tuple(gt.shape[-2:]) != size:
                raise DataError(f"{where}: ground truth ('{self.gt_column}') is {_hw(gt)} but the image is "
                                f"{_hw(image)}")
        image, mask, gt = finish_sample(image, mask, gt, self.task, self.target_size)
        return Sample(id=sample_id, image=image, mask=mask, gt=gt,
                      meta={"path": f"{self.path}:{self.split}:{index}", "row": index, "native_size": list(size)})

    def provenance(self) -> dict[str, Any]:
        ds = self._open()
        import datasets

        prov: dict[str, Any] = {
            "type": "hf", "path": self.path, "source": self._source, "split": self.split, "name": self.name,
            "revision": self.revision, "streaming": self.streaming, "columns": {
                "image": self.image_column, "mask": self.mask_column, "gt": self.gt_column, "id": self.id_column},
            "task": self.task, "count": len(self.ids()), "limit": self.limit, "resize": self.resize,
            "resolution": self.target_size, "datasets_version": datasets.__version__,
        }
        if self.value_range is not None:
            prov["value_range"] = list(self.value_range)
        fingerprint = getattr(ds, "_fingerprint", None)
        if fingerprint:
            prov["fingerprint"] = fingerprint
        if self._source == "save_to_disk" or self._source == "folder":
            prov["root"] = str(self.local.resolve())
        return prov


def _cell(value: Any, where: str, *, mask: bool, value_range=None) -> torch.Tensor:
    """One cell of an image / mask column as a tensor, by the file rules (``value_range``: of float images)."""
    vr = {} if mask else {"value_range": value_range}
    if value is None:
        raise DataError(f"{where}: empty cell")
    if isinstance(value, dict) and ("bytes" in value or "path" in value):
        data, path = value.get("bytes"), value.get("path")
        if data:
            return mask_from_bytes(data, where) if mask else image_from_bytes(data, where, **vr)
        if path:
            return read_mask(path) if mask else read_image(path, **vr)
        raise DataError(f"{where}: image cell has neither bytes nor a path")
    if isinstance(value, str):
        return read_mask(value) if mask else read_image(value, **vr)
    try:
        from PIL import Image

        if isinstance(value, Image.Image):  # a decoded cell (e.g. a dataset built in memory)
            value = np.asarray(value.convert("L") if mask and value.mode == "1" else value)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, torch.Tensor):
        value = value.numpy()
    a = np.asarray(value)
    if a.dtype == object:
        raise DataError(f"{where}: cannot read a {type(value).__name__} cell as an image")
    return mask_from_array(a, where) if mask else image_from_array(a, where, **vr)


def _get(row: dict[str, Any], column: str, where: str) -> Any:
    if column not in row:
        raise DataError(f"{where}: no column '{column}' in this row (it has {', '.join(row)})")
    return row[column]


def _close(word: str, options: list[str]) -> str:
    m = suggest(word, options)
    return f" (did you mean '{m}'?)" if m else ""


def _hw(t: torch.Tensor) -> str:
    return f"{t.shape[-2]}x{t.shape[-1]} (HxW)"
