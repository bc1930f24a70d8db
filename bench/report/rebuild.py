"""Inputs, masks and ground truth for the HTML report of a run that did not save them (``save_inputs`` off, as in
the quickstart).

A run's inputs are deterministic: the dataset and the mask strategy of its ``suite.resolved.yaml``, loaded and
drawn by the runner's own code (:func:`bench.inputs.prepare_item`: the sample, its mask from (seed,
dataset, sample id, strategy), 8-bit quantization). Each rebuilt sample is checked against the digests the run
stored with its outputs (:func:`bench.store.files.blanked_digests`: the blanked 8-bit input and the mask a backend
was given); only a sample that matches is shown. Otherwise the tile says why (not stored, no digest to check
against, dataset unreadable here, or a mismatch: the data or the code changed since the run), never a wrong
picture. The ground truth is shown only with an input that matched (it comes from the same loaded sample).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class RebuiltInputs:
    """Rebuilds (and caches) ``(input, mask, gt)`` PIL images per (dataset, mask, sample) of a run; see the module
    doc. :meth:`get` returns ``(images or None, reason or None)``."""

    def __init__(self, rd: Any):
        self.rd = rd
        self._suite: Any = None
        self._suite_error: str | None = None
        self._datasets: dict[str, Any] = {}
        self._masks: dict[str, Any] = {}
        self._cache: dict[tuple[str, str, str], tuple[dict[str, Any] | None, str | None]] = {}
        cells = rd.cells()
        self._cells: dict[tuple[str, str], list[str]] = {}
        if not cells.empty:
            for _, c in cells.iterrows():
                self._cells.setdefault((c["dataset"], c["mask"]), []).append(c["cell_key"])

    def _load_suite(self) -> Any:
        if self._suite is None and self._suite_error is None:
            from ..config import load_suite

            path = next((Path(d) / "suite.resolved.yaml" for d in self.rd.run_dirs
                         if d is not None and (Path(d) / "suite.resolved.yaml").is_file()), None)
            if path is None:
                self._suite_error = "the run folder has no suite.resolved.yaml to rebuild it from"
            else:
                try:
                    self._suite = load_suite(path, instantiate=False)  # a missing dataset fails its own tiles
                except Exception as e:  # noqa: BLE001 - any reason the suite cannot be read here
                    self._suite_error = f"its suite cannot be read here ({type(e).__name__}: {e})"
        return self._suite

    def _where_read(self, spec: Any) -> Any:
        """``spec`` with each relative path parameter (``root: data``) replaced by the absolute path the run read it
        from, as its manifest records it (``datasets.<label>.root``, when that path is still there): a relative path
        is relative to the folder the run was started in, not to the one the report is made in."""
        from dataclasses import replace

        recorded = (self.rd.manifest.get("datasets") or {}).get(spec.label) or {}
        params = dict(spec.params)
        for k, v in spec.params.items():
            was = recorded.get(k) if isinstance(recorded, dict) else None
            if (isinstance(v, str) and not Path(v).expanduser().is_absolute() and isinstance(was, str)
                    and Path(was).is_absolute() and Path(was).exists()):
                params[k] = was
        return replace(spec, params=params) if params != spec.params else spec

    def _digests(self, dataset: str, mask: str, sid: str) -> dict[str, str] | None:
        for ck in self._cells.get((dataset, mask), []):
            info = self.rd.store.output_info(ck, [sid]).get(sid, {}).get("info", {})
            if info.get("input_sha256") and info.get("mask_sha256"):
                return {"input_sha256": info["input_sha256"], "mask_sha256": info["mask_sha256"]}
        return None

    def get(self, dataset: str, mask: str, sid: str) -> tuple[dict[str, Any] | None, str | None]:
        key = (dataset, mask, sid)
        if key not in self._cache:
            self._cache[key] = self._build(dataset, mask, sid)
        return self._cache[key]

    def _build(self, dataset: str, mask: str, sid: str) -> tuple[dict[str, Any] | None, str | None]:
        from ..errors import describe
        from ..inputs import prepare_item
        from ..pixels import blanked_digests, quantize

        expected = self._digests(dataset, mask, sid)
        if expected is None:
            return None, "not saved (no stored digest to check a rebuilt input against)"
        suite = self._load_suite()
        if suite is None:
            return None, f"not saved; {self._suite_error}"
        try:
            if dataset not in self._datasets:
                spec = next(s for s in suite.datasets if s.label == dataset)
                ds = self._where_read(spec).create()
                ds.bind(resolution=suite.resolution, seed=suite.seed)
                self._datasets[dataset] = ds
            if mask not in self._masks:
                self._masks[mask] = next(s for s in suite.masks if s.label == mask).create()
            item = prepare_item(self._datasets[dataset], self._masks[mask], dataset, suite.seed, sid)
        except StopIteration:
            return None, f"not saved; the suite has no dataset '{dataset}' or mask '{mask}'"
        except Exception as e:  # noqa: BLE001 - the dataset may be elsewhere or changed: say so on the tile
            return None, f"not saved; rebuilding it failed: {describe(e)}"
        got = blanked_digests(item.image, item.mask)
        if got != expected:
            what = " and ".join(k.split("_")[0] for k in ("input_sha256", "mask_sha256") if got[k] != expected[k])
            return None, (f"rebuilt {what} does not match the run's digest (the data or the code changed since): "
                          f"not shown")
        from PIL import Image

        def rgb(t):
            return Image.fromarray(np.ascontiguousarray(quantize(t).permute(1, 2, 0).numpy()))

        images = {"input": rgb(item.image),
                  "mask": Image.fromarray(item.mask[0].numpy().astype(np.uint8) * 255),
                  "gt": rgb(item.gt) if item.gt is not None else None}
        return images, None
