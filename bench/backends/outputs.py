"""``outputs``: score outputs made elsewhere (a model's own repository, another cluster) exactly like ours.

Instead of running a model, the runner reads one file per sample from ``root``, by default
``ROOT/<dataset label>/<mask label>/<sample>.png`` (``<sample>`` is the sample id, or for ids that are not plain
file names the name :func:`bench.fsio.sample_filename` gives them: the layout ``bench export --outputs``
writes). ``pattern`` changes the layout with the placeholders ``{dataset}``, ``{mask}`` and ``{sample}``.

Rules:

* a missing or unreadable file is an **error row naming the expected path**;
* a file of another size than the input (PowerPaint's own scripts return 960x640 for a 2250x1500 photo) is treated
  as a live backend's output is: the runner records its size (``raw_size``, which the ``resized`` detector reads)
  and resizes it back to the input's size (bilinear, antialiased: the geometry adapter's rule), so it is scored and
  flagged, not lost; ``strict_size: true`` makes it an error row instead (as for the ``command`` backend);
* any readable format works (PNG, JPEG, 16-bit; the reading rules of :mod:`bench.io`); values are stored as 8-bit;
* when an inputs manifest is found (``inputs:`` names the folder ``bench export --inputs`` wrote, or its
  ``inputs.json``; by default ``ROOT/inputs.json``, which ``bench export --outputs`` writes), each sample's blanked
  input and mask must have the SHA-256 recorded there: outputs made for other masks are error rows, not silently
  wrong numbers (``check_inputs: false`` turns that off);
* nothing is timed: latency and memory of these rows are absent (never zero), and reports say so.
"""
from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

from ..errors import DataError, WeightsError
from ..types import RunContext
from .base import Backend

_FIELDS = {"dataset", "mask", "sample"}


class OutputsBackend(Backend):
    """Outputs made elsewhere: reads ROOT/<dataset>/<mask>/<sample>.png instead of running a model (no timing)."""

    reads_outputs = True
    memory_scope = "none"

    def __init__(self, root: str, pattern: str = "{dataset}/{mask}/{sample}.png", inputs: str | None = None,
                 check_inputs: bool = True, strict_size: bool = False):
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
        self._expected: dict[str, Any] | None = None

    def setup(self, ctx: RunContext) -> None:
        if not self.root.is_dir():
            raise WeightsError(f"outputs root '{self.root}' is not a folder; it should hold "
                               f"{self.pattern.format(dataset='<dataset>', mask='<mask>', sample='<sample id>')} "
                               f"for every sample (`bench export RUN --outputs DIR` writes this layout)")
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

    def path(self, dataset: str, mask: str, sample_id: str) -> Path:
        from ..fsio import sample_filename

        return self.root / self.pattern.format(dataset=dataset, mask=mask, sample=sample_filename(sample_id))

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
                if not p.is_file():
                    raise DataError(f"expected output {p}: not found")
                img = read_image(p)
                if self.strict_size and tuple(img.shape[-2:]) != tuple(it.image.shape[-2:]):
                    raise DataError(f"{p}: output is {img.shape[-2]}x{img.shape[-1]}, the input is "
                                    f"{it.image.shape[-2]}x{it.image.shape[-1]} (strict_size: outputs must have the "
                                    f"input's size)")
                out.append(img)
            except DataError as e:
                out.append(e)
        return out

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
                "strict_size": self.strict_size,
                "inputs_manifest": self._expected is not None, "timing": "none (outputs made elsewhere)"}
