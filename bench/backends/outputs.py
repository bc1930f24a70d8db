"""``outputs``: score outputs made elsewhere (a model's own repository, another cluster) exactly like ours.

Instead of running a model, the runner reads one file per sample from ``root``, by default
``ROOT/<dataset label>/<mask label>/<sample>.png`` (``<sample>`` is the sample id, or for ids that are not plain
file names the name :func:`bench.fsio.sample_filename` gives them: the layout ``bench export --outputs``
writes; where that file is not there, the id itself, ``photo (1).png``, as a model run over your own folder names
it). ``pattern`` changes the layout with the placeholders ``{dataset}``, ``{mask}`` and ``{sample}``.

Rules:

* a missing or unreadable file is an **error row naming the expected path**;
* a file of another size than the input (PowerPaint's own scripts return 960x640 for a 2250x1500 photo) is treated
  as a live backend's output is: the runner records its size (``raw_size``, which the ``resized`` detector reads)
  and resizes it back to the input's size (bilinear, antialiased: the geometry adapter's rule), so it is scored and
  flagged, not lost; ``strict_size: true`` makes it an error row instead (as for the ``command`` backend); a file
  whose height and width are the input's swapped is an error row always (it is turned, not resized: a model that
  read a photo's stored pixels without its EXIF orientation), never squashed back;
* any readable format works (PNG, JPEG, 16-bit; the reading rules of :mod:`bench.io`); values are stored as 8-bit;
  float files outside [0, 1] (a float TIFF in [0, 255] or [-1, 1]) need ``value_range: [low, high]``;
* when an inputs manifest is found (``inputs:`` names the folder ``bench export --inputs`` wrote, or its
  ``inputs.json``; by default ``ROOT/inputs.json``, which ``bench export --outputs`` writes), each sample's blanked
  input and mask must have the SHA-256 recorded there: outputs made for other masks are error rows, not silently
  wrong numbers (``check_inputs: false`` turns that off);
* each output's path and SHA-256 are stored with it; a later run reads a sample again when its file changed
  (other bytes, gone, or another path), so a replaced output is never scored from the old copy;
* nothing is timed: latency and memory of these rows are absent (never zero), and reports say so.
"""
from __future__ import annotations

import glob
import json
import re
import string
from pathlib import Path
from typing import Any

from ..errors import DataError, WeightsError
from ..types import RunContext
from .base import Backend

_FIELDS = {"dataset", "mask", "sample"}


def _one_name(sample_id: str) -> bool:
    """Whether an id can be a file name in one folder as it is (no separator, not . or .., no control character,
    no escaped non-UTF-8 byte, not too long)."""
    s = str(sample_id)
    return (0 < len(s) <= 200 and s not in (".", "..") and not any(c in s for c in "/\\")
            and all(c.isprintable() for c in s))


def _pattern_regex(pattern: str) -> "re.Pattern[str]":
    """The paths ``pattern`` names, as a regular expression with a group per placeholder (one path part each; a
    placeholder used twice must be the same text)."""
    out, seen = [], set()
    for lit, field, _, _ in string.Formatter().parse(pattern):
        out.append(re.escape(lit))
        if field is not None:
            out.append(f"(?P={field})" if field in seen else f"(?P<{field}>[^/]+)")
            seen.add(field)
    return re.compile("".join(out))


class OutputsBackend(Backend):
    """Outputs made elsewhere: reads ROOT/<dataset>/<mask>/<sample>.png instead of running a model (no timing)."""

    reads_outputs = True
    memory_scope = "none"

    def __init__(self, root: str, pattern: str = "{dataset}/{mask}/{sample}.png", inputs: str | None = None,
                 check_inputs: bool = True, strict_size: bool = False, value_range: list | None = None):
        fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
        if not fields <= _FIELDS:
            raise ValueError(f"pattern: unknown placeholder(s) {sorted(fields - _FIELDS)}; use {{dataset}}, "
                             f"{{mask}} and {{sample}}")
        if "sample" not in fields:
            raise ValueError("pattern: needs {sample} (one file per sample)")
        if pattern.startswith("/") or ".." in Path(pattern).parts:
            raise ValueError(f"pattern: must be a relative path inside root without '..', got {pattern!r}")
        self.root = Path(root).expanduser()
        self.pattern = pattern
        self.check_inputs = check_inputs
        self.strict_size = strict_size
        self.inputs = Path(inputs).expanduser() if inputs else None
        from ..io import check_value_range

        #: the range of float outputs (a float TIFF in [0, 255] or [-1, 1]), mapped to [0, 1]; integer files as read
        self.value_range = check_value_range(value_range)
        self._expected: dict[str, Any] | None = None
        #: {dataset label: its listed sample ids} (:meth:`bind_samples`), so a hint never names another sample's file
        self._listed: dict[str, list[str]] = {}
        self._owned: dict[tuple[str, str], set[str]] = {}

    def check_weights(self, ctx: RunContext) -> None:
        """The outputs are this backend's weights: a root that is not a folder stops the run before any work (and
        is a `bench validate` problem), as a model's missing file does."""
        if not self.root.is_dir():
            raise WeightsError(f"outputs root '{self.root}' is not a folder; it should hold "
                               f"{self.pattern.format(dataset='<dataset>', mask='<mask>', sample='<sample id>')} "
                               f"for every sample (`bench export RUN --outputs DIR` writes this layout)")

    def setup(self, ctx: RunContext) -> None:
        self.check_weights(ctx)
        manifest = self.inputs or self.root / "inputs.json"
        if manifest.is_dir():
            manifest = manifest / "inputs.json"
        if self.inputs is not None and self.check_inputs and not manifest.is_file():
            raise DataError(f"inputs: {manifest} not found (`bench export RUN --inputs DIR` writes DIR/inputs.json)")
        if self.check_inputs and manifest.is_file():
            try:
                data = json.loads(manifest.read_text())
                self._expected = data["inputs"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise DataError(f"{manifest}: not an inputs manifest ({e}); remove it or set check_inputs: false") \
                    from None

    def bind_samples(self, dataset: str, sample_ids: list[str]) -> None:
        """The samples ``dataset`` lists (the runner tells, before reading): a file the pattern reads for one of
        them is that sample's own output, never offered as what another sample's missing file may be."""
        self._listed[dataset] = list(sample_ids)
        self._owned = {k: v for k, v in self._owned.items() if k[0] != dataset}

    def _others_file(self, dataset: str, mask: str, sample_id: str | None, q: Path) -> bool:
        """Whether ``q`` is a file the pattern reads for a sample other than ``sample_id``: another listed sample of
        this dataset x mask, or any sample of another dataset or mask (the path fits the pattern with other
        labels). Without a listing (:meth:`bind_samples` not called) only the latter is known."""
        from ..fsio import sample_filename

        try:
            rel = q.relative_to(self.root).as_posix()
        except ValueError:
            return False
        m = _pattern_regex(self.pattern).fullmatch(rel)
        if m is None:
            return False
        got = m.groupdict()
        if got.get("dataset", dataset) != dataset or got.get("mask", mask) != mask:
            return True  # laid out as the pattern says, for another cell
        key = (dataset, mask)
        if key not in self._owned:
            names: set[str] = set()
            for sid in self._listed.get(dataset, []):
                names.add(self.pattern.format(dataset=dataset, mask=mask, sample=sample_filename(sid)))
                if _one_name(sid):
                    names.add(self.pattern.format(dataset=dataset, mask=mask, sample=sid))
            self._owned[key] = names
        if rel not in self._owned[key]:
            return False
        if sample_id is None:
            return True
        mine = {self.pattern.format(dataset=dataset, mask=mask, sample=sample_filename(sample_id))}
        if _one_name(sample_id):
            mine.add(self.pattern.format(dataset=dataset, mask=mask, sample=sample_id))
        return rel not in mine

    def path(self, dataset: str, mask: str, sample_id: str) -> Path:
        """The sample's file: named as ``bench export`` names it (:func:`bench.fsio.sample_filename`), or, when that
        is not there and the id is a name a file can have (``photo (1)``, ``crème``: a model run over the user's own
        folder keeps its names), by the id itself."""
        from ..fsio import sample_filename

        p = self.root / self.pattern.format(dataset=dataset, mask=mask, sample=sample_filename(sample_id))
        if p.exists() or not _one_name(sample_id) or sample_filename(sample_id) == sample_id:
            return p
        own = self.root / self.pattern.format(dataset=dataset, mask=mask, sample=sample_id)
        return own if own.is_file() else p

    def source(self, dataset: str, mask: str, sample_id: str) -> dict[str, Any]:
        """What was read for a sample: its path, SHA-256, size and modification time (stored with the output, so a
        later run notices a file that changed: :meth:`changed`)."""
        from ..fsio import file_sha256

        p = self.path(dataset, mask, sample_id)
        st = p.stat()
        return {"path": str(p), "sha256": file_sha256(p), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}

    def changed(self, dataset: str, mask: str, sample_id: str, stored: dict[str, Any] | None) -> bool:
        """Whether the file for a sample is no longer the one read (``stored``: :meth:`source` then): another path,
        gone, or other bytes (hashed only when its size or modification time moved). Outputs stored before sources
        were recorded (no ``stored``) are taken as they are."""
        if not stored:
            return False
        p = self.path(dataset, mask, sample_id)
        if str(p) != stored.get("path") or not p.is_file():
            return True
        st = p.stat()
        if st.st_size == stored.get("bytes") and st.st_mtime_ns == stored.get("mtime_ns"):
            return False
        from ..fsio import file_sha256

        return file_sha256(p) != stored.get("sha256")

    def read_outputs(self, dataset: str, mask: str, items: list) -> list:
        """One float [3, H, W] tensor as read (its size may differ from the input's: the runner records and
        resizes it back), or the exception that explains why not, per item."""
        from ..io import read_image

        out: list = []
        for it in items:
            p = self.path(dataset, mask, it.sample_id)
            try:
                if self._expected is not None:
                    self._check(dataset, mask, it, p)
                if not p.is_file() and not p.is_dir() and not p.is_symlink():
                    raise DataError(f"expected output {p}: not found"
                                    f"{self._hint(p, it.sample_id, dataset, mask)}")
                # (a folder or a link to nothing at that path: read_image's error says which)
                img = read_image(p, value_range=self.value_range)
                (h, w), (ih, iw) = tuple(img.shape[-2:]), tuple(it.image.shape[-2:])
                if (h, w) == (iw, ih) and h != w:
                    raise DataError(f"{p}: output is {h}x{w} (HxW), the input {ih}x{iw}: height and width are "
                                    f"swapped, so the output is turned, not resized (made from the image file's "
                                    f"stored pixels without its EXIF orientation? the harness reads every image "
                                    f"upright, as a viewer shows it); run the model on the inputs `bench export "
                                    f"--inputs` writes, or turn its outputs upright")
                if self.strict_size and tuple(img.shape[-2:]) != tuple(it.image.shape[-2:]):
                    raise DataError(f"{p}: output is {img.shape[-2]}x{img.shape[-1]}, the input is "
                                    f"{it.image.shape[-2]}x{it.image.shape[-1]} (strict_size: outputs must have the "
                                    f"input's size)")
                out.append(img)
            except DataError as e:
                out.append(e)
        return out

    def _hint(self, p: Path, sample_id: str | None = None, dataset: str = "", mask: str = "") -> str:
        """Why a file may be missing: the same name with another extension (``pattern`` fixes one), the same name
        with a suffix (LaMa's ``predict.py`` names each output after its mask, ``<name>_mask.png``), the sample's
        file elsewhere under ``root`` (another layout), or the id's own name with another extension. A file the
        pattern reads for another sample (``img1_2.png`` of sample ``img1_2`` when ``img1`` is missing) or for
        another dataset or mask is never offered (:meth:`_others_file`)."""
        def there(files) -> list[Path]:
            return sorted((q for q in files if q.is_file() and not self._others_file(dataset, mask, sample_id, q)),
                          key=lambda q: q.name)

        here = p.parent.is_dir()
        others = there(p.parent.glob(glob.escape(p.stem) + ".*")) if here else []
        if others:
            ext = others[0].suffix
            return (f" ({others[0].name} is there: `pattern` fixes the extension, e.g. pattern: "
                    f"{str(Path(self.pattern).with_suffix(ext))!r})")
        suffixed = there(p.parent.glob(glob.escape(p.stem) + "[_-]*" + glob.escape(p.suffix))) \
            if here and p.suffix else []
        if suffixed:
            extra = suffixed[0].name[len(p.stem):-len(p.suffix)]
            return (f" ({suffixed[0].name} is there: names with a suffix, as LaMa's predict.py writes them, want "
                    f"pattern: {self.pattern.replace('{sample}', '{sample}' + extra)!r})")
        if sample_id is not None and p.stem != sample_id and _one_name(sample_id) and here:
            own = there(p.parent.glob(glob.escape(sample_id) + ".*"))
            if own:
                return (f" ({own[0].name} is there: named by the id itself, it is read when its extension is the "
                        f"pattern's, e.g. pattern: {str(Path(self.pattern).with_suffix(own[0].suffix))!r})")
        found = next(iter(there(self.root.rglob(glob.escape(p.stem) + ".*"))), None) if self.root.is_dir() else None
        if found is not None:
            rel = found.relative_to(self.root)
            return (f" (there is {rel} under the root: the layout is `pattern`, now {self.pattern!r}; files directly "
                    f"under the root want pattern: '{{sample}}{found.suffix}')")
        return ""

    def _check(self, dataset: str, mask: str, it: Any, p: Path) -> None:
        from ..pixels import blanked_digests

        section = (self._expected.get(dataset) or {}).get(mask)
        if section is None:
            return  # the manifest says nothing about this dataset x mask
        want = section.get(it.sample_id)
        if want is None:
            raise DataError(f"{p}: sample {it.sample_id!r} is not among the inputs the inputs manifest lists for "
                            f"{dataset}/{mask}")
        got = blanked_digests(it.image, it.mask)
        for k in ("mask_sha256", "input_sha256"):
            if k in want and want[k] != got[k]:
                what = "mask" if k.startswith("mask") else "masked input"
                raise DataError(f"{p}: made for another {what} than this run's (inputs.json {k} {want[k][:12]}, "
                                f"here {got[k][:12]}): check the suite's seed, resolution and mask settings")

    def provenance(self) -> dict[str, Any]:
        return {"root": str(self.root.resolve()), "pattern": self.pattern, "check_inputs": self.check_inputs,
                "strict_size": self.strict_size, "value_range": self.value_range,
                "inputs_manifest": self._expected is not None, "timing": "none (outputs made elsewhere)"}
